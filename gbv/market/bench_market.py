"""``gbv bench market``: comparables, buyer recommendations and market alerts, measured side by side.

::

    gbv bench market [--real-home HOME] [--cache-dir DIR] [--embed-budget-s S] [--json OUT.json]
                     [--alert-seeds 7,11] [--drift-perms 50]
                     [--backend pgvector [--pg-queries N]]

(a) **Comparables on real data** (the vendor exports in ``GBV_SHARED_AUCTIONS``; imported into a temporary
    GBV_HOME unless ``--real-home`` names a home that already holds them; one row per lot across sources as in
    ``gbv bench model``). Every sold lot from 2016 on is estimated from sales strictly before its sale date by
    the median of its k index-adjusted comparables, the median of the artist's earlier sales, and the LightGBM
    baseline trained on sales before 2016; MdALE (median |log estimate / hammer|) on the lots each method can
    estimate and on the lots all can. The price index is :meth:`PriceIndex.fit_simple` on the data (the level
    of the month before the sale is used, as a published index would be). Then the query latency (p50/p99 of
    one query: same-artist scan, ANN search, filtering and index adjustment) over 10,000 queries drawn from the
    2016+ lots against the index of every sold lot, and the index build time (embeddings cached). With
    ``--backend pgvector`` the first ``--pg-queries`` of those queries are also timed with the ANN search on
    pgvector (a local PostgreSQL server, :mod:`gbv.market.pglocal`), beside usearch on the same queries.
(b) **Recommendations on the demo world** (:mod:`gbv.demo.collectors`): trained on bids before 2025-01-01 house
    by house, judged on the winners of the sales from then to the world's night: recall@10 and NDCG@10, hybrid vs
    popularity vs content-only vs ALS alone, lots by artists new to the house reported apart.
(c) **Alerts on real 2016 sales**: the alert code run night by night (7-day windows) over 2016, once on the real
    data (how many alerts a normal night raises) and once per ``--alert-seeds`` seed on a copy with planted
    anomalies (price spikes x5-x20 on random sold lots; resales of a work 2-6 months after its sale at x3-x8 up
    or down); recall per planted kind and detector, the spikes missed, precision of the lot alerts (and against
    the alerts the normal run already raised). Valuations are the LightGBM baseline's (trained before 2016)
    estimate and 80% range. ``estimate_drift_null``: drift alerts per night on the real model-vs-estimate gaps
    and on the gaps shuffled across the lots of each house and night (``--drift-perms`` shuffles), the
    false-alarm rate of the drift thresholds.

Embeddings (MiniLM, :data:`gbv.market.comps.TEXT_MAX_LENGTH` tokens) are cached by text hash in ``--cache-dir``;
with ``--embed-budget-s`` only the texts embedded within the budget are used and the subset is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

CUT = pd.Timestamp("2016-01-01")
K = 10
N_QUERIES = 10_000


def shared_auctions() -> Path:
    from gbv.identity import DEFAULT_SHARED_AUCTIONS

    return Path(os.environ.get("GBV_SHARED_AUCTIONS") or DEFAULT_SHARED_AUCTIONS)


def load_real_lots(real_home: str | None) -> tuple[pd.DataFrame, str]:
    """Real lots (sold and bought in, one row per lot across sources) from a home's warehouse, importing the
    shared vendor exports into a temporary home first when none is given."""
    from dataclasses import replace

    from gbv.settings import get_settings
    from model.bench import dedupe_sources
    from warehouse.db import dispose_engines, get_engine
    from warehouse.io import read_lots

    settings = get_settings()
    if real_home:
        home = Path(real_home).resolve()
        settings = replace(settings, home=home, warehouse_url=f"duckdb:///{home / 'warehouse.duckdb'}")
        where = f"warehouse of {home}"
    else:
        src = shared_auctions()
        if not src.exists():
            raise FileNotFoundError(f"real auction data not found at {src} (set GBV_SHARED_AUCTIONS): the real-data "
                                    f"parts of the benchmark are skipped")
        from gbv.importers.pipeline import run_import

        home = Path(tempfile.mkdtemp(prefix="gbv-bench-market-"))
        settings = replace(settings, home=home, warehouse_url=f"duckdb:///{home / 'warehouse.duckdb'}")
        settings.ensure_dirs()
        t = time.perf_counter()
        run_import(settings, "auto", src, dt.date.today().isoformat(), shared_auctions=src)
        where = f"imported from {src} into {home} in {time.perf_counter() - t:.0f} s"
    lots = read_lots(get_engine(settings))
    dispose_engines()
    lots = lots[lots["status"].isin(["sold", "bought_in"])].copy()
    lots = dedupe_sources(lots.sort_values(["sale_date", "lot_ref"], kind="stable").reset_index(drop=True))
    return lots, where


def mdale(pred: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    ok = np.isfinite(pred) & np.isfinite(y)
    return (float(np.median(np.abs(pred[ok] - y[ok]))) if ok.any() else math.nan), int(ok.sum())


def fit_model(lots: pd.DataFrame, seed: int = 7):  # noqa: ANN201
    from model.baseline import LightGBMValuer

    before = lots[pd.to_datetime(lots["sale_date"]) < CUT].reset_index(drop=True)
    t = time.perf_counter()
    valuer = LightGBMValuer(seed=seed).fit(before, before)
    return valuer, time.perf_counter() - t


# ---- (a) comparables --------------------------------------------------------------------------------------------

def bench_comps(lots: pd.DataFrame, embedder, valuer, args: argparse.Namespace) -> dict:  # noqa: ANN001
    from gbv.market.comps import ComparablesIndex, PriceIndex, _days, _month, _sold, lot_texts
    from model.features import log_hammer_usd

    sold = _sold(lots)
    t = time.perf_counter()
    text = embedder.embed(lot_texts(sold), budget_s=args.embed_budget_s)
    embed_s = time.perf_counter() - t
    embedded = np.isfinite(text).all(axis=1)
    sold = sold[embedded].reset_index(drop=True)
    pindex = PriceIndex.fit_simple(sold)
    t = time.perf_counter()
    index = ComparablesIndex.build(sold, embedder, pindex)
    prolific = index.warm()  # the per-artist HNSW indexes of prolific artists, counted in the build time
    build_s = time.perf_counter() - t
    q_mask = pd.to_datetime(index.meta["sale_date"]) >= CUT
    q_rows = np.flatnonzero(q_mask.to_numpy())
    y = np.log(index.price[q_rows])
    day = index.days[q_rows]
    comp_est, comp_raw, artist_est, n_same = (np.full(len(q_rows), np.nan) for _ in range(4))
    for j, r in enumerate(q_rows):
        found = index.search_rows(index.vectors[r], int(day[j]), K, artist_id=index.artist_ids[r],
                                  exclude=index.refs[r])
        if found:
            rows = np.array([f[0] for f in found])
            to_month = int(index.months[r]) - 1  # the index as published the month before the sale
            ratio = pindex.ratios(index.months[rows], to_month, index.segments[rows])
            comp_est[j] = np.log(np.median(index.price[rows] * ratio))
            comp_raw[j] = np.log(np.median(index.price[rows]))
            n_same[j] = sum(1 for f in found if f[1])
        same = index.artist_rows(index.artist_ids[r], None)
        same = same[(index.days[same] < day[j])]
        if len(same):
            artist_est[j] = np.log(np.median(index.price[same]))
    test = index.meta.iloc[q_rows]
    full = lots.drop_duplicates("lot_ref").set_index("lot_ref")
    test_lots = full.loc[test["lot_ref"]].reset_index()
    pred = valuer.predict(test_lots, lots)["pred_log_usd"].to_numpy(dtype=float)
    y_check = log_hammer_usd(test_lots).to_numpy()
    assert np.allclose(y, y_check, equal_nan=True)
    all_ok = np.isfinite(comp_est) & np.isfinite(artist_est) & np.isfinite(pred)
    methods = {f"comparables median (k={K}, index-adjusted)": comp_est,
               f"comparables median (k={K}, unadjusted)": comp_raw,
               "same-artist median (earlier sales)": artist_est,
               "model (LightGBM baseline, trained < 2016)": pred}
    res: dict = {"n_sold_indexed": len(index), "n_sold_total": int(len(embedded)),
                 "n_queries_2016_on": len(q_rows), "embed_seconds": round(embed_s, 1),
                 "embedder": index.embedder_name, "index_build_seconds": round(build_s, 2),
                 "prolific_artists_with_own_index": prolific,
                 "price_index": pindex.source, "mdale": {}, "mdale_common": {}, "n_common": int(all_ok.sum()),
                 "share_with_same_artist_comps": float(np.nanmean(n_same > 0))}
    for name, est in methods.items():
        m, n = mdale(est, y)
        res["mdale"][name] = {"mdale": round(m, 4), "n": n}
        res["mdale_common"][name] = round(mdale(est[all_ok], y[all_ok])[0], 4)
    # latency: one query at a time, the vectors of lots sold from 2016 on, against the whole index
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(q_rows, size=N_QUERIES, replace=len(q_rows) < N_QUERIES)
    times, _ = timed_queries(index, picks)
    res["latency_ms"] = {"p50": round(float(np.percentile(times, 50)) * 1e3, 3),
                         "p99": round(float(np.percentile(times, 99)) * 1e3, 3),
                         "mean": round(float(times.mean()) * 1e3, 3), "queries": N_QUERIES,
                         "distinct_query_lots": int(len(set(picks.tolist())))}
    if getattr(args, "backend", "usearch") == "pgvector":
        res["pgvector"] = bench_pgvector_latency(index, picks, args)
    _ = (_days, _month)
    return res


def timed_queries(index, picks: np.ndarray) -> tuple[np.ndarray, list[list[str]]]:  # noqa: ANN001
    """One query at a time for each row of ``picks`` (its own vector, date and artist, itself excluded): the
    seconds of each (search + description) and the lot refs found."""
    times, answers = np.empty(len(picks)), []
    for i, r in enumerate(picks):
        t0 = time.perf_counter()
        found = index.search_rows(index.vectors[r], int(index.days[r]), K, artist_id=index.artist_ids[r],
                                  exclude=index.refs[r])
        index.describe(found, index.meta.at[r, "sale_date"])
        times[i] = time.perf_counter() - t0
        answers.append([index.refs[f[0]] for f in found])
    return times, answers


def bench_pgvector_latency(index, picks: np.ndarray, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """The same queries with the ANN half on pgvector (HNSW in a local PostgreSQL 16 + pgvector from the
    ``pgserver`` package, :class:`gbv.market.pglocal.LocalPostgres`, over TCP on 127.0.0.1): table load + HNSW
    build time, p50/p99 of the first ``--pg-queries`` of the usearch picks, and how often the k comparables
    are the same lots as on usearch."""
    from sqlalchemy import create_engine

    from gbv.market.comps import PgVectorANN
    from gbv.market.pglocal import LocalPostgres

    n = min(int(args.pg_queries), len(picks))
    picks = picks[:n]
    usearch_ann = index.ann

    def run_queries() -> tuple[np.ndarray, list[list[str]]]:
        return timed_queries(index, picks)

    u_times, u_answers = run_queries()
    with LocalPostgres() as server:
        engine = create_engine(server.url)
        try:
            t = time.perf_counter()
            ann = PgVectorANN(engine, index.vectors.shape[1])
            ann.sync(index.refs, index.vectors)
            load_s = time.perf_counter() - t
            index.ann = ann
            ann.search(index.vectors[picks[0]], 64)  # one warm-up query (connection, plan)
            p_times, p_answers = run_queries()
            with engine.connect() as conn:
                version = conn.exec_driver_sql("SELECT current_setting('server_version') || ' + pgvector ' || "
                                               "extversion FROM pg_extension WHERE extname = 'vector'").scalar()
        finally:
            index.ann = usearch_ann
            engine.dispose()

    def lat(times: np.ndarray) -> dict:
        return {"p50": round(float(np.percentile(times, 50)) * 1e3, 3),
                "p99": round(float(np.percentile(times, 99)) * 1e3, 3), "mean": round(float(times.mean()) * 1e3, 3)}

    same = sum(a == b for a, b in zip(p_answers, u_answers, strict=True))
    return {"server": f"PostgreSQL {version} (local, TCP 127.0.0.1, psycopg 3)", "queries": n,
            "load_and_hnsw_build_seconds": round(load_s, 2), "latency_ms": lat(p_times),
            "usearch_latency_ms_same_queries": lat(u_times), "same_comparables_as_usearch": round(same / n, 4)}


# ---- (b) recommendations ------------------------------------------------------------------------------------------

def bench_recommend(embedder, args: argparse.Namespace) -> dict:  # noqa: ANN001
    from gbv.demo.collectors import grow_collectors
    from gbv.demo.world import generate_world
    from gbv.market.recommend import evaluate

    world = generate_world(n_lots=args.demo_lots, seed=args.seed)
    collectors = grow_collectors(world, seed=args.seed)
    t = time.perf_counter()
    table = evaluate(world, collectors, args.rec_cutoff, embedder=embedder,
                     methods=("hybrid", "popularity", "content", "cf"))
    return {"world": f"{args.demo_lots} lots, seed {args.seed}; {len(collectors.clients)} clients, "
                     f"{len(collectors.bids)} bids", "cutoff": args.rec_cutoff, "until": str(world.as_of),
            "seconds": round(time.perf_counter() - t, 1), "table": table.round(4).to_dict("records")}


# ---- (c) alerts --------------------------------------------------------------------------------------------------

def _valuations(valuer, lots: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    p = valuer.predict(window, lots)
    day_before = (pd.to_datetime(window["sale_date"]) - pd.Timedelta(days=1)).dt.date.to_numpy()
    return pd.DataFrame({"run_date": day_before, "lot_ref": window["lot_ref"].to_numpy(),
                         "estimate_usd": np.exp(p["pred_log_usd"].to_numpy(dtype=float)),
                         "low_usd": np.exp(p["low_log_usd"].to_numpy(dtype=float)),
                         "high_usd": np.exp(p["high_log_usd"].to_numpy(dtype=float))})


def plant(lots: pd.DataFrame, seed: int, n_spikes: int = 60, n_resales: int = 40
          ) -> tuple[pd.DataFrame, set[str], set[str]]:
    """A copy of ``lots`` with price spikes on random 2016 sold lots and quick resales at abnormal returns."""
    from gbv.market.index import is_multiple

    rng = np.random.default_rng(seed)
    df = lots.copy().reset_index(drop=True)
    d = pd.to_datetime(df["sale_date"])
    sold = (df["status"] == "sold") & (pd.to_numeric(df["hammer_usd"], errors="coerce") > 0)
    cand = np.flatnonzero((sold & (d >= CUT) & (d < pd.Timestamp("2017-01-01"))).to_numpy())
    spikes = rng.choice(cand, size=min(n_spikes, len(cand)), replace=False)
    factor = np.exp(rng.uniform(math.log(5), math.log(20), len(spikes)))
    for col in ("hammer_usd", "hammer_price"):
        df.loc[spikes, col] = df.loc[spikes, col].astype(float) * factor
    spike_refs = set(df.loc[spikes, "lot_ref"].astype(str))
    h = pd.to_numeric(df["height_cm"], errors="coerce")
    w = pd.to_numeric(df["width_cm"], errors="coerce")
    unique = np.array([not is_multiple(m, md, e) for m, md, e in zip(df["medium_class"], df["medium"],
                                                                      df["edition"], strict=True)])
    ok = (sold & (d >= pd.Timestamp("2015-08-01")) & (d < pd.Timestamp("2016-06-30")) & (h > 0) & (w > 0)
          & df["title"].fillna("").str.strip().ne("") & unique & ~df.index.isin(spikes))
    origins = rng.choice(np.flatnonzero(ok.to_numpy()), size=min(n_resales, int(ok.sum())), replace=False)
    new_rows, resale_refs = [], set()
    for i, o in enumerate(origins):
        row = df.loc[o].copy()
        when = pd.Timestamp(row["sale_date"]) + pd.Timedelta(days=int(rng.integers(60, 180)))
        when = min(max(when, CUT + pd.Timedelta(days=7)), pd.Timestamp("2016-12-20"))
        up = rng.random() < 0.7
        f = math.exp(rng.uniform(math.log(3), math.log(8))) ** (1 if up else -1)
        row["lot_ref"] = f"PLANT-RESALE-{i:03d}"
        row["sale_id"] = f"PLANT-{when.date()}"
        row["sale_date"] = when.date()
        row["lot_number"] = 9000 + i
        row["artwork_id"] = f"{row['artwork_id']}"
        for col in ("hammer_usd", "hammer_price"):
            row[col] = float(row[col]) * f
        new_rows.append(row)
        resale_refs.add(row["lot_ref"])
    df = pd.concat([df, pd.DataFrame(new_rows)], ignore_index=True)
    df["sale_date"] = pd.to_datetime(df["sale_date"]).dt.date
    return df.sort_values(["sale_date", "lot_ref"], kind="stable").reset_index(drop=True), spike_refs, resale_refs


def _nights(lots: pd.DataFrame):  # noqa: ANN202
    """(start, window) of each 7-day window of 2016 with sales."""
    d = pd.to_datetime(lots["sale_date"])
    start = CUT
    while start < pd.Timestamp("2017-01-01"):
        end = start + pd.Timedelta(days=7)
        window = lots[(d >= start) & (d < end)]
        if len(window):
            yield start, window
        start = end


def nightly_alerts(lots: pd.DataFrame, valuer, embedder) -> tuple[pd.DataFrame, list[int], pd.DataFrame]:  # noqa: ANN001
    """Alerts of 2016 night by night (7-day windows); alerts per night with sales; the valuations used."""
    from gbv.market.alerts import detect_alerts
    from gbv.market.comps import ComparablesIndex, PriceIndex

    d = pd.to_datetime(lots["sale_date"])
    pindex = PriceIndex.fit_simple(lots[d < CUT])
    index = ComparablesIndex.build(lots, embedder, pindex)
    window_all = lots[(d >= CUT) & (d < pd.Timestamp("2017-01-01"))]
    valuations = _valuations(valuer, lots, window_all)
    out, per_night = [], []
    for start, window in _nights(lots):
        a = detect_alerts(window, lots[d < start], valuations, start, index, embedder, pindex)
        out.append(a)
        per_night.append(len(a))
    alerts = pd.concat(out, ignore_index=True) if out else pd.DataFrame()
    return alerts, per_night, valuations


def drift_null(lots: pd.DataFrame, valuations: pd.DataFrame, n_perm: int = 50, seed: int = 0) -> dict:
    """estimate_drift alerts per night on the real model-vs-estimate gaps, and under the null of no artist- or
    medium-specific drift: the gaps log(house mid / model) shuffled across the lots of each house and night
    (``n_perm`` shuffles); thresholds as in :mod:`gbv.market.alerts`."""
    from gbv.market import alerts as al

    rng = np.random.default_rng(seed)
    latest = valuations.sort_values("run_date").drop_duplicates("lot_ref", keep="last")
    real, null = [], []
    for _start, window in _nights(lots):
        df = window.merge(latest[["lot_ref", "estimate_usd"]], on="lot_ref", how="inner")
        mid = al._house_mid(df).to_numpy(dtype=float)
        gap = np.log(mid / df["estimate_usd"].to_numpy(dtype=float))
        ok = np.isfinite(gap)
        df, mid, gap = df[ok].drop(columns="estimate_usd"), mid[ok], gap[ok]
        vals = pd.DataFrame({"run_date": CUT, "lot_ref": df["lot_ref"].to_numpy(), "estimate_usd": mid / np.exp(gap)})
        kinds = pd.Series([e for a in al.drift_alerts(df, vals) for e in [json.loads(a["evidence"])["group"]]],
                          dtype=object)
        real.append((int(kinds.str.startswith("artist").sum()), int(kinds.str.startswith("segment").sum())))
        houses = df["house"].to_numpy()
        idx = [np.flatnonzero(houses == h) for h in np.unique(houses)]
        for _ in range(n_perm):
            shuffled = gap.copy()
            for ix in idx:
                shuffled[ix] = gap[rng.permutation(ix)]
            found = al.drift_alerts(df, vals.assign(estimate_usd=mid / np.exp(shuffled)))
            groups = [json.loads(a["evidence"])["group"] for a in found]
            null.append((sum(g.startswith("artist") for g in groups), sum(g.startswith("segment") for g in groups)))
    real_a, null_a = np.array(real).reshape(-1, 2), np.array(null).reshape(-1, 2)
    return {
        "thresholds": {"artist (min lots, min |median log|)": [al.DRIFT_ARTIST[0], round(al.DRIFT_ARTIST[1], 4)],
                       "segment (min lots, min |median log|)": [al.DRIFT_SEGMENT[0], round(al.DRIFT_SEGMENT[1], 4)],
                       "same side": al.DRIFT_SAME_SIDE, "min other lots of the house": al.DRIFT_MIN_REST},
        "nights": len(real), "shuffles_per_night": n_perm,
        "real_per_night": {"artist": round(float(real_a[:, 0].mean()), 3),
                           "segment": round(float(real_a[:, 1].mean()), 3)},
        "null_per_night": {"artist": round(float(null_a[:, 0].mean()), 3),
                           "segment": round(float(null_a[:, 1].mean()), 3)},
        "null_over_real": round(float(null_a.sum(axis=1).mean() / max(real_a.sum(axis=1).mean(), 1e-9)), 3),
    }


def bench_alerts(lots: pd.DataFrame, valuer, embedder, args: argparse.Namespace) -> dict:  # noqa: ANN001
    t = time.perf_counter()
    normal, per_night, valuations = nightly_alerts(lots, valuer, embedder)
    normal_s = time.perf_counter() - t
    lot_types = ("surprise_result", "above_comparables", "suspicious_resale", "price_spike")
    res = {
        "nights_with_sales": len(per_night),
        "normal_alerts_per_night": {"mean": round(float(np.mean(per_night)), 2),
                                    "median": float(np.median(per_night)), "max": int(np.max(per_night))},
        "normal_alerts_by_type": normal["alert_type"].value_counts().to_dict(),
        "normal_alerts_by_severity": normal["severity"].value_counts().to_dict(),
        "normal_seconds": round(normal_s, 1),
        "estimate_drift_null": drift_null(lots, valuations, n_perm=args.drift_perms),
        "planted": {},
    }
    for seed in [int(x) for x in str(args.alert_seeds or args.seed).split(",")]:
        planted, spikes, resales = plant(lots, seed)
        marked, _, _ = nightly_alerts(planted, valuer, embedder)
        lot_alerts = marked[marked["alert_type"].isin(lot_types)]
        hit_refs = lot_alerts.groupby("alert_type")["lot_ref"].apply(set).to_dict()
        all_hit = set(lot_alerts["lot_ref"])
        planted_refs = spikes | resales
        new = lot_alerts[~lot_alerts["alert_id"].isin(set(normal["alert_id"]))]
        recall = {"price_spikes (any alert)": round(len(spikes & all_hit) / max(len(spikes), 1), 3)}
        for kind in ("surprise_result", "above_comparables", "price_spike"):
            recall[f"price_spikes ({kind})"] = round(len(spikes & hit_refs.get(kind, set())) / max(len(spikes), 1), 3)
        recall["abnormal_resales (suspicious_resale)"] = round(
            len(resales & hit_refs.get("suspicious_resale", set())) / max(len(resales), 1), 3)
        res["planted"][f"seed {seed}"] = {
            "price_spikes": len(spikes), "abnormal_resales": len(resales), "recall": recall,
            "missed_spikes": sorted(spikes - all_hit),
            "precision": {
                "lot alerts on planted lots / all lot alerts": round(
                    float(lot_alerts["lot_ref"].isin(planted_refs).mean()) if len(lot_alerts) else math.nan, 3),
                "lot alerts on planted lots / alerts new vs the normal run": round(
                    float(new["lot_ref"].isin(planted_refs).mean()) if len(new) else math.nan, 3),
                "n_lot_alerts": len(lot_alerts), "n_new_vs_normal": len(new),
            },
        }
    return res


# ---- the command -------------------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict:
    from gbv.market.comps import CachedEmbedder, MiniLMEmbedder, make_embedder
    from gbv.settings import get_settings

    cache = Path(args.cache_dir) if args.cache_dir else get_settings().home / "cache" / "embeddings"
    embedder = make_embedder(args.embedder, cache_dir=cache) if args.embedder != "minilm" else \
        CachedEmbedder(MiniLMEmbedder(), cache)
    results: dict = {"embedder": embedder.name, "cache_dir": str(cache)}
    parts = set(args.parts.split(","))
    lots = valuer = None
    if parts & {"comps", "alerts"}:
        try:
            lots, where = load_real_lots(args.real_home)
        except FileNotFoundError as exc:
            print(f"skipped comps and alerts: {exc}")
            parts -= {"comps", "alerts"}
        else:
            results["real_data"] = (f"{where}: {len(lots):,} lots (sold + bought in, one per lot), "
                                    f"{int((lots['status'] == 'sold').sum()):,} sold")
            print(results["real_data"], flush=True)
            valuer, fit_s = fit_model(lots, args.seed)
            results["model_train_seconds"] = round(fit_s, 1)
    if "comps" in parts:
        results["comps"] = bench_comps(lots, embedder, valuer, args)
        print(json.dumps(results["comps"], indent=1), flush=True)
    if "recommend" in parts:
        results["recommend"] = bench_recommend(embedder, args)
        print(pd.DataFrame(results["recommend"]["table"]).to_string(index=False), flush=True)
    if "alerts" in parts:
        real = lots[pd.to_datetime(lots["sale_date"]) < pd.Timestamp("2017-01-01")].reset_index(drop=True)
        results["alerts"] = bench_alerts(real, valuer, embedder, args)
        print(json.dumps(results["alerts"], indent=1, default=str), flush=True)
    return results


def cmd_bench_market(args: argparse.Namespace) -> int:
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n")
        print(f"-> {args.json}")
    return 0


def register(subparsers) -> None:  # noqa: ANN001
    bench = subparsers.choices.get("bench")
    if bench is None:
        bench = subparsers.add_parser("bench", help="benchmarks")
        bench.add_subparsers(dest="bench", required=True)
    group = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
    p = group.add_parser("market", help="comparables (real data), recommendations (demo world), alerts (planted "
                                        "anomalies in real 2016 sales)")
    p.add_argument("--parts", default="comps,recommend,alerts")
    p.add_argument("--real-home", help="a GBV_HOME whose warehouse already holds the imported real data")
    p.add_argument("--cache-dir", help="embedding cache (default $GBV_HOME/cache/embeddings)")
    p.add_argument("--embed-budget-s", type=float, help="embed new texts for at most this long; use the subset")
    p.add_argument("--embedder", default="minilm", choices=("minilm", "hashing"))
    p.add_argument("--demo-lots", type=int, default=3000)
    p.add_argument("--rec-cutoff", default="2025-01-01")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--alert-seeds", help="comma-separated seeds of the planted alert runs (default --seed)")
    p.add_argument("--drift-perms", type=int, default=50, help="shuffles per night of the estimate_drift null check")
    p.add_argument("--backend", default="usearch", choices=("usearch", "pgvector"),
                   help="pgvector: also time the comparables queries with the ANN on pgvector (a local PostgreSQL "
                        "with pgvector from the pgserver package, dev extra)")
    p.add_argument("--pg-queries", type=int, default=1000, help="with --backend pgvector: queries timed on it")
    p.add_argument("--json", help="also write the results here")
    p.set_defaults(func=cmd_bench_market)
