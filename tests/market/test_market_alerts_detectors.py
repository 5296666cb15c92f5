"""What the alerts step reads from the warehouse: the window in full, the valuations of the window and of tonight,
the comparables index grown from new sales only."""

from __future__ import annotations

import pandas as pd
import pytest

from gbv.market import alerts as al

START = pd.Timestamp("2024-06-03")


def test_valuations_of_the_window_and_tonight_only(world_warehouse):
    from warehouse.loaders import replace_partition
    from warehouse.schema import fact_valuation

    settings, engine, lots = world_warehouse
    rows = lots[["lot_ref", "house"]].assign(estimate_usd=1000.0, low_usd=800.0, high_usd=1200.0)
    replace_partition(engine, fact_valuation, rows, {"run_date": "2020-01-01"})
    upcoming = lots[lots["status"] == "upcoming"].head(5)[["lot_ref", "house"]]
    replace_partition(engine, fact_valuation, upcoming.assign(estimate_usd=1.0, low_usd=1.0, high_usd=2.0),
                      {"run_date": "2026-10-01"})
    d = pd.to_datetime(lots["sale_date"])
    in_window = set(lots.loc[(d >= "2025-06-01") & (d <= "2025-06-30"), "lot_ref"])
    v = al.read_valuations(engine, "2025-06-01", "2025-06-30", "2026-10-01")
    assert set(v["lot_ref"]) == in_window | set(upcoming["lot_ref"])
    assert len(al.read_valuations(engine)) == len(lots) + 5


def test_comparables_index_grows_from_new_sales_and_rebuilds_on_a_change(world_warehouse, monkeypatch):
    from gbv.market import comps
    from gbv.market.comps import index_dir, make_embedder, refresh_index
    from warehouse.loaders import upsert_lots

    settings, engine, lots = world_warehouse
    embedder = make_embedder("hashing")
    sold = lots[lots["status"] == "sold"].sort_values(["sale_date", "lot_ref"])
    first = sold.iloc[: len(sold) - 20]
    with engine.begin() as conn:  # the 20 latest sales not in the warehouse yet
        conn.exec_driver_sql("DELETE FROM fact_lot WHERE lot_ref IN ({})".format(
            ",".join(f"'{r}'" for r in sold["lot_ref"].iloc[-20:])))
    built, res = refresh_index(engine, settings, embedder)
    assert res.mode == "built" and len(built) == len(first)
    upsert_lots(engine, lots, "2026-10-01")  # the 20 arrive

    calls = []
    monkeypatch.setattr(comps, "refresh_index", lambda *a, **k: calls.append(a) or refresh_index(*a, **k))
    grown = al.comparables_index(engine, settings, embedder)
    assert not calls and len(grown) == len(sold)
    again, res = refresh_index(engine, settings, embedder)  # what the comps refresh itself finds
    assert res.mode == "unchanged" and list(again.refs) == list(grown.refs)
    # a stored sale's price corrected: the full refresh (rebuild) runs
    fixed = lots[lots["lot_ref"] == first["lot_ref"].iloc[0]].assign(hammer_usd=lambda d: d["hammer_usd"] * 2,
                                                                     hammer_price=lambda d: d["hammer_price"] * 2)
    upsert_lots(engine, fixed, "2026-10-02")
    rebuilt = al.comparables_index(engine, settings, embedder)
    assert len(calls) == 1 and len(rebuilt) == len(sold)
    assert rebuilt.price[list(rebuilt.refs).index(first["lot_ref"].iloc[0])] == pytest.approx(
        float(fixed["hammer_usd"].iloc[0]))
    assert (index_dir(settings) / "manifest.json").exists()


def test_a_window_whose_lots_did_not_sell_says_so(world_warehouse):
    settings, engine, lots = world_warehouse
    upcoming = lots[lots["status"] == "upcoming"]
    day = str(upcoming["sale_date"].min())
    run = al.alerts_for_window(engine, settings, day, day)
    assert run.window_lots > 0 and run.sold_lots == 0
    assert "none of the window's lots sold, so only estimate_drift is checked" in run.message
    assert list(run.alerts.columns) == list(al.ALERT_COLUMNS)
