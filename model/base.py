"""The seam between the pipeline and any valuation model.

A :class:`Valuer` predicts log hammer price (USD) with a central 80% interval for each lot, from the lot's own
fields and the sales history before its sale date. Kinds are registered by name in :data:`VALUER_KINDS`
(``"module:Class"`` strings, imported only when used), so the nightly and the retrain DAG choose a model by
its ``kind`` and the fine-tuned transformer of a later issue plugs in as one more entry.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = ("lot_ref", "pred_log_usd", "low_log_usd", "high_log_usd")
INTERVAL_COVERAGE = 0.80  # central 80% interval, the feed's low_usd..high_usd

# kind -> "module:Class"; register more with register_valuer()
VALUER_KINDS: dict[str, str] = {
    "lgbm_baseline": "model.baseline:LightGBMValuer",
    "hedonic_ridge": "model.baseline:HedonicValuer",
    "transformer": "model.transformer:TransformerValuer",
    "ensemble": "model.ensemble:EnsembleValuer",  # mean of transformer + LightGBM, its own conformal ranges
}


class Valuer(ABC):
    """A trained valuation model. Subclasses set ``kind`` and implement the five methods below."""

    kind: ClassVar[str]
    # The lot columns that fit/predict read (``None``: all of them). Training loads only these from its snapshot,
    # so a tabular model never holds a million lots' titles and descriptions; a test checks that a model fitted on
    # the projected columns predicts exactly what one fitted on all columns does.
    input_columns: ClassVar[tuple[str, ...] | None] = None

    @abstractmethod
    def fit(self, train_lots: pd.DataFrame, history: pd.DataFrame) -> Valuer:
        """Fit on the *sold* lots of ``train_lots`` (others are ignored); ``history`` feeds the features."""

    @abstractmethod
    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        """One row per lot, in order: :data:`PREDICTION_COLUMNS` (natural log of USD, hammer basis)."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the artifact into ``directory`` (which exists and is empty). Must be byte-deterministic."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Valuer:
        """Read an artifact written by :meth:`save`."""

    def params(self) -> dict:
        """Hyper-parameters for the model card."""
        return {}

    def fit_info(self) -> dict:
        """What fitting learned that a reader of the model card wants (sizes, calibration)."""
        return {}


def register_valuer(kind: str, target: str) -> None:
    """Register a valuer kind, e.g. ``register_valuer("text_ft", "model.finetune:TextValuer")``."""
    VALUER_KINDS[kind] = target


def valuer_class(kind: str) -> type[Valuer]:
    try:
        target = VALUER_KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown valuer kind {kind!r}; known: {sorted(VALUER_KINDS)}") from None
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if getattr(cls, "kind", None) != kind:
        raise TypeError(f"{target} declares kind {getattr(cls, 'kind', None)!r}, registered as {kind!r}")
    return cls


def make_valuer(kind: str, **kwargs) -> Valuer:
    return valuer_class(kind)(**kwargs)


# ---- split-conformal intervals (shared by the kinds) -----------------------------------------------------

def conformal_quantile(abs_residuals: np.ndarray, coverage: float = INTERVAL_COVERAGE) -> float:
    """Split-conformal radius: the ceil((n+1)·coverage)-th smallest |residual| (finite-sample corrected).

    With n exchangeable calibration residuals, ``pred ± q`` covers a new point with probability ≥ coverage.
    Returns ``inf`` when n is too small for the requested coverage.
    """
    r = np.sort(np.asarray(abs_residuals, dtype=float)[np.isfinite(abs_residuals)])
    n = len(r)
    k = math.ceil((n + 1) * coverage)
    if n == 0 or k > n:
        return math.inf
    return float(r[k - 1])


# Mondrian bins by how much the model knows about the artist: intervals are wider for artists with no
# record and narrower for well-traded ones, each bin calibrated on its own residuals. Crossed with whether the
# lot has a size: a lot without one is priced with less to go on (its size is the strongest signal after the
# artist), so it gets its own radius per history bin where the calibration slice holds enough such lots.
HISTORY_BINS = (0, 1, 4, 10)  # bin i holds prior_n_sold in [HISTORY_BINS[i], HISTORY_BINS[i+1])
MIN_BIN_SIZE = 30            # a bin with fewer calibration lots uses the pooled radius (of its size knowledge)


