"""The index estimators against a planted market: a known monthly index, a gap month, repeat sales."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gbv.market.index import (
    IndexInputError,
    build_indices,
    impression,
    match_repeat_sales,
    prepare_sales,
    repeat_sale_pairs,
    repeat_sales_fit,
)

MONTHS = pd.date_range("2018-01-01", periods=36, freq="MS")
GAP = pd.Timestamp("2019-08-01")  # the planted market holds no sale in this month


def true_log_index(seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.01, 0.04, len(MONTHS)))
    return pd.Series(walk - walk[0], index=MONTHS)


def planted_sales(n: int = 4000, seed: int = 2, noise: float = 0.15) -> tuple[pd.DataFrame, pd.Series]:
    """Hedonic sales: artist level + 0.5 log area + medium effect + the month's index + noise."""
    rng = np.random.default_rng(seed)
    truth = true_log_index()
    months = MONTHS[MONTHS != GAP]
    n_artists = 120
    level = rng.normal(9.5, 1.2, n_artists)
    artist = rng.integers(0, n_artists, n)
    month = months[rng.integers(0, len(months), n)]
    h, w = rng.uniform(20, 150, n), rng.uniform(20, 150, n)
    medium = rng.choice(["painting", "work_on_paper", "sculpture"], n)
    m_eff = pd.Series({"painting": 0.0, "work_on_paper": -1.0, "sculpture": -0.3})[medium].to_numpy()
    log_price = level[artist] + 0.5 * np.log(h * w / 5000) + m_eff + truth[month].to_numpy() \
        + rng.normal(0, noise, n)
    days = rng.integers(0, 27, n)
    sales = pd.DataFrame({
        "lot_ref": [f"L{i:05d}" for i in range(n)], "artist_id": [f"A{a:03d}" for a in artist],
        "sale_date": month + pd.to_timedelta(days, unit="D"), "hammer_usd": np.exp(log_price),
        "medium_class": medium, "height_cm": h, "width_cm": w, "sale_location": "London",
        "estimate_low_usd": np.exp(log_price) * 0.8, "estimate_high_usd": np.exp(log_price) * 1.2,
        "title": [f"Work {i}" for i in range(n)], "year_created": 1990, "medium": "Oil on canvas", "edition": None,
    })
    return sales, truth


def series(index: pd.DataFrame, kind: str, freq: str, seg_type: str = "all", seg: str = "all") -> pd.DataFrame:
    s = index[(index.index_kind == kind) & (index.frequency == freq) & (index.segment_type == seg_type)
              & (index.segment == seg)]
    return s.set_index(pd.to_datetime(s["period_start"]))


def test_hedonic_index_recovers_the_planted_index_and_keeps_the_gap():
    sales, truth = planted_sales()
    build = build_indices(sales)
    monthly = series(build.index, "hedonic", "month")
    assert list(monthly.index) == list(MONTHS)  # every month of the range, the gap included
    gap = monthly.loc[GAP]
    assert bool(gap["is_gap"]) and pd.isna(gap["index_value"]) and gap["gap_reason"] == "no sales in this period"
    assert pd.isna(monthly.loc[GAP, "ci90_low"]) and pd.isna(monthly.loc[GAP, "ci90_high"])
    est = monthly[~monthly["is_gap"].astype(bool)]
    want = (truth - truth.iloc[0])[est.index]
    err = np.abs(np.log(est["index_value"].astype(float) / 100) - want)
    assert err.max() < 0.05, err.sort_values().tail()
    # 90% bands: they hold the truth most of the time, and are bands, not points
    covered = (est["ci90_low"] <= 100 * np.exp(want)) & (100 * np.exp(want) <= est["ci90_high"])
    assert covered.mean() >= 0.75
    assert (est["ci90_high"] - est["ci90_low"]).iloc[1:].gt(0).all()
    assert est["index_value"].iloc[0] == pytest.approx(100.0)


def test_segments_and_quarters_are_estimated_and_a_thin_segment_is_all_gaps():
    sales, truth = planted_sales()
    sales.loc[sales.index[:3], "medium_class"] = "photograph"  # three single sales: nothing comparable
    build = build_indices(sales)
    quarterly = series(build.index, "hedonic", "quarter")
    assert len(quarterly) == 12 and not quarterly["is_gap"].astype(bool).any()
    q_truth = truth.groupby(truth.index.to_period("Q")).mean()
    est = np.log(quarterly["index_value"].astype(float).to_numpy() / 100)
    assert np.abs(est - (q_truth - q_truth.iloc[0]).to_numpy()).max() < 0.06
    paintings = series(build.index, "hedonic", "month", "medium_class", "painting")
    ok = paintings[~paintings["is_gap"].astype(bool)]
    want = (truth - truth.iloc[0])[ok.index]
    assert np.abs(np.log(ok["index_value"].astype(float) / 100) - want).max() < 0.12
    photo = series(build.index, "hedonic", "month", "medium_class", "photograph")
    assert photo["is_gap"].astype(bool).all() and photo["index_value"].isna().all()
    assert set(build.index["segment_type"]) == {"all", "medium_class", "region", "price_tier"}


