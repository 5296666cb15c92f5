"""Crowd benchmarks (CLI subcommands that print tables; never timed tests).

* ``gbv bench consensus``: simulated panels with known truth (:mod:`gbv.crowd.simulate`): value error against
  the realised price for mean, median, the simple agreement-learned estimator and ours
  (:func:`gbv.consensus.compute_consensus`, with gold where lots sold), and style accuracy per crowd-kit
  aggregator.
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
import pandas as pd

UNRELIABLE = (0.0, 1 / 6, 1 / 3, 1 / 2)
SURPRISE = (0.0, 0.3)
NOISE = ((0.15, 0.40), (0.30, 0.60))


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
    ours = compute_consensus(p.labels, realised).consensus.set_index("lot_ref")
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


def bench_consensus(items: int = 600, experts: int = 12, seeds: int = 3) -> pd.DataFrame:
    import logging

    from gbv.consensus import STYLE_AGGREGATOR, STYLE_AGGREGATORS
    from gbv.crowd.simulate import PanelSpec

    logging.getLogger("gbv.consensus").setLevel(logging.WARNING)
    started = time.perf_counter()
    rows = []
    for (lo, hi), u, s in product(NOISE, UNRELIABLE, SURPRISE):
        errs = [consensus_errors(PanelSpec(items=items, experts=experts, unreliable=u, noise_lo=lo, noise_hi=hi,
                                           surprise_sd=s, seed=k)) for k in range(seeds)]
        r = {k: float(np.mean([e[k] for e in errs])) for k in errs[0]}
        best = min(r, key=r.get)
        rows.append({"noise": f"{lo:.2f}-{hi:.2f}", "unreliable": f"{u:.2f}", "surprise": s, **r,
                     "gbv/median": r["gbv"] / r["median"], "agreement/median": r["agreement"] / r["median"],
                     "best": best})
    table = pd.DataFrame(rows)
    print(f"gbv bench consensus: {items} items, pool of {experts} experts, 3-7 per item, 30% sold (gold), "
          f"{seeds} seeds; mean |log error| vs the realised price on unsold items")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    target = table[(table["unreliable"] == f"{1 / 3:.2f}") & (table["surprise"] == 0.0)]
    print(f"\ntarget (a third unreliable, no surprise): gbv/median = "
          f"{', '.join(f'{x:.3f}' for x in target['gbv/median'])} (<= 0.65); gbv best at every setting: "
          f"{bool((table['best'] == 'gbv').all())}")

    srows = []
    for u in UNRELIABLE:
        accs = [style_accuracy(PanelSpec(items=items, experts=experts, unreliable=u, seed=k), STYLE_AGGREGATORS)
                for k in range(seeds)]
        srows.append({"unreliable": f"{u:.2f}", **{k: float(np.mean([a[k] for a in accs])) for k in accs[0]}})
    stable = pd.DataFrame(srows)
    print("\nstyle accuracy per crowd-kit aggregator (share of items whose aggregated style is the true one)")
    print(stable.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    mean_acc = stable[list(STYLE_AGGREGATORS)].mean()
    print(f"mean over settings: {', '.join(f'{k} {v:.3f}' for k, v in mean_acc.items())}; "
          f"product uses {STYLE_AGGREGATOR}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return table
