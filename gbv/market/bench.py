"""``gbv bench index``: how well the price indices carry a price through time, on the real auction data.

The shared vendor exports (``GBV_SHARED_AUCTIONS``, default ``../shared/data/auctions``) are imported with the
ordinary importers into a temporary ``GBV_HOME``. Every repeat-sale pair (the same physical work sold twice, as
:func:`gbv.market.index.match_repeat_sales` tells it) whose second sale falls in the evaluation year (2016) is
predicted as ``first price x index(second period) / index(first period)``, and scored by MdALE, the median
absolute log error ``median |ln(predicted / realised)|``, for:

* no adjustment (the first price as it was),
* the hedonic index (all sales, monthly and quarterly),
* the repeat-sales index (Case–Shiller weighted, monthly and quarterly).

Two columns: **in-sample** (indices from every sale, the evaluated pairs included: the repeat-sales index has
seen the very pairs it predicts) and **cross-fitted** (5 folds by work: each fold's second sales are left out of
both indices before its pairs are predicted), which is the honest figure. A pair whose index has a gap at either
end falls back to no adjustment (counted, never interpolated). Also printed: the time to build every series of
the night (both kinds, both frequencies, every segment) and the overall series alone.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

FOLDS = 5


def _series(build_index: pd.DataFrame, kind: str, frequency: str) -> pd.DataFrame:
    idx = build_index
    return idx[(idx["index_kind"] == kind) & (idx["frequency"] == frequency) & (idx["segment_type"] == "all")]


def predict_pairs(pairs: pd.DataFrame, index: pd.DataFrame, kind: str, frequency: str) -> tuple[np.ndarray, int]:
    """Log predicted second prices and how many pairs fell back to no adjustment (a gap at either end)."""
    from gbv.market.index import index_ratio

    ratio = index_ratio(_series(index, kind, frequency), pairs["date_1"], pairs["date_2"], frequency)
    gap = ~np.isfinite(ratio)
    ratio = np.where(gap, 1.0, ratio)
    return np.log(pairs["price_1"].to_numpy(float) * ratio), int(gap.sum())


def mdale(log_pred: np.ndarray, price: pd.Series) -> float:
    return float(np.median(np.abs(log_pred - np.log(price.to_numpy(float)))))


def _fold(object_id: str) -> int:
    return int(hashlib.sha1(object_id.encode()).hexdigest()[:8], 16) % FOLDS


METHODS = (("no adjustment", None, None), ("hedonic, monthly", "hedonic", "month"),
           ("hedonic, quarterly", "hedonic", "quarter"), ("repeat sales, monthly", "repeat_sales", "month"),
           ("repeat sales, quarterly", "repeat_sales", "quarter"))


def evaluate(sales: pd.DataFrame, year: int = 2016) -> dict:
    """Every figure of the benchmark from raw sale rows (``gbv.market.index.read_sales``)."""
    from gbv.market.index import build_indices, prepare_sales, repeat_sale_pairs

    t0 = time.perf_counter()
    full = build_indices(sales)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    overall = build_indices(sales, segments=False)
    overall_s = time.perf_counter() - t0
    pairs = repeat_sale_pairs(prepare_sales(sales))
    test = pairs[pd.to_datetime(pairs["date_2"]).dt.year == year].reset_index(drop=True)
    if test.empty:
        raise ValueError(f"no repeat-sale pair has its second sale in {year}: nothing to evaluate")
    results: dict[str, dict] = {}
    for name, kind, freq in METHODS:
        if kind is None:
            pred = np.log(test["price_1"].to_numpy(float))
            results[name] = {"in_sample": mdale(pred, test["price_2"]), "cross_fitted": mdale(pred, test["price_2"]),
                             "fallback_in": 0, "fallback_cf": 0}
            continue
        pred, fb = predict_pairs(test, overall.index, kind, freq)
        results[name] = {"in_sample": mdale(pred, test["price_2"]), "fallback_in": fb}
    # cross-fitting: leave each fold's second sales out of both indices
    folds = test["object_id"].map(_fold).to_numpy()
    cf_pred = {name: np.full(len(test), np.nan) for name, kind, _ in METHODS if kind}
    cf_fallback = dict.fromkeys(cf_pred, 0)
    for k in range(FOLDS):
        rows = np.flatnonzero(folds == k)
        if not len(rows):
            continue
        held_out = set(test.loc[rows, "lot_ref_2"])
        build = build_indices(sales[~sales["lot_ref"].isin(held_out)], segments=False)
        part = test.iloc[rows]
        for name, kind, freq in METHODS:
            if kind:
                pred, fb = predict_pairs(part, build.index, kind, freq)
                cf_pred[name][rows] = pred
                cf_fallback[name] += fb
    for name in cf_pred:
        results[name]["cross_fitted"] = mdale(cf_pred[name], test["price_2"])
        results[name]["fallback_cf"] = cf_fallback[name]
    return {"results": results, "pairs_total": len(pairs), "pairs_evaluated": len(test), "sales": len(sales),
            "build_all_series_s": full_s, "build_overall_s": overall_s, "series_rows": len(full.index),
            "year": year}


def format_report(rep: dict) -> str:
    lines = [
        f"benchmark: price-index quality on the real auction data ({rep['sales']:,d} sold lots, "
        f"{rep['pairs_total']:,d} repeat-sale pairs; {rep['pairs_evaluated']:,d} with the second sale in "
        f"{rep['year']})",
        "  prediction: first price x index(second period) / index(first period); MdALE = median |ln(pred/real)|",
        "",
        f"  {'method':26s} {'MdALE in-sample':>16s} {'MdALE cross-fitted':>19s} {'gap fallbacks (in/cf)':>22s}",
    ]
    for name, r in rep["results"].items():
        lines.append(f"  {name:26s} {r['in_sample']:16.3f} {r['cross_fitted']:19.3f} "
                     f"{r['fallback_in']:>11d}/{r['fallback_cf']:<10d}")
    lines += [
        "",
        f"  index build time: every series (hedonic + repeat sales, month + quarter, all segments; "
        f"{rep['series_rows']:,d} rows) {rep['build_all_series_s']:.1f} s; overall series only "
        f"{rep['build_overall_s']:.1f} s",
        "  cross-fitted: 5 folds by work, each fold's second sales left out of both indices before predicting it",
    ]
    return "\n".join(lines)


def bench_index(path: Path, *, date: str, keep: bool = False) -> dict:
    """Import the real data into a temporary GBV_HOME, then :func:`evaluate`; prints the report."""
    from gbv.importers.pipeline import run_import
    from gbv.market.index import read_sales
    from gbv.settings import get_settings
    from warehouse.db import dispose_engines, get_engine

    if not path.exists():
        raise FileNotFoundError(f"no real auction data at {path} (set GBV_SHARED_AUCTIONS or pass --path)")
    home = Path(tempfile.mkdtemp(prefix="gbv-bench-index-"))
    try:
        settings = replace(get_settings(), home=home, warehouse_url=f"duckdb:///{home / 'warehouse.duckdb'}")
        settings.ensure_dirs()
        t0 = time.perf_counter()
        rep = run_import(settings, "auto", path, date)
        import_s = time.perf_counter() - t0
        sales = read_sales(get_engine(settings))
        dispose_engines()
        out = evaluate(sales)
        out["import_s"] = import_s
        out["lots_stored"] = rep.lots_stored
        print(format_report(out))
        print(f"  (import of {rep.lots_stored:,d} lots into a temporary warehouse: {import_s:.1f} s)")
        return out
    finally:
        dispose_engines()
        if keep:
            print(f"  kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
