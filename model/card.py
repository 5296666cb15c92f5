"""Model cards: one readable page per model version, and ``gbv models`` to list the registry and show a card.

A version's facts live in two places: ``<version>/card.json`` (written once with the artifact: data window,
parameters, what fitting learned, hardware, training time) and its ``dim_model`` row (status, promotion time and
the holdout metrics, which come after the artifact). :func:`render_model_card` joins them into Markdown;
:class:`model.store.ModelStore` writes it to ``<version>/MODEL_CARD.md`` whenever the row changes (registered,
evaluated, promoted, retired, rejected), so the folder a maintainer opens says what the model is, how it scored
against the champion and the house estimates, and why it was promoted or not. ``gbv models --card VERSION``
renders the same page from the registry as it is now (and rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from model.base import MIN_BIN_SIZE

CARD_FILE = "MODEL_CARD.md"

KIND_WORDS = {
    "lgbm_baseline": "LightGBM on the lot's tabular features and the artist's sales history before the sale date, "
                     "with the expert consensus as a final stage where experts valued the lot",
    "hedonic_ridge": "hedonic ridge regression (artist effects, log area, medium, creation decade, sale year, house)",
    "transformer": "MiniLM fine-tuned on a text rendering of the lot, fused with its tabular market signals, with "
                   "quantile heads",
    "ensemble": "the mean of its members' log predictions, with its own conformal ranges",
}

METRIC_COLUMNS = (("n", "n"), ("mdale", "MdALE"), ("mae_log", "MAE log"), ("r2", "R²"),
                  ("coverage_80_nightly", "inside 80%, nightly"), ("coverage_80", "inside 80%, as fitted"),
                  ("width_ratio_nightly", "mean high/low, nightly"), ("width_ratio", "mean high/low, as fitted"))


def _fmt(v: Any) -> str:  # noqa: ANN401 - any JSON value
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,d}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v, sort_keys=True, default=str) + "`"
    return str(v).replace("|", "\\|")


def _metrics(row: dict) -> dict:
    """A registry row's ``metrics_json`` as a dict ({} when none or unreadable)."""
    try:
        return json.loads(row.get("metrics_json") or "{}")
    except (TypeError, ValueError):
        return {}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return out


def _bin_names(edges: list) -> list[str]:
    """History-bin lower edges ``[0, 1, 4, 10]`` as "0", "1–3", "4–9", "10 or more"."""
    names = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] - 1 if i + 1 < len(edges) else None
        names.append(f"{lo} or more" if hi is None else (str(lo) if hi == lo else f"{lo}–{hi}"))
    return names


_METHODS = {"cqr": "conformalized quantile regression (the quantile heads' range, widened or narrowed)"}
_NO_SIZE_FROM = {"fallback": "too few lots: the wider of the bin's half-width and the pooled one without a size"}


def _calibration_lines(cal: dict) -> list[str]:
    if not cal:
        return []
    lines = ["## Ranges", ""]
    method = cal.get("method") or "split-conformal"
    method = _METHODS.get(method, method)
    lines.append(f"{_fmt(cal.get('coverage', 0.8) * 100)}% ranges by {method} on the latest "
                 f"{_fmt(cal.get('n_calibration'))} sold lots of the training window (held out of the fit); the "
                 "half-width in log price per bin of the artist's earlier sales (the range is the estimate "
                 "divided and multiplied by exp(half-width)). The nightly valuation re-measures it on the latest "
                 "realised sales (model.recalibrate).")
    edges = cal.get("history_bins")
    if edges:
        rows = []
        for key, name in zip([str(i) for i in range(len(edges))], _bin_names(edges), strict=True):
            rows.append([name, (cal.get("bins") or {}).get(key), (cal.get("bin_sizes") or {}).get(key),
                         (cal.get("bins_no_size") or {}).get(key), (cal.get("bin_sizes_no_size") or {}).get(key),
                         _NO_SIZE_FROM.get(str((cal.get("no_size_from") or {}).get(key)),
                                           (cal.get("no_size_from") or {}).get(key, "–"))])
        lines[-1] += (f" A bin with fewer than {MIN_BIN_SIZE} lots takes the half-width of all bins together "
                      f"({_fmt(cal.get('pooled'))}).")
        lines += [""] + _table(["artist's earlier sales", "half-width",
                                "lots with a size" if "bins_no_size" in cal else "lots", "half-width without a size",
                                "lots without a size", "measured on"], rows)
    elif "radius" in cal:
        lines.append(f"\nOne half-width for every lot: {_fmt(cal['radius'])}.")
    return lines + [""]


