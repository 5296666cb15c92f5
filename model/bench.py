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
parts so that the benchmark says whether it helps (the ``ensemble`` kind, :mod:`model.ensemble`, computes the
same). Lots found in two sources count once (same sale date, lot number and artist; the source with true hammer
prices, ``arthena``, is kept).

``gbv bench scoring`` times the transformer's CPU scoring per precision (:func:`scoring_bench`: fp32, bf16, int8,
ONNX Runtime; end to end and model alone; batch size, threads, |Δ log price| vs fp32) on an artifact
(``--model-dir``) or a small transformer trained on the demo world for the purpose, then nights with the
text-embedding cache (:func:`cache_nights`: cold = empty cache, warm = 90% of the lots valued the night before;
lots/s of every run and where the time goes). ``gbv bench expert`` measures
the predicted expert value (:mod:`model.expert`) against the realised consensus of held-out labelled demo lots.
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

from model.base import size_known

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


def save_predictions(directory: Path, test: pd.DataFrame, y: np.ndarray, est_mid: np.ndarray, est_low: np.ndarray,
                     est_high: np.ndarray, preds: dict, as_fitted: dict | None = None) -> Path:
    """One row per test lot: its source, sale date, log hammer price, the house estimate and every model's
    prediction and 80% range (``<kind>_pred``, ``<kind>_low``, ``<kind>_high``, natural log of USD; the range
    as the nightly valuation re-measures it), and the range as fitted (``<kind>_low_fit``, ``<kind>_high_fit``)."""
    out = pd.DataFrame({"lot_ref": test["lot_ref"].astype(str).to_numpy(),
                        "source": test["source"].astype(str).to_numpy() if "source" in test else "all",
                        "sale_date": pd.to_datetime(test["sale_date"]).to_numpy(), "log_hammer_usd": y,
                        "house_estimate_pred": est_mid, "house_estimate_low": est_low,
                        "house_estimate_high": est_high})
    for kind, pred in preds.items():
        if list(pred["lot_ref"].astype(str)) != list(out["lot_ref"]):
            raise ValueError(f"{kind}: predictions are not in the test lots' order")
        for col, name in (("pred_log_usd", "pred"), ("low_log_usd", "low"), ("high_log_usd", "high")):
            out[f"{kind}_{name}"] = pred[col].to_numpy(dtype=float)
    for kind, pred in (as_fitted or {}).items():
        out[f"{kind}_low_fit"] = pred["low_log_usd"].to_numpy(dtype=float)
        out[f"{kind}_high_fit"] = pred["high_log_usd"].to_numpy(dtype=float)
    directory.mkdir(parents=True, exist_ok=True)
    out.to_parquet(directory / "predictions.parquet", index=False)
    return directory / "predictions.parquet"


def _coverage_by_year(test: pd.DataFrame, y: np.ndarray, pred: pd.DataFrame) -> dict[str, float]:
    """Share of the test lots inside their 80% range, per sale year (drift shows as a falling share)."""
    years = pd.to_datetime(test["sale_date"]).dt.year.astype(str).to_numpy()
    p, lo, hi = (pred[c].to_numpy(dtype=float) for c in ("pred_log_usd", "low_log_usd", "high_log_usd"))
    return {yr: metrics(y[m], p[m], lo[m], hi[m])["coverage_80"]
            for yr in sorted(set(years[np.isfinite(y)])) for m in [years == yr]}


def _by_size(test: pd.DataFrame, y: np.ndarray, pred: pd.DataFrame) -> dict[str, dict]:
    """Per size knowledge (lots with a height and width, lots without): n, MdALE, share inside the 80% range and
    mean log width: a lot without a size should get a range as honest as one with, and so a wider one where the
    size is what the price hangs on."""
    known = size_known(test)
    p, lo, hi = (pred[c].to_numpy(dtype=float) for c in ("pred_log_usd", "low_log_usd", "high_log_usd"))
    return {label: metrics(y[m], p[m], lo[m], hi[m]) for label, m in (("with a size", known),
                                                                      ("without a size", ~known)) if m.any()}


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
             "score_max_length": getattr(args, "score_max_length", None), "patience": getattr(args, "patience", None),
             "encoder_layers": getattr(args, "encoder_layers", None), "context": getattr(args, "context", None),
             "title": getattr(args, "title", None)}
    for k, v in extra.items():
        if k in accepted and v is not None:
            kwargs[k] = v
    return make_valuer(kind, **kwargs)


