"""The outside world in a process of its own: ``gbv demo-site`` serves the site and lands the label export,
``gbv nightly`` with ``GBV_DEMO_SITE_URL`` crawls it without generating the world itself (how the million-lot
benchmark runs)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from gbv.demo.world import generate_world
from gbv.settings import get_settings
from warehouse.db import dispose_engines, get_engine
from warehouse.schema import fact_lot, fact_valuation

N_LOTS = 300
NIGHT = "2026-10-01"
GBV = [sys.executable, "-c", "import sys; from gbv.cli import main; sys.exit(main(sys.argv[1:]))"]


def test_night_against_a_site_in_its_own_process(gbv_home, monkeypatch):
    monkeypatch.setenv("GBV_DEMO_LOTS", str(N_LOTS))
    settings = get_settings()
    ready = Path(gbv_home) / "site.url"
    site = subprocess.Popen([*GBV, "demo-site", "--date", NIGHT, "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert site.poll() is None, "gbv demo-site exited before it served"
            assert time.monotonic() < deadline, "gbv demo-site did not serve within 120 s"
            time.sleep(0.1)
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:")

        world = generate_world(n_lots=N_LOTS, seed=settings.seed)
        labels = pd.read_csv(settings.raw_path("labels", NIGHT) / "labels.csv", dtype=str)
        assert len(labels) == len(world.labels_as_of(dt.date.fromisoformat(NIGHT))) > 0

        night = subprocess.run([*GBV, "nightly", "--date", NIGHT], env={**os.environ, "GBV_DEMO_SITE_URL": url},
                               capture_output=True, text=True, timeout=600)
        assert night.returncode == 0, night.stderr[-3000:]
    finally:
        site.send_signal(signal.SIGTERM)
        out, _ = site.communicate(timeout=30)
    assert site.returncode == 0
    assert f"demo site serving {url}" in out

    engine = get_engine(settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(fact_lot)).scalar() == N_LOTS
            n_valued = conn.execute(select(func.count()).select_from(fact_valuation)).scalar()
    finally:
        dispose_engines()
    upcoming = world.lots_as_of(dt.date.fromisoformat(NIGHT))
    assert n_valued == int((upcoming["status"] == "upcoming").sum()) > 0
    assert sorted(p.parent.parent.name for p in (Path(gbv_home) / "feeds").glob("*/*/_SUCCESS")) == \
        sorted(world.houses["house"])
