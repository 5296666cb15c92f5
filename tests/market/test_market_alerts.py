"""Market alerts on a real DuckDB warehouse holding the small demo world with planted anomalies."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gbv.market.alerts import (
    ALERT_COLUMNS,
    Z80,
    AlertsError,
    alerts_for_window,
    read_house_alerts,
    surprise_alerts,
    write_house_alerts,
)

FROM, TO = "2024-01-01", "2025-12-31"


def _in_window(lots: pd.DataFrame) -> pd.Series:
    d = pd.to_datetime(lots["sale_date"])
    return (d >= FROM) & (d <= TO)


def _fair_valuations(world, lots: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """A model that knows each lot's true value (the world's), with an 80% range of x/÷1.6."""
    true = world.truth.set_index("lot_ref")["true_value_usd"]
    v = lots[_in_window(lots)][["lot_ref", "sale_date"]].copy()
    est = v["lot_ref"].map(true).to_numpy(dtype=float)
    return pd.DataFrame({"run_date": pd.to_datetime(v["sale_date"]).dt.date - pd.Timedelta(days=3),
                         "lot_ref": v["lot_ref"], "house": v["lot_ref"].str.split("-").str[0],
                         "estimate_usd": est, "low_usd": est / 1.6, "high_usd": est * 1.6})


@pytest.fixture
def planted(gbv_home, small_world, hashing_embedder):
    """The small world with a price spike, a quick resale, a momentum break and a house's estimate drift."""
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import replace_partition, upsert_lots
    from warehouse.schema import fact_valuation

    lots = small_world.lots.copy()
    win = _in_window(lots)
    sold = lots["status"] == "sold"
    cols = ["hammer_usd", "hammer_price"]
    # momentum: the artist with most sales in the window and before it sells x4 in the window
    per_artist = lots[win & sold].groupby("artist_id").size()
    before = lots[sold & (pd.to_datetime(lots["sale_date"]) < FROM)
                  & (pd.to_datetime(lots["sale_date"]) >= "2021-01-01")].groupby("artist_id").size()
    momentum = (per_artist[per_artist >= 4].index.intersection(before[before >= 6].index))[0]
    m_rows = win & sold & (lots["artist_id"] == momentum)
    lots.loc[m_rows, cols] = lots.loc[m_rows, cols] * 4.0
    # a spike x30 on a lot of another artist
    spike_i = lots.index[win & sold & (lots["artist_id"] != momentum)][5]
    lots.loc[spike_i, cols] = lots.loc[spike_i, cols] * 30.0
    # a painting bought in mid-2023 resold early 2024 at x6
    src = lots[sold & (lots["medium_class"] == "painting") & (lots["artist_id"] != momentum)
               & (pd.to_datetime(lots["sale_date"]).between("2023-06-01", "2023-09-30"))].iloc[0].copy()
    resale = src.copy()
    resale["lot_ref"] = f"{src['house']}-RESALE-2024-0001"
    resale["sale_id"] = "RESALE-2024"
    resale["sale_date"] = pd.Timestamp("2024-02-15").date()  # 5-8 months later, inside the window
    resale["lot_number"] = 1
    for c in cols:
        resale[c] = src[c] * 6.0
    lots = pd.concat([lots, resale.to_frame().T], ignore_index=True)
    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    upsert_lots(engine, lots, "2026-10-01")
    vals = _fair_valuations(small_world, lots)
    vals.loc[vals["lot_ref"] == resale["lot_ref"], "estimate_usd"] = float(
        small_world.truth.set_index("lot_ref").at[src["lot_ref"], "true_value_usd"])
    vals["low_usd"], vals["high_usd"] = vals["estimate_usd"] / 1.6, vals["estimate_usd"] * 1.6
    # drift: the model values delacroix's prints (13 in the window) at a third of the house's estimate
    kp = lots[win & (lots["house"] == "delacroix") & (lots["medium_class"] == "print")]["lot_ref"]
    mid = np.sqrt(lots.set_index("lot_ref").loc[kp, "estimate_low_usd"].astype(float)
                  * lots.set_index("lot_ref").loc[kp, "estimate_high_usd"].astype(float))
    vals = vals.set_index("lot_ref")
    vals.loc[kp, "estimate_usd"] = (mid / 3.0).to_numpy()
    vals = vals.reset_index()
    for run_date, g in vals.groupby("run_date"):
        replace_partition(engine, fact_valuation, g.drop(columns="run_date"), {"run_date": run_date})
    return {"settings": settings, "engine": engine, "lots": lots, "momentum": momentum,
            "spike": lots.at[spike_i, "lot_ref"], "resale": resale["lot_ref"], "resale_of": src["lot_ref"],
            "drift_house": "delacroix", "n_drift": len(kp)}


