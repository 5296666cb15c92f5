"""``gbv demo-site``: the demo world's auction website and labelling tool in a process of their own.

The demo stands in for the outside world: the auction houses' websites that the crawlers fetch and the
labelling tool that drops its nightly export into the landing zone. For small worlds the night serves the site
itself, in a thread (``raw_lots`` does that when ``GBV_DEMO_SITE_URL`` is unset). For big ones (a million lots
take about 2 GB to generate and serve) the outside world belongs outside the night's process::

    gbv demo-site --ready-file site.url &          # prints and writes the base URL once it serves
    GBV_DEMO_SITE_URL=$(cat site.url) gbv nightly --date 2026-10-01

Before it serves, the site process lands the night's label export (``raw/labels/<date>/labels.csv`` and the
expert roster ``experts.csv``), as the labelling tool would, unless that night's export is already there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

ROSTER_COLUMNS = ["expert_id", "display_name", "speciality", "joined_at"]


def _write_atomic_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        df.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def land_label_export(settings, world, run_date: str) -> tuple[Path, Path]:  # noqa: ANN001
    """The demo labelling tool's export for ``run_date`` in the landing zone (labels.csv, experts.csv).

    An export already landed for the night is left as it is (the landing zone is append-only). The roster
    lands first and the labels last, each atomically, so a crash between the two re-lands both.
    """
    folder = settings.raw_path("labels", run_date)
    labels_csv, roster_csv = folder / "labels.csv", folder / "experts.csv"
    if not labels_csv.exists():
        _write_atomic_csv(world.experts[ROSTER_COLUMNS], roster_csv)
        _write_atomic_csv(world.labels_as_of(dt.date.fromisoformat(run_date)), labels_csv)
    return labels_csv, roster_csv


def serve(run_date: str | None = None, *, port: int = 0, ready_file: Path | None = None,
          stop: threading.Event | None = None) -> None:
    """Generate (or load) GBV_HOME's demo world, land the night's label export, serve the site until ``stop``
    is set or the process gets SIGTERM/SIGINT. The base URL goes to stdout and, atomically, to ``ready_file``."""
    from gbv.demo.site import DemoSite
    from gbv.demo.world import forget_worlds, world_for_home
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    started = time.perf_counter()
    world = world_for_home(settings)
    run_date = run_date or world.as_of.isoformat()
    dt.date.fromisoformat(run_date)
    land_label_export(settings, world, run_date)
    site = DemoSite(world, dt.date.fromisoformat(run_date), port=port)
    del world
    forget_worlds()  # the site keeps only what it shows
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    with site:
        seconds = time.perf_counter() - started
        print(f"demo site serving {site.base_url} for {run_date} (ready in {seconds:.1f} s)", flush=True)
        if ready_file is not None:
            ready_file = Path(ready_file)
            tmp = ready_file.with_name(f".{ready_file.name}.tmp")
            tmp.write_text(f"{site.base_url}\n")
            os.replace(tmp, ready_file)
        stop.wait()
    log.info("demo site stopped")


def cmd_demo_site(args: argparse.Namespace) -> int:
    serve(args.date, port=args.port, ready_file=Path(args.ready_file) if args.ready_file else None)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from gbv.cli import _date

    p = sub.add_parser("demo-site", help="serve the demo auction website (and land the night's label export) "
                                         "in a process of its own, for big demo worlds")
    p.add_argument("--date", type=_date, help="the night the site shows (default: the demo world's night)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--ready-file", help="write the base URL to this file once the site serves")
    p.set_defaults(func=cmd_demo_site)
