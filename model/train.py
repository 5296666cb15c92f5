"""Training, evaluation and promotion: the heavy work that the Airflow retrain DAG and the Dagster assets call.

The loop (one call per DAG task)::

    snapshot = snapshot_training_set(engine, as_of, out_dir)     # parquet files, frozen input
    version  = train_challenger(snapshot, settings)              # fit on sales before the holdout, save
    metrics  = evaluate(version, snapshot, store)                # challenger vs champion on the same holdout
    promoted = register_and_promote(version, metrics, store)     # promote only if MdALE is lower

Holdout: sold lots with ``holdout_from <= sale_date < as_of`` where ``holdout_from = as_of - HOLDOUT_MONTHS``.
The challenger is fitted on sold lots before ``holdout_from`` only, and **the promoted model is not refit on
all data**: what goes to production is exactly the artifact that was evaluated, and the next retrain's holdout
(later than this one's) stays unseen by it, so champion and challenger are always compared fairly. Recent
sales still reach the champion through the features: at valuation time the artist history is read up to the
day before each sale.

Expert consensus (issue 7): the snapshot puts on every lot the consensus it had *before its sale*
(:func:`gbv.consensus.point_in_time_consensus` over the labels stored before ``as_of``: a lot's own labels
submitted before its sale date, expert reliability learned from earlier labels and sales only), as the
:data:`model.features.CONSENSUS_LOT_COLUMNS`. Models that use it (the LightGBM valuer) take it as a feature and,
for bought-in lots that experts labelled, as a down-weighted training target; the others ignore the columns.
The challenger is therefore fitted on every offered lot before the holdout (sold and bought in; each kind uses
what it can); evaluation is on realised prices only.
"""

from __future__ import annotations

import datetime as dt
import gc
import inspect
import json
import logging
import math
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from gbv.settings import Settings
from model.base import make_valuer, valuer_class
from model.compute import describe_hardware, pick_device
from model.features import CONSENSUS_LOT_COLUMNS, attach_consensus, log_hammer_usd, rows_before
from model.store import ModelStore

log = logging.getLogger(__name__)

HOLDOUT_MONTHS = 6
DEFAULT_KIND = "lgbm_baseline"
# the kind trained when torch sees a GPU (the retrain DAG's default there): the fine-tuned transformer averaged with
# LightGBM, the best of the kinds on the real sales (`gbv bench model`: MdALE 0.629 vs 0.643 LightGBM, 0.676 transformer)
GPU_KIND = "ensemble"
SNAPSHOT_META = "snapshot.json"


# ---- snapshot ------------------------------------------------------------------------------------------

