"""Turn a model's predictions into feed rows (``gbv.contracts.VALUATION_COLUMNS``).

* ``estimate_usd``, ``low_usd``, ``high_usd``: exp of the model's log prediction and its 80% interval, rounded
  to 3 significant figures (hammer basis, USD). The interval is re-measured each night on the latest realised
  sales of the lot's source the model never fitted on (:mod:`model.recalibrate`).
* ``expert_value_usd``: the expert consensus (``consensus_usd``) where the lot was labelled, to the dollar.
  With ``predict_expert=True`` a lot *without* labels gets the predicted expert value instead (3 significant
  figures): the model's estimate through :class:`model.expert.ExpertMapping`, fitted on the labelled lots of
  ``consensus`` found in ``lots`` or ``history`` (their point-in-time estimates); its explanation then says so.
  Off by default: ``gbv.crowd.blend.feed_blend`` reads any ``expert_value_usd`` missing from the consensus as one
  expert's view, so the feed blend must learn the difference before the nightly turns this on.
* ``confidence = sqrt(low_usd / high_usd) = exp(-(high_log - low_log) / 2)``: 1 for a zero-width interval,
  0.5 when high is 4x low, towards 0 as the interval widens; rounded to 3 decimals, at least 0.001.
* ``comparables``: up to 5 past *sold* lots before the sale date, ``lot_ref@USD <price>@YYYY-MM-DD`` joined by
  ``"; "``. With a :class:`ComparablesSearch` (the nightly ``valuations`` asset and ``gbv value``) they are the
  comparables search's (:func:`gbv.market.comps.comparables_for_lots`: MiniLM text + medium + size + date, the
  same artist first) and the price is the hammer price **brought to the lot's sale date by the warehouse's price
  index** (``fact_price_index``, hedonic, monthly, by medium class; unadjusted where there is none), the date the
  comparable's own sale date. Without one (no sold history, the index or its embedder failed: said in the log)
  :func:`find_comparables` stands in: raw hammer prices, the same artist first (closest by |Δ log area| + 1 if
  another medium + |Δ years| / 10), then lots of the same medium class of similar size and date (from the latest
  500 such sales).
* ``explanation``: the main factors in plain words; the estimate against the median of the comparables' prices
  ("index-adjusted median" when they are).

Rows are sorted by ``lot_ref`` and every number is rounded, so the same inputs give the same feed bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gbv.contracts import VALUATION_COLUMNS
from model.base import Valuer
from model.expert import MAX_LABELLED, MIN_LABELLED, fit_expert_mapping
from model.features import (
    artist_keys,
    attach_consensus,
    build_features,
    log_hammer_usd,
    sale_dates,
    with_signals,
)
from model.recalibrate import RollingRecalibration

log = logging.getLogger(__name__)

N_COMPARABLES = 5
MEDIUM_POOL = 500  # same-medium candidates considered per lot (the most recent ones before its sale)


def round_sig(x: float, sig: int = 3) -> float:
    if x is None or not math.isfinite(x) or x <= 0:
        return float("nan")
    digits = sig - 1 - int(math.floor(math.log10(x)))
    return float(round(x, digits))


@dataclass
class ComparablesSearch:
    """The comparables index (:class:`gbv.market.comps.ComparablesIndex`) and its embedder, for valuations.

    ``before``: only sales strictly before this date count (the night: a re-run of an old night does not see
    later results), besides strictly before each lot's own sale date."""

    index: Any
    embedder: Any
    before: dt.date | None = None
    failed: str | None = None  # set by value_lots when the search failed and find_comparables stood in

    @property
    def adjusted(self) -> bool:
        """Whether the comparables' prices are index-adjusted: there is a price index (``gbv marts build`` or the
        night's ``price_index`` asset makes it); without one they are the raw past prices."""
        return bool(self.index.price_index.levels)

    def find(self, lots: pd.DataFrame, k: int = N_COMPARABLES) -> list[list[tuple[str, float, str]]]:
        """Per lot (in order), up to ``k`` (lot_ref, index-adjusted hammer USD, sale date): the same comparables
        as :func:`gbv.market.comps.comparables_for_lots` (whose search runs up to the lot's sale date, or today
        without one), cut at ``before``."""
        from gbv.market.comps import lot_vectors

        lots = lots.reset_index(drop=True)
        if len(lots) == 0:
            return []
        raw = lots["sale_date"] if "sale_date" in lots.columns else pd.Series(None, index=lots.index, dtype=object)
        dates = pd.to_datetime(raw, errors="coerce").fillna(pd.Timestamp(dt.date.today()))
        vec = lot_vectors(lots, self.embedder, dates=dates)
        vec = np.where(np.isfinite(vec), vec, 0.0).astype(np.float32)
        days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
        if self.before is not None:
            days = np.minimum(days, np.datetime64(self.before, "D").astype(np.int64))
        refs = lots["lot_ref"].astype(str).to_numpy()
        ids = lots["artist_id"] if "artist_id" in lots.columns else pd.Series(None, index=lots.index)
        names = lots["artist_name"] if "artist_name" in lots.columns else pd.Series(None, index=lots.index)
        out = []
        for i in range(len(lots)):
            found = self.index.search_rows(vec[i], int(days[i]), k, artist_id=_text_or_none(ids.iloc[i]),
                                           artist_name=_text_or_none(names.iloc[i]), exclude=refs[i])
            out.append([(c.lot_ref, float(round(c.adjusted_usd)), c.sale_date)
                        for c in self.index.describe(found, dates.iloc[i])])
        return out