def size_known(df: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Whether each row of ``df`` (or the rows at positions ``rows``) has a positive height and width."""
    n = len(df) if rows is None else len(rows)
    known = np.ones(n, dtype=bool)
    for col in ("height_cm", "width_cm"):
        if col not in df.columns:
            return np.zeros(n, dtype=bool)
        values = df[col] if rows is None else df[col].iloc[rows]
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        known &= np.isfinite(v) & (v > 0)
    return known


def history_bin(prior_n_sold: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(HISTORY_BINS[1:], dtype=float),
                           np.nan_to_num(np.asarray(prior_n_sold, dtype=float)), side="right")


def without_size(lots: pd.DataFrame) -> pd.DataFrame:
    """``lots`` as a catalogue without sizes would send them: height, width and depth blank."""
    return lots.assign(**{c: np.nan for c in ("height_cm", "width_cm", "depth_cm") if c in lots.columns})


def scores_without_size(score: Callable[[pd.DataFrame, np.ndarray], np.ndarray], cal_lots: pd.DataFrame,
                        y: np.ndarray) -> np.ndarray:
    """Conformity scores of the calibration lots that have a size, scored as if they had none (NaN for the lots
    without one). ``score(lots, y)`` is the model's score (``|y - prediction|``, or CQR's) for ``lots``. Where a
    history bin holds too few real lots without a size, these measure how much the model loses without it."""
    sized = size_known(cal_lots)
    out = np.full(len(cal_lots), np.nan)
    if sized.any():
        rows = np.nonzero(sized)[0]
        out[rows] = score(without_size(cal_lots.iloc[rows].reset_index(drop=True)), np.asarray(y, float)[rows])
    return out


def _bin_radii(res: np.ndarray, bins: np.ndarray, pooled: float, coverage: float) -> tuple[dict, dict]:
    """Per history bin: the conformal radius of its residuals (``pooled`` with fewer than MIN_BIN_SIZE), and n."""
    radii, sizes = {}, {}
    for b in range(len(HISTORY_BINS)):
        mask = bins == b
        sizes[str(b)] = int(mask.sum())
        radii[str(b)] = conformal_quantile(res[mask], coverage) if mask.sum() >= MIN_BIN_SIZE else pooled
    return radii, sizes


def calibrate_radii(abs_residuals: np.ndarray, prior_n_sold: np.ndarray,
                    coverage: float = INTERVAL_COVERAGE, sized: np.ndarray | None = None,
                    masked: np.ndarray | None = None) -> dict:
    """Pooled and per-history-bin conformal radii (bins with < MIN_BIN_SIZE lots fall back to pooled).

    With ``sized`` (:func:`size_known` of the calibration lots), the bins are calibrated on the lots with a size
    (``bins``) and, apart, on those without (``bins_no_size``). A bin with fewer than MIN_BIN_SIZE lots without a
    size adds ``masked`` (:func:`scores_without_size`: the lots with a size, scored as if they had none); with
    still too few, it takes the wider of its radius with a size and the pooled radius without. ``no_size_from``
    says, per bin, which it was."""
    res = np.asarray(abs_residuals, dtype=float)
    bins = history_bin(prior_n_sold)
    out = {"coverage": coverage, "history_bins": list(HISTORY_BINS), "n_calibration": int(len(res))}
    if sized is None:
        pooled = conformal_quantile(res, coverage)
        out["bins"], out["bin_sizes"] = _bin_radii(res, bins, pooled, coverage)
        return {**out, "pooled": pooled}
    sized = np.asarray(sized, dtype=bool)
    pooled = conformal_quantile(res[sized] if sized.sum() >= MIN_BIN_SIZE else res, coverage)
    out["bins"], out["bin_sizes"] = _bin_radii(res[sized], bins[sized], pooled, coverage)
    masked = np.full(len(res), np.nan) if masked is None else np.asarray(masked, dtype=float)
    has_masked = sized & np.isfinite(masked)
    real = res[~sized]
    every = np.concatenate([real, masked[has_masked]])
    pooled_no = (conformal_quantile(real, coverage) if len(real) >= MIN_BIN_SIZE
                 else conformal_quantile(every, coverage) if len(every) >= MIN_BIN_SIZE else pooled)
    radii, sizes, source = {}, {}, {}
    for b in range(len(HISTORY_BINS)):
        real_b = res[~sized & (bins == b)]
        sizes[str(b)] = int(len(real_b))
        if len(real_b) >= MIN_BIN_SIZE:
            radii[str(b)], source[str(b)] = conformal_quantile(real_b, coverage), "lots without a size"
            continue
        both = np.concatenate([real_b, masked[has_masked & (bins == b)]])
        if len(both) >= MIN_BIN_SIZE:
            radii[str(b)] = conformal_quantile(both, coverage)
            source[str(b)] = "lots with a size scored without it" + (" and lots without" if len(real_b) else "")
        else:
            radii[str(b)], source[str(b)] = max(out["bins"][str(b)], pooled_no), "fallback"
    out["bins_no_size"], out["bin_sizes_no_size"], out["no_size_from"] = radii, sizes, source
    return {**out, "pooled": pooled, "pooled_no_size": pooled_no}


def interval_radius(calibration: dict, prior_n_sold: np.ndarray, sized: np.ndarray | None = None) -> np.ndarray:
    """Each lot's conformal radius: its history bin's, from the lots without a size where ``sized`` says it has
    none and the calibration measured them (a calibration from before the size bins: one radius for all)."""
    bins = history_bin(prior_n_sold)
    radii = np.array([calibration["bins"][str(b)] for b in range(len(HISTORY_BINS))], dtype=float)
    radius = radii[bins]
    if sized is not None and "bins_no_size" in calibration:
        no_size = np.array([calibration["bins_no_size"][str(b)] for b in range(len(HISTORY_BINS))], dtype=float)
        radius = np.where(np.asarray(sized, dtype=bool), radius, no_size[bins])
    return radius


def calibration_split(sold: pd.DataFrame, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, calibrate): the latest ``fraction`` of sold lots by sale date calibrate.

    All lots of one sale date fall on the same side, so the calibration set is strictly later than the fit set.
    """
    dates = pd.to_datetime(sold["sale_date"]).to_numpy()
    order = np.sort(dates)
    cut = order[min(len(order) - 1, int(math.floor(len(order) * (1.0 - fraction))))]
    calib = dates >= cut
    if calib.all():  # a single sale date: nothing earlier to fit on; calibrate in-sample instead
        return np.ones(len(dates), bool), np.ones(len(dates), bool)
    return ~calib, calib
