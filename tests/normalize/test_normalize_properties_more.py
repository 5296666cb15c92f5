"""More property tests over the normalisation library: names, artist dates, status, medium, premium, FX.

Any input gives a valid value or the library's own error (a NormalizationError naming the field, or for FX
``UnknownCurrency``); the round trips (what the demo houses write -> what staging reads back) are exact.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbv.contracts import LOT_STATUSES, MEDIUM_CLASSES
from gbv.demo.site import API_STATUS, HTML_STATUS, artist_dates
from gbv.normalize import (
    NormalizationError,
    artist_key,
    artwork_key,
    classify_medium,
    name_key,
    normalize_artist_name,
    normalize_status,
    parse_artist_dates,
    slugify,
)
from gbv.normalize.fx import KNOWN_CURRENCIES, UnknownCurrency, to_usd, usd_per_unit
from gbv.normalize.premium import SCHEDULES, hammer_from_premium, premium_inclusive

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

anything = st.one_of(
    st.text(max_size=60),
    st.none(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=2),
)
namey = st.lists(
    st.sampled_from(list("abcdeéüøł ABCXYZ,.-'()[]0123456789") + ["Jr", "\u00a0", "  ", "PICASSO", "van"]),
    max_size=25,
).map("".join)
names = st.one_of(st.text(max_size=60), namey)


@FAST
@given(st.one_of(names, anything))
def test_artist_name_total_and_stable(value):
    try:
        shown = normalize_artist_name(value)
    except NormalizationError as exc:
        assert exc.field == "artist_name"
        return
    assert shown == shown.strip() and any(c.isalpha() for c in shown)
    assert "  " not in shown
    key = name_key(shown)
    assert isinstance(key, str)
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*-(?:\d{4}|x)|x-(?:\d{4}|x)|[a-z0-9-]*", artist_key(shown))


@FAST
@given(names)
def test_slug_and_keys_are_path_safe(text):
    assert re.fullmatch(r"[a-z0-9-]*", slugify(text))
    key = artwork_key("pablo-picasso-1881", text, 1905, 10.0, 20.0)
    assert re.fullmatch(r"[0-9a-z_-]+", key)


@FAST
@given(anything, anything, anything, anything, anything)
def test_keys_never_crash_on_junk(artist, title, year, h, w):
    try:
        artist_key(artist, year)
    except NormalizationError:
        pass
    artwork_key("a-1900", title, year, h, w)


@FAST
@given(
    st.one_of(st.none(), st.sampled_from(["French", "American", "British", "Spanish", "Côte d'Ivoire"])),
    st.one_of(st.none(), st.integers(1000, 2010)),
    st.integers(0, 100),
)
def test_artist_dates_round_trip(nationality, birth, lifespan):
    death = birth + lifespan if birth is not None and lifespan % 3 else None
    text = artist_dates(nationality, birth, death)
    if text is None:
        assert parse_artist_dates(text) == (None, None, None)
        return
    assert parse_artist_dates(text) == (nationality, birth, death)


@FAST
@given(st.one_of(names, anything))
def test_artist_dates_total(value):
    try:
        nat, b, d = parse_artist_dates(value)
    except NormalizationError as exc:
        assert exc.field == "artist_dates"
        return
    assert nat is None or isinstance(nat, str)
    assert b is None or 1000 <= b <= 9999
    assert d is None or b is None or d >= b


@FAST
@given(
    st.sampled_from(LOT_STATUSES),
    st.booleans(),
    st.sampled_from(["html", "api"]),
    st.sampled_from(["", " ", "-"]),
)
def test_status_round_trip(status, price_present, site_format, pad):
    shown = (HTML_STATUS if site_format == "html" else API_STATUS)[status]
    assert normalize_status(f"{pad}{shown}{pad}", price_present, past=True) == status


@FAST
@given(anything, st.booleans(), st.one_of(st.none(), st.booleans()))
def test_status_total(value, price_present, past):
    try:
        got = normalize_status(value, price_present, past=past)
    except NormalizationError as exc:
        assert exc.field == "status"
        return
    assert got in LOT_STATUSES


@FAST
@given(anything)
def test_medium_total(value):
    assert classify_medium(value) in (*MEDIUM_CLASSES, None)


@pytest.mark.parametrize(
    "words,cls", [("Oil on canvas", "painting"), ("oil and acrylic on panel", "painting")]
)
def test_medium_examples_still_classify(words, cls):
    assert classify_medium(words) == cls


@FAST
@given(
    st.sampled_from(sorted(SCHEDULES)),
    st.floats(0, 5e8, allow_nan=False),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_premium_round_trip_and_monotone(house, hammer, day):
    paid = premium_inclusive(hammer, house, day)
    assert paid >= hammer
    assert math.isclose(hammer_from_premium(paid, house, day), hammer, rel_tol=1e-9, abs_tol=1e-6)
    assert premium_inclusive(hammer * 1.01 + 1, house, day) > paid


@FAST
@given(
    st.sampled_from(sorted(KNOWN_CURRENCIES)),
    st.one_of(st.integers(1800, 2200), st.dates(min_value=dt.date(1900, 1, 1))),
    st.floats(0, 1e12, allow_nan=False),
)
def test_fx_known_currencies_give_finite_positive_rates(currency, on, amount):
    rate = usd_per_unit(currency, on)
    assert math.isfinite(rate) and rate > 0
    assert math.isclose(to_usd(amount, currency.lower(), on), amount * rate, rel_tol=1e-12)
    assert math.isnan(to_usd(None, currency, on))


@FAST
@given(anything, st.integers(1900, 2100))
def test_fx_unknown_currency_is_a_clear_error(currency, year):
    if isinstance(currency, str) and currency.strip().upper() in KNOWN_CURRENCIES:
        return
    with pytest.raises(UnknownCurrency, match="unknown currency"):
        usd_per_unit(currency, year)
