"""Market domain: tonight's market alerts (surprise results, momentum breaks, estimate drift, suspicious
trades) into ``market_alert`` and one alerts folder per house, beside its feed."""


import datetime as dt

import dagster as dg

from assets.common import daily_partitions, settings_for, stage
from assets.resources import WarehouseResource

GROUP = "market"


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, deps=["warehouse_valuations", "warehouse_lots"],
          kinds={"usearch", "csv"},
          description="Market alerts for the sales of the week before the night (and drift of tonight's "
                      "valued estimates): market_alert rows and alerts/<house>/<date>/ per house, its own lots "
                      "only, written atomically; the comparables index is refreshed on the way.")
def market_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dict:
    from gbv.market.alerts import NIGHT_WINDOW_DAYS, alerts_for_window, publish

    settings = settings_for(context)
    run_date = context.partition_key
    night = dt.date.fromisoformat(run_date)
    engine = warehouse.engine()
    with stage(engine, run_date, "market_alerts") as counts:
        run = alerts_for_window(engine, settings, night - dt.timedelta(days=NIGHT_WINDOW_DAYS),
                                night - dt.timedelta(days=1), drift_run_date=night)
        written = publish(engine, settings, run_date, run)
        counts.update(rows_in=run.window_lots, rows_out=len(run.alerts))
    context.log.info(run.message)
    by_type = {k: int(v) for k, v in run.alerts["alert_type"].value_counts().items()}
    context.add_output_metadata({"alerts": len(run.alerts), "by_type": dg.MetadataValue.json(by_type),
                                 "message": run.message, "houses": dg.MetadataValue.json(written)})
    return {"alerts": len(run.alerts), "houses": written, "message": run.message}
