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


# ---- lot and sale context -----------------------------------------------------------------------------------------
def test_context_features_by_hand():
    from model.features import CONTEXT_FEATURES, context_features

    d1, d2 = dt.date(2020, 5, 1), dt.date(2021, 5, 1)
    lots = pd.DataFrame({
        "lot_ref": ["p1", "q1", "p2", "e1", "e2", "e3"], "artist_id": ["X", "X", "X", "X", "Y", "X"],
        "sale_date": [d1, d1, d1, d2, d2, d2], "house": ["h"] * 6,
        "sale_id": ["s1", "s1", "s1", "s2", "s2", "s2"],
        "sale_title": ["Prints & Multiples 2020"] * 3 + ["Post-War Evening Sale 05/01/2021"] * 3,
        "lot_number": ["1", "2", "10A", "1", "2", "4"], "status": ["sold"] * 6,
        "hammer_usd": [1_000.0, 100.0, 3_000.0, 1e6, 5e5, 2e6],
        "medium_class": ["print", "painting", "print", "print", "painting", "painting"],
        "height_cm": [10.0, 100.0, 10.0, 40.0, 100.0, 50.0], "width_cm": [10.0, 100.0, 10.0, 10.0, 100.0, 50.0],
    })
    c = context_features(lots, lots).set_index(lots["lot_ref"])
    assert list(c.columns) == list(CONTEXT_FEATURES)
    # same-day results never count; the next year's print sees the two prints of 2020, the painting one painting
    assert c.loc["p2", "am_prior_n_sold"] == 0 and np.isnan(c.loc["p2", "am_prior_mean_log_usd"])
    assert c.loc["e1", "am_prior_n_sold"] == 2
    assert c.loc["e1", "am_prior_mean_log_usd"] == pytest.approx((np.log(1000) + np.log(3000)) / 2)
    assert c.loc["e3", "am_prior_mean_log_usd"] == pytest.approx(np.log(100))
    assert c.loc["e1", "log_area_vs_artist_medium"] == pytest.approx(np.log(400) - np.log(100))
    assert np.isnan(c.loc["e2", "am_prior_mean_log_usd"])  # artist Y has no earlier sale
    # the catalogue: lot numbers ("10A" -> 10), positions, lots per sale and per artist
    assert c.loc["p2", "lot_number_num"] == 10 and c.loc["p1", "lot_position"] == pytest.approx(0.1)
    assert c.loc["e3", "lot_position"] == 1.0 and c.loc["e1", "sale_lots"] == 3
    assert c.loc["e1", "artist_lots_in_sale"] == 2 and c.loc["e2", "artist_lots_in_sale"] == 1
    assert c.loc["p1", "prints_sale"] == 1 and c.loc["p1", "evening_sale"] == 0
    assert c.loc["e1", "evening_sale"] == 1 and c.loc["e1", "prints_sale"] == 0
    # a series is the house and the title without dates; a new series has no earlier sale
    assert c.loc["e1", "sale_series_prior_n"] == 0 and c.loc["p1", "sale_series_prior_n"] == 0
    # no history at all (a first catalogue): the catalogue facts stay, the price facts are missing
    bare = context_features(lots, lots.iloc[:0]).set_index(lots["lot_ref"])
    assert bare["am_prior_n_sold"].eq(0).all() and bare["sale_series_prior_mean_log_usd"].isna().all()
    pd.testing.assert_series_equal(bare["sale_lots"], c["sale_lots"])


def test_rows_missing_a_house_or_sale_id_still_form_a_sale():
    from model.features import context_features

    d = dt.date(2020, 1, 1)
    lots = pd.DataFrame({"lot_ref": ["a", "b", "c"], "artist_id": ["X", None, "X"], "artist_name": [None, "Ann", None],
                         "sale_date": [d, d, d], "house": [None, None, "h"], "sale_id": [None, None, "s"],
                         "lot_number": ["1", "2", "9"], "status": ["sold"] * 3, "hammer_usd": [1e3, 2e3, 3e3]})
    c = context_features(lots, lots).set_index(lots["lot_ref"])
    # a and b: one sale of an unknown house (two lots, one each of two artists); c: a sale of its own
    assert list(c["sale_lots"]) == [2, 2, 1] and list(c["artist_lots_in_sale"]) == [1, 1, 1]
    assert list(c["lot_position"]) == [0.5, 1.0, 1.0]


@pytest.mark.parametrize("name, priced", [("context_features", "am_prior_n_sold"),
                                           ("title_features", "title_prior_n_sold")])
