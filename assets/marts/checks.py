"""Blocking checks of the marts domain (the dbt tests are checks of the dbt assets themselves)."""


import dagster as dg

from assets.common import daily_partitions
from assets.resources import WarehouseResource


@dg.asset_check(asset="price_index", blocking=True, partitions_def=daily_partitions,
                description="fact_price_index holds this night's series; a gap has no value and every estimate "
                            "lies inside its 90% band.")
def price_index_consistent(context: dg.AssetCheckExecutionContext,
                           warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import pandas as pd
    from sqlalchemy import func, select

    from warehouse.db import dispose_engines
    from warehouse.schema import fact_lot, fact_price_index

    engine = warehouse.engine()
    try:
        with engine.connect() as conn:
            idx = pd.read_sql(select(fact_price_index), conn)
            sold = conn.execute(select(func.count()).select_from(fact_lot)
                                .where(fact_lot.c.status == "sold")).scalar()
    finally:
        dispose_engines()
    gap = idx["is_gap"].astype(bool)
    value = idx["index_value"]
    problems = {
        "gap_with_value": int((gap & value.notna()).sum()),
        "estimate_without_value": int((~gap & value.isna()).sum()),
        "outside_band": int((~gap & ((idx["ci90_low"] > value + 1e-9) | (idx["ci90_high"] < value - 1e-9))).sum()),
        "stale_rows": int((pd.to_datetime(idx["run_date"]).dt.date.astype(str) != context.partition_key).sum()),
        "no_series_despite_sales": int(sold > 0 and idx.empty),
    }
    return dg.AssetCheckResult(passed=not any(problems.values()),
                               metadata={**problems, "rows": len(idx), "gaps": int(gap.sum())})
