"""Rolling conformal recalibration: each night's 80% ranges re-measured on the latest realised sales.

A model's split-conformal radius (:func:`model.base.calibrate_radii`) is measured once, on the latest slice of
its training window. Markets move after that: on the real sales (``gbv bench model``), trained before 2016, the
ensemble's ranges held 78.6% of the 2016 hammer prices, 75.8% of 2017's and 72.8% of 2018's, and Arthena's and
Hong Kong's lots fewer still. Re-measured nightly: 79.9%, 81.4% and 81.4%, every source in 77.5-81.8%. Each
night knows the hammer prices of every sale before it, so the valuation does what conformal prediction under
drift recommends: it re-measures the range on the most recent sales the model never fitted on.

For each lot, :class:`RollingRecalibration` takes the latest :data:`WINDOW` sold lots of its group sold strictly
before the lot's sale date and on or after the model's ``calibration_from`` (the first date the model held out of
its fit: later sales are out of sample too). The groups are Mondrian levels (:data:`LEVELS`), finest first: the
same ``source`` and the same size knowledge (a lot with a height and width, or one without); with fewer than
:data:`MIN_GROUP` such sales, the same source; then all sources with the same size knowledge (a catalogue sent to
be valued is a source with no sales); then all sources. With fewer than :data:`MIN_GROUP` in all, the model's own
range stands.
It scores those sales with the model as of their own dates (the features use only what was known before each),
takes the conformalised-quantile-regression score ``s = max(low - y, y - high)`` (how far the price fell outside
the range; negative inside), and widens (or narrows) the lot's range by the finite-sample 80% quantile of ``s``
(:func:`model.base.conformal_quantile`), on both sides. The point estimate does not move (a rolling median
bias shift was measured and did not help: MdALE 0.617 either way on the 2014-15 validation years).

The window and the grouping were chosen on the validation years (LightGBM trained before 2014, scored on
2014-15; the choice is the one that was best there, though the test years were printed beside it): static ranges covered 74.9%; rolling by source, 500 sales,
79.8% (Arthena 79.5%, askART NY 80.0%); pooled over sources 79.6% but Arthena 75.9%; by house or house and city
78.4-79.1% with Arthena at 74.6-75.0% (the sources differ in what they cover: three blue-chip artists at true
hammer prices, or whole sales of a city). Nothing here reads a house's estimate.

The size level was added later, chosen the same way: by source alone, the lots without a size were the ones the
ranges missed (LightGBM, validation years: 78.0% of them inside against 80.2% of the lots with a size, and New
York's lots without a size 71.4%; on the test years from 2016, 76.9%, New York's 64.5%, Hong Kong's 76.7%). By
source and size knowledge, with the model's own radius calibrated apart for lots without a size
(:func:`model.base.calibrate_radii`): 79.8% of them on the validation years (New York's 76.6%) at 79.7% overall;
from 2016, 77.8% (New York's 80.0%, Hong Kong's 79.0%) at 80.7% overall.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.base import INTERVAL_COVERAGE, PREDICTION_COLUMNS, conformal_quantile, size_known
from model.features import log_hammer_usd, sale_dates

log = logging.getLogger(__name__)

WINDOW = 500  # latest realised sales per group that re-measure the range
MIN_GROUP = 100  # fewer than this in a group: the next, coarser level of LEVELS
SIZE_KNOWN = "size_known"  # derived group column: "yes" where the lot has a height and a width, else "no"
# Mondrian levels, finest first: a lot's range is re-measured on the latest sales of its source with the same
# size knowledge; with fewer than MIN_GROUP of those, on its source's; for a source with too few realised sales
# (a new house, a catalogue sent to be valued), on all sources' with the same size knowledge; then on all.
LEVELS: tuple[tuple[str, ...], ...] = (("source", SIZE_KNOWN), ("source",), (SIZE_KNOWN,), ())


def out_of_sample_from(valuer) -> pd.Timestamp | None:  # noqa: ANN001 - any model.base.Valuer
    """The first sale date the model held out of its fit (its calibration slice), or None when unknown.

    An ensemble's is the latest of its members' (each member is out of sample only after its own)."""
    members = getattr(valuer, "members", None)
    if members:
        dates = [out_of_sample_from(m) for m in members]
        return None if any(d is None for d in dates) else max(dates)
    info = (valuer.fit_info() if hasattr(valuer, "fit_info") else {}) or {}
    value, after = info.get("calibration_from"), pd.Timedelta(0)
    if value and info.get("train_from") and str(value) <= str(info["train_from"]):
        # calibrated in sample (one sale date in the training window): only later sales are out of sample
        value, after = info.get("train_until"), pd.Timedelta(days=1)
    stamp = pd.to_datetime(value, errors="coerce") if value else pd.NaT
    return None if pd.isna(stamp) else pd.Timestamp(stamp) + after


def _group(df: pd.DataFrame, column: str, rows: np.ndarray | None = None) -> np.ndarray:
    """The group (a source, or size knowledge) of each row, or of the rows at positions ``rows`` (no copy of the
    other columns)."""
    n = len(df) if rows is None else len(rows)
    if column == SIZE_KNOWN:
        return np.where(size_known(df, rows), "yes", "no").astype(object)
    if column not in df.columns:
        return np.full(n, "", dtype=object)
    values = df[column] if rows is None else df[column].iloc[rows]
    return values.astype("object").fillna("").astype(str).to_numpy()


def _keys(df: pd.DataFrame, columns: tuple[str, ...], rows: np.ndarray | None = None) -> np.ndarray:
    """One string key per row: the values of ``columns`` joined (the empty key for the level of all sales)."""
    n = len(df) if rows is None else len(rows)
    if not columns:
        return np.full(n, "", dtype=object)
    parts = [_group(df, c, rows) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return np.array(["\x1f".join(t) for t in zip(*parts, strict=True)], dtype=object)


def _positions_by_key(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Each distinct key's positions in ``keys``, ascending."""
    if len(keys) == 0:
        return {}
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    bounds = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    return {ordered[lo]: order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)}


