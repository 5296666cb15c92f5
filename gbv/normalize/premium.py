"""Buyer's premium schedules: convert hammer prices to premium-inclusive prices and back.

A schedule is a list of tiers ``(threshold, rate)`` in the sale currency: the rate applies to the part of the
hammer price above ``threshold`` (up to the next threshold). Houses change their schedules over time, so each
house has a list of ``(valid_from, tiers)``.

The demo houses' schedules are part of the demo world. The real houses (Christie's, Sotheby's, Phillips, Bonhams,
with London and Hong Kong variants under ``<house>-london`` / ``<house>-hk``) are listed in
:data:`REAL_SCHEDULES`, each entry with its source in :data:`SCHEDULE_SOURCES`; ``docs/premium-schedules.md``
documents them, says which entries are approximations and how well they reproduce Arthena's true
hammer + premium columns. :func:`schedule_key` picks the variant for a house and sale currency.
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



def _t(*pairs: tuple[float, float]) -> Tiers:
    return tuple((float(a), float(b)) for a, b in pairs)


# Real houses: (valid_from, tiers). Thresholds in the sale-room currency. Sources: SCHEDULE_SOURCES (same keys,
# same order); "approx" marks an entry reconstructed from secondary reports or fitted to Arthena's data.
REAL_SCHEDULES: dict[str, list[tuple[dt.date, Tiers]]] = {
    "christies": [
        (dt.date(2000, 1, 1), _t((0, 0.20), (500_000, 0.12))),
        (dt.date(2007, 6, 1), _t((0, 0.25), (20_000, 0.20), (500_000, 0.12))),  # fitted (Arthena)
        (dt.date(2008, 9, 1), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),
        (dt.date(2013, 3, 11), _t((0, 0.25), (75_000, 0.20), (1_500_000, 0.12))),
        (dt.date(2013, 10, 1), _t((0, 0.25), (100_000, 0.20), (2_000_000, 0.12))),
        (dt.date(2016, 9, 19), _t((0, 0.25), (150_000, 0.20), (3_000_000, 0.12))),
        (dt.date(2017, 9, 11), _t((0, 0.25), (250_000, 0.20), (4_000_000, 0.125))),
        (dt.date(2023, 4, 17), _t((0, 0.26), (1_000_000, 0.21), (6_000_000, 0.15))),
    ],
    "christies-london": [
        (dt.date(2000, 1, 1), _t((0, 0.20), (250_000, 0.12))),
        (dt.date(2007, 6, 1), _t((0, 0.25), (10_000, 0.20), (250_000, 0.12))),  # fitted (Arthena)
        (dt.date(2008, 9, 1), _t((0, 0.25), (25_000, 0.20), (500_000, 0.12))),
        (dt.date(2013, 3, 11), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),
        (dt.date(2016, 9, 19), _t((0, 0.25), (100_000, 0.20), (2_000_000, 0.12))),
        (dt.date(2017, 9, 11), _t((0, 0.25), (175_000, 0.20), (3_000_000, 0.125))),
        (dt.date(2023, 4, 17), _t((0, 0.26), (800_000, 0.21), (4_500_000, 0.15))),
    ],
    "christies-hk": [
        (dt.date(2000, 1, 1), _t((0, 0.20), (4_000_000, 0.12))),
        (dt.date(2008, 9, 1), _t((0, 0.25), (400_000, 0.20), (8_000_000, 0.12))),
        (dt.date(2013, 10, 1), _t((0, 0.25), (800_000, 0.20), (15_000_000, 0.12))),
        (dt.date(2016, 9, 19), _t((0, 0.25), (1_200_000, 0.20), (20_000_000, 0.12))),
        (dt.date(2017, 9, 11), _t((0, 0.25), (2_000_000, 0.20), (30_000_000, 0.125))),
        (dt.date(2023, 4, 17), _t((0, 0.26), (7_500_000, 0.21), (50_000_000, 0.15))),
    ],
    "sothebys": [
        (dt.date(2000, 1, 1), _t((0, 0.20), (500_000, 0.12))),
        (dt.date(2007, 6, 1), _t((0, 0.25), (20_000, 0.20), (500_000, 0.12))),  # fitted (Arthena)
        (dt.date(2008, 9, 1), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),  # fitted (Arthena)
        (dt.date(2013, 2, 28), _t((0, 0.25), (100_000, 0.20), (2_000_000, 0.12))),
        (dt.date(2015, 2, 1), _t((0, 0.25), (200_000, 0.20), (3_000_000, 0.12))),
        (dt.date(2016, 9, 1), _t((0, 0.25), (250_000, 0.20), (3_000_000, 0.125))),  # date fitted (Arthena)
        (dt.date(2017, 11, 1), _t((0, 0.25), (300_000, 0.20), (3_000_000, 0.129))),
    ],
    "sothebys-london": [
        (dt.date(2000, 1, 1), _t((0, 0.20), (300_000, 0.12))),  # fitted (Arthena)
        (dt.date(2007, 6, 1), _t((0, 0.25), (10_000, 0.20), (250_000, 0.12))),  # fitted (Arthena)
        (dt.date(2008, 9, 1), _t((0, 0.25), (25_000, 0.20), (500_000, 0.12))),  # fitted (Arthena)
        (dt.date(2013, 2, 28), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),
        (dt.date(2015, 2, 1), _t((0, 0.25), (100_000, 0.20), (1_800_000, 0.12))),
        (dt.date(2016, 9, 1), _t((0, 0.25), (150_000, 0.20), (2_000_000, 0.125))),  # date fitted (Arthena)
        (dt.date(2017, 11, 1), _t((0, 0.25), (225_000, 0.20), (2_250_000, 0.129))),
    ],
    "sothebys-hk": [
        (dt.date(2000, 1, 1), _t((0, 0.20), (4_000_000, 0.12))),
        (dt.date(2009, 1, 1), _t((0, 0.25), (400_000, 0.20), (8_000_000, 0.12))),
        (dt.date(2013, 2, 28), _t((0, 0.25), (800_000, 0.20), (15_000_000, 0.12))),
        (dt.date(2015, 2, 1), _t((0, 0.25), (1_500_000, 0.20), (23_000_000, 0.12))),
        (dt.date(2016, 2, 1), _t((0, 0.25), (2_000_000, 0.20), (23_000_000, 0.125))),
        (dt.date(2017, 11, 1), _t((0, 0.25), (2_500_000, 0.20), (25_000_000, 0.129))),
    ],
    "phillips": [
        (dt.date(2000, 1, 1), _t((0, 0.25), (20_000, 0.20), (500_000, 0.12))),  # fitted (Arthena)
        (dt.date(2009, 1, 1), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),
        (dt.date(2013, 3, 1), _t((0, 0.25), (100_000, 0.20), (2_000_000, 0.12))),  # fitted (Arthena, 2015)
        (dt.date(2016, 9, 1), _t((0, 0.25), (250_000, 0.20), (3_000_000, 0.125))),
    ],
    "phillips-london": [
        (dt.date(2000, 1, 1), _t((0, 0.25), (25_000, 0.20), (500_000, 0.12))),
        (dt.date(2013, 3, 1), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),  # fitted (Arthena, 2013-16)
        (dt.date(2016, 9, 1), _t((0, 0.25), (180_000, 0.20), (1_800_000, 0.125))),
    ],
    "bonhams": [
        (dt.date(2000, 1, 1), _t((0, 0.25), (50_000, 0.20), (1_000_000, 0.12))),
        (dt.date(2014, 3, 1), _t((0, 0.25), (100_000, 0.20), (2_000_000, 0.12))),
        (dt.date(2016, 6, 1), _t((0, 0.25), (250_000, 0.20), (4_000_000, 0.125))),
    ],
    "auctionata": [
        (dt.date(2000, 1, 1), _t((0, 0.25),)),
    ],
}

SCHEDULE_SOURCES: dict[str, str] = {
    "christies": "Christie's 'Financial information' buying-guide notices (effective 19 Sep 2016, 11 Sep 2017, "
                 "17 Apr 2023, each quoting the schedule it replaced: Oct 2013 = 25%/$100k, 20%/$2M, 12%); "
                 "Mar 2013 ($75k/$1.5M) and Sep 2008 ($50k/$1M) from NYT/ARTnews reports; pre-2008 approx.",
    "christies-london": "same Christie's notices (GBP column); 2008 and 2013 GBP thresholds approx. "
                        "(half the USD thresholds, as the later notices' ratio).",
    "christies-hk": "same Christie's notices (HK$ column: HK$1.2M/HK$20M in 2016, HK$2M/HK$30M in 2017); "
                    "2008/2013 HK$ thresholds approx. (USD x 8).",
    "sothebys": "Sotheby's 8-K of 26 Jan 2015 (25%/$200k, 20%/$3M, 12% from 1 Feb 2015, replacing "
                "$100k/$2M from Feb 2013), ARTnews 27 Jan 2015; Nov 2017 (25%/$300k, 20%/$3M, 12.9%) from "
                "I Photo Central 18 Sep 2017; 2008 (25%/$20k, 20%/$500k) from the $3M example series "
                "(Fusion/ABPC); Feb 2016 (12.5% above $3M) approx.",
    "sothebys-london": "GBP thresholds approx. (commensurate with the USD schedule, as Sotheby's states); "
                       "checked against Arthena's London lots (docs/premium-schedules.md).",
    "sothebys-hk": "HK$ thresholds approx. (commensurate with the USD schedule); not checked: Arthena has only "
                   "41 HK lots.",
    "phillips": "approx.: Phillips has followed Sotheby's/Christie's thresholds; fitted to Arthena's Phillips NY "
                "lots (docs/premium-schedules.md).",
    "phillips-london": "approx.: GBP thresholds commensurate with the USD schedule; fitted to Arthena's lots.",
    "bonhams": "approx.: Bonhams New York published 25%/20%/12% tiers; thresholds and dates from secondary "
               "reports, not checked against data (no Bonhams hammer prices in the shared set).",
    "auctionata": "approx.: flat 25% (Auctionata's online sales); not checked against data.",
}

SCHEDULES.update(REAL_SCHEDULES)

_REGION_BY_CURRENCY = {"USD": "", "GBP": "-london", "HKD": "-hk"}


def schedule_key(house: str, currency: str | None = None, location: str | None = None) -> str:
    """The :data:`SCHEDULES` key for a house in a sale room: ``"christies"`` (New York, USD),
    ``"christies-london"`` (GBP), ``"christies-hk"`` (HKD). Falls back to the house's own key."""
    loc = (location or "").casefold()
    suffix = "-hk" if "hong kong" in loc else _REGION_BY_CURRENCY.get((currency or "").upper(), "")
    key = f"{house}{suffix}"
    return key if key in SCHEDULES else house


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
