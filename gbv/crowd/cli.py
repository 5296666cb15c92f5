"""``gbv labels import``, ``gbv consensus``, ``gbv labels requests`` and ``gbv bench consensus``,
``gbv bench consensus-value``, ``gbv bench active-learning``."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _outlier_k(text: str) -> float | str | None:
    if text == "env":  # the default: GBV_LABEL_OUTLIER_K or 4
        return text
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        k = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--outlier-k must be a number > 0 or 'off', got {text!r}") from exc
    if not k > 0:
        raise argparse.ArgumentTypeError(f"--outlier-k must be > 0, got {text!r}")
    return k


def _default_k(args: argparse.Namespace) -> float | None:
    from quality.labels import outlier_k_from_env

    return outlier_k_from_env() if args.outlier_k == "env" else args.outlier_k


def _print_quarantine(q, limit: int = 20) -> None:  # noqa: ANN001
    if not len(q):
        return
    print("reasons:")
    for reason, n in q["reason"].str.replace(r" \(got .*", "", regex=True).value_counts().items():
        print(f"  {n:6d}  {reason}")
    for r in q.head(limit).itertuples():
        print(f"  row {r.row_number} ({r.row_ref}) field {r.field}: {r.reason}")
    if len(q) > limit:
        print(f"  ... {len(q) - limit} more")


def cmd_labels_import(args: argparse.Namespace) -> int:
    from gbv.crowd.labels import import_labels
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    run_date = args.date or dt.date.today().isoformat()
    res = import_labels(Path(args.file), settings, run_date, experts=Path(args.experts) if args.experts else None,
                        outlier_k=_default_k(args))
    print(f"landed {args.file} -> {res.landed}")
    print(f"labels for the night {run_date}: {res.n_rows} rows, {len(res.accepted)} accepted "
          f"(fact_expert_label), {res.n_quarantined_rows} quarantined ({len(res.quarantine)} reasons, "
          f"source {res.source!r})")
    _print_quarantine(res.quarantine)
    print(f"data docs: {settings.data_docs_dir / 'index.html'}")
    return 0


def cmd_consensus(args: argparse.Namespace) -> int:
    from gbv.crowd.labels import offline_consensus

    res = offline_consensus(Path(args.catalogue), Path(args.labels), Path(args.out),
                            experts=Path(args.experts) if args.experts else None, outlier_k=_default_k(args),
                            run_date=args.date)
    print(f"consensus for {len(res.consensus)} of {res.n_catalogue_lots} catalogue lots from "
          f"{res.n_accepted} of {res.n_labels} labels -> {res.out}")
    print(f"{len(res.quarantine)} quarantine reason(s) -> {res.quarantine_path}")
    _print_quarantine(res.quarantine)
    return 0


def cmd_labels_requests(args: argparse.Namespace) -> int:
    from gbv.crowd.active import requests_for_night
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    req = requests_for_night(settings, args.date, budget_per_expert=args.budget)
    print(f"label requests for {args.date}: {len(req)} (lot, expert) pairs, {req['lot_ref'].nunique()} lots")
    print(req.head(args.show).to_string(index=False))
    return 0


def cmd_bench_consensus(args: argparse.Namespace) -> int:
    from gbv.crowd.bench import DEFAULT, FULL, bench_consensus

    size = FULL if args.full else DEFAULT
    bench_consensus(items=args.items or size["items"], experts=args.experts, seeds=args.seeds or size["seeds"],
                    style=not args.no_style, style_seeds=None if args.seeds else size["style_seeds"])
    return 0


def cmd_bench_consensus_value(args: argparse.Namespace) -> int:
    from gbv.crowd.bench import bench_consensus_value

    bench_consensus_value(n_lots=args.lots, seeds=args.seeds, horizon_days=args.days, weights=args.weights)
    return 0


def cmd_bench_active_learning(args: argparse.Namespace) -> int:
    from gbv.crowd.bench import bench_active_learning

    bench_active_learning(n_lots=args.lots, seeds=args.seeds, budget=args.budget, nights=args.nights,
                          horizon_days=args.days)
    return 0


def _weights(text: str) -> tuple[float, ...]:
    try:
        weights = tuple(float(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"weights must be numbers separated by commas, got {text!r}") from None
    if not weights or any(not 0.0 <= w <= 1.0 for w in weights):
        raise argparse.ArgumentTypeError(f"weights must be within [0, 1], got {text!r}")
    return weights


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def register(sub: argparse._SubParsersAction) -> None:
    k_help = "robust SDs from the leave-one-out consensus beyond which a label is an outlier ('off' to disable; " \
             "default GBV_LABEL_OUTLIER_K or 4)"
    labels = sub.add_parser("labels", help="expert labels: import a label CSV, tonight's label requests")
    lsub = labels.add_subparsers(dest="labels_command", required=True)
    imp = lsub.add_parser("import", help="validate a label CSV (intake format) and store it for the night")
    imp.add_argument("file", help="label CSV: label_id, lot_ref, expert_id, value_low, value_point, value_high, "
                                  "currency, submitted_at [, style, attribution_confidence, condition, comment]")
    imp.add_argument("--date", type=_date, help="the night (default today)")
    imp.add_argument("--experts", help="expert roster CSV (expert_id); default the landed experts.csv")
    imp.add_argument("--outlier-k", type=_outlier_k, default="env", help=k_help)
    imp.set_defaults(func=cmd_labels_import)
    rq = lsub.add_parser("requests", help="choose tonight's label requests (active learning) and store them")
    rq.add_argument("--date", type=_date, required=True)
    rq.add_argument("--budget", type=int, default=None, help="labels per expert per night (default "
                                                              "GBV_LABEL_BUDGET or 10)")
    rq.add_argument("--show", type=int, default=20)
    rq.set_defaults(func=cmd_labels_requests)

    c = sub.add_parser("consensus", help="offline: validate labels and compute the consensus per catalogue lot")
    c.add_argument("--catalogue", required=True, help="catalogue CSV (intake format)")
    c.add_argument("--labels", required=True, help="label CSV (intake format)")
    c.add_argument("--out", required=True, help="consensus CSV; the quarantine report goes beside it")
    c.add_argument("--experts", help="expert roster CSV (expert_id); default: every expert in the file")
    c.add_argument("--date", type=_date, help="validation date (default today)")
    c.add_argument("--outlier-k", type=_outlier_k, default="env", help=k_help)
    c.set_defaults(func=cmd_consensus)

    bench = _subparsers(sub.choices["bench"])
    bc = bench.add_parser("consensus", help="consensus error and style accuracy on simulated expert panels")
    bc.add_argument("--full", action="store_true", help="the big table: 1200 items, 5 seeds (minutes)")
    bc.add_argument("--items", type=int, default=None, help="items per panel simulation (default 500; 1200 --full)")
    bc.add_argument("--experts", type=int, default=12, help="experts in the pool")
    bc.add_argument("--seeds", type=int, default=None, help="panels per setting (default 3; 5 --full)")
    bc.add_argument("--no-style", action="store_true", help="skip the style-aggregator table")
    bc.set_defaults(func=cmd_bench_consensus)
    bv = bench.add_parser("consensus-value", help="valuation accuracy on the demo world: model alone, consensus "
                                                  "alone, their precision-weighted blend")
    bv.add_argument("--lots", type=int, default=6000, help="demo world size")
    bv.add_argument("--seeds", type=int, default=3, help="worlds")
    bv.add_argument("--days", type=int, default=365, help="value the lots offered this many days after the cut")
    bv.add_argument("--weights", type=_weights, default=None,
                    help="unsold-target weights to measure, comma-separated (default 0,0.1,0.25,0.5,1)")
    bv.set_defaults(func=cmd_bench_consensus_value)
    ba = bench.add_parser("active-learning", help="valuation error after a label budget spent by the active-"
                                                  "learning policy vs at random (demo world, simulated answers)")
    ba.add_argument("--lots", type=int, default=6000, help="demo world size")
    ba.add_argument("--seeds", type=int, default=5, help="worlds")
    ba.add_argument("--budget", type=int, default=4, help="labels per expert per night")
    ba.add_argument("--nights", type=int, default=3)
    ba.add_argument("--days", type=int, default=182, help="lots offered this many days after the cut")
    ba.set_defaults(func=cmd_bench_active_learning)
