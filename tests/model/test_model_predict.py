import math
import re

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
