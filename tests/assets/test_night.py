"""A whole night through the real Dagster graph: crawl -> ... -> feeds + report, then the same night again."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, text

from gbv.demo.world import generate_world
from gbv.night import run_night
from gbv.settings import get_settings
from warehouse.db import get_engine
from warehouse.feeds import read_feed
from warehouse.schema import TABLES

N_LOTS = 400
NIGHT = "2026-10-01"


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {n: conn.execute(select(func.count()).select_from(t)).scalar() for n, t in TABLES.items()
                if n != "stage_run"}


def _feed_digests(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((home / "feeds").rglob("*")) if p.is_file()}


@pytest.fixture
def night_settings(request, gbv_home, monkeypatch):
    monkeypatch.setenv("GBV_DEMO_LOTS", str(N_LOTS))
    settings = get_settings()
    if getattr(request, "param", "duckdb") == "postgres":
        url = request.getfixturevalue("pg_schema_url")
        monkeypatch.setenv("GBV_WAREHOUSE_URL", url)
        settings = replace(settings, warehouse_url=url)
    return settings


@pytest.mark.parametrize("night_settings", ["duckdb", "postgres"], indirect=True)
def test_a_whole_night_then_the_same_night_again(night_settings):
    settings = night_settings
    world = generate_world(n_lots=N_LOTS, seed=settings.seed)
    night = run_night(NIGHT, settings)
    assert night.success and not night.failed_checks

    engine = get_engine(settings)
    counts = _counts(engine)
    upcoming = world.lots_as_of(pd.Timestamp(NIGHT).date())
    upcoming = upcoming[upcoming["status"] == "upcoming"]
    assert counts["fact_lot"] == N_LOTS  # every lot the site showed was crawled, conformed and loaded
    assert counts["fact_valuation"] == len(upcoming) > 0
    assert counts["dim_model"] >= 1 and counts["fact_expert_label"] > 0 and counts["fact_consensus_label"] > 0
    # the careless expert's mistakes and the unknown expert are quarantined with reasons, not dropped
    with engine.connect() as conn:
        q = pd.read_sql(text("SELECT stage, field, reason FROM quarantine"), conn)
        champion = conn.execute(text("SELECT COUNT(*) FROM dim_model WHERE status = 'champion'")).scalar()
        latest = pd.read_sql(text("SELECT * FROM mart_latest_valuation"), conn)
    assert champion == 1
    assert len(latest) == len(upcoming)
    assert {"labels"} <= set(q["stage"]) and q["reason"].str.len().min() > 5
    assert q["field"].str.contains("expert").any()

    # one feed per house, holding exactly that house's upcoming lots
    for house in world.houses["house"]:
        feed = read_feed(settings.feed_path(house, NIGHT))
        want = set(upcoming.loc[upcoming["house"] == house, "lot_ref"])
        assert set(feed["lot_ref"]) == want
        assert (feed["low_usd"].astype(float) <= feed["estimate_usd"].astype(float)).all()
    assert (settings.reports_dir / f"{NIGHT}.html").stat().st_size > 2000
    assert (settings.data_docs_dir / "index.html").exists()
    report = (settings.reports_dir / f"{NIGHT}.html").read_text()
    assert "Quarantine" in report and "data:image/png;base64" in report
    shown = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", report)  # embedded plots are not text
    for expert_id in world.experts["expert_id"]:
        assert expert_id not in shown  # pseudonyms only

    # the same night again: same rows, same feed bytes
    digests = _feed_digests(settings.home)
    again = run_night(NIGHT, settings)
    assert again.success
    assert _counts(engine) == counts
    assert _feed_digests(settings.home) == digests
