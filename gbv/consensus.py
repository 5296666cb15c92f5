"""Reliability-weighted expert consensus per lot.

Input: accepted labels from :func:`quality.labels.validate_labels` (``lot_ref``, ``expert_key``,
``value_point_usd`` and, where given, ``value_low_usd``/``value_high_usd``/``style``) and, optionally, realised
prices (``lot_ref``, ``hammer_usd``) for lots that have sold. Output: one row per lot with
:data:`gbv.contracts.CONSENSUS_COLUMNS`, and one row per expert describing how far they are trusted.

Method (everything on the log scale, where an expert's error is roughly multiplicative):

* Each expert *j* has a systematic log bias ``b_j`` and a noise ``s_j``; their weight is ``1 / s_j²``.
* Starting from equal weights and no bias, a few rounds (``ROUNDS``) alternate between
  (1) the lot consensus: a robust (Huber-downweighted) weighted mean of the bias-corrected log points
  ``y - b_j``, and
  (2) the expert parameters, from each label's residual against references: the **leave-one-out** consensus of
  the other experts on the same lot (its own sampling variance is subtracted when estimating ``s_j``) and,
  where the lot sold, the **realised hammer price** (gold; counts ``GOLD_WEIGHT`` times a peer reference).
* Basis: with realised prices the biases are measured against hammer prices, so ``consensus_usd`` is on the
  hammer basis; without any, peers alone cannot reveal a panel-wide offset and the panel's precision-weighted
  mean bias is pinned at 0 (the consensus is then the panel's bias-free view). A realised price's own scatter
  around the value experts aim at (market noise) is estimated and not charged to the experts.
* Experts with few labels are shrunk toward a prior: the bias toward 0 and the variance toward the pooled
  variance of all experts, each with ``prior_weight × PRIOR_LABELS`` pseudo-labels.
* ``low_usd``/``high_usd`` are the same weighted means of the labels' bias-corrected log low/high values (so the
  interval is the experts' own, on the hammer basis); a lot whose labels give no low/high gets
  ``consensus × exp(∓1.2816 × se)`` with ``se`` the consensus' standard error. ``spread`` is the weighted
  standard deviation of the bias-corrected log point values (0 for a single label).
* Style: Dawid-Skene (crowd-kit) over (lot, expert, style), with majority vote for tiny inputs;
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
GOLD_WEIGHT = 3.0  # a realised price counts this many times a peer (leave-one-out) reference
PRIOR_LABELS = 5.0  # pseudo-labels of the prior per unit of prior_weight
HUBER_K = 2.0  # residuals beyond K standard deviations are downweighted
MIN_LOG_SD = 0.05  # nobody is trusted more than a ±5 % expert
DEFAULT_LOG_SD = 0.5  # prior noise when there is nothing to pool (a lone label)
Z80 = 1.2816  # half-width of a central 80 % normal interval, in sd
MIN_DS_LABELS = 20  # below this many style labels (or with a single expert) use majority vote


@dataclass
class ConsensusResult:
    consensus: pd.DataFrame  # CONSENSUS_COLUMNS, one row per lot, sorted by lot_ref
    reliability: pd.DataFrame  # RELIABILITY_COLUMNS, one row per expert, sorted by expert_key


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

    fit = _fit_reliability(y, lot_idx, exp_idx, gold, n_lots, n_exp, prior_weight * PRIOR_LABELS)
    bias, sd = fit["bias"], fit["sd"]
    precision = 1.0 / sd**2
    c, w_label = _robust_lot_means(y - bias[exp_idx], lot_idx, exp_idx, precision, sd, n_lots)
    w_sum = np.bincount(lot_idx, weights=w_label, minlength=n_lots)
    z = y - bias[exp_idx]
    spread = np.sqrt(np.bincount(lot_idx, weights=w_label * (z - c[lot_idx]) ** 2, minlength=n_lots)
                     / w_sum)
    se = 1.0 / np.sqrt(np.bincount(lot_idx, weights=precision[exp_idx], minlength=n_lots))
    low = _bound(labels["value_low_usd"], bias, exp_idx, lot_idx, w_label, n_lots, default=c - Z80 * se)
    high = _bound(labels["value_high_usd"], bias, exp_idx, lot_idx, w_label, n_lots, default=c + Z80 * se)
    low, high = np.minimum(low, c), np.maximum(high, c)
    n_experts = np.bincount(lot_idx, minlength=n_lots)  # labels are unique per (lot, expert) after _prepare
    spread = np.where(n_experts > 1, spread, 0.0)  # exactly 0, not rounding noise, for a lone label

    style, style_conf = _styles(labels, lots)
    consensus = pd.DataFrame({
        "lot_ref": lots.astype(object), "consensus_usd": np.exp(c), "low_usd": np.exp(low),
        "high_usd": np.exp(high), "n_experts": n_experts.astype("int64"), "spread": spread,
        "style": style, "style_confidence": style_conf,
    })[list(CONSENSUS_COLUMNS)]

    weight = precision / precision.mean()
    reliability = pd.DataFrame({
        "expert_key": experts.astype(object),
        "n_labels": np.bincount(exp_idx, minlength=n_exp).astype("int64"),
        "n_gold": np.bincount(exp_idx, weights=np.isfinite(gold[lot_idx]).astype(float),
                              minlength=n_exp).astype("int64"),
        "weight": weight, "log_bias": bias, "log_sd": sd,
    })[list(RELIABILITY_COLUMNS)]
    log.info("consensus: %d lots from %d labels by %d experts (%d lots with a realised price)", n_lots,
             len(labels), n_exp, int(np.isfinite(gold).sum()))
    return ConsensusResult(consensus=consensus, reliability=reliability)


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


def _robust_lot_means(z: np.ndarray, lot_idx: np.ndarray, exp_idx: np.ndarray, precision: np.ndarray,
                      sd: np.ndarray, n_lots: int, iters: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Huber-weighted mean of z per lot (weights = expert precision × Huber weight); also the label weights."""
    w = precision[exp_idx]
    c = np.bincount(lot_idx, weights=w * z, minlength=n_lots) / np.bincount(lot_idx, weights=w, minlength=n_lots)
    wl = w
    for _ in range(iters):
        h = _huber((z - c[lot_idx]) / sd[exp_idx])
        wl = w * h
        c = np.bincount(lot_idx, weights=wl * z, minlength=n_lots) / np.bincount(lot_idx, weights=wl,
                                                                                   minlength=n_lots)
    return c, wl


