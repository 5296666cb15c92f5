"""classify_medium, names and keys, status and signature vocabularies."""

from __future__ import annotations

import pytest

from gbv.contracts import LOT_STATUSES, MEDIUM_CLASSES, SIGNATURES
from gbv.normalize import (
    NormalizationError,
    artist_key,
    artwork_key,
    classify_medium,
    normalize_artist_name,
    normalize_signature,
    normalize_status,
    parse_artist_dates,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Oil on canvas", "painting"),
        ("Acrylic on canvas", "painting"),
        ("Gouache on paper", "work_on_paper"),
        ("Watercolour on paper", "work_on_paper"),
        ("Charcoal on paper", "work_on_paper"),
        ("Screenprint in colours", "print"),
        ("Lithograph", "print"),
        ("Etching", "print"),
        ("Gelatin silver print", "photograph"),
        ("Chromogenic print", "photograph"),
        ("Bronze with brown patina", "sculpture"),
        ("Marble", "sculpture"),
        ("Oil / Canvas", "painting"),
        ("Ink and acrylic / Paper", "work_on_paper"),
        ("Screenprint on paper", "print"),
        ("Oil on canvas laid down on board", "painting"),
        ("Woodcut", "print"),
        ("Acrylic on wood", "painting"),
        ("Archival pigment print", "photograph"),
        ("painting", "painting"),
        ("drawing", "work_on_paper"),
        ("photograph", "photograph"),
        ("xyz", None),
        ("", None),
        (None, None),
    ],
)
def test_classify_medium(text, expected):
    got = classify_medium(text)
    assert got == expected
    assert got is None or got in MEDIUM_CLASSES


@pytest.mark.parametrize(
    ("name", "display", "key"),
    [
        ("PICASSO, Pablo", "Pablo Picasso", "pablo-picasso-1881"),
        ("  Pablo   Picasso ", "Pablo Picasso", "pablo-picasso-1881"),
        ("Pablo Picasso (1881-1973)", "Pablo Picasso", "pablo-picasso-1881"),
        ("pablo picasso", "pablo picasso", "pablo-picasso-1881"),
        ("ANDY WARHOL", "Andy Warhol", "andy-warhol-1881"),
        ("Édouard Manet", "Édouard Manet", "edouard-manet-1881"),
    ],
)
def test_artist_names_and_keys(name, display, key):
    assert normalize_artist_name(name) == display
    assert artist_key(name, 1881) == key


def test_artist_key_stable_across_spellings_and_year_types():
    assert artist_key("Edouard MANET", 1832) == artist_key("MANET, Édouard", 1832.0) == "edouard-manet-1832"
    assert artist_key("Banksy", None) == "banksy-x"


@pytest.mark.parametrize("name", ["", "   ", None, "1234", "n/a"])
def test_artist_name_rejects(name):
    with pytest.raises(NormalizationError):
        normalize_artist_name(name)


def test_artwork_key_is_stable_and_short():
    a = artwork_key("pablo-picasso-1881", "Tête de femme", 1965, 65.2, 81.0)
    assert a == artwork_key(
        "pablo-picasso-1881", "TÊTE  DE FEMME", 1965.0, 65.405, 80.963
    )  # other source, inches
    assert a != artwork_key("pablo-picasso-1881", "Tête de femme", 1966, 65.2, 81.0)
    assert a.startswith("aw_") and len(a) == 19


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(French, 1901-1975)", ("French", 1901, 1975)),
        ("(American, b. 1962)", ("American", 1962, None)),
        ("(b. 1962)", (None, 1962, None)),
        ("(American, born 1962)", ("American", 1962, None)),
        ("(Chinese-French, 1920–2013)", ("Chinese-French", 1920, 2013)),
        ("(1901-1975)", (None, 1901, 1975)),
        ("(French)", ("French", None, None)),
        ("", (None, None, None)),
        (None, (None, None, None)),
    ],
)
def test_parse_artist_dates(text, expected):
    assert parse_artist_dates(text) == expected


@pytest.mark.parametrize("text", ["junk 12", "(French, 1975-1901)", 1901])
def test_parse_artist_dates_rejects(text):
    with pytest.raises(NormalizationError):
        parse_artist_dates(text)


@pytest.mark.parametrize(
    ("text", "price_present", "expected"),
    [
        ("SOLD", True, "sold"),
        ("UNSOLD", False, "bought_in"),
        ("FORTHCOMING", False, "upcoming"),
        ("sold", True, "sold"),
        ("passed", False, "bought_in"),
        ("open", False, "upcoming"),
        ("-not sold-", False, "bought_in"),
        ("Not sold at auction.", False, "bought_in"),
        ("withdrawn", False, "withdrawn"),
        ("13c WITHDRAWN", False, "withdrawn"),
        ("not communicated", False, "sold"),
        ("Bought In", False, "bought_in"),
        (None, True, "sold"),
    ],
)
def test_normalize_status(text, price_present, expected):
    got = normalize_status(text, price_present)
    assert got == expected and got in LOT_STATUSES


def test_normalize_status_without_a_word_uses_the_date():
    assert normalize_status(None, False, past=True) == "bought_in"
    assert normalize_status("", False, past=False) == "upcoming"
    with pytest.raises(NormalizationError):
        normalize_status(None, False)
    with pytest.raises(NormalizationError):
        normalize_status("on the moon", False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("signed and dated", "signed_and_dated"),
        ("signed", "signed"),
        ("monogrammed", "monogrammed"),
        ("unsigned", "unsigned"),
        ("Signed lower right", "signed"),
        ("Signed and dated 1965", "signed_and_dated"),
        ("Monogrammed", "monogrammed"),
        ("Unsigned", "unsigned"),
        ("Signed and Dated", "signed_and_dated"),
        ("Inscribed and Signed", "signed"),
        ("Unavailable", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_normalize_signature(text, expected):
    got = normalize_signature(text)
    assert got == expected and got in SIGNATURES
