"""Reliability-weighted consensus on the demo world and on small hand-built panels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gbv.consensus import RELIABILITY_COLUMNS, compute_consensus
from gbv.contracts import CONSENSUS_COLUMNS
from gbv.demo.world import generate_world
from gbv.privacy import pseudonymize
from quality.labels import validate_labels

SALT = "consensus-test"
CUT = dt.date(2023, 1, 1)  # prices before this date are gold; later sales are the test set


@pytest.fixture(scope="module")
def world():
    return generate_world(n_lots=3000, seed=7)


@pytest.fixture(scope="module")
def accepted(world):
    return validate_labels(world.labels, world.experts["expert_id"], str(world.as_of), "demo", salt=SALT).accepted


@pytest.fixture(scope="module")
def sold(world):
    lots = world.lots
    return lots.loc[lots["status"] == "sold", ["lot_ref", "sale_date", "hammer_usd"]]


@pytest.fixture(scope="module")
def gold(sold):
    return sold.loc[sold["sale_date"] < CUT, ["lot_ref", "hammer_usd"]]


@pytest.fixture(scope="module")
def result(accepted, gold):
    return compute_consensus(accepted, gold)


def _abs_log_error(values: pd.Series, truth: pd.Series) -> float:
    return float(np.median(np.abs(np.log(values.to_numpy() / truth.to_numpy()))))


def test_shapes(result, accepted):
    c, r = result.consensus, result.reliability
    assert tuple(c.columns) == CONSENSUS_COLUMNS and tuple(r.columns) == RELIABILITY_COLUMNS
    assert c["lot_ref"].is_unique and set(c["lot_ref"]) == set(accepted["lot_ref"])
    assert (c["low_usd"] <= c["consensus_usd"]).all() and (c["consensus_usd"] <= c["high_usd"]).all()
    assert np.isfinite(c[["consensus_usd", "low_usd", "high_usd", "spread"]].to_numpy()).all()
    assert (r["n_gold"] > 0).all() and r["weight"].gt(0).all()


def test_careless_expert_gets_lowest_weight(result, world):
    careless = world.experts.loc[world.experts["careless"], "expert_id"]
    keys = {pseudonymize(e, SALT) for e in careless}
    rel = result.reliability.sort_values("weight")
    assert rel["expert_key"].iloc[0] in keys
    assert rel.set_index("expert_key").loc[list(keys), "log_sd"].min() > rel["log_sd"].median()


@pytest.mark.parametrize("use_gold", [False, True])
def test_weighted_consensus_beats_plain_median(accepted, gold, sold, use_gold):
    res = compute_consensus(accepted, gold if use_gold else None)
    test = sold.loc[sold["sale_date"] >= CUT, ["lot_ref", "hammer_usd"]]
    c = res.consensus.merge(test, on="lot_ref")
    assert len(c) > 50
    plain = c["lot_ref"].map(accepted.groupby("lot_ref")["value_point_usd"].median())
    assert _abs_log_error(c["consensus_usd"], c["hammer_usd"]) < _abs_log_error(plain, c["hammer_usd"])


def test_deterministic_and_order_free(accepted, gold, result):
    shuffled = accepted.sample(frac=1.0, random_state=3)
    again = compute_consensus(shuffled, gold.sample(frac=1.0, random_state=4))
    pd.testing.assert_frame_equal(again.consensus, result.consensus)
    pd.testing.assert_frame_equal(again.reliability, result.reliability)


def test_styles_match_true_style_for_most_lots(result, world):
    true_style = world.lots.set_index("lot_ref")["artist_id"].map(world.artists.set_index("artist_id")["style"])
    c = result.consensus.dropna(subset=["style"])
    assert len(c) > 0.9 * len(result.consensus)
    assert (c["style"].to_numpy() == c["lot_ref"].map(true_style).to_numpy()).mean() > 0.85
    assert c["style_confidence"].between(0, 1).all()


def test_single_label_lots(result):
    single = result.consensus[result.consensus["n_experts"] == 1]
    assert len(single) > 0 and (single["spread"] == 0).all()
    one = pd.DataFrame([{"lot_ref": "LOT-1", "expert_key": "ex_a", "value_low_usd": 800.0,
                         "value_point_usd": 1000.0, "value_high_usd": 1300.0, "style": "pop_art"}])
    res = compute_consensus(one)
    row = res.consensus.iloc[0]
    assert row["consensus_usd"] == pytest.approx(1000.0) and row["low_usd"] == pytest.approx(800.0)
    assert row["high_usd"] == pytest.approx(1300.0) and row["n_experts"] == 1
    assert row["style"] == "pop_art" and row["style_confidence"] == pytest.approx(1.0)
    assert res.reliability["n_labels"].tolist() == [1]


def test_empty_input():
    empty = pd.DataFrame(columns=["lot_ref", "expert_key", "value_point_usd"])
    res = compute_consensus(empty)
    assert res.consensus.empty and tuple(res.consensus.columns) == CONSENSUS_COLUMNS
    assert res.reliability.empty and tuple(res.reliability.columns) == RELIABILITY_COLUMNS


def _panel(n_lots=300, seed=0):
    """Three experts: 'ex_fair' (sd .2), 'ex_high' (always ×2, sd .2), 'ex_noisy' (sd 1.0)."""
    rng = np.random.default_rng(seed)
    truth = np.exp(rng.normal(10, 1, n_lots))
    rows = []
    for i, value in enumerate(truth):
        for key, bias, sd in (("ex_fair", 0.0, 0.2), ("ex_high", np.log(2), 0.2), ("ex_noisy", 0.0, 1.0)):
            point = value * np.exp(bias + rng.normal(0, sd))
            rows.append({"lot_ref": f"L{i:04d}", "expert_key": key, "value_low_usd": point * 0.8,
                         "value_point_usd": point, "value_high_usd": point * 1.25})
    realised = pd.DataFrame({"lot_ref": [f"L{i:04d}" for i in range(n_lots)], "hammer_usd": truth})
    return pd.DataFrame(rows), realised


def test_bias_is_estimated_and_removed_with_gold():
    labels, realised = _panel()
    res = compute_consensus(labels, realised.iloc[:150])
    rel = res.reliability.set_index("expert_key")
    assert rel.loc["ex_high", "log_bias"] == pytest.approx(np.log(2), abs=0.1)
    assert abs(rel.loc["ex_fair", "log_bias"]) < 0.1
    assert rel.loc["ex_noisy", "weight"] < rel.loc["ex_fair", "weight"] / 5
    c = res.consensus.merge(realised.iloc[150:], on="lot_ref")
    assert _abs_log_error(c["consensus_usd"], c["hammer_usd"]) < 0.15


def test_prior_shrinks_a_newcomer():
    labels, _ = _panel(n_lots=100)
    newcomer = labels[labels["expert_key"] == "ex_fair"].head(2).assign(expert_key="ex_new")
    newcomer["value_point_usd"] *= 3.0
    res_weak = compute_consensus(pd.concat([labels, newcomer]), prior_weight=0.0)
    res_strong = compute_consensus(pd.concat([labels, newcomer]), prior_weight=4.0)
    bias = lambda r: r.reliability.set_index("expert_key").loc["ex_new", "log_bias"]  # noqa: E731
    assert abs(bias(res_strong)) < abs(bias(res_weak))


def _sim_errors(**spec):
    from gbv.crowd.simulate import PanelSpec, median_estimate, simulate_panel

    p = simulate_panel(PanelSpec(**spec))
    t = p.truth.set_index("lot_ref")
    gold = t[t["gold"]]
    realised = pd.DataFrame({"lot_ref": gold.index, "hammer_usd": np.exp(gold["realised_log"].to_numpy())})
    ev = t.index[~t["gold"]]
    res = compute_consensus(p.labels.drop(columns=["style"]), realised)
    ours = np.log(res.consensus.set_index("lot_ref")["consensus_usd"]).reindex(ev)
    err = lambda est: float(np.mean(np.abs(est.reindex(ev) - t["realised_log"].reindex(ev))))  # noqa: E731
    return err(ours), err(median_estimate(p.labels)), res, p


def test_adversarial_experts_are_read_through_their_calibration():
    """A third of the panel careless or adversarial (anti-correlated with the truth): well under 0.65 x the
    plain median's error, and an adversarial expert's label still counts (read through its negative slope)."""
    ours, median, res, panel = _sim_errors(items=500, unreliable=1 / 3, seed=5)
    assert ours < 0.65 * median
    rel = res.reliability.merge(panel.experts, on="expert_key").set_index("kind")
    # still counts: far from 0 (the true information ratio of the least informative adversarial expert to the
    # median reliable one is 0.12 in this panel, slope² / noise²; ignoring them would give about 0)
    assert rel.loc["adversarial", "weight"].min() > 0.05 * rel.loc["reliable", "weight"].median()
    assert rel.loc["careless", "weight"].max() < rel.loc["reliable", "weight"].min()
    assert np.isfinite(res.market_log_sd) and res.market_log_sd < 0.1  # no sale-day surprise in this panel


def test_no_standout_expert_means_no_calibration_noise():
    """When every expert is calibrated, slopes stay 1: the consensus is the bias-corrected weighted mean, as
    good as a model that knows slopes are 1."""
    import gbv.consensus as consensus

    ours, median, _, _ = _sim_errors(items=400, unreliable=0.0, seed=2)
    fixed = consensus.SLOPE_RANGE
    try:
        consensus.SLOPE_RANGE = (1.0, 1.0)
        flat, _, _, _ = _sim_errors(items=400, unreliable=0.0, seed=2)
    finally:
        consensus.SLOPE_RANGE = fixed
    assert ours == pytest.approx(flat, rel=0.01) and ours < median
