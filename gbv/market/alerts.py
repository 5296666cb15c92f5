"""Nightly market alerts: what happened in a window of sales that nobody expected.

Six kinds (``alert_type``), each with a severity (``high`` / ``medium`` / ``low``), the lot refs it rests on,
a sentence (``detail``) and the figures (``evidence``, JSON; money in USD on the hammer basis):

* ``surprise_result``: a sold lot's hammer price outside the model's **95%** interval. fact_valuation stores
  the central 80% range; assuming normal log errors, sigma = ln(high/low) / (2 x 1.2816) and the 95% interval
  is ``estimate x exp(±1.96 sigma)``. The valuation used is the latest one made on or before the sale day.
  Severity by |z|: >= 4 high, >= 3 medium, else low.
* ``price_spike``: a hammer price far above what the house's estimate and the artist's market said, without
  the model. Two robust z-scores (median centre, MAD scale x 1.4826):

  - ``z_estimate`` of log(hammer / estimate mid) against the usual result vs estimate: the house's over the
    previous :data:`TRAILING_YEARS` years (all houses pooled below :data:`SPIKE_MIN_HOUSE` results), plus how
    this sale runs against it (the sale's lots in the window) and how the artist's results ran against
    estimates before (each shrunk towards 0 by :data:`SPIKE_K_SALE` / :data:`SPIKE_K_ARTIST` lots); scale the
    sale's spread shrunk towards the house's;
  - ``z_value`` of log(hammer) against the artist's earlier sales (last :data:`SPIKE_HISTORY_YEARS` years)
    brought to the sale's month by the price index, scale shrunk towards the median spread of artists; for a
    thin artist (fewer than :data:`SPIKE_MIN_HISTORY` earlier sales) against the comparables (same-artist ones
    when there are 3, else the nearest) instead.

  score = z_estimate + :data:`SPIKE_W_VALUE` x z_value (clipped to [-2, 4]; z_value alone without an estimate);
  an alert from :data:`SPIKE_MIN_SCORE`, severity high from 7, medium from 5.5. Why: on the real 2016 sales the
  model's 80% ranges are wide (log sigma 1.0-1.4, so a x5-x20 spike stays inside the 95% range unless the lot
  was already above its estimate) and ``above_comparables`` wants x3 the *highest* of 10 comparables, which
  spans two orders of magnitude for most artists: together they found 43% of planted spikes. The house's
  estimate is the sharpest expectation there is (MAD 0.41 in log); 4.4 keeps about one price_spike per normal
  night (34 in the 34 weeks of 2016 with sales) and finds 82-90% of the planted spikes alone, 87-90% with the
  other detectors (``gbv bench market``, seeds 7, 11 and 23; 23 was not looked at while tuning).
* ``momentum_break``: an artist's results relative to the houses' estimates (log hammer / geometric mid of
  the estimate) in the window differ from the artist's previous :data:`TRAILING_YEARS` years by at least
  :data:`MOMENTUM_MIN_LOG` with a Welch t of at least :data:`MOMENTUM_MIN_T` (>= 3 sales in the window, >= 5
  before): the market for the artist moved faster than the estimates.
* ``estimate_drift``: a house's estimates systematically off the model for an artist (:data:`DRIFT_ARTIST`:
  >= 6 lots, median beyond x/÷2) or a medium class (:data:`DRIFT_SEGMENT`: >= 10 lots, beyond x/÷1.5), with
  at least :data:`DRIFT_SAME_SIDE` (90%) of the lots on that side. The gaps log(house mid / model estimate)
  are measured against the median gap of the house's other lots (at least :data:`DRIFT_MIN_REST`), so a
  model that is off for a whole house is not reported once per artist. Thresholds from a null check on the
  real 2016 sales with the LightGBM baseline (``gbv bench market``, ``estimate_drift_null``): the gaps shuffled
  across the lots of each house and night (no artist- or medium-specific drift). The former rule (>= 4 lots,
  x/÷1.5, 75%, absolute gaps) raised 6.7 drift alerts a night, and 5.8 a night on shuffled gaps: nearly all of
  them noise of a model whose gaps have an sd of 1.2 plus the house's overall offset (Christie's -0.65 in
  log). Now: 0.82 a night (0.65 artist, 0.18 medium class) against 0.03 a night on shuffled gaps (about 4% of
  them expected false); x/÷1.5 for artists would double the false-alarm rate (0.07 a night).
* ``suspicious_resale``: the same physical work (``gbv.market.index.match_repeat_sales``: artist, title, year,
  size; editions only with the same impression) sold again within :data:`RESALE_MAX_YEARS` years at a return,
  beyond the price index's change, of at least x :data:`RESALE_MIN_RATIO` up or down.
* ``above_comparables``: a price more than :data:`ABOVE_COMPS_RATIO` times every index-adjusted comparable
  (:mod:`gbv.market.comps`; the artist's own comparables when there are at least 3, else all, at least 5).

What the nightly step reads (:func:`alerts_for_window`): the window's lots in full, the history the detectors
use filtered in SQL (:func:`read_history`: every house's sales of the last :data:`TRAILING_YEARS` years and the
window's artists' of the last :data:`SPIKE_HISTORY_YEARS`, in a few columns, the text only of sales that can be
the first half of a resale), the valuations of the window's lots and of tonight's, and the text only of the
lots the comparables search queries or adds to its index (:func:`comparables_index`). The comparables are found
first and the index let go before the history is read.

Per house, the alerts of its own lots (and of its own estimates) only go to
``$GBV_HOME/alerts/<house>/<date>/alerts.csv`` (other houses' lot refs, e.g. comparables, left out) with ``manifest.json`` and ``_SUCCESS``, written whole (hidden
folder, fsync, rename, as the estimate feeds); every night also replaces its rows of the ``market_alert`` table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Z80, Z95 = 1.2815515655446004, 1.959963984540054
TRAILING_YEARS = 3
MOMENTUM_MIN_LOG, MOMENTUM_MIN_T = math.log(1.5), 3.0
DRIFT_ARTIST = (6, math.log(2.0))  # lots, |median log gap vs the house's other lots| (see the docstring)
DRIFT_SEGMENT = (10, math.log(1.5))
DRIFT_SAME_SIDE = 0.9
DRIFT_MIN_REST = 10  # the house's other valued lots a group is measured against
RESALE_MAX_YEARS, RESALE_MIN_RATIO = 3.0, 2.0
ABOVE_COMPS_RATIO = 3.0
COMPS_K = 10
SPIKE_MIN_SCORE = 4.4  # z_estimate + SPIKE_W_VALUE x z_value (clipped to [-2, 4]) at or above this alerts
SPIKE_W_VALUE = 0.4
SPIKE_SEVERITY = (7.0, 5.5)  # score for high, medium
SPIKE_K_SALE, SPIKE_K_ARTIST, SPIKE_K_SCALE = 10, 5, 4  # prior weights (in lots) of the shrinkage steps
SPIKE_MIN_HOUSE = 30  # trailing results a house needs for a reference of its own (else all houses pooled)
SPIKE_MIN_HISTORY = 3  # earlier sales (or comparables) a value reference needs
SPIKE_HISTORY_YEARS = 10
SPIKE_MIN_SCALE, SPIKE_DEFAULT_SCALE = 0.15, 0.45  # log scales: floor; result vs estimate without any history
SPIKE_POOLED_VALUE_SCALE, SPIKE_MIN_COMPS_SCALE = 1.0, 0.5
NIGHT_WINDOW_DAYS = 7  # the nightly asset looks at the sales of the last week before the night

ALERT_COLUMNS = ("alert_id", "alert_type", "severity", "house", "auction_house", "sale_date", "lot_number",
                 "artist_name", "lot_ref", "lot_refs", "detail", "evidence")
ALERT_TYPES = ("surprise_result", "momentum_break", "estimate_drift", "suspicious_resale", "above_comparables",
               "price_spike")
ALERTS_FILE, MANIFEST, SUCCESS = "alerts.csv", "manifest.json", "_SUCCESS"
ALERTS_SCHEMA_VERSION = "1.0"


class AlertsError(RuntimeError):
    pass


def _sev(x: float, high: float, medium: float) -> str:
    return "high" if x >= high else ("medium" if x >= medium else "low")


def _r(x: float, n: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), n)


def _alert(kind: str, severity: str, lot: dict, detail: str, evidence: dict, refs: list[str] | None = None,
           lot_level: bool = True) -> dict:
    refs = refs or [str(lot["lot_ref"])]
    key = f"{kind}|{lot['house']}|{';'.join(sorted(refs))}|{evidence.get('group', '')}"
    return {
        "alert_id": hashlib.sha1(key.encode()).hexdigest()[:16], "alert_type": kind, "severity": severity,
        "house": str(lot["house"]), "auction_house": lot.get("auction_house"),
        "sale_date": pd.Timestamp(lot["sale_date"]).date() if pd.notna(lot.get("sale_date")) else None,
        "lot_number": int(lot["lot_number"]) if lot_level and pd.notna(lot.get("lot_number")) else None,
        "artist_name": lot.get("artist_name"), "lot_ref": str(lot["lot_ref"]) if lot_level else None,
        "lot_refs": ";".join(refs), "detail": detail,
        "evidence": json.dumps(evidence, sort_keys=True, default=str),
    }


def _sold(lots: pd.DataFrame) -> pd.DataFrame:
    price = pd.to_numeric(lots["hammer_usd"], errors="coerce")
    return lots[(lots["status"] == "sold") & (price > 0)]


def _house_mid(lots: pd.DataFrame) -> pd.Series:
    lo = pd.to_numeric(lots["estimate_low_usd"], errors="coerce")
    hi = pd.to_numeric(lots["estimate_high_usd"], errors="coerce")
    return np.sqrt(lo * hi).where((lo > 0) & (hi > 0))


# ---- the five detectors ----------------------------------------------------------------------------------------

def pre_sale_valuations(valuations: pd.DataFrame, lots: pd.DataFrame) -> pd.DataFrame:
    """Per lot the latest valuation made on or before its sale day (``lot_ref, estimate_usd, low_usd,
    high_usd``)."""
    if valuations is None or valuations.empty:
        return pd.DataFrame(columns=["lot_ref", "estimate_usd", "low_usd", "high_usd"])
    v = valuations.merge(lots[["lot_ref", "sale_date"]], on="lot_ref", how="inner")
    v = v[pd.to_datetime(v["run_date"]) <= pd.to_datetime(v["sale_date"])]
    v = v.sort_values(["lot_ref", "run_date"]).drop_duplicates("lot_ref", keep="last")
    return v[["lot_ref", "estimate_usd", "low_usd", "high_usd"]]


def surprise_alerts(window: pd.DataFrame, valuations: pd.DataFrame) -> list[dict]:
    sold = _sold(window)
    v = pre_sale_valuations(valuations, sold)
    df = sold.merge(v, on="lot_ref", how="inner")
    out = []
    for lot in df.to_dict("records"):
        est, lo, hi, price = (float(lot[c]) for c in ("estimate_usd", "low_usd", "high_usd", "hammer_usd"))
        if not (est > 0 and lo > 0 and hi > lo):
            continue
        sigma = math.log(hi / lo) / (2 * Z80)
        z = math.log(price / est) / sigma
        if abs(z) <= Z95:
            continue
        low95, high95 = est * math.exp(-Z95 * sigma), est * math.exp(Z95 * sigma)
        side = "above" if z > 0 else "below"
        out.append(_alert("surprise_result", _sev(abs(z), 4.0, 3.0), lot,
                          f"sold for ${price:,.0f}, {side} the model's 95% range ${low95:,.0f}-${high95:,.0f} "
                          f"(estimate ${est:,.0f}, z = {z:+.1f})",
                          {"hammer_usd": price, "estimate_usd": est, "low80_usd": lo, "high80_usd": hi,
                           "low95_usd": _r(low95, 0), "high95_usd": _r(high95, 0), "sigma_log": _r(sigma),
                           "z": _r(z, 3)}))
    return out


def momentum_alerts(window: pd.DataFrame, history: pd.DataFrame, start) -> list[dict]:  # noqa: ANN001
    start = pd.Timestamp(start)
    w = _sold(window).assign(q=lambda d: np.log(d["hammer_usd"].astype(float) / _house_mid(d)))
    h = _sold(history)
    h = h[(pd.to_datetime(h["sale_date"]) < start)
          & (pd.to_datetime(h["sale_date"]) >= start - pd.DateOffset(years=TRAILING_YEARS))]
    h = h.assign(q=np.log(h["hammer_usd"].astype(float) / _house_mid(h)))
    w, h = w[np.isfinite(w["q"])], h[np.isfinite(h["q"])]
    before = {a: g["q"].to_numpy() for a, g in h.groupby("artist_id")}
    out = []
    for artist, g in w.groupby("artist_id"):
        b = before.get(artist)
        if b is None or len(b) < 5 or len(g) < 3:
            continue
        a = g["q"].to_numpy()
        diff = float(a.mean() - b.mean())
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        t = diff / se if se > 0 else math.inf * np.sign(diff)
        if abs(diff) < MOMENTUM_MIN_LOG or abs(t) < MOMENTUM_MIN_T:
            continue
        last = g.sort_values("sale_date").iloc[-1].to_dict()
        for _house, hg in g.groupby("house"):  # one alert per house, naming that house's lots only
            lot = hg.sort_values("sale_date").iloc[-1].to_dict()
            out.append(_alert(
                "momentum_break", _sev(abs(t), 6.0, 4.0), lot,
                f"{last['artist_name']}: results {'above' if diff > 0 else 'below'} estimates by x"
                f"{math.exp(diff):.2f} more than over the previous {TRAILING_YEARS} years "
                f"({len(a)} sales now, {len(b)} before; t = {t:+.1f})",
                {"group": f"artist:{artist}", "mean_log_vs_estimate_window": _r(a.mean()),
                 "mean_log_vs_estimate_before": _r(b.mean()), "change_log": _r(diff), "t": _r(t, 2),
                 "n_window": len(a), "n_before": len(b)},
                refs=sorted(hg["lot_ref"].astype(str)), lot_level=False))
    return out


def drift_alerts(lots: pd.DataFrame, valuations: pd.DataFrame) -> list[dict]:
    """House estimates vs the model over ``lots`` (any status) that have a valuation: per house and artist (or
    medium class) the gaps log(house mid / model estimate) against the median gap of the house's other lots."""
    if valuations is None or valuations.empty:
        return []
    v = valuations.sort_values("run_date").drop_duplicates("lot_ref", keep="last")[["lot_ref", "estimate_usd"]]
    df = lots.merge(v, on="lot_ref", how="inner")
    df = df.assign(d=np.log(_house_mid(df) / pd.to_numeric(df["estimate_usd"], errors="coerce")))
    df = df[np.isfinite(df["d"])]
    out = []
    for (kind, col, (min_n, min_log)) in (("artist", "artist_id", DRIFT_ARTIST),
                                          ("segment", "medium_class", DRIFT_SEGMENT)):
        for house, hg in df.groupby("house"):
            keys = hg[col].to_numpy()
            for key, g in hg.groupby(col):
                rest = hg["d"].to_numpy()[keys != key]
                if len(g) < min_n or len(rest) < DRIFT_MIN_REST:
                    continue
                ref = float(np.median(rest))
                gap = g["d"].to_numpy() - ref
                med = float(np.median(gap))
                side = float((np.sign(gap) == np.sign(med)).mean())
                if abs(med) < min_log or side < DRIFT_SAME_SIDE:
                    continue
                lot = g.sort_values("sale_date").iloc[-1].to_dict()
                what = lot["artist_name"] if kind == "artist" else f"{key} lots"
                lot["artist_name"] = lot["artist_name"] if kind == "artist" else None
                out.append(_alert(
                    "estimate_drift", _sev(abs(med), math.log(2.5), math.log(1.8)), lot,
                    f"{house}'s estimates for {what} are x{math.exp(med):.2f} the model's, relative to its "
                    f"{len(rest)} other lots (median over {len(g)} lots, {side:.0%} on that side; x"
                    f"{math.exp(float(g['d'].median())):.2f} the model's outright, other lots x{math.exp(ref):.2f})",
                    {"group": f"{kind}:{key}", "median_log_vs_house": _r(med),
                     "median_log_house_over_model": _r(float(g["d"].median())), "house_other_median_log": _r(ref),
                     "n_house_other": len(rest), "share_same_side": _r(side, 3), "n_lots": len(g)},
                    refs=sorted(g["lot_ref"].astype(str)), lot_level=False))
    return out


