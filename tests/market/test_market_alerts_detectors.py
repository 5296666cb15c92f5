"""The price_spike and estimate_drift detectors on small synthetic markets, and what the alerts step reads from
the warehouse (the window in full, the history filtered in SQL, the comparables index grown from new sales only)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gbv.market import alerts as al
from gbv.market.comps import Comparable, PriceIndex

START = pd.Timestamp("2024-06-03")


def _lots(rng: np.random.Generator, n: int, *, house: str = "h", sale_id: str = "S", artist=None,  # noqa: ANN001
          mid: float = 10_000.0, sd: float = 0.4, prefix: str = "x") -> pd.DataFrame:
    """``n`` lots sold on START whose hammer is the estimate mid times a log-normal surprise of ``sd``."""
    artists = artist if artist is not None else [f"a{i % 40}" for i in range(n)]
    return pd.DataFrame({
        "lot_ref": [f"{house}-{prefix}{i:04d}" for i in range(n)], "house": house, "auction_house": house.upper(),
        "sale_id": sale_id, "sale_date": START.date(), "lot_number": np.arange(1, n + 1),
        "artist_id": artists, "artist_name": [f"Artist {a}" for a in artists], "medium_class": "painting",
        "estimate_low_usd": mid / 1.25, "estimate_high_usd": mid * 1.25,
        "hammer_usd": mid * np.exp(rng.normal(0.0, sd, n)), "status": "sold"})


def _history(rng: np.random.Generator, n: int = 400, house: str = "h") -> pd.DataFrame:
    days = START - pd.to_timedelta(rng.integers(8, 3 * 365, n), unit="D")
    h = _lots(rng, n, house=house, prefix="hist")
    h["sale_date"] = [d.date() for d in days]
    h["sale_id"] = [f"H{d.date()}" for d in days]
    return h


def _window(rng: np.random.Generator, n: int = 40, **kw) -> pd.DataFrame:  # noqa: ANN003
    return _lots(rng, n, prefix="win", **kw)


def _scores(window, history, **kw) -> pd.DataFrame:  # noqa: ANN001, ANN003
    return al.spike_scores(window, history, PriceIndex.none(), START, **kw).set_index("lot_ref")


def test_a_planted_spike_is_caught_with_its_evidence_and_a_normal_lot_is_not():
    rng = np.random.default_rng(1)
    history, window = _history(rng), _window(rng)
    window.loc[3, "hammer_usd"] = 10_000.0 * 12  # x12 the estimate's mid
    window.loc[7, "hammer_usd"] = 10_000.0 * 1.8  # a good result, not a spike
    found = al.spike_alerts(window, history, PriceIndex.none(), START)
    assert [a["lot_ref"] for a in found] == [window.at[3, "lot_ref"]]
    a = found[0]
    assert a["alert_type"] == "price_spike" and a["severity"] in ("high", "medium", "low")
    ev = json.loads(a["evidence"])
    assert ev["ratio_to_estimate"] == pytest.approx(12.0, rel=1e-3)
    assert ev["z_estimate"] >= al.SPIKE_MIN_SCORE and ev["score"] >= al.SPIKE_MIN_SCORE
    assert ev["value_basis"] == "artist" and ev["n_value"] >= al.SPIKE_MIN_HISTORY  # 10 earlier sales each
    assert "x12.0 the house's estimate" in a["detail"]
    # no lot of an ordinary window is flagged
    assert al.spike_alerts(_window(np.random.default_rng(2)), history, PriceIndex.none(), START) == []


def test_a_sale_that_runs_hot_raises_the_bar():
    """Lots of a sale that all sell at x3 the estimate: x6 is within the sale's usual, not a spike."""
    rng = np.random.default_rng(3)
    history = _history(rng)
    hot = _window(rng, 40)
    hot["hammer_usd"] *= 3.0
    hot.loc[5, "hammer_usd"] = 10_000.0 * 6
    s = _scores(hot, history)
    assert s.at[hot.at[5, "lot_ref"], "expected_log"] > math.log(2.0)
    assert al.spike_alerts(hot, history, PriceIndex.none(), START) == []
    hot.loc[5, "hammer_usd"] = 10_000.0 * 60  # x20 above the sale's usual: still caught
    assert [a["lot_ref"] for a in al.spike_alerts(hot, history, PriceIndex.none(), START)] == [hot.at[5, "lot_ref"]]


