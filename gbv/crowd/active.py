"""Active learning: which upcoming artworks to send to which experts tonight, within a daily budget per expert.

Each label is worth the error it is expected to remove from the valuation (model blended with the consensus,
:mod:`gbv.crowd.blend`). Per upcoming lot, on the log scale:

* ``model_sd``: how wrong the model may be: its 80 % interval (``half_width / Z80``: wider for thinly traded
  artists), its gap to the house's own estimate where the house gave one (where two independent estimates
  disagree, at least one is off: the strongest single signal of a large error), and ``THIN_WEIGHT × thin`` with
  ``thin = 1 / (1 + sold lots of the artist so far)``;
* ``expert_sd``: the noise of a new expert's label (the typical expert's, from the reliability table);
  ``labels_sd``: that of the ``n_labels`` labels the lot already has: their spread where the experts disagree
  (at least ``expert_sd``), so a disputed lot is still uncertain and worth another view;
* with ``k`` more labels the value is known to ``sd(k) = (1 / model_sd² + n_labels / labels_sd² +
  k / expert_sd²)^-½``; the next label removes ``sd(k) - sd(k + 1)`` (largest for the first label of an
  uncertain lot, then diminishing);
* ``value_weight = (estimate / median estimate) ^ VALUE_EXPONENT``: dollars matter, tempered so that a few
  very expensive lots do not take the whole budget.

``score`` is the gain of the lot's next label. :func:`assign_requests` then spends the budget greedily, one
label at a time, on the largest gain: a lot gets a second or third expert only when that is worth more than a
first label elsewhere (at most ``experts_per_lot``), and each further lot of an artist already chosen tonight
counts ``ARTIST_DECAY`` times less (diversity: the budget is not spent on one artist). Each label goes to the
expert with the best **proven accuracy in the lot's segment** who still has budget and has not labelled the lot:
:func:`route_for_lots` ranks the roster per medium class with :func:`gbv.market.recommend.route_experts` (median
|log(value / hammer)| on labelled lots that later sold, shrunk towards the expert's overall accuracy where the
segment's record is thin; experts without any record last), and each request row says why in ``why`` (the
segment, the expert's rank and record there, and how many better-ranked experts were out of budget or had
labelled the lot). Without routing, experts are taken most-reliable first when a reliability table is given,
else least-loaded first. Every expert stays within ``budget_per_expert`` per night (``GBV_LABEL_BUDGET``).
Experts are pseudonymous (``expert_key``) throughout;
the Label Studio bridge turns requests into tasks without naming anyone. ``gbv bench active-learning`` measures
the policy against random choice at the same budget.
"""

from __future__ import annotations

import heapq
import logging
import os

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Z80 = 1.2816  # half-width of a central 80 % normal interval, in sd
THIN_WEIGHT = 0.5
HOUSE_GAP_WEIGHT = 1.0  # weight of |model - house estimate| in model_sd
VALUE_EXPONENT = 0.5
ARTIST_DECAY = 0.5
DEFAULT_EXPERT_SD = 0.3  # typical expert log noise when no reliability table is given
DEFAULT_BUDGET = 10  # labels per expert per night (GBV_LABEL_BUDGET)
EXPERTS_PER_LOT = 3
REQUEST_COLUMNS = ("run_date", "lot_ref", "expert_key", "priority", "score", "reason", "why")
ROUTE_SEGMENT = "medium_class"  # the segment experts are routed by (route_experts' default)
ROUTE_COLUMNS = ("lot_ref", "segment", "expert_key", "rank", "expected_log_error", "n_segment_labels", "why")
SCORE_COLUMNS = ("lot_ref", "score", "half_width", "thin", "spread", "n_labels", "value_usd", "house_gap",
                 "model_sd", "labels_sd", "expert_sd", "value_weight", "artist_key")


def budget_from_env() -> int:
    raw = os.environ.get("GBV_LABEL_BUDGET", "").strip()
    if not raw:
        return DEFAULT_BUDGET
    b = int(raw)
    if b < 0:
        raise ValueError(f"GBV_LABEL_BUDGET must be >= 0, got {raw!r}")
    return b


