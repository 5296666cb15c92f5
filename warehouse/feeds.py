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
            log.warning("removing %s, left by an interrupted feed write", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


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
    final.parent.mkdir(parents=True, exist_ok=True)
    if (final / SUCCESS).exists() and (final / MANIFEST).exists():
        if (final / MANIFEST).read_bytes() == manifest_bytes and (final / FEED_FILE).read_bytes() == data:
            return FeedResult(house, run_date, final, len(valuations), digest, unchanged=True)

    _sweep_leftovers(final.parent, safe_component(run_date, "run date"))
    staging = final.parent / f".{run_date}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _fsync_write(staging / FEED_FILE, data)
        _fsync_write(staging / MANIFEST, manifest_bytes)
        _fsync_write(staging / SUCCESS, b"")
        _fsync_dir(staging)
        fault_point("feed_before_rename")
        if final.exists():
            old = final.parent / f".{run_date}.old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            fault_point("feed_swapped_out")  # for this instant no feed is visible, never half of one
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
        _fsync_dir(final.parent)
    except OSError as exc:  # disk full, file-size limit, permissions: nothing partial stays visible
        shutil.rmtree(staging, ignore_errors=True)
        raise FeedWriteError(f"could not write the feed {final} ({len(data):,} bytes): {exc.strerror or exc}; "
                        f"no partial feed was left, "
                        f"{'the previous one is kept' if (final / SUCCESS).exists() else 'none is visible'}"
                        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
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