def test_thin_history_falls_back_to_comparables_then_to_the_estimate_alone():
    rng = np.random.default_rng(4)
    history, window = _history(rng), _window(rng, 30)
    window.loc[0, ["artist_id", "artist_name"]] = ["new", "Artist new"]  # no earlier sale at all
    window.loc[0, "hammer_usd"] = 10_000.0 * 15

    def comp(ref: str, usd: float, same: bool) -> Comparable:
        return Comparable(ref, same, 0.1, "", "", "painting", "", "2024-01-01", "h", usd, 1.0, usd)

    comps = [[comp(f"c{i}", 9_000.0 + 500 * i, False) for i in range(6)]] + [[] for _ in range(29)]
    s = _scores(window, history, comps=comps)
    ref = window.at[0, "lot_ref"]
    assert s.at[ref, "basis"] == "comparables" and s.at[ref, "n_value"] == 6
    assert s.at[ref, "value_usd"] == pytest.approx(math.exp(np.median(np.log([9_000.0 + 500 * i for i in range(6)]))))
    assert s.at[ref, "z_value"] > 2
    without = _scores(window, history)  # no comparables either: the estimate alone
    assert pd.isna(without.at[ref, "basis"]) and without.at[ref, "score"] == without.at[ref, "z_estimate"]
    assert [a["lot_ref"] for a in al.spike_alerts(window, history, PriceIndex.none(), START)] == [ref]
    # three same-artist comparables beat the nearest others
    own = [[comp(f"o{i}", 100_000.0, True) for i in range(3)] + comps[0]] + [[] for _ in range(29)]
    assert _scores(window, history, comps=own).at[ref, "basis"] == "same-artist comparables"


def test_thin_houses_and_no_history_use_pooled_references():
    rng = np.random.default_rng(5)
    history = _history(rng)  # house h only
    window = _window(rng, 30, house="newhouse")
    window.loc[2, "hammer_usd"] = 10_000.0 * 20
    s = _scores(window, history)
    assert s["scale_log"].between(0.25, 0.6).all()  # all houses' trailing results (h's sd 0.4)
    assert [a["lot_ref"] for a in al.spike_alerts(window, history, PriceIndex.none(), START)] == \
        [window.at[2, "lot_ref"]]
    # no history at all: the window's own lots are the reference
    alone = al.spike_alerts(window, history.iloc[:0], PriceIndex.none(), START)
    assert [a["lot_ref"] for a in alone] == [window.at[2, "lot_ref"]]
    # a lot without an estimate is judged on the artist's history alone (x1000 the usual price)
    window.loc[4, ["estimate_low_usd", "estimate_high_usd"]] = [np.nan, np.nan]
    window.loc[4, "hammer_usd"] = 10_000.0 * 1000
    s = _scores(window, history)
    assert not np.isfinite(s.at[window.at[4, "lot_ref"], "z_estimate"])
    assert s.at[window.at[4, "lot_ref"], "score"] == s.at[window.at[4, "lot_ref"], "z_value"] > al.SPIKE_MIN_SCORE


def test_the_artist_history_is_index_adjusted():
    rng = np.random.default_rng(6)
    history, window = _history(rng), _window(rng, 10)
    months = pd.date_range("2020-01-01", "2025-01-01", freq="MS")
    doubling = PriceIndex.from_frame(pd.DataFrame({
        "segment": "all", "period": months, "log_level": np.where(months < pd.Timestamp("2024-01-01"), 0.0,
                                                                  math.log(2.0))}), "test")
    plain = al.spike_scores(window, history, PriceIndex.none(), START).set_index("lot_ref")
    adjusted = al.spike_scores(window, history, doubling, START).set_index("lot_ref")
    # history before 2024 is worth twice as much in the window's month; 2024 sales are unchanged
    ratio = adjusted["value_usd"] / plain["value_usd"]
    assert ratio.between(1.2, 2.01).all() and (ratio > 1.5).any()


