"""Buyer recommendations for a house's client team, and routing of labelling tasks to the best experts.

:class:`BuyerRecommender` is fitted **per house on that house's own clients and bids only** (bids of other
houses are dropped before anything is computed, so they cannot change a house's answer). For a client ``u`` and
an upcoming lot ``i`` it adds three standardised parts (z-scores over the house's clients for each lot):

* **collaborative** (weight :data:`W_CF`): implicit-feedback ALS (:mod:`implicit`) on the client x artist matrix
  (confidence 1 + alpha x (bids + 2 x wins)); lots are one-off objects, so the collaborative items are their
  artists, and ALS generalises across artists that the same clients collect. A lot by an artist the house's
  clients never bid on (a new artist) has no collaborative part: content alone speaks for it.
* **content** (weight :data:`W_CONTENT`): cosine between the lot's text embedding (the comparables embedder:
  MiniLM, mean-pooled) and the client's profile (mean embedding of the lots they bid on, wins counted twice),
  plus the client's smoothed share of bids on the lot's artist and medium, plus the fit of the lot's price tier
  (log geometric mid of the house's estimate) to the client's bid prices.
* **activity** (weight :data:`W_POP`): log(1 + the client's bids): the popularity baseline.

A client with no history gets no collaborative or content part (activity 0): for such a client the lots are
ranked by the house's demand for their artist and medium (a stated fallback). ``method`` picks
``hybrid`` (all three), ``popularity`` (activity; for lots-of-a-client: artist demand) or ``content``.

:func:`route_experts` applies the same idea to labelling: experts are the "clients", segments (medium class by
default) the "items", proven accuracy on labelled lots that later sold the affinity, shrunk towards the expert's
overall accuracy where the segment's record is thin (the cold start of an expert in a segment).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

W_CF, W_CONTENT, W_POP = 1.0, 1.0, 0.3  # chosen on the demo world of seed 11 (the bench reports seed 7)
COLD_FILL = 0.0  # content z of a client without history
METHODS = ("hybrid", "popularity", "content", "cf")


class RecommendError(ValueError):
    """A recommendation request that cannot be answered (unknown house, no upcoming sale)."""


def _z(x: np.ndarray, axis: int = 1, missing: float = 0.0) -> np.ndarray:
    """Standardise along ``axis``; NaN (no signal) -> ``missing``."""
    x = np.where(np.isfinite(np.asarray(x, dtype=float)), x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(x, axis=axis, keepdims=True)
        sd = np.nanstd(x, axis=axis, keepdims=True)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
    z = (x - mu) / sd
    return np.where(np.isfinite(z), z, missing)


def lot_price_log(lots: pd.DataFrame) -> np.ndarray:
    """Log USD price tier of a lot from the house's estimate (geometric mid); hammer when no estimate."""
    lo = pd.to_numeric(lots.get("estimate_low_usd"), errors="coerce")
    hi = pd.to_numeric(lots.get("estimate_high_usd"), errors="coerce")
    mid = np.sqrt(lo * hi).where((lo > 0) & (hi > 0))
    if "hammer_usd" in lots:
        mid = mid.fillna(pd.to_numeric(lots["hammer_usd"], errors="coerce").where(lambda s: s > 0))
    return np.log(mid.to_numpy(dtype=float))


@dataclass
class _Fitted:
    clients: np.ndarray
    artists: list[str]
    cf_user: np.ndarray | None
    cf_item: np.ndarray | None
    profile: np.ndarray
    has_history: np.ndarray
    artist_share: pd.DataFrame
    medium_share: pd.DataFrame
    tier_mu: np.ndarray
    tier_sd: np.ndarray
    activity: np.ndarray
    artist_demand: pd.Series
    medium_demand: pd.Series