def _text_or_none(v) -> str | None:  # noqa: ANN001
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def comparables_search(engine, settings, lots: pd.DataFrame | None = None,  # noqa: ANN001
                       before: dt.date | None = None) -> ComparablesSearch | None:
    """The persisted comparables index brought up to the warehouse's sold lots (:func:`gbv.market.comps.
    refresh_index`: unchanged, grown or rebuilt; ``lots`` = every lot of the warehouse when the caller has
    read them already), or None when it cannot be had (no sold history, the embedder or the index failed): the
    valuations then use :func:`find_comparables`, and the log says why. Never raises."""
    try:
        from gbv.market.comps import embedding_cache_dir, make_embedder, refresh_index

        embedder = make_embedder(cache_dir=embedding_cache_dir(settings))
        if lots is None:
            # the lean refresh: stored sales checked on their keys, only new sales read in full (no million-lot
            # frame of text in memory); a first build or a changed sale goes through refresh_index
            from gbv.market.alerts import comparables_index

            index = comparables_index(engine, settings, embedder)
            res = type("Refreshed", (), {"mode": "refreshed", "rows": len(index)})()
        else:
            index, res = refresh_index(engine, settings, embedder, history=lots)
    except Exception as exc:  # noqa: BLE001 - a worse explanation, never a lost night
        log.warning("comparables index unavailable (%s: %s): valuations fall back to same-artist comparables at "
                    "raw past prices", type(exc).__name__, exc)
        return None
    if len(index) == 0:
        log.warning("comparables index is empty (no sold history): valuations fall back to same-artist "
                    "comparables at raw past prices")
        return None
    log.info("valuation comparables from the comparables index (%s, %d sold lots; prices adjusted by %s)",
             res.mode, res.rows, index.price_index.source)
    return ComparablesSearch(index, embedder, before)


