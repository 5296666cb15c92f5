"""Sale dates and creation years.

``parse_sale_date`` reads ``"14 March 2024"``, ``"March 14, 2024"``, ISO dates with or without a time, ``Z`` or
an offset (``"2024-03-14T19:00:00Z"``; the date as written is kept, no time-zone shift), ``"03/14/2024"`` and
``"3/14/24"`` (US month first), ``"14.03.2024"`` (day first), and ranges (``"03/14/2024-03/15/2024"``,
``"14-15 March 2024"``) -> the first day.

``parse_created`` reads ``"1965"``, ``"c. 1965"``, ``"1965-67"`` -> 1965, ``"1950s"`` -> 1955,
``"19th century"`` -> 1850; ``"not given"``/``"undated"``/empty -> None.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import lru_cache
from typing import Any

from gbv.normalize.errors import DateError, is_missing

MIN_YEAR, MAX_YEAR = 1700, 2100  # sale dates
MIN_CREATED, MAX_CREATED = 1000, 2100  # creation years (older works are dated by century/dynasty elsewhere)

_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MON = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE,
)
_YMD_SLASH_RE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_US_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:\s*-\s*\d{1,2}/\d{1,2}/(?:\d{2}|\d{4}))?$")
_EU_RE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_DMY_RE = re.compile(
    rf"^(?:[a-z]+,?\s+)?(\d{{1,2}})(?:st|nd|rd|th)?(?:\s*[-–]\s*\d{{1,2}}(?:st|nd|rd|th)?)?\s+{_MON}"
    r",?\s+(\d{4})$",
    re.IGNORECASE,
)
_MDY_RE = re.compile(
    rf"^(?:[a-z]+,?\s+)?{_MON}\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:\s*[-–]\s*\d{{1,2}})?,?\s+(\d{{4}})$",
    re.IGNORECASE,
)


def _make(y: int, m: int, d: int, original: Any) -> dt.date:
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise DateError("sale_date", original, f"year {y} out of range {MIN_YEAR}-{MAX_YEAR}")
    try:
        return dt.date(y, m, d)
    except ValueError as exc:
        raise DateError("sale_date", original, f"no such day ({exc})") from None


@lru_cache(maxsize=16384)
def _parse_sale_date_str(text: str) -> dt.date:
    s = " ".join(text.strip().split())
    if m := _ISO_RE.match(s):
        return _make(int(m[1]), int(m[2]), int(m[3]), text)
    if m := _YMD_SLASH_RE.match(s):
        return _make(int(m[1]), int(m[2]), int(m[3]), text)
    if m := _US_RE.match(s):
        year = int(m[3])
        if len(m[3]) == 2:
            year += 2000 if year < 69 else 1900  # strptime's %y pivot
        return _make(year, int(m[1]), int(m[2]), text)
    if m := _EU_RE.match(s):
        return _make(int(m[3]), int(m[2]), int(m[1]), text)
    if m := _DMY_RE.match(s):
        return _make(int(m[3]), _MONTHS[m[2].lower()], int(m[1]), text)
    if m := _MDY_RE.match(s):
        return _make(int(m[3]), _MONTHS[m[1].lower()], int(m[2]), text)
    raise DateError("sale_date", text, "unrecognised date format")


def parse_sale_date(value: Any) -> dt.date:
    """Parse a sale date (see the module docstring for the forms); junk raises :class:`DateError`."""
    if isinstance(value, dt.datetime):
        return _make(value.year, value.month, value.day, value)
    if isinstance(value, dt.date):
        return _make(value.year, value.month, value.day, value)
    if not isinstance(value, str):
        raise DateError("sale_date", value, f"unsupported type {type(value).__name__}")
    if is_missing(value):
        raise DateError("sale_date", value, "no date given")
    return _parse_sale_date_str(value)


_NO_DATE = {"not given", "undated", "n.d.", "nd", "no date", "unknown", "unavailable", "not dated", "s.d."}
_CENTURY_RE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\s+century\b", re.IGNORECASE)
_DECADE_RE = re.compile(r"(?<!\d)(\d{3})0'?s\b")
_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")


@lru_cache(maxsize=16384)
def _parse_created_str(text: str) -> int | None:
    s = text.strip()
    if is_missing(s) or s.casefold().strip(" .") in {x.strip(".") for x in _NO_DATE}:
        return None
    decade, single = _DECADE_RE.search(s), _YEAR_RE.search(s)
    if decade and (not single or decade.start() <= single.start()):
        year = int(decade[1]) * 10 + 5
    elif single:
        year = int(single[1])
    elif m := _CENTURY_RE.search(s):
        year = (int(m[1]) - 1) * 100 + 50
    else:
        raise DateError("created", text, "no year found")
    if not MIN_CREATED <= year <= MAX_CREATED:
        raise DateError("created", text, f"year {year} out of range {MIN_CREATED}-{MAX_CREATED}")
    return year


def parse_created(value: Any) -> int | None:
    """Year a work was made: the first year named (``"1965-67"`` -> 1965), decades mid-way (``"1950s"`` ->
    1955), centuries mid-way; None where the source says there is no date. Junk raises :class:`DateError`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DateError("created", value, "a boolean is not a year")
    if isinstance(value, (int, float)) or hasattr(value, "item") and not isinstance(value, str):
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise DateError("created", value, "not a year") from None
        if math.isnan(f) or f == -1:
            return None
        if not f.is_integer():
            raise DateError("created", value, "not a whole year")
        if not MIN_CREATED <= f <= MAX_CREATED:
            raise DateError("created", value, f"year out of range {MIN_CREATED}-{MAX_CREATED}")
        return int(f)
    if not isinstance(value, str):
        raise DateError("created", value, f"unsupported type {type(value).__name__}")
    return _parse_created_str(value)


def created_contradiction(year_created: int | None, birth_year: int | None, sale_date: dt.date | None) -> str | None:
    """Why a source's year of creation cannot be true of its lot, as a warning key, or None: ``created_before_birth``
    (before the artist was born: a vendor column holding a height in mm, "1108", or a year from the title, "Balla
    1914") or ``created_after_sale`` (after the sale's year). Importers and staging then drop the year and keep the
    lot (its price and facts are good); the catalogue intake quarantines the row instead (a house can correct it).
    ``sale_date`` may be any date with a ``year`` (the intake passes the run day for a lot without a sale date)."""
    if year_created is None:
        return None
    if sale_date is not None and year_created > sale_date.year:
        return "created_after_sale"
    if birth_year is not None and year_created < birth_year:
        return "created_before_birth"
    return None
