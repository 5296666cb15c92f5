"""The fault-injection suite's scaffolding: real `gbv` subprocesses killed with SIGKILL, a clean night to compare
with, and the table of faults printed at the end of the run.

Every scenario runs the real command line (``python -m gbv.cli nightly|train``) in a process group of its own
against a private GBV_HOME, with a small demo world (``N_LOTS``) served by one demo site for the whole session
(so every run crawls the same pages at the same address). The kill is either a named fault point
(``GBV_FAULT_KILL_AT``, see ``gbv/faults.py``) or a timer from outside. A run's state is compared with a clean
night's: the sha256 of every feed file, the row count of every warehouse table and a content hash of each table
(its rows sorted, minus wall-clock columns, with the home's path written as ``$HOME``).

Run alone with ``pytest -m faults``; the default suite (``-m "not slow and not faults"``) leaves it out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
N_LOTS = 300
NIGHT = "2026-10-01"
RUN_TIMEOUT_S = 240

# wall-clock columns: the only ones allowed to differ between an interrupted-and-rerun night and a clean one
VOLATILE = {"stage_run": {"seconds"}, "dim_model": {"created_at", "promoted_at"}}


# ---- the table printed at the end ---------------------------------------------------------------------------

ROWS: list[dict[str, str]] = []


@pytest.fixture
def record(request):
    """``record(fault, where, expected, observed, ok)`` adds a row to the suite's table."""
    mine: list[dict[str, str]] = []

    def add(fault: str, where: str, expected: str, observed: str, ok: bool) -> None:
        row = {"fault": fault, "where": where, "expected": expected, "observed": observed,
               "result": "PASS" if ok else "FAIL", "test": request.node.name}
        mine.append(row)
        ROWS.append(row)

    yield add
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for row in mine:  # an assertion after the row was recorded still fails the row
            row["result"] = "FAIL"
        if not mine:
            msg = str(failed.longrepr).strip().splitlines()[-1][:120] if failed.longrepr else "failed"
            ROWS.append({"fault": request.node.name, "where": "-", "expected": "-", "observed": msg,
                         "result": "FAIL", "test": request.node.name})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if not ROWS:
        return
    tr = terminalreporter
    cols = ["fault", "where", "expected", "observed", "result"]
    limit = {"fault": 64, "where": 64, "expected": 64, "observed": 120, "result": 6}
    widths = {c: min(limit[c], max(len(c), *(len(r[c]) for r in ROWS))) for c in cols}
    tr.section("fault-injection suite")

    def line(values: dict[str, str]) -> str:
        return " | ".join(str(values[c])[:widths[c]].ljust(widths[c]) for c in cols)

    tr.write_line(line({c: c for c in cols}))
    tr.write_line("-+-".join("-" * widths[c] for c in cols))
    for row in ROWS:
        tr.write_line(line(row))
    n_pass = sum(r["result"] == "PASS" for r in ROWS)
    tr.write_line(f"{n_pass}/{len(ROWS)} fault rows green")


# ---- running gbv ------------------------------------------------------------------------------------------