def value_lots(valuer: Valuer, version: str, lots: pd.DataFrame, history: pd.DataFrame,
               consensus: pd.DataFrame | None = None, predict_expert: bool = False,
               comparables: ComparablesSearch | None = None,
               found_comparables: list[list[tuple[str, float, str]]] | None = None, found_adjusted: bool = True,
               recalibration: RollingRecalibration | None = None) -> pd.DataFrame:
    """Value ``lots`` with ``valuer``; one row per lot with exactly VALUATION_COLUMNS, sorted by lot_ref.

    The 80% ranges are re-measured on the latest realised sales in ``history`` before each lot's sale date
    (:class:`model.recalibrate.RollingRecalibration`, its defaults unless ``recalibration`` is given); the
    estimate is the model's.

    ``comparables``: the comparables search (index-adjusted prices where there is a price index); without it, or
    when it fails on these lots (logged), :func:`find_comparables` (raw prices). ``found_comparables``: the
    search's answer for these lots, made by the caller; ``found_adjusted``: whether its prices are adjusted
    (:attr:`ComparablesSearch.adjusted`). The explanations say "index-adjusted" only when they are."""
    lots = lots.reset_index(drop=True)
    if len(lots) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in VALUATION_COLUMNS})
    by_ref = pd.Series(dtype=float)
    if consensus is not None and len(consensus):
        by_ref = (consensus.dropna(subset=["consensus_usd"]).drop_duplicates("lot_ref", keep="last")
                  .assign(lot_ref=lambda d: d["lot_ref"].astype(str))
                  .set_index("lot_ref")["consensus_usd"].astype(float))
        by_ref = by_ref[by_ref > 0]
    if consensus is not None and len(consensus):
        # the night's consensus (labels up to the night, before every upcoming sale) as a model input; only on
        # the lots being valued, not on the labelled history rows the expert mapping scores below
        lots = attach_consensus(lots, consensus)
    scored = lots
    if predict_expert and len(by_ref) >= MIN_LABELLED:
        scored = pd.concat([lots, _labelled_history(history, by_ref, set(lots["lot_ref"].astype(str)))],
                           ignore_index=True)
    pred_all = valuer.predict(scored, history)
    pred = pred_all.iloc[:len(lots)].reset_index(drop=True)
    pred = (recalibration or RollingRecalibration()).apply(valuer, lots, pred, history)
    feats = build_features(lots, history)
    feats = with_signals(lots, history, feats, market=False, context=True, title=True)  # what explanations name
    p, lo, hi = (pred[c].to_numpy(dtype=float) for c in ("pred_log_usd", "low_log_usd", "high_log_usd"))
    estimate = [round_sig(math.exp(v)) for v in p]
    low = [round_sig(math.exp(v)) for v in lo]
    high = [round_sig(math.exp(v)) for v in hi]
    confidence = np.clip(np.round(np.exp(-(hi - lo) / 2.0), 3), 0.001, 1.0)

    refs = lots["lot_ref"].astype(str)
    expert = refs.map(by_ref).astype(float).round(0) if len(by_ref) else pd.Series(np.nan, index=lots.index)
    mapping = None
    if predict_expert and len(by_ref):
        all_refs = pred_all["lot_ref"].astype(str).to_numpy()
        cons = pd.Series(all_refs).map(by_ref).to_numpy(dtype=float)
        has = np.isfinite(cons)
        order = np.argsort(all_refs[has], kind="stable")  # the same fit whatever the row order
        mapping = fit_expert_mapping(pred_all["pred_log_usd"].to_numpy(dtype=float)[has][order],
                                     np.log(cons[has][order]))
    predicted = np.zeros(len(lots), dtype=bool)
    if mapping is not None:
        predicted = expert.isna().to_numpy()
        guess = np.array([round_sig(math.exp(v)) for v in mapping.predict(p)])
        expert = expert.where(~predicted, guess)

    comps, adjusted = None, False
    if found_comparables is not None:  # searched by the caller (ComparablesSearch.find on these lots, in order)
        if len(found_comparables) != len(lots):
            raise ValueError(f"found_comparables has {len(found_comparables)} entries for {len(lots)} lots")
        comps, adjusted = found_comparables, found_adjusted
    elif comparables is not None:
        try:
            comps, adjusted = comparables.find(lots), comparables.adjusted
        except Exception as exc:  # noqa: BLE001 - a worse explanation, never a lost night
            comparables.failed = f"{type(exc).__name__}: {exc}"
            log.warning("comparables search failed on %d lots (%s: %s): falling back to same-artist comparables "
                        "at raw past prices", len(lots), type(exc).__name__, exc)
    if comps is None:
        comps = find_comparables(lots, history)
    explanations = [
        explain(feats.iloc[i], estimate[i], comps[i], adjusted=adjusted) for i in range(len(lots))
    ]
    if mapping is not None:
        note = f"expert value predicted (no labels yet; mapped from {mapping.n} labelled lots)"
        explanations = [f"{e}; {note}" if predicted[i] else e for i, e in enumerate(explanations)]
    out = pd.DataFrame({
        "lot_ref": lots["lot_ref"].astype(str).to_numpy(),
        "estimate_usd": estimate, "low_usd": low, "high_usd": high,
        "expert_value_usd": expert.to_numpy(dtype=float),
        "confidence": confidence,
        "model_version": version,
        "comparables": ["; ".join(f"{r}@USD {price:.0f}@{d}" for r, price, d in c) for c in comps],
        "explanation": explanations,
    })
    return out.sort_values("lot_ref", kind="stable").reset_index(drop=True)[list(VALUATION_COLUMNS)]


