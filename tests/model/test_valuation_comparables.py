"""Valuations explained by the comparables search: the comparables index's lots (same artist first), their prices
brought to the lot's sale date by the warehouse's price index, and the fallback to raw same-artist comparables when
the index cannot be had. Real DuckDB warehouse, real usearch index, real hedonic price index; the instant hashing
text embedder (``GBV_COMPS_EMBEDDER=hashing``) as in tests/market."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re

import pandas as pd
import pytest

from gbv.market.comps import comparables_for_lots
from model.predict import ComparablesSearch, comparables_search, find_comparables, value_lots

ITEM = re.compile(r"^([^@;]+)@USD (\d+)@(\d{4}-\d{2}-\d{2})$")


def _parse(cell: str) -> list[tuple[str, float, str]]:
    out = []
    for item in (cell.split("; ") if cell else []):
        m = ITEM.match(item)
        assert m, item
        out.append((m.group(1), float(m.group(2)), m.group(3)))
    return out


@pytest.fixture
def hashing(monkeypatch):
    monkeypatch.setenv("GBV_COMPS_EMBEDDER", "hashing")


@pytest.fixture
def warehouse(settings, engine, world, hashing):
    """The world's lots (as of its night) in the warehouse, with the hedonic price index built from them."""
    from gbv.market.index import build_indices, read_sales, store_indices
    from warehouse.io import read_lots
    from warehouse.loaders import upsert_lots

    upsert_lots(engine, world.lots, "2026-10-01")
    store_indices(engine, build_indices(read_sales(engine), frequencies=("month",)), "2026-10-01")
    return settings, engine, read_lots(engine)


def _upcoming(lots: pd.DataFrame) -> pd.DataFrame:
    return lots[lots["status"] == "upcoming"].sort_values("lot_ref").head(60).reset_index(drop=True)


def test_valuation_comparables_are_the_comparables_index_adjusted_same_artist_first(lgbm, warehouse):
    settings, engine, every = warehouse
    lots = _upcoming(every)
    history = every[every["status"] != "upcoming"]
    search = comparables_search(engine, settings, every)
    assert isinstance(search, ComparablesSearch) and search.index.price_index.levels  # a real index, not "none"
    out = value_lots(lgbm, "v", lots, history, None, comparables=search).set_index("lot_ref")
    hook = comparables_for_lots(lots, k=5, index=search.index, embedder=search.embedder)
    adjusted_somewhere = False
    for (_, lot), comps in zip(lots.iterrows(), hook, strict=True):
        got = _parse(out.loc[lot["lot_ref"], "comparables"])
        assert [r for r, _, _ in got] == [c.lot_ref for c in comps] and len(got) == 5  # the hook's comparables
        assert [d for _, _, d in got] == [c.sale_date for c in comps]
        flags = [c.same_artist for c in comps]
        assert flags == sorted(flags, reverse=True)  # the same artist first
        prior = history[(history["artist_id"] == lot["artist_id"]) & (history["status"] == "sold")]
        assert flags[0] == (len(prior) > 0)
        for (_, price, date), c in zip(got, comps, strict=True):
            assert date < str(lot["sale_date"])
            raw = float(history.loc[history["lot_ref"] == c.lot_ref, "hammer_usd"].iloc[0])
            ratio = search.index.price_index.ratio(date, lot["sale_date"], c.medium_class)
            assert math.isclose(c.index_ratio, ratio, rel_tol=1e-3)
            assert abs(price - raw * ratio) <= 0.5 + 1e-6 * raw  # the index-adjusted price, to the dollar
            adjusted_somewhere |= abs(ratio - 1.0) > 0.01 and abs(price - raw) > 1
        explanation = out.loc[lot["lot_ref"], "explanation"]
        assert "index-adjusted median of 5 comparables" in explanation, explanation
        median = sorted(p for _, p, _ in got)[2]
        assert f"${float(f'{median:.3g}'):,.0f}" in explanation
    assert adjusted_somewhere  # the prices are not the raw hammer prices


