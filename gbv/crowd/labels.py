"""Label CSV intake (``gbv labels import``) and the offline consensus (``gbv consensus``).

Both run :func:`quality.labels.validate_labels` (the nightly GX suite) and, for the consensus,
:func:`gbv.consensus.compute_consensus` -- the very code of the ``validated_labels`` and ``consensus_labels``
assets -- over files.

``import_labels`` lands the file **unchanged** in ``raw/labels/<date>/`` first (named
``import-<sha256 12>-<file name>``, so a re-import of the same bytes is the same file), validates it against the
expert roster, the warehouse's lots (``fact_lot``: unknown lot, submitted after the sale) and the current
consensus (outliers), upserts the accepted labels into ``fact_expert_label`` for the night (keyed by
``label_id``: importing twice leaves the same rows) and replaces the night's quarantine rows of that source.
The nightly ``consensus_labels`` asset reads stored labels besides the night's export, so imported labels count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gbv.contracts import CONSENSUS_COLUMNS, QUARANTINE_COLUMNS

log = logging.getLogger(__name__)

OFFLINE_COLUMNS = ("lot_ref", "consensus_usd", "low_usd", "high_usd", "n_experts", "spread", "style")
IMPORT_SOURCE_PREFIX = "labels_import"


@dataclass
class ImportResult:
    landed: Path
    source: str
    n_rows: int
    accepted: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def n_quarantined_rows(self) -> int:
        return int(self.quarantine["row_number"].nunique()) if len(self.quarantine) else 0


@dataclass
class OfflineResult:
    consensus: pd.DataFrame  # OFFLINE_COLUMNS
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS (catalogue intake and labels)
    out: Path
    quarantine_path: Path
    n_labels: int
    n_accepted: int
    n_catalogue_lots: int


def read_label_csv(path: Path) -> pd.DataFrame:
    """A label CSV as strings (empty cells are missing); the GX suite does the typing and the checks."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")


def land_label_file(path: Path, raw_folder: Path) -> Path:
    """Copy ``path`` byte for byte into ``raw_folder`` (atomic; an existing identical landing is kept)."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).name)[:100] or "labels.csv"
    target = Path(raw_folder) / f"import-{digest}-{name}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def find_roster(raw_labels_dir: Path, run_date: str, explicit: Path | None = None) -> list[str]:
    """Known expert ids: ``explicit`` roster CSV, else the night's ``experts.csv``, else the newest landed one."""
    candidates = [Path(explicit)] if explicit else []
    if not explicit:
        candidates.append(Path(raw_labels_dir) / run_date / "experts.csv")
        candidates += sorted(Path(raw_labels_dir).glob("*/experts.csv"), reverse=True)
    for roster in candidates:
        if roster.exists():
            frame = pd.read_csv(roster, dtype=str)
            if "expert_id" not in frame.columns:
                raise ValueError(f"expert roster {roster} has no expert_id column")
            return frame["expert_id"].dropna().str.strip().tolist()
    raise FileNotFoundError(
        f"no expert roster: pass --experts ROSTER.csv (column expert_id) or land one as "
        f"{Path(raw_labels_dir) / run_date / 'experts.csv'}")


def warehouse_lot_dates(engine) -> pd.DataFrame:  # noqa: ANN001
    """``lot_ref, sale_date`` of every lot in ``fact_lot``."""
    from sqlalchemy import select

    from warehouse.schema import fact_lot

    with engine.connect() as conn:
        return pd.read_sql(select(fact_lot.c.lot_ref, fact_lot.c.sale_date), conn)


