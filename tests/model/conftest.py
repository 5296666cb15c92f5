from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gbv.demo.world import generate_world
from gbv.settings import Settings

CUT = dt.date(2025, 4, 1)  # train before, evaluate from here to the world's as_of


@pytest.fixture(scope="session")
def world():
    return generate_world(n_lots=3000, seed=7)


@pytest.fixture(scope="session")
def offered(world) -> pd.DataFrame:
    """Every lot with a result (sold or bought in) before the world's as_of."""
    lots = world.lots
    return lots[lots["status"].isin(["sold", "bought_in"])].reset_index(drop=True)


@pytest.fixture(scope="session")
def train_lots(offered) -> pd.DataFrame:
    return offered[offered["sale_date"] < CUT].reset_index(drop=True)


@pytest.fixture(scope="session")
def holdout(offered) -> pd.DataFrame:
    return offered[(offered["sale_date"] >= CUT) & (offered["status"] == "sold")].reset_index(drop=True)


@pytest.fixture(scope="session")
def lgbm(train_lots):
    from model.baseline import LightGBMValuer

    return LightGBMValuer(seed=7).fit(train_lots, train_lots)


@pytest.fixture()
def settings(tmp_path) -> Settings:
    home = tmp_path / "gbv"
    return Settings(home=home, warehouse_url=f"duckdb:///{home / 'warehouse.duckdb'}").ensure_dirs()


@pytest.fixture()
def engine(settings):
    from warehouse.db import get_engine

    engine = get_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True, scope="session")
def _embedding_cache_in_a_temporary_folder(tmp_path_factory):
    """Transformer artifacts loaded by these tests keep their text-embedding cache in a temporary folder (never a
    ``.gbv`` in the working directory); the cache's own tests point it elsewhere explicitly."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBV_EMBEDDING_CACHE", str(tmp_path_factory.mktemp("embedding_cache")))
        yield
