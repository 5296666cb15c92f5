"""Labels domain: the labelling tool's export -> GX-validated labels (rest quarantined) -> consensus."""



import dagster as dg
import pandas as pd

from assets.common import daily_partitions, settings_for, stage
from assets.resources import SourcesResource, WarehouseResource

GROUP = "labels"
LABEL_SOURCE = "labelling_tool"


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"pandas"},
          description="Tonight's export of expert labels (label CSV intake format) and the expert roster, "
                      "landed unchanged in raw/labels/<date>/.")
def expert_labels(context: dg.AssetExecutionContext, sources: SourcesResource,
                  warehouse: WarehouseResource) -> dict:
    """Land tonight's export and return where it is: raw expert ids stay in the landing zone (the labelling
    tool's export) and never reach the stage files."""
    settings = settings_for(context)
    run_date = context.partition_key
    folder = settings.raw_path("labels", run_date)
    labels_csv, roster_csv = folder / "labels.csv", folder / "experts.csv"
    with stage(warehouse.engine(), run_date, "expert_labels") as counts:
        if not labels_csv.exists() and sources.mode == "demo":
            from gbv.demo.serve import land_label_export

            land_label_export(settings, sources.world(), run_date)
        if not labels_csv.exists():
            raise FileNotFoundError(f"no label export for {run_date}: expected {labels_csv}")
        labels = _read_export(labels_csv)
        counts["rows_in"] = counts["rows_out"] = len(labels)
    context.add_output_metadata({"labels": len(labels), "file": str(labels_csv)})
    return {"file": str(labels_csv), "roster": str(roster_csv), "rows": len(labels)}


def _read_export(path) -> pd.DataFrame:  # noqa: ANN001
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"great_expectations"}, deps=["warehouse_lots"],
          description="Labels that pass the GX suite 'expert_labels' (with the warehouse's lots: unknown lot, "
                      "submitted after the sale; outliers against the leave-one-out consensus); failing rows "
                      "go to quarantine with the reason; Data Docs under GBV_HOME/data_docs.")
def validated_labels(context: dg.AssetExecutionContext, expert_labels: dict,
                     warehouse: WarehouseResource) -> pd.DataFrame:
    from gbv.crowd.labels import warehouse_lot_dates
    from quality.labels import outlier_k_from_env, validate_labels
    from warehouse.io import read_consensus
    from warehouse.loaders import load_quarantine

    settings = settings_for(context)
    run_date = context.partition_key
    engine = warehouse.engine()
    from pathlib import Path

    roster = Path(expert_labels["roster"])
    known = pd.read_csv(roster, dtype=str)["expert_id"].tolist() if roster.exists() else []
    export = _read_export(Path(expert_labels["file"]))
    with stage(engine, run_date, "validated_labels") as counts:
        result = validate_labels(export, known, run_date,
                                 LABEL_SOURCE, salt=settings.expert_salt, docs_dir=settings.data_docs_dir,
                                 gx_dir=settings.gx_dir, lots=warehouse_lot_dates(engine),
                                 outlier_k=outlier_k_from_env(),
                                 current_consensus=_previous_consensus(engine, run_date, read_consensus))
        load_quarantine(engine, result.quarantine, run_date, "labels", sources=[LABEL_SOURCE])
        counts.update(rows_in=len(export), rows_out=len(result.accepted),
                      rows_quarantined=int(result.quarantine["row_number"].nunique())
                      if len(result.quarantine) else 0)
    context.add_output_metadata({
        "accepted": len(result.accepted), "quarantined_rows": counts["rows_quarantined"],
        "data_docs": str(result.docs_index) if result.docs_index else "",
        "reasons": dg.MetadataValue.json(result.quarantine["reason"].value_counts().to_dict()
                                         if len(result.quarantine) else {}),
    })
    return result.accepted


def _previous_consensus(engine, run_date: str, read_consensus) -> pd.DataFrame:  # noqa: ANN001
    """The latest consensus of a night before ``run_date`` (re-running a night never sees its own output)."""
    import datetime as dt

    from sqlalchemy import func, select

    from warehouse.schema import fact_consensus_label as t

    with engine.connect() as conn:
        night = conn.execute(select(func.max(t.c.run_date)).where(
            t.c.run_date < dt.date.fromisoformat(run_date))).scalar()
    return read_consensus(engine, night) if night is not None else None