def _gain(model_sd, n_labels, labels_sd, expert_sd, k, value_weight):  # noqa: ANN001, ANN202 - arrays or floats
    """What the (k+1)-th new label removes from the sd of the lot's blended value, times its value weight."""
    known = 1.0 / model_sd**2 + n_labels / labels_sd**2
    return value_weight * (1.0 / np.sqrt(known + k / expert_sd**2) - 1.0 / np.sqrt(known + (k + 1) / expert_sd**2))


def score_lots(upcoming: pd.DataFrame, valuations: pd.DataFrame | None, history: pd.DataFrame,
               consensus: pd.DataFrame | None = None, reliability: pd.DataFrame | None = None) -> pd.DataFrame:
    """:data:`SCORE_COLUMNS` per upcoming lot, best first (see the module notes). ``upcoming``: lots with
    ``lot_ref, artist_id`` and, where known, the house estimate ``estimate_low_usd, estimate_high_usd``."""
    lots = upcoming.drop_duplicates("lot_ref").reset_index(drop=True)
    refs = lots["lot_ref"]
    if valuations is not None and len(valuations):
        v = valuations.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
        est = refs.map(v["estimate_usd"]).astype(float)
        hw = (np.log(refs.map(v["high_usd"]).astype(float)) - np.log(refs.map(v["low_usd"]).astype(float))) / 2
    else:
        est, hw = pd.Series(np.nan, index=lots.index), pd.Series(np.nan, index=lots.index)
    gap = pd.Series(np.nan, index=lots.index)
    if {"estimate_low_usd", "estimate_high_usd"} <= set(lots.columns):  # the house's own estimate
        lo = pd.to_numeric(lots["estimate_low_usd"], errors="coerce")
        hi = pd.to_numeric(lots["estimate_high_usd"], errors="coerce")
        mid = np.sqrt(lo.where(lo > 0) * hi.where(hi > 0))
        gap = np.abs(np.log(est) - np.log(mid))
        est = est.fillna(mid)
    est = est.fillna(est.median() if est.notna().any() else 1.0)
    hw = hw.fillna(hw.median() if hw.notna().any() else 0.5)
    artist = (lots["artist_id"] if "artist_id" in lots.columns else pd.Series(None, index=lots.index)).astype(object)
    sold = history[history["status"] == "sold"]
    n_sold = artist.map(sold.groupby("artist_id").size()).fillna(0) if "artist_id" in sold.columns else 0.0
    thin = 1.0 / (1.0 + n_sold)
    spread = pd.Series(0.0, index=lots.index)
    n_labels = pd.Series(0.0, index=lots.index)
    if consensus is not None and len(consensus):
        c = consensus.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
        spread = refs.map(c["spread"]).astype(float).fillna(0.0)
        n_labels = refs.map(c["n_experts"]).astype(float).fillna(0.0)
    typical = DEFAULT_EXPERT_SD
    if reliability is not None and len(reliability) and "log_sd" in reliability.columns:
        sd = pd.to_numeric(reliability["log_sd"], errors="coerce").dropna()
        typical = float(sd.median()) if len(sd) else typical
    model_sd = hw / Z80 + HOUSE_GAP_WEIGHT * gap.fillna(0.0) + THIN_WEIGHT * thin
    labels_sd = np.maximum(spread, typical)
    expert_sd = pd.Series(typical, index=lots.index)
    value_weight = (est / est.median()) ** VALUE_EXPONENT if est.median() > 0 else pd.Series(1.0, index=lots.index)
    score = _gain(model_sd.to_numpy(float), n_labels.to_numpy(float), labels_sd.to_numpy(float),
                  expert_sd.to_numpy(float), 0.0, value_weight.to_numpy(float))
    out = pd.DataFrame({"lot_ref": refs, "score": score, "half_width": hw, "thin": thin, "spread": spread,
                        "n_labels": n_labels.astype(int), "value_usd": est, "house_gap": gap, "model_sd": model_sd,
                        "labels_sd": labels_sd, "expert_sd": expert_sd, "value_weight": value_weight, "artist_key": artist})
    out = out[list(SCORE_COLUMNS)]
    return out.sort_values(["score", "lot_ref"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _reason(row: pd.Series) -> str:
    parts = [f"model ±{row['half_width']:.2f} log on ~${row['value_usd']:,.0f}"]
    gap = row.get("house_gap")
    if gap is not None and np.isfinite(gap) and gap > 0.3:
        parts.append(f"model and house estimate {np.exp(gap):.1f}x apart")
    if row["thin"] >= 0.25:
        parts.append("thinly traded artist")
    if row["spread"] > 0.3:
        parts.append(f"experts disagree (spread {row['spread']:.2f})")
    return "; ".join(parts)


def _expert_order(expert_keys: list[str], reliability: pd.DataFrame | None) -> dict[str, float]:
    """Per expert, the noise used to rank them (lower first); 0 for all without a reliability table."""
    noise = {k: 0.0 for k in sorted(set(expert_keys))}
    if reliability is not None and len(reliability):
        sd = reliability.drop_duplicates("expert_key", keep="last").set_index("expert_key")["log_sd"]
        fallback = float(pd.to_numeric(sd, errors="coerce").median()) if len(sd) else 0.0
        noise = {k: float(sd.get(k, fallback)) for k in noise}
    return noise


def route_for_lots(lots: pd.DataFrame, labels: pd.DataFrame | None, history: pd.DataFrame,
                   expert_keys: list[str], segment: str = ROUTE_SEGMENT) -> pd.DataFrame:
    """:data:`ROUTE_COLUMNS`: every expert of the roster ranked for every lot of ``lots`` by proven accuracy in
    the lot's segment (:func:`gbv.market.recommend.route_experts`, run once per segment: lots of a segment share
    the ranking). ``labels``: ``lot_ref, expert_key, value_point_usd`` (USD); ``history``: lots with ``status``,
    ``hammer_usd`` and the segment column (the sold ones are the proof). Labels of experts not on the roster are
    left out; a lot without a segment gets the experts' overall accuracy."""
    from gbv.market.recommend import route_experts

    keys = sorted(set(expert_keys))
    lots = lots.drop_duplicates("lot_ref")
    if not keys or lots.empty:
        return pd.DataFrame(columns=list(ROUTE_COLUMNS))
    seg = (lots[segment] if segment in lots.columns else pd.Series(None, index=lots.index)).astype(object)
    seg = seg.where(seg.notna(), "").astype(str)
    lab = pd.DataFrame(columns=["lot_ref", "expert_key", "value_point_usd"]) if labels is None else labels
    lab = lab[lab["expert_key"].astype(str).isin(keys)]
    lab = lab[["lot_ref", "expert_key", "value_point_usd"]].assign(expert_key=lambda d: d["expert_key"].astype(str))
    hist = history
    if segment not in hist.columns or "hammer_usd" not in hist.columns:
        hist = pd.DataFrame(columns=["lot_ref", "status", "hammer_usd", segment])
    segments = sorted(set(seg))
    tasks = pd.DataFrame({"lot_ref": segments, segment: segments})
    routed = route_experts(tasks, lab, hist, k=len(keys), segment=segment, experts=keys)
    routed = routed.rename(columns={"lot_ref": "segment"})
    out = pd.DataFrame({"lot_ref": lots["lot_ref"].astype(str).to_numpy(), "segment": seg.to_numpy()})
    return out.merge(routed, on="segment", how="inner")[list(ROUTE_COLUMNS)]


def _routing_table(routing: pd.DataFrame | None) -> tuple[dict, dict]:
    """(lot_ref -> segment, segment -> {expert_key: (expected_log_error, rank, n, why)}) of a routing frame."""
    if routing is None or routing.empty:
        return {}, {}
    seg_of = dict(zip(routing["lot_ref"].astype(str), routing["segment"].astype(str), strict=True))
    per_seg = routing.drop_duplicates(["segment", "expert_key"])
    table: dict[str, dict] = {}
    for r in per_seg.itertuples(index=False):
        table.setdefault(str(r.segment), {})[str(r.expert_key)] = (float(r.expected_log_error), int(r.rank),
                                                                  int(r.n_segment_labels), str(r.why))
    return seg_of, table


def _why(seg: str, rank: int, of: int, err: float, n: int, why: str, passed: int) -> str:
    where = seg.replace("_", " ") if seg else "lots without a medium class"
    if n > 0:
        record = f"{why.replace('_', ' ')}: median log error {err:.2f} over {n} sold lot{'s' if n != 1 else ''}"
    elif why.startswith("no record in this segment"):
        record = f"no record in {where} yet: overall log error {err:.2f}"
    else:
        record = "no proven record yet"
    text = f"rank {rank} of {of} for {where} ({record})"
    if passed:
        text += f"; {passed} better-ranked expert{'s' if passed != 1 else ''} out of budget or already on this lot"
    return text


def assign_requests(scored: pd.DataFrame, expert_keys: list[str], run_date: str, *,
                    budget_per_expert: int = DEFAULT_BUDGET, experts_per_lot: int = EXPERTS_PER_LOT,
                    done: set[tuple[str, str]] | None = None, reliability: pd.DataFrame | None = None,
                    in_order: bool = False, routing: pd.DataFrame | None = None) -> pd.DataFrame:
    """(lot, expert) requests within the budget; ``done`` holds (lot_ref, expert_key) pairs already labelled.

    Greedy by marginal gain (module notes) when ``scored`` comes from :func:`score_lots`; with ``in_order`` (or a
    frame without the gain columns) lots are taken in row order, each with up to ``experts_per_lot`` experts
    (what ``gbv bench active-learning`` uses for its random arm). ``routing`` (:func:`route_for_lots`): each lot's
    experts in route_experts' order for its segment (proven accuracy there), the first with budget left who has
    not labelled the lot, and ``why`` says so; a lot the routing does not cover, or no routing, orders by
    reliability, then load (``why`` says that)."""
    done = set(done or ())
    noise = _expert_order(expert_keys, reliability)
    load = {k: 0 for k in noise}
    seg_of, route = _routing_table(routing)
    has_gain = {"model_sd", "labels_sd", "expert_sd", "value_weight", "n_labels"} <= set(scored.columns)
    rows: list[dict] = []
    fallback_why = ("by overall reliability (no per-segment record routing)" if reliability is not None
                    and len(reliability) else "least loaded expert (no accuracy record to route by)")

    def take(r, n_max: int) -> int:  # noqa: ANN001 - a scored row
        seg = seg_of.get(str(r.lot_ref))
        ranks = route.get(seg) if seg is not None else None
        if ranks is not None:  # route_experts' rank (error, then key); experts it did not rank after them
            last = len(ranks) + 1

            def key(k: str) -> tuple:
                return (ranks[k][1] if k in ranks else last, noise[k], load[k], k)
        else:
            def key(k: str) -> tuple:
                return (noise[k], load[k], k)
        order = sorted(load, key=key)
        chosen = [k for k in order if load[k] < budget_per_expert and (r.lot_ref, k) not in done][:n_max]
        for k in chosen:
            if ranks is not None and k in ranks:
                err, rank, n, why = ranks[k]
                passed = sum(1 for j in order[:order.index(k)] if j not in chosen)
                why = _why(seg, rank, len(ranks), err, n, why, passed)
            else:
                why = fallback_why
            load[k] += 1
            done.add((r.lot_ref, k))
            rows.append({"run_date": run_date, "lot_ref": r.lot_ref, "expert_key": k, "priority": len(rows) + 1,
                         "score": float(r.score), "reason": _reason(pd.Series(r._asdict())), "why": why})
        return len(chosen)

    def exhausted() -> bool:
        return all(v >= budget_per_expert for v in load.values())

    if in_order or not has_gain:
        for r in scored.itertuples(index=False):
            if exhausted():
                break
            take(r, experts_per_lot)
        return pd.DataFrame(rows, columns=list(REQUEST_COLUMNS))

    lots = list(scored.itertuples(index=False))
    asked = [0] * len(lots)  # labels requested tonight per lot
    per_artist: dict = {}

    def gain(i: int) -> float:
        r = lots[i]
        g = _gain(float(r.model_sd), float(r.n_labels), float(r.labels_sd), float(r.expert_sd), asked[i],
                  float(r.value_weight))
        a = r.artist_key
        if a is not None and a == a and asked[i] == 0:  # a further lot of an artist already chosen tonight
            g *= ARTIST_DECAY ** per_artist.get(a, 0)
        return float(g)

    heap = [(-gain(i), lots[i].lot_ref, i) for i in range(len(lots))]
    heapq.heapify(heap)
    while heap and not exhausted():
        neg, _, i = heapq.heappop(heap)
        g = gain(i)
        if heap and g < -heap[0][0] - 1e-15:  # stale: its gain fell since it was pushed (lazy greedy)
            heapq.heappush(heap, (-g, lots[i].lot_ref, i))
            continue
        r = lots[i]._replace(score=g)
        if take(r, 1) == 0:
            continue  # no expert left for this lot
        if asked[i] == 0 and r.artist_key is not None and r.artist_key == r.artist_key:
            per_artist[r.artist_key] = per_artist.get(r.artist_key, 0) + 1
        asked[i] += 1
        if asked[i] < experts_per_lot:
            heapq.heappush(heap, (-gain(i), r.lot_ref, i))
    return pd.DataFrame(rows, columns=list(REQUEST_COLUMNS))


def ensure_request_table(engine) -> None:  # noqa: ANN001 - a SQLAlchemy engine
    """``label_request`` as :mod:`warehouse.schema` has it: a warehouse from before the ``why`` column gets it
    (nullable text; its earlier nights' rows keep NULL)."""
    from sqlalchemy import inspect, text

    from warehouse.schema import label_request

    label_request.create(engine, checkfirst=True)
    if "why" not in {c["name"] for c in inspect(engine).get_columns("label_request")}:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE label_request ADD COLUMN why TEXT"))
        log.info("label_request: added the column why")


def requests_for_night(settings, run_date: str, budget_per_expert: int | None = None) -> pd.DataFrame:  # noqa: ANN001
    """Tonight's requests from the warehouse (lots, latest valuations, consensus and expert reliability, stored
    labels), stored in ``label_request`` (replacing the night's rows). Experts: the night's roster,
    pseudonymised, routed per lot by proven accuracy in its segment (:func:`route_for_lots`)."""
    import datetime as dt

    from sqlalchemy import func, select

    from gbv.crowd.labels import find_roster
    from gbv.privacy import pseudonymize
    from warehouse.db import get_engine
    from warehouse.io import read_consensus, read_lots
    from warehouse.loaders import replace_partition
    from warehouse.schema import (
        fact_expert_label,
        fact_expert_reliability,
        fact_valuation,
        label_request,
        metadata,
    )

    engine = get_engine(settings)
    metadata.create_all(engine)
    budget = budget_from_env() if budget_per_expert is None else budget_per_expert
    history = read_lots(engine)
    upcoming = history[history["status"] == "upcoming"]
    with engine.connect() as conn:
        night = conn.execute(select(func.max(fact_valuation.c.run_date))).scalar()
        vals = pd.read_sql(select(fact_valuation).where(fact_valuation.c.run_date == night), conn) \
            if night is not None else None
        labels = pd.read_sql(select(fact_expert_label.c.lot_ref, fact_expert_label.c.expert_key,
                                    fact_expert_label.c.value_point_usd), conn)
        rel_night = conn.execute(select(func.max(fact_expert_reliability.c.run_date))).scalar()
        reliability = pd.read_sql(select(fact_expert_reliability).where(
            fact_expert_reliability.c.run_date == rel_night), conn) if rel_night is not None else None
    keys = [pseudonymize(e, settings.expert_salt) for e in find_roster(settings.raw_dir / "labels", run_date)]
    scored = score_lots(upcoming, vals, history, read_consensus(engine), reliability)
    routing = route_for_lots(upcoming, labels, history, keys)
    req = assign_requests(scored, keys, run_date, budget_per_expert=budget, reliability=reliability,
                          done=set(zip(labels["lot_ref"], labels["expert_key"], strict=True)), routing=routing)
    ensure_request_table(engine)
    replace_partition(engine, label_request, req.assign(run_date=dt.date.fromisoformat(run_date)),
                      {"run_date": run_date})
    log.info("label requests for %s: %d pairs over %d lots", run_date, len(req), req["lot_ref"].nunique())
    return req
