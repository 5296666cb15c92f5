"""Active learning: which upcoming artworks to send to which experts tonight, within a daily budget per expert.

Score of an upcoming lot (higher = ask first), the expected dollar error the labels could remove::

    score = estimate_usd × (half_width + THIN_WEIGHT × thin + DISAGREE_WEIGHT × spread) / sqrt(1 + n_labels)

* ``half_width``: half the model's log 80 % interval (its uncertainty); the median where a lot has none;
* ``thin``: ``1 / (1 + sold lots of the artist so far)``: thinly traded artists, where comparables are few;
* ``spread``: the experts' disagreement on the lot so far (consensus spread), 0 where unlabelled;
* ``n_labels``: labels the lot already has (diminishing returns).

Assignment is greedy by score: each lot gets up to ``experts_per_lot`` experts who have not labelled it yet,
least-loaded first, until every expert's ``budget_per_expert`` for the night is used. Experts are pseudonymous
(``expert_key``) throughout; the Label Studio bridge turns requests into tasks without naming anyone.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

THIN_WEIGHT = 0.5
DISAGREE_WEIGHT = 1.0
DEFAULT_BUDGET = 10  # labels per expert per night (GBV_LABEL_BUDGET)
EXPERTS_PER_LOT = 3
REQUEST_COLUMNS = ("run_date", "lot_ref", "expert_key", "priority", "score", "reason")


def budget_from_env() -> int:
    raw = os.environ.get("GBV_LABEL_BUDGET", "").strip()
    if not raw:
        return DEFAULT_BUDGET
    b = int(raw)
    if b < 0:
        raise ValueError(f"GBV_LABEL_BUDGET must be >= 0, got {raw!r}")
    return b


def score_lots(upcoming: pd.DataFrame, valuations: pd.DataFrame | None, history: pd.DataFrame,
               consensus: pd.DataFrame | None = None) -> pd.DataFrame:
    """``lot_ref, score, half_width, thin, spread, n_labels, value_usd`` per upcoming lot, best first."""
    lots = upcoming[["lot_ref", "artist_id"]].drop_duplicates("lot_ref").reset_index(drop=True)
    if valuations is not None and len(valuations):
        v = valuations.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
        est = lots["lot_ref"].map(v["estimate_usd"]).astype(float)
        hw = (np.log(lots["lot_ref"].map(v["high_usd"]).astype(float))
              - np.log(lots["lot_ref"].map(v["low_usd"]).astype(float))) / 2
    else:
        est, hw = pd.Series(np.nan, index=lots.index), pd.Series(np.nan, index=lots.index)
    if "estimate_low_usd" in upcoming.columns:  # the house's own estimate where the model has none
        house = upcoming.drop_duplicates("lot_ref").set_index("lot_ref")
        mid = np.sqrt(house["estimate_low_usd"].astype(float) * house["estimate_high_usd"].astype(float))
        est = est.fillna(lots["lot_ref"].map(mid))
    est = est.fillna(est.median() if est.notna().any() else 1.0)
    hw = hw.fillna(hw.median() if hw.notna().any() else 0.5)
    sold = history[history["status"] == "sold"]
    n_sold = lots["artist_id"].map(sold.groupby("artist_id").size()).fillna(0)
    thin = 1.0 / (1.0 + n_sold)
    spread = pd.Series(0.0, index=lots.index)
    n_labels = pd.Series(0.0, index=lots.index)
    if consensus is not None and len(consensus):
        c = consensus.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
        spread = lots["lot_ref"].map(c["spread"]).astype(float).fillna(0.0)
        n_labels = lots["lot_ref"].map(c["n_experts"]).astype(float).fillna(0.0)
    need = hw + THIN_WEIGHT * thin + DISAGREE_WEIGHT * spread
    score = est * need / np.sqrt(1.0 + n_labels)
    out = pd.DataFrame({"lot_ref": lots["lot_ref"], "score": score, "half_width": hw, "thin": thin,
                        "spread": spread, "n_labels": n_labels.astype(int), "value_usd": est})
    return out.sort_values(["score", "lot_ref"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _reason(row: pd.Series) -> str:
    parts = [f"model ±{row['half_width']:.2f} log on ~${row['value_usd']:,.0f}"]
    if row["thin"] >= 0.25:
        parts.append("thinly traded artist")
    if row["spread"] > 0.3:
        parts.append(f"experts disagree (spread {row['spread']:.2f})")
    return "; ".join(parts)


def assign_requests(scored: pd.DataFrame, expert_keys: list[str], run_date: str, *,
                    budget_per_expert: int = DEFAULT_BUDGET, experts_per_lot: int = EXPERTS_PER_LOT,
                    done: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Greedy (lot, expert) requests; ``done`` holds (lot_ref, expert_key) pairs already labelled."""
    done = done or set()
    load = {k: 0 for k in sorted(set(expert_keys))}
    rows = []
    for r in scored.itertuples(index=False):
        free = [k for k in load if load[k] < budget_per_expert and (r.lot_ref, k) not in done]
        if not free:
            if all(v >= budget_per_expert for v in load.values()):
                break
            continue
        for k in sorted(free, key=lambda k: (load[k], k))[:experts_per_lot]:
            load[k] += 1
            rows.append({"run_date": run_date, "lot_ref": r.lot_ref, "expert_key": k, "priority": len(rows) + 1,
                         "score": float(r.score), "reason": _reason(pd.Series(r._asdict()))})
    return pd.DataFrame(rows, columns=list(REQUEST_COLUMNS))


def requests_for_night(settings, run_date: str, budget_per_expert: int | None = None) -> pd.DataFrame:  # noqa: ANN001
    """Tonight's requests from the warehouse (lots, latest valuations and consensus, stored labels), stored in
    ``label_request`` (replacing the night's rows). Experts: the night's roster, pseudonymised."""
    import datetime as dt

    from sqlalchemy import func, select

    from gbv.crowd.labels import find_roster
    from gbv.privacy import pseudonymize
    from warehouse.db import get_engine
    from warehouse.io import read_consensus, read_lots
    from warehouse.loaders import replace_partition
    from warehouse.schema import fact_expert_label, fact_valuation, label_request, metadata

    engine = get_engine(settings)
    metadata.create_all(engine)
    budget = budget_from_env() if budget_per_expert is None else budget_per_expert
    history = read_lots(engine)
    upcoming = history[history["status"] == "upcoming"]
    with engine.connect() as conn:
        night = conn.execute(select(func.max(fact_valuation.c.run_date))).scalar()
        vals = pd.read_sql(select(fact_valuation).where(fact_valuation.c.run_date == night), conn) \
            if night is not None else None
        done = pd.read_sql(select(fact_expert_label.c.lot_ref, fact_expert_label.c.expert_key), conn)
    keys = [pseudonymize(e, settings.expert_salt) for e in find_roster(settings.raw_dir / "labels", run_date)]
    scored = score_lots(upcoming, vals, history, read_consensus(engine))
    req = assign_requests(scored, keys, run_date, budget_per_expert=budget,
                          done=set(zip(done["lot_ref"], done["expert_key"], strict=True)))
    replace_partition(engine, label_request, req.assign(run_date=dt.date.fromisoformat(run_date)),
                      {"run_date": run_date})
    log.info("label requests for %s: %d pairs over %d lots", run_date, len(req), req["lot_ref"].nunique())
    return req
