"""The nightly report's Market section (price index, top movers, tonight's alerts) over a real demo night
(400 lots, DuckDB, the real Dagster graph), over a warehouse without the marts, and its screenshots.

The night runs once for this module (about half a minute); the security suite's ``night`` fixture is module
scoped in its own file, so it cannot be shared from here.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import delete, text

from gbv.night import run_night
from gbv.settings import get_settings

NIGHT = "2026-10-01"


@pytest.fixture(scope="module")
def night(tmp_path_factory, demo_env):
    home = tmp_path_factory.mktemp("report_night")
    with demo_env(home) as settings:
        result = run_night(NIGHT, settings)
        from warehouse.db import dispose_engines

        dispose_engines()
        assert result.success, result
        yield settings
        dispose_engines()


def _section(report: str) -> str:
    m = re.search(r'<section id="market">.*?</section>', report, re.S)
    assert m, "no market section in the report"
    return m.group(0)


def test_nightly_report_runs_after_the_marts_and_the_alerts():
    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string() for k in graph.get(dg.AssetKey("nightly_report")).parent_keys}
    assert {"market_alerts", "mart_price_index", "mart_artist_market", "marts_docs"} <= parents
    upstream = {k.to_user_string() for k in graph.upstream_key_iterator(dg.AssetKey("nightly_report"))}
    assert "price_index" in upstream and "nightly_report" not in upstream  # acyclic


def test_demo_night_report_has_the_market_section(night):
    from warehouse.db import get_engine

    report = (night.reports_dir / f"{NIGHT}.html").read_text(encoding="utf-8")
    market = _section(report)
    assert "<h2>Market</h2>" in market and 'id="market-missing"' not in market
    chart = re.search(r'<img alt="price index chart" id="market-index-chart" src="data:image/png;base64,'
                      r'([A-Za-z0-9+/=]+)"', market)
    assert chart and len(chart.group(1)) > 5000  # a real plot, not an empty image
    assert "Hedonic index, base" in market and "shown as gaps (never interpolated)" in market
    engine = get_engine(night)
    with engine.connect() as conn:
        latest = pd.read_sql(text("SELECT period, artist_name FROM mart_artist_market WHERE momentum_log IS NOT NULL "
                                  "AND lots_sold > 0 AND period_start <= :d ORDER BY period_start DESC"),
                             conn, params={"d": dt.date.fromisoformat(NIGHT)})
        stages = set(conn.execute(text("SELECT stage FROM stage_run WHERE run_date = :d"),
                                  {"d": dt.date.fromisoformat(NIGHT)}).scalars())
    assert not latest.empty
    period = latest["period"].iloc[0]
    assert f"Top movers, {period}" in market
    movers = market.split(f"Top movers, {period}")[1].split("Tonight's market alerts")[0]
    assert "90% interval" in movers and "sell-through" in movers and "turnover USD" in movers
    shown = set(re.findall(r"<tr><td>([^<]+)</td>", movers))
    assert shown and shown <= {html.escape(a) for a in latest.loc[latest["period"] == period, "artist_name"]}
    # tonight's alerts ran before the report (this demo night raises none: a quiet week) and the report says so
    assert {"market_alerts", "price_index", "nightly_report"} <= stages
    assert "Tonight's market alerts" in market
    assert "No market alerts tonight." in market
    assert (night.home / "dbt_docs" / "index.html").as_uri() in market


def _alert_rows() -> pd.DataFrame:
    base = {"run_date": dt.date.fromisoformat(NIGHT), "house": "lotus", "auction_house": "Lotus & Co",
            "sale_date": dt.date(2026, 9, 18)}
    rows = [
        {**base, "alert_id": "t-low", "alert_type": "estimate_drift", "severity": "low", "lot_number": None,
         "artist_name": "Ann Low", "lot_ref": None, "lot_refs": "lotus:1;lotus:2", "detail": "estimates drift",
         "evidence": json.dumps({"median_log_ratio": 0.52, "n": 4})},
        {**base, "alert_id": "t-high", "alert_type": "surprise_result", "severity": "high", "lot_number": 7,
         "artist_name": "<script>alert(1)</script>", "lot_ref": "lotus:7", "lot_refs": "lotus:7",
         "detail": "sold for $1,000,000 <b>way</b> above", "evidence": json.dumps({"z": 5.2, "hammer_usd": 1e6})},
        {**base, "alert_id": "t-med", "alert_type": "surprise_result", "severity": "medium", "lot_number": 8,
         "artist_name": "Bo Mid", "lot_ref": "lotus:8", "lot_refs": "lotus:8", "detail": "below the range",
         "evidence": json.dumps({"z": -3.4})},
    ]
    return pd.DataFrame(rows)


def test_report_lists_the_nights_alerts_escaped_and_by_severity(night):
    from gbv.report import build_report
    from warehouse.db import dispose_engines, get_engine
    from warehouse.loaders import upsert
    from warehouse.schema import market_alert

    engine = get_engine(night)
    upsert(engine, market_alert, _alert_rows())
    try:
        market = _section(build_report(engine, night, NIGHT).read_text(encoding="utf-8"))
    finally:
        with engine.begin() as conn:
            conn.execute(delete(market_alert).where(market_alert.c.alert_id.in_(["t-low", "t-high", "t-med"])))
        dispose_engines()
    assert "3 alert(s) recorded for this night" in market
    counts = re.search(r'<table id="market-alert-counts">.*?</table>', market, re.S).group(0)
    assert "<th>high</th><th>medium</th><th>low</th><th>total</th>" in counts
    assert re.search(r"<td>surprise_result</td><td class=\"num\">1</td><td class=\"num\">1</td>"
                     r"<td class=\"num\">0</td><td class=\"num\">2</td>", counts)
    table = re.search(r'<table id="market-alerts">.*?</table>', market, re.S).group(0)
    assert "<script>" not in market and "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "&lt;b&gt;way&lt;/b&gt;" in table and "z=5.2" in table and "hammer_usd=1e+06" in table
    order = [table.index(f"<td>{sev}</td>") for sev in ("high", "medium", "low")]
    assert order == sorted(order)


def test_a_warehouse_without_marts_says_so_plainly(gbv_home):
    from gbv.report import build_report
    from warehouse.db import get_engine
    from warehouse.loaders import upsert
    from warehouse.schema import fact_price_index

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)  # the core tables only
    market = _section(build_report(engine, settings, NIGHT).read_text(encoding="utf-8"))
    assert 'id="market-missing"' in market and "have not been built" in market
    assert "market-index-chart" not in market and "Top movers" not in market
    assert "Market alerts have not run for this night." in market

    # the Python index alone (price_index ran, dbt did not): shown, its gap quarter a gap with its reason
    rows = [{"index_kind": "hedonic", "frequency": "quarter", "segment_type": "all", "segment": "all",
             "period_start": dt.date(2026, m, 1), "period": f"2026-Q{(m + 2) // 3}", "is_gap": gap,
             "gap_reason": "no sales in the quarter" if gap else None, "index_value": None if gap else v,
             "ci90_low": None if gap else v * 0.9, "ci90_high": None if gap else v * 1.1, "n_obs": 0 if gap else 12,
             "base_period": "2026-Q1", "run_date": dt.date.fromisoformat(NIGHT)}
            for m, v, gap in ((1, 100.0, False), (4, 0.0, True), (7, 120.0, False))]
    upsert(engine, fact_price_index, pd.DataFrame(rows))
    market = _section(build_report(engine, settings, NIGHT).read_text(encoding="utf-8"))
    assert 'id="market-missing"' in market and 'id="market-index-chart"' in market
    assert "1 gap quarter(s)" in market and "no sales in the quarter" in market
    gap_row = re.search(r"<tr><td>2026-Q2</td>(.*?)</tr>", market).group(1)
    assert '<td class="num"></td>' in gap_row  # no value in the gap, never interpolated


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Chromium is not installed (Debian package `chromium`): the screenshots need it; the "
                           "nightly system does not")
def test_screenshots_of_the_market_section_and_a_marts_docs_page(night, tmp_path):
    from PIL import Image

    from gbv.cli import main

    assert main(["screenshots", "--home", str(night.home), "--out", str(tmp_path)]) == 0
    for name in ("report-market.png", "dbt-docs-mart_price_index.png"):
        with Image.open(tmp_path / name) as im:
            assert im.width == 1400 and im.height > 400
            assert len(set(im.convert("L").resize((70, 50)).getdata())) > 10, f"{name} looks blank"
