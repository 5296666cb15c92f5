"""``gbv bench model``: train each model kind on sales before a cut, score the sales from the cut on, side by side.

::

    gbv bench model --source warehouse --train-before 2016-01-01 \\
        --kinds hedonic_ridge,lgbm_baseline,transformer,ensemble --epochs 6 --max-length 128

Prints, per source and overall, for the test sales: MdALE, mean absolute log error, R² of log price, the share
inside the 80% range and the mean range width (high/low ratio), for the auction house's own estimate (geometric
mid of low and high; the warehouse holds both price and estimates on the hammer basis) and each model; then
training seconds, one transformer epoch's seconds and scoring lots/s (CPU fp32 and int8, GPU when present).

``ensemble`` is the mean of the transformer's and LightGBM's log predictions with its own split-conformal radius
(re-calibrated on the same latest slice of the training window that both models held out), reported beside its
parts so that the benchmark says whether it helps. Lots found in two sources count once (same sale date, lot
number and artist; the source with true hammer prices, ``arthena``, is kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_KINDS = "hedonic_ridge,lgbm_baseline,transformer,ensemble"
PREFERRED_SOURCES = ("arthena",)


# ---- data ------------------------------------------------------------------------------------------------

def dedupe_sources(lots: pd.DataFrame) -> pd.DataFrame:
    """One row per (sale date, lot number, artist name) across sources; preferred sources first."""
    if "source" not in lots.columns or lots["source"].nunique() < 2:
        return lots
    name = lots["artist_name"].astype(str).str.lower().str.replace(r"[^a-z0-9]", "", regex=True)
    key = pd.DataFrame({"d": lots["sale_date"].astype(str), "n": lots["lot_number"].astype(str).str.strip(),
                        "a": name})
    rank = (~lots["source"].astype(str).isin(PREFERRED_SOURCES)).astype(int)
    order = np.lexsort((np.arange(len(lots)), rank.to_numpy()))
    keep = ~key.iloc[order].duplicated(keep="first")
    return lots.iloc[np.sort(order[keep.to_numpy()])].reset_index(drop=True)


def load_lots(source: str, demo_lots: int, seed: int, lots_file: str | None = None) -> pd.DataFrame:
    if source == "demo":
        from gbv.demo.world import generate_world

        lots = generate_world(n_lots=demo_lots, seed=seed).lots
    elif source == "parquet":  # a warehouse snapshot (``gbv bench model-snapshot``), e.g. for a GPU machine
        if not lots_file:
            raise ValueError("--source parquet needs --lots-file")
        lots = pd.read_parquet(lots_file)
    else:
        from gbv.settings import get_settings
        from warehouse.db import get_engine
        from warehouse.io import read_lots

        lots = read_lots(get_engine(get_settings()))
    lots = lots[lots["status"].isin(["sold", "bought_in"])].copy()
    lots["sale_date"] = pd.to_datetime(lots["sale_date"]).dt.date
    return dedupe_sources(lots.sort_values(["sale_date", "lot_ref"], kind="stable").reset_index(drop=True))


# ---- metrics ---------------------------------------------------------------------------------------------

def metrics(y: np.ndarray, pred: np.ndarray, low: np.ndarray | None, high: np.ndarray | None) -> dict:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    ok = np.isfinite(y) & np.isfinite(pred)
    if not ok.any():
        return {"n": 0}
    yy, pp = y[ok], pred[ok]
    err = np.abs(pp - yy)
    ss = float(((yy - yy.mean()) ** 2).sum())
    out = {"n": int(ok.sum()), "mdale": float(np.median(err)), "mae_log": float(err.mean()),
           "r2": 1.0 - float(((pp - yy) ** 2).sum()) / ss if ss > 0 else math.nan}
    if low is not None and high is not None:
        lo, hi = np.asarray(low, float)[ok], np.asarray(high, float)[ok]
        out["coverage_80"] = float(np.mean((yy >= lo) & (yy <= hi)))
        with np.errstate(over="ignore"):
            out["width_ratio"] = float(np.mean(np.exp(hi - lo)))
        out["width_log"] = float(np.mean(hi - lo))
    return out


def _by_source(test: pd.DataFrame, y: np.ndarray, pred: np.ndarray, low, high) -> dict:  # noqa: ANN001
    res = {"overall": metrics(y, pred, low, high)}
    src = test["source"].astype(str).to_numpy() if "source" in test else np.array(["all"] * len(test))
    for s in sorted(set(src)):
        m = src == s
        res[s] = metrics(y[m], pred[m], None if low is None else low[m], None if high is None else high[m])
    return res


# ---- timing ----------------------------------------------------------------------------------------------

def _lots_per_s(fn, n: int, repeats: int = 1) -> float:  # noqa: ANN001
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best if best > 0 else math.inf


def _make(kind: str, args: argparse.Namespace, device: str):  # noqa: ANN202
    from model.base import make_valuer, valuer_class

    kwargs: dict = {"seed": args.seed}
    accepted = inspect.signature(valuer_class(kind).__init__).parameters
    extra = {"device": device, "epochs": args.epochs, "max_length": args.max_length, "batch_size": args.batch_size,
             "lr_decay": args.lr_decay, "freeze_layers": args.freeze_layers, "max_steps": args.max_steps,
             "checkpoint_dir": args.checkpoint_dir, "resume": args.resume,
             "market": getattr(args, "market", None), "text_sale": getattr(args, "text_sale", None),
             "score_max_length": getattr(args, "score_max_length", None), "patience": getattr(args, "patience", None)}
    for k, v in extra.items():
        if k in accepted and v is not None:
            kwargs[k] = v
    return make_valuer(kind, **kwargs)


# ---- the benchmark ---------------------------------------------------------------------------------------

def run_bench(args: argparse.Namespace) -> dict:
    from model.base import calibrate_radii, calibration_split, interval_radius
    from model.compute import describe_hardware, pick_device
    from model.features import build_features, log_hammer_usd

    device = pick_device(args.device)
    lots = load_lots(args.source, args.demo_lots, args.seed, getattr(args, "lots_file", None))
    if args.train_before:
        cut = dt.date.fromisoformat(args.train_before)
    else:
        cut = dt.date(2016, 1, 1) if args.source != "demo" else dt.date(2025, 1, 1)
    until = dt.date.fromisoformat(args.test_until) if args.test_until else None
    before = lots[lots["sale_date"] < cut].reset_index(drop=True)
    y_all = log_hammer_usd(lots)
    test_mask = (lots["sale_date"] >= cut) & y_all.notna()
    if until:
        test_mask &= lots["sale_date"] < until
    test = lots[test_mask].reset_index(drop=True)
    if args.max_test and len(test) > args.max_test:
        test = test.sample(n=args.max_test, random_state=args.seed).sort_values(["sale_date", "lot_ref"])
        test = test.reset_index(drop=True)
    train = before
    if args.max_train and int(log_hammer_usd(train).notna().sum()) > args.max_train:
        sold_dates = np.sort(pd.to_datetime(train.loc[log_hammer_usd(train).notna(), "sale_date"]).to_numpy())
        start = pd.Timestamp(sold_dates[-args.max_train]).date()
        train = train[train["sale_date"] >= start].reset_index(drop=True)
    y = log_hammer_usd(test).to_numpy()
    n_train_sold = int(log_hammer_usd(train).notna().sum())
    header = (f"gbv bench model: source {args.source}; train on {n_train_sold:,d} sold lots before {cut} "
              f"({before['sale_date'].min() if len(before) else '-'} on), test on {len(test):,d} sold lots from "
              f"{cut}{' to ' + str(until) if until else ''}; device {device} ({describe_hardware(device)})")
    print(header, flush=True)
    if n_train_sold < 20 or len(test) == 0:
        raise SystemExit("not enough sales on one side of the cut")

    results: dict = {"header": header, "models": {}, "timing": {}}
    # the house's own estimate: geometric mid of low and high (hammer basis, like the price)
    lo_e = pd.to_numeric(test["estimate_low_usd"], errors="coerce").to_numpy(dtype=float)
    hi_e = pd.to_numeric(test["estimate_high_usd"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        llo = np.where(lo_e > 0, np.log(lo_e), np.nan)
        lhi = np.where(hi_e > 0, np.log(hi_e), np.nan)
    results["models"]["house_estimate"] = _by_source(test, y, 0.5 * (llo + lhi), llo, lhi)

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    fitted: dict = {}
    preds: dict = {}
    for kind in kinds:
        if kind == "ensemble":
            continue
        t = time.perf_counter()
        valuer = _make(kind, args, device).fit(train, before)
        fit_s = time.perf_counter() - t
        fitted[kind] = valuer
        timing = {"train_seconds": round(fit_s, 2)}
        pred = valuer.predict(test, lots)
        preds[kind] = pred
        if kind == "transformer":
            timing.update(_transformer_timing(valuer, test, lots, device, args))
        else:
            timing["cpu_lots_per_s"] = round(_lots_per_s(lambda v=valuer: v.predict(test, lots), len(test)), 1)
        results["timing"][kind] = timing
        results["models"][kind] = _by_source(test, y, pred["pred_log_usd"].to_numpy(),
                                             pred["low_log_usd"].to_numpy(), pred["high_log_usd"].to_numpy())
        print(f"  trained {kind} in {fit_s:.1f} s: overall MdALE {results['models'][kind]['overall']['mdale']:.3f}",
              flush=True)

    if "ensemble" in kinds and {"transformer", "lgbm_baseline"} <= set(fitted):
        sold = train.loc[log_hammer_usd(train).notna()].copy()
        sold["_date"] = pd.to_datetime(sold["sale_date"])
        sold = sold.sort_values(["_date", "lot_ref"], kind="stable").reset_index(drop=True)
        _, cal = calibration_split(sold, fitted["lgbm_baseline"].calibration_fraction)
        cal_lots = sold[cal].reset_index(drop=True)
        cal_pred = 0.5 * (fitted["transformer"].predict(cal_lots, before)["pred_log_usd"].to_numpy()
                          + fitted["lgbm_baseline"].predict(cal_lots, before)["pred_log_usd"].to_numpy())
        prior_cal = build_features(cal_lots, before)["prior_n_sold"].to_numpy()
        calib = calibrate_radii(np.abs(log_hammer_usd(cal_lots).to_numpy() - cal_pred), prior_cal)
        mid = 0.5 * (preds["transformer"]["pred_log_usd"].to_numpy() + preds["lgbm_baseline"]["pred_log_usd"].to_numpy())
        r = interval_radius(calib, build_features(test, lots)["prior_n_sold"].to_numpy())
        results["models"]["ensemble"] = _by_source(test, y, mid, mid - r, mid + r)

    _print(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    return results


def _transformer_timing(valuer, test: pd.DataFrame, lots: pd.DataFrame, device: str,  # noqa: ANN001
                        args: argparse.Namespace) -> dict:
    import torch

    out = {"epoch_seconds": valuer.info.get("epoch_seconds"), "best_epoch": valuer.info.get("best_epoch"),
           "epochs_run": valuer.info.get("epochs_run"), "train_lots_per_s":
           max((e.get("train_lots_per_s") or 0) for e in valuer.epoch_log) if valuer.epoch_log else None}
    n = len(test)
    if device == "cuda":
        valuer.predict(test.head(256), lots)  # warm-up
        torch.cuda.synchronize()

        def cold() -> None:  # a fresh valuer's word cache: nothing of the test text tokenised before
            valuer._tok_cache = {}
            valuer.predict(test, lots)
            torch.cuda.synchronize()

        out["gpu_lots_per_s"] = round(_lots_per_s(cold, n, repeats=2), 1)
        out["gpu_breakdown_s"] = {k: round(v, 4) for k, v in valuer.last_timing.items()}
        # the model alone (text already tokenised, features built): what the GPU itself sustains
        data = valuer._tensors(test, valuer._features(test, lots))
        idx = np.arange(n)

        def model_only() -> None:
            valuer._raw_predict(data, idx)
            torch.cuda.synchronize()

        model_only()
        out["gpu_model_only_lots_per_s"] = round(_lots_per_s(model_only, n, repeats=3), 1)
        valuer.to("cpu")
    sample = test.head(min(n, args.cpu_sample))
    old_q = valuer.quantize
    for label, q in (("cpu_fp32_lots_per_s", False), ("cpu_int8_lots_per_s", True)):
        valuer.quantize, valuer._qnet = q, None
        valuer.predict(sample.head(32), lots)  # builds the int8 copy, warms up

        def cold_cpu() -> None:
            valuer._tok_cache = {}
            valuer.predict(sample, lots)

        out[label] = round(_lots_per_s(cold_cpu, len(sample), repeats=2), 1)
        out[label.replace("lots_per_s", "breakdown_s")] = {k: round(v, 4) for k, v in valuer.last_timing.items()}
    # accuracy of the int8 copy on the same sample: must not cost accuracy to be kept
    valuer.quantize, valuer._qnet = False, None
    p32 = valuer.predict(sample, lots)["pred_log_usd"].to_numpy()
    valuer.quantize, valuer._qnet = True, None
    p8 = valuer.predict(sample, lots)["pred_log_usd"].to_numpy()
    ys = np.log(pd.to_numeric(sample["hammer_usd"]).to_numpy(dtype=float))
    out["cpu_sample"] = len(sample)
    out["int8_vs_fp32_max_abs_diff"] = round(float(np.max(np.abs(p8 - p32))), 4) if len(sample) else None
    out["mdale_fp32_sample"] = round(float(np.median(np.abs(p32 - ys))), 4) if len(sample) else None
    out["mdale_int8_sample"] = round(float(np.median(np.abs(p8 - ys))), 4) if len(sample) else None
    out["cpu_threads"] = max(1, os.cpu_count() or 1)  # what scoring sets (torch.set_num_threads)
    valuer.quantize, valuer._qnet = old_q, None
    if device == "cuda":
        valuer.to("cuda")
    return out


def _fmt(v, spec: str) -> str:  # noqa: ANN001
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _print(results: dict) -> None:
    models = results["models"]
    scopes = ["overall"] + sorted({s for m in models.values() for s in m if s != "overall"})
    print()
    for scope in scopes:
        print(f"[{scope}]")
        print(f"  {'model':16s} {'n':>7s} {'MdALE':>7s} {'MAE log':>8s} {'R2':>7s} {'cov80':>6s} {'hi/lo':>7s} "
              f"{'log w':>6s}")
        for name, res in models.items():
            m = res.get(scope)
            if not m or not m.get("n"):
                continue
            print(f"  {name:16s} {m['n']:>7,d} {_fmt(m.get('mdale'), '7.3f')} {_fmt(m.get('mae_log'), '8.3f')} "
                  f"{_fmt(m.get('r2'), '7.3f')} {_fmt(m.get('coverage_80'), '6.3f')} "
                  f"{_fmt(m.get('width_ratio'), '7.2f')} {_fmt(m.get('width_log'), '6.3f')}")
    print("\ntiming:")
    for kind, t in results["timing"].items():
        print(f"  {kind:16s} " + ", ".join(f"{k} {v}" for k, v in t.items()))
    hedonic = models.get("hedonic_ridge", {}).get("overall", {}).get("mdale")
    house = models.get("house_estimate", {}).get("overall", {}).get("mdale")
    for name in ("transformer", "ensemble", "lgbm_baseline"):
        m = models.get(name, {}).get("overall")
        if m and m.get("mdale") is not None:
            vs_h = f"{100 * (1 - m['mdale'] / hedonic):.1f}% below hedonic (target >= 15%)" if hedonic else ""
            vs_e = f"{m['mdale'] - house:+.3f} vs house estimate" if house is not None else ""
            print(f"  {name}: MdALE {m['mdale']:.3f} ({vs_h}; {vs_e}); coverage {_fmt(m.get('coverage_80'), '.3f')}")
    print("\ntargets:")
    for line in target_lines(results):
        print("  " + line)


COVERAGE_TARGET = (0.77, 0.83)
CPU_TARGET_LOTS_PER_S = 500
GPU_TARGET_LOTS_PER_S = 20_000


def target_lines(results: dict) -> list[str]:
    """The issue's checks: 80% range coverage in 77-83% per model, transformer scoring throughput end to end."""
    lines = []
    lo, hi = COVERAGE_TARGET
    for name, res in results["models"].items():
        if name == "house_estimate":
            continue
        cov = res.get("overall", {}).get("coverage_80")
        if cov is not None:
            ok = lo <= cov <= hi
            lines.append(f"coverage {name}: {cov:.3f} (target {lo:.2f}-{hi:.2f}): {'met' if ok else 'NOT met'}")
    t = results["timing"].get("transformer", {})
    for key, target, what in (("cpu_fp32_lots_per_s", CPU_TARGET_LOTS_PER_S, "CPU fp32"),
                              ("cpu_int8_lots_per_s", CPU_TARGET_LOTS_PER_S, "CPU int8"),
                              ("gpu_lots_per_s", GPU_TARGET_LOTS_PER_S, "GPU")):
        v = t.get(key)
        if v is not None:
            extra = f" on {t.get('cpu_threads')} threads" if key.startswith("cpu") else ""
            lines.append(f"throughput transformer {what}: {v:,.0f} lots/s end to end{extra} (target >= {target:,d}): "
                         f"{'met' if v >= target else 'NOT met'}")
    return lines