def _stored_labels(engine, exclude_ids: set[str]) -> pd.DataFrame:  # noqa: ANN001
    """Accepted labels already in fact_expert_label (e.g. from ``gbv labels import``) not in tonight's export."""
    from sqlalchemy import select

    from warehouse.schema import fact_expert_label as t

    cols = [t.c.label_id, t.c.lot_ref, t.c.expert_key, t.c.value_low_usd, t.c.value_point_usd,
            t.c.value_high_usd, t.c.submitted_at, t.c.style]
    with engine.connect() as conn:
        stored = pd.read_sql(select(*cols), conn)
    return stored[~stored["label_id"].isin(exclude_ids)].reset_index(drop=True)


@dg.multi_asset(
    partitions_def=daily_partitions, group_name=GROUP, deps=["warehouse_lots"],
    outs={
        "consensus_labels": dg.AssetOut(kinds={"crowd-kit"}, description=(
            "Reliability-weighted expert consensus per lot: value on the log scale (USD, hammer basis) with "
            "its spread and expert count, style by a crowd-kit aggregator.")),
        "expert_reliability": dg.AssetOut(kinds={"pandas"}, description=(
            "Each expert's (pseudonymous) reliability: agreement with the others and with realised prices.")),
    },
)
def consensus(context: dg.AssetExecutionContext, validated_labels: pd.DataFrame, warehouse: WarehouseResource):
    from gbv.consensus import compute_consensus
    from warehouse.io import read_lots

    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "consensus_labels") as counts:
        history = read_lots(engine)
        realised = history.loc[history["status"] == "sold", ["lot_ref", "hammer_usd"]]
        stored = _stored_labels(engine, set(validated_labels["label_id"].astype(str)))
        stored = stored[stored["lot_ref"].isin(set(history["lot_ref"]))]
        labels = pd.concat([validated_labels, stored], ignore_index=True) if len(stored) else validated_labels
        result = compute_consensus(labels, realised)
        counts.update(rows_in=len(validated_labels), rows_out=len(result.consensus))
    reliability = result.reliability.sort_values("weight").reset_index(drop=True)
    context.log.info("consensus for %d lots from %d experts", len(result.consensus), len(reliability))
    return result.consensus, reliability


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"pandas"},
          deps=["warehouse_lots", "warehouse_labels"],
          description="Tonight's label requests (active learning): upcoming lots with the largest model "
                      "uncertainty x value, thinly traded artists and expert disagreement, each sent to the "
                      "pseudonymous expert with the best proven accuracy in the lot's medium class who has "
                      "GBV_LABEL_BUDGET labels left (column why says why); stored in label_request.")
def label_requests(context: dg.AssetExecutionContext, valuations: pd.DataFrame, consensus_labels: pd.DataFrame,
                   warehouse: WarehouseResource) -> pd.DataFrame:
    import datetime as dt

    from sqlalchemy import select

    from gbv.crowd.active import (
        assign_requests,
        budget_from_env,
        ensure_request_table,
        route_for_lots,
        score_lots,
    )
    from gbv.privacy import pseudonymize
    from warehouse.io import read_lots
    from warehouse.loaders import replace_partition
    from warehouse.schema import fact_expert_label, label_request

    settings = settings_for(context)
    run_date = context.partition_key
    engine = warehouse.engine()
    roster = settings.raw_path("labels", run_date) / "experts.csv"
    with stage(engine, run_date, "label_requests") as counts:
        ids = pd.read_csv(roster, dtype=str)["expert_id"].dropna().tolist() if roster.exists() else []
        keys = [pseudonymize(e, settings.expert_salt) for e in ids]
        history = read_lots(engine)
        upcoming = history[history["status"] == "upcoming"]
        with engine.connect() as conn:
            labels = pd.read_sql(select(fact_expert_label.c.lot_ref, fact_expert_label.c.expert_key,
                                        fact_expert_label.c.value_point_usd), conn)
        scored = score_lots(upcoming, valuations, history, consensus_labels)
        routing = route_for_lots(upcoming, labels, history, keys)  # proven accuracy per medium class
        req = assign_requests(scored, keys, run_date, budget_per_expert=budget_from_env(),
                              done=set(zip(labels["lot_ref"], labels["expert_key"], strict=True)), routing=routing)
        ensure_request_table(engine)
        replace_partition(engine, label_request, req.assign(run_date=dt.date.fromisoformat(run_date)),
                          {"run_date": run_date})
        counts.update(rows_in=len(upcoming), rows_out=len(req))
    context.add_output_metadata({"requests": len(req), "lots": int(req["lot_ref"].nunique()),
                                 "experts": len(keys)})
    return req
