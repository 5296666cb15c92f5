"""Marts domain: the price indices (Python, statsmodels) and the dbt marts over the warehouse, then the dbt docs.

``price_index`` estimates the hedonic and repeat-sales indices from the warehouse's sales into
``fact_price_index`` / ``fact_artist_price_level``; the dbt project in ``warehouse/dbt`` builds the marts
(``mart_price_index``, ``mart_artist_market``, ``mart_latest_valuation``, ``mart_valuation_accuracy``,
``mart_valuation_accuracy_by_period``) with its tests as blocking asset checks; ``marts_docs`` writes the static
dbt docs site to ``$GBV_HOME/dbt_docs/``. The dbt sources are mapped onto the assets that load those tables, so
the marts run after the night's warehouse loads. The embedded DuckDB file takes one process at a time: every
step here releases this process's engines before dbt opens the file.
"""


from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from assets.common import RETRY, daily_partitions, settings_for, stage
from assets.marts.resources import dbt_project
from assets.resources import WarehouseResource
from gbv.market.dbt import apply_dbt_env, ensure_manifest, publish_docs, target_dir

GROUP = "marts"

# dbt source table -> the Dagster asset that loads it each night
SOURCE_ASSETS = {
    "dim_artist": "warehouse_lots", "dim_artwork": "warehouse_lots", "dim_sale": "warehouse_lots",
    "fact_lot": "warehouse_lots", "fact_valuation": "warehouse_valuations",
    "fact_price_index": "price_index", "fact_artist_price_level": "price_index",
}


class GbvDbtTranslator(DagsterDbtTranslator):
    """dbt models keep their names as asset keys in the ``marts`` group; sources become the loading assets."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            name = dbt_resource_props["name"]
            if name not in SOURCE_ASSETS:
                raise KeyError(f"dbt source {name!r} has no loading asset: add it to SOURCE_ASSETS in {__file__}")
            return dg.AssetKey(SOURCE_ASSETS[name])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


TRANSLATOR = GbvDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True,
                                                                    enable_duplicate_source_asset_keys=True))


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, deps=["warehouse_lots"], retry_policy=RETRY,
          kinds={"python", "duckdb", "postgres"},
          description="Hedonic (time-dummy, artist fixed effects) and Case–Shiller repeat-sales price indices, "
                      "monthly and quarterly, overall and by segment, with 90% bands; gaps stay gaps "
                      "(gbv.market.index -> fact_price_index, fact_artist_price_level).")
def price_index(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    from gbv.market.index import build_indices, read_sales, store_indices
    from warehouse.db import dispose_engines

    engine = warehouse.engine()
    try:
        with stage(engine, context.partition_key, "price_index") as counts:
            sales = read_sales(engine)
            build = build_indices(sales)
            counts["rows_in"] = len(sales)
            counts["rows_out"] = store_indices(engine, build, context.partition_key)
    finally:
        dispose_engines()  # free the DuckDB file for dbt
    context.add_output_metadata({
        "series_rows": counts["rows_out"], "gaps": int(build.index["is_gap"].sum()) if len(build.index) else 0,
        "sales": len(sales), "repeat_sale_pairs": len(build.pairs), "seconds": round(build.seconds, 2)})


@dbt_assets(manifest=ensure_manifest(), project=dbt_project, dagster_dbt_translator=TRANSLATOR,
            partitions_def=daily_partitions, name="marts_dbt", retry_policy=RETRY)
def marts_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator:
    """``dbt build`` of the marts and their tests against the configured warehouse."""
    from warehouse.db import dispose_engines

    settings = warehouse.settings()
    dispose_engines()
    apply_dbt_env(settings)
    out = target_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    yield from dbt.cli(["build"], context=context, target_path=out).stream()


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"dbt", "html"}, retry_policy=RETRY,
          deps=[dg.AssetKey(k) for k in ("mart_price_index", "mart_artist_market", "mart_latest_valuation",
                                          "mart_valuation_accuracy", "mart_valuation_accuracy_by_period")],
          description="The dbt docs site of the marts (every column's meaning, unit and currency basis, lineage) "
                      "as one static page: $GBV_HOME/dbt_docs/index.html.")
def marts_docs(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> dict:
    from warehouse.db import dispose_engines

    settings = warehouse.settings()
    settings_for(context)
    dispose_engines()
    apply_dbt_env(settings)
    out = target_dir(settings)  # the build's target: dbt parses partially from its partial_parse.msgpack
    out.mkdir(parents=True, exist_ok=True)
    dbt.cli(["docs", "generate", "--static"], target_path=out, manifest=dbt_project.manifest_path).wait()
    path = publish_docs(settings, out)
    context.add_output_metadata({"docs": dg.MetadataValue.path(str(path))})
    return {"path": str(path)}