class BuyerRecommender:
    """Hybrid recommender of one house's clients for upcoming lots (see the module docstring)."""

    def __init__(self, house: str, embedder=None, factors: int = 16, iterations: int = 15,  # noqa: ANN001
                 regularization: float = 0.1, alpha: float = 5.0, seed: int = 7, w_cf: float = W_CF,
                 w_content: float = W_CONTENT, w_pop: float = W_POP, cold_fill: float = COLD_FILL):
        self.house, self.embedder = house, embedder
        self.w_cf, self.w_content, self.w_pop, self.cold_fill = w_cf, w_content, w_pop, cold_fill
        self.factors, self.iterations, self.regularization, self.alpha, self.seed = (
            factors, iterations, regularization, alpha, seed)
        self.fitted: _Fitted | None = None
        self._emb: dict[str, np.ndarray] = {}

    # ---- embeddings of lots (cached by lot_ref) ----
    def _embed(self, lots: pd.DataFrame) -> np.ndarray:
        if self.embedder is None:
            from gbv.market.comps import make_embedder

            self.embedder = make_embedder()
        from gbv.market.comps import lot_texts

        refs = lots["lot_ref"].astype(str).tolist()
        todo = [i for i, r in enumerate(refs) if r not in self._emb]
        if todo:
            vec = self.embedder.embed(lot_texts(lots.iloc[todo]))
            for i, v in zip(todo, vec, strict=True):
                self._emb[refs[i]] = np.nan_to_num(v)
        dim = self.embedder.dim
        return np.stack([self._emb[r] for r in refs]) if refs else np.zeros((0, dim), np.float32)

    def fit(self, bids: pd.DataFrame, lots: pd.DataFrame, clients: pd.DataFrame | None = None,
            as_of=None) -> BuyerRecommender:  # noqa: ANN001
        """Learn from the house's bids (before ``as_of`` when given) on ``lots`` (any lots holding them).

        ``clients``: the house's client list (clients without bids are kept as cold starts)."""
        b = bids[bids["house"] == self.house]
        if as_of is not None:
            b = b[pd.to_datetime(b["sale_date"]) < pd.Timestamp(as_of)]
        known = clients[clients["house"] == self.house]["client_id"] if clients is not None else pd.Series([])
        ids = np.array(sorted(set(known.astype(str)) | set(b["client_id"].astype(str))), dtype=object)
        if len(ids) == 0:
            raise RecommendError(f"house {self.house!r} has no clients")
        lot_info = lots.drop_duplicates("lot_ref").set_index("lot_ref")
        b = b[b["lot_ref"].isin(lot_info.index)].copy()
        b["artist_id"] = b["lot_ref"].map(lot_info["artist_id"]).astype(str)
        b["medium_class"] = b["lot_ref"].map(lot_info["medium_class"]).astype(str)
        b["w"] = 1.0 + b["won"].astype(float)
        pos = {c: i for i, c in enumerate(ids)}
        u = b["client_id"].map(pos).to_numpy(dtype=np.int64)
        n = len(ids)
        counts = np.bincount(u, minlength=n).astype(float)

        artists = sorted(b["artist_id"].unique())
        apos = {a: i for i, a in enumerate(artists)}
        cf_user = cf_item = None
        if len(artists) >= 2 and len(b):
            cf_user, cf_item = self._als(u, b["artist_id"].map(apos).to_numpy(), b["w"].to_numpy(), n,
                                         len(artists))
        dim = self.embedder.dim if self.embedder is not None else 384
        profile = np.zeros((n, dim), dtype=np.float32)
        if len(b):
            bl = lot_info.loc[b["lot_ref"]].reset_index()
            emb = self._embed(bl)
            np.add.at(profile, u, emb * b["w"].to_numpy()[:, None])
            norms = np.linalg.norm(profile, axis=1, keepdims=True)
            profile = profile / np.where(norms > 0, norms, 1.0)
        share = (lambda col: b.groupby(["client_id", col])["w"].sum()  # noqa: E731
                 .div(b.groupby("client_id")["w"].sum()).rename("share").reset_index())
        lp = lot_price_log(lot_info.loc[b["lot_ref"]]) if len(b) else np.zeros(0)
        lp = np.where(np.isfinite(lp), lp, np.log(b["bid_usd"].to_numpy(dtype=float).clip(1)))
        tmu = np.full(n, np.nan)
        tsd = np.full(n, np.nan)
        if len(b):
            g = pd.DataFrame({"u": u, "lp": lp}).groupby("u")["lp"]
            tmu[g.mean().index] = g.mean().to_numpy()
            tsd[g.std().index] = g.std().fillna(1.0).to_numpy()
        self.fitted = _Fitted(
            clients=ids, artists=artists, cf_user=cf_user, cf_item=cf_item, profile=profile,
            has_history=counts > 0, artist_share=share("artist_id"), medium_share=share("medium_class"),
            tier_mu=tmu, tier_sd=np.sqrt(np.nan_to_num(tsd, nan=1.0) ** 2 + 0.25), activity=np.log1p(counts),
            artist_demand=b.groupby("artist_id")["w"].sum(), medium_demand=b.groupby("medium_class")["w"].sum())
        log.info("recommender %s: %d clients (%d with history), %d bids, %d artists", self.house, n,
                 int((counts > 0).sum()), len(b), len(artists))
        return self

    def _als(self, u: np.ndarray, a: np.ndarray, w: np.ndarray, n_users: int, n_items: int
             ) -> tuple[np.ndarray, np.ndarray]:
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares

        m = sp.coo_matrix((1.0 + self.alpha * w, (u, a)), shape=(n_users, n_items)).tocsr()
        m.sum_duplicates()
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # implicit's advice to limit BLAS threads: done
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            iterations=self.iterations, random_state=self.seed, num_threads=1,
                                            calculate_training_loss=False)
            model.fit(m, show_progress=False)
        return np.asarray(model.user_factors), np.asarray(model.item_factors)

    # ---- scores ----
    def _share_matrix(self, share: pd.DataFrame, col: str, values: np.ndarray) -> np.ndarray:
        f = self.fitted
        piv = share.pivot_table(index="client_id", columns=col, values="share", fill_value=0.0)
        piv = piv.reindex(index=f.clients, fill_value=0.0)
        cols = {c: j for j, c in enumerate(piv.columns)}
        mat = piv.to_numpy()
        out = np.zeros((len(values), len(f.clients)))
        for i, v in enumerate(values):
            j = cols.get(v)
            if j is not None:
                out[i] = mat[:, j]
        return out

    def scores(self, lots: pd.DataFrame, method: str = "hybrid") -> np.ndarray:
        """Scores ``[n_lots, n_clients]`` (clients in :attr:`clients` order); higher = more likely to bid."""
        if self.fitted is None:
            raise RecommendError("fit the recommender first")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        f = self.fitted
        lots = lots.reset_index(drop=True)
        n_l, n_c = len(lots), len(f.clients)
        pop = np.broadcast_to(f.activity, (n_l, n_c))
        if method == "popularity":
            return np.array(pop, dtype=float)
        art = lots["artist_id"].astype(str).to_numpy()
        cf = np.full((n_l, n_c), np.nan)
        if f.cf_user is not None:
            apos = {a: i for i, a in enumerate(f.artists)}
            for i, a in enumerate(art):
                j = apos.get(a)
                if j is not None:
                    cf[i] = f.cf_user @ f.cf_item[j]
        cf[:, ~f.has_history] = np.nan
        if method == "cf":
            return np.where(np.isfinite(cf), cf, -1e9)
        emb = self._embed(lots)
        cos = emb @ f.profile.T
        a_share = self._share_matrix(f.artist_share, "artist_id", art)
        m_share = self._share_matrix(f.medium_share, "medium_class", lots["medium_class"].astype(str).to_numpy())
        lp = lot_price_log(lots)[:, None]
        tier = -((lp - f.tier_mu[None, :]) ** 2) / (2 * f.tier_sd[None, :] ** 2)
        tier = np.where(np.isfinite(tier), tier, np.nan)
        content = 3.0 * cos + 2.0 * a_share + 1.0 * np.log(m_share + 0.05) + 0.5 * np.nan_to_num(tier, nan=-2.0)
        content[:, ~f.has_history] = np.nan
        if method == "content":
            return np.where(np.isfinite(content), content, -1e9)
        total = (self.w_cf * _z(cf) + self.w_content * _z(content, missing=self.cold_fill)
                 + self.w_pop * _z(np.array(pop, dtype=float)))
        return total

    @property
    def clients(self) -> np.ndarray:
        return self.fitted.clients

    def clients_for_lots(self, lots: pd.DataFrame, k: int = 10, method: str = "hybrid") -> pd.DataFrame:
        """For each lot, the ``k`` clients most likely to bid: lot_ref, rank, client_id, score, why."""
        s = self.scores(lots, method)
        f = self.fitted
        rows = []
        apos = set(f.artists)
        for i, ref in enumerate(lots["lot_ref"].astype(str)):
            order = np.argsort(-s[i], kind="stable")[:k]
            new_artist = str(lots["artist_id"].iloc[i]) not in apos
            for r, j in enumerate(order, 1):
                why = ("no bidding history: ranked by activity only" if not f.has_history[j] else
                       "new artist for the house: content match" if new_artist else "collectors' pattern + content")
                rows.append((ref, r, f.clients[j], round(float(s[i, j]), 4), why))
        return pd.DataFrame(rows, columns=["lot_ref", "rank", "client_id", "score", "why"])

    def lots_for_clients(self, lots: pd.DataFrame, clients: list[str] | None = None, k: int = 10,
                         method: str = "hybrid") -> pd.DataFrame:
        """For each client, the ``k`` most relevant lots: client_id, rank, lot_ref, score, why. A client without
        history gets the lots whose artist and medium the house's clients bid on most (a stated fallback)."""
        f = self.fitted
        lots = lots.reset_index(drop=True)
        s = self.scores(lots, method)
        pos = {c: j for j, c in enumerate(f.clients)}
        demand = (np.log1p(lots["artist_id"].astype(str).map(f.artist_demand).fillna(0).to_numpy(dtype=float))
                  + 0.5 * np.log1p(lots["medium_class"].astype(str).map(f.medium_demand).fillna(0)
                                   .to_numpy(dtype=float)))
        rows = []
        for c in (clients if clients is not None else list(f.clients)):
            j = pos.get(c)
            if j is None:
                raise RecommendError(f"client {c!r} is not a client of {self.house!r}")
            if f.has_history[j] and method != "popularity":
                col, why = _z(s[:, j], axis=0), "matches the client's bidding history"
            else:
                col = demand
                why = ("no bidding history: the house's most sought artists and media" if not f.has_history[j]
                       else "house demand for artist and medium")
            for r, i in enumerate(np.argsort(-col, kind="stable")[:k], 1):
                rows.append((c, r, str(lots["lot_ref"].iloc[i]), round(float(col[i]), 4), why))
        return pd.DataFrame(rows, columns=["client_id", "rank", "lot_ref", "score", "why"])


