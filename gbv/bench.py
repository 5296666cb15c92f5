"""``gbv bench night --lots N``: wall time and peak memory per stage of a full night on a fresh demo world.

Memory is measured two ways:

* ``resource.getrusage``: the peak RSS of this process (``RUSAGE_SELF``) and of the largest child it has waited
  for (``RUSAGE_CHILDREN``: the Scrapy crawl subprocesses), for the whole run;
* a sampling thread (psutil, every ``interval_s``) summing the RSS of this process and all its descendants at
  each instant: the whole process tree's peak, overall and per Dagster step (attributed by the step's start and
  end times in the run's event log). Shared pages of the children count once per process, so the tree figure
  errs on the high side.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def _ru_maxrss_bytes(who: int) -> int:
    """``ru_maxrss`` in bytes (Linux reports KiB, macOS bytes)."""
    v = resource.getrusage(who).ru_maxrss
    return int(v) if sys.platform == "darwin" else int(v) * 1024


@dataclass
class MemorySampler:
    """Samples the RSS of this process and all its descendants in a background thread.

    ``samples`` holds ``(time.time(), tree_rss_bytes)``; :meth:`peak` answers the peak over a time window.
    """

    interval_s: float = 0.2
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @staticmethod
    def tree_rss() -> int:
        import psutil

        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return total

    def sample(self) -> None:
        self.samples.append((time.time(), self.tree_rss()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def start(self) -> MemorySampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="gbv-bench-rss", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()

    def peak(self, start: float | None = None, end: float | None = None) -> int | None:
        vals = [rss for t, rss in self.samples
                if (start is None or t >= start) and (end is None or t <= end)]
        return max(vals) if vals else None

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def step_windows(settings, run_id: str) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """Dagster step key -> (start, end) wall-clock times of one run, from the instance's event log."""
    from dagster import DagsterEventType

    from gbv.night import _instance

    instance = _instance(settings)
    start: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type == DagsterEventType.STEP_START:
            start[ev.step_key] = entry.timestamp
        elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) \
                and ev.step_key in start:
            windows[ev.step_key] = (start[ev.step_key], entry.timestamp)
    return windows


def _step_for(stage: str, steps: dict[str, tuple[float, float]]) -> str | None:
    """The Dagster step that ran a stage_run stage (``conformed_lots`` ran in step ``conformed``)."""
    if stage in steps:
        return stage
    prefixes = [s for s in steps if stage.startswith(s)]
    return max(prefixes, key=len) if prefixes else None


def _mb(v: int | None) -> str:
    return "-" if v is None else f"{v / 2**20:,.0f}"


def bench_night(n_lots: int, keep: bool = False, interval_s: float = 0.2) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix=f"gbv-bench-{n_lots}-"))
    os.environ["GBV_HOME"] = str(home)
    os.environ["GBV_DEMO_LOTS"] = str(n_lots)
    os.environ.pop("GBV_WAREHOUSE_URL", None)
    from gbv.demo.world import world_for_home
    from gbv.night import run_night
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    with MemorySampler(interval_s) as mem:
        t0 = time.time()
        t = time.perf_counter()
        world = world_for_home(settings, n_lots)
        gen_s = time.perf_counter() - t
        gen_end = time.time()
        night = run_night(world.as_of.isoformat(), settings)
    import pandas as pd
    from sqlalchemy import select

    from warehouse.db import get_engine
    from warehouse.schema import stage_run

    with get_engine(settings).connect() as conn:
        stages = pd.read_sql(select(stage_run), conn)
    steps = step_windows(settings, night.run_id)
    # a step shorter than the sampling interval still gets the samples just around it
    step_peak = {k: mem.peak(a - interval_s, b + interval_s) for k, (a, b) in steps.items()}
    self_peak, child_peak = _ru_maxrss_bytes(resource.RUSAGE_SELF), _ru_maxrss_bytes(resource.RUSAGE_CHILDREN)
    tree_peak = mem.peak()

    print(f"\nbenchmark: full night at {n_lots:,d} lots ({len(world.truth):,d} lots offered, "
          f"{len(world.all_labels):,d} labels) — GBV_HOME {home}")
    print(f"  {'world generation':28s} {gen_s:8.2f} s {'':30s} {_mb(mem.peak(t0, gen_end)):>9s}")

    def n(v: object) -> str:
        return "-" if pd.isna(v) else f"{int(v):,d}"

    print(f"  {'stage':28s} {'seconds':>10s} {'rows in':>9s} {'rows out':>9s} {'quarantined':>12s} "
          f"{'peak MB':>9s}  (peak RSS of the process tree during the stage's Dagster step)")
    shown = set()
    for rec in stages.sort_values("seconds", ascending=False).itertuples():
        step = _step_for(rec.stage, steps)
        shown.add(step)
        print(f"  {rec.stage:28s} {rec.seconds:8.2f} s {n(rec.rows_in):>9s} {n(rec.rows_out):>9s} "
              f"{n(rec.rows_quarantined):>12s} {_mb(step_peak.get(step)):>9s}")
    others = {k: v for k, v in steps.items() if k not in shown}
    if others:
        print(f"  other Dagster steps (asset checks), {len(others)}: "
              f"{sum(b - a for a, b in others.values()):.2f} s in all, peak "
              f"{_mb(max((step_peak[k] or 0) for k in others))} MB")
    print(f"  {'whole night (wall)':28s} {night.seconds:8.2f} s")
    print(f"  peak RSS: process tree {_mb(tree_peak)} MB (sampled every {interval_s:g} s); this process "
          f"{_mb(self_peak)} MB, largest child {_mb(child_peak)} MB (getrusage)")
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return ({r.stage: r.seconds for r in stages.itertuples()}
            | {"night": night.seconds, "world_generation": gen_s,
               "peak_rss_tree_bytes": float(tree_peak or 0), "peak_rss_self_bytes": float(self_peak),
               "peak_rss_children_bytes": float(child_peak)}
            | {f"peak_rss_bytes:{k}": float(v or 0) for k, v in step_peak.items()})
