"""Deterministic fault injection: named kill points that the fault-injection suite (``tests/faults``) aims at.

Production code calls :func:`fault_point` at moments where a crash is interesting (mid-crawl, inside a warehouse
transaction, between two houses' feeds, after a model artifact is renamed but before it is registered...). It
does nothing unless the environment asks for it:

``GBV_FAULT_KILL_AT=<name>[:<n>][,<name>[:<n>]...]``
    the process sends itself ``SIGKILL`` on the n-th time (default the first) it reaches the point ``name``:
    no ``finally``, no ``atexit``, no flush; exactly what ``kill -9``, the OOM killer or a lost machine does.
    Hits are counted per process.

A point reached in a helper subprocess (a crawl) can take its parent with it (``parent=True``): the parent
is killed first, so the whole night dies at that moment, as when the night's machine is lost.

In-process tests may also attach a callable to a point with :func:`on_fault` (for example, to stop a database
server at an exact moment); it runs each time the point is reached.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

ENV_KILL_AT = "GBV_FAULT_KILL_AT"

# Every point the code base calls, with where it sits (the suite's table and `gbv` docs list them).
POINTS: dict[str, str] = {
    "crawl_item": "crawl subprocess, landing pipeline, after an item is appended to lots.jsonl.part",
    "landing_before_success": "crawl subprocess, after lots.jsonl/rejects.jsonl are published, before _SUCCESS",
    "stage_file_written": "Dagster StageIOManager, temporary stage file written, before its rename",
    "warehouse_lots_tx": "warehouse_lots transaction, after the dimensions are upserted, before fact_lot",
    "valuations_loaded": "after fact_valuation's night partition is committed, before any feed is written",
    "feed_written": "estimate_feeds, after one house's feed is in place (before the next house's)",
    "feed_before_rename": "write_feed, the hidden staging folder complete and fsynced, before its rename",
    "feed_swapped_out": "write_feed, the previous feed folder moved aside, the new one not yet renamed in",
    "model_renamed": "ModelStore.save_model, artifact folder renamed into place, before its dim_model row",
    "model_registered": "ModelStore, dim_model row inserted, before evaluation and promotion",
    "report_written": "nightly_report, the HTML report written, before the stage is recorded",
    "import_landed": "gbv import, land(): a file's bytes renamed into raw/<source>/<date>/, its .sha256 not written",
    "import_parsed": "gbv import, every file landed, parsed, gated and de-duplicated, nothing loaded yet",
    "import_lots_loaded": "gbv import, lots + dimensions committed, lot_source and quarantine not yet",
    "import_sources_loaded": "gbv import, lot_source committed, quarantine and stage_run not yet",
}

_lock = threading.Lock()
_hits: Counter[str] = Counter()
_hooks: dict[str, list[Callable[[str], None]]] = {}


def _targets() -> dict[str, int]:
    spec = os.environ.get(ENV_KILL_AT, "").strip()
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, nth = item.partition(":")
        try:
            out[name] = int(nth) if nth else 1
        except ValueError as exc:
            raise ValueError(f"{ENV_KILL_AT}: {item!r} is not <name> or <name>:<n>") from exc
    return out


def fault_point(name: str, *, parent: bool = False) -> None:
    """Reach the kill point ``name``: SIGKILL this process (and first its parent when ``parent``) if asked."""
    hooks = _hooks.get(name)
    if hooks:
        for hook in list(hooks):
            hook(name)
    if ENV_KILL_AT not in os.environ:
        return
    targets = _targets()
    if name not in targets:
        return
    with _lock:
        _hits[name] += 1
        hit = _hits[name]
    if hit != targets[name]:
        return
    log.warning("fault injection: SIGKILL at %s (hit %d, pid %d%s)", name, hit, os.getpid(),
                ", with its parent" if parent else "")
    for handler in logging.getLogger().handlers:  # the line above is the last thing a reader sees
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - a broken handler must not stop the kill
            pass
    if parent and os.getppid() > 1:
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def on_fault(name: str, hook: Callable[[str], None]) -> Callable[[], None]:
    """Run ``hook(name)`` whenever the point ``name`` is reached in this process; returns a remover."""
    _hooks.setdefault(name, []).append(hook)

    def remove() -> None:
        hooks = _hooks.get(name, [])
        if hook in hooks:
            hooks.remove(hook)
        if not hooks:
            _hooks.pop(name, None)

    return remove


def reset() -> None:
    """Forget hit counts and hooks (tests)."""
    with _lock:
        _hits.clear()
    _hooks.clear()
