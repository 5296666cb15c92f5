"""The precision-weighted blend of model and consensus (gbv.crowd.blend)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gbv.crowd.blend import BLEND_COLUMNS, Z80, blend_valuations


def _pred():
    m = np.log([1e4, 1e4, 1e4, 1e4])
    return pd.DataFrame({"lot_ref": ["A", "B", "C", "D"], "pred_log_usd": m, "low_log_usd": m - 0.64,
                         "high_log_usd": m + 0.64})


def _cons():
    return pd.DataFrame({"lot_ref": ["B", "C", "D"], "consensus_usd": [2e4, 2e4, 2e4], "n_experts": [1, 4, 4],
                         "spread": [0.0, 0.1, 0.9]})


def test_unlabelled_lot_keeps_the_model():
    b = blend_valuations(_pred(), _cons(), expert_sd=0.3).set_index("lot_ref")
    assert tuple(b.reset_index().columns) == BLEND_COLUMNS
    p = _pred().set_index("lot_ref")
    assert b.loc["A", "blend_log"] == p.loc["A", "pred_log_usd"] and b.loc["A", "model_weight"] == 1.0
    assert (b.loc["A", "low_log"], b.loc["A", "high_log"]) == (p.loc["A", "low_log_usd"], p.loc["A", "high_log_usd"])
    assert np.isnan(b.loc["A", "consensus_log"])
    same = blend_valuations(_pred(), None)
    np.testing.assert_array_equal(same["blend_log"], _pred()["pred_log_usd"])


def test_weights_follow_precision():
    b = blend_valuations(_pred(), _cons(), expert_sd=0.3).set_index("lot_ref")
    lo, hi = np.log(1e4), np.log(2e4)
    assert ((b.loc[["B", "C", "D"], "blend_log"] > lo) & (b.loc[["B", "C", "D"], "blend_log"] < hi)).all()
    # four agreeing experts count more than one; four that disagree count less than four that agree
    assert b.loc["C", "model_weight"] < b.loc["B", "model_weight"] < 1.0
    assert b.loc["C", "model_weight"] < b.loc["D", "model_weight"]
    # the exact inverse-variance weight for C: model sd 0.64/Z80, consensus sd max(0.1, 0.3)/2
    vm, vc = (0.64 / Z80) ** 2, 0.3**2 / 4
    assert b.loc["C", "model_weight"] == pytest.approx((1 / vm) / (1 / vm + 1 / vc))
    # a lone label (spread 0) is not taken as certain: the expert_sd floor keeps the model in
    assert b.loc["B", "model_weight"] > 0.2


def test_market_scatter_shifts_weight_and_keeps_interval_honest():
    plain = blend_valuations(_pred(), _cons(), expert_sd=0.3).set_index("lot_ref")
    market = blend_valuations(_pred(), _cons(), expert_sd=0.3, market_sd=0.4).set_index("lot_ref")
    # part of the model's width is market scatter that no estimate removes: the model's error about the value
    # is smaller than its width says (more model weight), and the range keeps the scatter
    assert market.loc["C", "model_weight"] > plain.loc["C", "model_weight"]
    width = lambda b: b.loc["C", "high_log"] - b.loc["C", "low_log"]  # noqa: E731
    assert width(market) > width(plain) and width(market) >= 2 * Z80 * 0.4
    assert width(market) < 2 * 0.64  # still tighter than the model alone


def test_blend_beats_its_parts_on_simulated_lots():
    rng = np.random.default_rng(0)
    n = 2000
    value = rng.normal(10, 1, n)
    model = value + rng.normal(0, 0.5, n)
    n_exp = rng.integers(1, 5, n)
    cons = value + rng.normal(0, 0.3, n) / np.sqrt(n_exp)
    pred = pd.DataFrame({"lot_ref": np.arange(n).astype(str), "pred_log_usd": model,
                         "low_log_usd": model - Z80 * 0.5, "high_log_usd": model + Z80 * 0.5})
    c = pd.DataFrame({"lot_ref": pred["lot_ref"], "consensus_usd": np.exp(cons), "n_experts": n_exp,
                      "spread": 0.3})
    b = blend_valuations(pred, c, expert_sd=0.3)
    err = lambda x: float(np.mean(np.abs(x - value)))  # noqa: E731
    assert err(b["blend_log"]) < 0.95 * min(err(model), err(cons))


def test_bad_expert_sd():
    with pytest.raises(ValueError, match="expert_sd"):
        blend_valuations(_pred(), _cons(), expert_sd=0.0)
