"""Simulated expert panels with known truth, and the reference estimators the benchmark compares against.

A panel: ``items`` artworks with a log value ``v`` the experts aim at, each labelled by 3-7 experts from a pool.
Reliable experts have a small log bias (sd ``bias_sd``) and a noise between ``noise_lo`` and ``noise_hi``;
a share ``unreliable`` of the pool is careless (noise ~1.0, a bias) or adversarial (values anti-correlated with
the truth around the market's typical level, plus a bias), alternating. On the sale day the realised price is
``v + surprise`` (``surprise_sd``, no expert can know it): that realised price is the truth errors are measured
against. A share ``gold_share`` of the items have already sold: their realised prices are known (gold); errors
are measured on the others.

Styles: each item has a true style from :data:`gbv.contracts.STYLES`; reliable experts name it with probability
``style_acc``, careless ones at random, adversarial ones mostly with a fixed wrong style of their own
(a systematic confusion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gbv.contracts import STYLES


@dataclass(frozen=True)
class PanelSpec:
    items: int = 600
    experts: int = 12
    unreliable: float = 1 / 3  # share of the pool that is careless or adversarial
    noise_lo: float = 0.15
    noise_hi: float = 0.40
    bias_sd: float = 0.15
    surprise_sd: float = 0.0
    gold_share: float = 0.3
    style_acc: float = 0.8
    seed: int = 0


@dataclass
class Panel:
    labels: pd.DataFrame  # lot_ref, expert_key, value_point_usd, style (compute_consensus input)
    truth: pd.DataFrame  # lot_ref, value_log (what experts aim at), realised_log, style, gold (bool)
    experts: pd.DataFrame  # expert_key, kind, bias, noise


def simulate_panel(spec: PanelSpec) -> Panel:
    rng = np.random.default_rng(spec.seed)
    n, m = spec.items, spec.experts
    lots = np.array([f"SIM-{i:05d}" for i in range(n)], dtype=object)
    level = 10.0
    v = rng.normal(level, 1.2, n)
    realised = v + rng.normal(0, spec.surprise_sd, n) if spec.surprise_sd > 0 else v.copy()
    n_bad = int(round(spec.unreliable * m))
    kinds = np.array(["reliable"] * m, dtype=object)
    bad = rng.choice(m, size=n_bad, replace=False)
    for j, e in enumerate(sorted(bad)):
        kinds[e] = "careless" if j % 2 == 0 else "adversarial"
    bias = rng.normal(0, spec.bias_sd, m)
    noise = rng.uniform(spec.noise_lo, spec.noise_hi, m)
    bias = np.where(kinds == "careless", rng.choice([-1, 1], m) * rng.uniform(0.2, 0.5, m), bias)
    noise = np.where(kinds == "careless", rng.uniform(0.8, 1.2, m), noise)
    bias = np.where(kinds == "adversarial", rng.choice([-1, 1], m) * rng.uniform(0.3, 0.7, m), bias)
    noise = np.where(kinds == "adversarial", rng.uniform(0.3, 0.5, m), noise)
    keys = np.array([f"ex_sim{j:02d}" for j in range(m)], dtype=object)
    true_style = rng.integers(0, len(STYLES), n)
    fav = rng.integers(0, len(STYLES), m)  # adversarial experts' wrong favourite

    rows_lot, rows_exp = [], []
    for i in range(n):
        k = int(rng.integers(3, 8))
        chosen = rng.choice(m, size=min(k, m), replace=False)
        rows_lot += [i] * len(chosen)
        rows_exp += list(chosen)
    li, ej = np.array(rows_lot), np.array(rows_exp)
    adv = kinds[ej] == "adversarial"
    aim = np.where(adv, level - 0.5 * (v[li] - level), v[li])  # adversarial: high where the truth is low
    y = aim + bias[ej] + rng.normal(0, 1, len(li)) * noise[ej]
    u = rng.random(len(li))
    style = true_style[li].copy()
    rel_wrong = (kinds[ej] == "reliable") & (u > spec.style_acc)
    style = np.where(rel_wrong, rng.integers(0, len(STYLES), len(li)), style)
    careless = kinds[ej] == "careless"
    style = np.where(careless & (u > 0.3), rng.integers(0, len(STYLES), len(li)), style)
    style = np.where(adv & (u > 0.3), fav[ej], style)
    labels = pd.DataFrame({"lot_ref": lots[li], "expert_key": keys[ej], "value_point_usd": np.exp(y),
                           "style": np.array(STYLES, dtype=object)[style]})
    gold = rng.random(n) < spec.gold_share
    truth = pd.DataFrame({"lot_ref": lots, "value_log": v, "realised_log": realised,
                          "style": np.array(STYLES, dtype=object)[true_style], "gold": gold})
    experts = pd.DataFrame({"expert_key": keys, "kind": kinds, "bias": bias, "noise": noise})
    return Panel(labels=labels, truth=truth, experts=experts)


# ---- reference estimators (log scale, one value per lot, indexed by lot_ref) ----------------------------
def mean_estimate(labels: pd.DataFrame) -> pd.Series:
    return np.log(labels["value_point_usd"]).groupby(labels["lot_ref"]).mean()


def median_estimate(labels: pd.DataFrame) -> pd.Series:
    return np.log(labels["value_point_usd"]).groupby(labels["lot_ref"]).median()


def agreement_estimate(labels: pd.DataFrame, rounds: int = 10) -> pd.Series:
    """The simple estimator: each expert's bias and precision from agreement with the item consensus only
    (no gold, no robustness, no leave-one-out); consensus = precision-weighted mean of bias-corrected values."""
    y = np.log(labels["value_point_usd"].to_numpy(dtype="float64"))
    lots, li = np.unique(labels["lot_ref"].to_numpy(dtype=object).astype(str), return_inverse=True)
    _, ej = np.unique(labels["expert_key"].to_numpy(dtype=object).astype(str), return_inverse=True)
    n, m = len(lots), ej.max() + 1
    bias, var = np.zeros(m), np.ones(m) * 0.25
    c = np.zeros(n)
    for _ in range(rounds):
        w = 1 / var[ej]
        z = y - bias[ej]
        c = np.bincount(li, w * z, n) / np.bincount(li, w, n)
        r = y - c[li]
        cnt = np.bincount(ej, minlength=m)
        bias = np.bincount(ej, r, m) / np.maximum(cnt, 1)
        bias -= bias.mean()
        var = np.maximum(np.bincount(ej, (r - bias[ej]) ** 2, m) / np.maximum(cnt, 1), 0.01)
    return pd.Series(c, index=lots)


# ---- the demo world's experts (gbv.demo.world) ------------------------------------------------------------
WORLD_LABEL_COLUMNS = ("lot_ref", "expert_key", "value_low_usd", "value_point_usd", "value_high_usd", "style",
                       "submitted_at")


def world_labels_usd(world, labels: pd.DataFrame | None = None) -> pd.DataFrame:  # noqa: ANN001 - World
    """The world's label export (default: every label) as :func:`gbv.consensus.compute_consensus` input, for
    benchmarks: USD values (the lot's FX where a label is in the sale currency), ``expert_key`` = expert id,
    and only the rows the validation suite would accept on values (known lot and expert, 0 < low <= point <=
    high, known currency, first submission of a label id); ``submitted_at`` as naive UTC."""
    lab = (world.all_labels if labels is None else labels).drop_duplicates("label_id", keep="first")
    lots = world.truth.set_index("lot_ref")
    lab = lab[lab["lot_ref"].isin(lots.index) & lab["expert_id"].isin(set(world.experts["expert_id"]))]
    fx = lab["lot_ref"].map(lots["fx_usd"]).to_numpy(dtype="float64")
    cur = lab["currency"].astype(str).to_numpy()
    rate = np.where(cur == "USD", 1.0, np.where(cur == lab["lot_ref"].map(lots["sale_currency"]).to_numpy(), fx,
                                                np.nan))
    vals = {c: pd.to_numeric(lab[c], errors="coerce").to_numpy(dtype="float64") * rate
            for c in ("value_low", "value_point", "value_high")}
    ok = (np.isfinite(vals["value_point"]) & (vals["value_low"] > 0) & (vals["value_low"] <= vals["value_point"])
          & (vals["value_point"] <= vals["value_high"]))
    out = pd.DataFrame({"lot_ref": lab["lot_ref"].to_numpy(), "expert_key": lab["expert_id"].to_numpy(),
                        "value_low_usd": vals["value_low"], "value_point_usd": vals["value_point"],
                        "value_high_usd": vals["value_high"],
                        "style": lab["style"].where(lab["style"].isin(STYLES), None).to_numpy(),
                        "submitted_at": pd.to_datetime(lab["submitted_at"], errors="coerce", utc=True)
                        .dt.tz_localize(None).to_numpy()})
    return out[ok].reset_index(drop=True)[list(WORLD_LABEL_COLUMNS)]


def simulate_world_answers(world, requests: pd.DataFrame, seed: int = 0) -> pd.DataFrame:  # noqa: ANN001
    """The answers the world's experts would give to ``requests`` (``lot_ref, expert_key`` with expert_key the
    expert id), drawn like the world's own labels: ``true_value_usd × exp(bias + noise × N(0, 1))`` with each
    expert's bias and noise (the careless one's included), low/high at ×0.8/×1.25, and the artist's style
    named with probability 0.88 (0.4 for the careless). Each (lot, expert) pair draws from its own stream
    (seeded by ``seed``, the lot and the expert), so the same pair gets the same answer whichever other pairs
    are asked: two request policies are compared on common random numbers. ``submitted_at`` is the request's
    ``run_date`` where it has one."""
    import zlib

    if requests.empty:
        dtypes = {"lot_ref": "object", "expert_key": "object", "style": "object", "submitted_at": "datetime64[ns]"}
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in WORLD_LABEL_COLUMNS})
    ex = world.experts.set_index("expert_id")
    lots = world.truth.set_index("lot_ref")
    style_of = world.artists.set_index("artist_id")["style"]
    keys = requests["expert_key"].astype(str).to_numpy()
    refs = requests["lot_ref"].astype(str).to_numpy()
    unknown = sorted(set(keys) - set(ex.index)) + sorted(set(refs) - set(lots.index))
    if unknown:
        raise ValueError(f"requests name unknown experts or lots: {', '.join(unknown[:5])}")
    bias, noise = ex.loc[keys, "bias"].to_numpy(dtype=float), ex.loc[keys, "noise"].to_numpy(dtype=float)
    careless = ex.loc[keys, "careless"].to_numpy(dtype=bool)
    draws = np.array([np.random.default_rng([seed, zlib.crc32(r.encode()), zlib.crc32(k.encode())]).random(3)
                      for r, k in zip(refs, keys, strict=True)])
    z = np.sqrt(-2.0 * np.log(1.0 - draws[:, 0])) * np.cos(2.0 * np.pi * draws[:, 1])  # Box-Muller: N(0, 1)
    point = lots.loc[refs, "true_value_usd"].to_numpy(dtype=float) * np.exp(bias + noise * z)
    true_style = lots.loc[refs, "artist_id"].map(style_of).to_numpy(dtype=object)
    wrong = draws[:, 2] > np.where(careless, 0.4, 0.88)
    pick = (draws[:, 2] * 1e6).astype(int) % len(STYLES)  # a style at random (from the same draw's digits)
    style = np.where(wrong, np.array(STYLES, dtype=object)[pick], true_style)
    when = (pd.to_datetime(requests["run_date"], errors="coerce").to_numpy(dtype="datetime64[ns]")
            if "run_date" in requests.columns else np.full(len(requests), np.datetime64("NaT"), "datetime64[ns]"))
    return pd.DataFrame({"lot_ref": refs, "expert_key": keys, "value_low_usd": point * 0.8,
                         "value_point_usd": point, "value_high_usd": point * 1.25, "style": style,
                         "submitted_at": when})
