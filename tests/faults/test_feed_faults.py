"""Faults while a feed is written, in a real subprocess: a file-size limit (``ulimit -f``) hit mid-write, and
kill -9 inside ``write_feed``. No partial feed is ever visible; the next write succeeds."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
HOUSE, NIGHT = "lotus", "2026-10-01"

# Writes one house's feed of N rows (version V changes the estimates) into GBV_HOME.
WRITER = r"""
import sys
import pandas as pd
from gbv.contracts import VALUATION_COLUMNS
from gbv.settings import get_settings
from warehouse.feeds import write_feed
n, version = int(sys.argv[1]), int(sys.argv[2])
rows = pd.DataFrame({
    "lot_ref": [f"lotus-S1-{i:05d}" for i in range(n)], "estimate_usd": [1000.0 + i * version for i in range(n)],
    "low_usd": [800.0 + i for i in range(n)], "high_usd": [1500.0 + i * version for i in range(n)],
    "expert_value_usd": [None] * n, "confidence": [0.5] * n, "model_version": ["lgbm_baseline-x"] * n,
    "comparables": ["lotus-S0-00001:1200"] * n, "explanation": ["a long enough explanation text " * 3] * n,
    "house": ["lotus"] * n,
})
result = write_feed(get_settings(), "lotus", "2026-10-01", rows[[*VALUATION_COLUMNS, "house"]])
print(result.sha256, result.rows)
"""


def _limit_file_size(max_bytes: int):  # noqa: ANN202
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return preexec


def _write(home: Path, n: int, version: int, *, max_bytes: int | None = None,
           kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBV_")}
    env["GBV_HOME"] = str(home)
    if kill_at:
        env["GBV_FAULT_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-c", WRITER, str(n), str(version)], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=120,
                          preexec_fn=_limit_file_size(max_bytes) if max_bytes else None)


def _visible(home: Path) -> dict[str, str]:
    folder = home / "feeds" / HOUSE / NIGHT
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))} \
        if folder.exists() else {}


def _hidden(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "feeds" / HOUSE).glob(".*")) if (home / "feeds" / HOUSE).exists() else []


def test_file_size_limit_hit_while_writing_a_feed(tmp_path, record):
    from warehouse.feeds import read_feed

    home = tmp_path / "home"
    first = _write(home, 50, 1)
    assert first.returncode == 0, first.stderr
    before = _visible(home)
    # ~3,000 rows are ~400 KB; the limit lets the process run but not write the feed
    limited = _write(home, 3000, 2, max_bytes=64 * 1024)
    err = limited.stderr.strip().splitlines()[-1] if limited.stderr.strip() else ""
    after_fail = _visible(home)
    hidden = _hidden(home)
    again = _write(home, 3000, 2)
    feed = read_feed(home / "feeds" / HOUSE / NIGHT) if again.returncode == 0 else None
    ok = (limited.returncode != 0 and "FeedWriteError" in err and "File too large" in err
          and str(home / "feeds" / HOUSE / NIGHT) in err and after_fail == before and not hidden
          and again.returncode == 0 and feed is not None and len(feed) == 3000)
    record("file-size limit (RLIMIT_FSIZE 64 KiB, SIGXFSZ ignored)", "write_feed, estimates.csv of ~400 KB",
           "clear error, no partial feed, previous feed kept, next run OK",
           f"exit {limited.returncode}: {err[:70]}...; previous feed "
           f"{'intact' if after_fail == before else 'CHANGED'}; {len(hidden)} leftovers; next write "
           f"{'OK' if again.returncode == 0 else 'FAILED'} ({len(feed) if feed is not None else 0} rows)", ok)
    assert limited.returncode != 0
    assert "FeedWriteError" in err and "File too large" in err, limited.stderr[-2000:]
    assert str(home / "feeds" / HOUSE / NIGHT) in err
    assert after_fail == before, "the previous feed must stay exactly as it was"
    assert not hidden, hidden
    assert again.returncode == 0, again.stderr[-2000:]
    assert feed is not None and len(feed) == 3000


@pytest.mark.parametrize("point", ["feed_before_rename", "feed_swapped_out"])
def test_kill_inside_write_feed(point, tmp_path, record):
    from warehouse.feeds import FeedError, read_feed

    home = tmp_path / "home"
    assert _write(home, 40, 1).returncode == 0
    before = _visible(home)
    killed = _write(home, 60, 2, kill_at=point)
    folder = home / "feeds" / HOUSE / NIGHT
    visible = _visible(home)
    try:  # what a consumer sees right after the crash: the old feed whole, or no feed; never half of one
        seen = len(read_feed(folder))
    except (FeedError, FileNotFoundError):
        seen = None
    whole_or_nothing = (visible == before and seen == 40) or (not visible and seen is None)
    again = _write(home, 60, 2)
    after = read_feed(folder) if again.returncode == 0 else None
    ok = killed.returncode == -signal.SIGKILL and whole_or_nothing and after is not None and len(after) == 60 \
        and not _hidden(home)
    record(f"kill -9 in write_feed at {point}", "between the fsynced staging folder and its rename(s)",
           "old feed whole or none visible; next write OK, leftovers swept",
           f"exit {killed.returncode}; consumer saw {'the old feed' if seen == 40 else 'no feed'}; "
           f"rewrite {'OK' if after is not None else 'FAILED'}, {len(_hidden(home))} hidden leftovers", ok)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert whole_or_nothing
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(after) == 60 and not _hidden(home)