# ---- evaluation on a time split -----------------------------------------------------------------------------

def rank_metrics(scores: np.ndarray, target: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per row: hit@k (recall@k with one relevant item) and NDCG@k of column ``target[i]``, in expectation over
    a random order of tied scores (a method that cannot tell clients apart gets no credit for the tie)."""
    own = scores[np.arange(len(target)), target][:, None]
    greater = (scores > own).sum(axis=1)
    equal = (scores == own).sum(axis=1)  # the target itself included
    hit, ndcg = np.zeros(len(target)), np.zeros(len(target))
    for i, (g, e) in enumerate(zip(greater.tolist(), equal.tolist(), strict=True)):
        positions = np.arange(g, min(g + e, k))  # 0-based ranks the target may take inside the top k
        hit[i] = len(positions) / e
        ndcg[i] = float((1.0 / np.log2(positions + 2.0)).sum()) / e
    return hit, ndcg


def evaluate(world, collectors, cutoff, until=None, k: int = 10, embedder=None,  # noqa: ANN001
             methods: tuple[str, ...] = ("hybrid", "popularity", "content"), **params) -> pd.DataFrame:
    """Recall@k and NDCG@k of the real winners of the sales in [cutoff, until), per method, trained on bids
    before ``cutoff`` house by house; rows for all lots, lots by artists new to the house, and the rest."""
    cutoff = pd.Timestamp(cutoff)
    until = pd.Timestamp(until) if until is not None else pd.Timestamp(world.as_of)
    lots = world.truth
    winners = collectors.winners()
    wd = pd.to_datetime(winners["sale_date"])
    test_w = winners[(wd >= cutoff) & (wd < until)]
    rows = []
    for house in sorted(collectors.clients["house"].unique()):
        rec = BuyerRecommender(house, embedder=embedder, **params).fit(collectors.bids, lots, collectors.clients, cutoff)
        hw = test_w[test_w["house"] == house]
        pos = {c: j for j, c in enumerate(rec.clients)}
        hw = hw[hw["client_id"].isin(pos)]
        if hw.empty:
            continue
        tl = lots.set_index("lot_ref").loc[hw["lot_ref"]].reset_index()
        target = hw["client_id"].map(pos).to_numpy()
        seen = set(rec.fitted.artists)
        new = ~tl["artist_id"].astype(str).isin(seen).to_numpy()
        for method in methods:
            hit, ndcg = rank_metrics(rec.scores(tl, method), target, k)
            for i in range(len(tl)):
                rows.append((house, method, bool(new[i]), hit[i], ndcg[i]))
    df = pd.DataFrame(rows, columns=["house", "method", "new_artist", "hit", "ndcg"])
    out = []
    for method in methods:
        d = df[df["method"] == method]
        for part, sel in (("all lots", d), ("new artists", d[d["new_artist"]]), ("known artists", d[~d["new_artist"]])):
            out.append({"method": method, "lots": part, "n": len(sel),
                        f"recall@{k}": float(sel["hit"].mean()) if len(sel) else math.nan,
                        f"ndcg@{k}": float(sel["ndcg"].mean()) if len(sel) else math.nan})
    return pd.DataFrame(out)


# ---- labelling tasks -> experts --------------------------------------------------------------------------------

def expert_accuracy(labels: pd.DataFrame, lots: pd.DataFrame, segment: str = "medium_class",
                    prior_n: float = 5.0) -> pd.DataFrame:
    """Per (expert_key, segment): labels on lots that later sold, median |log(value/hammer)|, and the error
    shrunk towards the expert's overall error with ``prior_n`` pseudo-labels (thin records count less)."""
    sold = lots[(lots["status"] == "sold") & (pd.to_numeric(lots["hammer_usd"], errors="coerce") > 0)]
    sold = sold.drop_duplicates("lot_ref").set_index("lot_ref")
    lab = labels[labels["lot_ref"].isin(sold.index)].copy()
    value = pd.to_numeric(lab.get("value_point_usd"), errors="coerce")
    lab = lab[value > 0]
    if lab.empty:
        return pd.DataFrame(columns=["expert_key", "segment", "n", "error", "overall_error", "shrunk_error"])
    lab["err"] = np.abs(np.log(value[value > 0].to_numpy() / sold.loc[lab["lot_ref"], "hammer_usd"].to_numpy()))
    lab["segment"] = sold.loc[lab["lot_ref"], segment].astype(str).to_numpy()
    overall = lab.groupby("expert_key")["err"].median().rename("overall_error")
    seg = lab.groupby(["expert_key", "segment"])["err"].agg(["size", "median"]).reset_index()
    seg = seg.rename(columns={"size": "n", "median": "error"}).merge(overall, on="expert_key")
    seg["shrunk_error"] = (seg["n"] * seg["error"] + prior_n * seg["overall_error"]) / (seg["n"] + prior_n)
    return seg


def route_experts(tasks: pd.DataFrame, labels: pd.DataFrame, lots: pd.DataFrame, k: int = 3,
                  segment: str = "medium_class", experts: list[str] | None = None) -> pd.DataFrame:
    """For each task lot (``lot_ref`` + ``segment``), the ``k`` experts with the best proven accuracy in its
    segment: lot_ref, rank, expert_key, expected_log_error, n_segment_labels, why. Experts without a record in
    the segment use their overall error; experts with no record at all come last (error = the panel's worst)."""
    acc = expert_accuracy(labels, lots, segment)
    pool = sorted(set(experts or []) | set(labels["expert_key"].astype(str)))
    if not pool:
        raise RecommendError("no experts to route to")
    overall = acc.drop_duplicates("expert_key").set_index("expert_key")["overall_error"] if len(acc) else \
        pd.Series(dtype=float)
    worst = float(overall.max()) if len(overall) else 1.0
    by = acc.set_index(["expert_key", "segment"]) if len(acc) else None
    rows = []
    for t in tasks.itertuples(index=False):
        seg = str(getattr(t, segment, "") or "")
        cand = []
        for e in pool:
            if by is not None and (e, seg) in by.index:
                r = by.loc[(e, seg)]
                cand.append((float(r["shrunk_error"]), e, int(r["n"]), f"proven in {seg}"))
            elif e in overall.index:
                cand.append((float(overall[e]), e, 0, "no record in this segment: overall accuracy"))
            else:
                cand.append((worst + 1e-6, e, 0, "no proven record yet"))
        for r, (err, e, n, why) in enumerate(sorted(cand)[:k], 1):
            rows.append((t.lot_ref, r, e, round(err, 4), n, why))
    return pd.DataFrame(rows, columns=["lot_ref", "rank", "expert_key", "expected_log_error", "n_segment_labels",
                                       "why"])


# ---- CLI -----------------------------------------------------------------------------------------------------------

def cmd_recommend(args: argparse.Namespace) -> int:
    from gbv.demo.collectors import grow_collectors
    from gbv.demo.world import world_for_home
    from gbv.market.comps import embedding_cache_dir, make_embedder
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.io import read_lots

    settings = get_settings().ensure_dirs()
    date = dt.date.fromisoformat(args.date)
    lots = read_lots(get_engine(settings))
    houses = sorted(lots["house"].unique())
    if args.house not in houses:
        raise RecommendError(f"house {args.house!r} has no lots in the warehouse (houses: {', '.join(houses) or 'none'})")
    world = world_for_home(settings)
    collectors = grow_collectors(world, seed=settings.seed)
    hl = lots[(lots["house"] == args.house) & (pd.to_datetime(lots["sale_date"]) >= pd.Timestamp(date))]
    if hl.empty:
        print(f"no sale of {args.house} on or after {date}: nothing to recommend")
        return 0
    sale_id = hl.sort_values(["sale_date", "sale_id"]).iloc[0]["sale_id"]
    sale = hl[hl["sale_id"] == sale_id].sort_values("lot_number")
    embedder = make_embedder(cache_dir=embedding_cache_dir(settings))
    rec = BuyerRecommender(args.house, embedder=embedder, seed=settings.seed)
    rec.fit(collectors.bids, world.truth, collectors.clients, as_of=date)
    f = rec.fitted
    print(f"recommendations for {args.house}, sale {sale_id} on {sale['sale_date'].iloc[0]} ({len(sale)} lots); "
          f"trained on {args.house}'s own {int(f.has_history.sum())} clients with history before {date} "
          f"({len(f.clients)} clients in all; demo collectors)")
    by_lot = rec.clients_for_lots(sale, k=args.k)
    for ref, g in by_lot.groupby("lot_ref", sort=False):
        lot = sale[sale["lot_ref"] == ref].iloc[0]
        print(f"\n  lot {lot['lot_number']:>3} {ref}: {lot['artist_name']}, {str(lot['title'])[:40]} "
              f"({lot['medium_class']})")
        for r in g.itertuples():
            print(f"     {r.rank:>2}. {r.client_id:20} score {r.score:6.2f}  {r.why}")
    active = list(f.clients[np.argsort(-f.activity, kind="stable")][:args.clients])
    cold = [c for c, h in zip(f.clients, f.has_history, strict=True) if not h][:1]
    print("\n  most relevant lots per client (most active clients" + (", and one without history)" if cold else ")"))
    for c, g in rec.lots_for_clients(sale, active + cold, k=min(args.k, 3)).groupby("client_id", sort=False):
        print(f"     {c:20} " + ", ".join(g["lot_ref"]) + f"   ({g['why'].iloc[0]})")
    return 0


def register(subparsers) -> None:  # noqa: ANN001
    p = subparsers.add_parser("recommend", help="clients most likely to bid on a house's next sale, and lots "
                                                "per client (house's own client history only)")
    p.add_argument("--house", required=True)
    p.add_argument("--date", required=True, help="YYYY-MM-DD: the next sale of the house on or after it")
    p.add_argument("--k", type=int, default=5, help="clients per lot (default 5)")
    p.add_argument("--clients", type=int, default=5, help="clients to show lots for (default 5)")
    p.set_defaults(func=cmd_recommend)
