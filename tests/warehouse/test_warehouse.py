"""Warehouse loads on the real DuckDB file and the real PostgreSQL: idempotent, transactional, readable."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from gbv.contracts import LOT_COLUMNS
from warehouse.db import get_engine
from warehouse.io import read_lots
from warehouse.loaders import load_quarantine, replace_partition, upsert, upsert_lots
from warehouse.schema import TABLES, dim_artist, fact_lot, fact_valuation, quarantine


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_schema_has_every_documented_table(warehouse_settings):
    engine = get_engine(warehouse_settings)
    for name in ("dim_artist", "dim_artwork", "dim_sale", "fact_lot", "fact_expert_label",
                 "fact_consensus_label", "fact_valuation", "dim_model", "quarantine"):
        assert name in TABLES
        assert _count(engine, TABLES[name]) == 0
    with engine.connect() as conn:
        for view in ("mart_latest_valuation", "mart_valuation_accuracy", "mart_quarantine_summary"):
            conn.execute(text(f"SELECT * FROM {view}")).fetchall()
    # every column an analyst sees is documented
    for table in TABLES.values():
        assert table.comment, table.name


def test_upsert_lots_is_idempotent_and_round_trips(warehouse_settings, small_world):
    engine = get_engine(warehouse_settings)
    lots = small_world.lots
    upsert_lots(engine, lots, "2026-10-01")
    upsert_lots(engine, lots, "2026-10-01")
    assert _count(engine, fact_lot) == len(lots)
    assert _count(engine, dim_artist) == lots["artist_id"].nunique()

    back = read_lots(engine).set_index("lot_ref").sort_index()
    want = lots.set_index("lot_ref").sort_index()
    assert list(back.reset_index().columns) == list(LOT_COLUMNS)
    assert (back["status"] == want["status"]).all()
    np.testing.assert_allclose(back["estimate_low_usd"], want["estimate_low_usd"], rtol=1e-9)
    sold = want["status"] == "sold"
    np.testing.assert_allclose(back.loc[sold, "hammer_usd"], want.loc[sold, "hammer_usd"], rtol=1e-9)
    assert back["sale_date"].iloc[0] == want["sale_date"].iloc[0]


def test_upsert_replaces_changed_rows_only(warehouse_settings, small_world):
    engine = get_engine(warehouse_settings)
    lots = small_world.lots
    upsert_lots(engine, lots, "2026-10-01")
    upcoming = lots[lots["status"] == "upcoming"].head(1).copy()
    upcoming["status"], upcoming["hammer_price"] = "sold", 1234.0
    upsert_lots(engine, upcoming, "2026-10-02")
    back = read_lots(engine).set_index("lot_ref")
    assert back.loc[upcoming["lot_ref"].iloc[0], "status"] == "sold"
    assert back.loc[upcoming["lot_ref"].iloc[0], "hammer_price"] == 1234.0
    assert len(back) == len(lots)


def test_a_failing_load_leaves_the_previous_state(warehouse_settings, small_world):
    engine = get_engine(warehouse_settings)
    lots = small_world.lots
    upsert_lots(engine, lots, "2026-10-01")
    broken = lots.copy()
    broken["lot_number"] = broken["lot_number"].astype("Int64")
    broken.loc[broken.index[-1], "lot_number"] = pd.NA  # NOT NULL violation in fact_lot, the last table loaded
    broken["status"] = "withdrawn"
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError differs by backend
        upsert_lots(engine, broken, "2026-10-02")
    back = read_lots(engine)
    assert len(back) == len(lots)
    assert set(back["status"]) == set(lots["status"])  # nothing of the failed load is visible
    with engine.connect() as conn:  # the dimensions loaded before the failure were rolled back too
        nights = conn.execute(select(dim_artist.c.run_date).distinct()).scalars().all()
    assert nights == [dt.date(2026, 10, 1)]


def test_replace_partition_replaces_one_night_whole(warehouse_settings):
    engine = get_engine(warehouse_settings)
    rows = pd.DataFrame({"lot_ref": ["a-1", "a-2", "b-1"], "house": ["a", "a", "b"],
                         "estimate_usd": [1.0, 2.0, 3.0]})
    replace_partition(engine, fact_valuation, rows, {"run_date": "2026-10-01"})
    replace_partition(engine, fact_valuation, rows.head(2), {"run_date": "2026-10-02"})
    replace_partition(engine, fact_valuation, rows.head(1), {"run_date": "2026-10-01"})
    with engine.connect() as conn:
        got = conn.execute(select(fact_valuation.c.run_date, func.count()).group_by(fact_valuation.c.run_date)
                           .order_by(fact_valuation.c.run_date)).fetchall()
    assert [(r[0], r[1]) for r in got] == [(dt.date(2026, 10, 1), 1), (dt.date(2026, 10, 2), 2)]


def test_quarantine_load_is_idempotent_per_night_and_stage(warehouse_settings):
    engine = get_engine(warehouse_settings)
    q = pd.DataFrame({"source": ["s", "s"], "row_ref": ["L1", "L2"], "row_number": [1, 2],
                      "field": ["value_point", "currency"], "reason": ["negative", "unknown currency 'XXX'"],
                      "payload": ["{}", "{}"]})
    load_quarantine(engine, q, "2026-10-01", "labels")
    load_quarantine(engine, q, "2026-10-01", "labels")
    load_quarantine(engine, q.head(1), "2026-10-01", "conform")
    assert _count(engine, quarantine) == 3


def test_upsert_refuses_frames_without_their_key(warehouse_settings):
    engine = get_engine(warehouse_settings)
    with pytest.raises(ValueError, match="lot_ref"):
        upsert(engine, fact_lot, pd.DataFrame({"house": ["x"]}))