def find_comparables(lots: pd.DataFrame, history: pd.DataFrame,
                     k: int = N_COMPARABLES) -> list[list[tuple[str, float, str]]]:
    """Per lot, up to ``k`` (lot_ref, hammer_usd, sale date) of sold lots strictly before its sale date."""
    lots = lots.reset_index(drop=True)
    result: list[list[tuple[str, float, str]]] = [[] for _ in range(len(lots))]
    if history is None or len(history) == 0:
        return result
    y = log_hammer_usd(history)
    h = history.loc[y.notna()]
    if len(h) == 0:
        return result
    area = pd.to_numeric(h["height_cm"], errors="coerce") * pd.to_numeric(h["width_cm"], errors="coerce")
    sold = pd.DataFrame({
        "lot_ref": h["lot_ref"].astype(str).to_numpy(),
        "artist": artist_keys(h).to_numpy(),
        "date": sale_dates(h).to_numpy(),
        "log_area": np.log(area.where(area > 0)).to_numpy(),
        "medium": h["medium_class"].astype("object").to_numpy(),
        "usd": pd.to_numeric(h["hammer_usd"]).to_numpy(dtype=float),
    }).dropna(subset=["date"])
    sold = sold.sort_values(["date", "lot_ref"], kind="stable").reset_index(drop=True)
    days = sold["date"].to_numpy().astype("datetime64[D]").astype(np.int64).astype(float)
    la = sold["log_area"].to_numpy(dtype=float)
    med = sold["medium"].to_numpy()
    by_artist = sold.groupby("artist", sort=False).indices
    by_medium = sold.groupby("medium", sort=False).indices

    l_dates = sale_dates(lots).to_numpy().astype("datetime64[D]")
    l_area = (pd.to_numeric(lots.get("height_cm"), errors="coerce")
              * pd.to_numeric(lots.get("width_cm"), errors="coerce"))
    l_la = np.log(l_area.where(l_area > 0)).to_numpy(dtype=float)
    l_art = artist_keys(lots).to_numpy()
    l_med = lots["medium_class"].astype("object").to_numpy() if "medium_class" in lots else [None] * len(lots)

    refs, usd = sold["lot_ref"].to_numpy(), sold["usd"].to_numpy()

    def rank(idx: np.ndarray, i: int, medium_penalty: bool, need: int) -> np.ndarray:
        """The ``need`` best of ``idx`` (ascending positions in ``sold``): lowest cost, then most recent, then
        lot_ref. ``sold`` is sorted by (date, lot_ref), so within a day the position orders by lot_ref and
        serves as the last key; only the candidates tied with the need-th cost or better are sorted."""
        d_area = np.abs(la[idx] - l_la[i]) if np.isfinite(l_la[i]) else np.zeros(len(idx))
        d_area = np.where(np.isfinite(d_area), d_area, 1.0)
        cost = d_area + np.abs(days[idx] - day_i) / 3652.5
        if medium_penalty:
            cost = cost + (med[idx] != l_med[i]).astype(float)
        cost = np.round(cost, 9)
        if need <= 0:
            return idx[:0]
        if len(idx) > need:
            keep = cost <= np.partition(cost, need - 1)[need - 1]
            idx, cost = idx[keep], cost[keep]
        order = np.lexsort((idx, -days[idx], cost))
        return idx[order][:need]

    date_str = sold["date"].dt.strftime("%Y-%m-%d").to_numpy()
    for i in range(len(lots)):
        if np.isnat(l_dates[i]):
            continue
        day_i = float(l_dates[i].astype(np.int64))
        chosen: list[int] = []
        art_idx = by_artist.get(l_art[i]) if l_art[i] is not None else None
        if art_idx is not None:
            art_idx = art_idx[days[art_idx] < day_i]
            chosen = list(rank(art_idx, i, True, k))
        if len(chosen) < k and l_med[i] in by_medium:
            m_idx = by_medium[l_med[i]]
            m_idx = m_idx[days[m_idx] < day_i][-MEDIUM_POOL:]
            m_idx = m_idx[~np.isin(m_idx, chosen)]
            chosen += list(rank(m_idx, i, False, k - len(chosen)))
        result[i] = [(str(refs[j]), float(round(usd[j])), str(date_str[j])) for j in chosen]
    return result


