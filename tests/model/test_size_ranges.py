"""Lots without a size: their own conformal radius (model.base) and their own nightly windows (model.recalibrate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.base import (
    HISTORY_BINS,
    MIN_BIN_SIZE,
    calibrate_radii,
    conformal_quantile,
    interval_radius,
    scores_without_size,
    size_known,
    without_size,
)
from model.baseline import LightGBMValuer
from model.features import SIZE_FEATURES, features_without_size, log_hammer_usd, sale_dates
from model.recalibrate import RollingRecalibration, out_of_sample_from


def _without_size(frame: pd.DataFrame, every: int = 3, offset: int = 0) -> pd.DataFrame:
    """``frame`` with height and width blanked on every ``every``-th lot (as catalogues often send them)."""
    out = frame.copy()
    rows = out.index[offset::every]
    out.loc[rows, ["height_cm", "width_cm"]] = np.nan
    return out


def test_size_known_needs_a_positive_height_and_width():
    frame = pd.DataFrame({"height_cm": [10.0, np.nan, 10.0, 0.0, 5.0], "width_cm": [10.0, 3.0, None, 4.0, "7"]})
    assert size_known(frame).tolist() == [True, False, False, False, True]
    assert size_known(frame, np.array([4, 1])).tolist() == [True, False]
    assert size_known(frame.drop(columns="width_cm")).tolist() == [False] * 5


def test_radii_per_history_bin_apart_for_lots_without_a_size():
    rng = np.random.default_rng(0)
    n = 4000
    prior = rng.choice([0, 2, 6, 20], size=n)
    sized = rng.random(n) < 0.7
    res = np.abs(rng.normal(0, np.where(sized, 1.0, 2.0)))
    cal = calibrate_radii(res, prior, 0.8, sized=sized)
    for b, p in enumerate([0, 2, 6, 20]):
        assert cal["bins"][str(b)] == conformal_quantile(res[sized & (prior == p)], 0.8)
        assert cal["bins_no_size"][str(b)] == conformal_quantile(res[~sized & (prior == p)], 0.8)
        assert cal["bins_no_size"][str(b)] > 1.5 * cal["bins"][str(b)]
    radius = interval_radius(cal, np.array([0, 0, 20]), np.array([True, False, False]))
    assert radius.tolist() == [cal["bins"]["0"], cal["bins_no_size"]["0"], cal["bins_no_size"]["3"]]
    # without the size flags (an old caller) or from an old calibration: one radius per history bin for all
    assert interval_radius(cal, np.array([0, 0]), None).tolist() == [cal["bins"]["0"]] * 2
    old = {k: v for k, v in cal.items() if "no_size" not in k}
    assert interval_radius(old, np.array([0, 0]), np.array([True, False])).tolist() == [cal["bins"]["0"]] * 2


def test_a_thin_no_size_bin_is_never_narrower_than_its_sized_bin_or_the_pooled_no_size_radius():
    rng = np.random.default_rng(1)
    n = 3000
    prior = np.where(rng.random(n) < 0.5, 0, 20)
    sized = np.ones(n, dtype=bool)
    thin = np.nonzero(prior == 0)[0][: MIN_BIN_SIZE - 1]  # too few without a size in bin 0 to calibrate it
    sized[thin] = False
    sized[np.nonzero(prior == 20)[0][:500]] = False
    res = np.abs(rng.normal(0, np.where(prior == 0, 3.0, 1.0)))
    cal = calibrate_radii(res, prior, 0.8, sized=sized)
    assert cal["bin_sizes_no_size"]["0"] == MIN_BIN_SIZE - 1
    assert cal["bins_no_size"]["0"] == max(cal["bins"]["0"], cal["pooled_no_size"])
    assert cal["bins_no_size"]["0"] >= cal["bins"]["0"]
    assert len(cal["bins"]) == len(HISTORY_BINS)
    assert cal["no_size_from"]["0"] == "fallback" and cal["no_size_from"]["3"] == "lots without a size"
    # no lot without a size at all and none scored without it: nothing measured, so the wider of the bin's and
    # the pooled radius (a well-traded artist's lot without a size is not given the narrowest range)
    cal = calibrate_radii(res, prior, 0.8, sized=np.ones(n, dtype=bool))
    assert cal["bins_no_size"] == {b: max(r, cal["pooled"]) for b, r in cal["bins"].items()}
    assert cal["bins_no_size"]["3"] > cal["bins"]["3"] and set(cal["no_size_from"].values()) == {"fallback"}


def test_a_thin_no_size_bin_is_measured_on_lots_with_a_size_scored_without_it():
    rng = np.random.default_rng(2)
    n = 2000
    prior = np.where(rng.random(n) < 0.5, 0, 20)
    sized = np.ones(n, dtype=bool)
    sized[np.nonzero(prior == 0)[0][:5]] = False  # five real lots without a size in bin 0
    res = np.abs(rng.normal(0, 1.0, n))
    masked = np.where(sized, np.abs(rng.normal(0, 2.5, n)), np.nan)  # what the model does without the size
    cal = calibrate_radii(res, prior, 0.8, sized=sized, masked=masked)
    want = conformal_quantile(np.concatenate([res[~sized], masked[sized & (prior == 0)]]), 0.8)
    assert cal["bins_no_size"]["0"] == want and want > 1.8 * cal["bins"]["0"]
    assert cal["no_size_from"]["0"] == "lots with a size scored without it and lots without"
    assert cal["no_size_from"]["3"] == "lots with a size scored without it"
    assert cal["bins_no_size"]["3"] == conformal_quantile(masked[prior == 20], 0.8)


@pytest.fixture(scope="module")
def sizeless(train_lots, holdout, offered):
    """A LightGBM fitted where a third of the lots came without a size, and the holdout and history alike."""
    train = _without_size(train_lots)
    history = _without_size(offered)
    test = history[history["lot_ref"].isin(set(holdout["lot_ref"]))].reset_index(drop=True)
    return LightGBMValuer(seed=7).fit(train, train), test, history


def test_lots_without_a_size_get_a_wider_range_that_still_holds(sizeless):
    model, test, history = sizeless
    assert model.calibration["bin_sizes_no_size"]["3"] >= MIN_BIN_SIZE
    pred = model.predict(test, history)
    known = size_known(test)
    assert 0 < (~known).sum() < len(test)
    width = (pred["high_log_usd"] - pred["low_log_usd"]).to_numpy()
    y = log_hammer_usd(test).to_numpy()
    inside = (y >= pred["low_log_usd"].to_numpy()) & (y <= pred["high_log_usd"].to_numpy())
    # the demo's prices hang on the area: without it the model knows less, and says so
    assert np.median(width[~known]) > 1.1 * np.median(width[known])
    assert inside[~known].mean() >= 0.7, inside[~known].mean()
    # the same lot with and without its size: the range widens, the lot's history bin unchanged
    lot = test[known].head(1)
    bare = lot.assign(height_cm=np.nan, width_cm=np.nan)
    w_sized = float((model.predict(lot, history)[["low_log_usd", "high_log_usd"]].diff(axis=1)).iloc[0, 1])
    w_bare = float((model.predict(bare, history)[["low_log_usd", "high_log_usd"]].diff(axis=1)).iloc[0, 1])
    assert w_bare > w_sized


def test_a_lot_without_a_size_is_re_measured_on_its_sources_lots_without_a_size(sizeless):
    model, test, history = sizeless
    pred = model.predict(test, history)
    rc = RollingRecalibration(window=40, min_group=20)
    out = rc.apply(model, test, pred, history)
    i = int(np.nonzero(~size_known(test))[0][-1])  # the latest lot without a size
    lot = test.iloc[[i]]
    d, src = sale_dates(lot).iloc[0], lot["source"].iloc[0]
    dates = sale_dates(history)
    realised = history[log_hammer_usd(history).notna() & (dates >= out_of_sample_from(model)) & (dates < d)
                       & (history["source"] == src) & ~size_known(history)]
    realised = realised.assign(_d=sale_dates(realised)).sort_values(["_d", "lot_ref"], kind="stable")
    realised = realised.drop(columns="_d").tail(40)
    assert len(realised) == 40
    p = model.predict(realised, history)
    y = log_hammer_usd(realised).to_numpy()
    shift = conformal_quantile(np.maximum(p["low_log_usd"].to_numpy() - y, y - p["high_log_usd"].to_numpy()), 0.8)
    assert out["high_log_usd"].iloc[i] == pytest.approx(max(pred["high_log_usd"].iloc[i] + shift,
                                                             pred["pred_log_usd"].iloc[i]))
    w = {(x["group"], x["sale_date"]): x for x in rc.last}[(f"source {src}, lots without a size", str(d.date()))]
    assert w["scope"] == f"source {src}, lots without a size" and w["n"] == 40
    # too few lots without a size in the source's window: the source's latest sales, sized or not
    rc = RollingRecalibration(window=40, min_group=20)
    thin = history.copy()
    no_size_rows = thin.index[~size_known(thin)]
    thin.loc[no_size_rows[: len(no_size_rows) - 10], ["height_cm", "width_cm"]] = 1.0  # sized again
    rc.apply(model, lot, model.predict(lot, thin), thin)
    assert rc.last[0]["scope"] == f"source {src}" and rc.last[0]["n"] == 40
    # the old grouping (by source alone) is still one setting away
    rc = RollingRecalibration(window=40, min_group=20, levels=(("source",), ()))
    rc.apply(model, lot, model.predict(lot, history), history)
    assert rc.last[0]["scope"] == f"source {src}" and rc.last[0]["group"] == f"source {src}"


def test_features_without_size_are_the_features_of_the_lots_without_a_size(lgbm, holdout, offered):
    lots = holdout.head(80)
    built = lgbm._features(without_size(lots), offered)
    blanked = features_without_size(lgbm._features(lots, offered))
    pd.testing.assert_frame_equal(built, blanked)
    assert set(SIZE_FEATURES) <= set(built.columns) and built["log_area_vs_artist_medium"].isna().all()
    # so LightGBM's calibration scores without a size are those of the lots sent without one
    y = log_hammer_usd(lots).to_numpy()
    direct = np.abs(y - lgbm.predict(without_size(lots), offered)["pred_log_usd"].to_numpy())
    via = scores_without_size(lambda bare, y_: np.abs(y_ - lgbm.predict(bare, offered)["pred_log_usd"].to_numpy()),
                              lots, y)
    np.testing.assert_allclose(via[size_known(lots)], direct[size_known(lots)])
