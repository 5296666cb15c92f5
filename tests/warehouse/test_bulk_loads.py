"""Bulk loads (DuckDB Arrow view, PostgreSQL COPY) store exactly what the row path stores, in one transaction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

import warehouse.loaders as loaders
from warehouse.db import get_engine
from warehouse.loaders import load_quarantine, replace_partition, upsert, upsert_lots
from warehouse.schema import dim_artwork, fact_consensus_label, fact_expert_label, fact_lot, quarantine


def _rows(engine, table, order):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*[table.c[c] for c in order]))]


def _lots_frame() -> pd.DataFrame:
    """Awkward but valid values: dates as ISO strings, dates, datetimes and Timestamps; NaN, None and pd.NA."""
    return pd.DataFrame({
        "lot_ref": ["a-1", "a-2", "a-3", "a-4"],
        "sale_id": ["S1", "S1", "S2", "S2"],
        "artwork_id": ["W1", "W2", "W3", "W4"],
        "artist_id": ["A1", "A1", "A2", "A2"],
        "house": ["h", "h", "k", "k"],
        "sale_date": ["2024-03-14", dt.date(2024, 3, 14), pd.Timestamp("2025-01-02 10:30"),
                      dt.datetime(2025, 1, 2, 23, 59)],
        "lot_number": pd.array([1, 2, 3, 4], dtype="Int64"),
        "source": ["demo_h", None, np.nan, "demo_k"],
        "estimate_low": [100.0, np.nan, 1e12, 0.5],
        "estimate_high": [200.0, 300.0, np.nan, 1.0],
        "hammer_price": pd.array([150.0, None, None, 0.75], dtype="Float64"),
        "fx_usd": [1.25, 1.25, 0.128, 1.0],
        "status": ["sold", "upcoming", "bought_in", "sold"],
        "run_date": ["2026-10-01T00:00:00", None, dt.date(2026, 10, 1), pd.NaT],
    })


def _labels_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "label_id": ["L1", "L2", "L3"],
        "lot_ref": ["a-1", "a-2", "a-3"],
        "expert_key": ["x", "y", "z"],
        "value_point": [1.0, np.nan, 3.5],
        "currency": ["USD", None, "EUR"],
        "submitted_at": ["2026-09-01T09:00:00Z", pd.Timestamp("2026-09-02 10:11:12"), None],
        "attribution_confidence": [0.5, 1.0, np.nan],
        "run_date": "2026-10-01",
    })


def _load_all(engine) -> dict[str, list[tuple]]:
    upsert(engine, fact_lot, _lots_frame())
    upsert(engine, fact_lot, _lots_frame().iloc[[1, 3]])  # re-load: replaced by key, not duplicated
    upsert(engine, fact_expert_label, _labels_frame())
    upsert(engine, dim_artwork, pd.DataFrame({"artwork_id": ["W1", "W2"], "artist_id": ["A1", "A1"],
                                              "year_created": [1965.0, np.nan],  # an int column widened by NaN
                                              "height_cm": [10.5, None], "run_date": dt.date(2026, 10, 1)}))
    replace_partition(engine, fact_consensus_label,
                      pd.DataFrame({"lot_ref": ["a-1", "a-2"], "consensus_usd": [10.0, np.nan],
                                    "n_experts": [2, 3], "style": ["pop_art", None]}), {"run_date": "2026-10-01"})
    load_quarantine(engine, pd.DataFrame({"source": ["s", "s"], "row_ref": ["u1", None], "row_number": [1, np.nan],
                                          "field": ["price", None], "reason": ["bad", "worse"],
                                          "payload": ["{}", None]}), "2026-10-01", "crawl")
    return {"lots": _rows(engine, fact_lot, ["lot_ref"]),
            "labels": _rows(engine, fact_expert_label, ["label_id"]),
            "consensus": _rows(engine, fact_consensus_label, ["lot_ref"]),
            "artworks": _rows(engine, dim_artwork, ["artwork_id"]),
            "quarantine": _rows(engine, quarantine, ["source", "row_number", "field"])}


def _wipe(engine) -> None:
    with engine.begin() as conn:
        for t in (fact_lot, fact_expert_label, fact_consensus_label, quarantine, dim_artwork):
            conn.execute(t.delete())


def test_bulk_and_row_paths_store_the_same_rows(warehouse_settings, monkeypatch):
    engine = get_engine(warehouse_settings)
    monkeypatch.setenv("GBV_BULK_LOAD", "0")
    by_rows = _load_all(engine)
    _wipe(engine)
    monkeypatch.setenv("GBV_BULK_LOAD", "1")
    bulk = _load_all(engine)
    assert bulk == by_rows
    assert len(bulk["lots"]) == 4 and len(bulk["labels"]) == 3
    lots = {r[0]: r for r in bulk["lots"]}
    assert lots["a-3"][5] == dt.date(2025, 1, 2)  # Timestamp -> date
    assert lots["a-2"][7] is None  # None -> NULL
    labels = {r[0]: r for r in bulk["labels"]}
    assert labels["L1"][10] == dt.datetime(2026, 9, 1, 9, 0)  # "...Z" -> naive, as the row path stores it
    assert [r[5] for r in bulk["artworks"]] == [1965, None]


def test_values_copy_cannot_parse_take_the_row_path(warehouse_settings):
    engine = get_engine(warehouse_settings)
    frame = pd.DataFrame({"artwork_id": ["W1", "W2"], "artist_id": ["A1", "A1"], "year_created": [1965.0, 1966.7]})
    upsert(engine, dim_artwork, frame)  # COPY would reject "1966.7" for an integer; INSERT casts it
    assert [r[5] for r in _rows(engine, dim_artwork, ["artwork_id"])] == [1965, 1967]


def test_duckdb_uses_the_bulk_path_and_postgres_uses_copy(warehouse_settings, small_world, monkeypatch):
    engine = get_engine(warehouse_settings)

    def no_rows(*_a, **_k):
        raise AssertionError("row-by-row insert used")

    monkeypatch.setattr(loaders, "_insert", no_rows)
    lots = small_world.lots
    assert upsert_lots(engine, lots, "2026-10-01") == len(lots)
    assert upsert_lots(engine, lots, "2026-10-01") == len(lots)
    assert len(_rows(engine, fact_lot, ["lot_ref"])) == len(lots)


def test_a_column_of_mixed_types_falls_back_to_rows_on_duckdb(warehouse_settings, monkeypatch):
    engine = get_engine(warehouse_settings)
    if engine.dialect.name != "duckdb":
        pytest.skip("the Arrow view is DuckDB's bulk path")
    used = []
    real = loaders._insert
    monkeypatch.setattr(loaders, "_insert", lambda *a: used.append(1) or real(*a))
    frame = _lots_frame()
    frame["source"] = ["demo_h", 7, 2.5, None]  # Arrow cannot hold this column; the row path stores it as text
    upsert(engine, fact_lot, frame)
    assert used
    assert [r[7] for r in _rows(engine, fact_lot, ["lot_ref"])] == ["demo_h", "7", "2.5", None]


def test_a_failing_bulk_load_rolls_back_everything(warehouse_settings, small_world):
    engine = get_engine(warehouse_settings)
    lots = small_world.lots
    upsert_lots(engine, lots, "2026-10-01")
    before = _rows(engine, fact_lot, ["lot_ref"])
    broken = lots.assign(status="withdrawn")
    broken["artwork_id"] = broken["artwork_id"].astype(object)
    broken.loc[broken.index[-1], "artwork_id"] = None  # NOT NULL violation, inside the bulk insert of fact_lot
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError differs by backend
        upsert_lots(engine, broken, "2026-10-02")
    assert _rows(engine, fact_lot, ["lot_ref"]) == before
