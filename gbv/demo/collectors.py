"""Collectors for the demo world: each house's clients, their tastes, budgets and bidding histories.

Real auction data carries no buyer identities, so the buyer recommender (:mod:`gbv.market.recommend`) is
trained and judged on collectors grown here, deterministically from a :class:`gbv.demo.world.World` and a seed
(the world itself is not changed).

* **Clients** belong to one house (``<house>-C0001``; a house only knows its own clients). Each has a favourite
  style, 2-6 favourite artists (drawn by the artists' popularity, mostly in that style), one or two favourite
  media, a price tier (``tier_log_usd``: the log USD price they are most at ease with; budget = 3x that), an
  activity level and the date they became a client (later clients have little or no history: cold starts).
* **Bids**: for every lot of the world that reached its sale (sold or bought in), the house's clients who
  joined before the sale score their interest (favourite artist, style, medium, price fit to tier and budget,
  activity, Gumbel noise); the top 1-6 bid. The winner of a sold lot is the bidder who values it most and can
  afford the hammer price; the others are underbidders. Bought-in lots only get bids below the reserve.

``bids`` columns: ``lot_ref, house, sale_date, client_id, bid_usd, won``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gbv.demo.world import MEDIA, World

CLIENT_COLUMNS = ("client_id", "house", "style", "taste_artists", "taste_media", "tier_log_usd", "budget_usd",
                  "activity", "joined")
BID_COLUMNS = ("lot_ref", "house", "sale_date", "client_id", "bid_usd", "won")


@dataclass
class Collectors:
    clients: pd.DataFrame  # CLIENT_COLUMNS; taste_artists / taste_media are ";"-joined
    bids: pd.DataFrame  # BID_COLUMNS

    def bids_before(self, date, house: str | None = None) -> pd.DataFrame:  # noqa: ANN001
        b = self.bids[pd.to_datetime(self.bids["sale_date"]) < pd.Timestamp(date)]
        return b[b["house"] == house] if house else b

    def winners(self) -> pd.DataFrame:
        return self.bids[self.bids["won"]][["lot_ref", "house", "sale_date", "client_id"]]


def grow_collectors(world: World, seed: int = 0, clients_per_house: int | None = None) -> Collectors:
    """Clients and bidding histories for ``world`` (same world and seed: same collectors)."""
    rng = np.random.default_rng([int(world.seed), int(seed), 20260])
    n_lots = len(world.truth)
    per_house = int(clients_per_house or max(25, min(150, n_lots // 40)))
    artists = world.artists.reset_index(drop=True)
    clients = _clients(rng, world, artists, per_house)
    bids = _bids(rng, world, artists, clients)
    return Collectors(clients=clients, bids=bids)


def _clients(rng: np.random.Generator, world: World, artists: pd.DataFrame, per_house: int) -> pd.DataFrame:
    styles = artists["style"].to_numpy()
    style_names, style_counts = np.unique(styles, return_counts=True)
    pop = artists["popularity"].to_numpy(dtype=float)
    prices = world.truth["true_value_usd"].to_numpy(dtype=float)
    center, spread = float(np.median(np.log(prices))), float(np.std(np.log(prices)))
    media = list(MEDIA)
    rows = []
    for house in sorted(world.houses["house"]):
        for i in range(per_house):
            style = str(rng.choice(style_names, p=style_counts / style_counts.sum()))
            w = pop * np.where(styles == style, 6.0, 1.0)
            n_art = int(rng.integers(2, 7))
            fav = rng.choice(len(artists), size=min(n_art, len(artists)), replace=False, p=w / w.sum())
            n_med = 1 if rng.random() < 0.6 else 2
            fav_media = rng.choice(media, size=n_med, replace=False, p=[0.45, 0.2, 0.15, 0.1, 0.1])
            tier = float(rng.normal(center + 0.3, spread * 0.8))
            joined = pd.Timestamp("2013-06-01") + pd.Timedelta(days=int(rng.integers(0, 365 * 13)))
            rows.append((f"{house}-C{i + 1:04d}", house, style,
                         ";".join(artists["artist_id"].iloc[fav].tolist()), ";".join(sorted(fav_media)),
                         round(tier, 4), float(round(math.exp(tier) * 3.0, -1)),
                         round(float(rng.lognormal(0.0, 0.6)), 4), joined.date()))
    return pd.DataFrame(rows, columns=list(CLIENT_COLUMNS))


def _bids(rng: np.random.Generator, world: World, artists: pd.DataFrame, clients: pd.DataFrame) -> pd.DataFrame:
    style_of = dict(zip(artists["artist_id"], artists["style"], strict=True))
    lots = world.truth.sort_values(["sale_date", "lot_ref"], kind="stable").reset_index(drop=True)
    out: dict[str, list] = {c: [] for c in BID_COLUMNS}
    for house, cl in clients.groupby("house", sort=True):
        cl = cl.reset_index(drop=True)
        n = len(cl)
        fav_art = [set(s.split(";")) for s in cl["taste_artists"]]
        fav_med = [set(s.split(";")) for s in cl["taste_media"]]
        cstyle = cl["style"].to_numpy()
        tier = cl["tier_log_usd"].to_numpy(dtype=float)
        log_budget = np.log(cl["budget_usd"].to_numpy(dtype=float))
        act = np.log(cl["activity"].to_numpy(dtype=float))
        joined = pd.to_datetime(cl["joined"]).to_numpy()
        ids = cl["client_id"].to_numpy()
        hl = lots[lots["house"] == house]
        for lot in hl.itertuples(index=False):
            active = joined <= np.datetime64(pd.Timestamp(lot.sale_date))
            if not active.any():
                continue
            price = float(lot.hammer_usd) if lot.status == "sold" else float(lot.true_value_usd)
            lp = math.log(max(price, 1.0))
            fa = np.fromiter((lot.artist_id in f for f in fav_art), dtype=float, count=n)
            fm = np.fromiter((lot.medium_class in f for f in fav_med), dtype=float, count=n)
            fs = (cstyle == style_of.get(lot.artist_id)).astype(float)
            interest = 2.6 * fa + 0.9 * fs + 0.9 * fm - 0.7 * np.abs(lp - tier) + act
            interest = interest + rng.gumbel(size=n)
            interest = np.where(active & (log_budget >= lp - 0.7), interest, -np.inf)
            n_bid = int(min(1 + rng.poisson(1.6), 6))
            order = np.argsort(-interest, kind="stable")[:n_bid]
            order = order[np.isfinite(interest[order])]
            if len(order) == 0:
                continue
            sold = lot.status == "sold"
            if sold:
                value = interest[order] + rng.normal(0, 0.5, len(order))
                affordable = log_budget[order] >= lp
                value = np.where(affordable, value, -np.inf)
                winner = order[int(np.argmax(value))] if np.isfinite(value).any() else order[0]
            for j in order:
                won = bool(sold and j == winner)
                bid = price if won else price * float(rng.uniform(0.6, 0.98))
                out["lot_ref"].append(lot.lot_ref)
                out["house"].append(house)
                out["sale_date"].append(lot.sale_date)
                out["client_id"].append(ids[j])
                out["bid_usd"].append(round(bid, 2))
                out["won"].append(won)
    bids = pd.DataFrame(out, columns=list(BID_COLUMNS))
    return bids.sort_values(["sale_date", "lot_ref", "client_id"], kind="stable").reset_index(drop=True)