def _load_fitted(kind: str, directory: Path, cut: dt.date):  # noqa: ANN202
    """A model saved by an earlier ``--save-dir`` run; refused if it was fitted on sales from the cut on."""
    from model.base import valuer_class

    valuer = valuer_class(kind).load(directory)
    members = getattr(valuer, "members", None) or [valuer]
    for m in members:
        until = (m.fit_info() or {}).get("train_until")
        if until is None or dt.date.fromisoformat(str(until)[:10]) >= cut:
            raise SystemExit(f"{directory}: fitted on sales until {until}, not before the cut {cut}: "
                             "it would be scored on what it learned from")
    return valuer


# ---- the benchmark ---------------------------------------------------------------------------------------

def run_bench(args: argparse.Namespace) -> dict:
    from model.compute import describe_hardware, pick_device
    from model.features import log_hammer_usd
    from model.recalibrate import RollingRecalibration

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
    as_fitted: dict = {}
    results["models_as_fitted"] = {}

    def report(kind: str, valuer, pred: pd.DataFrame) -> None:  # noqa: ANN001
        # the nightly valuation's ranges: re-measured on the latest realised sales before each test lot
        # (model.recalibrate); "as fitted" keeps the model's own calibration from its training window
        as_fitted[kind] = pred
        preds[kind] = recalibration.apply(valuer, test, pred, lots)
        results["recalibration_windows"][kind] = len(recalibration.last)
        for store, p in ((results["models"], preds[kind]), (results["models_as_fitted"], pred)):
            store[kind] = _by_source(test, y, p["pred_log_usd"].to_numpy(), p["low_log_usd"].to_numpy(),
                                     p["high_log_usd"].to_numpy())
        results["coverage_by_year"][kind] = {
            "nightly": _coverage_by_year(test, y, preds[kind]), "as_fitted": _coverage_by_year(test, y, pred)}
        results["by_size"][kind] = {"nightly": _by_size(test, y, preds[kind]), "as_fitted": _by_size(test, y, pred)}

    recalibration = RollingRecalibration()
    results["coverage_by_year"] = {}
    results["by_size"] = {}
    results["recalibration"] = {"window": recalibration.window, "min_group": recalibration.min_group,
                                "group": recalibration.describe_levels()}
    results["recalibration_windows"] = {}
    for kind in kinds:
        if kind == "ensemble":
            continue
        t = time.perf_counter()
        saved = Path(args.models_dir) / kind if getattr(args, "models_dir", None) else None
        if saved is not None and saved.is_dir():
            valuer = _load_fitted(kind, saved, cut)
            timing = {"loaded_from": str(saved)}
        else:
            valuer = _make(kind, args, device).fit(train, before)
            timing = {"train_seconds": round(time.perf_counter() - t, 2)}
        fit_s = time.perf_counter() - t
        fitted[kind] = valuer
        pred = valuer.predict(test, lots)
        if kind == "transformer":
            timing.update(_transformer_timing(valuer, test, lots, device, args))
        else:
            timing["cpu_lots_per_s"] = round(_lots_per_s(lambda v=valuer: v.predict(test, lots), len(test)), 1)
        results["timing"][kind] = timing
        if getattr(args, "save_dir", None) and "loaded_from" not in timing:
            (Path(args.save_dir) / "models" / kind).mkdir(parents=True, exist_ok=True)
            valuer.save(Path(args.save_dir) / "models" / kind)
        report(kind, valuer, pred)
        print(f"  {'loaded' if 'loaded_from' in timing else 'trained'} {kind} in {fit_s:.1f} s: overall MdALE {results['models'][kind]['overall']['mdale']:.3f}",
              flush=True)

    if "ensemble" in kinds and {"transformer", "lgbm_baseline"} <= set(fitted):
        from model.ensemble import EnsembleValuer, calibrate_mean

        # the "ensemble" kind (model/ensemble.py) made of the members fitted above
        ensemble = EnsembleValuer(seed=args.seed, members=("transformer", "lgbm_baseline"))
        ensemble.members = [fitted["transformer"], fitted["lgbm_baseline"]]
        ensemble.calibration = calibrate_mean(ensemble.members, train.loc[log_hammer_usd(train).notna()], before)
        report("ensemble", ensemble, ensemble.predict(test, lots))

    _print(results)
    if getattr(args, "save_dir", None):
        path = save_predictions(Path(args.save_dir), test, y, 0.5 * (llo + lhi), llo, lhi, preds, as_fitted)
        print(f"per-lot predictions: {path}; fitted models: {Path(args.save_dir) / 'models'}")
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
    scoring = scoring_bench(valuer, sample, lots, CPU_PRECISIONS_BENCHED, repeats=2)
    for prec, r in scoring["precisions"].items():
        if "error" in r:
            out[f"cpu_{prec}_error"] = r["error"]
            continue
        out[f"cpu_{prec}_lots_per_s"] = r["e2e_lots_per_s"]
        out[f"cpu_{prec}_model_lots_per_s"] = r["model_lots_per_s"]
        out[f"cpu_{prec}_breakdown_s"] = r["breakdown_s"]
        if prec != "fp32":
            out[f"{prec}_vs_fp32_max_abs_diff"] = r["max_abs_diff_vs_fp32"]
        out[f"mdale_{prec}_sample"] = r["mdale_sample"]
    out["cpu_sample"] = len(sample)
    out["cpu_threads"] = scoring["threads"]
    out["cpu_batch_size"] = scoring["batch_size"]
    if device == "cuda":
        valuer.to("cuda")
    return out


