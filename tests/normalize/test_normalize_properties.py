"""Property tests: any input to the parsers gives a valid result or a NormalizationError, nothing else."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbv.contracts import LOT_STATUSES, MEDIUM_CLASSES, SIGNATURES
from gbv.normalize import (
    NormalizationError,
    classify_medium,
    normalize_signature,
    normalize_status,
    parse_created,
    parse_dimensions,
    parse_money,
    parse_sale_date,
)
from gbv.normalize.dimensions import format_dimensions
from gbv.normalize.money import format_money, parse_estimate_range

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that looks like the domain (digits, separators, symbols, units, month names) plus arbitrary unicode
_ALPHABET = st.sampled_from(list("0123456789 ,.'/-x×\"$€£¥HK()cminCHFUSDGBPEURMarchcirca~sbt½") + ["\u00a0"])
domainish = st.lists(_ALPHABET, max_size=30).map("".join)
texts = st.one_of(st.text(max_size=40), domainish)


@FAST
@given(texts, st.sampled_from([None, "USD", "EUR", "HKD"]))
def test_parse_money_total(text, default):
    try:
        money = parse_money(text, default)
    except NormalizationError:
        return
    assert math.isfinite(money.amount) and money.amount >= 0
    assert money.currency is None or (len(money.currency) == 3 and money.currency.isupper())


@FAST
@given(texts)
def test_parse_estimate_range_total(text):
    try:
        low, high, _ = parse_estimate_range(text)
    except NormalizationError:
        return
    assert 0 <= low <= high


@FAST
@given(texts)
def test_parse_dimensions_total(text):
    try:
        h, w, d = parse_dimensions(text)
    except NormalizationError:
        return
    assert 0 < h <= 5000 and 0 < w <= 5000 and (d is None or 0 < d <= 5000)


@FAST
@given(texts)
def test_parse_sale_date_total(text):
    try:
        got = parse_sale_date(text)
    except NormalizationError:
        return
    assert isinstance(got, dt.date) and 1700 <= got.year <= 2100


@FAST
@given(st.one_of(texts, st.integers(), st.floats(allow_nan=True), st.none()))
def test_parse_created_total(value):
    try:
        got = parse_created(value)
    except NormalizationError:
        return
    assert got is None or 1000 <= got <= 2100


@FAST
@given(texts, st.booleans())
def test_vocabularies_total(text, price_present):
    assert classify_medium(text) in (*MEDIUM_CLASSES, None)
    assert normalize_signature(text) in SIGNATURES
    try:
        assert normalize_status(text, price_present, past=True) in LOT_STATUSES
    except NormalizationError:
        pass


@FAST
@given(
    st.decimals(min_value=0, max_value=10**10, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(["USD", "EUR", "GBP", "HKD", "CHF"]),
    st.sampled_from(["symbol", "suffix", "code", "european"]),
)
def test_money_round_trip(amount, currency, style):
    value = float(amount)
    got = parse_money(format_money(value, currency, style))
    assert got.currency == currency
    assert math.isclose(got.amount, round(value, 2), rel_tol=1e-12, abs_tol=1e-9)


@FAST
@given(
    st.dates(min_value=dt.date(1750, 1, 1), max_value=dt.date(2099, 12, 31)),
    st.sampled_from(["%d %B %Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%m/%d/%Y", "%B %d, %Y", "%d %b %Y"]),
)
def test_date_round_trip(day, fmt):
    assert parse_sale_date(dt.datetime(day.year, day.month, day.day, 19).strftime(fmt)) == day


@FAST
@given(st.integers(1000, 2100), st.sampled_from(["{}", "c. {}", "circa {}", "{}-67", "executed in {}"]))
def test_created_round_trip(year, fmt):
    assert parse_created(fmt.format(year)) == year


@FAST
@given(
    st.floats(0.1, 1000),
    st.floats(0.1, 1000),
    st.one_of(st.none(), st.floats(0.1, 1000)),
    st.sampled_from(["cm", "mm", "in"]),
)
def test_dimensions_round_trip(h, w, d, unit):
    h, w = round(h, 1), round(w, 1)
    d = round(d, 1) if d is not None else None
    got = parse_dimensions(format_dimensions(h, w, d, unit=unit))
    for a, b in zip(got, (h, w, d), strict=True):
        assert (a is None and b is None) or math.isclose(a, b, abs_tol=0.01)