def resale_alerts(window: pd.DataFrame, history: pd.DataFrame, price_index) -> list[dict]:  # noqa: ANN001
    from gbv.market.index import repeat_sale_pairs

    if "lot_ref" in history.columns:  # read_history leaves the identity of sales too old for a resale out
        history = history[history["lot_ref"].notna()]
    sold = _sold(pd.concat([history, window], ignore_index=True).drop_duplicates("lot_ref", keep="last"))
    sold = sold.assign(sale_date=pd.to_datetime(sold["sale_date"]))
    pairs = repeat_sale_pairs(sold)
    in_window = set(window["lot_ref"].astype(str))
    pairs = pairs[pairs["lot_ref_2"].astype(str).isin(in_window)]
    by_ref = sold.drop_duplicates("lot_ref").set_index("lot_ref")
    out = []
    for p in pairs.itertuples(index=False):
        years = (pd.Timestamp(p.date_2) - pd.Timestamp(p.date_1)).days / 365.25
        if years > RESALE_MAX_YEARS:
            continue
        seg = by_ref.at[p.lot_ref_2, "medium_class"]
        ratio = price_index.ratio(p.date_1, p.date_2, seg)
        excess = math.log(p.price_2 / p.price_1) - math.log(ratio)
        if abs(excess) < math.log(RESALE_MIN_RATIO):
            continue
        lot = by_ref.loc[p.lot_ref_2].to_dict() | {"lot_ref": p.lot_ref_2}
        out.append(_alert(
            "suspicious_resale", _sev(abs(excess), math.log(4), math.log(2.5)), lot,
            f"resold {years * 12:.0f} months after {p.lot_ref_1} (${p.price_1:,.0f} -> ${p.price_2:,.0f}, "
            f"x{math.exp(excess):.2f} beyond the market's x{ratio:.2f})",
            {"first_lot_ref": p.lot_ref_1, "first_date": str(pd.Timestamp(p.date_1).date()),
             "first_usd": p.price_1, "second_usd": p.price_2, "years": _r(years, 3),
             "market_ratio": _r(ratio), "excess_log_return": _r(excess)},
            refs=[str(p.lot_ref_2), str(p.lot_ref_1)]))
    return out