# ---- CPU scoring: precisions side by side --------------------------------------------------------------------

CPU_PRECISIONS_BENCHED = ("fp32", "bf16", "int8", "onnx-int8")


def scoring_bench(valuer, lots: pd.DataFrame, history: pd.DataFrame, precisions=CPU_PRECISIONS_BENCHED,  # noqa: ANN001
                  repeats: int = 3, cache_precisions=(), seen: float = 0.9) -> dict:
    """Per CPU precision of a transformer valuer: lots/s end to end (``predict``: features, text, tokens, model,
    ranges; a cold word cache and no text-embedding cache each time) and of the model alone (tensors ready), best
    of ``repeats``; the seconds per phase; max and median |Δ log price| vs fp32 on the same lots; MdALE vs the
    realised prices where sold. Per precision in ``cache_precisions``, the nightly runs with the text-embedding
    cache (:func:`cache_nights`): ``res["cache"]``."""
    from model.transformer import scoring_threads

    valuer.to("cpu")
    old = (valuer.quantize, valuer.cpu_precision, valuer.embedding_cache)
    valuer.embedding_cache = None
    n = len(lots)
    y = np.log(pd.to_numeric(lots.get("hammer_usd"), errors="coerce").to_numpy(dtype=float)) \
        if "hammer_usd" in lots else np.full(n, np.nan)
    sold = np.isfinite(y) & (lots["status"].astype(str).to_numpy() == "sold") if "status" in lots else np.isfinite(y)
    data = valuer._tensors(lots, valuer._features(lots, history), valuer.score_max_length)
    idx = np.arange(n)
    res: dict = {"n": n, "threads": scoring_threads(), "batch_size": valuer._infer_batch_size(),
                 "mean_tokens": round(float(data["len"].float().mean()), 1) if n else None, "precisions": {}}
    base = None
    try:
        valuer.quantize = "auto"
        for prec in precisions:
            valuer.cpu_precision = prec
            try:
                net = valuer._scoring_net()
                valuer.predict(lots.head(16), history)  # warm-up (and builds the scoring copy)
            except Exception as exc:  # noqa: BLE001 - an optional runtime missing: report, go on
                res["precisions"][prec] = {"error": f"{type(exc).__name__}: {exc}"}
                continue

            def e2e() -> None:
                valuer._tok_cache = {}
                valuer.predict(lots, history)

            e2e_rate = _lots_per_s(e2e, n, repeats)
            breakdown = {k: round(v, 4) for k, v in valuer.last_timing.items()}
            model_rate = _lots_per_s(lambda net=net: valuer._raw_predict(data, idx, net), n, repeats)
            pred = valuer.predict(lots, history)["pred_log_usd"].to_numpy()
            if base is None:
                base = pred
            diff = np.abs(pred - base)
            res["precisions"][prec] = {
                "e2e_lots_per_s": round(e2e_rate, 1), "model_lots_per_s": round(model_rate, 1),
                "breakdown_s": breakdown,
                "max_abs_diff_vs_fp32": round(float(diff.max()), 5) if n else None,
                "median_abs_diff_vs_fp32": round(float(np.median(diff)), 5) if n else None,
                "mdale_sample": round(float(np.median(np.abs(pred[sold] - y[sold]))), 4) if sold.any() else None,
            }
        if cache_precisions:
            res["cache"] = cache_nights(valuer, lots, history, cache_precisions, repeats, seen)
    finally:
        valuer.quantize, valuer.cpu_precision, valuer.embedding_cache = old
        valuer._qnet = None
    return res


