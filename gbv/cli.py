"""The ``gbv`` command line: the demo night, a night for a date, training, valuing a catalogue, benchmarks."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("gbv")


OUR_LOGGERS = ("gbv", "crawlers", "quality", "model", "warehouse", "assets", "dags")


def _setup_logging(verbose: bool) -> None:
    """Our own modules at INFO (DEBUG with -v); every library at WARNING, so a 3 a.m. reader sees the night."""
    import warnings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        force=True)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*is currently in preview.*")
        warnings.filterwarnings("ignore", message=".*is currently in beta.*")


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def cmd_demo(args: argparse.Namespace) -> int:
    from gbv.demo.world import world_for_home
    from gbv.night import run_night
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    world = world_for_home(settings, args.lots or settings.demo_lots)
    run_date = args.date or world.as_of.isoformat()
    print(f"gbv demo: a synthetic market of {len(world.artists)} artists, {len(world.truth)} lots at "
          f"{len(world.houses)} houses, {len(world.experts)} experts; running the night of {run_date}")
    print(f"          GBV_HOME={settings.home}")
    night = run_night(run_date, settings)
    _print_night(night)
    _print_where(settings, run_date)
    return 0


def _print_night(night) -> None:  # noqa: ANN001
    print(f"\nnight {night.run_date}: {'OK' if night.success else 'FAILED'} in {night.seconds:.1f} s "
          f"(Dagster run {night.run_id})")
    for step, secs in sorted(night.step_seconds.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {secs:8.2f} s  {step}")


def _print_where(settings, run_date: str) -> None:  # noqa: ANN001
    from warehouse.db import get_engine
    from warehouse.schema import TABLES

    engine = get_engine(settings)
    from sqlalchemy import func, select

    with engine.connect() as conn:
        counts = {name: conn.execute(select(func.count()).select_from(t)).scalar() for name, t in TABLES.items()}
    print("\nwarehouse:", engine.url.render_as_string(hide_password=True))
    for name, n in counts.items():
        print(f"  {name:28s} {n:>8,d} rows")
    feeds = sorted(settings.feeds_dir.glob(f"*/{run_date}/estimates.csv"))
    print("feeds:")
    for f in feeds:
        print(f"  {f}")
    print(f"report:     {settings.reports_dir / (run_date + '.html')}")
    print(f"data docs:  {settings.data_docs_dir / 'index.html'}")
    print("UIs:")
    print(f"  Dagster:  DAGSTER_HOME={settings.dagster_home} GBV_HOME={settings.home} "
          f".venv/bin/dagster dev -m assets.definitions   (http://127.0.0.1:3000)")
    print(f"  Airflow:  make airflow   (AIRFLOW_HOME={settings.home / 'airflow'}, http://127.0.0.1:8080)")


def cmd_nightly(args: argparse.Namespace) -> int:
    from gbv.locks import night_lock
    from gbv.night import run_night
    from gbv.settings import get_settings
    from warehouse.db import dispose_engines

    settings = get_settings().ensure_dirs()
    with night_lock(settings, wait_s=args.wait):  # held through the summary, so a waiting night starts after it
        night = run_night(args.date, settings, wait_s=args.wait, isolate_steps=args.isolate_steps or None)
        _print_night(night)
        _print_where(settings, args.date)
        dispose_engines()
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gbv.settings import get_settings
    from model.store import ModelStore
    from model.train import evaluate, register_and_promote, snapshot_training_set, train_challenger
    from warehouse.db import get_engine

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()
    snap = snapshot_training_set(engine, as_of, settings.home / "snapshots" / as_of.isoformat())
    version = train_challenger(snap, settings, kind=args.kind)
    store = ModelStore(settings.models_dir, engine)
    before = store.champion_version()
    metrics = evaluate(version, snap, store)
    promoted = register_and_promote(version, metrics, store)
    if version == before:
        outcome = "identical to the current champion (same data, same model)"
    else:
        outcome = "promoted to champion" if promoted else f"rejected; {before} stays champion"
    print(f"trained {version}: {outcome}")
    for k, v in sorted(metrics.items()):
        print(f"  {k}: {v}")
    return 0


def cmd_value(args: argparse.Namespace) -> int:
    from gbv.contracts import VALUATION_COLUMNS
    from gbv.intake import read_catalogue, resolve_known_artists
    from gbv.settings import get_settings
    from model.predict import comparables_search, value_lots
    from model.recalibrate import RollingRecalibration, describe_windows
    from model.store import ModelStore
    from warehouse.db import get_engine
    from warehouse.feeds import render_feed, with_blend
    from warehouse.io import read_consensus, read_latest_reliability, read_lots

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    intake = read_catalogue(Path(args.catalogue))
    champion = ModelStore(settings.models_dir, engine).champion()
    if champion is None:
        print("error: no champion model in the registry; run `gbv nightly` or `gbv train` first", file=sys.stderr)
        return 2
    version, valuer = champion
    history = read_lots(engine)
    matches = resolve_known_artists(intake.lots, history)  # "Irena Costa" without dates: her history
    lots = matches.lots
    consensus = read_consensus(engine)
    search = comparables_search(engine, settings, history) if len(lots) else None
    recalibration = RollingRecalibration()
    out = value_lots(valuer, version, lots, history, consensus, comparables=search,
                     recalibration=recalibration)[list(VALUATION_COLUMNS)]
    out = with_blend(settings, "", out, consensus=consensus, reliability=read_latest_reliability(engine))
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(render_feed(out))  # the feed's own format: same columns, rounding and order
    os.replace(tmp, out_path)
    if not len(lots):
        how = "the catalogue has no lot to value" if not intake.n_rows else "every row was quarantined"
    elif search is not None and search.failed is None:
        how = ("comparables from the comparables index, prices index-adjusted to each sale date" if search.adjusted
               else "comparables from the comparables index at raw past prices: no price index yet "
                    "(`gbv marts build` makes it)")
    else:
        how = "comparables: raw-price fallback (see the log)"
    print(f"valued {len(out)} of {intake.n_rows} catalogue rows with {version} -> {out_path} ({how})")
    if matches.matched:
        print(f"{matches.matched} row(s) matched by name to an artist of the warehouse "
              "(no key of theirs; e.g. no birth year)")
    if matches.filled:
        print(f"{matches.filled} row(s) of a known artist took the artist's death year from the warehouse "
              "(the catalogue left it blank)")
    if matches.refused:
        print(f"{len(matches.refused)} row(s) named an artist of the warehouse born after the lot's years; "
              "valued as unseen artists:")
        for line in matches.refused[:10]:
            print(f"  {line}")
    if len(out):
        print(f"80% ranges {describe_windows(recalibration.last)}")
    if len(intake.quarantine):
        qpath = out_path.with_name(out_path.stem + ".quarantine.csv")
        intake.quarantine.to_csv(qpath, index=False)
        print(f"{len(intake.quarantine)} row problem(s) quarantined -> {qpath}")
        for r in intake.quarantine.head(10).itertuples():
            print(f"  {r.source} row {r.row_number} field {r.field}: {r.reason}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from gbv.bench import bench_night

    bench_night(args.lots, args.keep)
    return 0


# Further command groups live in their own modules, each with ``register(subparsers)`` adding its
# subcommands (``set_defaults(func=...)``); list the module here to add it to ``gbv``.
COMMAND_MODULES: tuple[str, ...] = ("gbv.crowd.cli", "model.bench", "crawlers.bench", "gbv.importers.cli",
                                     "gbv.demo.serve",
                                     "gbv.market.comps", "gbv.market.recommend", "gbv.market.alerts", "gbv.market.bench_market",
                                     "gbv.market.cli", "gbv.market.screenshots", "model.card")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gbv", description="Global Brain Valuation: nightly art valuation.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run a whole night on the demo world and the embedded warehouse")
    d.add_argument("--lots", type=int, help="lots in the demo world (default GBV_DEMO_LOTS or 3000)")
    d.add_argument("--date", type=_date, help="night to run (default: the demo world's night, 2026-10-01)")
    d.set_defaults(func=cmd_demo)

    n = sub.add_parser("nightly", help="run the night of a date")
    n.add_argument("--date", type=_date, required=True)
    n.add_argument("--wait", nargs="?", type=float, const=-1.0, default=0.0, metavar="SECONDS",
                   help="if another night holds the warehouse's lock, wait for it (at most SECONDS if given) "
                        "instead of exiting with status 3")
    n.add_argument("--isolate-steps", action="store_true",
                   help="run each step in a process of its own, one at a time, so a big night's memory never "
                        "piles up across steps (default: GBV_NIGHT_ISOLATE_STEPS)")
    n.set_defaults(func=cmd_nightly)

    t = sub.add_parser("train", help="snapshot, train a challenger, evaluate, promote only if better")
    t.add_argument("--as-of", type=_date, help="train on sales before this date (default today)")
    t.add_argument("--kind", default="lgbm_baseline")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("value", help="value a catalogue CSV (intake format) with the champion model")
    v.add_argument("--catalogue", required=True)
    v.add_argument("--out", required=True)
    v.set_defaults(func=cmd_value)

    b = sub.add_parser("bench", help="benchmarks")
    bsub = b.add_subparsers(dest="bench", required=True)
    bn = bsub.add_parser("night", help="wall time per stage of a full demo night")
    bn.add_argument("--lots", type=int, default=10_000)
    bn.add_argument("--keep", action="store_true", help="keep the temporary GBV_HOME")
    bn.set_defaults(func=cmd_bench)

    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    started = time.perf_counter()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error for the user; the traceback with -v
        from gbv.locks import NightLocked

        if args.verbose:
            raise
        kind = "locked" if isinstance(exc, NightLocked) else "error"
        print(f"{kind}: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, NightLocked) else 1
    finally:
        log.debug("gbv %s finished in %.1f s", args.command, time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
