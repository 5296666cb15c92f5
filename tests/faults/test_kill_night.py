"""kill -9 of `gbv nightly` at named points and at random moments, then the same command again: the warehouse
ends with exactly the clean night's rows and the feeds with the same bytes; meanwhile nothing half-written is
ever visible."""

from __future__ import annotations

import os
import random
import time

import pytest

pytestmark = pytest.mark.faults

# (kill point[:n-th hit], where, start from the clean night's landing instead of crawling)
POINTS = [
    ("crawl_item:25", "crawl subprocess after its 25th lot (takes the night with it)", False),
    ("landing_before_success", "landing published, before _SUCCESS (takes the night with it)", False),
    ("warehouse_lots_tx", "warehouse_lots transaction: dims upserted, fact_lot not yet", True),
    ("model_renamed", "model artifact renamed into place, no dim_model row yet", True),
    ("valuations_loaded", "fact_valuation committed, no feed written yet", True),
    ("feed_written:2", "estimate_feeds between the 2nd and 3rd house's feed", True),
    ("report_written", "nightly report written, stage not yet recorded", True),
]


@pytest.mark.parametrize("point,where,pre_landed", POINTS, ids=[p[0] for p in POINTS])
def test_kill_at_a_named_point_then_rerun(point, where, pre_landed, tmp_path, demo_site, clean_night, record, kit):
    home = tmp_path / "home"
    if pre_landed:
        kit.copy_landing(clean_night.home, home)
    killed = kit.nightly(kit.fault_env(home, demo_site, GBV_FAULT_KILL_AT=point))
    assert killed.sigkilled, f"the fault point {point} was not reached (exit {killed.returncode}):\n" \
                             f"{killed.tail()}"
    problems = kit.check_invariants(home, clean_night.state)
    rerun = kit.nightly(kit.fault_env(home, demo_site))
    assert rerun.returncode == 0, f"the re-run after a kill at {point} failed:\n{rerun.tail(30)}"
    state = kit.read_state(home)
    diff = clean_night.state.diff(state)
    same_feeds = state.feeds == clean_night.state.feeds
    record(f"kill -9 at {point}", where,
           "nothing half-visible; re-run = clean rows + feed bytes",
           f"killed after {killed.seconds:.1f}s; re-run {rerun.seconds:.1f}s; "
           f"{'feeds ==' if same_feeds else 'FEEDS DIFFER'} ({kit.short(state.feeds)}); "
           f"{sum(state.counts.values())} rows, "
           f"{'tables ==' if not [d for d in diff if not d.startswith('feeds')] else 'TABLES DIFFER'}"
           + (f"; {problems[0]}" if problems else ""),
           not problems and not diff)
    assert not problems, problems
    assert not diff, diff


# A seeded list of moments (seconds after start) at which the whole night is killed from outside; the first
# lands in the crawl, the others spread over the pipeline.
_rng = random.Random(20261001)
DELAYS = [round(_rng.uniform(6.0, 12.0), 2)]  # the crawl phase is killed in the orphan test below


@pytest.mark.parametrize("delay", DELAYS, ids=[f"after_{d}s" for d in DELAYS])
def test_kill_by_timer_then_rerun(delay, tmp_path, demo_site, clean_night, record, kit):
    home = tmp_path / "home"
    killed = kit.nightly(kit.fault_env(home, demo_site), kill_after_s=delay)
    problems = kit.check_invariants(home, clean_night.state)
    rerun = kit.nightly(kit.fault_env(home, demo_site))
    assert rerun.returncode == 0, f"the re-run after a kill at {delay}s failed:\n{rerun.tail(30)}"
    state = kit.read_state(home)
    diff = clean_night.state.diff(state)
    record(f"kill -9 by timer ({killed.killed_by or 'finished first'})", "whole process group, from outside",
           "re-run = clean rows + feed bytes",
           f"re-run {rerun.seconds:.1f}s; {'feeds ==' if state.feeds == clean_night.state.feeds else 'FEEDS DIFFER'}"
           f"; {'tables ==' if not diff else diff[0]}" + (f"; {problems[0]}" if problems else ""),
           not problems and not diff)
    assert not problems, problems
    assert not diff, diff


def _crawl_children(home) -> list[int]:  # noqa: ANN001
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read()
            except OSError:
                continue
            if b"crawlers.crawl" in cmd and str(home).encode() in cmd:
                pids.append(int(entry))
    return pids


def test_killing_only_the_night_leaves_no_orphan_crawl(tmp_path, demo_site, clean_night, record, kit):
    """SIGKILL to the night's main process alone (its crawl subprocesses are not signalled): the crawls die
    with it (PR_SET_PDEATHSIG) instead of writing into the landing zone behind the next run's back."""
    home = tmp_path / "home"
    env = kit.fault_env(home, demo_site)
    started = time.monotonic()
    proc = kit.start_gbv(["nightly", "--date", "2026-10-01"], env)
    deadline = time.monotonic() + 60
    while not _crawl_children(home) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    seen = _crawl_children(home)
    os.kill(proc.pid, 9)
    kit.finish(proc, ["nightly"], started)
    deadline = time.monotonic() + 10  # SIGKILL is immediate, but a loaded machine may schedule it late
    while (left := _crawl_children(home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    rerun = kit.nightly(kit.fault_env(home, demo_site))
    state = kit.read_state(home) if rerun.returncode == 0 else None
    diff = clean_night.state.diff(state) if state is not None else ["re-run failed"]
    ok = bool(seen) and not left and not diff
    record("kill -9 of the night's main process only", f"during the crawl ({len(seen)} crawl subprocesses)",
           "crawls die with it; re-run = clean", f"{len(left)} crawl process(es) left; re-run exit "
           f"{rerun.returncode}, {'== clean' if not diff else diff[0]}", ok)
    assert seen, "no crawl subprocess was seen running"
    assert not left, f"orphan crawl processes still running: {left}"
    assert rerun.returncode == 0, rerun.tail(30)
    assert not diff, diff
    assert state.counts["fact_lot"] == kit.N_LOTS
