"""Comparables search on a real usearch index over a real DuckDB warehouse (the small demo world)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from gbv.market.comps import (
    ComparablesError,
    ComparablesIndex,
    PriceIndex,
    comparables_for_lots,
    index_dir,
    make_embedder,
    refresh_index,
)
from warehouse.io import read_lots


def _lot_with_history(history: pd.DataFrame, min_prior: int, slack: int = 3) -> pd.Series:
    sold = history[history["status"] == "sold"].sort_values(["sale_date", "lot_ref"])
    for _, lot in sold.iloc[::-1].iterrows():
        prior = sold[(sold["artist_id"] == lot["artist_id"]) & (sold["sale_date"] < lot["sale_date"])]
        if min_prior <= len(prior) <= min_prior + slack:
            return lot
    raise AssertionError("no lot with that much artist history in the world")


def test_same_artist_first_then_nearest_all_before_the_sale(world_warehouse, hashing_embedder):
    settings, engine, _ = world_warehouse
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert res.mode == "built" and res.backend == "usearch" and len(index) == res.rows > 400
    assert (index_dir(settings) / "index.usearch").exists()
    history = read_lots(engine)
    lot = _lot_with_history(history, 4)
    prior = history[(history["artist_id"] == lot["artist_id"]) & (history["status"] == "sold")
                    & (history["sale_date"] < lot["sale_date"])]
    comps = index.query_lots(lot.to_frame().T, hashing_embedder, k=10)[0]
    assert len(comps) == 10
    flags = [c.same_artist for c in comps]
    assert flags[:len(prior)] == [True] * len(prior) and not any(flags[len(prior):])  # same artist first
    assert {c.lot_ref for c in comps if c.same_artist} == set(prior["lot_ref"])
    assert lot["lot_ref"] not in {c.lot_ref for c in comps}
    assert all(pd.Timestamp(c.sale_date) < pd.Timestamp(lot["sale_date"]) for c in comps)
    same = [c.distance for c in comps if c.same_artist]
    assert same == sorted(same)  # nearest first within the artist
    others = [c for c in comps if not c.same_artist]
    assert all(c.artist_name != lot["artist_name"] for c in others)


def test_artist_with_one_earlier_sale(world_warehouse, hashing_embedder):
    settings, engine, _ = world_warehouse
    index, _ = refresh_index(engine, settings, hashing_embedder)
    history = read_lots(engine)
    lot = _lot_with_history(history, 1, slack=0)
    comps = index.query_lots(lot.to_frame().T, hashing_embedder, k=5)[0]
    assert len(comps) == 5 and comps[0].same_artist and not any(c.same_artist for c in comps[1:])


def test_lot_without_size_or_text_still_gets_comparables(world_warehouse, hashing_embedder):
    settings, engine, _ = world_warehouse
    index, _ = refresh_index(engine, settings, hashing_embedder)
    bare = pd.DataFrame([{"lot_ref": "x-1", "artist_name": "Nobody Known", "sale_date": "2026-09-01",
                          "title": None, "medium": None, "medium_class": None, "height_cm": None,
                          "width_cm": None, "description": None}])
    comps = index.query_lots(bare, hashing_embedder, k=3)[0]
    assert len(comps) == 3 and not any(c.same_artist for c in comps)
    assert all(math.isfinite(c.distance) for c in comps)


def test_index_is_persisted_grown_incrementally_and_rebuilt_when_a_sale_changes(gbv_home, small_world,
                                                                                  hashing_embedder):
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    lots = small_world.lots
    early = lots[pd.to_datetime(lots["sale_date"]) < pd.Timestamp("2024-01-01")]
    upsert_lots(engine, early, "2024-01-01")
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert res.mode == "built"
    n0 = len(index)
    assert refresh_index(engine, settings, hashing_embedder)[1].mode == "unchanged"
    upsert_lots(engine, lots, "2026-10-01")
    index, res = refresh_index(engine, settings, hashing_embedder)
    new_sold = int(((lots["status"] == "sold") & (pd.to_datetime(lots["sale_date"]) >= "2024-01-01")).sum())
    assert res.mode == "incremental" and res.added == new_sold and len(index) == n0 + new_sold
    again = ComparablesIndex.load(index_dir(settings))
    assert len(again) == len(index) and len(again.ann) == len(index)
    # a stored sale changes (a corrected price): the index is rebuilt, not patched
    changed = lots[lots["status"] == "sold"].head(1).copy()
    changed["hammer_usd"] = changed["hammer_usd"] * 2
    upsert_lots(engine, changed, "2026-10-02")
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert res.mode == "built"
    ref = changed["lot_ref"].iloc[0]
    assert index.price[list(index.refs).index(ref)] == pytest.approx(float(changed["hammer_usd"].iloc[0]))


def test_prices_brought_to_the_lot_date_by_the_index(world_warehouse, hashing_embedder):
    settings, engine, _ = world_warehouse
    months = pd.date_range("2015-01-01", "2027-01-01", freq="MS")
    levels = pd.DataFrame({"segment": "all", "period": months,
                           "log_level": np.linspace(0.0, 1.2, len(months))})  # +10% a year, roughly
    pindex = PriceIndex.from_frame(levels, "test index")
    assert pindex.ratio("2020-01-15", "2020-01-20") == pytest.approx(1.0)
    assert pindex.ratio("2016-01-01", "2026-01-01") == pytest.approx(math.exp(1.2 * 120 / 144), rel=1e-6)
    assert PriceIndex.none().ratio("2016-01-01", "2026-01-01") == 1.0
    index, _ = refresh_index(engine, settings, hashing_embedder)
    index.price_index = pindex
    lot = _lot_with_history(read_lots(engine), 4)
    for c in index.query_lots(lot.to_frame().T, hashing_embedder, k=6)[0]:
        want = pindex.ratio(c.sale_date, lot["sale_date"])
        assert want > 1.0 and c.index_ratio == pytest.approx(want, rel=1e-3)
        assert c.adjusted_usd == pytest.approx(c.hammer_usd * want, rel=1e-6)


def test_the_warehouse_price_index_is_used_when_it_exists(world_warehouse, hashing_embedder):
    settings, engine, _ = world_warehouse
    schema = pytest.importorskip("warehouse.schema")
    table = getattr(schema, "fact_price_index", None)
    if table is None:
        pytest.skip("the warehouse has no fact_price_index table yet (issue 9 item 1 not merged)")
    assert PriceIndex.from_warehouse(engine).levels == {}  # empty table: no adjustment
    rows = [{"index_kind": "hedonic", "frequency": "month", "segment_type": "all", "segment": "all",
             "period_start": d.date(), "period": d.strftime("%Y-%m"), "index_value": 100 * math.exp(0.01 * i),
             "log_index": 0.01 * i, "is_gap": False} for i, d in enumerate(pd.date_range("2016-01-01",
                                                                                         "2026-12-01", freq="MS"))]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    pindex = PriceIndex.from_warehouse(engine)
    assert "fact_price_index" in pindex.source
    assert pindex.ratio("2016-01-10", "2017-01-10", "painting") == pytest.approx(math.exp(0.12))


def test_hook_for_valuation_explanations(world_warehouse, small_world, hashing_embedder):
    settings, engine, _ = world_warehouse
    catalogue = small_world.catalogue().head(4)
    comps = comparables_for_lots(catalogue, k=3, settings=settings, engine=engine)
    assert len(comps) == 4 and all(len(c) == 3 for c in comps)


def _write_catalogue(path, rows):  # noqa: ANN001
    from gbv.contracts import CATALOGUE_COLUMNS

    pd.DataFrame(rows, columns=list(CATALOGUE_COLUMNS)).to_csv(path, index=False)


def test_cli_catalogue_row_known_and_unseen_artist_and_bad_rows(world_warehouse, small_world, tmp_path, capsys):
    from gbv.cli import main

    known = small_world.catalogue().iloc[0].to_dict()
    unseen = dict(known, lot_ref="new-0001", artist_name="Zebedee Quorn", artist_birth_year="1990",
                  title="Blue Field", description="")
    bad = dict(known, lot_ref="bad-0001", height_cm="tall")
    path = tmp_path / "catalogue.csv"
    _write_catalogue(path, [known, unseen, bad])

    assert main(["comps", "--catalogue", str(path), "--row", "1", "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert known["lot_ref"] in out and "*" in out.split("dist")[1]  # same-artist comparables marked

    assert main(["comps", "--catalogue", str(path), "--row", "2", "--k", "5"]) == 0
    out = capsys.readouterr().out
    table = out.split("dist")[1].split("  * same artist")[0]
    assert "Zebedee Quorn" in out and "*" not in table and len(table.strip().splitlines()) == 5

    assert main(["comps", "--catalogue", str(path), "--row", "3"]) == 1
    err = capsys.readouterr().err
    assert "catalogue.csv row 3" in err and "height_cm" in err
    assert main(["comps", "--catalogue", str(path), "--row", "9"]) == 1
    assert "row 9 does not exist (the file has 3 data rows)" in capsys.readouterr().err


def test_cli_lot_ref(world_warehouse, capsys):
    from gbv.cli import main

    _, engine, _ = world_warehouse
    ref = read_lots(engine).query("status == 'sold'")["lot_ref"].iloc[-1]
    assert main(["comps", "--lot-ref", ref, "--k", "4"]) == 0
    out = capsys.readouterr().out
    assert f"comparables for {ref}" in out and "median adjusted price" in out
    assert main(["comps", "--lot-ref", "no-such-lot"]) == 1
    assert "'no-such-lot' is not in the warehouse" in capsys.readouterr().err


def test_empty_warehouse_and_bad_arguments(gbv_home, hashing_embedder, capsys, tmp_path):
    from gbv.cli import main

    assert main(["comps", "--lot-ref", "a", "--catalogue", "b"]) == 1
    assert "either --lot-ref" in capsys.readouterr().err
    with pytest.raises(ComparablesError):
        from gbv.market.comps import _catalogue_row

        _catalogue_row(tmp_path / "missing.csv", 1)


def test_cli_refresh_backfills_the_index_under_a_budget(world_warehouse, capsys):
    from gbv.cli import main

    settings, engine, lots = world_warehouse
    n_sold = int(((lots["status"] == "sold") & (lots["hammer_usd"] > 0)).sum())
    assert main(["comps", "--refresh", "--budget-s", "0"]) == 0  # nothing cached yet: nothing embedded
    assert "0 sold lots indexed" in capsys.readouterr().out
    assert main(["comps", "--refresh", "--budget-s", "none"]) == 0
    out = capsys.readouterr().out
    assert f"{n_sold:,} sold lots indexed ({n_sold:,} added)" in out and "incremental" in out
    assert len(ComparablesIndex.load(index_dir(settings))) == n_sold
    assert main(["comps", "--refresh", "--budget-s", "soon"]) == 1
    assert "--budget-s must be a number" in capsys.readouterr().err


# ---- pgvector: the same answers from an HNSW index in PostgreSQL (a local server with pgvector) ---------------

def _pg_warehouse(pgvector_url, tmp_path, monkeypatch):  # noqa: ANN001, ANN202
    from dataclasses import replace

    from gbv.settings import get_settings
    from warehouse.db import get_engine

    monkeypatch.setenv("GBV_HOME", str(tmp_path / "home"))
    settings = replace(get_settings().ensure_dirs(), warehouse_url=pgvector_url)
    return settings, get_engine(settings)


def _pg_rows(engine) -> tuple[int, int]:  # noqa: ANN001
    """(rows, table oid) of the pgvector table: the oid changes only when the table is rebuilt."""
    from sqlalchemy import text

    with engine.connect() as conn:
        oid = conn.execute(text("SELECT 'market_comp_vector'::regclass::oid")).scalar()
        n = conn.execute(text("SELECT count(*) FROM market_comp_vector")).scalar()
    return int(n), int(oid)


def test_pgvector_backend_gives_the_usearch_answers(pgvector_url, small_world, tmp_path, monkeypatch,
                                                    hashing_embedder):
    from gbv.market.comps import PG_EF_MAX, PgVectorANN, pgvector_schema
    from warehouse.loaders import upsert_lots

    settings, engine = _pg_warehouse(pgvector_url, tmp_path, monkeypatch)
    assert pgvector_schema(engine, create=True) == "public"
    upsert_lots(engine, small_world.lots, "2026-10-01")
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert res.backend == "pgvector" and res.mode == "built" and isinstance(index.ann, PgVectorANN)
    assert len(index.ann) == len(index) == res.rows > 400 and _pg_rows(engine)[0] == len(index)
    local = ComparablesIndex.load(index_dir(settings))  # the same vectors on usearch
    assert local is not None and type(local.ann).__name__ == "Index"
    history = read_lots(engine)
    lots = [_lot_with_history(history, n, slack=s) for n, s in ((0, 0), (1, 0), (2, 1), (4, 3))]
    lots.append(pd.Series({"lot_ref": "x-1", "artist_name": "Nobody Known", "sale_date": "2026-09-01",
                           "title": None, "medium": None, "medium_class": None, "height_cm": None,
                           "width_cm": None, "description": None}))
    for lot in lots:
        got = index.query_lots(lot.to_frame().T, hashing_embedder, k=8)[0]
        want = local.query_lots(lot.to_frame().T, hashing_embedder, k=8)[0]
        assert len(got) == len(want) == 8
        assert [c.lot_ref for c in got] == [c.lot_ref for c in want]
        assert [c.same_artist for c in got] == [c.same_artist for c in want]
        assert [c.distance for c in got] == pytest.approx([c.distance for c in want], abs=1e-3)
        # then nearest: the others are the exact nearest earlier sales by other artists
        others = [c for c in got if not c.same_artist]
        qv = index.vectors[list(index.refs).index(lot["lot_ref"])] if lot["lot_ref"] in set(index.refs) else None
        if qv is not None:
            day = pd.Timestamp(lot["sale_date"])
            same = {c.lot_ref for c in got if c.same_artist}
            ok = np.array([pd.Timestamp(d) < day and r not in same and r != lot["lot_ref"]
                           for r, d in zip(index.refs, index.meta["sale_date"], strict=True)])
            d2 = ((index.vectors - qv) ** 2).sum(axis=1)
            exact = index.refs[np.flatnonzero(ok)[np.argsort(d2[ok], kind="stable")[:len(others)]]]
            assert [c.lot_ref for c in others] == list(exact)
    # past pgvector's largest ef_search an HNSW scan would stop short: such a search is answered exactly
    m = index.ann.search(index.vectors[0], PG_EF_MAX + 1)
    d2 = ((index.vectors - index.vectors[0]) ** 2).sum(axis=1)
    assert len(m.keys) == len(index) and sorted(m.keys.tolist()) == list(range(len(index)))
    assert np.asarray(m.distances) == pytest.approx(d2[m.keys], abs=1e-4) and list(m.distances) == sorted(m.distances)


def test_pgvector_incremental_refresh_adds_new_sold_lots(pgvector_url, small_world, tmp_path, monkeypatch,
                                                         hashing_embedder):
    from warehouse.loaders import upsert_lots

    settings, engine = _pg_warehouse(pgvector_url, tmp_path, monkeypatch)
    lots = small_world.lots
    cut = pd.Timestamp("2024-01-01")
    upsert_lots(engine, lots[pd.to_datetime(lots["sale_date"]) < cut], "2024-01-01")
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert (res.mode, res.backend) == ("built", "pgvector")
    n0, oid0 = _pg_rows(engine)
    assert n0 == len(index)
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert (res.mode, res.backend) == ("unchanged", "pgvector") and _pg_rows(engine) == (n0, oid0)

    upsert_lots(engine, lots, "2026-10-01")
    index, res = refresh_index(engine, settings, hashing_embedder)
    new_sold = int(((lots["status"] == "sold") & (pd.to_datetime(lots["sale_date"]) >= cut)).sum())
    assert (res.mode, res.backend, res.added) == ("incremental", "pgvector", new_sold)
    assert _pg_rows(engine) == (n0 + new_sold, oid0)  # rows added to the same table, not rebuilt
    # the new sales are found through pgvector, with the same answers as usearch
    lot = _lot_with_history(read_lots(engine), 4)
    assert pd.Timestamp(lot["sale_date"]) >= cut
    got = index.query_lots(lot.to_frame().T, hashing_embedder, k=8)[0]
    want = ComparablesIndex.load(index_dir(settings)).query_lots(lot.to_frame().T, hashing_embedder, k=8)[0]
    assert [c.lot_ref for c in got] == [c.lot_ref for c in want]
    assert index.ann.state()[:2] == (len(index), index.ann.digest(index.refs))  # keys and lot refs in order
    for key in range(n0, n0 + new_sold, max(1, new_sold // 10)):  # each new sale is its own nearest neighbour
        m = index.ann.search(index.vectors[key], 1)
        assert list(m.keys) == [key] and m.distances[0] < 1e-6

    # a stored sale changes: the index is rebuilt, and so is the table
    changed = lots[lots["status"] == "sold"].head(1).copy()
    changed["hammer_usd"] = changed["hammer_usd"] * 2
    upsert_lots(engine, changed, "2026-10-02")
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert (res.mode, res.backend) == ("built", "pgvector")
    assert _pg_rows(engine)[0] == len(index) == n0 + new_sold


def test_pgvector_comparables_are_index_adjusted(pgvector_url, small_world, tmp_path, monkeypatch,
                                                 hashing_embedder):
    from warehouse.loaders import upsert_lots
    from warehouse.schema import fact_price_index

    settings, engine = _pg_warehouse(pgvector_url, tmp_path, monkeypatch)
    upsert_lots(engine, small_world.lots, "2026-10-01")
    rows = [{"index_kind": "hedonic", "frequency": "month", "segment_type": "all", "segment": "all",
             "period_start": d.date(), "period": d.strftime("%Y-%m"), "index_value": 100 * math.exp(0.01 * i),
             "log_index": 0.01 * i, "is_gap": False}
            for i, d in enumerate(pd.date_range("2015-01-01", "2026-12-01", freq="MS"))]
    with engine.begin() as conn:
        conn.execute(fact_price_index.insert(), rows)
    index, res = refresh_index(engine, settings, hashing_embedder)
    assert res.backend == "pgvector" and "fact_price_index" in index.price_index.source
    lot = _lot_with_history(read_lots(engine), 4)
    comps = index.query_lots(lot.to_frame().T, hashing_embedder, k=6)[0]
    assert len(comps) == 6
    for c in comps:
        months = (pd.Timestamp(lot["sale_date"]).to_period("M") - pd.Timestamp(c.sale_date).to_period("M")).n
        want = math.exp(0.01 * months)
        assert months > 0 and c.index_ratio == pytest.approx(want, rel=1e-3)
        assert c.adjusted_usd == pytest.approx(c.hammer_usd * c.index_ratio, rel=1e-3)


@pytest.mark.slow
def test_minilm_embeddings_mean_pooled_and_cached(tmp_path):
    emb = make_embedder("minilm", cache_dir=tmp_path)
    texts = ["Pablo Picasso (Spanish, 1881-1973). Femme assise. Oil on canvas. 33 x 24 cm.",
             "Pablo Picasso (Spanish, 1881-1973). Femme au chapeau. Oil on canvas. 35 x 27 cm.",
             "Andy Warhol (American, 1928-1987). Marilyn. Screenprint in colours. 91 x 91 cm."]
    v = emb.embed(texts)
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    again = make_embedder("minilm", cache_dir=tmp_path)
    assert np.allclose(again.embed(texts), v) and again.hits == 3 and again.misses == 0


def test_embedding_budget_embeds_newest_sales_first_and_the_rest_later(world_warehouse, hashing_embedder,
                                                                       monkeypatch):
    """A warehouse arriving with many unseen sales is embedded over several refreshes: under a budget the newest
    sales go in first, the rest on later refreshes, and budget 0 only uses texts already cached."""
    from gbv.market.comps import EMBED_BUDGET_ENV, embed_budget_from_env

    settings, engine, lots = world_warehouse
    sold = lots[(lots["status"] == "sold") & (lots["hammer_usd"] > 0)]
    index, res = refresh_index(engine, settings, hashing_embedder, budget_s=0)
    assert res.mode == "built" and len(index) == 0  # nothing cached yet: nothing embedded

    hashing_embedder.chunk = 50
    slow = hashing_embedder.inner.embed
    monkeypatch.setattr(hashing_embedder.inner, "embed", lambda texts: (time.sleep(0.05), slow(texts))[1])
    index, res = refresh_index(engine, settings, hashing_embedder, budget_s=0.01)  # one chunk, then stop
    assert res.mode == "incremental" and res.added == len(index) == 50
    newest = sold.sort_values("sale_date", ascending=False, kind="stable")
    cutoff = newest["sale_date"].iloc[49]
    assert (pd.to_datetime(index.meta["sale_date"]) >= pd.Timestamp(cutoff)).all()

    index, res = refresh_index(engine, settings, hashing_embedder, budget_s=None)  # no cap: all the rest
    assert res.mode == "incremental" and len(index) == len(sold) and res.added == len(sold) - 50
    assert refresh_index(engine, settings, hashing_embedder, budget_s=0)[1].mode == "unchanged"

    monkeypatch.setenv(EMBED_BUDGET_ENV, "none")
    assert embed_budget_from_env() is None
    monkeypatch.setenv(EMBED_BUDGET_ENV, "12.5")
    assert embed_budget_from_env() == 12.5
    monkeypatch.setenv(EMBED_BUDGET_ENV, "soon")
    with pytest.raises(ValueError, match=EMBED_BUDGET_ENV):
        embed_budget_from_env()
