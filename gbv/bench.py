"""``gbv bench night --lots N``: wall time and peak memory per stage of a full night on a fresh demo world.

Memory is measured two ways:

* ``resource.getrusage``: the peak RSS of the largest child process waited for (``RUSAGE_CHILDREN``);
* a sampling thread (psutil, every ``interval_s``) summing the memory of the night's process and all its
  descendants (step processes, Scrapy crawls) at each instant: the whole tree's peak, overall and per Dagster step
  (attributed by the step's start and end times in the run's event log). On Linux the sum is of PSS (proportional
  set size), so pages shared between processes (the forkserver's preloaded modules and the step processes forked
  from it) count once; elsewhere it is RSS, which counts them once per process and errs on the high side.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _ru_maxrss_bytes(who: int) -> int:
    """``ru_maxrss`` in bytes (Linux reports KiB, macOS bytes)."""
    v = resource.getrusage(who).ru_maxrss
    return int(v) if sys.platform == "darwin" else int(v) * 1024


@dataclass
class MemorySampler:
    """Samples the RSS of this process and all its descendants in a background thread.

    ``samples`` holds ``(time.time(), tree_bytes)``; :meth:`peak` answers the peak over a time window and
    :meth:`top_at_peak` which processes held it (``tops`` keeps the three biggest of every sample).
    """

    interval_s: float = 0.2
    root_pid: int | None = None  # whose tree to sample (default: this process)
    pss: bool = sys.platform.startswith("linux")  # proportional set size (Linux) instead of plain RSS
    samples: list[tuple[float, int]] = field(default_factory=list)
    tops: list[tuple[tuple[int, str, int], ...]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @staticmethod
    def _label(p) -> str:  # noqa: ANN001 - psutil.Process
        cmd = " ".join(p.cmdline())
        if "crawlers.crawl" in cmd:
            house = cmd.split("--house", 1)[1].split()[0] if "--house" in cmd else "?"
            return f"scrapy {house}"
        if "forkserver" in cmd:
            return "forkserver/step"
        if " nightly" in cmd:
            return "gbv nightly"
        return cmd[:40]

    def tree_memory(self) -> tuple[int, tuple[tuple[int, str, int], ...]]:
        """(bytes of the whole tree, its three biggest processes as (pid, label, bytes))."""
        import psutil

        try:
            me = psutil.Process(self.root_pid)
            procs = [me, *me.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return 0, ()
        sizes = []
        for p in procs:
            try:
                # PSS where the system reports it: a page shared by several processes (the forkserver's
                # preloaded modules and its step children) counts once in the sum, split among them
                info = p.memory_full_info() if self.pss else p.memory_info()
                sizes.append((p.pid, self._label(p), int(getattr(info, "pss", info.rss))))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return sum(b for _, _, b in sizes), tuple(sorted(sizes, key=lambda x: -x[2])[:3])

    def tree_rss(self) -> int:
        return self.tree_memory()[0]

    def sample(self) -> None:
        total, top = self.tree_memory()
        self.samples.append((time.time(), total))
        self.tops.append(top)

    def top_at_peak(self, start: float | None = None, end: float | None = None) -> str:
        """The biggest processes at the peak sample of a window, e.g. ``forkserver/step 2,100 + gbv nightly 310``."""
        best = max(((rss, i) for i, (t, rss) in enumerate(self.samples)
                    if (start is None or t >= start) and (end is None or t <= end)), default=None)
        if best is None or best[1] >= len(self.tops):
            return ""
        return " + ".join(f"{label} {b / 2**20:,.0f}" for _, label, b in self.tops[best[1]])

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


NIGHT_WINDOW_H = 6.0  # the feeds must be out by 06:00 for a night that starts at midnight


def _gbv_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from gbv.cli import main; sys.exit(main(sys.argv[1:]))", *args]


def _start_demo_site(home: Path, timeout_s: float = 1800,
                     on_start: Callable[[int], object] | None = None) -> tuple[subprocess.Popen, str, float]:
    """``gbv demo-site`` in a process of its own (the outside world: websites, labelling tool); waits until it
    serves and returns (process, base URL, seconds to generate the world and start serving)."""
    ready = home / "demo" / "site.url"
    ready.unlink(missing_ok=True)
    t = time.perf_counter()
    site = subprocess.Popen(_gbv_command("demo-site", "--ready-file", str(ready)), stdout=subprocess.DEVNULL)
    if on_start is not None:
        on_start(site.pid)
    while not ready.exists():
        if site.poll() is not None:
            raise RuntimeError(f"gbv demo-site exited with status {site.returncode} before it served")
        if time.perf_counter() - t > timeout_s:
            site.kill()
            raise RuntimeError(f"gbv demo-site did not serve within {timeout_s:.0f} s")
        time.sleep(0.2)
    return site, ready.read_text().strip(), time.perf_counter() - t


ISOLATE_FROM_LOTS = 100_000  # from this size on each step runs in a process of its own (gbv nightly --isolate-steps)


def bench_night(n_lots: int, keep: bool = False, interval_s: float = 0.2,
                isolate_steps: bool | None = None) -> dict[str, float]:
    """A whole night at ``n_lots`` lots as production runs it: the outside world (demo websites and labelling
    tool, ``gbv demo-site``) in one process, the night (``gbv nightly``) in another; wall time per stage and
    the peak RSS of the night's process tree (Scrapy crawls included) overall and per stage."""
    home = Path(tempfile.mkdtemp(prefix=f"gbv-bench-{n_lots}-"))
    os.environ["GBV_HOME"] = str(home)
    os.environ["GBV_DEMO_LOTS"] = str(n_lots)
    os.environ.pop("GBV_WAREHOUSE_URL", None)
    from gbv.demo.world import DEFAULT_AS_OF, world_params
    from gbv.night import _instance
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    world_params(settings, n_lots)
    run_date = DEFAULT_AS_OF.isoformat()
    site_mem = MemorySampler(interval_s)
    site, url, gen_s = _start_demo_site(home, on_start=lambda pid: site_mem.__setattr__("root_pid", pid)
                                        or site_mem.start())
    try:
        t = time.perf_counter()
        if isolate_steps is None:
            isolate_steps = n_lots >= ISOLATE_FROM_LOTS
        night_proc = subprocess.Popen(_gbv_command("nightly", "--date", run_date,
                                                   *(["--isolate-steps"] if isolate_steps else [])),
                                      env={**os.environ, "GBV_DEMO_SITE_URL": url})
        with MemorySampler(interval_s, root_pid=night_proc.pid) as mem:
            rc = night_proc.wait()
        night_s = time.perf_counter() - t
    finally:
        site_mem.stop()
        site.send_signal(signal.SIGTERM)
        try:
            site.wait(timeout=30)
        except subprocess.TimeoutExpired:
            site.kill()
    if rc != 0:
        raise RuntimeError(f"the {n_lots:,d}-lot night failed (gbv nightly exited {rc}); GBV_HOME {home}")
    runs = _instance(settings).get_runs(limit=1)
    run_id = runs[0].run_id
    import pandas as pd
    from sqlalchemy import select

    from warehouse.db import get_engine
    from warehouse.schema import stage_run

    with get_engine(settings).connect() as conn:
        stages = pd.read_sql(select(stage_run), conn)
    steps = step_windows(settings, run_id)
    # a step shorter than the sampling interval still gets the samples just around it
    step_peak = {k: mem.peak(a - interval_s, b + interval_s) for k, (a, b) in steps.items()}
    step_top = {k: mem.top_at_peak(a - interval_s, b + interval_s) for k, (a, b) in steps.items()}
    child_peak = _ru_maxrss_bytes(resource.RUSAGE_CHILDREN)
    tree_peak = mem.peak()
    n_offered = int(stages.loc[stages["stage"] == "staged_lots", "rows_out"].max())
    n_labels = int(stages.loc[stages["stage"] == "expert_labels", "rows_out"].max())

    print(f"\nbenchmark: full night at {n_lots:,d} lots ({n_offered:,d} lots offered, {n_labels:,d} labels) "
          f"— GBV_HOME {home}")
    print(f"  steps: {'each in a process of its own, one at a time (--isolate-steps)' if isolate_steps else 'all in the night process'}")
    print(f"  {'outside world (demo-site)':28s} {gen_s:8.2f} s to generate the world and serve it; "
          f"peak {_mb(site_mem.peak())} MB (its own process, not the night's)")

    def n(v: object) -> str:
        return "-" if pd.isna(v) else f"{int(v):,d}"

    print(f"  {'stage':28s} {'seconds':>10s} {'rows in':>9s} {'rows out':>9s} {'quarantined':>12s} "
          f"{'peak MB':>9s}  (peak memory of the night's process tree during the stage's Dagster step: "
          f"its biggest processes, MB)")
    shown = set()
    for rec in stages.sort_values("seconds", ascending=False).itertuples():
        step = _step_for(rec.stage, steps)
        shown.add(step)
        print(f"  {rec.stage:28s} {rec.seconds:8.2f} s {n(rec.rows_in):>9s} {n(rec.rows_out):>9s} "
              f"{n(rec.rows_quarantined):>12s} {_mb(step_peak.get(step)):>9s}  {step_top.get(step, '')}")
    others = {k: v for k, v in steps.items() if k not in shown}
    if others:
        print(f"  other Dagster steps (asset checks), {len(others)}: "
              f"{sum(b - a for a, b in others.values()):.2f} s in all, peak "
              f"{_mb(max((step_peak[k] or 0) for k in others))} MB")
    print(f"  {'whole night (wall)':28s} {night_s:8.2f} s  ({night_s / 3600:.2f} h: "
          f"{'fits' if night_s < NIGHT_WINDOW_H * 3600 else 'does NOT fit'} a {NIGHT_WINDOW_H:g}-hour nightly "
          f"window, {100 * night_s / (NIGHT_WINDOW_H * 3600):.0f}% of it)")
    print(f"  peak memory of the night: process tree {_mb(tree_peak)} MB ({'PSS' if mem.pss else 'RSS'} of gbv "
          f"nightly, its step processes and Scrapy crawls, sampled every {interval_s:g} s: "
          f"{mem.top_at_peak()}); largest single process of the bench {_mb(child_peak)} MB (getrusage, "
          f"the demo site included)")
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return ({r.stage: r.seconds for r in stages.itertuples()}
            | {"night": night_s, "world_generation": gen_s,
               "peak_rss_tree_bytes": float(tree_peak or 0), "peak_rss_children_bytes": float(child_peak)}
            | {f"peak_rss_bytes:{k}": float(v or 0) for k, v in step_peak.items()})
