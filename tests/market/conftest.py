"""Market fixtures: the small demo world loaded into a real DuckDB warehouse, and the instant text embedder.

The default tests embed lot text with the hashing embedder (``GBV_COMPS_EMBEDDER=hashing``) so they stay fast;
the MiniLM path has its own slow test.
"""

from __future__ import annotations

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
