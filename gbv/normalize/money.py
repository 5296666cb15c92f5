"""Money strings -> ``Money(amount, currency)``.

Handles plain numbers and the forms auction sites print: ``"$275,000"``, ``"€12,500"``, ``"HK$12,500"``,
``"GBP 10,000"``, ``"CHF 6 000"``, ``"6,000,000 HKD"``, ``"12.500,50 €"``, ``"$3,366 (3,000)"`` (the bracketed
second currency is ignored), ``"1.2m"``; and estimate ranges such as ``"CHF 6 000 / 8 000"`` or
``"6,000,000 to - 10,000,000 HKD"``.

Thousands vs decimal separators: when both ``,`` and ``.`` occur the last one is the decimal mark; a single
separator followed by exactly three digits is a thousands separator (no money is quoted to three decimals);
otherwise it is the decimal mark. Spaces (also no-break and thin spaces) and apostrophes group thousands.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, NamedTuple

from gbv.normalize.errors import MoneyError, is_missing


class Money(NamedTuple):
    amount: float
    currency: str | None


# Symbols, longest first so "HK$" wins over "$".
_SYMBOLS: tuple[tuple[str, str], ...] = (
    ("HK$", "HKD"),
    ("US$", "USD"),
    ("USD$", "USD"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("S$", "SGD"),
    ("NT$", "TWD"),
    ("RMB", "CNY"),
    ("SFR.", "CHF"),
    ("SFR", "CHF"),
    ("FR.", "CHF"),
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("￥", "JPY"),
    ("₩", "KRW"),
    ("元", "CNY"),
)
_SYMBOL_RE = re.compile("|".join(re.escape(s) for s, _ in _SYMBOLS), re.IGNORECASE)
_SYMBOL_MAP = {s.upper(): c for s, c in _SYMBOLS}
_CODE_RE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
_NUMBER_RE = re.compile(r"\d[\d.,'\u00a0\u202f\u2009 ]*")
_SCALE_RE = re.compile(r"^\s*(k|thousand|m|mm|mio|mln|million|millions|bn|billion)\b\.?", re.IGNORECASE)
_SCALES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mio": 1e6,
    "mln": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "bn": 1e9,
    "billion": 1e9,
}
_BRACKETS_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ALLOWED_WORDS = {
    "approx",
    "approximately",
    "ca",
    "circa",
    "about",
    "estimate",
    "est",
    "price",
    "realised",
    "realized",
    "sold",
    "for",
    "hammer",
    "premium",
    "incl",
    "including",
    "with",
}

MAX_AMOUNT = 1e12  # nothing sells for a trillion: larger numbers are parse errors (a date, an id...)


def parse_number(text: str, field: str = "amount") -> float:
    """Parse one grouped number such as ``"12,500"``, ``"12.500,50"``, ``"6 000"`` or ``"1'250.5"``."""
    s = text.strip().replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    s = re.sub(r"(?<=\d)[ '](?=\d)", "_", s)  # space / apostrophe grouping -> "_" marks a group
    if not re.fullmatch(r"\d[\d_.,]*", s) or s.endswith(("_", ",", ".")) or re.search(r"[_.,]{2}", s):
        raise MoneyError(field, text, "not a number")
    seps = [c for c in s if c in ",._"]
    if not seps:
        return float(s)
    has_comma, has_dot = "," in s, "." in s
    if has_comma and has_dot:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
    elif has_comma or has_dot:
        mark = "," if has_comma else "."
        after = s.rsplit(mark, 1)[1]
        lead = re.split(r"[_.,]", s)[0]
        if s.count(mark) > 1 or (len(after) == 3 and "_" not in after and lead != "0"):
            decimal = None  # thousands separators only
        else:
            decimal = mark
    else:
        decimal = None
    if decimal is not None:
        int_part, frac = s.rsplit(decimal, 1)
        if not frac.isdigit():
            raise MoneyError(field, text, "malformed decimal part")
    else:
        int_part, frac = s, ""
    groups = re.split(r"[_.,]", int_part)
    if len(groups) > 1:
        if len({c for c in int_part if c in "_.,"}) > 1 and decimal is None:
            raise MoneyError(field, text, "mixed thousands separators")
        if not (1 <= len(groups[0]) <= 3) or any(len(g) != 3 for g in groups[1:]):
            raise MoneyError(field, text, "digits are not grouped in thousands")
    return float("".join(groups) + ("." + frac if frac else ""))


def _currency_tokens(text: str) -> list[str]:
    found: list[str] = []
    for m in _SYMBOL_RE.finditer(text):
        found.append(_SYMBOL_MAP[m.group(0).upper()])
    stripped = _SYMBOL_RE.sub(" ", text)
    for m in _CODE_RE.finditer(stripped):
        word = m.group(1)
        if word.casefold() in _ALLOWED_WORDS or word.casefold() in _SCALES:
            continue
        found.append(word.upper())
    return found


def _check_amount(amount: float, text: Any, field: str) -> float:
    if not math.isfinite(amount):
        raise MoneyError(field, text, "not a finite number")
    if amount < 0:
        raise MoneyError(field, text, "negative amount")
    if amount > MAX_AMOUNT:
        raise MoneyError(field, text, "implausibly large amount")
    return float(amount)


@lru_cache(maxsize=65536)
def _parse_money_str(text: str, default_currency: str | None, field: str) -> Money:
    s = _BRACKETS_RE.sub(" ", text).strip()
    if is_missing(s):
        raise MoneyError(field, text, "no amount")
    if s.startswith("-") and re.match(r"-\s*\d", s):
        raise MoneyError(field, text, "negative amount")
    numbers = _NUMBER_RE.findall(s)
    numbers = [n.strip() for n in numbers if n.strip()]
    if not numbers:
        raise MoneyError(field, text, "no number found")
    if len(numbers) > 1:
        raise MoneyError(field, text, "more than one number (a range? use parse_estimate_range)")
    num_text = numbers[0]
    amount = parse_number(num_text, field)
    rest = s.replace(num_text, " ", 1)
    scale = _SCALE_RE.match(s[s.find(num_text) + len(num_text) :])
    if scale:
        amount *= _SCALES[scale.group(1).lower()]
        rest = rest.replace(scale.group(0).strip(), " ", 1)
    currencies = _currency_tokens(rest)
    leftovers = re.sub(r"[\s.:~=*+]+", "", _CODE_RE.sub("", _SYMBOL_RE.sub("", rest)))
    if leftovers:
        raise MoneyError(field, text, f"unexpected characters {leftovers[:20]!r}")
    if len(set(currencies)) > 1:
        raise MoneyError(field, text, f"several currencies {sorted(set(currencies))}")
    currency = currencies[0] if currencies else default_currency
    if currency == "JPY" and default_currency == "CNY" and "¥" in s:
        currency = "CNY"  # "¥" is also the yuan sign
    return Money(_check_amount(amount, text, field), currency.upper() if currency else None)


def parse_money(value: Any, default_currency: str | None = None, field: str = "amount") -> Money:
    """Parse a money value (number or text) into ``Money(amount, currency)``.

    The currency written in the text (symbol or ISO code, before or after the number) wins; otherwise
    ``default_currency`` is used (it may be None, then ``currency`` is None). Missing values ("", "n/a", None,
    NaN) and junk raise :class:`MoneyError`; so do negative or implausibly large amounts.
    """
    default = (
        default_currency.strip().upper()
        if isinstance(default_currency, str) and default_currency.strip()
        else None
    )
    if isinstance(value, bool):
        raise MoneyError(field, value, "a boolean is not an amount")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise MoneyError(field, value, "no amount")
        return Money(_check_amount(float(value), value, field), default)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        try:
            return parse_money(value.item(), default_currency, field)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, MoneyError):
                raise
            raise MoneyError(field, value, "not a number") from exc
    if not isinstance(value, str):
        raise MoneyError(field, value, f"unsupported type {type(value).__name__}")
    return _parse_money_str(value, default, field)


_RANGE_SPLIT_RE = re.compile(r"\s*(?:\bto\b\s*-?|/|–|—|~|\s-\s|-(?=\s*[^\d\s]*\d)|\band\b)\s*", re.IGNORECASE)


def parse_estimate_range(
    value: Any, default_currency: str | None = None, field: str = "estimate"
) -> tuple[float, float, str | None]:
    """Parse an estimate range into ``(low, high, currency)``.

    Accepts ``"CHF 6 000 / 8 000"``, ``"6,000,000 to - 10,000,000 HKD"``, ``"$10,000 - $15,000"``,
    ``"€12,500–18,000"``. One currency for both ends (written once or twice); ``low <= high``.
    """
    if not isinstance(value, str):
        raise MoneyError(field, value, "an estimate range must be text")
    s = _BRACKETS_RE.sub(" ", value).strip()
    if is_missing(s):
        raise MoneyError(field, value, "no estimate")
    parts = [p for p in _RANGE_SPLIT_RE.split(s) if p.strip()]
    if len(parts) != 2:
        raise MoneyError(field, value, "expected exactly two amounts (low and high)")
    currencies = set(_currency_tokens(_NUMBER_RE.sub(" ", s)))
    if len(currencies) > 1:
        raise MoneyError(field, value, f"several currencies {sorted(currencies)}")
    currency = (
        next(iter(currencies)) if currencies else (default_currency.upper() if default_currency else None)
    )
    low = parse_money(parts[0], currency, field)
    high = parse_money(parts[1], currency, field)
    if low.amount > high.amount:
        raise MoneyError(field, value, f"low {low.amount:g} is above high {high.amount:g}")
    return low.amount, high.amount, currency


def format_money(amount: float, currency: str, style: str = "symbol") -> str:
    """Format an amount the way sites print it (used by tests for round trips and by reports)."""
    symbols = {"USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "JPY": "¥", "KRW": "₩"}
    whole = round(amount, 2)
    text = f"{whole:,.2f}" if whole != int(whole) else f"{int(whole):,}"
    if style == "symbol" and currency in symbols:
        return f"{symbols[currency]}{text}"
    if style == "suffix":
        return f"{text} {currency}"
    if style == "european":
        eu = text.replace(",", "\u0000").replace(".", ",").replace("\u0000", ".")
        return f"{eu} {symbols.get(currency, currency)}"
    return f"{currency} {text}"


# ---- price cells that are a status, not an amount (askART, Arthena, house sites) ----------------------------------
PRICE_STATUS_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("withdrawn", re.compile(r"^\W*withdrawn\W*$", re.IGNORECASE)),
    ("bought_in", re.compile(r"^\W*(?:not sold(?: at auction)?|unsold|bought[ -]?in|passed)\W*$", re.IGNORECASE)),
    ("sold_price_unknown", re.compile(r"^\W*(?:not communicated|price on request|undisclosed)\W*$",
                                      re.IGNORECASE)),
)


def price_status(value: Any) -> str | None:
    """The status a price cell states instead of an amount: ``"-not sold-"``, ``"Not sold at auction."`` ->
    ``"bought_in"``; ``"withdrawn"`` -> ``"withdrawn"``; ``"not communicated"``, ``"[not communicated]"`` ->
    ``"sold_price_unknown"`` (sold, price not published). None for anything else (amounts, blanks)."""
    if not isinstance(value, str):
        return None
    for status, pattern in PRICE_STATUS_WORDS:
        if pattern.match(value.strip()):
            return status
    return None
