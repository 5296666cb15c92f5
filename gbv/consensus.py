"""Reliability-weighted expert consensus per lot.

Input: accepted labels from :func:`quality.labels.validate_labels` (``lot_ref``, ``expert_key``,
``value_point_usd`` and, where given, ``value_low_usd``/``value_high_usd``/``style``) and, optionally, realised
prices (``lot_ref``, ``hammer_usd``) for lots that have sold. Output: one row per lot with
:data:`gbv.contracts.CONSENSUS_COLUMNS`, and one row per expert describing how far they are trusted.

Method (everything on the log scale, where an expert's error is roughly multiplicative):

* Each expert *j* reads a lot of (log) value ``x`` as ``y = m + b_j + a_j (x - m) + e``: a systematic log bias
  ``b_j`` at the panel's typical value ``m`` (the median label), a calibration slope ``a_j`` (1 for a calibrated
  expert; below 1 for one who compresses prices toward the typical; negative for one whose values run against
  the truth) and a noise ``e`` of sd ``s_j``. A label is read as the value ``m + (y - m - b_j) / a_j`` with
  precision (its weight) ``a_j² / s_j²``.
* Starting from equal weights, no bias and slope 1, a few rounds (``ROUNDS``) alternate between
  (1) the lot consensus: a robust (Huber-downweighted) precision-weighted mean of the labels read as values, and
  (2) the expert parameters, by each expert's regression of their labels on references: the **leave-one-out**
  consensus of the other experts on the same lot and, where the lot sold, the **realised hammer price** (gold).
  Each reference is weighted by the inverse of the residual's variance (the expert's own noise plus the
  reference's: the peer consensus' sampling variance, or for gold the sale-day surprise), and the references'
  own variance is corrected for (errors in variables) and subtracted, in aggregate, when estimating ``s_j``.
* A slope departs from 1 only where it stands out by more than ``SLOPE_K`` standard errors (and stays within
  ``SLOPE_RANGE``): when no expert stands out the estimator is the bias-corrected precision-weighted mean, with
  no extra noise from estimating slopes; an expert who runs against the truth still adds information.
* Basis: with realised prices the biases are measured against hammer prices, so ``consensus_usd`` is on the
  hammer basis; without any, peers alone cannot reveal a panel-wide offset or scale, so the well-calibrated
  experts' precision-weighted mean bias is pinned at 0 and mean slope at 1 (the consensus is then the panel's
  bias-free view). A realised price's own scatter around the value experts aim at (the sale-day surprise, market
  noise) is estimated from the part of the gold residuals that the experts on a sold lot share (no expert can
  know it), so it is neither charged to the experts' noise nor lets a surprising sale outweigh peer evidence.
* Experts with few labels are shrunk toward a prior: the bias toward 0 and the variance toward the pooled
  variance of all experts and the slope toward 1, each with ``prior_weight × PRIOR_LABELS`` pseudo-labels.
* ``low_usd``/``high_usd`` are the same weighted means of the labels' log low/high values read as values (so
  the interval is the experts' own, on the hammer basis); a lot whose labels give no low/high gets
  ``consensus × exp(∓1.2816 × se)`` with ``se`` the consensus' standard error. ``spread`` is the weighted
  standard deviation of the labels read as values (0 for a single label). ``market_log_sd`` of the result:
  how far realised prices scatter around the value experts aim at (NaN without realised prices).
* Style: one-coin Dawid-Skene (crowd-kit; :data:`STYLE_AGGREGATOR`, chosen by ``gbv bench consensus``) over
  (lot, expert, style), with majority vote for tiny inputs;
  ``style_confidence`` is the posterior probability of the chosen style.

Deterministic: inputs are sorted before use and nothing is random.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gbv.contracts import CONSENSUS_COLUMNS

log = logging.getLogger(__name__)

RELIABILITY_COLUMNS = ("expert_key", "n_labels", "n_gold", "weight", "log_bias", "log_sd")

ROUNDS = 8  # reliability re-estimation rounds
PRIOR_LABELS = 5.0  # pseudo-labels of the prior per unit of prior_weight
HUBER_K = 2.0  # residuals beyond K standard deviations are downweighted
MIN_LOG_SD = 0.05  # nobody is trusted more than a ±5 % expert
SLOPE_RANGE = (-2.0, 3.0)  # calibration slopes are kept within this range
SLOPE_K = 3.0  # standard errors a slope must stand out from 1 before it counts
MIN_SLOPE = 0.1  # |slope| floor when a label is read as a value (its weight uses the true slope)
DEFAULT_LOG_SD = 0.5  # prior noise when there is nothing to pool (a lone label)
Z80 = 1.2816  # half-width of a central 80 % normal interval, in sd
MIN_DS_LABELS = 20  # below this many style labels (or with a single expert) use majority vote


@dataclass
class ConsensusResult:
    consensus: pd.DataFrame  # CONSENSUS_COLUMNS, one row per lot, sorted by lot_ref
    reliability: pd.DataFrame  # RELIABILITY_COLUMNS, one row per expert, sorted by expert_key
    # how far realised prices scatter (log sd) around the value experts aim at, from the gold residuals beyond the
    # experts' own noise; NaN without realised prices
    market_log_sd: float = float("nan")


def compute_consensus(accepted: pd.DataFrame, realised: pd.DataFrame | None = None, *,
                      prior_weight: float = 1.0) -> ConsensusResult:
    """Consensus value, interval and style per lot from accepted expert labels (see the module notes)."""
    if prior_weight < 0:
        raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
    labels = _prepare(accepted)
    if labels.empty:
        return ConsensusResult(
            consensus=pd.DataFrame({c: pd.Series(dtype=_CONSENSUS_DTYPES[c]) for c in CONSENSUS_COLUMNS}),
            reliability=pd.DataFrame({c: pd.Series(dtype=_RELIABILITY_DTYPES[c]) for c in RELIABILITY_COLUMNS}))

    lots, lot_idx = np.unique(labels["lot_ref"].to_numpy(dtype=object).astype(str), return_inverse=True)
    experts, exp_idx = np.unique(labels["expert_key"].to_numpy(dtype=object).astype(str), return_inverse=True)
    y = np.log(labels["value_point_usd"].to_numpy(dtype="float64"))
    gold = _gold(realised, lots)
    n_lots, n_exp = len(lots), len(experts)

    centre = float(np.median(y))  # slopes pivot about the panel's typical value; biases are offsets there
    fit = _fit_reliability(y - centre, lot_idx, exp_idx, gold - centre, n_lots, n_exp,
                           prior_weight * PRIOR_LABELS)
    bias, slope, sd = fit["bias"], fit["slope"], fit["sd"]
    z, precision, zsd = _as_value(y - centre, bias, slope, sd, exp_idx)
    c, w_label = _robust_lot_means(z, lot_idx, precision, zsd, n_lots)
    w_sum = np.bincount(lot_idx, weights=w_label, minlength=n_lots)
    spread = np.sqrt(np.bincount(lot_idx, weights=w_label * (z - c[lot_idx]) ** 2, minlength=n_lots)
                     / w_sum)
    se = 1.0 / np.sqrt(np.maximum(np.bincount(lot_idx, weights=precision, minlength=n_lots), 1e-12))
    low, high = _bounds(labels, centre, bias, slope, exp_idx, lot_idx, w_label, n_lots,
                        default=(c - Z80 * se, c + Z80 * se))
    c, low, high = c + centre, low + centre, high + centre
    low, high = np.minimum(low, c), np.maximum(high, c)
    n_experts = np.bincount(lot_idx, minlength=n_lots)  # labels are unique per (lot, expert) after _prepare
    spread = np.where(n_experts > 1, spread, 0.0)  # exactly 0, not rounding noise, for a lone label

    style, style_conf = _styles(labels, lots)
    consensus = pd.DataFrame({
        "lot_ref": lots.astype(object), "consensus_usd": np.exp(c), "low_usd": np.exp(low),
        "high_usd": np.exp(high), "n_experts": n_experts.astype("int64"), "spread": spread,
        "style": style, "style_confidence": style_conf,
    })[list(CONSENSUS_COLUMNS)]

    info = slope**2 / sd**2  # what one label of the expert is worth to the consensus
    weight = info / info.mean() if info.mean() > 0 else np.ones(n_exp)
    reliability = pd.DataFrame({
        "expert_key": experts.astype(object),
        "n_labels": np.bincount(exp_idx, minlength=n_exp).astype("int64"),
        "n_gold": np.bincount(exp_idx, weights=np.isfinite(gold[lot_idx]).astype(float),
                              minlength=n_exp).astype("int64"),
        "weight": weight, "log_bias": bias, "log_sd": sd,
    })[list(RELIABILITY_COLUMNS)]
    log.info("consensus: %d lots from %d labels by %d experts (%d lots with a realised price)", n_lots,
             len(labels), n_exp, int(np.isfinite(gold).sum()))
    return ConsensusResult(consensus=consensus, reliability=reliability,
                           market_log_sd=float(np.sqrt(fit["market_var"])))


_CONSENSUS_DTYPES = {"lot_ref": object, "consensus_usd": "float64", "low_usd": "float64", "high_usd": "float64",
                     "n_experts": "int64", "spread": "float64", "style": object, "style_confidence": "float64"}
_RELIABILITY_DTYPES = {"expert_key": object, "n_labels": "int64", "n_gold": "int64", "weight": "float64",
                       "log_bias": "float64", "log_sd": "float64"}


# ---- input -------------------------------------------------------------------------------------------------
def _prepare(accepted: pd.DataFrame) -> pd.DataFrame:
    """Usable labels, sorted; one per (lot, expert): the latest submitted wins (a revised label)."""
    need = {"lot_ref", "expert_key", "value_point_usd"}
    missing = sorted(need - set(accepted.columns))
    if missing:
        raise ValueError(f"accepted labels lack column(s): {', '.join(missing)}")
    df = accepted.copy()
    for col in ("value_low_usd", "value_high_usd", "style"):
        if col not in df.columns:
            df[col] = None
    df["value_point_usd"] = pd.to_numeric(df["value_point_usd"], errors="coerce")
    usable = df["lot_ref"].notna() & df["expert_key"].notna() & (df["value_point_usd"] > 0) & np.isfinite(
        df["value_point_usd"])
    df = df[usable]
    order = ["lot_ref", "expert_key"] + (["submitted_at"] if "submitted_at" in df.columns else [])
    extra = ["label_id"] if "label_id" in df.columns else []
    df = df.sort_values(order + extra, kind="stable", na_position="first")
    df = df.drop_duplicates(["lot_ref", "expert_key"], keep="last")
    return df.reset_index(drop=True)


def _gold(realised: pd.DataFrame | None, lots: np.ndarray) -> np.ndarray:
    """Log realised hammer (USD) per lot, NaN where none."""
    gold = np.full(len(lots), np.nan)
    if realised is None or realised.empty:
        return gold
    r = realised[["lot_ref", "hammer_usd"]].copy()
    r["hammer_usd"] = pd.to_numeric(r["hammer_usd"], errors="coerce")
    r = r[(r["hammer_usd"] > 0) & np.isfinite(r["hammer_usd"])].drop_duplicates("lot_ref", keep="last")
    price = dict(zip(r["lot_ref"].astype(str), np.log(r["hammer_usd"].to_numpy(dtype="float64")), strict=True))
    return np.array([price.get(lot, np.nan) for lot in lots])


# ---- reliability -------------------------------------------------------------------------------------------
def _huber(scaled_residual: np.ndarray) -> np.ndarray:
    a = np.abs(scaled_residual)
    return np.where(a <= HUBER_K, 1.0, HUBER_K / np.maximum(a, 1e-12))


def _robust_lot_means(z: np.ndarray, lot_idx: np.ndarray, precision: np.ndarray, sd: np.ndarray, n_lots: int,
                      iters: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Huber-weighted mean of z per lot (weights = label precision × Huber weight); also the label weights."""
    w = np.maximum(precision, 1e-12)
    c = np.bincount(lot_idx, weights=w * z, minlength=n_lots) / np.bincount(lot_idx, weights=w, minlength=n_lots)
    wl = w
    for _ in range(iters):
        h = _huber((z - c[lot_idx]) / sd)
        wl = w * h
        c = np.bincount(lot_idx, weights=wl * z, minlength=n_lots) / np.bincount(lot_idx, weights=wl,
                                                                                   minlength=n_lots)
    return c, wl