def test_the_night_cut_keeps_later_sales_out(lgbm, warehouse):
    """Re-running an old night: comparables only from sales before that night, as its history."""
    settings, engine, every = warehouse
    sold = every[every["status"] == "sold"]
    night = dt.date(2024, 6, 1)
    lots = sold[sold["sale_date"] >= dt.date(2025, 1, 1)].head(30).reset_index(drop=True)
    search = comparables_search(engine, settings, every, before=night)
    found = search.find(lots)
    assert all(len(c) == 5 for c in found)
    assert all(d < night.isoformat() for comps in found for _, _, d in comps)


def test_fallback_when_the_index_cannot_be_had(lgbm, warehouse, monkeypatch, caplog):
    settings, engine, every = warehouse
    lots = _upcoming(every)
    history = every[every["status"] != "upcoming"]
    plain = value_lots(lgbm, "v", lots, history, None)
    want = ["; ".join(f"{r}@USD {p:.0f}@{d}" for r, p, d in c) for c in find_comparables(lots, history)]
    assert sorted(plain["comparables"]) == sorted(want)

    monkeypatch.setenv("GBV_COMPS_EMBEDDER", "no-such-embedder")  # the embedder cannot be made
    with caplog.at_level(logging.WARNING, logger="model.predict"):
        assert comparables_search(engine, settings, every) is None
    assert "fall back to same-artist comparables at raw past prices" in caplog.text
    out = value_lots(lgbm, "v", lots, history, None, comparables=None)
    pd.testing.assert_frame_equal(out, plain)
    assert not out["explanation"].str.contains("index-adjusted").any()


def test_fallback_when_there_is_no_sold_history(settings, engine, hashing, caplog):
    with caplog.at_level(logging.WARNING, logger="model.predict"):
        assert comparables_search(engine, settings) is None  # an empty warehouse
    assert "no sold history" in caplog.text


def test_fallback_when_the_search_fails_on_the_lots(lgbm, warehouse, caplog):
    settings, engine, every = warehouse
    lots = _upcoming(every)
    history = every[every["status"] != "upcoming"]
    search = comparables_search(engine, settings, every)

    class Broken:
        name, dim = search.embedder.name, search.embedder.dim

        def embed(self, texts, budget_s=None):  # noqa: ANN001, ANN202
            raise RuntimeError("the embedder's model went away")

    broken = ComparablesSearch(search.index, Broken())
    with caplog.at_level(logging.WARNING, logger="model.predict"):
        out = value_lots(lgbm, "v", lots, history, None, comparables=broken)
    assert "the embedder's model went away" in caplog.text and broken.failed
    pd.testing.assert_frame_equal(out, value_lots(lgbm, "v", lots, history, None))


def test_without_a_price_index_the_explanations_do_not_claim_adjusted_prices(lgbm, settings, engine, world, hashing):
    """A warehouse imported but never through a night or `gbv marts build` has no price index: the comparables
    index still finds the lots, at their raw prices, and no explanation may call them index-adjusted."""
    from warehouse.io import read_lots
    from warehouse.loaders import upsert_lots

    upsert_lots(engine, world.lots, "2026-10-01")
    every = read_lots(engine)
    lots, history = _upcoming(every), every[every["status"] != "upcoming"]
    search = comparables_search(engine, settings, every)
    assert isinstance(search, ComparablesSearch) and not search.adjusted
    found = search.find(lots)
    for comps in found:  # the raw hammer prices
        for ref, price, _ in comps:
            assert abs(price - float(history.loc[history["lot_ref"] == ref, "hammer_usd"].iloc[0])) <= 0.5
    direct = value_lots(lgbm, "v", lots, history, None, comparables=search)
    night = value_lots(lgbm, "v", lots, history, None, found_comparables=found, found_adjusted=search.adjusted)
    for out in (direct, night):
        assert not out["explanation"].str.contains("index-adjusted").any()
        assert out["explanation"].str.contains("comparables").any()  # the comparables are still described
