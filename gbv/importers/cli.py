"""``gbv import <source> <path>``, ``gbv import spot-check``, ``gbv bench import``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gbv.identity import DEFAULT_SHARED_AUCTIONS

SOURCE_HELP = {"askart-ny": "askART New York export(s) (15 fields by position)",
               "askart-hk": "askART Hong Kong export(s) (Christie's or Sotheby's schema)",
               "arthena": "Arthena lot data (28 columns)",
               "auto": "every known vendor file in a folder (format told from each file's first line)"}


def cmd_import(args: argparse.Namespace) -> int:
    from gbv.importers.pipeline import format_report, run_import
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    run_date = args.date or dt.date.today().isoformat()
    rep = run_import(settings, args.source, Path(args.path), run_date, load=not args.dry_run)
    print(format_report(rep))
    return 1 if rep.errors and not rep.lots_stored else 0


def _cut(v: object, n: int) -> str:
    s = "" if v is None or (isinstance(v, float) and v != v) else str(v)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def cmd_spot_check(args: argparse.Namespace) -> int:
    """Parse the files (no load) and print N random parsed lots beside their raw lines."""
    from gbv.importers.pipeline import run_import
    from gbv.settings import get_settings

    rep = run_import(get_settings(), "auto", Path(args.path), args.date, load=False, keep_rows=True)
    parsed = [(row, lot) for row, lot in rep.rows if lot is not None]
    rng = random.Random(args.seed)
    sample = rng.sample(parsed, min(args.n, len(parsed)))
    print("| # | source:file:line | raw line (excerpt) | artist | lot | sale date | currency | estimate low-high "
          "| hammer | status | size cm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, (row, lot) in enumerate(sample, 1):
        size = "x".join(f"{v:.1f}" for v in (lot["height_cm"], lot["width_cm"]) if v is not None)
        est = f"{lot['estimate_low']:,.0f}-{lot['estimate_high']:,.0f}"
        hammer = "" if lot["hammer_price"] != lot["hammer_price"] else f"{lot['hammer_price']:,.0f}"
        print(f"| {i} | {row.source}:{row.file}:{row.line} | `{_cut(row.raw, args.width)}` | "
              f"{_cut(lot['artist_name_raw'], 24)} | {lot['lot_label']} | {lot['sale_date']} | {lot['sale_currency']} "
              f"| {est} | {hammer} | {lot['status']} | {size} |")
    return 0


def cmd_bench_import(args: argparse.Namespace) -> int:
    """Import the whole shared set into a fresh GBV_HOME (DuckDB) and print rows/s."""
    from dataclasses import replace

    from gbv.importers.pipeline import format_report, run_import
    from gbv.settings import get_settings
    from warehouse.db import dispose_engines

    home = Path(tempfile.mkdtemp(prefix="gbv-bench-import-"))
    try:
        settings = replace(get_settings(), home=home, warehouse_url=f"duckdb:///{home / 'warehouse.duckdb'}")
        settings.ensure_dirs()
        t0 = time.perf_counter()
        rep = run_import(settings, "auto", Path(args.path), args.date)
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        rep2 = run_import(settings, "auto", Path(args.path), args.date)
        second = time.perf_counter() - t1
        print(format_report(rep))
        n = rep.rows_read
        print(f"\nbenchmark: gbv import of {n:,d} rows ({len(rep.sources)} sources) into DuckDB")
        print(f"  first import (land, parse, conform, identity, GX, dedup, load): {first:7.2f} s  "
              f"{n / first:10,.0f} rows/s")
        print(f"  re-import (same bytes: landing skipped, idempotent upserts):   {second:7.2f} s  "
              f"{rep2.rows_read / second:10,.0f} rows/s   lots stored {rep2.lots_stored:,d}")
        print(f"  cpu count {os.cpu_count()}")
    finally:
        dispose_engines()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import", help="bulk-import vendor exports of auction results (askART, Arthena)")
    sub = p.add_subparsers(dest="import_source", required=True)
    for source, words in SOURCE_HELP.items():
        s = sub.add_parser(source, help=words)
        s.add_argument("path", help="a file or a folder")
        s.add_argument("--date", help="import night / landing-zone date (default today, YYYY-MM-DD)")
        s.add_argument("--dry-run", action="store_true", help="parse and report only: no landing, no load")
        s.set_defaults(func=cmd_import, source=source)
    sc = sub.add_parser("spot-check", help="print N random parsed lots beside their raw lines (no load)")
    sc.add_argument("path", nargs="?", default=str(DEFAULT_SHARED_AUCTIONS))
    sc.add_argument("-n", type=int, default=20)
    sc.add_argument("--seed", type=int, default=3)
    sc.add_argument("--width", type=int, default=90, help="raw-line excerpt width")
    sc.add_argument("--date", default=dt.date.today().isoformat())
    sc.set_defaults(func=cmd_spot_check)

    bench = subparsers.choices.get("bench")
    if bench is not None:
        bsub = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
        b = bsub.add_parser("import", help="rows/s of gbv import over the shared auction files")
        b.add_argument("--path", default=str(DEFAULT_SHARED_AUCTIONS))
        b.add_argument("--date", default=dt.date.today().isoformat())
        b.add_argument("--keep", action="store_true")
        b.set_defaults(func=cmd_bench_import)
    else:  # pragma: no cover - gbv.cli always defines "bench"
        print("gbv.importers.cli: no 'bench' command group to add 'import' to", file=sys.stderr)