def _fit_reliability(y: np.ndarray, lot_idx: np.ndarray, exp_idx: np.ndarray, gold: np.ndarray, n_lots: int,
                     n_exp: int, n0: float) -> dict[str, np.ndarray]:
    """Per expert: offset ``bias``, calibration ``slope`` and noise ``sd`` of ``y = bias + slope·x + e`` with
    ``x`` the lot's (centred) log value; ``y`` must be centred the same way."""
    bias = np.zeros(n_exp)
    slope = np.ones(n_exp)
    sd = np.full(n_exp, DEFAULT_LOG_SD)
    has_gold = np.isfinite(gold[lot_idx])
    g = np.where(has_gold, gold[lot_idx], 0.0)
    market_var = 0.0  # variance of a realised price around the value experts aim at (estimated below)
    for _ in range(ROUNDS):
        z, prec, zsd = _as_value(y, bias, slope, sd, exp_idx)
        c, wl = _robust_lot_means(z, lot_idx, prec, zsd, n_lots)
        # leave-one-out consensus of the other experts on the same lot (value units)
        s_all = np.bincount(lot_idx, weights=wl * z, minlength=n_lots)
        w_all = np.bincount(lot_idx, weights=wl, minlength=n_lots)
        p_all = np.bincount(lot_idx, weights=prec, minlength=n_lots)
        w_rest = w_all[lot_idx] - wl
        p_rest = p_all[lot_idx] - prec
        has_peer = w_rest > 1e-12 * np.maximum(w_all[lot_idx], 1e-300)
        loo = np.where(has_peer, (s_all[lot_idx] - wl * z) / np.where(has_peer, w_rest, 1.0), 0.0)
        loo_var = np.where(has_peer, 1.0 / np.where(p_rest > 1e-12, p_rest, 1.0), 0.0)

        # observations per label: (label, reference value, variance of the reference, weight)
        who = np.concatenate([exp_idx[has_peer], exp_idx[has_gold]])
        if len(who) == 0:  # lone labels and no prices: nothing to learn from
            break
        yy = np.concatenate([y[has_peer], y[has_gold]])
        ref = np.concatenate([loo[has_peer], g[has_gold]])
        ref_var = np.concatenate([loo_var[has_peer], np.full(has_gold.sum(), market_var)])
        # each reference counts by how much of the residual's variance is the expert's own (label units), so
        # peer and gold references are weighted by inverse variance: a noisy peer consensus or a surprising sale
        # (the sale-day surprise, market_var) says less about the expert than a tight one
        own = sd[who] ** 2
        noise_var = own + slope[who] ** 2 * ref_var
        omega = own / noise_var
        res = yy - bias[who] - slope[who] * ref
        wt = omega * _huber(res / np.sqrt(noise_var))
        bias, slope = _regress(yy, ref, ref_var, wt, who, n_exp, n0, sd)
        if not has_gold.any():
            # peers alone cannot tell the panel's offset or scale; anchor the well-calibrated experts' weighted
            # mean bias at 0 and mean slope at 1 (the consensus is then the panel's bias-free view)
            share = np.bincount(who, weights=wt, minlength=n_exp) * np.maximum(slope, 0.0) ** 2 / sd**2
            if share.sum() > 0:
                bias = bias - np.sum(share * bias) / share.sum()
                slope = slope / max(np.sum(share * slope) / share.sum(), 1e-6)
        res = yy - bias[who] - slope[who] * ref
        # the reference's own variance is subtracted in aggregate, not label by label: flooring each label's
        # excess at 0 would charge a noisy reference (a surprising sale) to the expert
        sq = res**2 - slope[who] ** 2 * ref_var
        w_exp = np.bincount(who, weights=wt, minlength=n_exp)
        sq_exp = np.bincount(who, weights=wt * sq, minlength=n_exp)
        pooled = sq_exp.sum() / w_exp.sum() if w_exp.sum() > 0 else DEFAULT_LOG_SD**2
        var = (n0 * pooled + sq_exp) / (n0 + w_exp)
        var = np.where(n0 + w_exp > 0, var, pooled)
        sd = np.sqrt(np.maximum(var, MIN_LOG_SD**2))
        if has_gold.any():
            market_var = _market_var(y[has_gold], g[has_gold], lot_idx[has_gold], exp_idx[has_gold], bias, slope,
                                     sd, market_var, n_lots)
    return {"bias": bias, "slope": slope, "sd": sd,
            "market_var": market_var if has_gold.any() else float("nan")}