def query_comparables(window: pd.DataFrame, index, embedder, k: int = COMPS_K) -> list | None:  # noqa: ANN001
    """The comparables of each sold lot of ``window`` (``_sold`` order); None without an index."""
    sold = _sold(window).reset_index(drop=True)
    if index is None or len(index) == 0:
        return None
    return index.query_lots(sold, embedder, k=k) if len(sold) else []


def comparable_alerts(window: pd.DataFrame, index=None, embedder=None, k: int = COMPS_K,  # noqa: ANN001
                      comps: list | None = None) -> list[dict]:
    sold = _sold(window).reset_index(drop=True)
    if comps is None:
        comps = query_comparables(window, index, embedder, k)
    if sold.empty or not comps:
        return []
    out = []
    for lot, cs in zip(sold.to_dict("records"), comps, strict=True):
        own = [c for c in cs if c.same_artist]
        use = own if len(own) >= 3 else cs
        if len(use) < (3 if use is own else 5):
            continue
        top = max(c.adjusted_usd for c in use)
        price = float(lot["hammer_usd"])
        if top <= 0 or price < ABOVE_COMPS_RATIO * top:
            continue
        out.append(_alert(
            "above_comparables", _sev(price / top, 10.0, 5.0), lot,
            f"sold for ${price:,.0f}, x{price / top:.1f} the highest of {len(use)} "
            f"{'same-artist ' if use is own else ''}comparables (${top:,.0f} adjusted)",
            {"hammer_usd": price, "max_comparable_usd": _r(top, 0), "ratio": _r(price / top, 3),
             "comparables": [c.lot_ref for c in use], "same_artist": use is own},
            refs=[str(lot["lot_ref"])] + [c.lot_ref for c in use]))
    return out


