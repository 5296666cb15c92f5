"""Blocking checks of the labels domain."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.common import daily_partitions


@dg.asset_check(asset="validated_labels", blocking=True, partitions_def=daily_partitions,
                description="Accepted labels: label_id unique, low <= point <= high, all positive, no raw ids.")
def validated_labels_sound(validated_labels: pd.DataFrame) -> dg.AssetCheckResult:
    v = validated_labels
    problems = {
        "duplicate_label_id": int(v["label_id"].duplicated().sum()),
        "non_positive": int((pd.to_numeric(v["value_point"], errors="coerce") <= 0).sum()),
        "low_above_point": int((pd.to_numeric(v["value_low"]) > pd.to_numeric(v["value_point"])).sum()),
        "point_above_high": int((pd.to_numeric(v["value_point"]) > pd.to_numeric(v["value_high"])).sum()),
        "raw_expert_id_column": int("expert_id" in v.columns),
    }
    return dg.AssetCheckResult(passed=not any(problems.values()), metadata={**problems, "rows": len(v)})


@dg.asset_check(asset="consensus_labels", blocking=True, partitions_def=daily_partitions,
                description="One row per lot; consensus positive and inside its own low-high range.")
def consensus_in_range(consensus_labels: pd.DataFrame) -> dg.AssetCheckResult:
    c = consensus_labels
    problems = {
        "duplicate_lot_ref": int(c["lot_ref"].duplicated().sum()),
        "non_positive": int((~(c["consensus_usd"] > 0)).sum()),
        "outside_range": int(((c["consensus_usd"] < c["low_usd"] * (1 - 1e-9))
                              | (c["consensus_usd"] > c["high_usd"] * (1 + 1e-9))).sum()),
        "no_experts": int((c["n_experts"] < 1).sum()),
        "non_finite_spread": int((~np.isfinite(c["spread"].astype(float))).sum()),
    }
    return dg.AssetCheckResult(passed=not any(problems.values()), metadata={**problems, "rows": len(c)})


@dg.asset_check(asset="label_requests", blocking=True, partitions_def=daily_partitions,
                description="Requests: pseudonymous experts only, one per (lot, expert), within the budget.")
def label_requests_sound(label_requests: pd.DataFrame) -> dg.AssetCheckResult:
    from gbv.crowd.active import budget_from_env

    r = label_requests
    per_expert = r.groupby("expert_key").size() if len(r) else pd.Series(dtype=int)
    problems = {
        "not_pseudonymous": int((~r["expert_key"].astype(str).str.match(r"^ex_[0-9a-f]{16}$")).sum()),
        "duplicate_pair": int(r.duplicated(["lot_ref", "expert_key"]).sum()),
        "over_budget": int((per_expert > budget_from_env()).sum()),
    }
    return dg.AssetCheckResult(passed=not any(problems.values()), metadata={**problems, "rows": len(r)})
