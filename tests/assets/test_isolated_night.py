"""``run_night(isolate_steps=True)``: the same night with each Dagster step in a process of its own, one at a
time (how big nights run), lands the same warehouse rows and feeds as the night run in one process."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
from sqlalchemy import func, select

from gbv.demo.world import generate_world
from gbv.night import run_night
from gbv.settings import get_settings
from warehouse.db import dispose_engines, get_engine
from warehouse.feeds import read_feed
from warehouse.schema import fact_lot, fact_valuation

N_LOTS = 300
NIGHT = "2026-10-01"

pytestmark = pytest.mark.slow  # a fresh process per step: minutes on a loaded 2-core machine


def _night(home, monkeypatch, isolate: bool) -> tuple[int, int, dict[str, pd.DataFrame], set[int]]:
    monkeypatch.setenv("GBV_HOME", str(home))
    settings = get_settings()
    night = run_night(NIGHT, settings, isolate_steps=isolate)
    assert night.success and not night.failed_checks
    from gbv.night import _instance

    pids = {e.dagster_event.pid for e in _instance(settings).all_logs(night.run_id) if e.dagster_event is not None
            and e.dagster_event.step_key is not None and e.dagster_event.pid is not None}
    engine = get_engine(settings)
    with engine.connect() as conn:
        lots = conn.execute(select(func.count()).select_from(fact_lot)).scalar()
        valued = conn.execute(select(func.count()).select_from(fact_valuation)).scalar()
    dispose_engines()
    feeds = {p.parent.parent.name: read_feed(p.parent) for p in (home / "feeds").glob("*/*/_SUCCESS")}
    return lots, valued, feeds, pids


def test_isolated_steps_land_what_one_process_lands(tmp_path, monkeypatch):
    monkeypatch.setenv("GBV_DEMO_LOTS", str(N_LOTS))
    monkeypatch.delenv("GBV_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("GBV_DEMO_SITE_URL", raising=False)
    one = _night(tmp_path / "one", monkeypatch, isolate=False)
    iso = _night(tmp_path / "iso", monkeypatch, isolate=True)

    world = generate_world(n_lots=N_LOTS, seed=get_settings().seed)
    upcoming = world.lots_as_of(dt.date.fromisoformat(NIGHT))
    assert one[:2] == iso[:2] == (N_LOTS, int((upcoming["status"] == "upcoming").sum()))
    assert sorted(one[2]) == sorted(iso[2]) == sorted(world.houses["house"])
    for house, feed in one[2].items():
        cols = ["lot_ref", "estimate_usd", "low_usd", "high_usd"]
        pd.testing.assert_frame_equal(feed[cols].sort_values("lot_ref").reset_index(drop=True),
                                      iso[2][house][cols].sort_values("lot_ref").reset_index(drop=True))
    assert one[3] == {os.getpid()}  # every step in this process
    assert os.getpid() not in iso[3] and len(iso[3]) > 5  # every step in a process of its own
