"""Blocking checks of the model domain: a valuation leaves only if it is whole and coherent."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.common import daily_partitions


@dg.asset_check(asset="valuations", blocking=True, partitions_def=daily_partitions,
                additional_ins={"lots": dg.AssetIn("lots")},
                description="Every upcoming lot valued once; low <= estimate <= high; all finite and positive.")
def valuations_complete_and_ordered(valuations: pd.DataFrame, lots: pd.DataFrame) -> dg.AssetCheckResult:
    v = valuations
    upcoming = set(lots.loc[lots["status"] == "upcoming", "lot_ref"])
    est, low, high = (v[c].astype(float).to_numpy() for c in ("estimate_usd", "low_usd", "high_usd"))
    problems = {
        "duplicate_lot_ref": int(v["lot_ref"].duplicated().sum()),
        "missing_valuations": len(upcoming - set(v["lot_ref"])),
        "unexpected_lots": len(set(v["lot_ref"]) - upcoming),
        "not_finite_or_positive": int((~(np.isfinite(est) & (est > 0))).sum()),
        "range_not_ordered": int(((low > est) | (est > high)).sum()),
        "confidence_outside_0_1": int((~v["confidence"].between(0, 1)).sum()),
        "no_house": int(v["house"].isna().sum()),
    }
    return dg.AssetCheckResult(passed=not any(problems.values()), metadata={**problems, "rows": len(v)})