def snapshot_training_set(engine: Engine, as_of: dt.date, out_dir: Path) -> Path:
    """Freeze the training input for ``as_of`` into ``out_dir/<as_of>/``; returns that folder.

    ``train.parquet``: sold lots with a price and ``sale_date < as_of``; ``history.parquet``: every sold or
    bought-in lot before ``as_of`` (the artist history the features read); both with the lots' pre-sale expert
    consensus (:data:`model.features.CONSENSUS_LOT_COLUMNS`, NaN where none); ``snapshot.json``: counts and date
    range. Written to a temporary folder and renamed, so a reader never sees half a snapshot.
    """
    from warehouse.io import read_lots

    as_of = _as_date(as_of)
    # only the offered lots, in (sale_date, lot_ref) order from SQL: one million-lot frame, never two
    history = read_lots(engine, before=as_of, statuses=("sold", "bought_in"))
    if not _is_sorted(history):
        history = history.sort_values(["sale_date", "lot_ref"], kind="stable", ignore_index=True)
    consensus = presale_consensus(history, read_labels(engine, before=as_of))
    history = attach_consensus(history, consensus, copy=False)
    del consensus
    sold_mask = log_hammer_usd(history).notna().to_numpy()
    meta = {
        "as_of": as_of.isoformat(), "n_train": int(sold_mask.sum()), "n_history": int(len(history)),
        "n_with_consensus": int(history["expert_consensus_usd"].notna().sum()),
        "first_sale": str(history["sale_date"].min()) if len(history) else None,
        "last_sale": str(history["sale_date"].max()) if len(history) else None,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / as_of.isoformat()
    tmp = out_dir / f".tmp-{as_of.isoformat()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        history.to_parquet(tmp / "history.parquet", index=False)
        del history
        gc.collect()
        # train.parquet = the sold rows of history.parquet, copied batch by batch (no second frame in memory)
        _write_filtered_parquet(tmp / "history.parquet", tmp / "train.parquet", sold_mask)
        (tmp / SNAPSHOT_META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("snapshot %s: %d sold lots for training, %d offered lots of history", final, meta["n_train"],
             meta["n_history"])
    return final


def _is_sorted(df: pd.DataFrame) -> bool:
    """Whether ``df`` is in (sale_date, lot_ref) order already (as :func:`warehouse.io.read_lots` returns it)."""
    if len(df) < 2:
        return True
    return bool(pd.MultiIndex.from_arrays([pd.to_datetime(df["sale_date"]), df["lot_ref"].astype(str)])
                .is_monotonic_increasing)


def _write_filtered_parquet(src: Path, dst: Path, keep: np.ndarray, batch_rows: int = 65_536) -> None:
    """Copy the rows of parquet ``src`` where ``keep`` is true to ``dst``, one record batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(src)
    writer = pq.ParquetWriter(dst, reader.schema_arrow)
    try:
        start = 0
        for batch in reader.iter_batches(batch_size=batch_rows):
            n = batch.num_rows
            writer.write_batch(batch.filter(pa.array(keep[start:start + n])))
            start += n
        if start != len(keep):
            raise RuntimeError(f"{src} has {start} rows, the mask {len(keep)}")
    finally:
        writer.close()


def read_labels(engine: Engine, before: dt.date) -> pd.DataFrame:
    """Accepted expert labels (``fact_expert_label``) submitted before ``before``: ``lot_ref, expert_key,
    value_point_usd, submitted_at``."""
    from sqlalchemy import select

    from warehouse.schema import fact_expert_label as t

    stmt = (select(t.c.label_id, t.c.lot_ref, t.c.expert_key, t.c.value_point_usd, t.c.submitted_at)
            .where(t.c.submitted_at < dt.datetime.combine(before, dt.time())).order_by(t.c.label_id))
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def presale_consensus(history: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Per lot of ``history``, the consensus it had before its sale (see the module notes)."""
    from gbv.consensus import point_in_time_consensus

    sold = history.loc[log_hammer_usd(history).notna(), ["lot_ref", "hammer_usd", "sale_date"]]
    return point_in_time_consensus(history[["lot_ref", "sale_date"]], labels, sold)


def load_snapshot(snapshot: Path, columns: tuple[str, ...] | list[str] | None = None,
                  with_train: bool = True) -> tuple[dict, pd.DataFrame | None, pd.DataFrame]:
    """``(meta, train, history)`` of a snapshot. ``columns``: read only these lot columns (``None``: all);
    ``with_train=False``: skip ``train.parquet`` (``None`` in its place; its rows are history's sold rows,
    :func:`sold_rows` finds them without a second frame)."""
    snapshot = Path(snapshot)
    meta = json.loads((snapshot / SNAPSHOT_META).read_text(encoding="utf-8"))
    cols = None
    if columns is not None:
        import pyarrow.parquet as pq

        present = set(pq.read_schema(snapshot / "history.parquet").names)
        cols = [c for c in dict.fromkeys(columns) if c in present]
    history = pd.read_parquet(snapshot / "history.parquet", columns=cols)
    train = pd.read_parquet(snapshot / "train.parquet", columns=cols) if with_train else None
    for df in (train, history):
        if df is None:
            continue
        df["sale_date"] = pd.to_datetime(df["sale_date"]).dt.date
        for c in CONSENSUS_LOT_COLUMNS:  # a snapshot from before the consensus columns: none known
            if c not in df.columns:
                df[c] = np.nan
    return meta, train, history


def sold_rows(history: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows of ``history`` that are training targets (sold with a price)."""
    return log_hammer_usd(history).notna().to_numpy()


# ---- train ---------------------------------------------------------------------------------------------

def holdout_start(as_of: dt.date, months: int = HOLDOUT_MONTHS) -> dt.date:
    return (pd.Timestamp(as_of) - pd.DateOffset(months=months)).date()


def train_challenger(snapshot: Path, settings: Settings, kind: str = DEFAULT_KIND,
                     holdout_months: int = HOLDOUT_MONTHS, store: ModelStore | None = None) -> str:
    """Fit a ``kind`` model on the snapshot's sales before the holdout; save and register it; return its version."""
    meta, _, history = load_snapshot(snapshot, columns=valuer_class(kind).input_columns, with_train=False)
    as_of = _as_date(meta["as_of"])
    holdout_from = holdout_start(as_of, holdout_months)
    fit_lots = rows_before(history, holdout_from)  # sold and bought in
    fit_sold_dates = fit_lots["sale_date"][sold_rows(fit_lots)]
    if len(fit_sold_dates) < 20:
        raise ValueError(f"only {len(fit_sold_dates)} sold lots before the holdout ({holdout_from}); cannot train")
    device = pick_device(settings.device)
    hardware = describe_hardware(device)
    kwargs = {"seed": settings.seed}
    accepted = inspect.signature(valuer_class(kind).__init__).parameters
    if "device" in accepted:
        kwargs["device"] = device
    if "checkpoint_dir" in accepted:  # per-epoch checkpoints; a retried task continues where it stopped
        kwargs["checkpoint_dir"] = snapshot_dir(settings).parent / "checkpoints" / (
            f"{kind}-{as_of.isoformat()}-{holdout_from.isoformat()}-seed{settings.seed}")
        kwargs["resume"] = True
    log.info("training %s on %d sold lots before %s (device %s; %s)", kind, len(fit_sold_dates), holdout_from,
             device, hardware)
    t0 = time.perf_counter()
    valuer = make_valuer(kind, **kwargs).fit(fit_lots, history)
    seconds = round(time.perf_counter() - t0, 3)
    card = {
        "as_of": as_of.isoformat(), "holdout_from": holdout_from.isoformat(), "holdout_months": holdout_months,
        "train_from": str(min(fit_sold_dates)), "train_until": str(max(fit_sold_dates)),
        "n_train": int(len(fit_sold_dates)), "snapshot": str(Path(snapshot)), "seed": settings.seed,
        "params": valuer.params(), "fit_info": valuer.fit_info(), "device": device, "hardware": hardware,
        "training_seconds": seconds, "refit_on_all_data": False,
    }
    store = store or _store(settings)
    version = store.save_model(valuer, card)
    log.info("trained challenger %s in %.1f s", version, seconds)
    return version


# ---- evaluate ------------------------------------------------------------------------------------------

def score(y: np.ndarray, pred: np.ndarray, low: np.ndarray | None = None,
          high: np.ndarray | None = None) -> dict:
    """Holdout metrics on the log scale: MdALE, MAE, R², 80% coverage, mean high/low ratio. (The evaluation adds
    ``coverage_80_nightly`` and ``width_ratio_nightly``: the same with the ranges the nightly valuation gives,
    re-measured on the latest realised sales before each lot, :mod:`model.recalibrate`.)"""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    ok = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[ok], pred[ok]
    n = int(len(y))
    if n == 0:
        return {"n": 0, "mdale": None, "mae_log": None, "r2": None, "coverage_80": None, "width_ratio": None}
    err = np.abs(pred - y)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    out = {"n": n, "mdale": _r(np.median(err)), "mae_log": _r(err.mean()),
           "r2": _r(1.0 - float(np.sum((pred - y) ** 2)) / ss_tot) if ss_tot > 0 else None,
           "coverage_80": None, "width_ratio": None}
    if low is not None and high is not None:
        low, high = np.asarray(low, float)[ok], np.asarray(high, float)[ok]
        out["coverage_80"] = _r(np.mean((y >= low) & (y <= high)))
        out["width_ratio"] = _r(np.mean(np.exp(high - low)))
    return out


def _r(x: float) -> float:
    return round(float(x), 6)


def evaluate(version: str, snapshot: Path, store: ModelStore) -> dict:
    """Score the challenger, the current champion and the house estimates on the same time-based holdout.

    The holdout is the challenger's (``card['holdout_from'] <= sale_date < as_of``). If the champion was trained
    on part of it (a champion from a later snapshot or a refit), the comparison uses only the holdout lots after
    the champion's ``train_until`` (``metrics['restricted_to_after']``), so neither model is scored on lots it saw.
    """
    card = store.card(version)
    champion_version = store.champion_version()
    kinds = [card.get("kind")] + ([store.card(champion_version).get("kind")] if champion_version else [])
    columns = _union_columns(kinds, ("estimate_low_usd", "estimate_high_usd"))
    meta, _, history = load_snapshot(snapshot, columns=columns, with_train=False)
    as_of = _as_date(meta["as_of"])
    holdout_from = _as_date(card["holdout_from"])
    in_holdout = sold_rows(history) & (history["sale_date"] >= holdout_from).to_numpy() & (
        history["sale_date"] < as_of).to_numpy()
    holdout = history[in_holdout].reset_index(drop=True)
    restricted = None
    if champion_version and champion_version != version:
        champ_until = _as_date(store.card(champion_version).get("train_until") or dt.date.min.isoformat())
        if champ_until >= holdout_from:
            restricted = champ_until.isoformat()
            holdout = holdout[holdout["sale_date"] > champ_until].reset_index(drop=True)
    y = log_hammer_usd(holdout).to_numpy()
    metrics = {
        "version": version, "as_of": as_of.isoformat(), "holdout_from": holdout_from.isoformat(),
        "n_holdout": int(len(holdout)), "restricted_to_after": restricted, "champion_version": champion_version,
        "challenger": _score_model(store.load_model(version), holdout, history, y),
        "champion": None,
    }
    if champion_version == version:
        metrics["champion"] = metrics["challenger"]
    elif champion_version:
        metrics["champion"] = _score_model(store.load_model(champion_version), holdout, history, y)
    low, high = holdout["estimate_low_usd"].astype(float), holdout["estimate_high_usd"].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = 0.5 * (np.log(low) + np.log(high))
        metrics["house_estimate"] = score(y, mid.to_numpy(), np.log(low).to_numpy(), np.log(high).to_numpy())
    ch, cp = metrics["challenger"]["mdale"], (metrics["champion"] or {}).get("mdale")
    log.info("evaluated %s on %d holdout lots from %s: MdALE %s (champion %s: %s; house estimate %s)",
             version, len(holdout), holdout_from, ch, champion_version, cp, metrics["house_estimate"]["mdale"])
    return metrics


def _union_columns(kinds: list, extra: tuple[str, ...]) -> list[str] | None:
    """The lot columns that models of ``kinds`` read, plus ``extra``; ``None`` (all) if any kind reads all."""
    cols: list[str] = []
    for kind in kinds:
        try:
            needed = valuer_class(kind).input_columns if kind else None
        except (KeyError, ValueError, ImportError):
            needed = None
        if needed is None:
            return None
        cols.extend(needed)
    return list(dict.fromkeys([*cols, *extra]))


def _score_model(valuer, lots: pd.DataFrame, history: pd.DataFrame, y: np.ndarray) -> dict:  # noqa: ANN001
    if len(lots) == 0:
        return score(y, np.zeros(0))
    from model.recalibrate import RollingRecalibration

    pred = valuer.predict(lots, history)
    out = score(y, pred["pred_log_usd"].to_numpy(), pred["low_log_usd"].to_numpy(), pred["high_log_usd"].to_numpy())
    # the ranges as the nightly valuation gives them: re-measured on the realised sales before each holdout lot
    nightly = RollingRecalibration().apply(valuer, lots, pred, history)
    again = score(y, nightly["pred_log_usd"].to_numpy(), nightly["low_log_usd"].to_numpy(),
                  nightly["high_log_usd"].to_numpy())
    out["coverage_80_nightly"], out["width_ratio_nightly"] = again["coverage_80"], again["width_ratio"]
    return out


# ---- register / promote --------------------------------------------------------------------------------

def register_and_promote(version: str, metrics: dict, store: ModelStore) -> bool:
    """Store the metrics; promote ``version`` if there is no champion or its MdALE is lower; else reject it.

    Returns True when ``version`` is the champion afterwards.
    """
    store.record_metrics(version, metrics)
    current = store.champion_version()
    if current == version:
        log.info("%s is already the champion", version)
        return True
    ch = (metrics.get("challenger") or {}).get("mdale")
    if current is None:
        if ch is None:
            store.reject(version, "no holdout lots to evaluate on")
            return False
        store.promote(version)
        log.info("no champion yet: promoted %s (MdALE %.4f)", version, ch)
        return True
    if metrics.get("champion_version") != current:
        store.reject(version, f"evaluated against {metrics.get('champion_version')}, but the champion is now {current}")
        return False
    cp = (metrics.get("champion") or {}).get("mdale")
    if ch is None or cp is None or not math.isfinite(ch) or not math.isfinite(cp):
        store.reject(version, f"no fair comparison with champion {current} on the holdout")
        return False
    if ch < cp:
        store.promote(version)
        log.info("promoted %s: MdALE %.4f < champion %s %.4f", version, ch, current, cp)
        return True
    store.reject(version, f"MdALE {ch:.4f} is not lower than champion {current}'s {cp:.4f}")
    return False


def ensure_champion(engine: Engine, settings: Settings, as_of: dt.date, kind: str = DEFAULT_KIND) -> str:
    """Return the champion's version, training and promoting one first when none exists (the nightly's guard)."""
    store = ModelStore(settings.models_dir, engine)
    current = store.champion_version()
    if current is not None:
        return current
    log.info("no champion model: training one for %s", as_of)
    summary = retrain(engine, settings, as_of, kind=kind, store=store)
    if not summary["promoted"]:
        raise RuntimeError(f"trained {summary['version']} but could not promote it: {summary['metrics']}")
    return summary["version"]


def retrain(engine: Engine, settings: Settings, as_of: dt.date, kind: str = DEFAULT_KIND,
            store: ModelStore | None = None) -> dict:
    """The whole loop in one call (for the CLI and ensure_champion): snapshot, train, evaluate, promote."""
    store = store or ModelStore(settings.models_dir, engine)
    snapshot = snapshot_training_set(engine, _as_date(as_of), snapshot_dir(settings))
    gc.collect()  # the snapshot's frames (a million lots) are gone before training reads it back
    version = train_challenger(snapshot, settings, kind=kind, store=store)
    gc.collect()
    metrics = evaluate(version, snapshot, store)
    promoted = register_and_promote(version, metrics, store)
    return {"version": version, "promoted": promoted, "champion": store.champion_version(), "metrics": metrics}


def default_kind(settings: Settings) -> str:
    """:data:`GPU_KIND` when the settings' device resolves to CUDA, else :data:`DEFAULT_KIND`."""
    return GPU_KIND if pick_device(settings.device) == "cuda" else DEFAULT_KIND


def snapshot_dir(settings: Settings) -> Path:
    return settings.stage_dir / "training_snapshots"


def _store(settings: Settings) -> ModelStore:
    from warehouse.db import get_engine

    return ModelStore(settings.models_dir, get_engine(settings))


def _as_date(value) -> dt.date:  # noqa: ANN001
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
