"""parse_dimensions: cm, mm, inches with fractions, comma decimals, missing inch marks."""

from __future__ import annotations

import pytest

from gbv.normalize import NormalizationError, parse_dimensions
from gbv.normalize.dimensions import format_dimensions

IN = 2.54


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # demo html houses
        ("65.5 x 81 cm", (65.5, 81.0, None)),
        ("65.5 x 81 x 20 cm", (65.5, 81.0, 20.0)),
        # demo api houses: inches with fractions
        ("25 3/4 x 31 7/8 in.", (25.75 * IN, 31.875 * IN, None)),
        ("25 3/4 x 31 7/8 x 8 in.", (25.75 * IN, 31.875 * IN, 8 * IN)),
        # real-world shapes
        ('30.00" x 22.25', (30 * IN, 22.25 * IN, None)),  # closing inch mark missing
        ('12.25" x 31.50" x 9.25', (12.25 * IN, 31.5 * IN, 9.25 * IN)),
        ("15,2 x 15,2 cm", (15.2, 15.2, None)),  # comma decimals
        ("120 × 80 × 40 mm", (12.0, 8.0, 4.0)),  # h × w × d
        ("60 1/4  by 41 3/4 in (153 by 106cm)", (60.25 * IN, 41.75 * IN, None)),
        ("10 1/2 x 29 7/8 in. (26.7 x 75.9 cm).", (10.5 * IN, 29.875 * IN, None)),
        ("H. 30 x W. 20 cm", (30.0, 20.0, None)),
        ("12x15cm", (12.0, 15.0, None)),
        ("1,200 x 800 mm", (120.0, 80.0, None)),
        ("2 x 1.5 m", (200.0, 150.0, None)),
        ("10 ½ x 8 ¼ in.", (10.5 * IN, 8.25 * IN, None)),
        (
            "11 1/4 x 8 3/4 x 5/8 in. (28.6 x 22.2 x 1.6 cm).",
            (11.25 * IN, 8.75 * IN, 0.625 * IN),
        ),  # bare fraction
        (
            '33.66" x 16.93"                                (85.50cm x 43.00cm)',
            (33.66 * IN, 16.93 * IN, None),
        ),
    ],
)
def test_parse_dimensions(text, expected):
    h, w, d = parse_dimensions(text)
    assert h == pytest.approx(expected[0], abs=1e-3)
    assert w == pytest.approx(expected[1], abs=1e-3)
    if expected[2] is None:
        assert d is None
    else:
        assert d == pytest.approx(expected[2], abs=1e-3)


def test_inch_fraction_value_from_the_brief():
    assert parse_dimensions("25 3/4 x 31 7/8 in.")[0] == pytest.approx(65.405)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Dimensions not available",
        "30",
        "40 x 30",
        "0 x 5 cm",
        "5 x 3 cm x 4 in",
        "n/a",
        None,
        42,
        "1/0 x 3 in",
        "99999 x 1 m",
    ],
)
def test_parse_dimensions_rejects(text):
    with pytest.raises(NormalizationError):
        parse_dimensions(text)


@pytest.mark.parametrize("unit", ["cm", "mm", "in"])
@pytest.mark.parametrize("size", [(65.5, 81.0, None), (10.0, 12.5, 3.0), (200.0, 150.0, None)])
def test_format_then_parse_round_trip(size, unit):
    text = format_dimensions(*size, unit=unit)
    got = parse_dimensions(text)
    for a, b in zip(got, size, strict=True):
        assert (a is None and b is None) or a == pytest.approx(b, abs=1e-2)