def _market_var(yg: np.ndarray, g: np.ndarray, lot: np.ndarray, e: np.ndarray, bias: np.ndarray, slope: np.ndarray,
                sd: np.ndarray, market_var: float, n_lots: int) -> float:
    """Variance of a realised price around the value experts aim at (the sale-day surprise), from the gold
    residuals ``r = y - bias - slope·price = noise - slope·surprise`` of the labels on sold lots.

    The surprise is the part of the residuals that the experts on a lot share: for two experts j ≠ k on the same
    lot ``E[r_j r_k] = slope_j slope_k · market_var`` whatever their own noise, so it is estimated from the
    cross products of residuals within lots (labels weighted by ``slope / sd²``), without leaning on the
    experts' noise estimates. Where no sold lot has two labels, it falls back on the residuals' excess over the
    experts' own noise (Huber-weighted)."""
    r = yg - bias[e] - slope[e] * g
    w = slope[e] / sd[e] ** 2
    per_lot = lambda v: np.bincount(lot, weights=v, minlength=n_lots)  # noqa: E731
    num = float(np.sum(per_lot(w * r) ** 2) - np.sum((w * r) ** 2))  # sum over pairs j != k of w_j w_k r_j r_k
    den = float(np.sum(per_lot(w * slope[e]) ** 2) - np.sum((w * slope[e]) ** 2))
    if den > 1e-9 * max(float(np.sum((w * slope[e]) ** 2)), 1e-300):
        return max(0.0, num / den)
    h = _huber(r / np.sqrt(sd[e] ** 2 + slope[e] ** 2 * market_var))
    s2 = slope[e] ** 2
    return max(0.0, float(np.sum(h * s2 * (r**2 - sd[e] ** 2)) / max(np.sum(h * s2**2), 1e-12)))