def import_labels(path: Path, settings, run_date: str, *, experts: Path | None = None,  # noqa: ANN001
                  outlier_k: float | None = None) -> ImportResult:
    """Land, validate and store one label CSV for the night ``run_date`` (see the module notes)."""
    from quality.labels import validate_labels
    from warehouse.db import get_engine
    from warehouse.io import read_consensus
    from warehouse.loaders import load_quarantine, upsert
    from warehouse.schema import fact_expert_label, metadata

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such label file: {path}")
    landed = land_label_file(path, settings.raw_path("labels", run_date))
    labels = read_label_csv(landed)
    known = find_roster(settings.raw_dir / "labels", run_date, experts)
    engine = get_engine(settings)
    metadata.create_all(engine)
    lots = warehouse_lot_dates(engine)
    source = f"{IMPORT_SOURCE_PREFIX}:{landed.name}"[:200]
    result = validate_labels(labels, known, run_date, source, salt=settings.expert_salt,
                             docs_dir=settings.data_docs_dir, gx_dir=settings.gx_dir, lots=lots,
                             outlier_k=outlier_k, current_consensus=read_consensus(engine))
    accepted = result.accepted.assign(run_date=dt.date.fromisoformat(run_date))
    accepted["submitted_at"] = pd.to_datetime(accepted["submitted_at"])
    with engine.begin() as conn:
        upsert(conn, fact_expert_label, accepted)
        load_quarantine(conn, result.quarantine, run_date, "labels", sources=[source])
    log.info("imported %s: %d accepted, %d quarantine rows", landed.name, len(accepted), len(result.quarantine))
    return ImportResult(landed=landed, source=source, n_rows=len(labels), accepted=result.accepted,
                        quarantine=result.quarantine)


def offline_consensus(catalogue: Path, labels: Path, out: Path, *, experts: Path | None = None,
                      outlier_k: float | None = None, run_date: str | None = None,
                      salt: str | None = None) -> OfflineResult:
    """``gbv consensus``: validate ``labels`` against ``catalogue``'s lots and write one consensus row per lot.

    Known experts: the ``experts`` roster when given, else every expert in the label file (the file is the
    panel). No realised prices offline: the consensus is the panel's bias-free view. Writes ``out`` with
    :data:`OFFLINE_COLUMNS` (lots with at least one accepted label, sorted by lot_ref) and
    ``<out stem>.quarantine.csv`` beside it (catalogue rows and labels that failed, with reasons).
    """
    from gbv.consensus import compute_consensus
    from gbv.intake import read_catalogue
    from gbv.settings import get_settings
    from quality.labels import validate_labels

    run_date = run_date or dt.date.today().isoformat()
    salt = salt if salt is not None else get_settings().expert_salt
    intake = read_catalogue(Path(catalogue), run_date)
    frame = read_label_csv(Path(labels))
    if experts is not None:
        known = find_roster(Path("."), run_date, experts)
    else:
        known = frame["expert_id"].dropna().astype(str).str.strip().unique().tolist() \
            if "expert_id" in frame.columns else []
    lots = intake.lots[["lot_ref", "sale_date"]]
    result = validate_labels(frame, known, run_date, Path(labels).name, salt=salt, lots=lots,
                             outlier_k=outlier_k)
    cons = compute_consensus(result.accepted).consensus
    cons = cons[cons["lot_ref"].isin(set(intake.lots["lot_ref"]))]
    cons = cons[list(OFFLINE_COLUMNS)].sort_values("lot_ref").reset_index(drop=True)
    cons = cons.round({"consensus_usd": 2, "low_usd": 2, "high_usd": 2, "spread": 4})
    assert set(OFFLINE_COLUMNS) <= set(CONSENSUS_COLUMNS)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(cons, out)
    quarantine = pd.concat([q for q in (intake.quarantine, result.quarantine) if len(q)] or
                           [pd.DataFrame(columns=list(QUARANTINE_COLUMNS))], ignore_index=True)
    quarantine = quarantine[list(QUARANTINE_COLUMNS)]
    qpath = out.with_name(out.stem + ".quarantine.csv")
    _write_csv(quarantine, qpath)
    return OfflineResult(consensus=cons, quarantine=quarantine, out=out, quarantine_path=qpath,
                         n_labels=len(frame), n_accepted=len(result.accepted),
                         n_catalogue_lots=len(intake.lots))


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, path)