def _robust(x: np.ndarray) -> tuple[float, float, int]:
    """Median, MAD scale (1.4826 x median absolute deviation) and count of the finite values of ``x``."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return math.nan, math.nan, 0
    med = float(np.median(x))
    return med, float(1.4826 * np.median(np.abs(x - med))), len(x)


def _shrink(n: float, value: float, k: float, prior: float) -> float:
    """``value`` measured on ``n`` observations pulled towards ``prior`` with the weight of ``k`` of them."""
    return prior if not (n > 0 and np.isfinite(value)) else (n * value + k * prior) / (n + k)


SPIKE_COLUMNS = ("lot_ref", "q", "expected_log", "scale_log", "z_estimate", "n_sale", "basis", "n_value",
                 "value_usd", "value_scale_log", "z_value", "score")


def spike_scores(window: pd.DataFrame, history: pd.DataFrame, price_index=None, start=None,  # noqa: ANN001
                 comps: list | None = None) -> pd.DataFrame:
    """The evidence of :func:`spike_alerts` for every sold lot of ``window`` (``comps``: the comparables of
    ``_sold(window)`` in order, as :meth:`ComparablesIndex.query_lots` gives them, or None)."""
    from gbv.market.comps import PriceIndex, _month

    price_index = price_index or PriceIndex.none()
    sold = _sold(window).reset_index(drop=True)
    if sold.empty:
        return pd.DataFrame(columns=list(SPIKE_COLUMNS))
    dates = pd.to_datetime(sold["sale_date"])
    start = pd.Timestamp(start) if start is not None else dates.min()
    lp = np.log(sold["hammer_usd"].astype(float).to_numpy())
    q = np.log(sold["hammer_usd"].astype(float) / _house_mid(sold)).to_numpy(dtype=float)

    h = _sold(history) if history is not None and len(history) else sold.iloc[:0]
    hd = pd.to_datetime(h["sale_date"])
    h = h[(hd < start) & (hd >= start - pd.DateOffset(years=SPIKE_HISTORY_YEARS))]
    hd = pd.to_datetime(h["sale_date"])
    hq = np.log(h["hammer_usd"].astype(float) / _house_mid(h)).to_numpy(dtype=float)
    # the houses' usual result vs estimate over the trailing years (all houses pooled for a thin house)
    recent = (hd >= start - pd.DateOffset(years=TRAILING_YEARS)).to_numpy()
    pooled_c, pooled_s, pooled_n = _robust(hq[recent])
    if pooled_n < SPIKE_MIN_HOUSE:  # no usable history: this window's own lots
        pooled_c, pooled_s, pooled_n = _robust(q)
    if not pooled_n:
        pooled_c, pooled_s = 0.0, SPIKE_DEFAULT_SCALE
    house_ref = {}
    for house, idx in pd.Series(np.arange(len(h))[recent]).groupby(h["house"].to_numpy()[recent]).indices.items():
        c, s, n = _robust(hq[recent][idx])
        if n >= SPIKE_MIN_HOUSE:
            house_ref[house] = (c, s)
    # the sale's other lots in the window, and the artist's usual result vs estimate before it
    sale_ref = {k: _robust(q[v]) for k, v in sold.groupby("sale_id").indices.items()} \
        if "sale_id" in sold.columns else {}
    artist_q = {k: _robust(hq[v]) for k, v in h.groupby("artist_id").indices.items()}
    # the artist's earlier sales, index-adjusted to the lot's month (log level per history row, once)
    h_lp = np.log(h["hammer_usd"].astype(float).to_numpy())
    h_month = np.array([_month(d) for d in hd], dtype=np.int64)
    seg_code, seg_names = pd.factorize(h["medium_class"].astype(object).where(h["medium_class"].notna(), ""))
    h_level = np.zeros(len(h))
    for j, seg in enumerate(seg_names):
        h_level[seg_code == j] = price_index.log_level(h_month[seg_code == j], seg or None)
    to_levels: dict[int, np.ndarray] = {}  # month -> log level per segment (the lots of a window share months)
    by_artist = h.groupby("artist_id").indices
    artist_sd = [s for c, s, n in (_robust(h_lp[v]) for v in by_artist.values()) if n >= 5 and s > 0]
    pool_sd = float(np.median(artist_sd)) if artist_sd else SPIKE_POOLED_VALUE_SCALE

    rows = []
    for i, lot in enumerate(sold[["lot_ref", "house", "artist_id", "sale_id"]
                                 if "sale_id" in sold.columns else ["lot_ref", "house", "artist_id"]]
                            .itertuples(index=False)):
        c_h, s_h = house_ref.get(lot.house, (pooled_c, pooled_s))
        c_s, s_s, n_s = sale_ref.get(getattr(lot, "sale_id", None), (math.nan, math.nan, 0))
        n_other = max(n_s - 1, 0)
        c_a, _, n_a = artist_q.get(lot.artist_id, (math.nan, math.nan, 0))
        # the house's usual, plus how this sale runs against it, plus how the artist ran against all houses
        centre = c_h + _shrink(n_other, c_s - c_h, SPIKE_K_SALE, 0.0) \
            + _shrink(n_a, c_a - pooled_c, SPIKE_K_ARTIST, 0.0)
        var = _shrink(n_other, s_s ** 2 if np.isfinite(s_s) else math.nan, SPIKE_K_SALE, s_h ** 2)
        scale = max(math.sqrt(var), SPIKE_MIN_SCALE)
        z_est = (q[i] - centre) / scale if np.isfinite(q[i]) else math.nan
        # the value reference: the artist's index-adjusted earlier sales, else the comparables
        basis, n_v, med_v, s_v, z_v = None, 0, math.nan, math.nan, math.nan
        rows_a = by_artist.get(lot.artist_id)
        if rows_a is not None and len(rows_a) >= SPIKE_MIN_HISTORY:
            to = _month(dates.iloc[i])
            if to not in to_levels:
                to_levels[to] = np.array([price_index.log_level(np.array([to]), seg or None)[0]
                                          for seg in seg_names] or [0.0])
            adj = h_lp[rows_a] + to_levels[to][seg_code[rows_a]] - h_level[rows_a]
            med_v, mad, n_v = _robust(adj)
            s_v = math.sqrt(((n_v - 1) * mad ** 2 + SPIKE_K_SCALE * pool_sd ** 2) / (n_v - 1 + SPIKE_K_SCALE))
            basis = "artist"
        elif comps is not None and i < len(comps) and comps[i]:
            own = [c for c in comps[i] if c.same_artist]
            use = own if len(own) >= SPIKE_MIN_HISTORY else comps[i]
            if len(use) >= SPIKE_MIN_HISTORY:
                med_v, mad, n_v = _robust(np.log([max(c.adjusted_usd, 1e-9) for c in use]))
                s_v = max(mad, SPIKE_MIN_COMPS_SCALE)
                basis = "same-artist comparables" if use is own else "comparables"
        if basis is not None:
            z_v = (lp[i] - med_v) / max(s_v, SPIKE_MIN_SCALE)
        if np.isfinite(z_est):
            score = z_est + SPIKE_W_VALUE * (float(np.clip(z_v, -2.0, 4.0)) if np.isfinite(z_v) else 0.0)
        else:  # no house estimate: the value reference alone
            score = z_v
        rows.append((lot.lot_ref, q[i], centre, scale, z_est, n_other, basis, n_v,
                     math.exp(med_v) if np.isfinite(med_v) else math.nan, s_v, z_v, score))
    return pd.DataFrame(rows, columns=list(SPIKE_COLUMNS))


def spike_alerts(window: pd.DataFrame, history: pd.DataFrame, price_index=None, start=None,  # noqa: ANN001
                 comps: list | None = None) -> list[dict]:
    """``price_spike``: a hammer price far above what the house's estimate and the artist's market said, without
    the model (see the module docstring)."""
    scores = spike_scores(window, history, price_index, start, comps)
    if scores.empty:
        return []
    sold = _sold(window).reset_index(drop=True)
    out = []
    for lot, s in zip(sold.to_dict("records"), scores.itertuples(index=False), strict=True):
        if not (np.isfinite(s.score) and s.score >= SPIKE_MIN_SCORE):
            continue
        price = float(lot["hammer_usd"])
        mid = price / math.exp(s.q) if np.isfinite(s.q) else math.nan
        parts = []
        if np.isfinite(s.q):
            parts.append(f"x{math.exp(s.q):.1f} the house's estimate (mid ${mid:,.0f}; results of this sale and "
                         f"house run at x{math.exp(s.expected_log):.2f}, robust z = {s.z_estimate:+.1f})")
        basis = s.basis if isinstance(s.basis, str) else None
        if basis is not None:
            what = f"the artist's {s.n_value} earlier sales" if basis == "artist" else f"{s.n_value} {basis}"
            parts.append(f"x{price / s.value_usd:.1f} the median of {what}, index-adjusted "
                         f"(${s.value_usd:,.0f}, z = {s.z_value:+.1f})")
        out.append(_alert(
            "price_spike", _sev(s.score, SPIKE_SEVERITY[0], SPIKE_SEVERITY[1]), lot,
            f"sold for ${price:,.0f}: " + "; ".join(parts) + f"; score {s.score:.1f}",
            {"hammer_usd": price, "estimate_low_usd": _r(float(lot.get("estimate_low_usd") or math.nan), 0),
             "estimate_high_usd": _r(float(lot.get("estimate_high_usd") or math.nan), 0),
             "ratio_to_estimate": _r(math.exp(s.q) if np.isfinite(s.q) else math.nan, 3),
             "expected_ratio": _r(math.exp(s.expected_log), 3), "scale_log": _r(s.scale_log),
             "z_estimate": _r(s.z_estimate, 3), "n_sale_lots": int(s.n_sale), "value_basis": basis,
             "n_value": int(s.n_value), "value_usd": _r(s.value_usd, 0), "value_scale_log": _r(s.value_scale_log),
             "z_value": _r(s.z_value, 3), "score": _r(s.score, 3)}))
    return out


@dataclass
class AlertsRun:
    alerts: pd.DataFrame
    window_lots: int
    sold_lots: int
    valued_lots: int
    message: str
    houses: list[str] = field(default_factory=list)
    house_of: dict[str, str] = field(default_factory=dict)  # lot_ref -> house, to redact house files


def for_house(alerts: pd.DataFrame, house: str, house_of: dict[str, str]) -> pd.DataFrame:
    """The house's alerts as its file shows them: lot refs of other houses (comparables, the first sale of a
    resale) are left out of ``lot_refs`` and ``evidence``; their figures (prices, dates) stay."""
    mine = alerts[alerts["house"] == house].copy()

    def own(ref: str) -> bool:
        return house_of.get(ref, house) == house

    def clean(value):  # noqa: ANN001, ANN202
        if isinstance(value, str) and not own(value):
            return None
        if isinstance(value, list):
            return [v for v in value if not isinstance(v, str) or own(v)]
        return value

    mine["lot_refs"] = [";".join(r for r in refs.split(";") if r and own(r)) for refs in mine["lot_refs"]]
    mine["evidence"] = [json.dumps({k: clean(v) if k.endswith(("lot_ref", "comparables")) else v
                                    for k, v in json.loads(e).items()}, sort_keys=True, default=str)
                        for e in mine["evidence"]]
    return mine


def detect_alerts(window: pd.DataFrame, history: pd.DataFrame, valuations: pd.DataFrame | None, start,  # noqa: ANN001
                  comps_index=None, embedder=None, price_index=None, drift_lots: pd.DataFrame | None = None,  # noqa: ANN001
                  types: tuple[str, ...] = ALERT_TYPES, comps: list | None = None) -> pd.DataFrame:
    """All alerts of ``window`` (lots of the window; ``history`` = lots before it), one row per alert.
    ``comps``: the comparables of the window's sold lots already found (:func:`query_comparables`), else they
    are searched in ``comps_index``."""
    from gbv.market.comps import PriceIndex

    price_index = price_index or PriceIndex.none()
    if comps is None and {"above_comparables", "price_spike"} & set(types):
        comps = query_comparables(window, comps_index, embedder)
    rows: list[dict] = []
    if "surprise_result" in types:
        rows += surprise_alerts(window, valuations)
    if "momentum_break" in types:
        rows += momentum_alerts(window, history, start)
    if "estimate_drift" in types:
        rows += drift_alerts(window if drift_lots is None else drift_lots, valuations)
    if "suspicious_resale" in types:
        rows += resale_alerts(window, history, price_index)
    if "above_comparables" in types and comps is not None:
        rows += comparable_alerts(window, comps=comps)
    if "price_spike" in types:
        rows += spike_alerts(window, history, price_index, start, comps)
    df = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    order = {"high": 0, "medium": 1, "low": 2}
    df = df.assign(_s=df["severity"].map(order)).sort_values(
        ["house", "_s", "alert_type", "sale_date", "lot_refs"], kind="stable").drop(columns="_s")
    return df.drop_duplicates("alert_id").reset_index(drop=True)


# ---- from the warehouse ------------------------------------------------------------------------------------------

#: history columns the detectors read (``_sold`` rows only); the text and identity of a lot (lot_ref, title,
#: medium, edition, sizes, year) only for the window's artists' sales of the last RESALE_MAX_YEARS (resales)
HISTORY_COLUMNS = ("lot_ref", "house", "sale_date", "artist_id", "title", "medium", "medium_class", "year_created",
                   "height_cm", "width_cm", "edition", "estimate_low_usd", "estimate_high_usd", "hammer_usd", "status")
RESALE_ONLY_COLUMNS = ("lot_ref", "title", "medium", "edition", "year_created", "height_cm", "width_cm")
DRIFT_COLUMNS = ("lot_ref", "house", "auction_house", "sale_date", "lot_number", "artist_id", "artist_name",
                 "medium_class", "estimate_low_usd", "estimate_high_usd", "status")
#: what the alerts compare between the stored comparables index and the warehouse (no description text)
INDEX_KEY_COLUMNS = ("lot_ref", "artist_id", "artist_name", "title", "medium_class", "height_cm", "width_cm",
                     "house", "sale_date", "hammer_usd")
IN_CHUNK = 5000


def _lot_columns() -> dict:
    """LOT_COLUMNS name -> column of the star schema (the joins of :func:`warehouse.io.read_lots`)."""
    from warehouse.schema import dim_artist as a
    from warehouse.schema import dim_artwork as w
    from warehouse.schema import dim_sale as s
    from warehouse.schema import fact_lot as f

    return {
        "lot_ref": f.c.lot_ref, "source": f.c.source, "house": f.c.house, "auction_house": s.c.auction_house,
        "sale_id": f.c.sale_id, "sale_title": s.c.sale_title, "sale_date": f.c.sale_date,
        "sale_location": s.c.sale_location, "sale_currency": s.c.sale_currency, "lot_number": f.c.lot_number,
        "artist_id": f.c.artist_id, "artist_name": a.c.artist_name, "artist_birth_year": a.c.birth_year,
        "artist_death_year": a.c.death_year, "artist_nationality": a.c.nationality, "artwork_id": f.c.artwork_id,
        "title": w.c.title, "medium": w.c.medium, "medium_class": w.c.medium_class,
        "year_created": w.c.year_created, "height_cm": w.c.height_cm, "width_cm": w.c.width_cm,
        "depth_cm": w.c.depth_cm, "signature": w.c.signature, "description": w.c.description,
        "edition": w.c.edition, "image_url": w.c.image_url, "estimate_low": f.c.estimate_low,
        "estimate_high": f.c.estimate_high, "hammer_price": f.c.hammer_price, "fx_usd": f.c.fx_usd,
        "estimate_low_usd": f.c.estimate_low_usd, "estimate_high_usd": f.c.estimate_high_usd,
        "hammer_usd": f.c.hammer_usd, "status": f.c.status,
    }


def read_lot_rows(engine, columns=None, where=(), overrides: dict | None = None,  # noqa: ANN001
                  dates: str = "date") -> pd.DataFrame:
    """The lots of ``where`` (SQLAlchemy conditions on the star schema) in ``columns`` (default LOT_COLUMNS), as
    :func:`warehouse.io.read_lots` reads them (same joins, order, Arrow-backed strings, ``sale_date`` as dates;
    ``dates="datetime"``: datetime64). ``overrides``: column name -> SQL expression."""
    from sqlalchemy import select

    from gbv.contracts import LOT_COLUMNS
    from warehouse.io import read_frame
    from warehouse.schema import dim_artist, dim_artwork, dim_sale, fact_lot

    cols, overrides = _lot_columns(), overrides or {}
    f = fact_lot
    stmt = (select(*[overrides.get(c, cols[c]).label(c) for c in (columns or LOT_COLUMNS)])
            .select_from(f.join(dim_sale, dim_sale.c.sale_id == f.c.sale_id)
                         .join(dim_artist, dim_artist.c.artist_id == f.c.artist_id)
                         .join(dim_artwork, dim_artwork.c.artwork_id == f.c.artwork_id))
            .where(*where).order_by(f.c.sale_date, f.c.lot_ref))
    with engine.connect() as conn:
        df = read_frame(conn, stmt)
    if "sale_date" in df.columns:
        df["sale_date"] = pd.to_datetime(df["sale_date"])
        if dates == "date":
            df["sale_date"] = df["sale_date"].dt.date
    return df


def _read_by_refs(engine, refs, columns=None) -> pd.DataFrame:  # noqa: ANN001
    """:func:`read_lot_rows` of the lots ``refs`` (IN lists of :data:`IN_CHUNK`)."""
    from sqlalchemy import false

    from warehouse.schema import fact_lot

    refs = [str(r) for r in refs]
    parts = [read_lot_rows(engine, columns, (fact_lot.c.lot_ref.in_(refs[i:i + IN_CHUNK]),))
             for i in range(0, len(refs), IN_CHUNK)] or [read_lot_rows(engine, columns, (false(),))]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def read_history(engine, date_from, date_to) -> pd.DataFrame:  # noqa: ANN001
    """The sold lots before the window that the detectors look at (filtered in SQL): every house's results of
    the last :data:`TRAILING_YEARS` (the houses' usual result vs estimate, momentum) and the window's artists'
    results of the last :data:`SPIKE_HISTORY_YEARS` (their index-adjusted history), in :data:`HISTORY_COLUMNS`;
    the lot's identity and text (:data:`RESALE_ONLY_COLUMNS`) only on the window's artists' sales of the last
    :data:`RESALE_MAX_YEARS` (resales), null elsewhere."""
    from sqlalchemy import and_, case, or_, select

    from warehouse.schema import fact_lot

    d0, d1 = pd.Timestamp(date_from).date(), pd.Timestamp(date_to).date()
    f, w = fact_lot, fact_lot.alias("window_lot")
    in_window = f.c.artist_id.in_(select(w.c.artist_id).where(w.c.sale_date >= d0, w.c.sale_date <= d1))
    trailing = (pd.Timestamp(d0) - pd.DateOffset(years=max(TRAILING_YEARS, 1))).date()
    artist_from = (pd.Timestamp(d0) - pd.DateOffset(years=max(SPIKE_HISTORY_YEARS, TRAILING_YEARS))).date()
    resale_from = (pd.Timestamp(d0) - pd.Timedelta(days=math.ceil(RESALE_MAX_YEARS * 365.25) + 1)).date()
    cols = _lot_columns()
    for_resale = and_(f.c.sale_date >= resale_from, in_window)
    overrides = {c: case((for_resale, cols[c]), else_=None) for c in RESALE_ONLY_COLUMNS}
    where = (f.c.status == "sold", f.c.hammer_usd > 0, f.c.sale_date < d0,
             or_(f.c.sale_date >= trailing, and_(f.c.sale_date >= artist_from, in_window)))
    return read_lot_rows(engine, HISTORY_COLUMNS, where, overrides, dates="datetime")


def read_valuations(engine, date_from=None, date_to=None, run_date=None) -> pd.DataFrame:  # noqa: ANN001
    """``fact_valuation`` (run_date, lot_ref, estimate_usd, low_usd, high_usd): every row, or with a window only
    the valuations of the lots sold in it and of the lots valued on ``run_date`` (every run of those lots)."""
    from sqlalchemy import or_, select

    from warehouse.io import read_frame
    from warehouse.schema import fact_lot as f
    from warehouse.schema import fact_valuation as v

    stmt = select(v.c.run_date, v.c.lot_ref, v.c.estimate_usd, v.c.low_usd, v.c.high_usd)
    if date_from is not None:
        d0, d1 = pd.Timestamp(date_from).date(), pd.Timestamp(date_to).date()
        conds = [v.c.lot_ref.in_(select(f.c.lot_ref).where(f.c.sale_date >= d0, f.c.sale_date <= d1))]
        if run_date is not None:
            v2 = v.alias("tonight")
            conds.append(v.c.lot_ref.in_(select(v2.c.lot_ref).where(v2.c.run_date == pd.Timestamp(run_date).date())))
        stmt = stmt.where(or_(*conds))
    with engine.connect() as conn:
        df = read_frame(conn, stmt)
    df["run_date"] = pd.to_datetime(df["run_date"]).dt.date
    return df


def _equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise equality of two aligned columns, missing equal to missing."""
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
        return (x == y) | (np.isnan(x) & np.isnan(y))
    if pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b) or a.name == "sale_date":
        x, y = pd.to_datetime(a).to_numpy(), pd.to_datetime(b).to_numpy()
        return (x == y) | (pd.isna(x) & pd.isna(y))
    x, y = a.astype("string[pyarrow]").reset_index(drop=True), b.astype("string[pyarrow]").reset_index(drop=True)
    return ((x == y).fillna(False) | (x.isna() & y.isna())).to_numpy(dtype=bool)


