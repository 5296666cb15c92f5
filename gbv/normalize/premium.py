"""Buyer's premium schedules: convert hammer prices to premium-inclusive prices and back.

A schedule is a list of tiers ``(threshold, rate)`` in the sale currency: the rate applies to the part of the
hammer price above ``threshold`` (up to the next threshold). Houses change their schedules over time, so each
house has a list of ``(valid_from, tiers)``.

Only the demo houses are listed in this first version (their schedules are part of the demo world); real
houses' published schedules come with the real-world importers.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right

Tiers = tuple[tuple[float, float], ...]

SCHEDULES: dict[str, list[tuple[dt.date, Tiers]]] = {
    # demo houses (gbv.demo.world)
    "harrington": [(dt.date(2000, 1, 1), ((0.0, 0.25), (500_000.0, 0.20))),
                   (dt.date(2022, 1, 1), ((0.0, 0.26), (1_000_000.0, 0.20)))],
    "delacroix": [(dt.date(2000, 1, 1), ((0.0, 0.25),))],
    "kestrel": [(dt.date(2000, 1, 1), ((0.0, 0.25), (1_000_000.0, 0.20), (4_500_000.0, 0.135)))],
    "lotus": [(dt.date(2000, 1, 1), ((0.0, 0.25), (7_500_000.0, 0.20)))],
}


class UnknownPremiumSchedule(KeyError):
    pass


def tiers_for(house: str, on: dt.date) -> Tiers:
    entries = SCHEDULES.get(house)
    if not entries:
        raise UnknownPremiumSchedule(f"no buyer's premium schedule for house {house!r}")
    idx = bisect_right([d for d, _ in entries], on) - 1
    return entries[max(idx, 0)][1]


def premium_inclusive(hammer: float, house: str, on: dt.date) -> float:
    """Hammer price -> price including buyer's premium."""
    tiers = tiers_for(house, on)
    total = hammer
    for i, (threshold, rate) in enumerate(tiers):
        upper = tiers[i + 1][0] if i + 1 < len(tiers) else float("inf")
        if hammer > threshold:
            total += (min(hammer, upper) - threshold) * rate
    return total


def hammer_from_premium(price: float, house: str, on: dt.date) -> float:
    """Invert :func:`premium_inclusive` exactly (the schedule is piecewise linear and increasing)."""
    tiers = tiers_for(house, on)
    paid_at_threshold = 0.0
    for i, (threshold, rate) in enumerate(tiers):
        upper = tiers[i + 1][0] if i + 1 < len(tiers) else float("inf")
        paid_at_upper = paid_at_threshold + (upper - threshold) * (1 + rate)
        if price <= paid_at_upper:
            return threshold + (price - paid_at_threshold) / (1 + rate)
        paid_at_threshold = paid_at_upper
    raise AssertionError("unreachable: last tier is unbounded")
