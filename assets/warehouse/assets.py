"""Warehouse domain: load the night into the star schema, write one feed per house, write the report."""


import dagster as dg
import pandas as pd

from assets.common import daily_partitions, settings_for, stage
from assets.resources import WarehouseResource
from gbv.faults import fault_point

GROUP = "warehouse"


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"duckdb", "postgres"},
          description="Conformed lots upserted into dim_artist, dim_artwork, dim_sale and fact_lot "
                      "(one transaction, keyed by natural keys).")
def warehouse_lots(context: dg.AssetExecutionContext, lots: pd.DataFrame, warehouse: WarehouseResource) -> None:
    from warehouse.loaders import upsert_lots

    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "warehouse_lots") as counts:
        counts["rows_out"] = upsert_lots(engine, lots, run_date)
    context.add_output_metadata({"rows": counts["rows_out"]})


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"duckdb", "postgres"},
          description="Accepted labels, tonight's consensus and expert reliability into the warehouse.")
def warehouse_labels(context: dg.AssetExecutionContext, validated_labels: pd.DataFrame,
                     consensus_labels: pd.DataFrame, expert_reliability: pd.DataFrame,
                     warehouse: WarehouseResource) -> None:
    from warehouse.loaders import replace_partition, upsert
    from warehouse.schema import fact_consensus_label, fact_expert_label, fact_expert_reliability

    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "warehouse_labels") as counts, engine.begin() as conn:
        labels = validated_labels.assign(run_date=run_date)
        labels["submitted_at"] = pd.to_datetime(labels["submitted_at"], utc=True).dt.tz_localize(None)
        n = upsert(conn, fact_expert_label, labels)
        replace_partition(conn, fact_consensus_label, consensus_labels, {"run_date": run_date})
        replace_partition(conn, fact_expert_reliability, expert_reliability, {"run_date": run_date})
        counts["rows_out"] = n
    context.add_output_metadata({"labels": n, "consensus_lots": len(consensus_labels)})


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"duckdb", "postgres"},
          description="Tonight's valuations into fact_valuation (the night's partition replaced whole).")
def warehouse_valuations(context: dg.AssetExecutionContext, valuations: pd.DataFrame,
                         warehouse: WarehouseResource) -> None:
    from warehouse.loaders import replace_partition
    from warehouse.schema import fact_valuation

    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "warehouse_valuations") as counts:
        counts["rows_out"] = replace_partition(engine, fact_valuation, valuations, {"run_date": run_date})
        fault_point("valuations_loaded")
    context.add_output_metadata({"rows": counts["rows_out"]})


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, deps=["warehouse_valuations"], kinds={"csv"},
          description="One estimate feed per auction house: feeds/<house>/<date>/ with estimates.csv, "
                      "manifest.json and _SUCCESS, written atomically; a house sees its own lots only.")
def estimate_feeds(context: dg.AssetExecutionContext, valuations: pd.DataFrame,
                   warehouse: WarehouseResource) -> dict:
    from sqlalchemy import select

    from warehouse.feeds import write_feed
    from warehouse.schema import dim_sale

    settings = settings_for(context)
    run_date = context.partition_key
    engine = warehouse.engine()
    with engine.connect() as conn:
        houses = sorted(set(conn.execute(select(dim_sale.c.house).distinct()).scalars()) |
                        set(valuations["house"].dropna()))
    written = {}
    with stage(engine, run_date, "estimate_feeds") as counts:
        for house in houses:
            rows = valuations[valuations["house"] == house]
            result = write_feed(settings, house, run_date, rows)
            written[house] = {"path": str(result.path), "rows": result.rows, "sha256": result.sha256}
            fault_point("feed_written")
        counts["rows_out"] = sum(v["rows"] for v in written.values())
    context.add_output_metadata({"feeds": dg.MetadataValue.json(written)})
    return written


# the report's market section reads tonight's marts and alerts, so it runs after them
REPORT_MARTS = ("mart_price_index", "mart_artist_market", "mart_latest_valuation", "mart_valuation_accuracy",
                "mart_valuation_accuracy_by_period", "marts_docs")


@dg.asset(partitions_def=daily_partitions, group_name=GROUP,
          deps=["estimate_feeds", "warehouse_labels", "warehouse_lots", "market_alerts",
                *(dg.AssetKey(k) for k in REPORT_MARTS)], kinds={"html"},
          description="Static HTML report of the night for maintainers and analysts: counts per stage, "
                      "quarantine, model metrics, valuation plots, and the market (price index, top movers, "
                      "tonight's alerts).")
def nightly_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dict:
    from gbv.report import build_report

    settings = settings_for(context)
    engine = warehouse.engine()
    with stage(engine, context.partition_key, "nightly_report"):
        path = build_report(engine, settings, context.partition_key)
        fault_point("report_written")
    context.add_output_metadata({"report": dg.MetadataValue.path(str(path))})
    return {"path": str(path)}
