"""A precision-weighted blend of the model's valuation and the experts' consensus (log scale).

The estimate feeds carry it beside the model's estimate (:func:`feed_blend`, called by
:func:`warehouse.feeds.write_feed`: columns ``expert_n, blend_usd, blend_low_usd, blend_high_usd,
blend_model_weight``); ``gbv bench consensus-value`` measures it. Per lot, both are read as estimates of the lot's log value with a variance:

* model: ``pred_log``, variance ``(half_width / Z80)²`` with ``half_width`` half the log width of its central
  80 % split-conformal interval (so a model that is unsure of a thinly traded artist counts less);
* consensus: ``log(consensus_usd)``, variance ``max(spread, expert_sd)² / n_experts``: the experts'
  disagreement on the lot, floored by a typical expert's noise (``expert_sd``, by default the median ``log_sd``
  of the reliability table, else :data:`DEFAULT_EXPERT_SD`) so that one label, or labels that happen to agree,
  are not taken as certain.

Realised prices scatter around the value experts aim at (``market_sd``, by default the consensus' own estimate
:attr:`gbv.consensus.ConsensusResult.market_log_sd` from sold lots; 0 when unknown). That scatter is inside the
model's conformal width but no estimate can remove it, so the model's error about the *value* is
``v_m' = max(v_m - market_sd², MIN_MODEL_SHARE × v_m)``, and

``blend = (m / v_m' + c / v_c) / (1 / v_m' + 1 / v_c)``, ``v_b = 1 / (1 / v_m' + 1 / v_c)``,
80 % interval ``blend ± Z80 × sqrt(v_b + market_sd²)``.

Lots without a consensus keep the model's values and interval (``model_weight`` 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z80 = 1.2816  # half-width of a central 80 % normal interval, in sd
DEFAULT_EXPERT_SD = 0.3  # typical expert log noise when no reliability table is given
MIN_MODEL_SHARE = 0.25  # the model's error about the value is at least this share of its conformal variance
BLEND_COLUMNS = ("lot_ref", "model_log", "consensus_log", "blend_log", "low_log", "high_log", "model_weight")


def blend_valuations(predictions: pd.DataFrame, consensus: pd.DataFrame | None,
                     reliability: pd.DataFrame | None = None, *, expert_sd: float | None = None,
                     market_sd: float | None = None) -> pd.DataFrame:
    """Blend per lot of ``predictions`` (``lot_ref, pred_log_usd, low_log_usd, high_log_usd``, as from
    :meth:`model.base.Valuer.predict`) with ``consensus`` (``lot_ref, consensus_usd, n_experts, spread``, as from
    :func:`gbv.consensus.compute_consensus`). One row per prediction, same order, :data:`BLEND_COLUMNS`;
    ``model_weight`` is 1 where the lot has no consensus. ``market_sd``: see the module notes (NaN or None: 0)."""
    p = predictions.reset_index(drop=True)
    m = p["pred_log_usd"].to_numpy(dtype="float64")
    lo, hi = p["low_log_usd"].to_numpy(dtype="float64"), p["high_log_usd"].to_numpy(dtype="float64")
    half = np.maximum((hi - lo) / 2.0, 1e-6)
    v_m = (half / Z80) ** 2
    mk2 = float(market_sd) ** 2 if market_sd is not None and np.isfinite(market_sd) else 0.0
    v_err = np.maximum(v_m - mk2, MIN_MODEL_SHARE * v_m)
    c = np.full(len(p), np.nan)
    v_c = np.full(len(p), np.inf)
    if consensus is not None and len(consensus):
        floor = _expert_sd(reliability, expert_sd)
        cons = consensus.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
        refs = p["lot_ref"].astype(str)
        usd = refs.map(cons["consensus_usd"].astype(float)).to_numpy(dtype="float64")
        n = refs.map(cons["n_experts"].astype(float)).to_numpy(dtype="float64")
        spread = refs.map(cons["spread"].astype(float)).fillna(0.0).to_numpy(dtype="float64")
        ok = np.isfinite(usd) & (usd > 0) & np.isfinite(n) & (n >= 1)
        c = np.where(ok, np.log(np.where(ok, usd, 1.0)), np.nan)
        v_c = np.where(ok, np.maximum(spread, floor) ** 2 / np.where(ok, n, 1.0), np.inf)
    has = np.isfinite(c) & np.isfinite(v_c)
    w_m = np.where(has, (1.0 / v_err) / (1.0 / v_err + 1.0 / np.where(has, v_c, 1.0)), 1.0)
    b = np.where(has, w_m * m + (1.0 - w_m) * np.where(has, c, 0.0), m)
    half_b = np.where(has, Z80 * np.sqrt(w_m * v_err + mk2), half)  # w_m × v_err = v_b
    return pd.DataFrame({"lot_ref": p["lot_ref"].to_numpy(), "model_log": m, "consensus_log": c, "blend_log": b,
                         "low_log": np.where(has, b - half_b, lo), "high_log": np.where(has, b + half_b, hi),
                         "model_weight": w_m})[list(BLEND_COLUMNS)]


def _expert_sd(reliability: pd.DataFrame | None, expert_sd: float | None) -> float:
    if expert_sd is not None:
        if not expert_sd > 0:
            raise ValueError(f"expert_sd must be > 0, got {expert_sd}")
        return float(expert_sd)
    if reliability is not None and len(reliability) and "log_sd" in reliability:
        sd = pd.to_numeric(reliability["log_sd"], errors="coerce").dropna()
        if len(sd):
            return float(sd.median())
    return DEFAULT_EXPERT_SD


# ---- the blend in the estimate feeds (warehouse.feeds) ------------------------------------------------------
FEED_BLEND_COLUMNS = ("expert_n", "blend_usd", "blend_low_usd", "blend_high_usd", "blend_model_weight")


def market_sd_from_sales(consensus: pd.DataFrame | None, realised: pd.DataFrame | None,
                         reliability: pd.DataFrame | None = None, min_lots: int = 20) -> float | None:
    """How far realised prices scatter (log sd) around the experts' consensus beyond the consensus' own error,
    from lots that have both (``consensus``: ``lot_ref, consensus_usd, n_experts, spread``; ``realised``:
    ``lot_ref, hammer_usd``): robust sd (1.4826 × MAD) of log(price / consensus), less the mean consensus
    variance. None with fewer than ``min_lots`` such lots."""
    if consensus is None or realised is None or len(consensus) == 0 or len(realised) == 0:
        return None
    c = consensus.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
    r = realised.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
    both = c.join(pd.to_numeric(r["hammer_usd"], errors="coerce").rename("hammer_usd"), how="inner")
    both = both[(both["hammer_usd"] > 0) & (pd.to_numeric(both["consensus_usd"], errors="coerce") > 0)]
    if len(both) < min_lots:
        return None
    d = np.log(both["hammer_usd"].to_numpy(float)) - np.log(both["consensus_usd"].to_numpy(float))
    robust_var = (1.4826 * float(np.median(np.abs(d - np.median(d))))) ** 2
    floor = _expert_sd(reliability, None)
    n = np.maximum(pd.to_numeric(both["n_experts"], errors="coerce").fillna(1.0).to_numpy(float), 1.0)
    spread = pd.to_numeric(both["spread"], errors="coerce").fillna(0.0).to_numpy(float)
    own = float(np.mean(np.maximum(spread, floor) ** 2 / n))
    return float(np.sqrt(max(robust_var - own, 0.0)))


def feed_blend(valuations: pd.DataFrame, consensus: pd.DataFrame | None, reliability: pd.DataFrame | None = None,
               market_sd: float | None = None) -> pd.DataFrame:
    """:data:`FEED_BLEND_COLUMNS` for valuation rows (``lot_ref, estimate_usd, low_usd, high_usd,
    expert_value_usd``), same order: the blend of the model's estimate and 80 % range with the consensus.

    ``consensus`` (the night's, ``lot_ref, n_experts, spread``) says which lots experts labelled and how
    firmly: only those are blended, so an ``expert_value_usd`` that is not a consensus (e.g. a predicted
    expert value, ``model.predict``) is never taken for one. Without any ``consensus`` (None), a row's
    ``expert_value_usd`` counts as one expert's view. Other lots keep the model's estimate and range
    (``blend_model_weight`` 1, ``expert_n`` 0)."""
    v = valuations.reset_index(drop=True)
    est = pd.to_numeric(v["estimate_usd"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(v["low_usd"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(v["high_usd"], errors="coerce").to_numpy(float)
    ok = (est > 0) & (lo > 0) & (hi >= lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        pred = pd.DataFrame({"lot_ref": v["lot_ref"].astype(str).to_numpy(),
                             "pred_log_usd": np.where(ok, np.log(np.where(ok, est, 1.0)), np.nan),
                             "low_log_usd": np.where(ok, np.log(np.where(ok, lo, 1.0)), np.nan),
                             "high_log_usd": np.where(ok, np.log(np.where(ok, hi, 1.0)), np.nan)})
    expert = pd.to_numeric(v.get("expert_value_usd", pd.Series(np.nan, index=v.index)), errors="coerce")
    cons = pd.DataFrame({"lot_ref": pred["lot_ref"], "consensus_usd": expert.to_numpy(float)})
    refs = cons["lot_ref"]
    if consensus is not None:
        known = (consensus.drop_duplicates("lot_ref", keep="last").assign(lot_ref=lambda d: d["lot_ref"].astype(str))
                 .set_index("lot_ref"))
        n = refs.map(pd.to_numeric(known["n_experts"], errors="coerce")).astype(float)
        spread = refs.map(pd.to_numeric(known["spread"], errors="coerce")).astype(float).fillna(0.0)
    else:
        n, spread = pd.Series(1.0, index=cons.index), pd.Series(0.0, index=cons.index)
    cons["n_experts"] = n.to_numpy()
    cons["spread"] = spread.to_numpy()
    cons = cons[np.isfinite(cons["consensus_usd"]) & (cons["consensus_usd"] > 0) & ok & (cons["n_experts"] >= 1)]
    b = blend_valuations(pred.fillna({"pred_log_usd": 0.0, "low_log_usd": 0.0, "high_log_usd": 0.0}), cons,
                         reliability, market_sd=market_sd)
    has = np.isfinite(b["consensus_log"].to_numpy())
    out = pd.DataFrame({
        "expert_n": np.where(has, refs.map(cons.set_index("lot_ref")["n_experts"]).to_numpy(float), 0.0),
        "blend_usd": np.where(has, np.exp(b["blend_log"].to_numpy()), est),
        "blend_low_usd": np.where(has, np.exp(b["low_log"].to_numpy()), lo),
        "blend_high_usd": np.where(has, np.exp(b["high_log"].to_numpy()), hi),
        "blend_model_weight": np.where(has, b["model_weight"].to_numpy(), np.where(ok, 1.0, np.nan)),
    })
    return out[list(FEED_BLEND_COLUMNS)]