def _metric_lines(metrics: dict, version: str) -> list[str]:
    if not metrics or not metrics.get("challenger"):
        return ["## Holdout metrics", "", "Not evaluated yet.", ""]
    lines = ["## Holdout metrics", ""]
    restricted = metrics.get("restricted_to_after")
    lines.append(f"Sold lots from {metrics.get('holdout_from')} to before {metrics.get('as_of')} "
                 f"({_fmt(metrics.get('n_holdout'))} lots"
                 + (f"; only those after {restricted}, the champion's last training sale" if restricted else "")
                 + "), on the log of the hammer price in USD. MdALE: median absolute log error (0.5 = a factor "
                   "of 1.65 either way).")
    rows = [[f"this model ({version})", *(metrics["challenger"].get(k) for k, _ in METRIC_COLUMNS)]]
    champ, champ_v = metrics.get("champion"), metrics.get("champion_version")
    if champ and champ_v and champ_v != version:
        rows.append([f"champion then ({champ_v})", *(champ.get(k) for k, _ in METRIC_COLUMNS)])
    if metrics.get("house_estimate"):
        rows.append(["house estimate (mid of low and high)",
                     *(metrics["house_estimate"].get(k) for k, _ in METRIC_COLUMNS)])
    return lines + [""] + _table(["", *(name for _, name in METRIC_COLUMNS)], rows) + [""]


def _decision(row: dict, metrics: dict) -> str:
    status = row.get("status") or "unregistered"
    when = row.get("promoted_at")
    if status == "champion":
        return f"**champion** since {when} UTC" if when else "**champion**"
    if status == "retired":
        return f"**retired** (was champion from {when} UTC)" if when else "**retired**"
    if status == "rejected":
        return f"**rejected**: {metrics.get('rejected_reason', 'no reason recorded')}"
    return f"**{status}**" + (" (evaluated, not promoted yet)" if metrics.get("challenger") else
                              " (not evaluated yet)")


def render_model_card(card: dict, row: dict | None = None) -> str:
    """The model card of one version in Markdown: ``card`` = its ``card.json``, ``row`` = its ``dim_model`` row
    (``status``, ``created_at``, ``promoted_at``, ``metrics_json``) or None when unregistered."""
    row = dict(row or {})
    metrics = _metrics(row)
    version, kind = card.get("model_version", "?"), card.get("kind", "?")
    info = dict(card.get("fit_info") or {})
    lines = [f"# Model card: {version}", ""]
    lines.append(f"- Status: {_decision(row, metrics)}; registered {row.get('created_at') or '–'} UTC")
    lines.append(f"- Kind: `{kind}`: {KIND_WORDS.get(kind, 'see model/')}")
    lines.append(f"- Artifact sha256: `{card.get('artifact_sha256', '–')}`")
    lines += ["", "## Data window", ""]
    lines.append(f"- Snapshot of the warehouse as of {card.get('as_of')} (`{card.get('snapshot', '–')}`)")
    lines.append(f"- Trained on {_fmt(card.get('n_train'))} sold lots, sold {card.get('train_from')} to "
                 f"{card.get('train_until')}; each lot's features read only the sales before its own date")
    fit_parts = [f"{_fmt(info[k])} {words}" for k, words in
                 (("n_fit", "to fit"), ("n_train", "to fit"), ("n_validation", "to stop early on"),
                  ("n_calibration", "to calibrate the ranges"), ("n_unsold_targets", "bought-in lots with an "
                   "expert consensus as extra targets")) if info.get(k) is not None]
    if fit_parts:
        lines.append("- Of those: " + ", ".join(fit_parts)
                     + (f" (calibration from {info['calibration_from']})" if info.get("calibration_from") else ""))
    lines.append(f"- Holdout: sales from {card.get('holdout_from')} ({card.get('holdout_months', '?')} months "
                 f"before the snapshot), never seen in training")
    lines.append("")
    lines += _metric_lines(metrics, version)
    lines += _calibration_lines(info.get("calibration") or {})
    epochs = info.get("epochs_log") or []
    if epochs:
        keys = [k for k in ("epoch", "train_pinball", "val_mdale", "val_coverage_raw", "train_seconds",
                            "train_lots_per_s", "best") if any(k in e for e in epochs)]
        lines += ["## Training epochs", ""] + _table(keys, [[e.get(k) for k in keys] for e in epochs]) + [""]
    lines += ["## Parameters", ""]
    lines += _table(["parameter", "value"], [[k, v] for k, v in sorted((card.get("params") or {}).items())])
    scalars = {k: v for k, v in sorted(info.items()) if not isinstance(v, (dict, list))}
    lines += ["", "## Training run", ""]
    lines.append(f"- Device: {card.get('device', '–')} ({card.get('hardware', '–')}); seed {card.get('seed', '–')}; "
                 f"{_fmt(card.get('training_seconds'))} s to train")
    if scalars:
        lines += [""] + _table(["fit detail", "value"], [[k, v] for k, v in scalars.items()])
    return "\n".join(lines) + "\n"


