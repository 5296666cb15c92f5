"""Engines for the warehouse: a DuckDB file by default, PostgreSQL (or any SQLAlchemy URL) by setting."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text

from gbv.settings import Settings, get_settings
from warehouse.schema import metadata

log = logging.getLogger(__name__)

_ENGINES: dict[str, Engine] = {}


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
