"""Labels domain: the labelling tool's export -> GX-validated labels (rest quarantined) -> consensus."""


import os
import uuid

import dagster as dg
import pandas as pd

from assets.common import daily_partitions, settings_for, stage
from assets.resources import SourcesResource, WarehouseResource

GROUP = "labels"
LABEL_SOURCE = "labelling_tool"


def _write_atomic_csv(df: pd.DataFrame, path) -> None:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    df.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, path)


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"pandas"},
          description="Tonight's export of expert labels (label CSV intake format) and the expert roster, "
                      "landed unchanged in raw/labels/<date>/.")
def expert_labels(context: dg.AssetExecutionContext, sources: SourcesResource,
                  warehouse: WarehouseResource) -> pd.DataFrame:
    settings = settings_for(context)
    run_date = context.partition_key
    folder = settings.raw_path("labels", run_date)
    labels_csv, roster_csv = folder / "labels.csv", folder / "experts.csv"
    with stage(warehouse.engine(), run_date, "expert_labels") as counts:
        if not labels_csv.exists() and sources.mode == "demo":
            import datetime as dt

            world = sources.world()
            _write_atomic_csv(world.experts[["expert_id", "display_name", "speciality", "joined_at"]], roster_csv)
            _write_atomic_csv(world.labels_as_of(dt.date.fromisoformat(run_date)), labels_csv)
        if not labels_csv.exists():
            raise FileNotFoundError(f"no label export for {run_date}: expected {labels_csv}")
        labels = pd.read_csv(labels_csv, dtype=str, keep_default_na=False, na_values=[""])
        labels["row_number"] = range(1, len(labels) + 1)
        counts["rows_in"] = counts["rows_out"] = len(labels)
    context.add_output_metadata({"labels": len(labels), "file": str(labels_csv)})
    return labels


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"great_expectations"},
          description="Labels that pass the GX suite 'expert_labels'; failing rows go to quarantine with the "
                      "reason; Data Docs under GBV_HOME/data_docs.")
def validated_labels(context: dg.AssetExecutionContext, expert_labels: pd.DataFrame,
                     warehouse: WarehouseResource) -> pd.DataFrame:
    from quality.labels import validate_labels
    from warehouse.loaders import load_quarantine

    settings = settings_for(context)
    run_date = context.partition_key
    engine = warehouse.engine()
    roster = settings.raw_path("labels", run_date) / "experts.csv"
    known = pd.read_csv(roster, dtype=str)["expert_id"].tolist() if roster.exists() else []
    with stage(engine, run_date, "validated_labels") as counts:
        result = validate_labels(expert_labels.drop(columns=["row_number"], errors="ignore"), known, run_date,
                                 LABEL_SOURCE, salt=settings.expert_salt, docs_dir=settings.data_docs_dir,
                                 gx_dir=settings.gx_dir)
        load_quarantine(engine, result.quarantine, run_date, "labels", sources=[LABEL_SOURCE])
        counts.update(rows_in=len(expert_labels), rows_out=len(result.accepted),
                      rows_quarantined=int(result.quarantine["row_number"].nunique())
                      if len(result.quarantine) else 0)
    context.add_output_metadata({
        "accepted": len(result.accepted), "quarantined_rows": counts["rows_quarantined"],
        "data_docs": str(result.docs_index) if result.docs_index else "",
        "reasons": dg.MetadataValue.json(result.quarantine["reason"].value_counts().to_dict()
                                         if len(result.quarantine) else {}),
    })
    return result.accepted


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
        result = compute_consensus(validated_labels, realised)
        counts.update(rows_in=len(validated_labels), rows_out=len(result.consensus))
    reliability = result.reliability.sort_values("weight").reset_index(drop=True)
    context.log.info("consensus for %d lots from %d experts", len(result.consensus), len(reliability))
    return result.consensus, reliability
