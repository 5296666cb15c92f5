"""Model domain: champion model (trained when none exists) -> features -> valuations of upcoming lots."""


import datetime as dt
import gc

import dagster as dg
import pandas as pd

from assets.common import daily_partitions, settings_for, stage
from assets.resources import ComputeResource, ModelStoreResource, WarehouseResource

GROUP = "model"


def _lots_to_value(lots: pd.DataFrame) -> pd.DataFrame:
    return lots[lots["status"] == "upcoming"].sort_values("lot_ref").reset_index(drop=True)


# after warehouse_labels: a champion trained on the first night (none yet) reads tonight's expert labels from the
# warehouse like any retrain does (its snapshot's pre-sale consensus), not a warehouse without them
@dg.asset(partitions_def=daily_partitions, group_name=GROUP, deps=["warehouse_lots", "warehouse_labels"],
          kinds={"lightgbm"},
          description="The champion valuation model from the registry; trained and promoted from the "
                      "warehouse's sales and expert labels when no champion exists yet (Airflow retrains it "
                      "weekly).")
def champion_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   compute: ComputeResource) -> dict:
    from model.train import ensure_champion

    settings = settings_for(context)
    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "champion_model"):
        version = ensure_champion(engine, settings, dt.date.fromisoformat(run_date))
    context.add_output_metadata({"model_version": version, "device": compute.resolve()})
    return {"model_version": version}


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, deps=["warehouse_lots"], kinds={"pandas"},
          description="Model features of tonight's upcoming lots: size, medium, age, sale context and the "
                      "artist's sales history strictly before each sale date.")
def features(context: dg.AssetExecutionContext, lots: pd.DataFrame, warehouse: WarehouseResource) -> pd.DataFrame:
    from model.features import build_features
    from warehouse.io import read_lots

    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "features") as counts:
        to_value = _lots_to_value(lots)
        history = read_lots(engine, before=dt.date.fromisoformat(run_date))
        feats = build_features(to_value, history)
        counts.update(rows_in=len(to_value), rows_out=len(feats))
    return feats


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"pandas", "usearch"}, deps=["price_index"],
          description="Valuations of upcoming lots by the champion: estimate, 80% range, expert consensus "
                      "value, confidence, comparable sales (the comparables index's, prices brought to the "
                      "lot's sale date by tonight's price index) and a short explanation (USD, hammer basis). "
                      "Refreshes the persisted comparables index (market_alerts then finds it up to date).")
def valuations(context: dg.AssetExecutionContext, lots: pd.DataFrame, features: pd.DataFrame,
               champion_model: dict, consensus_labels: pd.DataFrame, warehouse: WarehouseResource,
               model_store: ModelStoreResource) -> pd.DataFrame:
    from model.predict import comparables_search, value_lots
    from model.recalibrate import RollingRecalibration, describe_windows
    from warehouse.io import read_lots

    settings = settings_for(context)
    run_date = context.partition_key
    night = dt.date.fromisoformat(run_date)
    engine = warehouse.engine()
    with stage(engine, run_date, "valuations") as counts:
        store = model_store.store(engine)
        champion = store.champion()
        if champion is None:
            raise RuntimeError("no champion model in the registry; materialize champion_model first")
        version, valuer = champion
        to_value = _lots_to_value(lots)
        # comparables first, from the lean index refresh, and the index let go before the history is read: the
        # two never share the step's memory (a million-lot night)
        search = comparables_search(engine, settings, before=night) if len(to_value) else None
        found, adjusted = None, False
        if search is not None:
            adjusted = search.adjusted
            try:
                found = search.find(to_value)
            except Exception as exc:  # noqa: BLE001 - a worse explanation, never a lost night
                search.failed = f"{type(exc).__name__}: {exc}"
                context.log.warning(f"comparables search failed ({search.failed}): same-artist comparables at raw "
                                    "prices instead")
            search.index = search.embedder = None
            gc.collect()
        history = read_lots(engine, before=night)
        recalibration = RollingRecalibration()
        out = value_lots(valuer, version, to_value, history, consensus_labels, found_comparables=found,
                         found_adjusted=adjusted, recalibration=recalibration)
        out = out.merge(to_value[["lot_ref", "house"]], on="lot_ref", how="left")
        counts.update(rows_in=len(to_value), rows_out=len(out))
    context.add_output_metadata({"model_version": version, "lots_valued": len(out),
                                 "with_expert_value": int(out["expert_value_usd"].notna().sum()),
                                 "comparables": "comparables index (index-adjusted prices)"
                                 if search is not None and search.failed is None
                                 else "fallback: same-artist comparables at raw prices (see the log)",
                                 "ranges": describe_windows(recalibration.last)})
    return out