def test_drift_is_measured_against_the_house_s_other_lots():
    rng = np.random.default_rng(7)
    lots = _window(rng, 60, artist=[f"a{i % 6}" for i in range(60)])  # 10 lots per artist
    mid = np.sqrt(lots["estimate_low_usd"] * lots["estimate_high_usd"])
    model = mid * np.exp(rng.normal(0, 0.2, len(lots)))

    def vals(est: pd.Series) -> pd.DataFrame:
        return pd.DataFrame({"run_date": START.date(), "lot_ref": lots["lot_ref"], "estimate_usd": est})

    assert al.drift_alerts(lots, vals(model)) == []
    # the model values every lot of the house at half the house's estimate: not an artist's drift
    assert al.drift_alerts(lots, vals(model / 2)) == []
    # one artist's estimates x2.5 the model's while the rest agree: an alert with its figures
    off = lots["artist_id"] == "a3"
    found = al.drift_alerts(lots, vals(model.where(~off, model / 2.5)))
    assert len(found) == 1 and found[0]["artist_name"] == "Artist a3" and found[0]["lot_ref"] is None
    ev = json.loads(found[0]["evidence"])
    assert ev["group"] == "artist:a3" and ev["median_log_vs_house"] == pytest.approx(math.log(2.5), abs=0.25)
    assert ev["n_house_other"] == 50 and ev["share_same_side"] >= al.DRIFT_SAME_SIDE
    # five lots are too few for an artist (DRIFT_ARTIST), whatever the gap
    few = off & (lots.groupby("artist_id").cumcount() < 5)
    assert al.drift_alerts(lots[~off | few], vals(model.where(~off, model / 2.5))) == []


# ---- reading the warehouse ---------------------------------------------------------------------------------------

def test_history_is_filtered_in_sql(world_warehouse):
    settings, engine, lots = world_warehouse
    d0, d1 = pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-30")
    h = al.read_history(engine, d0, d1)
    d = pd.to_datetime(lots["sale_date"])
    window_artists = set(lots.loc[(d >= d0) & (d <= d1), "artist_id"])
    assert list(h.columns) == list(al.HISTORY_COLUMNS) and len(h)
    assert (h["status"] == "sold").all() and (pd.to_datetime(h["sale_date"]) < d0).all()
    assert (pd.to_datetime(h["sale_date"]) >= d0 - pd.DateOffset(years=al.SPIKE_HISTORY_YEARS)).all()
    trailing = pd.to_datetime(h["sale_date"]) >= d0 - pd.DateOffset(years=al.TRAILING_YEARS)
    assert h.loc[~trailing, "artist_id"].isin(window_artists).all()  # older sales: the window's artists only
    with_text = h["lot_ref"].notna()
    assert with_text.any() and h.loc[with_text, "artist_id"].isin(window_artists).all()
    assert (pd.to_datetime(h.loc[with_text, "sale_date"]) >= d0 - pd.Timedelta(days=1100)).all()
    assert h.loc[~with_text, ["title", "medium", "edition"]].isna().all().all()
    expect = lots[(lots["status"] == "sold") & (d < d0) & (d >= d0 - pd.DateOffset(years=al.TRAILING_YEARS))]
    assert trailing.sum() == len(expect)


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
    from sqlalchemy import delete

    from warehouse.schema import fact_lot

    with engine.begin() as conn:  # the 20 latest sales not in the warehouse yet
        conn.execute(delete(fact_lot).where(fact_lot.c.lot_ref.in_(sold["lot_ref"].iloc[-20:].tolist())))
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


def test_the_drift_null_check_of_the_benchmark():
    """gbv bench market's estimate_drift_null: a planted artist drift counts on the real gaps, rarely shuffled."""
    from gbv.market.bench_market import drift_null

    rng = np.random.default_rng(8)
    lots = _window(rng, 80, artist=[f"a{i % 8}" for i in range(80)])
    lots["sale_date"] = pd.Timestamp("2016-03-02").date()
    mid = np.sqrt(lots["estimate_low_usd"] * lots["estimate_high_usd"])
    model = mid * np.exp(rng.normal(0, 0.3, len(lots)))
    model = model.where(lots["artist_id"] != "a1", mid / 3)
    vals = pd.DataFrame({"run_date": pd.Timestamp("2016-03-01").date(), "lot_ref": lots["lot_ref"],
                         "estimate_usd": model})
    res = drift_null(lots, vals, n_perm=20, seed=1)
    assert res["nights"] == 1 and res["real_per_night"]["artist"] == 1.0
    assert res["null_per_night"]["artist"] < 0.5 and res["null_over_real"] < 0.5