# ---- gbv models ---------------------------------------------------------------------------------------------

def _summary(row: dict) -> dict:
    metrics = _metrics(row)
    mine = metrics.get("challenger") or {}
    return {"version": row["model_version"], "kind": row["kind"], "status": row["status"],
            "train_until": row.get("train_until"), "holdout_from": row.get("holdout_from"),
            "mdale": mine.get("mdale"), "inside_80_nightly": mine.get("coverage_80_nightly"),
            "house_mdale": (metrics.get("house_estimate") or {}).get("mdale"),
            "hardware": row.get("hardware"), "note": metrics.get("rejected_reason", "")}


def cmd_models(args: argparse.Namespace) -> int:
    from gbv.settings import get_settings
    from model.store import ModelStore
    from warehouse.db import get_engine

    settings = get_settings()
    store = ModelStore(settings.models_dir, get_engine(settings))
    if args.card:
        version = store.champion_version() if args.card == "champion" else args.card
        if version is None:
            raise SystemExit("no champion model yet (gbv train, or a night, trains one)")
        print(store.write_model_card(version), end="")
        return 0
    models = store.list_models()
    rows = [_summary(r) for r in models.to_dict("records")]
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not rows:
        print(f"no model registered in this warehouse (models folder {settings.models_dir})")
        return 0
    head = f"{'version':40s} {'status':10s} {'trained until':13s} {'holdout MdALE':>13s} {'in 80%':>7s} " \
           f"{'house':>6s}  hardware"
    print(head)
    for r in rows:
        print(f"{r['version']:40s} {r['status']:10s} {str(r['train_until'] or '-'):13s} {_fmt(r['mdale']):>13s} "
              f"{_fmt(r['inside_80_nightly']):>7s} {_fmt(r['house_mdale']):>6s}  {r['hardware'] or '-'}"
              + (f"\n    {r['note']}" if r["note"] else ""))
    print(f"cards: {settings.models_dir}/<version>/{CARD_FILE} (gbv models --card VERSION|champion)")
    return 0


def register(subparsers) -> None:  # noqa: ANN001 - argparse's _SubParsersAction
    p = subparsers.add_parser("models", help="the model registry: versions, status, holdout metrics; one card")
    p.add_argument("--card", metavar="VERSION", help="print the model card of VERSION ('champion': the champion's) "
                                                      "and rewrite its MODEL_CARD.md")
    p.add_argument("--json", action="store_true", help="the list as JSON")
    p.set_defaults(func=cmd_models)
