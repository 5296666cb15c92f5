"""Nightly estimate feeds, one per auction house: ``$GBV_HOME/feeds/<house>/<date>/``.

A feed folder holds ``estimates.csv`` (the valuation row schema of DESIGN.md), ``manifest.json`` (row count,
sha256, schema version) and a ``_SUCCESS`` marker. It becomes visible only whole: everything is written and
fsynced in a hidden sibling folder, which is then renamed into place. The bytes are a pure function of the
rows (sorted by lot_ref, fixed number formats, no timestamps), so re-running a night reproduces them.

A house's feed holds its own lots only: rows of any other house make the writer refuse.
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

from gbv.contracts import SCHEMA_VERSION, VALUATION_COLUMNS
from gbv.faults import fault_point
from gbv.settings import Settings, safe_component

log = logging.getLogger(__name__)

FEED_FILE = "estimates.csv"
MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"
_MONEY = ("estimate_usd", "low_usd", "high_usd", "expert_value_usd")


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


def render_feed(rows: pd.DataFrame) -> bytes:
    """The feed CSV bytes for valuation rows (deterministic)."""
    df = rows[list(VALUATION_COLUMNS)].copy().sort_values("lot_ref", kind="stable")
    for col in _MONEY:
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else f"{float(v):.0f}")
    df["confidence"] = df["confidence"].map(lambda v: "" if pd.isna(v) else f"{float(v):.3f}")
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


def write_feed(settings: Settings, house: str, run_date: str, valuations: pd.DataFrame) -> FeedResult:
    """Write one house's feed for one night atomically; ``valuations`` must hold only this house's lots."""
    safe_component(house, "house")
    if "house" in valuations.columns:
        foreign = valuations.loc[valuations["house"] != house, "lot_ref"]
        if len(foreign):
            raise FeedError(f"feed for {house!r} would contain {len(foreign)} lot(s) of other houses, "
                            f"e.g. {foreign.iloc[0]!r}; refusing to write it")
    data = render_feed(valuations)
    digest = hashlib.sha256(data).hexdigest()
    manifest = {
        "house": house, "run_date": run_date, "schema_version": SCHEMA_VERSION, "file": FEED_FILE,
        "row_count": int(len(valuations)), "sha256": digest, "columns": list(VALUATION_COLUMNS),
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


def read_feed(path: Path) -> pd.DataFrame:
    """Read a complete feed folder, verifying its manifest checksum."""
    if not (path / SUCCESS).exists():
        raise FeedError(f"feed {path} is incomplete (no {SUCCESS})")
    manifest = json.loads((path / MANIFEST).read_text())
    data = (path / FEED_FILE).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise FeedError(f"feed {path}: checksum mismatch")
    return pd.read_csv(path / FEED_FILE, keep_default_na=False)