def comparables_index(engine, settings, embedder, price_index=None):  # noqa: ANN001, ANN201
    """The comparables index (:mod:`gbv.market.comps`) brought up to the warehouse's sold lots, reading the text
    of new sales only: the stored rows are checked against the warehouse on :data:`INDEX_KEY_COLUMNS` (a change
    in the description or medium text of a stored sale is left to the next full refresh, e.g. ``gbv comps``);
    when every stored sale is unchanged the new ones are read in full, added and the index saved. Anything else
    (no index yet, another embedder, a stored sale changed or gone, a PostgreSQL warehouse, where pgvector may
    hold the ANN) goes through :func:`gbv.market.comps.refresh_index` over the sold lots."""
    from gbv.market.comps import ComparablesIndex, PriceIndex, embed_budget_from_env, index_dir, refresh_index
    from warehouse.schema import fact_lot as f

    sold_where = (f.c.status == "sold", f.c.hammer_usd > 0)
    if engine.dialect.name != "postgresql":
        price_index = price_index or PriceIndex.from_warehouse(engine)
        index = ComparablesIndex.load(index_dir(settings), price_index)
        if index is not None and index.embedder_name == embedder.name:
            keys = read_lot_rows(engine, INDEX_KEY_COLUMNS, sold_where, dates="datetime")
            stored = index.meta
            pos = pd.Index(keys["lot_ref"].astype(str)).get_indexer(stored["lot_ref"].astype(str))
            if (pos >= 0).all():
                current = keys.iloc[pos].reset_index(drop=True)
                same = all(_equal(stored[c].reset_index(drop=True), current[c]).all()
                           for c in INDEX_KEY_COLUMNS if c in stored.columns)
                if same:
                    known = np.zeros(len(keys), dtype=bool)
                    known[pos] = True
                    new_refs = keys.loc[~known, "lot_ref"].astype(str).tolist()
                    del keys, current
                    added = index.add(_read_by_refs(engine, new_refs), embedder,
                                      budget_s=embed_budget_from_env()) if new_refs else 0
                    if added:
                        index.save(index_dir(settings))
                    log.info("comparables index for the alerts: %s, %d sold lots (%d added)",
                             "incremental" if added else "unchanged", len(index), added)
                    return index
    index, _ = refresh_index(engine, settings, embedder, history=read_lot_rows(engine, None, sold_where))
    return index


