"""Shared fixtures: a fresh GBV_HOME per test, and the warehouse on DuckDB and on the real PostgreSQL.

PostgreSQL is the server at ``GBV_TEST_PG_URL`` (default 127.0.0.1:5432, database ``test``, trust auth). Each
test gets its own schema, dropped afterwards. If the server cannot be reached the PostgreSQL tests FAIL: CI must
not pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import replace

import pytest

# Nights run by the tests (in process and in subprocesses, which inherit this) embed lot text for the comparables
# index with the instant hashing embedder: a fresh home per test would otherwise run MiniLM over every sold lot. The
# MiniLM path has its own tests (tests/market) and runs in `make demo`; a test that wants it sets the variable.
os.environ.setdefault("GBV_COMPS_EMBEDDER", "hashing")

PG_URL = os.environ.get("GBV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def gbv_home(tmp_path, monkeypatch):
    """A private GBV_HOME (and DuckDB warehouse) for one test."""
    home = tmp_path / "gbv_home"
    monkeypatch.setenv("GBV_HOME", str(home))
    monkeypatch.delenv("GBV_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("GBV_DEMO_SITE_URL", raising=False)
    yield home
    from warehouse.db import dispose_engines

    dispose_engines()


@pytest.fixture(scope="module")
def demo_env():
    """``with demo_env(home, n_lots) as settings:`` a demo GBV_HOME on the embedded warehouse and the night's own
    demo site, for module-scoped fixtures that run a whole night once."""

    @contextmanager
    def env(home, n_lots: int = 400):  # noqa: ANN001, ANN202
        from gbv.settings import get_settings

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("GBV_HOME", str(home))
            mp.setenv("GBV_DEMO_LOTS", str(n_lots))
            mp.delenv("GBV_WAREHOUSE_URL", raising=False)
            mp.delenv("GBV_DEMO_SITE_URL", raising=False)
            yield get_settings()

    return env


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL URL whose search_path is a fresh schema of this test's own."""
    from sqlalchemy import create_engine, text

    schema = f"gbv_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({exc}); the warehouse tests need it")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    from warehouse.db import dispose_engines

    dispose_engines()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_settings(request, gbv_home):
    """Settings whose warehouse is a DuckDB file or a PostgreSQL schema (each test runs on both)."""
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    if request.param == "postgres":
        settings = replace(settings, warehouse_url=request.getfixturevalue("pg_schema_url"))
    return settings


@pytest.fixture(scope="session")
def small_world():
    from gbv.demo.world import generate_world

    return generate_world(n_lots=600, seed=11)
