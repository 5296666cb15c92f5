"""A PostgreSQL server of the test's own (initdb in a temporary folder, its own port) stopped with
``pg_ctl stop -m immediate`` in the middle of a warehouse load: the load retries with backoff and converges when
the server comes back, or fails with a clear error when it does not; the re-run converges to the clean state."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.faults

NIGHT = "2026-10-01"
TABLES = ("dim_artist", "dim_artwork", "dim_sale", "fact_lot")


class OwnPostgres:
    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: cannot start a server "
                        "of the test's own")
        self.bin = Path(bins[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="gbv-faults-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
        if self.user:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.bin / tool), *args], capture_output=True, text=True, timeout=120,
                              user=self.user, cwd=self.root)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stderr or proc.stdout}")
        return proc

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop_immediate(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def createdb(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop_immediate()
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def own_pg():
    server = OwnPostgres()
    yield server
    server.close()


@pytest.fixture(scope="module")
def night_lots(clean_night) -> pd.DataFrame:
    return pd.read_parquet(clean_night.home / "stage" / "lots" / f"{NIGHT}.parquet")


def _content(url: str) -> dict[str, tuple[int, str]]:
    from sqlalchemy import text

    from warehouse.db import make_engine

    engine = make_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            for t in TABLES:
                rows = sorted(repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {t}")).all())  # noqa: S608
                out[t] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
    finally:
        engine.dispose()
    return out


def _load(url: str, lots: pd.DataFrame) -> float:
    from warehouse.db import create_schema, make_engine
    from warehouse.loaders import upsert_lots

    engine = make_engine(url)
    try:
        create_schema(engine)
        t0 = time.monotonic()
        upsert_lots(engine, lots, NIGHT)
        return time.monotonic() - t0
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def clean_load(own_pg, night_lots) -> dict[str, tuple[int, str]]:
    """The four tables after one uninterrupted load on the same server."""
    ref = own_pg.createdb("reference")
    _load(ref, night_lots)
    return _content(ref)


def test_server_restarted_mid_load_the_load_retries_and_converges(own_pg, night_lots, clean_load, record):
    from gbv import faults

    want = clean_load
    target = own_pg.createdb("restarted")
    events = []

    def crash_server(_name: str) -> None:
        remove()
        own_pg.stop_immediate()
        events.append("stopped")

        def back() -> None:
            time.sleep(1.0)
            own_pg.start()
            events.append("restarted")
        threading.Thread(target=back, daemon=True).start()

    remove = faults.on_fault("warehouse_lots_tx", crash_server)
    try:
        seconds = _load(target, night_lots)
    finally:
        remove()
    got = _content(target)
    log = own_pg.log.read_text(errors="replace")
    ok = events == ["stopped", "restarted"] and got == want and "immediate shutdown" in log
    record("PostgreSQL stopped (pg_ctl stop -m immediate) and restarted 1 s later",
           "own server, inside the warehouse_lots transaction (dims sent, fact_lot not)",
           "the load retries with backoff; rows == a clean load",
           f"{' then '.join(events)}; load finished in {seconds:.1f}s; "
           f"{'rows == clean' if got == want else 'ROWS DIFFER'} ({got['fact_lot'][0]} lots)", ok)
    assert events == ["stopped", "restarted"]
    assert got == want


def test_server_down_for_good_the_load_fails_clearly_and_the_rerun_converges(own_pg, night_lots, clean_load,
                                                                               record, monkeypatch):
    from gbv import faults
    from warehouse.db import WarehouseUnavailable

    want = clean_load
    target = own_pg.createdb("down")
    monkeypatch.setenv("GBV_WAREHOUSE_RETRIES", "3")
    monkeypatch.setenv("GBV_WAREHOUSE_RETRY_DELAY", "0.2")

    def crash_server(_name: str) -> None:
        remove()
        own_pg.stop_immediate()

    remove = faults.on_fault("warehouse_lots_tx", crash_server)
    try:
        with pytest.raises(WarehouseUnavailable) as info:
            _load(target, night_lots)
    finally:
        remove()
    message = str(info.value)
    own_pg.start()
    partial = _content(target)  # the killed transaction left nothing behind
    _load(target, night_lots)  # the re-run
    got = _content(target)
    ok = ("failed 3 times" in message and all(n == 0 for n, _ in partial.values()) and got == want)
    record("PostgreSQL stopped for good mid-load", "own server, inside the warehouse_lots transaction",
           "clear error after bounded retries, nothing partial; re-run == clean",
           f"{type(info.value).__name__}: {message[:60]}...; rows after failure "
           f"{sum(n for n, _ in partial.values())}; re-run {'== clean' if got == want else 'DIFFERS'}", ok)
    assert "failed 3 times" in message and "run again" in message, message
    assert all(n == 0 for n, _ in partial.values()), partial
    assert got == want


LOADER = r"""
import sys
import pandas as pd
from warehouse.db import create_schema, make_engine
from warehouse.loaders import upsert_lots
engine = make_engine(sys.argv[1])
create_schema(engine)
upsert_lots(engine, pd.read_parquet(sys.argv[2]), "2026-10-01")
"""


def test_loader_killed_mid_transaction_on_postgres(own_pg, clean_night, clean_load, record):
    import signal
    import sys

    repo = Path(__file__).resolve().parents[2]
    want = clean_load
    target = own_pg.createdb("killed")
    lots = clean_night.home / "stage" / "lots" / f"{NIGHT}.parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBV_")}
    killed = subprocess.run([sys.executable, "-c", LOADER, target, str(lots)], cwd=repo, capture_output=True,
                            text=True, timeout=120, env={**env, "GBV_FAULT_KILL_AT": "warehouse_lots_tx"})
    partial = _content(target)
    again = subprocess.run([sys.executable, "-c", LOADER, target, str(lots)], cwd=repo, capture_output=True,
                           text=True, timeout=120, env=env)
    got = _content(target)
    ok = killed.returncode == -signal.SIGKILL and all(n == 0 for n, _ in partial.values()) and \
        again.returncode == 0 and got == want
    record("kill -9 of a loader on PostgreSQL", "inside the warehouse_lots transaction (dims sent)",
           "server rolls back: no rows; re-run == clean",
           f"exit {killed.returncode}; rows after kill {sum(n for n, _ in partial.values())}; re-run "
           f"{'== clean' if got == want else 'DIFFERS'}", ok)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert all(n == 0 for n, _ in partial.values()), partial
    assert again.returncode == 0, again.stderr[-2000:]
    assert got == want