def _share(timing: dict) -> dict:
    """Where the seconds of one ``predict`` went: encoder / features / head / cache / text (render + tokens)."""
    parts = {"encoder": timing.get("encoder_s", 0.0), "features": timing.get("features_s", 0.0),
             "head": timing.get("head_s", 0.0), "cache": timing.get("cache_s", 0.0),
             "text": timing.get("render_s", 0.0) + timing.get("tokenize_s", 0.0)}
    total = sum(parts.values()) or 1.0
    return {k: round(v / total, 3) for k, v in parts.items()}


def cache_nights(valuer, lots: pd.DataFrame, history: pd.DataFrame, precisions=("fp32", "bf16"),  # noqa: ANN001
                 repeats: int = 3, seen: float = 0.9) -> dict:
    """Nightly scoring with the text-embedding cache, per CPU precision, end to end (``predict``), each run in a
    fresh copy of the cache and a cold word cache: **cold** (the first night: an empty cache) and **warm** (the
    next night: a seeded ``seen`` share of the lots valued the night before, the others new). Lots/s of every run
    (the range is the point on a shared machine), the share of the time per part (encoder, features, head,
    cache, text) of the median run, the cache hits, and max |Δ log price| of warm vs uncached scoring."""
    import shutil
    import tempfile

    n = len(lots)
    rng = np.random.default_rng(7)
    before = lots[rng.random(n) < seen].reset_index(drop=True)
    out: dict = {"n": n, "seen": seen, "n_seen": len(before), "precisions": {}}
    old = (valuer.cpu_precision, valuer.embedding_cache)
    with tempfile.TemporaryDirectory(prefix="gbv-embcache-") as tmp:
        tmp = Path(tmp)
        try:
            for prec in precisions:
                valuer.cpu_precision, valuer.embedding_cache = prec, None
                valuer._qnet = None
                try:
                    valuer.predict(lots.head(16), history)  # warm-up (and builds the scoring copy)
                    uncached = valuer.predict(lots, history)[["pred_log_usd", "low_log_usd", "high_log_usd"]]
                except Exception as exc:  # noqa: BLE001 - an optional runtime missing: report, go on
                    out["precisions"][prec] = {"error": f"{type(exc).__name__}: {exc}"}
                    continue
                r: dict = {}
                for night in ("cold", "warm"):
                    primed = tmp / f"{prec}-primed"
                    if night == "warm":  # last night's cache, made once, copied for each run
                        valuer.embedding_cache, valuer._tok_cache = primed, {}
                        valuer.predict(before, history)
                    rates, timings, pred = [], [], None
                    for i in range(repeats):
                        run = tmp / f"{prec}-{night}-{i}"
                        if night == "warm":
                            shutil.copytree(primed, run)
                        valuer.embedding_cache, valuer._tok_cache = run, {}
                        t = time.perf_counter()
                        pred = valuer.predict(lots, history)
                        secs = time.perf_counter() - t
                        rates.append(n / secs if secs > 0 else math.inf)
                        timings.append((secs, dict(valuer.last_timing), dict(valuer.last_cache)))
                        shutil.rmtree(run, ignore_errors=True)
                    secs, timing, stats = sorted(timings, key=lambda x: x[0])[len(timings) // 2]
                    diff = np.abs(pred[uncached.columns].to_numpy() - uncached.to_numpy())
                    r[night] = {"lots_per_s": [round(x, 1) for x in rates], "median_s": round(secs, 3),
                                "share": _share(timing), "hits": stats.get("hits", 0),
                                "encoded": stats.get("encoded", 0),
                                "breakdown_s": {k: round(v, 4) for k, v in timing.items()},
                                "max_abs_diff_vs_uncached": round(float(diff.max()), 7) if n else None}
                out["precisions"][prec] = r
        finally:
            valuer.cpu_precision, valuer.embedding_cache = old
            valuer._qnet = None
    return out


def print_cache_nights(res: dict) -> None:
    print(f"Nightly scoring with the text-embedding cache, {res['n']:,d} lots end to end; warm = the next night, "
          f"{res['seen']:.0%} of its lots ({res['n_seen']:,d}) valued the night before:")
    print(f"  {'precision':10s} {'night':5s} {'lots/s (each run)':>26s} {'hits':>6s} {'encoded':>8s} "
          f"{'max|d| vs uncached':>19s}  share of the time")
    for prec, r in res["precisions"].items():
        if "error" in r:
            print(f"  {prec:10s} not run: {r['error']}")
            continue
        for night in ("cold", "warm"):
            x = r[night]
            rates = ", ".join(f"{v:,.0f}" for v in x["lots_per_s"])
            print(f"  {prec:10s} {night:5s} {rates:>26s} {x['hits']:>6,d} {x['encoded']:>8,d} "
                  f"{x['max_abs_diff_vs_uncached']:>19.2e}  "
                  + ", ".join(f"{k} {v:.0%}" for k, v in x["share"].items() if v >= 0.005))
    cold = [max(r["cold"]["lots_per_s"]) for r in res["precisions"].values() if "error" not in r]
    if cold:
        best = max(cold)
        print(f"  target >= {CPU_TARGET_LOTS_PER_S} lots/s cold on this CPU: best {best:,.1f}: "
              f"{'met' if best >= CPU_TARGET_LOTS_PER_S else 'NOT met'}")


def print_scoring(res: dict, header: str = "") -> None:
    print(f"{header}CPU scoring of {res['n']:,d} lots (mean {res['mean_tokens']} tokens), batch {res['batch_size']}, "
          f"{res['threads']} threads:")
    print(f"  {'precision':10s} {'e2e lots/s':>11s} {'model lots/s':>13s} {'max|d| vs fp32':>15s} "
          f"{'median|d|':>10s} {'MdALE':>7s}  breakdown (s)")
    for prec, r in res["precisions"].items():
        if "error" in r:
            print(f"  {prec:10s} not run: {r['error']}")
            continue
        print(f"  {prec:10s} {r['e2e_lots_per_s']:>11,.1f} {r['model_lots_per_s']:>13,.1f} "
              f"{_fmt(r['max_abs_diff_vs_fp32'], '15.4f')} {_fmt(r['median_abs_diff_vs_fp32'], '10.4f')} "
              f"{_fmt(r['mdale_sample'], '7.3f')}  " + ", ".join(f"{k} {v}" for k, v in r["breakdown_s"].items()))
    best = max((r["e2e_lots_per_s"] for r in res["precisions"].values() if "error" not in r), default=None)
    if best is not None:
        print(f"  target >= {CPU_TARGET_LOTS_PER_S} lots/s end to end on this CPU: best {best:,.1f}: "
              f"{'met' if best >= CPU_TARGET_LOTS_PER_S else 'NOT met'}")


def _scoring_valuer(args: argparse.Namespace, train: pd.DataFrame, history: pd.DataFrame):  # noqa: ANN202
    """The valuer to time: ``--model-dir`` holding an artifact, else a small transformer trained on ``train`` (and
    saved to ``--model-dir`` when given, for the next run). Throughput does not depend on how well it learned."""
    from model.transformer import META_FILE, TransformerValuer

    if args.model_dir and (Path(args.model_dir) / META_FILE).exists():
        print(f"loading the transformer artifact in {args.model_dir}", flush=True)
        return TransformerValuer.load(Path(args.model_dir), device="cpu")
    from model.transformer import DEFAULT_ENCODER_LAYERS

    layers = getattr(args, "encoder_layers", None)
    layers = DEFAULT_ENCODER_LAYERS if layers is None else layers
    print(f"training a small transformer on {len(train):,d} lots ({args.train_steps} steps, max_length "
          f"{args.max_length}, {layers} encoder layers) to time it", flush=True)
    valuer = TransformerValuer(seed=args.seed, device="cpu", epochs=1, max_steps=args.train_steps,
                               max_length=args.max_length, batch_size=16, encoder_layers=layers).fit(train, history)
    if args.model_dir:
        Path(args.model_dir).mkdir(parents=True, exist_ok=True)
        valuer.save(Path(args.model_dir))
    return valuer


def cmd_bench_scoring(args: argparse.Namespace) -> int:
    from model.compute import describe_hardware
    from model.features import log_hammer_usd

    lots = load_lots(args.source, args.demo_lots, args.seed, getattr(args, "lots_file", None))
    cut = dt.date.fromisoformat(args.train_before) if args.train_before else \
        (dt.date(2016, 1, 1) if args.source != "demo" else dt.date(2025, 1, 1))
    before = lots[lots["sale_date"] < cut].reset_index(drop=True)
    sold_before = before[log_hammer_usd(before).notna()]
    valuer = _scoring_valuer(args, sold_before.tail(args.train_lots).reset_index(drop=True), before)
    if args.batch_size:
        valuer.infer_batch_size = args.batch_size
    if args.score_max_length:
        valuer.score_max_length = args.score_max_length
    if args.threads:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.threads]))
    test = lots[lots["sale_date"] >= cut].reset_index(drop=True)
    if len(test) > args.n:
        test = test.sample(n=args.n, random_state=args.seed).sort_values(["sale_date", "lot_ref"])
        test = test.reset_index(drop=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"gbv bench scoring: source {args.source}, {describe_hardware('cpu')}, load average {load:.1f}", flush=True)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    from model.transformer import auto_cpu_precision

    cache_precisions = [p.strip() for p in (args.cache_precisions or "").split(",") if p.strip()]
    # "auto": what production scores at on this CPU (bf16 on AMX, else int8 ONNX Runtime, else fp32)
    cache_precisions = list(dict.fromkeys(auto_cpu_precision() if p == "auto" else p for p in cache_precisions))
    res = scoring_bench(valuer, test, lots, precisions, repeats=args.repeats, cache_precisions=cache_precisions,
                        seen=args.seen)
    res["load_average"] = load
    res["load_average_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print_scoring(res)
    if "cache" in res:
        print_cache_nights(res["cache"])
    print(f"  load average {load:.1f} before, {res['load_average_after']:.1f} after (2 cores shared: compare "
          f"figures of one run only)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


# ---- expert value (``gbv bench expert``) -------------------------------------------------------------------

def demo_consensus(world) -> pd.DataFrame:  # noqa: ANN001 - gbv.demo.world.World
    """The demo world's labels through the nightly validation and consensus (realised prices as gold)."""
    from gbv.consensus import compute_consensus
    from quality.labels import validate_labels

    labels = world.labels
    lots = world.lots
    known = world.experts["expert_id"].astype(str).tolist()
    result = validate_labels(labels, known, world.as_of.isoformat(), "labels.csv", salt="bench",
                             lots=lots[["lot_ref", "sale_date"]])
    realised = lots.loc[lots["status"] == "sold", ["lot_ref", "hammer_usd"]]
    return compute_consensus(result.accepted, realised).consensus


def run_expert_bench(args: argparse.Namespace) -> dict:
    """Held-out MdALE of the predicted expert value vs the realised consensus: the latest ``--holdout`` share of
    the labelled lots (by sale date) are held out; the mapping is fitted on the earlier labelled lots, the market
    model on sales before the first held-out sale date."""
    from gbv.demo.world import generate_world
    from model.expert import fit_expert_mapping
    from model.features import log_hammer_usd

    world = generate_world(n_lots=args.demo_lots, seed=args.seed)
    cons = demo_consensus(world)
    lots = world.lots
    offered = lots[lots["status"].isin(["sold", "bought_in"])].reset_index(drop=True)
    labelled = lots[lots["lot_ref"].isin(set(cons["lot_ref"]))].copy()
    labelled["_d"] = pd.to_datetime(labelled["sale_date"])
    labelled = labelled.sort_values(["_d", "lot_ref"], kind="stable").reset_index(drop=True)
    cut_i = int(len(labelled) * (1 - args.holdout))
    cut = labelled["_d"].iloc[cut_i]
    fit_part, held = labelled[labelled["_d"] < cut], labelled[labelled["_d"] >= cut]
    train = offered[pd.to_datetime(offered["sale_date"]) < cut]
    valuer = _make(args.kind, args, "cpu").fit(train, train)
    by_ref = cons.set_index("lot_ref")["consensus_usd"].astype(float)
    pred_fit = valuer.predict(fit_part.drop(columns="_d"), offered)["pred_log_usd"].to_numpy()
    pred_held = valuer.predict(held.drop(columns="_d"), offered)["pred_log_usd"].to_numpy()
    c_fit = np.log(fit_part["lot_ref"].map(by_ref).to_numpy(dtype=float))
    c_held = np.log(held["lot_ref"].map(by_ref).to_numpy(dtype=float))
    mapping = fit_expert_mapping(pred_fit, c_fit)
    y_held = log_hammer_usd(held).to_numpy()
    res = {"kind": args.kind, "n_labelled": len(labelled), "n_fit": len(fit_part), "n_held_out": len(held),
           "held_out_from": str(cut.date()), "mapping": mapping.to_dict() if mapping else None,
           "mdale_market_estimate_vs_consensus": float(np.median(np.abs(pred_held - c_held))),
           "mdale_expert_value_vs_consensus":
               float(np.median(np.abs(mapping.predict(pred_held) - c_held))) if mapping else None,
           "mdale_market_estimate_vs_price": float(np.nanmedian(np.abs(pred_held - y_held)))
           if np.isfinite(y_held).any() else None}
    print(f"gbv bench expert: demo world {args.demo_lots} lots, {args.kind}; {res['n_labelled']} labelled lots, "
          f"mapping fitted on {res['n_fit']} before {res['held_out_from']}, held out {res['n_held_out']}")
    print(f"  mapping: {res['mapping']}")
    print(f"  MdALE vs the held-out consensus: predicted expert value "
          f"{_fmt(res['mdale_expert_value_vs_consensus'], '.3f')}, market estimate as it is "
          f"{res['mdale_market_estimate_vs_consensus']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n", encoding="utf-8")
    return res


def cmd_bench_expert(args: argparse.Namespace) -> int:
    run_expert_bench(args)
    return 0


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
              f"{'log w':>6s} {'cov@fit':>7s}")
        for name, res in models.items():
            m = res.get(scope)
            if not m or not m.get("n"):
                continue
            fit = results.get("models_as_fitted", {}).get(name, {}).get(scope, {})
            print(f"  {name:16s} {m['n']:>7,d} {_fmt(m.get('mdale'), '7.3f')} {_fmt(m.get('mae_log'), '8.3f')} "
                  f"{_fmt(m.get('r2'), '7.3f')} {_fmt(m.get('coverage_80'), '6.3f')} "
                  f"{_fmt(m.get('width_ratio'), '7.2f')} {_fmt(m.get('width_log'), '6.3f')} "
                  f"{_fmt(fit.get('coverage_80'), '7.3f')}")
    rc = results.get("recalibration")
    if rc:
        print(f"\ncov80, hi/lo, log w: the nightly ranges, re-measured on the latest {rc['window']} realised sales "
              f"before the lot's sale date of its {rc['group']} (the first with {rc['min_group']} or more; "
              "model.recalibrate); cov@fit: the model's own ranges as calibrated on its training window")
    by_year = results.get("coverage_by_year") or {}
    years = sorted({yr for c in by_year.values() for yr in c["nightly"]})
    if years:
        print("\nshare inside the 80% range by sale year, nightly (as fitted):")
        print(f"  {'model':16s} " + " ".join(f"{yr:>15s}" for yr in years))
        for name, c in by_year.items():
            cells = [f"{_fmt(c['nightly'].get(yr), '.3f')} ({_fmt(c['as_fitted'].get(yr), '.3f')})" for yr in years]
            print(f"  {name:16s} " + " ".join(f"{cell:>15s}" for cell in cells))
    by_size = results.get("by_size") or {}
    if by_size:
        print("\nlots with and without a size: n, MdALE, share inside the 80% range and mean log width, nightly "
              "(as fitted):")
        for name, c in by_size.items():
            for label, m in c["nightly"].items():
                fit = c["as_fitted"].get(label, {})
                print(f"  {name:16s} {label:15s} {m['n']:>6,d} {_fmt(m.get('mdale'), '.3f')} "
                      f"{_fmt(m.get('coverage_80'), '.3f')} ({_fmt(fit.get('coverage_80'), '.3f')}) "
                      f"{_fmt(m.get('width_log'), '.2f')} ({_fmt(fit.get('width_log'), '.2f')})")
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
            per = {s: m.get("coverage_80") for s, m in res.items() if s != "overall" and m.get("coverage_80") is not None}
            outside = [f"{s} {c:.3f}" for s, c in sorted(per.items()) if not lo <= c <= hi]
            note = f"; per source outside: {', '.join(outside)}" if outside else (
                f"; every source inside ({len(per)})" if per else "")
            lines.append(f"coverage {name}: {cov:.3f} (target {lo:.2f}-{hi:.2f}): {'met' if ok else 'NOT met'}{note}")
    t = results["timing"].get("transformer", {})
    keys = [(f"cpu_{p}_lots_per_s", CPU_TARGET_LOTS_PER_S, f"CPU {p}") for p in CPU_PRECISIONS_BENCHED]
    for key, target, what in keys + [("gpu_lots_per_s", GPU_TARGET_LOTS_PER_S, "GPU")]:
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
    p.add_argument("--encoder-layers", type=int,
                   help="transformer: keep the lowest N of MiniLM's 6 layers (default 2; 6 = the whole encoder)")
    p.add_argument("--context", action=argparse.BooleanOptionalAction, default=None,
                   help="transformer: the lot and sale context signals (default on)")
    p.add_argument("--title", action=argparse.BooleanOptionalAction, default=None,
                   help="transformer: the same title's earlier sales (default on)")
    p.add_argument("--max-train", type=int, help="train on the latest N sold lots before the cut only")
    p.add_argument("--max-test", type=int, help="score a seeded sample of N test lots only")
    p.add_argument("--cpu-sample", type=int, default=512, help="test lots timed on the CPU (fp32 and int8)")
    p.add_argument("--demo-lots", type=int, default=3000)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--checkpoint-dir", help="transformer checkpoints (one per epoch)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--models-dir", help="score the models saved under this folder (<kind>/, as --save-dir writes "
                   "them under models/) instead of training them; kinds without a saved model are trained")
    p.add_argument("--save-dir", help="also write the fitted models (models/<kind>/) and one row per test lot with "
                   "every model's prediction and range (predictions.parquet) here")
    p.set_defaults(func=cmd_bench_model)

    s = group.add_parser("scoring", help="transformer CPU scoring lots/s per precision (fp32, bf16, int8, onnx)")
    s.add_argument("--source", choices=("demo", "warehouse", "parquet"), default="demo")
    s.add_argument("--lots-file", help="with --source parquet: the lots (LOT_COLUMNS) as a parquet file")
    s.add_argument("--train-before", help="lots from this date are scored (default 2016-01-01, demo 2025-01-01)")
    s.add_argument("--model-dir", help="a transformer artifact to time; if empty, a small one is trained and saved "
                                       "there")
    s.add_argument("--train-lots", type=int, default=200, help="sold lots the small transformer is trained on")
    s.add_argument("--train-steps", type=int, default=4, help="its optimiser steps (throughput needs no accuracy)")
    s.add_argument("--max-length", type=int, default=64, help="its max_length (tokens per text)")
    s.add_argument("--encoder-layers", type=int,
                   help="its encoder depth: the lowest N of MiniLM's 6 layers (default 2; 6 = the whole encoder)")
    s.add_argument("--n", type=int, default=1024, help="lots scored per timing")
    s.add_argument("--precisions", default="fp32,bf16,int8,onnx,onnx-int8",
                   help="from fp32, bf16, int8, onnx, onnx-int8")
    s.add_argument("--batch-size", type=int, help="inference batch (default 256 on CPU)")
    s.add_argument("--threads", type=int, help="use only this many cores (default: all this process may use)")
    s.add_argument("--score-max-length", type=int, help="truncate texts to this many tokens to score")
    s.add_argument("--repeats", type=int, default=3, help="timings per precision; the best is reported (the "
                                                           "cache nights print every run)")
    s.add_argument("--cache-precisions", default="fp32,auto",
                   help="precisions timed as nights with the text-embedding cache, cold and warm ('' skips)")
    s.add_argument("--seen", type=float, default=0.9, help="warm night: share of its lots valued the night before")
    s.add_argument("--demo-lots", type=int, default=3000)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--json", help="also write the results here")
    s.set_defaults(func=cmd_bench_scoring)

    e = group.add_parser("expert", help="predicted expert value vs the realised consensus on held-out labelled lots")
    e.add_argument("--kind", default="lgbm_baseline", help="the market model the expert value is mapped from")
    e.add_argument("--holdout", type=float, default=0.3, help="latest share of the labelled lots held out")
    e.add_argument("--demo-lots", type=int, default=3000)
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--epochs", type=int, default=2)
    e.add_argument("--max-length", type=int, default=64)
    e.add_argument("--batch-size", type=int)
    e.add_argument("--lr-decay", type=float)
    e.add_argument("--freeze-layers", type=int)
    e.add_argument("--max-steps", type=int)
    e.add_argument("--checkpoint-dir")
    e.add_argument("--resume", action="store_true")
    e.add_argument("--json", help="also write the results here")
    e.set_defaults(func=cmd_bench_expert)
