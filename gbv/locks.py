"""One night at a time per warehouse: a file lock beside the DuckDB file, an advisory lock on PostgreSQL.

The PostgreSQL lock's key is derived from the lock name and the warehouse URL (password hidden, search_path
included), so two warehouses on one server (two schemas, two databases) never block each other, while two
nights against the same warehouse do. The lock is held by a session: if the process dies (even by ``kill -9``)
the server drops the session and the lock with it, and the file lock's ``fcntl`` lock likewise dies with its
process.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout
from sqlalchemy import text

from gbv.settings import Settings

log = logging.getLogger(__name__)

POLL_S = 0.5
_HELD: dict[str, int] = {}  # locks this process holds, by identity: taking one again nests (no self-deadlock)


class NightLocked(RuntimeError):
    """Another process is running a night against the same warehouse."""


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _waited(wait_s: float | None) -> str:
    if not wait_s:
        return "; wait for it to finish and run again (or pass --wait)"
    return f" and was still held after waiting {wait_s:.0f} s"


@contextmanager
def night_lock(settings: Settings, name: str = "nightly", wait_s: float | None = 0.0) -> Iterator[None]:
    """Hold the warehouse's night lock; raise :class:`NightLocked` with a clear message if it is taken.

    ``wait_s``: 0 fails at once, a positive number waits at most that long, ``None`` (or a negative number)
    waits as long as it takes.
    """
    forever = wait_s is None or wait_s < 0
    identity = f"{name}|{settings.warehouse_url}"
    if _HELD.get(identity):
        _HELD[identity] += 1
        try:
            yield
        finally:
            _HELD[identity] -= 1
        return
    with _holding(identity), _acquire(settings, name, wait_s, forever):
        yield


@contextmanager
def _holding(identity: str) -> Iterator[None]:
    _HELD[identity] = 1
    try:
        yield
    finally:
        _HELD.pop(identity, None)


@contextmanager
def _acquire(settings: Settings, name: str, wait_s: float | None, forever: bool) -> Iterator[None]:
    if settings.is_duckdb:
        db_file = settings.warehouse_url[len("duckdb:///"):]
        lock = FileLock(f"{db_file}.{name}.lock")
        try:
            if forever or wait_s:
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    log.info("another gbv %s holds %s; waiting%s", name, lock.lock_file,
                             "" if forever else f" up to {wait_s:.0f} s")
                    lock.acquire(timeout=-1 if forever else wait_s)
            else:
                lock.acquire(timeout=0)
        except Timeout as exc:
            raise NightLocked(f"another gbv {name} is running against {db_file} (lock {lock.lock_file})"
                              f"{_waited(wait_s)}") from exc
        try:
            yield
        finally:
            lock.release()
        return
    from warehouse.db import make_engine

    engine = make_engine(settings.warehouse_url)
    where = engine.url.render_as_string(hide_password=True)
    key = _lock_id(f"gbv:{name}:{where}")
    try:
        with engine.connect() as conn:
            deadline = None if forever else time.monotonic() + (wait_s or 0.0)
            announced = False
            while True:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                conn.commit()  # no transaction stays open while we hold (or wait for) the session lock
                if got:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise NightLocked(f"another gbv {name} holds the PostgreSQL advisory lock {key} on {where}"
                                      f"{_waited(wait_s)}")
                if not announced:
                    log.info("another gbv %s holds the advisory lock %s on %s; waiting", name, key, where)
                    announced = True
                time.sleep(POLL_S)
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except Exception:  # noqa: BLE001 - a lost session has already dropped the lock
                    log.warning("could not release the advisory lock %s (the session is gone; so is the lock)",
                                key)
    finally:
        engine.dispose()
