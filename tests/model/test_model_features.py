import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from model.features import FEATURE_COLUMNS, build_features


def test_columns_and_row_order(world, offered):
    lots = world.lots.sample(frac=1.0, random_state=3)
    feats = build_features(lots, offered)
    assert list(feats.columns) == ["lot_ref", *FEATURE_COLUMNS]
    assert feats["lot_ref"].tolist() == lots["lot_ref"].tolist()


def test_history_counts_only_strictly_earlier_sales():
    lots = pd.DataFrame({
        "lot_ref": ["a", "b", "c", "d"], "artist_id": ["X"] * 4,
        "sale_date": [dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(2022, 1, 1)],
        "status": ["sold", "sold", "bought_in", "sold"], "hammer_usd": [100.0, 10_000.0, np.nan, 1000.0],
        "height_cm": [10.0] * 4, "width_cm": [20.0] * 4, "medium_class": ["painting"] * 4,
    })
    f = build_features(lots, lots).set_index("lot_ref")
    # a and b share a sale date: neither sees the other
    assert f.loc["a", "prior_n_sold"] == 0 and f.loc["b", "prior_n_sold"] == 0
    assert f.loc["c", "prior_n_sold"] == 2 and f.loc["c", "prior_n_offered"] == 2
    assert f.loc["c", "prior_median_log_usd"] == pytest.approx(np.log(1000.0))
    assert f.loc["d", "prior_n_offered"] == 3 and f.loc["d", "prior_sell_through"] == pytest.approx(2 / 3)
    assert f.loc["d", "prior_last_log_usd"] == pytest.approx(np.log(1000.0))  # mean log of the 2020 day
    assert f.loc["d", "years_since_last_sale"] == pytest.approx(731 / 365.25)
    assert f.loc["a", "log_area"] == pytest.approx(np.log(200.0))


def test_no_leakage_when_later_sales_are_added(offered):
    cut = dt.date(2023, 1, 1)
    early = offered[offered["sale_date"] < cut]
    lots = offered[offered["sale_date"] < cut]
    before = build_features(lots, early)
    after = build_features(lots, offered)  # the history now also holds every later sale
    pd.testing.assert_frame_equal(before, after)
    # and a lot's own result never feeds its features
    blanked = lots.assign(hammer_usd=np.nan, status="upcoming")
    pd.testing.assert_frame_equal(build_features(blanked, early)[list(FEATURE_COLUMNS[8:15])],
                                  before[list(FEATURE_COLUMNS[8:15])])


def test_catalogue_rows_without_ids_use_artist_name(offered):
    sold = offered[offered["status"] == "sold"]
    row = sold.iloc[-1:].copy()
    intake = row.drop(columns=["artist_id", "house"]).assign(sale_date=str(row["sale_date"].iloc[0]))
    f_id = build_features(row, offered)
    f_name = build_features(intake, offered.drop(columns=["artist_id"]))
    assert f_name["prior_n_sold"].iloc[0] == f_id["prior_n_sold"].iloc[0] > 0


def test_100k_lots_in_seconds(world):
    base = world.lots
    copies = [base.assign(lot_ref=base["lot_ref"] + f"-{i}", artist_id=base["artist_id"] + f"-{i % 7}")
              for i in range(34)]
    lots = pd.concat(copies, ignore_index=True).iloc[:100_000]
    t0 = time.perf_counter()
    feats = build_features(lots, lots)
    assert len(feats) == 100_000
    assert time.perf_counter() - t0 < 10


def test_market_signals_use_only_earlier_months_and_shrink_towards_the_market(offered):
    from model.features import MARKET_FEATURES, market_features, market_index

    cut = dt.date(2023, 1, 1)
    lots = offered[offered["sale_date"] >= cut].head(200)
    early = offered[offered["sale_date"] < pd.Timestamp(lots["sale_date"].min()).replace(day=1).date()]
    # sales in the lot's own month or later never move the index
    np.testing.assert_allclose(market_index(lots, offered)[:1], market_index(lots.head(1), offered[
        pd.to_datetime(offered["sale_date"]) < pd.Timestamp(lots["sale_date"].iloc[0]).replace(day=1)]))
    m = market_features(lots, offered)
    assert list(m.columns) == list(MARKET_FEATURES) and len(m) == len(lots) and m.notna().all().all()
    f = build_features(lots, offered)
    n = f["prior_n_sold"].to_numpy()
    lvl, mkt, mean = m["artist_level_shrunk"].to_numpy(), m["market_index_log_usd"].to_numpy(), \
        f["prior_mean_log_usd"].to_numpy()
    np.testing.assert_allclose(lvl[n == 0], mkt[n == 0])  # no record: the market level
    seen = n > 0
    np.testing.assert_allclose(lvl[seen], (n[seen] * mean[seen] + 5 * mkt[seen]) / (n[seen] + 5))
    assert np.isnan(market_index(lots, early.iloc[:0])).all()
