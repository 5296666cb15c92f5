"""Historical exchange rates to USD.

The table holds **annual average** rates in the form the Federal Reserve's G.5A release (foreign exchange
rates, annual averages of the daily H.10 noon buying rates) publishes them, to 4 significant figures. The values
were transcribed for this first version, not downloaded (this project builds offline): treat them as
approximate to about 1 % and verify against the release before using them for anything but valuation
features. 2025 and 2026 are provisional (year-to-date estimates) and listed in ``PROVISIONAL_YEARS``. Where a
source states its own rate for the sale date (Arthena's ``exchange_rate_to_usd``), the importers use that
instead. Annual resolution is a deliberate first version: an art price's own noise (±40 %) dwarfs the
within-year FX swing, and a finer table can replace this one without changing the interface.

Rates are quoted the way G.5A quotes them: USD per unit for GBP and EUR, units per USD for the others; the
function below hides that difference.
"""

from __future__ import annotations

import datetime as dt
import math

PROVISIONAL_YEARS = frozenset({2025, 2026})

# USD per 1 unit of currency
_USD_PER_UNIT = {
    "GBP": {2005: 1.820, 2006: 1.843, 2007: 2.002, 2008: 1.855, 2009: 1.566, 2010: 1.546, 2011: 1.604,
            2012: 1.585, 2013: 1.565, 2014: 1.648, 2015: 1.528, 2016: 1.355, 2017: 1.289, 2018: 1.335,
            2019: 1.277, 2020: 1.284, 2021: 1.376, 2022: 1.237, 2023: 1.244, 2024: 1.278, 2025: 1.318,
            2026: 1.330},
    "EUR": {2005: 1.245, 2006: 1.256, 2007: 1.371, 2008: 1.471, 2009: 1.394, 2010: 1.327, 2011: 1.392,
            2012: 1.286, 2013: 1.328, 2014: 1.329, 2015: 1.110, 2016: 1.107, 2017: 1.130, 2018: 1.181,
            2019: 1.120, 2020: 1.141, 2021: 1.183, 2022: 1.053, 2023: 1.081, 2024: 1.082, 2025: 1.125,
            2026: 1.150},
}
# units of currency per 1 USD
_UNITS_PER_USD = {
    "HKD": {y: 7.78 for y in range(2005, 2027)} | {2005: 7.777, 2006: 7.768, 2007: 7.801, 2008: 7.787,
                                                 2019: 7.836, 2020: 7.756, 2022: 7.831, 2023: 7.829},
    "CHF": {2005: 1.245, 2006: 1.254, 2007: 1.200, 2008: 1.083, 2009: 1.088, 2010: 1.042, 2011: 0.8873,
            2012: 0.9374, 2013: 0.9268, 2014: 0.9150, 2015: 0.9619, 2016: 0.9852, 2017: 0.9842,
            2018: 0.9784, 2019: 0.9938, 2020: 0.9383, 2021: 0.9141, 2022: 0.9550, 2023: 0.8986,
            2024: 0.8804, 2025: 0.8330, 2026: 0.8060},
    "JPY": {2005: 110.1, 2006: 116.3, 2007: 117.8, 2008: 103.4, 2009: 93.68, 2010: 87.78, 2011: 79.70,
            2012: 79.82, 2013: 97.60, 2014: 105.9, 2015: 121.0, 2016: 108.8, 2017: 112.1, 2018: 110.4,
            2019: 109.0, 2020: 106.8, 2021: 109.8, 2022: 131.5, 2023: 140.5, 2024: 151.4, 2025: 149.0,
            2026: 150.0},
    "CNY": {2005: 8.194, 2006: 7.973, 2007: 7.608, 2008: 6.949, 2009: 6.831, 2010: 6.770, 2011: 6.462,
            2012: 6.311, 2013: 6.148, 2014: 6.161, 2015: 6.282, 2016: 6.640, 2017: 6.759, 2018: 6.616,
            2019: 6.908, 2020: 6.900, 2021: 6.452, 2022: 6.730, 2023: 7.084, 2024: 7.189, 2025: 7.200,
            2026: 7.100},
    "KRW": {2005: 1024.0, 2006: 954.3, 2007: 928.0, 2008: 1099.0, 2009: 1274.0, 2010: 1155.0, 2011: 1106.0,
            2012: 1126.0, 2013: 1094.0, 2014: 1052.0, 2015: 1131.0, 2016: 1159.0, 2017: 1130.0,
            2018: 1100.0, 2019: 1165.0, 2020: 1178.0, 2021: 1144.0, 2022: 1292.0, 2023: 1306.0,
            2024: 1364.0, 2025: 1400.0, 2026: 1420.0},
}

KNOWN_CURRENCIES = frozenset({"USD"} | set(_USD_PER_UNIT) | set(_UNITS_PER_USD))
FIRST_YEAR = 2005
LAST_YEAR = 2026


class UnknownCurrency(ValueError):
    """A currency code the FX table does not know."""


def _year_of(on: dt.date | str | int) -> int:
    if isinstance(on, int):
        return on
    if isinstance(on, str):
        return dt.date.fromisoformat(on[:10]).year
    return on.year


def usd_per_unit(currency: str, on: dt.date | str | int) -> float:
    """USD value of one unit of ``currency`` on a date (annual average; clamped to the table's years)."""
    code = ("" if currency is None else str(currency)).strip().upper()
    if code == "USD":
        return 1.0
    year = min(max(_year_of(on), FIRST_YEAR), LAST_YEAR)
    if code in _USD_PER_UNIT:
        return _USD_PER_UNIT[code][year]
    if code in _UNITS_PER_USD:
        return 1.0 / _UNITS_PER_USD[code][year]
    raise UnknownCurrency(f"unknown currency {currency!r}; known: {', '.join(sorted(KNOWN_CURRENCIES))}")


def to_usd(amount: float | None, currency: str, on: dt.date | str | int) -> float:
    """Convert ``amount`` in ``currency`` to USD on a date; NaN stays NaN, an unknown currency raises."""
    rate = usd_per_unit(currency, on)
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return math.nan
    return float(amount) * rate
