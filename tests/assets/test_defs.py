"""The whole Dagster code location loads, with the asset graph we expect (like dagster-open-platform's test)."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

EXPECTED_ASSETS = [
    "artists", "artworks", "champion_model", "consensus_labels", "estimate_feeds", "expert_labels",
    "expert_reliability", "features", "label_requests", "lots", "market_alerts", "mart_artist_market",
    "mart_latest_valuation", "mart_price_index", "mart_valuation_accuracy", "mart_valuation_accuracy_by_period",
    "marts_docs", "nightly_report", "price_index", "raw_lots", "sale_regions", "sales", "staged_lots",
    "validated_labels", "valuations", "warehouse_labels", "warehouse_lots", "warehouse_valuations",
]


def _defs() -> dg.Definitions:
    from assets.definitions import defs

    return defs


def test_asset_keys_snapshot():
    graph = _defs().resolve_asset_graph()
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    assert keys == EXPECTED_ASSETS


def test_lineage_runs_from_raw_to_feeds():
    graph = _defs().resolve_asset_graph()
    upstream = graph.get(dg.AssetKey("estimate_feeds")).parent_keys
    assert dg.AssetKey("valuations") in upstream
    ancestors = graph.upstream_key_iterator(dg.AssetKey("valuations"))
    names = {k.to_user_string() for k in ancestors}
    assert {"raw_lots", "staged_lots", "lots", "validated_labels", "consensus_labels", "champion_model",
            "features"} <= names


def test_every_check_blocks_and_every_asset_is_daily_partitioned():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    checks = list(graph.asset_check_keys)
    assert len(checks) >= 7
    for key in checks:
        assert graph.get_check_spec(key).blocking, key
    for key in graph.get_all_asset_keys():
        assert isinstance(graph.get(key).partitions_def, dg.DailyPartitionsDefinition), key


def test_nightly_job_and_schedule():
    defs = _defs()
    job = defs.resolve_job_def("nightly_valuation")
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def("nightly_valuation_schedule")
    assert schedule.cron_schedule == "0 2 * * *"


def test_definitions_validate_from_the_command_line(tmp_path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), GBV_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "assets.definitions"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Validation successful" in proc.stdout + proc.stderr