def test_planted_anomalies_are_found_and_each_house_gets_its_own(planted, tmp_path, capsys):
    from gbv.cli import main

    out = tmp_path / "alerts.csv"
    assert main(["alerts", "--from", FROM, "--to", TO, "--out", str(out), "--houses"]) == 0
    printed = capsys.readouterr().out
    alerts = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(alerts.columns) == list(ALERT_COLUMNS) and len(alerts) > 0 and "alert(s) from" in printed

    def of(kind: str) -> pd.DataFrame:
        return alerts[alerts["alert_type"] == kind]

    spike = of("surprise_result")
    assert planted["spike"] in set(spike["lot_ref"])
    ev = json.loads(spike.set_index("lot_ref").at[planted["spike"], "evidence"])
    assert ev["z"] > 1.96 and ev["hammer_usd"] > ev["high95_usd"]
    assert planted["spike"] in set(of("above_comparables")["lot_ref"])
    res = of("suspicious_resale")
    assert planted["resale"] in set(res["lot_ref"])
    assert planted["resale_of"] in res.set_index("lot_ref").at[planted["resale"], "lot_refs"]
    mom = of("momentum_break")
    artist_name = planted["lots"].set_index("artist_id").loc[planted["momentum"], "artist_name"]
    artist_name = artist_name if isinstance(artist_name, str) else artist_name.iloc[0]
    assert artist_name in set(mom["artist_name"])
    drift = of("estimate_drift")
    assert ((drift["house"] == planted["drift_house"]) & drift["detail"].str.contains("print lots")).any()
    assert drift["lot_number"].eq("").all()
    assert set(alerts["severity"]) <= {"high", "medium", "low"}
    for e in alerts["evidence"]:
        json.loads(e)

    # per house: its own alerts only, complete and verified
    settings, engine = planted["settings"], planted["engine"]
    houses = sorted(planted["lots"]["house"].unique())
    for house in houses:
        folder = settings.home / "alerts" / house / TO
        mine = read_house_alerts(folder)
        assert (mine["house"] == house).all()
        for refs in mine["lot_refs"]:
            assert all(r.startswith(f"{house}-") for r in refs.split(";") if r), refs
        for ev in mine["evidence"]:
            named = [v for k, v in json.loads(ev).items() if k.endswith(("lot_ref", "comparables"))]
            flat = [r for v in named for r in (v if isinstance(v, list) else [v]) if r]
            assert all(r.startswith(f"{house}-") for r in flat), ev
        assert len(mine) == int((alerts["house"] == house).sum())
    with engine.connect() as conn:
        stored = pd.read_sql("SELECT * FROM market_alert", conn)
    assert len(stored) == len(alerts) and set(stored["alert_id"]) == set(alerts["alert_id"])


def test_a_normal_window_raises_few_alerts(gbv_home, small_world, hashing_embedder):
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import replace_partition, upsert_lots
    from warehouse.schema import fact_valuation

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    upsert_lots(engine, small_world.lots, "2026-10-01")
    vals = _fair_valuations(small_world, small_world.lots)
    for run_date, g in vals.groupby("run_date"):
        replace_partition(engine, fact_valuation, g.drop(columns="run_date"), {"run_date": run_date})
    run = alerts_for_window(engine, settings, FROM, TO)
    sold = run.sold_lots
    assert sold > 50 and run.valued_lots == sold
    surprises = int((run.alerts["alert_type"] == "surprise_result").sum())
    # the world's noise is sd 0.40 in log price and the range says sd 0.367: about 5-8% outside the 95% range
    assert surprises <= 0.12 * sold
    assert not (run.alerts["alert_type"] == "suspicious_resale").any()


