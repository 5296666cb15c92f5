"""Nightly estimate feeds, one per auction house: ``$GBV_HOME/feeds/<house>/<date>/``.

A feed folder holds ``estimates.csv`` (the valuation row schema of DESIGN.md), ``manifest.json`` (row count,
sha256, schema version) and a ``_SUCCESS`` marker. It becomes visible only whole: everything is written and
fsynced in a hidden sibling folder, which is then renamed into place. The bytes are a pure function of the
rows (sorted by lot_ref, fixed number formats, no timestamps), so re-running a night reproduces them.

A house's feed holds its own lots only: rows of any other house make the writer refuse.

Columns (:data:`FEED_COLUMNS`, schema :data:`FEED_SCHEMA_VERSION` in the manifest): the valuation row schema
(``gbv.contracts.VALUATION_COLUMNS``), then, added at the end in feed schema 1.1, the experts' view next to the
model's (:data:`gbv.crowd.blend.FEED_BLEND_COLUMNS`): ``expert_n`` (experts behind ``expert_value_usd``, 0 when
none), ``blend_usd``, ``blend_low_usd``, ``blend_high_usd`` (the precision-weighted blend of the model's
estimate with the consensus and its 80 % range; the model's own where no expert labelled the lot) and
``blend_model_weight`` (the model's share of the blend, 1 without experts). The blend reads the night's
consensus and expert reliability (given, or the nightly's stage outputs ``stage/consensus_labels/<date>`` and
``stage/expert_reliability/<date>``, written before the valuations that the feeds come from) and realised
prices from the warehouse (how far sales scatter around the consensus).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gbv.contracts import VALUATION_COLUMNS
from gbv.crowd.blend import FEED_BLEND_COLUMNS
from gbv.faults import fault_point
from gbv.settings import Settings, safe_component

log = logging.getLogger(__name__)

FEED_FILE = "estimates.csv"
MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"
FEED_SCHEMA_VERSION = "1.1"  # 1.0: VALUATION_COLUMNS; 1.1: + FEED_BLEND_COLUMNS at the end
FEED_COLUMNS = (*VALUATION_COLUMNS, *FEED_BLEND_COLUMNS)
_MONEY = ("estimate_usd", "low_usd", "high_usd", "expert_value_usd", "blend_usd", "blend_low_usd", "blend_high_usd")


class FeedError(RuntimeError):
    pass


class FeedWriteError(FeedError, OSError):
    """The file system refused the feed (disk full, file-size limit, permissions); nothing partial is visible."""


@dataclass(frozen=True)
class FeedResult:
    house: str
    run_date: str
    path: Path
    rows: int
    sha256: str
    unchanged: bool


def _stage_frame(settings: Settings, asset: str, run_date: str) -> pd.DataFrame | None:
    path = settings.stage_dir / asset / f"{safe_component(run_date, 'run date')}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def _realised(settings: Settings, lot_refs: list[str]) -> pd.DataFrame | None:
    """``lot_ref, hammer_usd`` of the sold lots among ``lot_refs`` in the warehouse (None if unreadable)."""
    if not lot_refs:
        return None
    try:
        from sqlalchemy import select

        from warehouse.db import get_engine
        from warehouse.schema import fact_lot

        stmt = select(fact_lot.c.lot_ref, fact_lot.c.hammer_usd).where(fact_lot.c.status == "sold")
        with get_engine(settings).connect() as conn:
            sold = pd.read_sql(stmt, conn)
    except Exception as exc:  # noqa: BLE001 - the blend then assumes no market scatter; the feed is still written
        log.warning("feed blend: realised prices unreadable (%s); no market scatter assumed", exc)
        return None
    return sold[sold["lot_ref"].isin(set(lot_refs))]


def with_blend(settings: Settings, run_date: str, valuations: pd.DataFrame, consensus: pd.DataFrame | None = None,
               reliability: pd.DataFrame | None = None) -> pd.DataFrame:
    """``valuations`` plus :data:`FEED_BLEND_COLUMNS` (see the module notes); rows that already carry them are
    returned as they are."""
    from gbv.crowd.blend import feed_blend, market_sd_from_sales

    if set(FEED_BLEND_COLUMNS) <= set(valuations.columns):
        return valuations
    if consensus is None:
        consensus = _stage_frame(settings, "consensus_labels", run_date)
    if reliability is None:
        reliability = _stage_frame(settings, "expert_reliability", run_date)
    market_sd = None
    if consensus is not None and len(consensus) and len(valuations):
        realised = _realised(settings, consensus["lot_ref"].astype(str).tolist())
        market_sd = market_sd_from_sales(consensus, realised, reliability)
    out = valuations.reset_index(drop=True).copy()
    blend = feed_blend(out, consensus, reliability, market_sd=market_sd) if len(out) else \
        pd.DataFrame({c: pd.Series(dtype="float64") for c in FEED_BLEND_COLUMNS})
    for c in FEED_BLEND_COLUMNS:
        out[c] = blend[c].to_numpy()
    return out


def render_feed(rows: pd.DataFrame) -> bytes:
    """The feed CSV bytes for feed rows (:data:`FEED_COLUMNS`; deterministic)."""
    df = rows[list(FEED_COLUMNS)].copy().sort_values("lot_ref", kind="stable")
    for col in _MONEY:
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else f"{float(v):.0f}")
    for col in ("confidence", "blend_model_weight"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else f"{float(v):.3f}")
    df["expert_n"] = df["expert_n"].map(lambda v: "" if pd.isna(v) else f"{int(v)}")
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep_leftovers(parent: Path, run_date: str) -> None:
    """Remove hidden staging/aside folders of this night left by a writer that was killed mid-way."""
    for pattern in (f".{run_date}.tmp-*", f".{run_date}.old-*"):
        for leftover in parent.glob(pattern):
            log.warning("removing %s, left by an interrupted write", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def swap_folder(staging: Path, final: Path, fault_points: tuple[str | None, str | None] = (None, None)) -> None:
    """Make the fully written folder ``staging`` visible as ``final``: fsync it, rename it into place (a previous
    ``final`` is swapped aside first and removed after), fsync the parent. ``fault_points``: the names fired
    before the rename and while no ``final`` is visible (the fault-injection suite kills there)."""
    before, swapped = fault_points
    _fsync_dir(staging)
    if before:
        fault_point(before)
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        if swapped:
            fault_point(swapped)  # for this instant no folder is visible, never half of one
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)
    _fsync_dir(final.parent)


def publish_folder(final: Path, files: dict[str, bytes],
                   fault_points: tuple[str | None, str | None] = (None, None)) -> bool:
    """Write ``files`` (name -> bytes, in order: the manifest and ``_SUCCESS`` last) as the folder ``final``,
    which appears whole or not at all (hidden staging folder, fsync, :func:`swap_folder`); leftovers of a killed
    writer are swept first. Returns False, writing nothing, when ``final`` already holds exactly these bytes."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if all((final / name).is_file() and (final / name).read_bytes() == data for name, data in files.items()):
        return False
    _sweep_leftovers(final.parent, final.name)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        for name, data in files.items():
            _fsync_write(staging / name, data)
        swap_folder(staging, final, fault_points)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def write_feed(settings: Settings, house: str, run_date: str, valuations: pd.DataFrame,
               consensus: pd.DataFrame | None = None, reliability: pd.DataFrame | None = None) -> FeedResult:
    """Write one house's feed for one night atomically; ``valuations`` must hold only this house's lots.

    The blend columns are added by :func:`with_blend` (``consensus``/``reliability``: the night's, else the
    nightly's stage outputs) unless the rows already carry them."""
    safe_component(house, "house")
    if "house" in valuations.columns:
        foreign = valuations.loc[valuations["house"] != house, "lot_ref"]
        if len(foreign):
            raise FeedError(f"feed for {house!r} would contain {len(foreign)} lot(s) of other houses, "
                            f"e.g. {foreign.iloc[0]!r}; refusing to write it")
    valuations = with_blend(settings, safe_component(run_date, "run date"), valuations, consensus, reliability)
    data = render_feed(valuations)
    digest = hashlib.sha256(data).hexdigest()
    manifest = {
        "house": house, "run_date": run_date, "schema_version": FEED_SCHEMA_VERSION, "file": FEED_FILE,
        "row_count": int(len(valuations)), "sha256": digest, "columns": list(FEED_COLUMNS),
        "currency_basis": "USD, hammer price (excluding buyer's premium)",
        "model_versions": sorted({str(v) for v in valuations.get("model_version", pd.Series(dtype=str))}),
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    final = settings.feed_path(house, run_date)
    try:
        changed = publish_folder(final, {FEED_FILE: data, MANIFEST: manifest_bytes, SUCCESS: b""},
                                 fault_points=("feed_before_rename", "feed_swapped_out"))
    except OSError as exc:  # disk full, file-size limit, permissions: nothing partial stays visible
        raise FeedWriteError(f"could not write the feed {final} ({len(data):,} bytes): {exc.strerror or exc}; "
                             f"no partial feed was left, "
                             f"{'the previous one is kept' if (final / SUCCESS).exists() else 'none is visible'}"
                             ) from exc
    if not changed:
        return FeedResult(house, run_date, final, len(valuations), digest, unchanged=True)
    log.info("feed %s/%s: %d rows, sha256 %s", house, run_date, len(valuations), digest[:12])
    return FeedResult(house, run_date, final, len(valuations), digest, unchanged=False)


def read_verified(path: Path, filename: str, what: str = "feed", error: type[Exception] = FeedError,
                  **read_csv: object) -> pd.DataFrame:
    """Read ``filename`` of a complete folder written like a feed (``_SUCCESS`` present, the data's sha256 equal
    to the manifest's); ``error`` names the folder otherwise."""
    if not (path / SUCCESS).exists():
        raise error(f"{what} {path} is incomplete (no {SUCCESS})")
    manifest = json.loads((path / MANIFEST).read_text())
    data = (path / filename).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise error(f"{what} {path}: checksum mismatch")
    return pd.read_csv(path / filename, keep_default_na=False, **read_csv)


def read_feed(path: Path) -> pd.DataFrame:
    """Read a complete feed folder, verifying its manifest checksum."""
    return read_verified(path, FEED_FILE)
