"""Names used in paths (house, source, run date, asset partition) cannot escape their folder.

Every path-building function is given hostile names (``..``, separators, absolute paths, NUL, a very long name,
a leading dot or dash); each must refuse (``UnsafeName`` / ``ValueError``) and nothing may appear outside
GBV_HOME.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from gbv.settings import UnsafeName, get_settings, safe_component

HOSTILE = [
    "..",
    "../..",
    "../etc",
    "a/../../b",
    "/etc/passwd",
    "/tmp",
    "a/b",
    "a\\b",
    "..\\..\\x",
    "x\x00y",
    "\x00",
    "",
    ".",
    ".hidden",
    "-rf",
    "a" * 300,
    "a..b",
    "~root",
    "C:\\Windows",
    "café",
    " a",
    "a\nb",
]


@pytest.fixture
def settings(tmp_path):
    return dataclasses.replace(get_settings(), home=tmp_path / "home")


def _nothing_outside(tmp_path: Path) -> None:
    assert [p.name for p in tmp_path.iterdir()] in ([], ["home"])


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_safe_component_refuses(name):
    with pytest.raises(UnsafeName):
        safe_component(name)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_settings_paths_refuse(settings, name, tmp_path):
    with pytest.raises(UnsafeName):
        settings.raw_path(name, "2026-10-01")
    with pytest.raises(UnsafeName):
        settings.raw_path("demo_lotus", name)
    with pytest.raises(UnsafeName):
        settings.feed_path(name, "2026-10-01")
    with pytest.raises(UnsafeName):
        settings.feed_path("lotus", name)
    _nothing_outside(tmp_path)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_crawl_runner_refuses(settings, name, tmp_path):
    from crawlers.run import landing_path, run_crawl, source_for

    with pytest.raises(ValueError):
        source_for("demo_html", name)
    with pytest.raises(ValueError):
        landing_path(name, "2026-10-01", settings)
    with pytest.raises(ValueError):
        run_crawl("demo_html", name, "http://127.0.0.1:9", "2026-10-01", settings, timeout_s=5)
    with pytest.raises(ValueError):
        run_crawl("demo_html", "lotus", "http://127.0.0.1:9", name, settings, timeout_s=5)
    _nothing_outside(tmp_path)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_spider_arguments_refuse(name):
    from crawlers.spiders.demo_html import DemoHtmlSpider

    with pytest.raises(ValueError):
        DemoHtmlSpider(house=name, base_url="http://127.0.0.1:9", run_date="2026-10-01")
    if name:  # an empty run date means today
        with pytest.raises(ValueError):
            DemoHtmlSpider(house="lotus", base_url="http://127.0.0.1:9", run_date=name)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_feed_writer_refuses(settings, name, tmp_path):
    from gbv.contracts import VALUATION_COLUMNS
    from warehouse.feeds import write_feed

    empty = pd.DataFrame(columns=list(VALUATION_COLUMNS))
    with pytest.raises(ValueError):
        write_feed(settings, name, "2026-10-01", empty)
    with pytest.raises(ValueError):
        write_feed(settings, "lotus", name, empty)
    _nothing_outside(tmp_path)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_report_refuses(settings, name, tmp_path):
    from sqlalchemy import create_engine

    from gbv.report import build_report

    engine = create_engine(f"duckdb:///{tmp_path / 'empty.duckdb'}")
    try:
        with pytest.raises(Exception):  # noqa: B017 (a bad date is refused, by the date check or the path check)
            build_report(engine, settings, name)
    finally:
        engine.dispose()
    (tmp_path / "empty.duckdb").unlink(missing_ok=True)
    (tmp_path / "empty.duckdb.wal").unlink(missing_ok=True)
    _nothing_outside(tmp_path)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_stage_io_manager_refuses(name, tmp_path):
    from assets.common import StageIOManager

    manager = StageIOManager(home=str(tmp_path / "home"))
    try:  # Dagster itself refuses some partition keys (NUL, newline, ...) before any path is built
        partitions = dg.StaticPartitionsDefinition([name or "x"])
    except dg.DagsterInvalidDefinitionError:
        partitions = None
    if name and partitions is not None:
        context = dg.build_output_context(
            asset_key=dg.AssetKey(["lots"]), partition_key=name, asset_partitions_def=partitions
        )
        with pytest.raises(UnsafeName):
            manager.handle_output(context, pd.DataFrame({"a": [1]}))
    key_context = dg.build_output_context(asset_key=dg.AssetKey([name or ".."]))
    with pytest.raises(UnsafeName):
        manager.handle_output(key_context, {"a": 1})
    _nothing_outside(tmp_path)


def test_good_names_still_work(settings):
    assert (
        settings.raw_path("demo_lotus", "2026-10-01") == settings.home / "raw" / "demo_lotus" / "2026-10-01"
    )
    assert settings.feed_path("lotus", "2026-10-01").parent.name == "lotus"