@dataclass
class Run:
    args: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    killed_by: str = ""

    @property
    def sigkilled(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def tail(self, n: int = 15) -> str:
        return "\n".join((self.stdout + "\n" + self.stderr).strip().splitlines()[-n:])


def fault_env(home: Path, site_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GBV_", "DAGSTER_"))}
    env.update(GBV_HOME=str(home), GBV_DEMO_LOTS=str(N_LOTS), GBV_DEMO_SITE_URL=site_url,
               PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def start_gbv(args: list[str], env: dict[str, str], **popen) -> subprocess.Popen:  # noqa: ANN003
    return subprocess.Popen([sys.executable, "-m", "gbv.cli", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **popen)


def finish(proc: subprocess.Popen, args: list[str], started: float, timeout: float = RUN_TIMEOUT_S) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"gbv {' '.join(args)} ran past {timeout} s\n{err[-3000:]}") from None
    return Run(args, proc.returncode, time.monotonic() - started, out, err)


def run_gbv(args: list[str], env: dict[str, str], *, kill_after_s: float | None = None,
            kill_group: bool = True, timeout: float = RUN_TIMEOUT_S) -> Run:
    """Run ``gbv <args>``; with ``kill_after_s``, SIGKILL it (its whole process group) after that long."""
    started = time.monotonic()
    proc = start_gbv(args, env)
    killed_by = ""
    if kill_after_s is not None:
        try:
            proc.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            if kill_group:
                os.killpg(proc.pid, signal.SIGKILL)
                killed_by = f"timer {kill_after_s:.2f}s (process group)"
            else:
                os.kill(proc.pid, signal.SIGKILL)
                killed_by = f"timer {kill_after_s:.2f}s (main process only)"
    run = finish(proc, args, started, timeout)
    run.killed_by = killed_by
    return run


def nightly(env: dict[str, str], **kw) -> Run:  # noqa: ANN003
    return run_gbv(["nightly", "--date", NIGHT], env, **kw)


# ---- what a home holds ------------------------------------------------------------------------------------

def _norm(value, home: str):  # noqa: ANN001, ANN202 - backend-neutral text for one cell
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.9g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy / decimal scalars
        return _norm(value.item(), home)
    text = str(value)
    return text.replace(home, "$HOME") if home else text


@dataclass
class State:
    feeds: dict[str, str] = field(default_factory=dict)       # relative path -> sha256
    counts: dict[str, int] = field(default_factory=dict)      # table -> rows
    content: dict[str, str] = field(default_factory=dict)     # table -> sha256 of its sorted, normalised rows
    landing: dict[str, str] = field(default_factory=dict)     # complete landing files -> sha256

    def diff(self, other: State) -> list[str]:
        out = []
        for name in ("feeds", "counts", "content", "landing"):
            a, b = getattr(self, name), getattr(other, name)
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    out.append(f"{name}[{key}]: {str(a.get(key))[:16]} != {str(b.get(key))[:16]}")
        return out


def warehouse_url(home: Path, url: str | None = None) -> str:
    return url or f"duckdb:///{home / 'warehouse.duckdb'}"


def read_state(home: Path, url: str | None = None) -> State:
    from sqlalchemy import select

    from warehouse.db import make_engine
    from warehouse.schema import TABLES

    state = State()
    for p in sorted((home / "feeds").rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(home).parts):
            state.feeds[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted((home / "raw").rglob("*")):
        if p.is_file() and (p.parent / "_SUCCESS").exists() and p.name != "_SUCCESS":
            state.landing[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    engine = make_engine(warehouse_url(home, url))
    try:
        with engine.connect() as conn:
            for name, table in TABLES.items():
                cols = [c for c in table.columns if c.name not in VOLATILE.get(name, set())]
                rows = conn.execute(select(*cols)).all()
                if name == "dim_model":  # where the artifact lives: the home may be a copy of another
                    names = [c.name for c in cols]
                    i = names.index("artifact_path")
                    rows = [(*r[:i], Path(str(r[i])).name, *r[i + 1:]) for r in rows]
                lines = sorted("\x1f".join(_norm(v, str(home)) for v in row) for row in rows)
                state.counts[name] = len(rows)
                state.content[name] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    finally:
        engine.dispose()
    return state


def check_invariants(home: Path, clean: State, url: str | None = None) -> list[str]:
    """What must hold at ANY moment, even right after a kill -9 (before any re-run)."""
    from model.store import COMPLETE_MARKER
    from warehouse.db import make_engine
    from warehouse.feeds import read_feed
    from warehouse.schema import dim_model

    problems = []
    # a feed folder is visible only whole: _SUCCESS, manifest and a matching checksum
    for folder in sorted((home / "feeds").glob("*/*")):
        if folder.name.startswith("."):
            continue
        try:
            read_feed(folder)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"visible feed {folder.relative_to(home)} is not whole: {exc}")
    # the landing zone is append-only: a complete landing is exactly the clean run's
    for p in sorted((home / "raw").rglob("_SUCCESS")):
        for f in p.parent.iterdir():
            if f.name in ("lots.jsonl", "rejects.jsonl", "labels.csv", "experts.csv"):
                rel = str(f.relative_to(home))
                if rel in clean.landing and hashlib.sha256(f.read_bytes()).hexdigest() != clean.landing[rel]:
                    problems.append(f"complete landing {rel} differs from the clean run's")
    # stage files are atomic: every visible one reads whole
    import pandas as pd

    for f in sorted((home / "stage").rglob("*.parquet")):
        if not f.name.startswith("."):
            try:
                pd.read_parquet(f)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"stage file {f.relative_to(home)} unreadable: {exc}")
    # the registry never points at a half-written artifact
    if (home / "warehouse.duckdb").exists() or url:
        engine = make_engine(warehouse_url(home, url))
        try:
            with engine.connect() as conn:
                versions = conn.execute(dim_model.select().with_only_columns(dim_model.c.model_version)
                                        ).scalars().all()
        except Exception as exc:  # noqa: BLE001 - a table not created yet is fine
            versions = []
            if "dim_model" not in str(exc):
                problems.append(f"warehouse unreadable after the kill: {exc}")
        finally:
            engine.dispose()
        for v in versions:
            if not (home / "models" / v / COMPLETE_MARKER).is_file():
                problems.append(f"dim_model row {v} points at an incomplete artifact")
    return problems


def copy_landing(src_home: Path, dst_home: Path) -> None:
    """Give a fresh home the clean night's complete landings (replayed, not crawled: the crawl is immutable)."""
    for p in sorted((src_home / "raw").rglob("_SUCCESS")):
        rel = p.parent.relative_to(src_home)
        shutil.copytree(p.parent, dst_home / rel)


# ---- session fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def demo_site():
    from gbv.demo.site import DemoSite
    from gbv.demo.world import generate_world

    site = DemoSite(generate_world(n_lots=N_LOTS, seed=7), dt.date.fromisoformat(NIGHT))
    site.start()
    yield site.base_url
    site.stop()


@dataclass
class Clean:
    home: Path
    state: State
    seconds: float
    run: Run


@pytest.fixture(scope="session")
def clean_night(tmp_path_factory, demo_site) -> Clean:
    """One uninterrupted night: what every interrupted-and-rerun night must end equal to."""
    home = tmp_path_factory.mktemp("clean") / "home"
    run = nightly(fault_env(home, demo_site))
    assert run.returncode == 0, f"the clean night failed:\n{run.tail(40)}"
    state = read_state(home)
    assert len(state.feeds) >= 4 * 3 and state.counts["fact_lot"] == N_LOTS, state
    (home / "clean_state.json").write_text(json.dumps(state.__dict__, indent=1, sort_keys=True))
    return Clean(home, state, run.seconds, run)


def short(digests: dict[str, str]) -> str:
    """The feed CSVs' sha256 (12 hex each), for the table."""
    return ",".join(f"{Path(k).parts[1]}={v[:8]}" for k, v in sorted(digests.items())
                    if k.endswith("estimates.csv"))


@pytest.fixture(scope="session")
def kit():
    """This module's helpers for the test modules (``kit.nightly(...)``, ``kit.read_state(...)``...)."""
    import types

    return types.SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith("_")})
