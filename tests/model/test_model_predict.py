import math
import re

import numpy as np
import pandas as pd

from gbv.contracts import VALUATION_COLUMNS
from model.predict import find_comparables, value_lots


def _upcoming(world):
    return world.lots[world.lots["status"] == "upcoming"]


def test_value_lots_columns_and_values(lgbm, world, offered):
    lots = _upcoming(world)
    ref = lots["lot_ref"].iloc[0]
    consensus = pd.DataFrame({"lot_ref": [ref], "consensus_usd": [12345.6]})
    out = value_lots(lgbm, "lgbm_baseline-test", lots, offered, consensus)
    assert list(out.columns) == list(VALUATION_COLUMNS)
    assert len(out) == len(lots) and out["lot_ref"].is_monotonic_increasing
    assert (out["low_usd"] <= out["estimate_usd"]).all() and (out["estimate_usd"] <= out["high_usd"]).all()
    assert ((out["confidence"] > 0) & (out["confidence"] <= 1)).all()
    row = out.set_index("lot_ref").loc[ref]
    assert row["expert_value_usd"] == 12346.0
    assert out["expert_value_usd"].isna().sum() == len(out) - 1
    assert (out["model_version"] == "lgbm_baseline-test").all()
    assert math.isclose(row["confidence"], round(math.sqrt(row["low_usd"] / row["high_usd"]), 3), abs_tol=0.002)
    pattern = re.compile(r"^[^@;]+@USD \d+@\d{4}-\d{2}-\d{2}$")
    for comps in out["comparables"]:
        items = comps.split("; ")
        assert 1 <= len(items) <= 5 and all(pattern.match(i) for i in items)
    assert out["explanation"].str.len().gt(10).all()


def test_value_lots_is_deterministic(lgbm, world, offered):
    lots = _upcoming(world)
    a = value_lots(lgbm, "v", lots, offered, None).to_csv(index=False)
    b = value_lots(lgbm, "v", lots.iloc[::-1], offered.sample(frac=1.0, random_state=1), None).to_csv(index=False)
    assert a == b


def test_comparables_are_past_sold_lots_same_artist_first(world, offered):
    lots = offered[offered["status"] == "sold"].tail(40)
    comps = find_comparables(lots, offered)
    by_ref = offered.set_index("lot_ref")
    for (_, lot), found in zip(lots.iterrows(), comps, strict=True):
        artists = [by_ref.loc[r, "artist_id"] for r, _, _ in found]
        assert all(by_ref.loc[r, "status"] == "sold" and by_ref.loc[r, "sale_date"] < lot["sale_date"]
                   for r, _, _ in found)
        same = [a == lot["artist_id"] for a in artists]
        assert same == sorted(same, reverse=True)  # same-artist comparables come first


def test_explanation_names_the_lot_and_sale_context():
    from model.predict import explain

    base = {"prior_n_sold": 40, "prior_median_log_usd": np.log(20_000), "log_area": np.log(100 * 80),
            "medium_class": "painting"}
    plain = explain(pd.Series(base), 30_000.0, [])
    assert plain.startswith("Artist median of 40 prior sales $20,000") and "typically" not in plain
    rich = explain(pd.Series({**base, "am_prior_n_sold": 12, "am_prior_mean_log_usd": np.log(90_000),
                              "log_area_vs_artist_medium": np.log(3.0), "evening_sale": 1.0, "lot_number_num": 4,
                              "lot_position": 0.05, "sale_lots": 80, "title_prior_n_sold": 3,
                              "title_prior_mean_log_usd": np.log(45_000)}), 30_000.0, [])
    assert "the artist's 12 prior painting sales typically $90,000" in rich
    assert "3 earlier sales of the same title (painting) typically $45,000" in rich
    assert "3.0x larger than the artist's usual painting" in rich
    assert "offered in an evening sale" in rich and "an early lot (lot 4; 80 lots in the sale)" in rich
    # nothing to say when the context is missing or unremarkable
    quiet = explain(pd.Series({**base, "am_prior_n_sold": 0, "am_prior_mean_log_usd": np.nan,
                               "log_area_vs_artist_medium": 0.1, "evening_sale": 0.0, "lot_number_num": 40,
                               "lot_position": 0.5, "sale_lots": 80, "title_prior_n_sold": 0,
                               "title_prior_mean_log_usd": np.nan}), 30_000.0, [])
    assert quiet == plain
