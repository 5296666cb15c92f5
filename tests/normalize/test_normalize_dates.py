"""parse_sale_date and parse_created."""

from __future__ import annotations

import datetime as dt

import pytest

from gbv.normalize import NormalizationError, parse_created, parse_sale_date

D = dt.date(2024, 3, 14)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14 March 2024", D),  # demo html houses
        ("2024-03-14T19:00:00Z", D),  # demo api houses
        ("2024-03-14", D),
        ("2024-03-14 00:00:00", D),
        ("2016-11-18T15:00:00.489000", dt.date(2016, 11, 18)),  # Arthena, microseconds
        ("2024-03-14T23:30:00+01:00", D),
        ("03/14/2024", D),  # askART MM/DD/YYYY
        ("11/16/2016-11/17/2016", dt.date(2016, 11, 16)),  # multi-day range -> first day
        ("5/30/17", dt.date(2017, 5, 30)),  # askART HK Sotheby's M/D/YY
        ("March 14, 2024", D),
        ("14th March 2024", D),
        ("14-15 March 2024", D),
        ("Thursday, 14 March 2024", D),
        ("14 Mar 2024", D),
        ("14.03.2024", D),
        ("2024/03/14", D),
        (dt.datetime(2024, 3, 14, 19, 0), D),
        (D, D),
    ],
)
def test_parse_sale_date(text, expected):
    assert parse_sale_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "n/a", "junk", "2024-02-30", "13/45/2024", "1600-01-01", "14 Smarch 2024", None, 20240314, "2024"],
)
def test_parse_sale_date_rejects(text):
    with pytest.raises(NormalizationError):
        parse_sale_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1965", 1965),
        ("c. 1965", 1965),
        ("c.1965", 1965),
        ("circa 1965", 1965),
        ("1965-67", 1965),
        ("1965-1967", 1965),
        ("1950s", 1955),
        ("c.1950s", 1955),
        ("1960's", 1965),
        ("executed in 1987", 1987),
        ("19th century", 1850),
        ("not given", None),
        ("Not Given", None),
        ("undated", None),
        ("n.d.", None),
        ("", None),
        (None, None),
        (1965, 1965),
        (1965.0, 1965),
        (float("nan"), None),
        (-1, None),
    ],
)
def test_parse_created(text, expected):
    assert parse_created(text) == expected


@pytest.mark.parametrize("text", ["foo", "999", "year 3000", 1965.5, 12, True])
def test_parse_created_rejects(text):
    with pytest.raises(NormalizationError):
        parse_created(text)