def _houses(engine, refs=None) -> dict[str, str] | list[str]:  # noqa: ANN001
    """Every house of the warehouse, or the house of each of ``refs``."""
    from sqlalchemy import select

    from warehouse.io import read_frame
    from warehouse.schema import fact_lot as f

    with engine.connect() as conn:
        if refs is None:
            return sorted(read_frame(conn, select(f.c.house).distinct())["house"].dropna().astype(str))
        refs = sorted({str(r) for r in refs})
        out: dict[str, str] = {}
        for i in range(0, len(refs), IN_CHUNK):
            df = read_frame(conn, select(f.c.lot_ref, f.c.house).where(f.c.lot_ref.in_(refs[i:i + IN_CHUNK])))
            out.update(zip(df["lot_ref"].astype(str), df["house"].astype(str), strict=True))
        return out


def alerts_for_window(engine, settings, date_from, date_to, *, with_comparables: bool = True,  # noqa: ANN001
                      drift_run_date=None) -> AlertsRun:  # noqa: ANN001
    """Alerts for the sales with ``date_from <= sale_date <= date_to`` in the warehouse (and the estimate drift of
    the lots valued on ``drift_run_date``). Reads only what the detectors use: the window's lots in full, the
    history of :func:`read_history`, the valuations of those lots, and the text of new sales for the comparables
    index (:func:`comparables_index`)."""
    from gbv.market.comps import PriceIndex, embedding_cache_dir, make_embedder
    from warehouse.schema import fact_lot as f
    from warehouse.schema import fact_valuation as v

    d0, d1 = pd.Timestamp(date_from), pd.Timestamp(date_to)
    if d1 < d0:
        raise AlertsError(f"window ends ({d1.date()}) before it starts ({d0.date()})")
    window = read_lot_rows(engine, None, (f.c.sale_date >= d0.date(), f.c.sale_date <= d1.date()))
    houses = _houses(engine)
    valuations = read_valuations(engine, d0, d1, drift_run_date)
    drift_lots = window
    if drift_run_date is not None and len(valuations):
        from sqlalchemy import select

        tonight = select(v.c.lot_ref).where(v.c.run_date == pd.Timestamp(drift_run_date).date())
        valued = read_lot_rows(engine, DRIFT_COLUMNS, (f.c.lot_ref.in_(tonight),))
        drift_lots = pd.concat([window, valued[~valued["lot_ref"].isin(set(window["lot_ref"]))]],
                               ignore_index=True) if len(valued) else window
    sold = _sold(window)
    if window.empty and drift_lots.empty:
        msg = f"no sales between {d0.date()} and {d1.date()} in the warehouse: no alerts"
        return AlertsRun(pd.DataFrame(columns=list(ALERT_COLUMNS)), 0, 0, 0, msg, houses)
    price_index = PriceIndex.from_warehouse(engine)
    comps = None
    if with_comparables and len(sold):  # first, and the index let go before the history is read
        embedder = make_embedder(cache_dir=embedding_cache_dir(settings))
        index = comparables_index(engine, settings, embedder, price_index)  # searches stop at each date
        comps = query_comparables(window, index, embedder)
        del index
        gc.collect()
    history = read_history(engine, d0, d1) if len(sold) else window.iloc[:0]
    alerts = detect_alerts(window, history, valuations, d0, price_index=price_index, drift_lots=drift_lots,
                           comps=comps)
    valued = len(pre_sale_valuations(valuations, sold))
    msg = (f"{len(alerts)} alert(s) from {len(window)} lots ({len(sold)} sold, {valued} with a pre-sale "
           f"valuation) between {d0.date()} and {d1.date()}")
    if window.empty:
        msg += f"; no sales in the window, only the estimate drift of {len(drift_lots)} lots valued tonight"
    elif not len(sold):
        msg += "; none of the window's lots sold, so only estimate_drift is checked"
    elif not valued:
        msg += "; no pre-sale valuations, so no surprise_result alerts"
    refs = {r for refs in alerts["lot_refs"] for r in str(refs).split(";") if r}
    return AlertsRun(alerts, len(window), len(sold), valued, msg, houses, _houses(engine, refs) if refs else {})