def repeat_sale_world(n_works: int = 700, seed: int = 5) -> tuple[pd.DataFrame, pd.Series]:
    """Works sold two or three times; price = work value x exp(index) x noise growing with the holding time."""
    rng = np.random.default_rng(seed)
    truth = true_log_index()
    months = MONTHS[MONTHS != GAP]
    rows = []
    for i in range(n_works):
        value = rng.normal(10, 1)
        k = rng.integers(2, 4)
        picks = np.sort(rng.choice(len(months), size=k, replace=False))
        drift = 0.0
        for j in picks:
            drift += rng.normal(0, 0.05)
            m = months[j]
            rows.append({"lot_ref": f"W{i:04d}-{j:02d}", "artist_id": f"A{i % 50:02d}",
                         "sale_date": m + pd.Timedelta(days=10), "hammer_usd": float(np.exp(value + truth[m] + drift)),
                         "medium_class": "painting", "height_cm": 50.0 + i % 40, "width_cm": 60.0 + i // 40,
                         "sale_location": "New York", "estimate_low_usd": None, "estimate_high_usd": None,
                         "title": f"Composition {i}", "year_created": 1960, "medium": "Oil on canvas",
                         "edition": None})
    return pd.DataFrame(rows), truth


def test_repeat_sales_index_recovers_the_planted_index():
    sales, truth = repeat_sale_world()
    pairs = repeat_sale_pairs(prepare_sales(sales))
    assert len(pairs) > 700
    assert (pairs["lot_ref_1"].str[:5] == pairs["lot_ref_2"].str[:5]).all()  # only the same work is paired
    est = repeat_sales_fit(pairs, "month")
    got = est.log_index.sort_index()
    want = (truth - truth.iloc[0])[got.index]
    assert np.abs(got - want).max() < 0.06
    assert GAP not in got.index  # no pair touches the gap month: no estimate there
    build = build_indices(sales, segments=False)
    rs = series(build.index, "repeat_sales", "month")
    assert bool(rs.loc[GAP, "is_gap"]) and pd.isna(rs.loc[GAP, "index_value"])
    assert rs.loc[GAP, "gap_reason"] == "no repeat sale in this period"


def _sale(ref, title="Flowers", h=50.0, w=40.0, year=1970, mc="painting", medium="Oil on canvas", edition=None,
          artist="andy-warhol-1928"):
    return {"lot_ref": ref, "artist_id": artist, "title": title, "height_cm": h, "width_cm": w,
            "year_created": year, "medium_class": mc, "medium": medium, "edition": edition}


def test_matching_same_work_across_sales_and_editions_are_different_objects():
    sales = pd.DataFrame([
        _sale("a1"), _sale("a2", title="FLOWERS", h=40.4, w=50.3),  # same work: case, swapped sides, 1 cm
        _sale("b1", h=60.0),  # another size: another work
        _sale("c1", year=1971),  # another year: another work
        _sale("d1", h=None), _sale("d2", h=None),  # no size: cannot be told apart, never matched
        _sale("p1", mc="print", medium="Screenprint", edition="12/50"),
        _sale("p2", mc="print", medium="Screenprint", edition="no. 12/50"),  # the same impression
        _sale("p3", mc="print", medium="Screenprint", edition="13/50"),  # another impression of the edition
        _sale("p4", mc="print", medium="Screenprint"), _sale("p5", mc="print", medium="Screenprint"),  # unknown
        _sale("x1", title="Visage", mc="sculpture", medium="decorative arts"),  # a Madoura ceramic edition
        _sale("x2", title="Visage", mc="sculpture", medium="decorative arts"),
        _sale("o1", artist="someone-else-1950"),
    ])
    obj = match_repeat_sales(sales).set_axis(sales["lot_ref"])
    assert obj["a1"] is not None and obj["a1"] == obj["a2"]
    assert len({obj["a1"], obj["b1"], obj["c1"]}) == 3
    assert obj["d1"] is None and obj["d2"] is None
    assert obj["p1"] is not None and obj["p1"] == obj["p2"]
    assert obj["p3"] != obj["p1"]
    assert obj[["p4", "p5", "x1", "x2"]].isna().all()
    assert obj["o1"] != obj["a1"]


@pytest.mark.parametrize(("text", "want"), [("12/50", "12/50"), ("edition 7 of 30", "7/30"), ("3-Feb", "2/3"),
                                            ("AP 2", "AP 2"), ("from the edition of 50", None), (None, None)])
def test_impression_numbers(text, want):
    assert impression(text) == want


def test_bad_sales_are_named_by_row_lot_and_field():
    sales, _ = planted_sales(n=50)
    sales.loc[7, "hammer_usd"] = -5.0
    with pytest.raises(IndexInputError, match=r"row 7 \(lot_ref 'L00007'\): field hammer_usd"):
        prepare_sales(sales)
    with pytest.raises(IndexInputError, match="lack the column"):
        prepare_sales(sales.drop(columns=["sale_date"]))


def test_no_sales_gives_no_series_and_no_error():
    sales, _ = planted_sales(n=50)
    build = build_indices(sales.iloc[:0])
    assert build.index.empty and build.pairs.empty