def _labelled_history(history: pd.DataFrame | None, by_ref: pd.Series, exclude: set[str]) -> pd.DataFrame:
    """The latest :data:`model.expert.MAX_LABELLED` lots of ``history`` with a consensus (not in ``exclude``)."""
    if history is None or len(history) == 0:
        return pd.DataFrame()
    refs = history["lot_ref"].astype(str)
    h = history[refs.isin(by_ref.index) & ~refs.isin(exclude)].drop_duplicates("lot_ref", keep="last")
    h = h.assign(_d=sale_dates(h), _r=h["lot_ref"].astype(str)).sort_values(["_d", "_r"], kind="stable")
    return h.tail(MAX_LABELLED).drop(columns=["_d", "_r"]).reset_index(drop=True)


def _money(x: float) -> str:
    return f"${x:,.0f}"


def _finite(x) -> bool:  # noqa: ANN001
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _context_words(features: pd.Series, medium: str) -> list[str]:
    """The lot and sale context (:func:`model.features.context_features`) in words, where it says something."""
    words = []
    n = features.get("am_prior_n_sold")
    mean = features.get("am_prior_mean_log_usd")
    if _finite(n) and n > 0 and _finite(mean) and n != features.get("prior_n_sold"):
        words.append(f"the artist's {int(n):,d} prior {medium} sale{'s' if n != 1 else ''} typically "
                     f"{_money(round_sig(math.exp(mean)))}")
    n_title, title_mean = features.get("title_prior_n_sold"), features.get("title_prior_mean_log_usd")
    if _finite(n_title) and n_title > 0 and _finite(title_mean):
        words.append(f"{int(n_title):,d} earlier sale{'s' if n_title != 1 else ''} of the same title "
                     f"({medium}) typically {_money(round_sig(math.exp(title_mean)))}")
    rel = features.get("log_area_vs_artist_medium")
    if _finite(rel) and abs(rel) >= math.log(2):
        words.append(f"{math.exp(abs(rel)):.1f}x {'larger' if rel > 0 else 'smaller'} than the artist's usual {medium}")
    if features.get("evening_sale") == 1:
        words.append("offered in an evening sale")
    num, size = features.get("lot_number_num"), features.get("sale_lots")
    if _finite(num) and _finite(size) and size >= 20 and features.get("lot_position", 1) <= 0.1:
        words.append(f"an early lot (lot {int(num)}; {int(size)} lots in the sale)")
    return words


def explain(features: pd.Series, estimate: float, comparables: list[tuple[str, float, str]],
            adjusted: bool = False) -> str:
    """The main factors in words; ``adjusted``: the comparables' prices are index-adjusted to the sale date."""
    parts = []
    n = int(features.get("prior_n_sold") or 0)
    median_log = features.get("prior_median_log_usd")
    if n > 0 and median_log is not None and math.isfinite(median_log):
        parts.append(f"Artist median of {n:,d} prior sale{'s' if n != 1 else ''} {_money(round_sig(math.exp(median_log)))}")
    else:
        parts.append("No prior sales of the artist on record")
    la = features.get("log_area")
    if la is not None and math.isfinite(la):
        m2 = math.exp(la) / 10_000
        size = "large" if m2 >= 1.0 else ("medium-size" if m2 >= 0.25 else "small")
        parts.append(f"{size} work ({m2:.2f} m²)")
    else:
        parts.append("no size given")
    medium = features.get("medium_class")
    if isinstance(medium, str) and medium:
        parts.append(medium.replace("_", " "))
        parts += _context_words(features, medium.replace("_", " "))
    if comparables and math.isfinite(estimate):
        comp_median = float(np.median([c[1] for c in comparables]))
        if comp_median > 0:
            ratio = estimate / comp_median
            if adjusted:
                median = f"the index-adjusted median of {len(comparables)} comparable{'s' if len(comparables) != 1 else ''}"
                median += f" ({_money(round_sig(comp_median))})"
                if abs(math.log(ratio)) < 0.25:
                    parts.append(f"estimate near {median}")
                else:
                    parts.append(f"estimate {'above' if ratio > 1 else 'below'} {median}: {ratio:.1f}x")
            elif abs(math.log(ratio)) < 0.25:
                parts.append("estimate near comparables")
            else:
                parts.append(f"estimate {'above' if ratio > 1 else 'below'} comparables ({ratio:.1f}x their median)")
    return "; ".join(parts)