def _fit_reliability(y: np.ndarray, lot_idx: np.ndarray, exp_idx: np.ndarray, gold: np.ndarray, n_lots: int,
                     n_exp: int, n0: float) -> dict[str, np.ndarray]:
    bias = np.zeros(n_exp)
    sd = np.full(n_exp, DEFAULT_LOG_SD)
    has_gold = np.isfinite(gold[lot_idx])
    g = np.where(has_gold, gold[lot_idx], 0.0)
    market_var = 0.0  # variance of a realised price around the value experts aim at (estimated below)
    for _ in range(ROUNDS):
        precision = 1.0 / sd**2
        z = y - bias[exp_idx]
        c, wl = _robust_lot_means(z, lot_idx, exp_idx, precision, sd, n_lots)
        # leave-one-out consensus of the other experts on the same lot
        s_all = np.bincount(lot_idx, weights=wl * z, minlength=n_lots)
        w_all = np.bincount(lot_idx, weights=wl, minlength=n_lots)
        p_all = np.bincount(lot_idx, weights=precision[exp_idx], minlength=n_lots)
        w_rest = w_all[lot_idx] - wl
        p_rest = p_all[lot_idx] - precision[exp_idx]
        has_peer = w_rest > 1e-12
        loo = np.where(has_peer, (s_all[lot_idx] - wl * z) / np.where(has_peer, w_rest, 1.0), 0.0)
        loo_var = np.where(has_peer, 1.0 / np.where(p_rest > 1e-12, p_rest, 1.0), 0.0)

        # observations per label: (residual of raw y, weight, variance of the reference to subtract)
        res = np.concatenate([(y - loo)[has_peer], (y - g)[has_gold]])
        ref_var = np.concatenate([loo_var[has_peer], np.full(has_gold.sum(), market_var)])
        who = np.concatenate([exp_idx[has_peer], exp_idx[has_gold]])
        # each reference counts by how much of the residual's variance is the expert's own (label units):
        # a noisy peer consensus or a surprising sale says less about the expert than a tight one
        own = sd[who] ** 2
        omega = own / (own + ref_var) * np.concatenate([np.ones(has_peer.sum()), np.full(has_gold.sum(),
                                                                                         GOLD_WEIGHT)])
        if len(res) == 0:  # lone labels and no prices: nothing to learn from
            break
        h = _huber((res - bias[who]) / np.sqrt(sd[who] ** 2 + ref_var))
        wt = omega * h
        w_exp = np.bincount(who, weights=wt, minlength=n_exp)
        bias = np.bincount(who, weights=wt * res, minlength=n_exp) / (w_exp + n0 + 1e-12)
        if not has_gold.any():
            # peers alone cannot tell a panel-wide offset; anchor the panel's weighted mean bias at 0
            share = w_exp / sd**2
            bias = bias - (np.sum(share * bias) / share.sum() if share.sum() > 0 else 0.0)
        sq = np.maximum((res - bias[who]) ** 2 - ref_var, 0.0)
        sq_exp = np.bincount(who, weights=wt * sq, minlength=n_exp)
        pooled = sq_exp.sum() / w_exp.sum() if w_exp.sum() > 0 else DEFAULT_LOG_SD**2
        var = (n0 * pooled + sq_exp) / (n0 + w_exp)
        var = np.where(n0 + w_exp > 0, var, pooled)
        sd = np.sqrt(np.maximum(var, MIN_LOG_SD**2))
        if has_gold.any():  # what the gold residuals show beyond the experts' own noise is the market's
            e = exp_idx[has_gold]
            rg = (y - g)[has_gold] - bias[e]
            hg = _huber(rg / np.sqrt(sd[e] ** 2 + market_var))
            market_var = max(0.0, float(np.sum(hg * (rg**2 - sd[e] ** 2)) / hg.sum()))
    return {"bias": bias, "sd": sd}


def _bound(values: pd.Series, bias: np.ndarray, exp_idx: np.ndarray, lot_idx: np.ndarray, w_label: np.ndarray,
           n_lots: int, default: np.ndarray) -> np.ndarray:
    """Weighted mean per lot of the labels' bias-corrected log bound; ``default`` where no label gives one."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    ok = np.isfinite(v) & (v > 0)
    lv = np.where(ok, np.log(np.where(ok, v, 1.0)), 0.0) - bias[exp_idx]
    w = np.where(ok, w_label, 0.0)
    w_sum = np.bincount(lot_idx, weights=w, minlength=n_lots)
    s = np.bincount(lot_idx, weights=w * np.where(ok, lv, 0.0), minlength=n_lots)
    return np.where(w_sum > 0, s / np.where(w_sum > 0, w_sum, 1.0), default)


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
STYLE_AGGREGATOR = "DawidSkene"


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
