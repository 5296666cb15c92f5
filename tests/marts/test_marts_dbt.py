"""The dbt marts on a real warehouse: DuckDB through a real Dagster run, PostgreSQL through `gbv marts build`,
and a dbt test that catches a broken index row."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

RUN_DATE = "2026-10-01"

MARTS = ("mart_price_index", "mart_artist_market", "mart_latest_valuation", "mart_valuation_accuracy",
         "mart_valuation_accuracy_by_period")


def _read(settings, sql: str) -> pd.DataFrame:
    from warehouse.db import dispose_engines, get_engine

    try:
        with get_engine(settings).connect() as conn:
            return pd.read_sql(text(sql), conn)
    finally:
        dispose_engines()


def check_marts(settings, world) -> None:  # noqa: ANN001
    """What every backend must hold after the marts are built."""
    idx = _read(settings, "SELECT * FROM mart_price_index")
    fact = _read(settings, "SELECT COUNT(*) AS n FROM fact_price_index")
    assert len(idx) == int(fact["n"].iloc[0]) > 0
    gap = idx["is_gap"].astype(bool)
    assert gap.any() and idx.loc[gap, "index_value"].isna().all() and idx.loc[~gap, "index_value"].notna().all()
    assert set(idx["index_kind"]) == {"hedonic", "repeat_sales"} and set(idx["frequency"]) == {"month", "quarter"}
    # the change next to a gap is null: nothing bridges a gap
    monthly = idx[(idx.index_kind == "hedonic") & (idx.frequency == "month") & (idx.segment_type == "all")]
    monthly = monthly.sort_values("period_start").reset_index(drop=True)
    after_gap = monthly.index[monthly["is_gap"].astype(bool).shift(1, fill_value=False)]
    assert monthly.loc[after_gap, "change_vs_previous"].isna().all()

    # the artist market agrees with the lots, counted here in pandas
    market = _read(settings, "SELECT * FROM mart_artist_market")
    lots = world.lots.copy()
    lots["q"] = pd.PeriodIndex(pd.to_datetime(lots["sale_date"]), freq="Q").astype(str).str.replace("Q", "-Q")
    busiest = lots[lots.status == "sold"].groupby("artist_id").size().idxmax()
    mine = lots[(lots.artist_id == busiest) & lots.status.isin(["sold", "bought_in"])]
    q = mine.groupby("q").size().idxmax()
    cell = mine[mine.q == q]
    row = market[(market.artist_id == busiest) & (market.period == q)].iloc[0]
    sold = cell[cell.status == "sold"]
    assert row["lots_offered"] == len(cell) and row["lots_sold"] == len(sold)
    assert row["sell_through_rate"] == pytest.approx(len(sold) / len(cell))
    assert row["turnover_usd"] == pytest.approx(sold["hammer_usd"].sum(), rel=1e-9)
    assert row["median_price_usd"] == pytest.approx(np.median(sold["hammer_usd"]), rel=1e-9)
    assert market["momentum_log"].notna().any() and (market["momentum_log_se"].dropna() > 0).all()
    assert market["house_vs_model_log_median"].notna().any()

    latest = _read(settings, "SELECT * FROM mart_latest_valuation")
    assert len(latest) == latest["lot_ref"].nunique() == _read(
        settings, "SELECT COUNT(DISTINCT lot_ref) AS n FROM fact_valuation")["n"].iloc[0]
    assert "sale_region" in latest.columns  # dbt's model replaced the bootstrap view of the same name
    acc = _read(settings, "SELECT * FROM mart_valuation_accuracy_by_period")
    overall = acc[acc.segment_type == "all"]
    assert overall["lots"].sum() == 80  # the sold lots valued before their sale, once each
    assert set(acc["segment_type"]) == {"all", "medium_class", "region", "price_tier"}


def test_dagster_materializes_the_marts_with_dbt_tests_as_checks(marts_settings, small_world):
    import dagster as dg

    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = [dg.AssetKey(k) for k in ("price_index", "sale_regions", *MARTS, "marts_docs")]
    assert {"price_index"} <= {k.to_user_string() for k in graph.get(dg.AssetKey("mart_price_index")).parent_keys}
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    result = job.get_subset(asset_selection=set(keys)).execute_in_process(
        partition_key=RUN_DATE, instance=instance, raise_on_error=False)
    assert result.success, [str(e.event_specific_data.error) for e in result.all_events
                            if e.event_type_value == "STEP_FAILURE"]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {k.to_user_string() for k in keys}
    checks = result.get_asset_check_evaluations()
    assert len(checks) >= 40 and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    assert {"price_index_consistent", "assert_index_gaps_are_gaps"} <= {c.check_name for c in checks}

    check_marts(marts_settings, small_world)
    docs = marts_settings.home / "dbt_docs" / "index.html"
    assert docs.exists() and "mart_artist_market" in docs.read_text(errors="replace")

    # a later engine (every asset opens one) keeps dbt's models instead of the bootstrap views
    from warehouse.db import dispose_engines, get_engine

    get_engine(marts_settings)
    dispose_engines()
    assert "sale_region" in _read(marts_settings, "SELECT * FROM mart_latest_valuation").columns


@pytest.mark.postgres
def test_gbv_marts_build_on_postgres(gbv_home, pg_schema_url, small_world, load_world, monkeypatch, capsys):
    from gbv.cli import main
    from gbv.settings import get_settings

    monkeypatch.setenv("GBV_WAREHOUSE_URL", pg_schema_url)
    settings = replace(get_settings().ensure_dirs(), warehouse_url=pg_schema_url)
    load_world(settings, small_world)
    assert main(["marts", "build", "--date", RUN_DATE, "--no-docs"]) == 0
    out = capsys.readouterr().out
    assert "dbt build: marts and their tests passed on postgresql" in out
    check_marts(settings, small_world)
    assert not (gbv_home / "dbt_docs").exists()  # --no-docs (the docs are checked in the Dagster run)


def test_a_broken_index_row_fails_its_dbt_test(marts_settings):
    from gbv.market.dbt import DbtFailed, compute_price_index, run_dbt
    from warehouse.db import dispose_engines, get_engine

    compute_price_index(marts_settings, RUN_DATE)
    with get_engine(marts_settings).begin() as conn:  # an interpolated gap: a value where there was no sale
        n = conn.execute(text("UPDATE fact_price_index SET index_value = 101 WHERE is_gap")).rowcount
    assert n > 0
    dispose_engines()
    with pytest.raises(DbtFailed, match="assert_index_gaps_are_gaps"):
        run_dbt(marts_settings, ["build", "--select", "sale_regions", "mart_price_index"], quiet=True)