def test_context_and_title_features_use_no_later_sale_and_no_own_result(offered, name, priced):
    import model.features

    features = getattr(model.features, name)
    cut = dt.date(2023, 1, 1)
    early = offered[offered["sale_date"] < cut]
    before = features(early, early)
    assert before[priced].gt(0).any()  # the demo world repeats artists, media and titles
    pd.testing.assert_frame_equal(before, features(early, offered))
    # a lot's own price (and its sale day's) never feeds them: blank the results of the lots themselves
    blanked = early.assign(hammer_usd=np.nan, status="upcoming")
    history = early[early["sale_date"] < early["sale_date"].max()]
    last_day = (early["sale_date"] == early["sale_date"].max()).to_numpy()
    pd.testing.assert_frame_equal(features(blanked, history)[last_day].reset_index(drop=True),
                                  before[last_day].reset_index(drop=True))


def test_context_features_same_on_arrow_strings(offered):
    """The warehouse hands text columns over as Arrow strings (no Python string per row); the keys are integer
    codes either way, so the features are the same as from Python objects."""
    from model.features import context_features, title_features

    text = [c for c in offered.columns if pd.api.types.is_string_dtype(offered[c])
            and isinstance(offered[c].dropna().iloc[0], str)]
    assert {"artist_id", "sale_title", "title", "house"} <= set(text)
    arrow = offered.astype({c: "string[pyarrow]" for c in text})
    objects = offered.astype({c: "object" for c in text})
    pd.testing.assert_frame_equal(context_features(arrow, arrow), context_features(objects, objects))
    pd.testing.assert_frame_equal(title_features(arrow, arrow), title_features(objects, objects))


# ---- the same title's earlier sales -------------------------------------------------------------------------------
def test_title_features_by_hand():
    from model.features import TITLE_FEATURES, title_features

    d1, d2, d3 = dt.date(2010, 5, 1), dt.date(2011, 5, 1), dt.date(2012, 5, 1)
    lots = pd.DataFrame({
        "lot_ref": ["a", "b", "c", "d", "e", "f", "g", "h"],
        "artist_id": ["W", "W", "W", "W", "V", "W", "W", "W"],
        "title": ["Flowers (F. & S. II.64)", "FLOWERS [F&S II.65]", "Flowers", "Flowers 1970", "Flowers",
                  "Flowers (F. & S. II.66)", "Mao", "(1962)"],
        "medium_class": ["print", "print", "painting", "print", "print", "print", "print", "print"],
        "sale_date": [d1, d2, d2, d3, d1, d3, d1, d3], "status": ["sold"] * 7 + ["sold"],
        "hammer_usd": [1_000.0, 3_000.0, 1e6, 5_000.0, 50.0, 7_000.0, 900.0, 10.0],
    })
    t = title_features(lots, lots).set_index(lots["lot_ref"])
    assert list(t.columns) == list(TITLE_FEATURES)
    # numbers and bracketed parts go; another medium class or another artist is another work; the sale day's own
    # results never count
    assert t.loc["f", "title_prior_n_sold"] == 2
    assert t.loc["f", "title_prior_mean_log_usd"] == pytest.approx((np.log(1000) + np.log(3000)) / 2)
    assert t.loc["d", "title_prior_n_sold"] == 2  # "Flowers 1970" is "flowers" too, "f" the same day does not count
    assert t.loc["b", "title_prior_n_sold"] == 1 and t.loc["a", "title_prior_n_sold"] == 0
    assert t.loc["c", "title_prior_n_sold"] == 0 and np.isnan(t.loc["c", "title_prior_mean_log_usd"])
    assert t.loc["e", "title_prior_n_sold"] == 0
    assert t.loc["h", "title_prior_n_sold"] == 0  # nothing left of the title: no key
    # bought-in lots are no prices; no history at all: nothing
    bought_in = lots.assign(status=np.where(lots["lot_ref"] == "b", "bought_in", "sold"))
    assert title_features(bought_in, bought_in).set_index(lots["lot_ref"]).loc["f", "title_prior_n_sold"] == 1
    assert title_features(lots, None)["title_prior_n_sold"].eq(0).all()
    # accents and case do not make another title
    heads = pd.DataFrame({"lot_ref": ["x", "y"], "artist_id": ["P", "P"], "title": ["Tête de Femme", "TETE DE FEMME"],
                          "medium_class": ["painting"] * 2, "sale_date": [d1, d2], "status": ["sold"] * 2,
                          "hammer_usd": [1e6, 2e6]})
    assert list(title_features(heads, heads)["title_prior_n_sold"]) == [0, 1]


# ---- expert consensus: point in time (no leakage), as a feature and as a target --------------------------------
def _labels_of(world):
    from gbv.crowd.simulate import world_labels_usd

    return world_labels_usd(world)


