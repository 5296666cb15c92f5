"""Crowd benchmarks (CLI subcommands that print tables; never timed tests).

* ``gbv bench consensus [--full]``: simulated panels with known truth (:mod:`gbv.crowd.simulate`): value error
  against the realised price for mean, median, the simple agreement-learned estimator and ours
  (:func:`gbv.consensus.compute_consensus`, with gold where lots sold), over noise, bias, the share of careless
  or adversarial experts and a sale-day surprise; and style accuracy per crowd-kit aggregator. ``best`` says
  whether ours is best at a setting, ``tie`` when it is behind the best by less than two standard errors of
  the paired difference over seeds.
* ``gbv bench active-learning``: on the demo world, a fixed label budget spent over a few nights on the lots
  chosen by the policy (:mod:`gbv.crowd.active`, experts routed by proven accuracy in the lot's medium class) or
  at random (least-loaded experts); the experts' answers are simulated with the
  world's own expert parameters; valuation error of the model blended with the consensus
  (:mod:`gbv.crowd.blend`), side by side.
* ``gbv bench consensus-value``: on the demo world, valuation accuracy of the model alone, the consensus alone,
  their precision-weighted blend and the model that uses the consensus as a feature and as a target for bought-in
  lots (point in time: no lot sees labels or sales from on or after its sale day), on the lots experts labelled
  and on every lot; and the valuation error per weight of the unsold target (how its weight was chosen).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from itertools import product

import numpy as np
import pandas as pd

UNRELIABLE = (0.0, 1 / 6, 1 / 3, 1 / 2)
SURPRISE = (0.0, 0.3)
NOISE = ((0.15, 0.40), (0.30, 0.60))
BIAS_SD = (0.15, 0.40)
METHODS = ("mean", "median", "agreement", "gbv")
DEFAULT = {"items": 500, "seeds": 3, "style_seeds": 2}
FULL = {"items": 1200, "seeds": 5, "style_seeds": 5}


def _quiet() -> None:
    for name in ("gbv.consensus", "model", "lightgbm"):
        logging.getLogger(name).setLevel(logging.WARNING)


def consensus_errors(spec) -> dict[str, float]:  # noqa: ANN001 - PanelSpec
    """Mean absolute log error against the realised price, on the items that have not sold, per method."""
    from gbv.consensus import compute_consensus
    from gbv.crowd.simulate import agreement_estimate, mean_estimate, median_estimate, simulate_panel

    p = simulate_panel(spec)
    t = p.truth.set_index("lot_ref")
    gold = t[t["gold"]]
    realised = pd.DataFrame({"lot_ref": gold.index, "hammer_usd": np.exp(gold["realised_log"].to_numpy())})
    ev = t.index[~t["gold"]]
    target = t["realised_log"].reindex(ev)
    out = {}
    for name, est in (("mean", mean_estimate(p.labels)), ("median", median_estimate(p.labels)),
                      ("agreement", agreement_estimate(p.labels))):
        out[name] = float(np.mean(np.abs(est.reindex(ev) - target)))
    ours = compute_consensus(p.labels.drop(columns=["style"]), realised).consensus.set_index("lot_ref")
    out["gbv"] = float(np.mean(np.abs(np.log(ours["consensus_usd"]).reindex(ev) - target)))
    return out


def style_accuracy(spec, aggregators) -> dict[str, float]:  # noqa: ANN001
    from gbv.consensus import style_probas
    from gbv.crowd.simulate import simulate_panel

    p = simulate_panel(spec)
    data = pd.DataFrame({"task": p.labels["lot_ref"], "worker": p.labels["expert_key"],
                         "label": p.labels["style"]})
    truth = p.truth.set_index("lot_ref")["style"]
    out = {}
    for name in aggregators:
        probas = style_probas(data, name)
        probas = probas.reindex(sorted(probas.columns), axis=1)
        best = probas.idxmax(axis=1)
        out[name] = float((best == truth.reindex(best.index)).mean())
    return out


def _verdict(per_seed: dict[str, np.ndarray]) -> tuple[str, str, float, float]:
    """(best method by mean, verdict for gbv: best/tie/worse, gbv - best other (mean), its standard error)."""
    means = {k: float(v.mean()) for k, v in per_seed.items()}
    best = min(means, key=means.get)
    other = min((k for k in means if k != "gbv"), key=means.get)
    d = per_seed["gbv"] - per_seed[other]
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    if d.mean() <= 0:
        verdict = "best"
    elif np.isfinite(se) and d.mean() < 2 * se:
        verdict = "tie"
    else:
        verdict = "WORSE"
    return best, verdict, float(d.mean()), se


def bench_consensus(items: int = DEFAULT["items"], experts: int = 12, seeds: int = DEFAULT["seeds"],
                    style: bool = True, style_seeds: int | None = None) -> pd.DataFrame:
    from gbv.consensus import STYLE_AGGREGATOR, STYLE_AGGREGATORS, style_aggregator
    from gbv.crowd.simulate import PanelSpec

    _quiet()
    started = time.perf_counter()
    rows = []
    for (lo, hi), b, u, s in product(NOISE, BIAS_SD, UNRELIABLE, SURPRISE):
        errs = [consensus_errors(PanelSpec(items=items, experts=experts, unreliable=u, noise_lo=lo, noise_hi=hi,
                                           bias_sd=b, surprise_sd=s, seed=k)) for k in range(seeds)]
        per_seed = {k: np.array([e[k] for e in errs]) for k in METHODS}
        r = {k: float(v.mean()) for k, v in per_seed.items()}
        best, verdict, diff, se = _verdict(per_seed)
        rows.append({"noise": f"{lo:.2f}-{hi:.2f}", "bias": b, "unreliable": f"{u:.2f}", "surprise": s, **r,
                     "gbv/median": r["gbv"] / r["median"], "agreement/median": r["agreement"] / r["median"],
                     "gbv-next": diff, "se": se, "best": best, "verdict": verdict})
    table = pd.DataFrame(rows)
    print(f"gbv bench consensus: {items} items, pool of {experts} experts, 3-7 per item, 30% sold (gold), "
          f"{seeds} seeds; mean |log error| vs the realised price on unsold items (bias = sd of reliable "
          f"experts' log bias; gbv-next = gbv minus the best other method, se its standard error over seeds)")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    target = table[(table["unreliable"] == f"{1 / 3:.2f}") & (table["surprise"] == 0.0)]
    ref = target[(target["noise"] == "0.15-0.40") & (target["bias"] == 0.15)]  # the reference panel
    print(f"\ntarget (a third unreliable, no surprise; reference panel noise 0.15-0.40, bias 0.15, where the "
          f"agreement estimator is at {ref['agreement/median'].iloc[0]:.3f} x median): gbv/median = "
          f"{ref['gbv/median'].iloc[0]:.3f} (<= 0.65: {bool(ref['gbv/median'].iloc[0] <= 0.65)}); all noise/bias "
          f"settings: {', '.join(f'{x:.3f}' for x in target['gbv/median'])}")
    print(f"gbv best or tied within noise at every setting: {bool(table['verdict'].isin(['best', 'tie']).all())} "
          f"({int((table['verdict'] == 'best').sum())} best, {int((table['verdict'] == 'tie').sum())} tied of "
          f"{len(table)})")

    if style:
        srows, panels = [], []
        for u in UNRELIABLE:
            accs = [style_accuracy(PanelSpec(items=items, experts=experts, unreliable=u, seed=k),
                                   STYLE_AGGREGATORS) for k in range(style_seeds or seeds)]
            panels += accs
            srows.append({"unreliable": f"{u:.2f}", **{k: float(np.mean([a[k] for a in accs])) for k in accs[0]}})
        stable = pd.DataFrame(srows)
        print(f"\nstyle accuracy per crowd-kit aggregator (share of items whose aggregated style is the true one; "
              f"{style_seeds or seeds} seeds)")
        print(stable.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        mean_acc = stable[list(STYLE_AGGREGATORS)].mean()
        # best, and tied with it: behind by less than two standard errors of the paired difference over panels
        acc = {k: np.array([a[k] for a in panels]) for k in STYLE_AGGREGATORS}
        lead = max(acc, key=lambda k: acc[k].mean())
        tied = [k for k in STYLE_AGGREGATORS if k != lead
                and (acc[lead] - acc[k]).mean() < 2 * (acc[lead] - acc[k]).std(ddof=1) / np.sqrt(len(panels))]
        # the class the product actually builds for style consensus (gbv.consensus), not a name typed here
        used = type(style_aggregator(STYLE_AGGREGATOR)).__name__
        print(f"mean over settings: {', '.join(f'{k} {v:.4f}' for k, v in mean_acc.items())}; best {lead}"
              f"{', tied with ' + ', '.join(tied) if tied else ''}; product uses {used}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return table


# ---- the demo world: model, consensus and their blend ------------------------------------------------------
AS_OF = dt.date(2025, 1, 1)  # the night the benchmarks value from: the model knows sales before it only


def _world_night(n_lots: int, seed: int, horizon_days: int) -> dict:
    """A demo world, the model trained on its sales before AS_OF, and its predictions for the lots offered in
    the next ``horizon_days`` (with their true value and, where sold, their realised hammer price)."""
    from gbv.demo.world import generate_world
    from model.baseline import LightGBMValuer

    world = generate_world(n_lots=n_lots, seed=seed)
    history = world.lots_as_of(AS_OF)
    window = history[(history["status"] == "upcoming")
                     & (pd.to_datetime(history["sale_date"]) < pd.Timestamp(AS_OF + dt.timedelta(days=horizon_days)))]
    window = window.reset_index(drop=True)
    valuer = LightGBMValuer(seed=seed).fit(history, history)
    pred = valuer.predict(window, history)
    t = world.truth.set_index("lot_ref").loc[window["lot_ref"]]
    truth = pd.DataFrame({"lot_ref": window["lot_ref"].to_numpy(),
                          "value_log": np.log(t["true_value_usd"].to_numpy(dtype=float)),
                          "realised_log": np.log(t["hammer_usd"].where(t["status"] == "sold").to_numpy(dtype=float))})
    sold = history[history["status"] == "sold"]
    return {"world": world, "history": history, "window": window, "pred": pred, "truth": truth,
            "gold": sold[["lot_ref", "hammer_usd"]].reset_index(drop=True)}


def _errors(est_log: np.ndarray, truth: pd.DataFrame, low: np.ndarray | None = None,
            high: np.ndarray | None = None) -> dict[str, float]:
    """MdALE vs the true value and vs the realised price (sold lots), the dollar-weighted absolute error vs the
    true value, and the share of realised prices inside [low, high]."""
    v, r = truth["value_log"].to_numpy(), truth["realised_log"].to_numpy()
    sold = np.isfinite(r)
    out = {"n": int(len(v)), "MdALE_value": float(np.median(np.abs(est_log - v))) if len(v) else np.nan,
           "MdALE_price": float(np.median(np.abs(est_log[sold] - r[sold]))) if sold.any() else np.nan,
           "$err_value": float(np.sum(np.abs(np.exp(est_log) - np.exp(v))) / np.sum(np.exp(v))) if len(v) else np.nan}
    if low is not None and high is not None:
        out["cover80"] = float(np.mean((low[sold] <= r[sold]) & (r[sold] <= high[sold]))) if sold.any() else np.nan
    return out


def _consensus(labels: pd.DataFrame, gold: pd.DataFrame):  # noqa: ANN202 - ConsensusResult
    from gbv.consensus import compute_consensus

    return compute_consensus(labels.drop(columns=["style"], errors="ignore"), gold)


UNSOLD_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0)  # the unsold-target weights measured by bench_consensus_value


def _presale(night: dict, labels: pd.DataFrame) -> pd.DataFrame:
    """Per lot of the night's history and window, the consensus it had before its sale (point in time; gold =
    the sales before AS_OF only)."""
    from gbv.consensus import point_in_time_consensus

    history, window = night["history"], night["window"]
    lots = pd.concat([history[history["status"] != "upcoming"], window], ignore_index=True)
    gold = history[history["status"] == "sold"][["lot_ref", "hammer_usd", "sale_date"]]
    return point_in_time_consensus(lots, labels, gold)


def bench_consensus_value(n_lots: int = 6000, seeds: int = 3, horizon_days: int = 365,
                          weights: tuple[float, ...] | None = None) -> pd.DataFrame:
    """Valuation accuracy with and without the expert consensus on the lots offered in the year after AS_OF:
    the model alone, the consensus alone, their blend, and the model using the consensus as a feature and as a
    target for bought-in lots (its weight swept over ``weights``)."""
    from gbv.crowd.blend import blend_valuations
    from gbv.crowd.simulate import world_labels_usd
    from model.baseline import UNSOLD_TARGET_WEIGHT, LightGBMValuer
    from model.features import attach_consensus

    weights = UNSOLD_WEIGHTS if weights is None else tuple(weights)
    _quiet()
    started = time.perf_counter()
    rows, sweep = [], []
    for seed in range(seeds):
        night = _world_night(n_lots, seed, horizon_days)
        world, window, truth, pred = night["world"], night["window"], night["truth"], night["pred"]
        # labels on past lots (before AS_OF) and on the window's lots (given before each sale: a pre-sale view)
        labels = world_labels_usd(world)
        past = set(night["history"].loc[night["history"]["status"] != "upcoming", "lot_ref"])
        labels = labels[labels["lot_ref"].isin(past | set(window["lot_ref"]))]
        res = _consensus(labels, night["gold"])
        b = blend_valuations(pred, res.consensus, res.reliability, market_sd=res.market_log_sd)
        # the consensus inside the model: every lot carries the consensus it had before its sale
        pit = _presale(night, labels)
        hist_c, win_c = attach_consensus(night["history"], pit), attach_consensus(window, pit)
        fitted = {w: LightGBMValuer(seed=seed, consensus=True, unsold_weight=w).fit(hist_c, hist_c)
                  for w in sorted({0.0, UNSOLD_TARGET_WEIGHT, *weights})}
        inside = {w: v.predict(win_c, hist_c) for w, v in fitted.items()}
        has = np.isfinite(b["consensus_log"].to_numpy())
        lo_m, hi_m = pred["low_log_usd"].to_numpy(), pred["high_log_usd"].to_numpy()
        sets = (("labelled lots", has), ("every lot", np.ones(len(b), dtype=bool)))
        for where, mask in sets:
            t = truth[mask]
            cand = [("model alone", b["model_log"].to_numpy(), lo_m, hi_m),
                    ("blend (model + consensus)", b["blend_log"].to_numpy(), b["low_log"].to_numpy(),
                     b["high_log"].to_numpy())]
            for w, name in ((0.0, "model + consensus feature"),
                            (UNSOLD_TARGET_WEIGHT, f"model + consensus feature + unsold target (w={UNSOLD_TARGET_WEIGHT:g})")):
                p = inside[w]
                cand.append((name, p["pred_log_usd"].to_numpy(), p["low_log_usd"].to_numpy(),
                             p["high_log_usd"].to_numpy()))
            if where == "labelled lots":
                cand.insert(1, ("consensus alone", b["consensus_log"].to_numpy(), None, None))
            for name, est, lo, hi in cand:
                e = _errors(est[mask], t, None if lo is None else lo[mask], None if hi is None else hi[mask])
                rows.append({"seed": seed, "lots": where, "estimate": name, **e,
                             "model_weight": float(b["model_weight"].to_numpy()[mask & has].mean())
                             if name.startswith("blend") and (mask & has).any() else np.nan})
        for w in weights:
            p = inside[w]
            e = _errors(p["pred_log_usd"].to_numpy(), truth, p["low_log_usd"].to_numpy(),
                        p["high_log_usd"].to_numpy())
            sweep.append({"seed": seed, "unsold_weight": w, "n_unsold_targets": fitted[w].info["n_unsold_targets"],
                          **{k: v for k, v in e.items() if k != "n"}})
    table = pd.DataFrame(rows)
    summary = (table.groupby(["lots", "estimate"], sort=False)
               .agg(n=("n", "sum"), MdALE_value=("MdALE_value", "mean"), MdALE_price=("MdALE_price", "mean"),
                    dollar_err_value=("$err_value", "mean"), cover80=("cover80", "mean"),
                    model_weight=("model_weight", "mean")).reset_index())
    print(f"gbv bench consensus-value: demo world of {n_lots} lots, model (LightGBM) trained on sales before "
          f"{AS_OF}, valuing the lots offered in the next {horizon_days} days; consensus from the world's expert "
          f"labels (gold: sales before {AS_OF}); {seeds} worlds (seeds), metrics averaged over them")
    print("MdALE_value / MdALE_price: median |log error| vs the true value / the realised hammer price (sold lots); "
          "dollar_err_value: sum |error $| / sum value $; cover80: realised prices inside the 80% range; "
          "model_weight: mean weight of the model in the blend. 'model + consensus feature': every lot carries "
          "the consensus it had before its sale (labels submitted before the sale date, expert reliability from "
          "earlier labels and sales only) as features; '+ unsold target': bought-in lots that experts labelled "
          "also train the model at their consensus value with weight w (a realised price counts 1)")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    st = pd.DataFrame(sweep)
    ssum = st.drop(columns=["seed"]).groupby("unsold_weight").mean().reset_index()
    print(f"\nunsold target weight (model with the consensus feature; every lot of the window; the product uses "
          f"w={UNSOLD_TARGET_WEIGHT:g}):")
    print(ssum.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\nper world:")
    print(table.drop(columns=["model_weight"]).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"({time.perf_counter() - started:.0f} s)")
    return summary


ARMS = ("policy", "random", "random, 1 expert per lot")


def bench_active_learning(n_lots: int = 6000, seeds: int = 5, budget: int = 4, nights: int = 3,
                          horizon_days: int = 182, experts_per_lot: int = 3) -> pd.DataFrame:
    """A label budget (``budget`` labels per expert per night for ``nights`` nights) spent on the lots the policy
    chooses or on random lots; valuation error of the blend of model and consensus afterwards."""
    from gbv.crowd.active import assign_requests, route_for_lots, score_lots
    from gbv.crowd.blend import blend_valuations
    from gbv.crowd.simulate import simulate_world_answers, world_labels_usd

    _quiet()
    started = time.perf_counter()
    rows = []
    for seed in range(seeds):
        night = _world_night(n_lots, seed, horizon_days)
        world, window, truth, pred, history = (night[k] for k in ("world", "window", "truth", "pred", "history"))
        # what the experts said about past lots (their reliability); the window's lots start unlabelled
        past = world_labels_usd(world, world.labels_as_of(AS_OF))
        past = past[~past["lot_ref"].isin(set(window["lot_ref"]))]
        vals = pd.DataFrame({"lot_ref": pred["lot_ref"], "estimate_usd": np.exp(pred["pred_log_usd"]),
                             "low_usd": np.exp(pred["low_log_usd"]), "high_usd": np.exp(pred["high_log_usd"])})
        keys = world.experts["expert_id"].tolist()
        upcoming = window  # lot_ref, artist_id and the house's estimate, as the nightly sees them
        model_e = _errors(pred["pred_log_usd"].to_numpy(), truth)
        rows.append({"seed": seed, "labels chosen by": "(no labels: model alone)", "labels": 0, "lots_labelled": 0,
                     **model_e, "labelled_MdALE_model": np.nan, "labelled_MdALE_blend": np.nan})
        for arm in ARMS:
            rng = np.random.default_rng([seed, 17])
            labels = past
            done: set[tuple[str, str]] = set()
            for k in range(nights):
                res = _consensus(labels, night["gold"])
                scored = score_lots(upcoming, vals, history, res.consensus, res.reliability)
                # the policy routes each lot to the experts proven most accurate in its medium class (as the
                # nightly does); accuracy from labels on lots sold before AS_OF only
                routing = route_for_lots(upcoming, labels, history, keys) if arm == "policy" else None
                if arm != "policy":  # random lots, each with experts_per_lot (or 1) experts, least loaded first
                    scored = scored.iloc[rng.permutation(len(scored))].reset_index(drop=True)
                req = assign_requests(scored, keys, (AS_OF + dt.timedelta(days=k)).isoformat(),
                                      budget_per_expert=budget, done=done,
                                      experts_per_lot=1 if arm == ARMS[2] else experts_per_lot,
                                      reliability=res.reliability if arm == "policy" else None,
                                      in_order=arm != "policy", routing=routing)
                done |= set(zip(req["lot_ref"], req["expert_key"], strict=True))
                labels = pd.concat([labels, simulate_world_answers(world, req, seed=seed)], ignore_index=True)
            res = _consensus(labels, night["gold"])
            b = blend_valuations(pred, res.consensus, res.reliability, market_sd=res.market_log_sd)
            lab = np.isfinite(b["consensus_log"].to_numpy())
            e = _errors(b["blend_log"].to_numpy(), truth)
            rows.append({"seed": seed, "labels chosen by": arm, "labels": len(done),
                         "lots_labelled": int(lab.sum()), **e,
                         "labelled_MdALE_model": _errors(b["model_log"].to_numpy()[lab], truth[lab])["MdALE_value"],
                         "labelled_MdALE_blend": _errors(b["blend_log"].to_numpy()[lab], truth[lab])["MdALE_value"]})
    table = pd.DataFrame(rows)
    summary = (table.drop(columns=["seed"]).groupby("labels chosen by", sort=False).mean().reset_index())
    print(f"gbv bench active-learning: demo world of {n_lots} lots, lots offered in the {horizon_days} days after "
          f"{AS_OF} start unlabelled; budget {budget} labels per expert per night x {len(keys)} experts x "
          f"{nights} nights, {experts_per_lot} experts per lot; answers simulated with the world's expert "
          f"bias/noise; valuation = blend of model and consensus (gbv.crowd.blend); {seeds} worlds (seeds)")
    print("errors over every lot of the window: MdALE_value / MdALE_price (median |log error| vs the true value / "
          "the realised price of sold lots), $err_value (sum |error $| / sum value $); labelled_*: MdALE vs the "
          "true value on the lots that arm labelled, model alone vs blend")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    by = table.set_index(["seed", "labels chosen by"])
    for other in ARMS[1:]:
        wins = []
        for metric in ("MdALE_value", "MdALE_price", "$err_value"):
            d = (by.xs("policy", level=1)[metric] - by.xs(other, level=1)[metric]).to_numpy(dtype=float)
            se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
            wins.append(f"{metric} {d.mean():+.4f} (se {se:.4f}, policy better in {int((d < 0).sum())}/{len(d)})")
        print(f"policy - {other}, paired over worlds: " + "; ".join(wins))
    print("\nper world:")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"({time.perf_counter() - started:.0f} s)")
    return summary
