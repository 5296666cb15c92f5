"""One night at a time per warehouse: a file lock beside the DuckDB file, an advisory lock on PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout
from sqlalchemy import text

from gbv.settings import Settings


class NightLocked(RuntimeError):
    """Another process is running a night against the same warehouse."""


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def night_lock(settings: Settings, name: str = "nightly", wait_s: float = 0.0) -> Iterator[None]:
    """Hold the warehouse's night lock; raise :class:`NightLocked` with a clear message if it is taken."""
    if settings.is_duckdb:
        db_file = settings.warehouse_url[len("duckdb:///"):]
        lock = FileLock(f"{db_file}.{name}.lock")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout as exc:
            raise NightLocked(f"another gbv {name} is running against {db_file} (lock {lock.lock_file}); "
                              "wait for it to finish and run again") from exc
        try:
            yield
        finally:
            lock.release()
        return
    from warehouse.db import make_engine

    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        key = _lock_id(f"gbv:{name}")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if not got:
            raise NightLocked(f"another gbv {name} holds the PostgreSQL advisory lock {key}; "
                              "wait for it to finish and run again")
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    engine.dispose()