def _regress(yy: np.ndarray, ref: np.ndarray, ref_var: np.ndarray, wt: np.ndarray, who: np.ndarray, n_exp: int,
             n0: float, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per expert, weighted least squares of label on reference, ``y = bias + slope·ref``, corrected for the
    reference's own error (errors in variables) and shrunk toward bias 0 and slope 1 by ``n0`` pseudo-labels
    (spread like the references); the slope is kept within ``SLOPE_RANGE``."""
    b = lambda v: np.bincount(who, weights=v, minlength=n_exp)  # noqa: E731
    sw, sr, sy = b(wt), b(wt * ref), b(wt * yy)
    sry, srr = b(wt * ref * yy), b(wt * np.maximum(ref**2 - ref_var, 0.0))
    spread = float(np.sum(wt * (ref**2)) / max(wt.sum(), 1e-12)) or 1.0  # reference variance (centred values)
    a11, a12, a22 = sw + n0, sr, srr + n0 * spread
    r1, r2 = sy, sry + n0 * spread
    det = a11 * a22 - a12**2
    ok = det > 1e-9 * np.maximum(a11 * a22, 1e-300)
    slope = np.where(ok, (a11 * r2 - a12 * r1) / np.where(ok, det, 1.0), 1.0)
    # a slope departs from 1 only where it stands out by more than SLOPE_K standard errors: when no
    # expert stands out, every slope is 1 and the consensus is the bias-corrected precision-weighted mean
    noise = sd**2 + np.where(sw > 0, b(wt * ref_var) / np.where(sw > 0, sw, 1.0), 0.0)  # label vs reference
    se = np.sqrt(np.where(ok, noise * a11 / np.where(ok, det, 1.0), np.inf))
    slope = np.where(np.abs(slope - 1.0) > SLOPE_K * se, slope, 1.0)
    slope = np.clip(slope, *SLOPE_RANGE)
    bias = np.where(a11 > 0, (r1 - a12 * slope) / np.where(a11 > 0, a11, 1.0), 0.0)
    return bias, slope


def _as_value(y: np.ndarray, bias: np.ndarray, slope: np.ndarray, sd: np.ndarray,
              exp_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each label as a reading of the lot's value: ``(y - bias) / slope``, its precision ``slope² / sd²`` and
    sd ``sd / |slope|`` (the slope's magnitude floored at ``MIN_SLOPE`` for the reading and its sd)."""
    s = slope[exp_idx]
    s_safe = np.where(s >= 0, np.maximum(s, MIN_SLOPE), np.minimum(s, -MIN_SLOPE))
    return (y - bias[exp_idx]) / s_safe, s**2 / sd[exp_idx] ** 2, sd[exp_idx] / np.abs(s_safe)


def _bounds(labels: pd.DataFrame, centre: float, bias: np.ndarray, slope: np.ndarray, exp_idx: np.ndarray,
            lot_idx: np.ndarray, w_label: np.ndarray, n_lots: int,
            default: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means per lot of the labels' low and high read as values (centred like the consensus), the
    ``default`` where no label gives one. A negative slope turns an expert's low into a high reading."""
    s = slope[exp_idx]
    s_safe = np.where(s >= 0, np.maximum(s, MIN_SLOPE), np.minimum(s, -MIN_SLOPE))
    read = []
    for col in ("value_low_usd", "value_high_usd"):
        v = pd.to_numeric(labels[col], errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(v) & (v > 0)
        read.append(np.where(ok, (np.log(np.where(ok, v, 1.0)) - centre - bias[exp_idx]) / s_safe, np.nan))
    lo = np.where(s_safe > 0, read[0], read[1])
    hi = np.where(s_safe > 0, read[1], read[0])
    out = []
    for r, d in zip((np.fmin(lo, hi), np.fmax(lo, hi)), default, strict=True):
        ok = np.isfinite(r)
        w = np.where(ok, w_label, 0.0)
        w_sum = np.bincount(lot_idx, weights=w, minlength=n_lots)
        total = np.bincount(lot_idx, weights=w * np.where(ok, r, 0.0), minlength=n_lots)
        out.append(np.where(w_sum > 0, total / np.where(w_sum > 0, w_sum, 1.0), d))
    return out[0], out[1]


# ---- style -------------------------------------------------------------------------------------------------
def _styles(labels: pd.DataFrame, lots: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Aggregated style and its posterior probability per lot (None / NaN where no label gives a style)."""
    data = pd.DataFrame({"task": labels["lot_ref"].astype(str), "worker": labels["expert_key"].astype(str),
                         "label": labels["style"]})
    data = data[data["label"].notna() & (data["label"].astype(str).str.strip() != "")]
    style = pd.Series([None] * len(lots), index=lots, dtype=object)
    conf = pd.Series(np.nan, index=lots, dtype="float64")
    if data.empty:
        return style.reset_index(drop=True), conf.to_numpy()
    data = data.assign(label=data["label"].astype(str)).sort_values(["task", "worker"], kind="stable")
    data = data.reset_index(drop=True)
    probas = _style_probas(data)
    # deterministic argmax: highest probability, ties to the alphabetically first style
    probas = probas.reindex(sorted(probas.columns), axis=1).sort_index()
    best = probas.idxmax(axis=1)
    style.loc[best.index] = best.to_numpy(dtype=object)
    conf.loc[best.index] = probas.max(axis=1).to_numpy(dtype="float64")
    return style.reset_index(drop=True), conf.to_numpy()


# Style aggregators (crowd-kit) the benchmark compares (``gbv bench consensus``); STYLE_AGGREGATOR is the one
# chosen by it and used by the product.
STYLE_AGGREGATORS = ("MajorityVote", "DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE")
# On the style table (5 seeds) OneCoinDawidSkene, GLAD and MACE tie at the top (0.946 mean accuracy, DawidSkene
# 0.941, MajorityVote 0.926); one-coin Dawid-Skene is the simplest of them (one accuracy per expert instead of a
# full confusion matrix, so it does not overfit experts with few labels), needs no random restarts (MACE does,
# seeded here) and is numerically quiet (GLAD's prior term hits log(0) on these panels).
STYLE_AGGREGATOR = "OneCoinDawidSkene"


def style_aggregator(name: str):  # noqa: ANN201 - a crowd-kit aggregator
    """A fresh crowd-kit aggregator by name (deterministic settings)."""
    from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene

    makers = {"MajorityVote": MajorityVote, "DawidSkene": lambda: DawidSkene(n_iter=100, tol=1e-6),
              "OneCoinDawidSkene": lambda: OneCoinDawidSkene(n_iter=100, tol=1e-6),
              "GLAD": lambda: GLAD(n_iter=50, tol=1e-5), "MACE": lambda: MACE(n_restarts=3, n_iter=50,
                                                                               random_state=0)}
    if name not in makers:
        raise ValueError(f"unknown style aggregator {name!r}; one of {', '.join(STYLE_AGGREGATORS)}")
    return makers[name]()


def style_probas(data: pd.DataFrame, aggregator: str = STYLE_AGGREGATOR) -> pd.DataFrame:
    """Posterior style probabilities per task from (task, worker, label) rows with the named aggregator."""
    agg = style_aggregator(aggregator)
    agg.fit(data)
    probas = agg.probas_
    return probas.fillna(0.0)


def _style_probas(data: pd.DataFrame) -> pd.DataFrame:
    if len(data) >= MIN_DS_LABELS and data["worker"].nunique() >= 2 and data["label"].nunique() >= 2:
        return style_probas(data, STYLE_AGGREGATOR)
    return style_probas(data, "MajorityVote")


# ---- point in time: the consensus a lot had before its sale (model feature and target, no leakage) ---------
PIT_COLUMNS = ("lot_ref", "consensus_usd", "n_experts", "spread")
PIT_PERIOD_MONTHS = 3  # expert parameters are re-learned at the start of every such period


@dataclass
class ExpertParams:
    """Expert bias, slope and noise learned by :func:`fit_experts` (log scale, centred at ``centre``)."""

    centre: float
    bias: dict[str, float]
    slope: dict[str, float]
    sd: dict[str, float]

    def arrays(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bias, slope, sd) per key; an expert not seen yet gets bias 0, slope 1 and the median noise."""
        default_sd = float(np.median(list(self.sd.values()))) if self.sd else DEFAULT_LOG_SD
        return (np.array([self.bias.get(k, 0.0) for k in keys], dtype="float64"),
                np.array([self.slope.get(k, 1.0) for k in keys], dtype="float64"),
                np.array([self.sd.get(k, default_sd) for k in keys], dtype="float64"))


def fit_experts(accepted: pd.DataFrame, realised: pd.DataFrame | None = None, *,
                prior_weight: float = 1.0) -> ExpertParams | None:
    """The expert parameters :func:`compute_consensus` learns from ``accepted`` labels and ``realised`` prices
    (None when there is no usable label)."""
    labels = _prepare(accepted)
    if labels.empty:
        return None
    lots, lot_idx = np.unique(labels["lot_ref"].to_numpy(dtype=object).astype(str), return_inverse=True)
    experts, exp_idx = np.unique(labels["expert_key"].to_numpy(dtype=object).astype(str), return_inverse=True)
    y = np.log(labels["value_point_usd"].to_numpy(dtype="float64"))
    centre = float(np.median(y))
    fit = _fit_reliability(y - centre, lot_idx, exp_idx, _gold(realised, lots) - centre, len(lots), len(experts),
                           prior_weight * PRIOR_LABELS)
    keys = [str(k) for k in experts]
    return ExpertParams(centre=centre, bias=dict(zip(keys, map(float, fit["bias"]), strict=True)),
                        slope=dict(zip(keys, map(float, fit["slope"]), strict=True)),
                        sd=dict(zip(keys, map(float, fit["sd"]), strict=True)))


def apply_experts(params: ExpertParams | None, accepted: pd.DataFrame) -> pd.DataFrame:
    """Consensus per lot of ``accepted`` labels read through fixed expert ``params`` (:data:`PIT_COLUMNS`);
    without params every expert is taken as unbiased, calibrated and of typical noise."""
    labels = _prepare(accepted)
    if labels.empty:
        return pd.DataFrame({c: pd.Series(dtype=_CONSENSUS_DTYPES[c]) for c in PIT_COLUMNS})
    lots, lot_idx = np.unique(labels["lot_ref"].to_numpy(dtype=object).astype(str), return_inverse=True)
    experts, exp_idx = np.unique(labels["expert_key"].to_numpy(dtype=object).astype(str), return_inverse=True)
    y = np.log(labels["value_point_usd"].to_numpy(dtype="float64"))
    params = params or ExpertParams(centre=float(np.median(y)), bias={}, slope={}, sd={})
    bias, slope, sd = params.arrays(experts)
    z, precision, zsd = _as_value(y - params.centre, bias, slope, sd, exp_idx)
    c, w_label = _robust_lot_means(z, lot_idx, precision, zsd, len(lots))
    w_sum = np.bincount(lot_idx, weights=w_label, minlength=len(lots))
    spread = np.sqrt(np.bincount(lot_idx, weights=w_label * (z - c[lot_idx]) ** 2, minlength=len(lots)) / w_sum)
    n_experts = np.bincount(lot_idx, minlength=len(lots))
    return pd.DataFrame({"lot_ref": lots.astype(object), "consensus_usd": np.exp(c + params.centre),
                         "n_experts": n_experts.astype("int64"),
                         "spread": np.where(n_experts > 1, spread, 0.0)})[list(PIT_COLUMNS)]


def _naive_times(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC ``datetime64[ns]`` (tz-aware values converted, naive ones taken as UTC)."""
    t = pd.to_datetime(values, errors="coerce", utc=True)
    return t.dt.tz_localize(None).astype("datetime64[ns]")


def point_in_time_consensus(lots: pd.DataFrame, labels: pd.DataFrame, realised: pd.DataFrame | None = None, *,
                            period_months: int = PIT_PERIOD_MONTHS, prior_weight: float = 1.0) -> pd.DataFrame:
    """The consensus each of ``lots`` (``lot_ref, sale_date``) had **before its sale**, :data:`PIT_COLUMNS`.

    No leakage: a lot's value is read from its own labels submitted strictly before its sale date (the day
    itself excluded), through expert parameters learned at the start ``p`` of the lot's period (calendar
    periods of ``period_months``) from labels submitted before ``p`` and realised prices (``realised``:
    ``lot_ref, hammer_usd, sale_date``) of sales before ``p``. So nothing known only on or after the sale day
    (its own price, later labels, later sales) reaches it, and adding later labels or sales never changes it.
    ``labels``: accepted labels with ``lot_ref, expert_key, value_point_usd, submitted_at``.
    One row per lot with at least one such label, sorted by lot_ref.
    """
    empty = pd.DataFrame({c: pd.Series(dtype=_CONSENSUS_DTYPES[c]) for c in PIT_COLUMNS})
    if labels is None or len(labels) == 0 or len(lots) == 0:
        return empty
    if "submitted_at" not in labels.columns:
        raise ValueError("point-in-time consensus needs the labels' submitted_at")
    sale = pd.to_datetime(lots.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")["sale_date"],
                          errors="coerce").astype("datetime64[ns]")
    lab = labels.assign(_t=_naive_times(labels["submitted_at"]).to_numpy())
    lab = lab[lab["_t"].notna()]
    own = lab[lab["lot_ref"].isin(sale.index)]
    own = own[own["_t"].to_numpy() < own["lot_ref"].map(sale).to_numpy()]  # strictly before the sale day
    if own.empty:
        return empty
    gold = None
    if realised is not None and len(realised):
        gold = realised.assign(_d=pd.to_datetime(realised["sale_date"], errors="coerce").astype("datetime64[ns]"))
        gold = gold[gold["_d"].notna()]
    own_sale = own["lot_ref"].map(sale)
    step = max(1, int(period_months))
    period = (own_sale.dt.year * 12 + own_sale.dt.month - 1) // step * step
    parts = []
    for p in sorted(period.unique()):
        start = pd.Timestamp(year=int(p) // 12, month=int(p) % 12 + 1, day=1)
        before = lab[lab["_t"] < start]
        real = gold[gold["_d"] < start] if gold is not None else None
        params = fit_experts(before, real, prior_weight=prior_weight) if len(before) else None
        parts.append(apply_experts(params, own[period.to_numpy() == p]))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("lot_ref", kind="stable").reset_index(drop=True)[list(PIT_COLUMNS)]