def _scope(columns: tuple[str, ...], key: str) -> str:
    """Words for a window's scope: "source askart-ny, lots without a size", "all sources"."""
    if not columns:
        return "all sources"
    words = []
    for col, value in zip(columns, key.split("\x1f"), strict=True):
        if col == SIZE_KNOWN:
            if len(columns) == 1:
                words.append("all sources")
            words.append("lots with a size" if value == "yes" else "lots without a size")
        else:
            words.append(f"{col} {value}")
    return ", ".join(words)


def describe_windows(windows: list[dict]) -> str:
    """One line for a run's metadata: what re-measured the night's ranges (``RollingRecalibration.last``)."""
    used = [w for w in windows if w["n"]]
    if not used:
        return "as calibrated at training (no realised sales since the model's fit ended)"
    shifts = [w["shift_log"] for w in used]
    scopes = sorted({w["scope"] for w in used})
    return (f"re-measured on the latest realised sales ({'; '.join(scopes)}: up to {max(w['n'] for w in used)} "
            f"each): each side moved x{math.exp(min(shifts)):.2f} to x{math.exp(max(shifts)):.2f}"
            + (f"; {len(windows) - len(used)} sale date(s) as calibrated at training" if len(used) < len(windows)
               else ""))


@dataclass
class RollingRecalibration:
    """Re-measures a fitted model's 80% ranges on the latest realised out-of-sample sales before each lot.

    ``apply(valuer, lots, pred, history)`` returns ``pred`` (the model's :data:`PREDICTION_COLUMNS` for ``lots``)
    with each lot's range moved by its window's 80% quantile; ``last`` describes the windows of the last call
    (per source and sale date: sales used, where from, the shift in log price)."""

    window: int = WINDOW
    min_group: int = MIN_GROUP
    levels: tuple[tuple[str, ...], ...] = LEVELS
    coverage: float = INTERVAL_COVERAGE
    last: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if int(self.window) < 1 or int(self.min_group) < 1:
            raise ValueError(f"window and min_group must be >= 1, got {self.window} and {self.min_group}")
        if not 0.0 < float(self.coverage) < 1.0:
            raise ValueError(f"coverage must be between 0 and 1, got {self.coverage}")
        self.levels = tuple(tuple(level) for level in self.levels)
        if not self.levels:
            raise ValueError("levels must name at least one grouping (() for all sales)")

    def describe_levels(self) -> str:
        """The grouping in words, finest first: "source and size known, then source, then all sources"."""
        return ", then ".join(" and ".join(c.replace("_", " ") for c in level) or "all sources"
                              for level in self.levels)

    def _lot_keys(self, lots: pd.DataFrame) -> list[tuple]:
        """Per lot: its key at each level and its sale date (in nanoseconds; None where it has none)."""
        keys = [_keys(lots, level) for level in self.levels]
        ns = sale_dates(lots).to_numpy(dtype="datetime64[ns]")
        dates = np.where(np.isnat(ns), None, ns.astype(np.int64).astype(object))  # nanoseconds, None: no date
        return list(zip(*keys, dates, strict=True))

    def _windows(self, lot_keys: list[tuple], r_dates: np.ndarray, r_keys: list[np.ndarray]) -> dict:
        """Per distinct (keys, sale date) of the lots: positions among the realised sales (sorted by date:
        ``r_dates``; ``r_keys`` their key per level) of its window, and the window's scope."""
        by_level = [_positions_by_key(keys) for keys in r_keys]
        empty = np.zeros(0, dtype=int)
        out: dict = {}
        for item in dict.fromkeys(lot_keys):
            *keys, d = item
            # a lot with no sale date is valued as of now: every realised sale counts
            n_before = len(r_dates) if d is None else int(np.searchsorted(
                r_dates, np.datetime64(d, "ns"), side="left"))
            idx, scope = empty, "none"
            for level, key, groups in zip(self.levels, keys, by_level, strict=True):
                found = groups.get(key, empty)
                found = found[found < n_before][-self.window:]
                if len(found) >= self.min_group:
                    idx, scope = found, _scope(level, key)
                    break
            out[item] = (idx, scope)
        return out

    @staticmethod
    def _ranges_of(valuer, sub: pd.DataFrame, y: np.ndarray, lots: pd.DataFrame,  # noqa: ANN001
                   pred: pd.DataFrame, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The model's (low, high) for the window's sales ``sub``. A sale that is also one of ``lots`` (the same
        lot_ref and price: a benchmark's or an evaluation's test lots, which are each other's windows) keeps the
        range already predicted for it; the others are predicted now (in a nightly, the upcoming lots are never
        realised sales, so all of them)."""
        low = np.full(len(sub), np.nan)
        high = np.full(len(sub), np.nan)
        refs = lots["lot_ref"].astype(str).to_numpy() if "lot_ref" in lots else np.zeros(0, dtype=str)
        if len(refs) and len(set(refs)) == len(refs):
            at = pd.Series(np.arange(len(refs)), index=refs)
            hit = at.reindex(sub["lot_ref"].astype(str).to_numpy()).to_numpy()
            found = np.isfinite(hit)
            rows = hit[found].astype(int)
            same = log_hammer_usd(lots).to_numpy(dtype=float)[rows] == y[found]
            where = np.nonzero(found)[0][same]
            low[where] = pred["low_log_usd"].to_numpy(dtype=float)[rows[same]]
            high[where] = pred["high_log_usd"].to_numpy(dtype=float)[rows[same]]
        todo = np.nonzero(np.isnan(low))[0]
        if len(todo):
            p = valuer.predict(sub.iloc[todo].reset_index(drop=True), history)
            low[todo], high[todo] = p["low_log_usd"].to_numpy(dtype=float), p["high_log_usd"].to_numpy(dtype=float)
        return low, high

    def apply(self, valuer, lots: pd.DataFrame, pred: pd.DataFrame,  # noqa: ANN001 - a model.base.Valuer
              history: pd.DataFrame) -> pd.DataFrame:
        lots = lots.reset_index(drop=True)
        pred = pred.reset_index(drop=True)
        self.last = []
        start = out_of_sample_from(valuer)
        if start is None or len(lots) == 0 or history is None or len(history) == 0:
            if start is None and len(lots):
                log.info("ranges as calibrated at training: the model does not say where its fit ended")
            return pred
        h_dates = sale_dates(history)
        keep = np.nonzero(log_hammer_usd(history).notna().to_numpy() & (h_dates >= start).to_numpy())[0]
        # the realised out-of-sample sales as positions in ``history`` (no copy of a million-lot frame), by date
        order = np.lexsort((history["lot_ref"].iloc[keep].astype(str).to_numpy(), h_dates.to_numpy()[keep]))
        pos = keep[order]
        r_dates = h_dates.to_numpy(dtype="datetime64[ns]")[pos]
        lot_keys = self._lot_keys(lots)
        windows = self._windows(lot_keys, r_dates, [_keys(history, level, pos) for level in self.levels])
        needed = np.unique(np.concatenate([idx for idx, _ in windows.values()] + [np.zeros(0, dtype=int)]))
        if len(needed) == 0:
            log.info("ranges as calibrated at training: fewer than %d realised sales since %s", self.min_group,
                     start.date())
            return pred
        sub = history.iloc[pos[needed]].reset_index(drop=True)
        y = log_hammer_usd(sub).to_numpy(dtype=float)
        low, high = self._ranges_of(valuer, sub, y, lots, pred, history)
        score = np.maximum(low - y, y - high)
        score_at = dict(zip(needed.tolist(), score.tolist(), strict=True))
        shift_of: dict = {}
        for key, (idx, scope) in windows.items():
            scores = np.array([score_at[i] for i in idx.tolist()], dtype=float)
            scores = scores[np.isfinite(scores)]  # a sale the model could not score does not count
            if len(scores) < self.min_group:
                shift_of[key], idx, scope = 0.0, idx[:0], "none"
            else:
                shift_of[key] = float(conformal_quantile(scores, self.coverage))
            d = key[-1]
            self.last.append({"group": _scope(self.levels[0], key[0]) if self.levels[0] else "all sources",
                              "sale_date": None if d is None else str(pd.Timestamp(d).date()),
                              "scope": scope, "n": int(len(idx)), "shift_log": round(shift_of[key], 4)})
        shift = np.array([shift_of[k] for k in lot_keys], dtype=float)
        mid = pred["pred_log_usd"].to_numpy(dtype=float)
        low = np.minimum(pred["low_log_usd"].to_numpy(dtype=float) - shift, mid)
        high = np.maximum(pred["high_log_usd"].to_numpy(dtype=float) + shift, mid)
        out = pred.copy()
        out["low_log_usd"], out["high_log_usd"] = low, high
        if self.last:
            shifts = [w["shift_log"] for w in self.last]
            log.info("ranges re-measured on the latest realised sales: %d windows, shift %.3f to %.3f in log price "
                     "(x%.2f to x%.2f on each side)", len(self.last), min(shifts), max(shifts),
                     math.exp(min(shifts)), math.exp(max(shifts)))
        return out[list(PREDICTION_COLUMNS)]
