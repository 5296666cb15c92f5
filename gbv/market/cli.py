"""``gbv marts build`` / ``gbv marts docs`` and ``gbv bench index``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from gbv.identity import DEFAULT_SHARED_AUCTIONS


def cmd_marts_build(args: argparse.Namespace) -> int:
    from gbv.market.dbt import build_marts
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    info = build_marts(settings, args.date, docs=not args.no_docs, quiet=not args.verbose_dbt)
    pi = info["price_index"]
    print(f"price index: {pi['rows']:,d} series rows ({pi['gaps']:,d} gaps), {pi['repeat_sale_pairs']:,d} "
          f"repeat-sale pairs, {pi['artist_levels']:,d} artist-quarter levels in {pi['seconds']:.1f} s")
    print(f"dbt build: marts and their tests passed on {settings.warehouse_url.split('://')[0]} "
          f"(artifacts in {settings.home / 'dbt' / 'target'})")
    if "docs" in info:
        print(f"dbt docs:  {info['docs']}")
    return 0


def cmd_marts_docs(args: argparse.Namespace) -> int:
    from gbv.market.dbt import generate_docs
    from gbv.settings import get_settings

    path = generate_docs(get_settings().ensure_dirs(), quiet=not args.verbose_dbt)
    print(f"dbt docs: {path}")
    return 0


def cmd_bench_index(args: argparse.Namespace) -> int:
    from gbv.market.bench import bench_index

    bench_index(Path(args.path), date=args.date, keep=args.keep)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("marts", help="the analysts' marts (price indices + dbt models) and their docs")
    sub = p.add_subparsers(dest="marts_command", required=True)
    b = sub.add_parser("build", help="compute the price indices, then dbt build (models + tests) and dbt docs")
    b.add_argument("--date", default=dt.date.today().isoformat(), help="run date recorded with the indices")
    b.add_argument("--no-docs", action="store_true", help="skip dbt docs generate")
    b.add_argument("--verbose-dbt", action="store_true", help="print dbt's own output")
    b.set_defaults(func=cmd_marts_build)
    d = sub.add_parser("docs", help="dbt docs generate --static -> $GBV_HOME/dbt_docs/index.html")
    d.add_argument("--verbose-dbt", action="store_true", help="print dbt's own output")
    d.set_defaults(func=cmd_marts_docs)

    bench = subparsers.choices.get("bench")
    if bench is None:  # pragma: no cover - gbv.cli always defines "bench"
        print("gbv.market.cli: no 'bench' command group to add 'index' to", file=sys.stderr)
        return
    bsub = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
    bi = bsub.add_parser("index", help="price-index quality on the real data: MdALE of repeat-sale pairs "
                                       "(hedonic vs repeat sales vs none) and index build time")
    bi.add_argument("--path", default=os.environ.get("GBV_SHARED_AUCTIONS") or str(DEFAULT_SHARED_AUCTIONS),
                    help="the real auction exports (default GBV_SHARED_AUCTIONS or ../shared/data/auctions)")
    bi.add_argument("--date", default=dt.date.today().isoformat(), help="import night")
    bi.add_argument("--keep", action="store_true", help="keep the temporary GBV_HOME")
    bi.set_defaults(func=cmd_bench_index)
