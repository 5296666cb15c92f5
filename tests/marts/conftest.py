"""A warehouse for the marts: the demo world's lots (small_world) plus valuations of some of them, on DuckDB or
PostgreSQL (the shared gbv_home / pg_schema_url fixtures)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

RUN_DATE = "2026-10-01"


def world_valuations(lots: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """fact_valuation rows: every upcoming lot valued tonight, and 80 sold lots valued a week before their sale
    (the model's estimate = the house midpoint x noise, a 80% range of x/÷ 1.6)."""
    rng = np.random.default_rng(seed)
    mid = np.sqrt(lots["estimate_low_usd"] * lots["estimate_high_usd"])
    rows = []
    sold = lots[lots["status"] == "sold"].sample(80, random_state=seed)
    upcoming = lots[lots["status"] == "upcoming"]
    for part, when in ((sold, None), (upcoming, dt.date.fromisoformat(RUN_DATE))):
        est = mid.loc[part.index] * np.exp(rng.normal(0, 0.3, len(part)))
        for (_, lot), e in zip(part.iterrows(), est, strict=True):
            run_date = when or (pd.Timestamp(lot["sale_date"]) - pd.Timedelta(days=7)).date()
            rows.append({"run_date": run_date, "lot_ref": lot["lot_ref"], "house": lot["house"],
                         "estimate_usd": float(e), "low_usd": float(e) / 1.6, "high_usd": float(e) * 1.6,
                         "expert_value_usd": None, "confidence": 0.5, "model_version": "test-model",
                         "comparables": "", "explanation": "test"})
    return pd.DataFrame(rows)


def _load_world(settings, world) -> None:  # noqa: ANN001
    from warehouse.db import dispose_engines, get_engine
    from warehouse.loaders import upsert, upsert_lots
    from warehouse.schema import fact_valuation

    engine = get_engine(settings)
    upsert_lots(engine, world.lots, RUN_DATE)
    upsert(engine, fact_valuation, world_valuations(world.lots))
    dispose_engines()


@pytest.fixture
def load_world():
    """``load_world(settings, world)``: the world's lots and valuations into that warehouse."""
    return _load_world


@pytest.fixture
def marts_settings(gbv_home, small_world):
    """A DuckDB warehouse holding the demo world and valuations."""
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    _load_world(settings, small_world)
    return settings
