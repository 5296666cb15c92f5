"""Engines for the warehouse: a DuckDB file by default, PostgreSQL (or any SQLAlchemy URL) by setting."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from gbv.settings import Settings, get_settings
from warehouse.schema import metadata

log = logging.getLogger(__name__)

_ENGINES: dict[str, Engine] = {}
T = TypeVar("T")


class WarehouseUnavailable(RuntimeError):
    """The warehouse kept failing with connection-level errors after every retry."""


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying the whole transaction for: a lost or refused connection (server restarted,
    network blip), or DuckDB's file lock held by another process. Data errors are never retried."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        orig = getattr(exc, "orig", None)
        module = type(orig).__module__ if orig is not None else ""
        if module.startswith("psycopg"):
            return True
        if module.startswith("duckdb") or module.startswith("_duckdb"):
            return "lock" in str(orig).lower()
    return False


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def with_retries(fn: Callable[[], T], what: str, *, attempts: int | None = None,
                 base_delay_s: float | None = None) -> T:
    """Run ``fn`` (one whole transaction), retrying transient failures with exponential backoff and jitter.

    ``GBV_WAREHOUSE_RETRIES`` (default 5 attempts) and ``GBV_WAREHOUSE_RETRY_DELAY`` (default 0.5 s, doubled
    each time, at most 8 s) tune it. Safe because every load is one transaction of idempotent statements: a
    failed attempt rolled back, and a repeated one writes the same rows.
    """
    attempts = attempts or max(1, int(os.environ.get("GBV_WAREHOUSE_RETRIES") or 5))
    delay = base_delay_s if base_delay_s is not None else float(os.environ.get("GBV_WAREHOUSE_RETRY_DELAY") or 0.5)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise WarehouseUnavailable(
                    f"warehouse load {what} failed {attempts} times with connection errors; nothing of it was "
                    f"committed, run again when the warehouse is back (last error: {_first_line(exc)})"
                ) from exc
            pause = min(8.0, delay * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            log.warning("warehouse load %s: attempt %d/%d failed (%s); retrying in %.1f s", what, attempt,
                        attempts, _first_line(exc), pause)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("duckdb:///"):
        Path(url[len("duckdb:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _quiet(dbapi_conn, _record):  # noqa: ANN001 - DBAPI hook
            dbapi_conn.execute("SET enable_progress_bar = false")  # no progress bars in the night's logs
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        @event.listens_for(engine, "connect")
        def _utc(dbapi_conn, _record):  # noqa: ANN001 - DBAPI hook
            with dbapi_conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
    return engine


def get_engine(settings: Settings | None = None, *, create: bool = True) -> Engine:
    """Engine for the configured warehouse; creates the schema and views on first use."""
    settings = settings or get_settings()
    url = settings.warehouse_url
    engine = _ENGINES.get(url)
    if engine is None:
        engine = make_engine(url)
        if create:
            create_schema(engine)
        _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close pooled connections (DuckDB holds a file lock while an engine is open)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def create_schema(engine: Engine) -> None:
    from warehouse.marts import create_views

    metadata.create_all(engine)
    create_views(engine)
    log.debug("warehouse schema ready on %s", engine.url.render_as_string(hide_password=True))


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
