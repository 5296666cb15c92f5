"""Two nights at once: for the same warehouse one runs and the other exits (status 3, `locked:`) or waits
(`--wait`); two GBV_HOMEs side by side run together without touching each other. On PostgreSQL the advisory
lock is held by real processes (and dropped with a killed one)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]


def _wait_for(pred, timeout: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_two_nightly_for_one_date_and_two_homes_side_by_side(clean_night, demo_site, tmp_path, record, kit):
    # home A: a copy of the clean night's home (re-running a night must leave it exactly as it was)
    home_a = tmp_path / "a"
    shutil.copytree(clean_night.home, home_a)
    home_b = tmp_path / "b"  # another home, fresh, running at the same time
    kit.copy_landing(clean_night.home, home_b)
    args = ["nightly", "--date", kit.NIGHT]
    t0 = time.monotonic()
    first = kit.start_gbv(args, kit.fault_env(home_a, demo_site))
    side = kit.start_gbv(args, kit.fault_env(home_b, demo_site))
    # the lock file is taken as soon as the first night starts its run
    lock = home_a / "warehouse.duckdb.nightly.lock"

    def held() -> bool:  # looked up in /proc/locks, without touching the lock
        try:
            ino = os.stat(lock).st_ino
            return any(line.split()[5].endswith(f":{ino}") for line in open("/proc/locks")
                       if len(line.split()) > 5)
        except OSError:
            return False

    assert _wait_for(held, 60), "the first night never took its lock"
    refused = kit.run_gbv(args, kit.fault_env(home_a, demo_site), timeout=60)
    waiter = kit.start_gbv([*args, "--wait"], kit.fault_env(home_a, demo_site))
    r_first = kit.finish(first, args, t0)
    first_done = time.monotonic()
    r_wait = kit.finish(waiter, args, t0)
    r_side = kit.finish(side, args, t0)
    state_a, state_b = kit.read_state(home_a), kit.read_state(home_b)
    diff_a = [d for d in clean_night.state.diff(state_a)]
    diff_b = clean_night.state.diff(state_b)
    locked_msg = refused.stderr.strip().splitlines()[-1] if refused.stderr.strip() else ""
    ok_lock = refused.returncode == 3 and locked_msg.startswith("locked:") and refused.seconds < 20
    ok_wait = r_first.returncode == 0 and r_wait.returncode == 0 and r_wait.seconds > first_done - t0 - 0.5
    record("a second gbv nightly for the same date", "same GBV_HOME (DuckDB file lock) while one runs",
           "exit 3 with a clear `locked:` message", f"exit {refused.returncode} after {refused.seconds:.1f}s: "
           f"{locked_msg[:80]}", ok_lock)
    record("a third gbv nightly --wait", "same GBV_HOME while one runs", "waits, then runs; same state",
           f"exit {r_wait.returncode}, finished {r_wait.seconds - (first_done - t0):.1f}s after the first; "
           f"{'== clean' if not diff_a else diff_a[0]}", ok_wait and not diff_a)
    record("two GBV_HOMEs at the same time", "two nights side by side, separate homes",
           "both succeed, neither touches the other", f"exits {r_first.returncode}/{r_side.returncode}; home B "
           f"{'== clean' if not diff_b else diff_b[0]}", r_side.returncode == 0 and not diff_b)
    assert ok_lock, refused.tail()
    assert r_first.returncode == 0, r_first.tail(30)
    assert ok_wait, r_wait.tail(30)
    assert r_side.returncode == 0, r_side.tail(30)
    assert not diff_a and not diff_b, (diff_a, diff_b)


HOLDER = r"""
import sys, time
from dataclasses import replace
from gbv.locks import NightLocked, night_lock
from gbv.settings import get_settings
url, hold, wait = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
settings = replace(get_settings(), warehouse_url=url)
try:
    with night_lock(settings, wait_s=wait):
        print("acquired", flush=True)
        time.sleep(hold)
except NightLocked as exc:
    print(f"locked: {exc}", flush=True)
    sys.exit(3)
"""


def _holder(url: str, hold: float, wait: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBV_")}
    return subprocess.Popen([sys.executable, "-c", HOLDER, url, str(hold), str(wait)], cwd=REPO, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _first_line(proc: subprocess.Popen) -> str:
    return proc.stdout.readline().strip()


@pytest.mark.postgres
def test_postgres_advisory_lock_between_processes(pg_schema_url, record):
    other_schema_url = pg_schema_url.replace("search_path%3D", "search_path%3Dother_")
    a = _holder(pg_schema_url, 30, 0)
    assert _first_line(a) == "acquired", a.stderr.read()
    b = _holder(pg_schema_url, 0, 0)  # same warehouse, no wait: refused at once
    b_out, b_err = b.communicate(timeout=60)
    c = _holder(other_schema_url, 0, 0)  # another warehouse (schema) on the same server: not blocked
    c_out, _ = c.communicate(timeout=60)
    d = _holder(pg_schema_url, 0, 60)  # waits for the holder
    time.sleep(1.0)
    still_waiting = d.poll() is None
    os.kill(a.pid, signal.SIGKILL)  # kill -9 of the holder: the server drops its session and the lock
    a.wait()
    d_out, _ = d.communicate(timeout=60)
    ok = (b.returncode == 3 and "advisory lock" in b_out and c.returncode == 0 and still_waiting
          and d.returncode == 0 and "acquired" in d_out)
    record("two processes take the PostgreSQL night lock", "pg_try_advisory_lock, same schema / other schema",
           "2nd refused (exit 3), other schema free, waiter gets it when the holder is killed -9",
           f"2nd exit {b.returncode}; other schema exit {c.returncode}; waiter "
           f"{'waited' if still_waiting else 'did not wait'} then exit {d.returncode}", ok)
    assert b.returncode == 3 and "advisory lock" in b_out, (b_out, b_err)
    assert c.returncode == 0
    assert still_waiting and d.returncode == 0 and "acquired" in d_out
