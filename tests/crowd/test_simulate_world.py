"""Simulated answers of the demo world's experts, the world's labels as consensus input, the crowd benches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gbv.cli import main
from gbv.crowd.simulate import WORLD_LABEL_COLUMNS, simulate_world_answers, world_labels_usd


def test_answers_are_per_pair_and_follow_the_experts(small_world):
    w = small_world
    lots = w.truth["lot_ref"].head(300).tolist()
    careless = w.experts.loc[w.experts["careless"], "expert_id"].iloc[0]
    fair = w.experts.loc[~w.experts["careless"]].sort_values("noise")["expert_id"].iloc[0]
    req = pd.DataFrame({"lot_ref": lots * 2, "expert_key": [fair] * 300 + [careless] * 300})
    a = simulate_world_answers(w, req, seed=3)
    assert tuple(a.columns) == WORLD_LABEL_COLUMNS and len(a) == 600
    # the same pair gets the same answer whatever else is asked; another seed gives another answer
    b = simulate_world_answers(w, req.iloc[::-1].head(50), seed=3)
    merged = b.merge(a, on=["lot_ref", "expert_key"])
    np.testing.assert_allclose(merged["value_point_usd_x"], merged["value_point_usd_y"])
    assert not np.allclose(simulate_world_answers(w, req, seed=4)["value_point_usd"], a["value_point_usd"])
    truth = a["lot_ref"].map(w.truth.set_index("lot_ref")["true_value_usd"])
    err = np.log(a["value_point_usd"] / truth)
    ex = w.experts.set_index("expert_id")
    is_fair = a["expert_key"] == fair
    assert err[is_fair].std() == pytest.approx(ex.loc[fair, "noise"], rel=0.25)
    assert err[~is_fair].std() == pytest.approx(ex.loc[careless, "noise"], rel=0.25)
    assert err[~is_fair].mean() == pytest.approx(ex.loc[careless, "bias"], abs=0.2)
    assert (a["value_low_usd"] < a["value_point_usd"]).all() and (a["value_point_usd"] < a["value_high_usd"]).all()
    with pytest.raises(ValueError, match="unknown"):
        simulate_world_answers(w, pd.DataFrame({"lot_ref": [lots[0]], "expert_key": ["E999"]}))


def test_world_labels_in_usd_without_bad_rows(small_world):
    w = small_world
    lab = world_labels_usd(w)
    assert tuple(lab.columns) == WORLD_LABEL_COLUMNS and len(lab) > 0.9 * w.all_labels["label_id"].nunique()
    assert (lab["value_point_usd"] > 0).all() and (lab["value_low_usd"] <= lab["value_point_usd"]).all()
    assert "E999" not in set(lab["expert_key"])
    # converted to USD: the median label is near the true value whatever the label's currency
    truth = lab["lot_ref"].map(w.truth.set_index("lot_ref")["true_value_usd"])
    assert abs(float(np.median(np.log(lab["value_point_usd"] / truth)))) < 0.15


@pytest.mark.parametrize("argv, words", [
    (["bench", "consensus-value", "--lots", "1500", "--seeds", "1", "--weights", "0.5"],
     ["blend (model + consensus)", "labelled lots", "model + consensus feature + unsold target", "unsold_weight"]),
    (["bench", "active-learning", "--lots", "1500", "--seeds", "2", "--nights", "1"],
     ["policy", "random, 1 expert per lot", "paired over worlds"]),
])
def test_world_benches_print_their_tables(argv, words, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert all(w in out for w in words), out