def cmd_bench_model(args: argparse.Namespace) -> int:
    run_bench(args)
    return 0


def register(subparsers) -> None:  # noqa: ANN001 - argparse's _SubParsersAction
    """Add ``gbv bench model`` under the existing ``gbv bench`` group (or a ``bench`` group if there is none)."""
    bench = subparsers.choices.get("bench")
    if bench is None:
        bench = subparsers.add_parser("bench", help="benchmarks")
        bench.add_subparsers(dest="bench", required=True)
    group = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
    p = group.add_parser("model", help="train model kinds before a cut, score the sales after it, side by side")
    p.add_argument("--source", choices=("demo", "warehouse", "parquet"), default="demo")
    p.add_argument("--lots-file", help="with --source parquet: the lots (LOT_COLUMNS) as a parquet file")
    p.add_argument("--train-before", help="cut date (default 2016-01-01 for warehouse, 2025-01-01 for demo)")
    p.add_argument("--test-until", help="score sales before this date only (default: all after the cut)")
    p.add_argument("--kinds", default=DEFAULT_KINDS)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--batch-size", type=int, help="training batch (default 256 on GPU, 32 on CPU)")
    p.add_argument("--lr-decay", type=float, help="layer-wise learning-rate decay (default 0.8)")
    p.add_argument("--freeze-layers", type=int, help="freeze the embeddings and this many lowest layers")
    p.add_argument("--max-steps", type=int, help="cap on optimiser steps (quick CPU runs)")
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better validation MdALE")
    p.add_argument("--market", action=argparse.BooleanOptionalAction, default=None,
                   help="transformer: market index + shrunk artist level signals (default on)")
    p.add_argument("--text-sale", action=argparse.BooleanOptionalAction, default=None,
                   help="transformer: render house, city and sale title into the text (default off)")
    p.add_argument("--score-max-length", type=int, help="transformer: truncate texts to this many tokens to score")
    p.add_argument("--max-train", type=int, help="train on the latest N sold lots before the cut only")
    p.add_argument("--max-test", type=int, help="score a seeded sample of N test lots only")
    p.add_argument("--cpu-sample", type=int, default=512, help="test lots timed on the CPU (fp32 and int8)")
    p.add_argument("--demo-lots", type=int, default=3000)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--checkpoint-dir", help="transformer checkpoints (one per epoch)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--json", help="also write the results here")
    p.set_defaults(func=cmd_bench_model)