# ---- outputs -------------------------------------------------------------------------------------------------------

def render_alerts(alerts: pd.DataFrame) -> bytes:
    df = alerts[list(ALERT_COLUMNS)].copy()
    df["lot_number"] = df["lot_number"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    df["sale_date"] = df["sale_date"].map(lambda v: "" if pd.isna(v) else str(v)[:10])
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_house_alerts(settings, house: str, run_date: str, alerts: pd.DataFrame) -> Path:  # noqa: ANN001
    """``$GBV_HOME/alerts/<house>/<run_date>/`` with alerts.csv, manifest.json, _SUCCESS, appearing whole;
    refuses rows of another house."""
    from gbv.settings import safe_component
    from warehouse.feeds import publish_folder

    safe_component(house, "house")
    safe_component(run_date, "run date")
    foreign = alerts.loc[alerts["house"] != house, "lot_refs"]
    if len(foreign):
        raise AlertsError(f"alerts for {house!r} would contain {len(foreign)} alert(s) of other houses, e.g. "
                          f"{foreign.iloc[0]!r}; refusing to write them")
    data = render_alerts(alerts)
    manifest = {"house": house, "run_date": run_date, "schema_version": ALERTS_SCHEMA_VERSION, "file": ALERTS_FILE,
                "row_count": int(len(alerts)), "sha256": hashlib.sha256(data).hexdigest(),
                "columns": list(ALERT_COLUMNS), "currency_basis": "USD, hammer price (excluding buyer's premium)",
                "by_type": {k: int(v) for k, v in alerts["alert_type"].value_counts().sort_index().items()}}
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    final = settings.home / "alerts" / house / run_date
    publish_folder(final, {ALERTS_FILE: data, MANIFEST: manifest_bytes, SUCCESS: b""})
    return final


def read_house_alerts(path: Path) -> pd.DataFrame:
    """A complete alerts folder, checksum verified."""
    from warehouse.feeds import read_verified

    return read_verified(path, ALERTS_FILE, "alerts", AlertsError, dtype=str)


def store_alerts(engine, run_date: str, alerts: pd.DataFrame) -> int:  # noqa: ANN001
    """Replace the night's rows of ``market_alert``."""
    from warehouse.loaders import replace_partition
    from warehouse.schema import market_alert

    return replace_partition(engine, market_alert, alerts.astype(object).where(alerts.notna(), None),
                             {"run_date": run_date})


def publish(engine, settings, run_date: str, run: AlertsRun) -> dict[str, dict]:  # noqa: ANN001
    """The warehouse rows and one alerts folder per house (every house, an empty file when it has none)."""
    store_alerts(engine, run_date, run.alerts)
    written = {}
    for house in sorted(set(run.houses) | set(run.alerts["house"])):
        rows = for_house(run.alerts, house, run.house_of)
        path = write_house_alerts(settings, house, run_date, rows)
        written[house] = {"path": str(path), "rows": len(rows)}
    return written


def cmd_alerts(args: argparse.Namespace) -> int:
    from gbv.settings import get_settings
    from warehouse.db import get_engine

    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    run = alerts_for_window(engine, settings, args.date_from, args.date_to,
                            with_comparables=not args.no_comparables)
    print(run.message)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(render_alerts(run.alerts))
    os.replace(tmp, out)
    if len(run.alerts):
        counts = run.alerts.groupby(["alert_type", "severity"]).size()
        for (kind, sev), n in counts.items():
            print(f"  {kind:20s} {sev:7s} {n:5d}")
    print(f"-> {out}")
    if args.houses:
        for house, info in publish(engine, settings, str(args.date_to), run).items():
            print(f"  {house}: {info['rows']} alert(s) -> {info['path']}")
    return 0


def register(subparsers) -> None:  # noqa: ANN001
    def date(text: str) -> str:
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc

    p = subparsers.add_parser("alerts", help="market alerts for a window of sales in the warehouse -> CSV")
    p.add_argument("--from", dest="date_from", type=date, required=True)
    p.add_argument("--to", dest="date_to", type=date, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--houses", action="store_true", help="also write market_alert rows (run_date = --to) and "
                                                         "$GBV_HOME/alerts/<house>/<to>/ per house")
    p.add_argument("--no-comparables", action="store_true", help="skip the above_comparables check (no index)")
    p.set_defaults(func=cmd_alerts)
