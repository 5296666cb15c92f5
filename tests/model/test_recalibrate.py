"""Rolling conformal recalibration (model/recalibrate.py) on the demo world with a real LightGBM fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.base import conformal_quantile
from model.features import log_hammer_usd, sale_dates
from model.predict import value_lots
from model.recalibrate import RollingRecalibration, describe_windows, out_of_sample_from


def _with_noise(frame: pd.DataFrame, since, sigma: float, seed: int = 3) -> pd.DataFrame:
    """``frame`` with the hammer prices of sales from ``since`` on multiplied by exp(N(0, sigma)) (a market that
    became harder to price after the model was fitted)."""
    out = frame.copy()
    late = (sale_dates(out) >= pd.Timestamp(since)) & out["hammer_usd"].notna()
    rng = np.random.default_rng(seed)
    factor = np.exp(rng.normal(0.0, sigma, int(late.sum())))
    for col in ("hammer_usd", "hammer_price"):
        if col in out:
            out.loc[late, col] = pd.to_numeric(out.loc[late, col], errors="coerce").to_numpy() * factor
    return out


def _coverage(pred: pd.DataFrame, lots: pd.DataFrame) -> float:
    y = log_hammer_usd(lots).to_numpy()
    return float(np.mean((y >= pred["low_log_usd"].to_numpy()) & (y <= pred["high_log_usd"].to_numpy())))


def test_shift_is_the_conformal_quantile_of_the_latest_out_of_sample_sales(lgbm, offered, holdout):
    rc = RollingRecalibration(window=60, min_group=20)
    pred = lgbm.predict(holdout, offered)
    out = rc.apply(lgbm, holdout, pred, offered)
    assert (out["pred_log_usd"] == pred["pred_log_usd"]).all()  # the estimate never moves
    i = len(holdout) - 1  # the latest lot: its window is the latest 60 sales of its source before its date
    lot = holdout.iloc[[i]]
    start = out_of_sample_from(lgbm)
    assert start is not None and start >= pd.Timestamp(lgbm.fit_info()["train_from"])
    d = sale_dates(lot).iloc[0]
    dates = sale_dates(offered)
    realised = offered[log_hammer_usd(offered).notna() & (dates >= start) & (dates < d)
                       & (offered["source"] == lot["source"].iloc[0])]
    realised = realised.assign(_d=sale_dates(realised)).sort_values(["_d", "lot_ref"], kind="stable")
    realised = realised.drop(columns="_d").tail(60)
    assert len(realised) == 60
    p = lgbm.predict(realised, offered)
    y = log_hammer_usd(realised).to_numpy()
    score = np.maximum(p["low_log_usd"].to_numpy() - y, y - p["high_log_usd"].to_numpy())
    shift = conformal_quantile(score, 0.8)
    assert out["high_log_usd"].iloc[i] == pytest.approx(max(pred["high_log_usd"].iloc[i] + shift,
                                                             pred["pred_log_usd"].iloc[i]))
    assert out["low_log_usd"].iloc[i] == pytest.approx(min(pred["low_log_usd"].iloc[i] - shift,
                                                           pred["pred_log_usd"].iloc[i]))
    windows = {(w["group"], w["sale_date"]): w for w in rc.last}
    group = f"source {lot['source'].iloc[0]}, lots with a size"  # every demo lot has a size
    w = windows[(group, str(d.date()))]
    assert w["n"] == 60 and w["scope"] == group


def test_a_noisier_market_after_the_fit_widens_the_ranges_back_towards_80_percent(lgbm, offered, holdout):
    cut = holdout["sale_date"].min()
    noisy_history = _with_noise(offered, cut, 0.9)
    noisy = noisy_history[sale_dates(noisy_history) >= pd.Timestamp(cut)]
    noisy = noisy[noisy["status"] == "sold"].reset_index(drop=True)
    assert list(noisy["lot_ref"]) == list(holdout["lot_ref"])
    pred = lgbm.predict(noisy, noisy_history)
    late = (sale_dates(noisy) >= sale_dates(noisy).quantile(0.5)).to_numpy()  # windows mostly after the change
    rc = RollingRecalibration(window=40, min_group=20)
    out = rc.apply(lgbm, noisy, pred, noisy_history)
    static, rolling = _coverage(pred[late], noisy[late]), _coverage(out[late], noisy[late])
    assert static < 0.7, static  # the model's own ranges no longer hold
    assert rolling > static + 0.2 and rolling >= 0.72, (static, rolling)
    # where the windows hold the noisier sales, every range is wider than as fitted (earlier lots' windows are
    # mostly the calibration months themselves, where the shift may go either way)
    wider = (out["high_log_usd"] - out["low_log_usd"]) >= (pred["high_log_usd"] - pred["low_log_usd"]) - 1e-9
    assert wider[late].all()


def test_results_on_or_after_the_sale_date_change_nothing(lgbm, offered, holdout):
    rc = RollingRecalibration(window=60, min_group=20)
    lot = holdout.tail(1)
    base = rc.apply(lgbm, lot, lgbm.predict(lot, offered), offered)
    d = sale_dates(lot).iloc[0]
    dates = sale_dates(offered)
    changed = offered.copy()
    blank = dates >= d  # results on or after the lot's sale date, the lot's own included
    assert blank.sum() > 1
    changed.loc[blank, "hammer_usd"] = pd.to_numeric(changed.loc[blank, "hammer_usd"]) * 7.0
    again = rc.apply(lgbm, lot, lgbm.predict(lot, offered), changed)
    pd.testing.assert_frame_equal(base, again)
    assert base["high_log_usd"].iloc[0] != lgbm.predict(lot, offered)["high_log_usd"].iloc[0]  # it did re-measure


def test_too_few_sales_fall_back_to_all_sources_then_to_the_models_own_range(lgbm, offered, holdout):
    lot = holdout.tail(1).assign(source="a-new-source")
    pred = lgbm.predict(lot, offered)
    rc = RollingRecalibration(window=60, min_group=20)
    out = rc.apply(lgbm, lot, pred, offered)
    # a source with too few realised sales: all sources' lots with (here) a size
    assert rc.last[0]["scope"] == "all sources, lots with a size" and rc.last[0]["n"] == 60
    assert not np.isclose(out["high_log_usd"].iloc[0], pred["high_log_usd"].iloc[0])
    start = out_of_sample_from(lgbm)
    before_fit_end = offered[sale_dates(offered) < start]  # nothing out of sample: the model's range stands
    out = rc.apply(lgbm, lot, pred, before_fit_end)
    pd.testing.assert_frame_equal(out, pred)
    assert rc.last == []


def test_value_lots_ranges_are_the_recalibrated_ones(lgbm, offered, holdout):
    lots = holdout.tail(40)
    default = value_lots(lgbm, "v", lots, offered, None).set_index("lot_ref")
    rc = RollingRecalibration()
    pred = rc.apply(lgbm, lots, lgbm.predict(lots, offered), offered).set_index(lots["lot_ref"].to_numpy())
    ratio = default["high_usd"] / np.exp(pred.loc[default.index, "high_log_usd"])
    assert ratio.between(0.99, 1.01).all()  # 3 significant figures
    static = value_lots(lgbm, "v", lots, offered, None, recalibration=RollingRecalibration(min_group=10**9))
    assert (static.set_index("lot_ref")["high_usd"] != default["high_usd"]).any()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="window and min_group"):
        RollingRecalibration(window=0)
    with pytest.raises(ValueError, match="coverage"):
        RollingRecalibration(coverage=1.5)


def test_the_nights_metadata_line_says_what_re_measured_the_ranges(lgbm, offered, holdout):
    rc = RollingRecalibration(window=60, min_group=20)
    rc.apply(lgbm, holdout.tail(30), lgbm.predict(holdout.tail(30), offered), offered)
    line = describe_windows(rc.last)
    assert line.startswith("re-measured on the latest realised sales (source demo_") and "up to 60 each" in line
    assert "lots with a size" in line
    shifts = [w["shift_log"] for w in rc.last]
    assert f"x{np.exp(min(shifts)):.2f} to x{np.exp(max(shifts)):.2f}" in line
    assert describe_windows([]).startswith("as calibrated at training")


def test_test_lots_that_are_each_others_windows_reuse_their_ranges_with_the_same_result(lgbm, offered, holdout):
    # the status compared as Arrow strings (as the warehouse reads it) or as Python objects: the same sales
    arrow = offered.assign(status=offered["status"].astype("string[pyarrow]"))
    arrow.loc[arrow.index[:3], "status"] = pd.NA  # a missing status is not a sale
    realised = log_hammer_usd(arrow).notna().to_numpy()
    want = log_hammer_usd(offered.assign(status=arrow["status"].astype("object"))).notna().to_numpy()
    assert (realised == want).all() and not realised[:3].any()
    assert (~realised).sum() > 10  # bought-in lots are not realised sales
    rc = RollingRecalibration(window=60, min_group=20)
    pred = lgbm.predict(holdout, offered)
    reused = rc.apply(lgbm, holdout, pred, offered)
    # the same lots under other refs: nothing to reuse, every window sale predicted again
    renamed = holdout.assign(lot_ref="other-" + holdout["lot_ref"].astype(str))
    again = rc.apply(lgbm, renamed, pred.assign(lot_ref=renamed["lot_ref"].to_numpy()), offered)
    np.testing.assert_allclose(reused["low_log_usd"], again["low_log_usd"])
    np.testing.assert_allclose(reused["high_log_usd"], again["high_log_usd"])


def test_window_sales_the_model_cannot_score_leave_the_range_as_fitted_never_infinite(lgbm, offered, holdout):
    class Unscorable:  # the fitted LightGBM, but with no range for the sales of the windows
        def fit_info(self):
            return lgbm.fit_info()

        def predict(self, lots, history):
            return lgbm.predict(lots, history).assign(low_log_usd=np.nan, high_log_usd=np.nan)

    lot = holdout.tail(1).assign(lot_ref="upcoming-1")
    pred = lgbm.predict(lot, offered)
    rc = RollingRecalibration(window=60, min_group=20)
    out = rc.apply(Unscorable(), lot, pred, offered)
    pd.testing.assert_frame_equal(out, pred)
    assert rc.last[0]["scope"] == "none" and rc.last[0]["n"] == 0
