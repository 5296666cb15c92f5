"""Market fixtures: the small demo world loaded into a real DuckDB warehouse, and the instant text embedder.

The default tests embed lot text with the hashing embedder (``GBV_COMPS_EMBEDDER=hashing``) so they stay fast;
the MiniLM path has its own slow test.

The pgvector tests run on a PostgreSQL 16 + pgvector server of their own (:class:`gbv.market.pglocal.LocalPostgres`,
binaries from the ``pgserver`` package of the dev extra), started once per session in a temporary folder on a
free port: the system PostgreSQL (Debian bookworm) has no pgvector package. In CI (``CI`` set) a server that
cannot start FAILS the tests; elsewhere they skip, saying why.
"""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest


@pytest.fixture
def hashing_embedder(monkeypatch):
    monkeypatch.setenv("GBV_COMPS_EMBEDDER", "hashing")
    from gbv.market.comps import make_embedder

    return make_embedder("hashing")


@pytest.fixture
def world_warehouse(gbv_home, small_world, hashing_embedder):
    """(settings, engine, lots) with the small world's lots (as of its night) in a fresh DuckDB warehouse."""
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    lots = small_world.lots.copy()
    upsert_lots(engine, lots, "2026-10-01")
    return settings, engine, lots


def sold_before(lots: pd.DataFrame, date) -> pd.DataFrame:  # noqa: ANN001
    d = pd.to_datetime(lots["sale_date"])
    return lots[(lots["status"] == "sold") & (d < pd.Timestamp(date))]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def local_pgvector():
    """A running :class:`LocalPostgres` (PostgreSQL with the ``vector`` extension) for the whole session."""
    from gbv.market.pglocal import LocalPostgres, LocalPostgresUnavailable

    server = LocalPostgres()
    try:
        server.start()
    except LocalPostgresUnavailable as exc:
        msg = f"no local PostgreSQL with pgvector could be started ({exc})"
        if _in_ci():
            pytest.fail(f"{msg}; CI must run the pgvector tests, not skip them")
        pytest.skip(f"{msg}; install the dev extra (pip install -e '.[dev]', package pgserver)")
    yield server
    server.stop()


@pytest.fixture
def pgvector_url(local_pgvector):
    """A URL on the local pgvector server whose search_path is a fresh schema of this test's own (the extension
    itself lives in ``public``)."""
    from psycopg import sql
    from sqlalchemy import create_engine

    schema = f"gbv_v_{uuid.uuid4().hex[:10]}"
    admin = create_engine(local_pgvector.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)).as_string())
    yield f"{local_pgvector.url}?options=-csearch_path%3D{schema}"
    from warehouse.db import dispose_engines

    dispose_engines()
    with admin.begin() as conn:
        conn.exec_driver_sql(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)).as_string())
    admin.dispose()
