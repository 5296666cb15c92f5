"""Blocking checks of the crawl domain: nothing flows on from an empty, duplicated or nonsensical night."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.common import daily_partitions


@dg.asset_check(asset="staged_lots", blocking=True, partitions_def=daily_partitions,
                description="At least one item landed tonight.")
def staged_lots_not_empty(staged_lots: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=len(staged_lots) > 0, metadata={"rows": len(staged_lots)})


@dg.asset_check(asset="lots", blocking=True, partitions_def=daily_partitions,
                description="lot_ref is unique.")
def lots_keys_unique(lots: pd.DataFrame) -> dg.AssetCheckResult:
    dupes = int(lots["lot_ref"].duplicated().sum())
    return dg.AssetCheckResult(passed=dupes == 0 and len(lots) > 0,
                               metadata={"duplicates": dupes, "rows": len(lots)})


@dg.asset_check(asset="lots", blocking=True, partitions_def=daily_partitions,
                description="Prices positive where sold, estimate low <= high, sizes and years plausible.")
def lots_values_in_range(lots: pd.DataFrame) -> dg.AssetCheckResult:
    sold = lots["status"] == "sold"
    problems = {
        "sold_without_positive_hammer": int((sold & ~(lots["hammer_usd"] > 0)).sum()),
        "estimate_low_above_high": int((lots["estimate_low"] > lots["estimate_high"]).sum()),
        "non_positive_estimate": int((lots["estimate_low"] <= 0).sum()),
        "implausible_size": int(((lots["height_cm"] <= 0) | (lots["height_cm"] > 2000)).sum()),
        "implausible_year": int(((lots["year_created"] < 1000) | (lots["year_created"] > 2030)).sum()),
        "unknown_status": int((~lots["status"].isin(["sold", "bought_in", "upcoming", "withdrawn"])).sum()),
    }
    return dg.AssetCheckResult(passed=not any(problems.values()), metadata=problems)


@dg.asset_check(asset="artists", blocking=True, partitions_def=daily_partitions,
                description="artist_id unique; life dates ordered.")
def artists_consistent(artists: pd.DataFrame) -> dg.AssetCheckResult:
    dupes = int(artists["artist_id"].duplicated().sum())
    birth = pd.to_numeric(artists["artist_birth_year"], errors="coerce")
    death = pd.to_numeric(artists["artist_death_year"], errors="coerce")
    bad_dates = int(np.sum((death < birth).fillna(False).to_numpy()))
    return dg.AssetCheckResult(passed=dupes == 0 and bad_dates == 0,
                               metadata={"duplicates": dupes, "death_before_birth": bad_dates})
