"""The predicted expert value: a robust mapping from the market model to the consensus, and how value_lots uses it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from model.expert import MIN_LABELLED, fit_expert_mapping
from model.predict import value_lots


def test_mapping_recovers_a_linear_relation_despite_gross_outliers():
    rng = np.random.default_rng(3)
    x = rng.normal(9.0, 1.5, 400)
    y = 0.4 + 0.85 * (x - 9.0) + 9.0 + rng.normal(0, 0.1, 400)
    y[::10] += rng.choice([-4.0, 4.0], 40)  # one label in ten is wildly off
    m = fit_expert_mapping(x, y)
    assert abs(m.slope - 0.85) < 0.03 and abs(m.predict(np.array([m.centre]))[0] - (9.4 + 0.85 * (m.centre - 9))) < 0.05
    assert m.n == 400 and 0.04 < m.mdale_in_sample < 0.15
    assert fit_expert_mapping(x[:MIN_LABELLED - 1], y[:MIN_LABELLED - 1]) is None
    assert fit_expert_mapping(np.r_[x[:40], np.nan], np.r_[y[:40], 1.0]).n == 40  # non-finite pairs are dropped


def _labelled_history(lgbm, offered: pd.DataFrame, n: int, factor: float) -> pd.DataFrame:
    """A consensus for ``n`` past lots at ``factor`` x the model's own point-in-time estimate."""
    past = offered[offered["status"] == "sold"].tail(n)
    pred = lgbm.predict(past, offered)["pred_log_usd"].to_numpy()
    return pd.DataFrame({"lot_ref": past["lot_ref"].to_numpy(), "consensus_usd": factor * np.exp(pred)})


def test_unlabelled_lots_get_the_predicted_expert_value_and_labelled_ones_keep_the_consensus(lgbm, world, offered):
    lots = world.lots[world.lots["status"] == "upcoming"].head(40)
    consensus = _labelled_history(lgbm, offered, 60, 0.8)
    labelled_ref = lots["lot_ref"].iloc[0]
    consensus = pd.concat([consensus, pd.DataFrame({"lot_ref": [labelled_ref], "consensus_usd": [4321.4]})])

    plain = value_lots(lgbm, "v", lots, offered, consensus).set_index("lot_ref")
    assert plain["expert_value_usd"].notna().sum() == 1  # the default: the consensus only, as before

    out = value_lots(lgbm, "v", lots, offered, consensus, predict_expert=True).set_index("lot_ref")
    assert out.loc[labelled_ref, "expert_value_usd"] == 4321.0
    assert "predicted" not in out.loc[labelled_ref, "explanation"]
    others = out.drop(index=labelled_ref)
    assert others["expert_value_usd"].notna().all()
    # the experts valued 0.8x the model on the labelled lots, so that is what is predicted where they have not yet
    ratio = others["expert_value_usd"] / others["estimate_usd"]
    assert np.allclose(ratio, 0.8, atol=0.02)
    assert others["explanation"].str.contains("expert value predicted").all()
    cols = ["estimate_usd", "low_usd", "high_usd", "confidence", "comparables"]
    pd.testing.assert_frame_equal(out[cols], plain[cols])  # nothing else moves

    # deterministic: the same feed whatever the row order of lots, history and consensus
    again = value_lots(lgbm, "v", lots.iloc[::-1], offered.sample(frac=1.0, random_state=2),
                       consensus.iloc[::-1], predict_expert=True)
    assert again.to_csv(index=False) == out.reset_index().to_csv(index=False)


def test_too_few_labelled_lots_predict_nothing(lgbm, world, offered):
    lots = world.lots[world.lots["status"] == "upcoming"].head(10)
    consensus = _labelled_history(lgbm, offered, MIN_LABELLED - 1, 1.5)
    out = value_lots(lgbm, "v", lots, offered, consensus, predict_expert=True)
    assert out["expert_value_usd"].isna().all()
    assert not math.isnan(out["estimate_usd"].iloc[0])