def test_window_without_sales_and_bad_windows(gbv_home, small_world, hashing_embedder, tmp_path, capsys):
    from gbv.cli import main
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots

    settings = get_settings().ensure_dirs()
    upsert_lots(get_engine(settings), small_world.lots, "2026-10-01")
    out = tmp_path / "none.csv"
    assert main(["alerts", "--from", "2010-01-01", "--to", "2010-12-31", "--out", str(out)]) == 0
    assert "no sales between 2010-01-01 and 2010-12-31" in capsys.readouterr().out
    assert out.read_text().strip() == ",".join(ALERT_COLUMNS)
    assert main(["alerts", "--from", "2020-02-01", "--to", "2020-01-01", "--out", str(out)]) == 1
    assert "before it starts" in capsys.readouterr().err
    # sales but no valuations: the other checks still run, and the message says why no surprise alerts
    run = alerts_for_window(get_engine(settings), settings, FROM, TO)
    assert run.sold_lots > 0 and "no pre-sale valuations" in run.message
    assert not (run.alerts["alert_type"] == "surprise_result").any()


def test_surprise_uses_the_95_interval_derived_from_the_80_range():
    sigma = math.log(2.0) / (2 * Z80)  # an 80% range of x/÷sqrt(2) around 1000
    lots = pd.DataFrame({"lot_ref": ["h-a", "h-b"], "house": "h", "auction_house": "H", "lot_number": [1, 2],
                         "artist_name": "X", "artist_id": "x", "sale_date": pd.Timestamp("2020-01-10").date(),
                         "status": "sold", "hammer_usd": [1000 * math.exp(1.90 * sigma), 1000 * math.exp(-2.0 * sigma)]})
    vals = pd.DataFrame({"run_date": pd.Timestamp("2020-01-09").date(), "lot_ref": ["h-a", "h-b"],
                         "estimate_usd": 1000.0, "low_usd": 1000 / math.sqrt(2), "high_usd": 1000 * math.sqrt(2)})
    found = surprise_alerts(lots, vals)
    assert [a["lot_ref"] for a in found] == ["h-b"] and found[0]["severity"] == "low"
    # a valuation made after the sale does not count
    late = vals.assign(run_date=pd.Timestamp("2020-01-11").date())
    assert surprise_alerts(lots, late) == []


def test_house_file_refuses_other_houses_rows(gbv_home):
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    row = {c: "" for c in ALERT_COLUMNS} | {"house": "lotus", "alert_type": "surprise_result", "lot_refs": "lotus-1",
                                             "sale_date": None, "lot_number": None}
    with pytest.raises(AlertsError, match="other houses"):
        write_house_alerts(settings, "kestrel", "2026-10-01", pd.DataFrame([row]))
    path = write_house_alerts(settings, "lotus", "2026-10-01", pd.DataFrame([row]))
    assert (path / "_SUCCESS").exists() and len(read_house_alerts(path)) == 1


def test_the_nightly_asset_and_its_check(gbv_home, small_world, hashing_embedder):
    import dagster as dg

    from assets.market.assets import market_alerts
    from assets.market.checks import alerts_verified_and_isolated
    from assets.resources import WarehouseResource
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots

    settings = get_settings().ensure_dirs()
    upsert_lots(get_engine(settings), small_world.lots, "2026-10-01")
    night = "2025-06-20"
    result = dg.materialize([market_alerts, alerts_verified_and_isolated], partition_key=night,
                            resources={"warehouse": WarehouseResource(),
                                       "io_manager": dg.InMemoryIOManager()})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    for house in small_world.houses["house"]:
        assert (settings.home / "alerts" / house / night / "_SUCCESS").exists()


def test_alerts_stored_on_duckdb_and_postgres(warehouse_settings, small_world, hashing_embedder):
    from gbv.market.alerts import publish
    from warehouse.db import get_engine
    from warehouse.loaders import replace_partition, upsert_lots
    from warehouse.schema import fact_valuation

    settings = warehouse_settings
    engine = get_engine(settings)
    upsert_lots(engine, small_world.lots, "2026-10-01")
    vals = _fair_valuations(small_world, small_world.lots)
    vals["estimate_usd"] = vals["estimate_usd"] / 3  # every result a surprise
    for run_date, g in vals.groupby("run_date"):
        replace_partition(engine, fact_valuation, g.drop(columns="run_date"), {"run_date": run_date})
    run = alerts_for_window(engine, settings, FROM, TO)
    assert (run.alerts["alert_type"] == "surprise_result").sum() > 20
    for _ in range(2):  # the same night twice: the same rows
        written = publish(engine, settings, TO, run)
    with engine.connect() as conn:
        stored = pd.read_sql("SELECT alert_id, house, evidence FROM market_alert", conn)
    assert sorted(stored["alert_id"]) == sorted(run.alerts["alert_id"])
    assert sum(info["rows"] for info in written.values()) == len(run.alerts)
