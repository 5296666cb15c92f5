"""Active learning: scoring and budgeted assignment; the label_requests table on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import select

from gbv.crowd.active import assign_requests, requests_for_night, score_lots


def _lots():
    up = pd.DataFrame({"lot_ref": ["A", "B", "C", "D"], "artist_id": ["x", "y", "z", "x"], "status": "upcoming"})
    sold = pd.DataFrame({"lot_ref": [f"S{i}" for i in range(9)], "artist_id": ["x"] * 9, "status": "sold"})
    return up, pd.concat([up, sold], ignore_index=True)


def test_score_prefers_uncertain_valuable_thin_and_disputed():
    up, hist = _lots()
    vals = pd.DataFrame({"lot_ref": ["A", "B", "C", "D"], "estimate_usd": [1e5, 1e5, 1e3, 1e5],
                         "low_usd": [8e4, 8e4, 8e2, 8e4], "high_usd": [1.25e5, 1.25e5, 1.25e3, 1.25e5]})
    cons = pd.DataFrame({"lot_ref": ["D"], "spread": [0.8], "n_experts": [2]})
    s = score_lots(up, vals, hist, cons).set_index("lot_ref")
    assert s.loc["B", "score"] > s.loc["A", "score"]  # thinly traded artist y vs x (9 sales)
    assert s.loc["A", "score"] > s.loc["C", "score"]  # same width, 100x the value
    assert s.loc["D", "score"] > s.loc["A", "score"]  # experts disagree on D


def test_assignment_respects_budget_and_skips_done_pairs():
    scored = pd.DataFrame({"lot_ref": list("ABCDEFG"), "score": range(7, 0, -1), "half_width": 0.3, "thin": 0.1,
                           "spread": 0.0, "n_labels": 0, "value_usd": 1e4})
    keys = ["ex_1", "ex_2", "ex_3", "ex_4"]
    req = assign_requests(scored, keys, "2026-10-01", budget_per_expert=2, experts_per_lot=3,
                          done={("A", "ex_1")})
    assert req.groupby("expert_key").size().max() <= 2 and len(req) == 8
    assert ("A", "ex_1") not in set(zip(req["lot_ref"], req["expert_key"], strict=True))
    assert req["lot_ref"].iloc[0] == "A" and not req.duplicated(["lot_ref", "expert_key"]).any()


def test_requests_for_night_stores_pseudonymous_rows(small_world, warehouse_settings):
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots
    from warehouse.schema import label_request, metadata

    settings = warehouse_settings
    engine = get_engine(settings)
    metadata.create_all(engine)
    upsert_lots(engine, small_world.lots, "2026-10-01")
    roster = settings.raw_path("labels", "2026-10-01")
    roster.mkdir(parents=True, exist_ok=True)
    small_world.experts[["expert_id"]].to_csv(roster / "experts.csv", index=False)
    req = requests_for_night(settings, "2026-10-01", budget_per_expert=3)
    again = requests_for_night(settings, "2026-10-01", budget_per_expert=3)
    with engine.connect() as conn:
        stored = pd.read_sql(select(label_request), conn)
    assert len(stored) == len(req) == len(again) == 3 * len(small_world.experts)
    assert stored["expert_key"].str.match(r"^ex_[0-9a-f]{16}$").all()
    assert (pd.to_datetime(stored["run_date"]).dt.date == dt.date(2026, 10, 1)).all()