def test_presale_consensus_ignores_everything_from_the_sale_day_on(world, offered):
    from gbv.consensus import point_in_time_consensus

    labels = _labels_of(world)
    sold = offered[offered["status"] == "sold"][["lot_ref", "hammer_usd", "sale_date"]]
    base = point_in_time_consensus(offered, labels, sold).set_index("lot_ref")
    assert len(base) > 300 and (base["consensus_usd"] > 0).all()
    # a label submitted on or after a lot's sale day, and later sales, change nothing before them
    lot = base.index[len(base) // 2]
    day = pd.Timestamp(offered.set_index("lot_ref").loc[lot, "sale_date"])
    late = pd.DataFrame({"lot_ref": [lot, lot], "expert_key": ["E001", "E_NEW"], "value_point_usd": [1e9, 1e9],
                         "submitted_at": [day, day + pd.Timedelta(days=3)]})
    later = sold.assign(hammer_usd=sold["hammer_usd"] * np.where(pd.to_datetime(sold["sale_date"]) >= day, 50, 1))
    moved = point_in_time_consensus(offered, pd.concat([labels, late], ignore_index=True), later).set_index("lot_ref")
    before = pd.to_datetime(offered.set_index("lot_ref").loc[base.index, "sale_date"]) <= day
    pd.testing.assert_frame_equal(moved.loc[before[before].index], base.loc[before[before].index])
    # while a label submitted the day before the sale does count
    early = late.iloc[[1]].assign(submitted_at=[day - pd.Timedelta(hours=1)])  # a new expert's label
    seen = point_in_time_consensus(offered, pd.concat([labels, early], ignore_index=True), sold).set_index("lot_ref")
    assert seen.loc[lot, "consensus_usd"] > 2 * base.loc[lot, "consensus_usd"]
    assert seen.loc[lot, "n_experts"] == base.loc[lot, "n_experts"] + 1


def test_consensus_features_are_additive_and_follow_the_attached_consensus(offered):
    from model.features import CONSENSUS_FEATURES, attach_consensus, consensus_features

    lots = offered.head(4)
    cons = pd.DataFrame({"lot_ref": [lots["lot_ref"].iloc[1]], "consensus_usd": [5000.0], "n_experts": [3],
                         "spread": [0.2]})
    with_c = attach_consensus(lots, cons)
    assert list(build_features(with_c, offered).columns) == ["lot_ref", *FEATURE_COLUMNS]  # unchanged
    f = consensus_features(with_c, build_features(with_c, offered))
    assert tuple(f.columns) == CONSENSUS_FEATURES
    assert f["expert_log_usd"].iloc[1] == pytest.approx(np.log(5000.0)) and f["expert_n_labels"].iloc[1] == 3
    assert f["expert_log_usd"].drop(index=1).isna().all() and (f["expert_n_labels"].drop(index=1) == 0).all()
    assert consensus_features(lots)["expert_log_usd"].isna().all()  # no consensus columns: all missing


def test_lgbm_uses_consensus_as_feature_and_unsold_target(world, offered, tmp_path):
    from gbv.consensus import point_in_time_consensus
    from model.baseline import LightGBMValuer
    from model.features import attach_consensus

    cut = pd.Timestamp("2025-04-01")
    sold = offered[offered["status"] == "sold"][["lot_ref", "hammer_usd", "sale_date"]]
    lots = attach_consensus(offered, point_in_time_consensus(offered, _labels_of(world), sold))
    train = lots[pd.to_datetime(lots["sale_date"]) < cut]
    test = lots[(pd.to_datetime(lots["sale_date"]) >= cut) & lots["expert_consensus_usd"].notna()]
    test = test[test["status"] == "sold"]
    with_c = LightGBMValuer(seed=7, num_boost_round=200).fit(train, train)
    assert with_c.info["n_unsold_targets"] > 20 and with_c.info["n_with_consensus"] > 100
    without = LightGBMValuer(seed=7, num_boost_round=200, consensus=False, unsold_weight=0.0).fit(train, train)
    assert without.info["n_unsold_targets"] == 0
    y = np.log(test["hammer_usd"].to_numpy())
    err_c = np.median(np.abs(with_c.predict(test, lots)["pred_log_usd"].to_numpy() - y))
    err_0 = np.median(np.abs(without.predict(test, lots)["pred_log_usd"].to_numpy() - y))
    assert err_c < err_0, (err_c, err_0)  # labelled lots are valued better with the experts' view
    # blanking the consensus at scoring time changes the labelled lots' values: the model does use it
    blank = with_c.predict(test.drop(columns=["expert_consensus_usd"]), lots)["pred_log_usd"].to_numpy()
    assert np.mean(np.abs(blank - with_c.predict(test, lots)["pred_log_usd"].to_numpy())) > 0.02
    # lots the experts valued get their own, narrower conformal radius (Mondrian by consensus)
    assert with_c.stage2["radius"] < with_c.calibration["pooled"]
    p = with_c.predict(test, lots)
    assert 0.7 <= np.mean((y >= p["low_log_usd"]) & (y <= p["high_log_usd"])) <= 0.95
    with_c.save(tmp_path)
    again = LightGBMValuer.load(tmp_path)
    assert again.consensus and again.features == with_c.features
    np.testing.assert_allclose(again.predict(test, lots)["pred_log_usd"], with_c.predict(test, lots)["pred_log_usd"])
