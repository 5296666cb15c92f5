"""The real sources' forms that the first normalisers missed (issue 3): status words of every source, Koller's and
Bonhams' artist dates, K Auction's Korean medium words and sizes. Every string here is synthetic, written in the
shape the sources use (names, places and numbers made up), not copied from ../shared."""

from __future__ import annotations

import pytest

from gbv.normalize.dimensions import parse_dimensions
from gbv.normalize.errors import NormalizationError
from gbv.normalize.medium import classify_medium, translate_cjk
from gbv.normalize.names import parse_artist_dates
from gbv.normalize.status import normalize_status


# ---- status: every status word present in the real files --------------------------------------------------
@pytest.mark.parametrize(
    ("word", "price", "want"),
    [
        ("WD", False, "withdrawn"),  # Bonhams sLotStatus
        ("WD", True, "withdrawn"),
        ("wd", False, "withdrawn"),
        ("W/D", False, "withdrawn"),
        ("BI", False, "bought_in"),  # Bonhams
        ("SOLD", True, "sold"),  # Bonhams
        ("Sold", True, "sold"),  # collectrium, Koller "Sold for ..."
        ("Unsold", False, "bought_in"),  # collectrium
        ("unsold", False, "bought_in"),  # K Auction spider (finish_yn without hammer)
        ("-not sold-", False, "bought_in"),  # askART NY
        ("Not sold at auction.", False, "bought_in"),  # askART NY
        ("not communicated", False, "sold"),  # askART: sold, price unpublished
        ("[not communicated]", False, "sold"),  # askART HK Sotheby's
        ("withdrawn", False, "withdrawn"),  # askART price cell
        ("27b WITHDRAWN", False, "withdrawn"),  # askART lot cell
        ("Closed", True, "sold"),  # Sotheby's lotState: the sale is over, a price means sold ...
        ("Closed", False, "bought_in"),  # ... and none means bought in
        ("FINISHED", True, "sold"),  # K Auction status
        ("FINISHED", False, "bought_in"),
        ("CLOSING", False, "upcoming"),  # Sotheby's auctionState while bidding runs
    ],
)
def test_status_words_of_the_real_sources(word, price, want):
    assert normalize_status(word, price, past=True) == want


@pytest.mark.parametrize("word", ["hardwood", "WDX", "nonsense"])
def test_status_still_refuses_unknown_words(word):
    with pytest.raises(NormalizationError):
        normalize_status(word, False, past=True)


# ---- artist dates -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "want"),
    [
        # Koller: birth place, years, death place (places of several words, dots, hyphens, slashes, umlauts)
        ("(Novgorod 1861 - 1930 Boston)", (None, 1861, 1930)),
        ("(St. Gallen 1840 - 1899 Le Havre)", (None, 1840, 1899)),
        ("(Aix-en-Provence 1802 - 1877 Villers-sur-Mer)", (None, 1802, 1877)),
        ("(Bad Kreuznach 1833 - 1901 Lyon/Marseille)", (None, 1833, 1901)),
        ("(Lübeck 1850 - 1911 Zürich)", (None, 1850, 1911)),
        # Koller: born and died in one place; "circa" before the death year
        ("(1811 Geneva 1880)", (None, 1811, 1880)),
        ("(1830 St. Moritz 1902)", (None, 1830, 1902)),
        ("(1840 Lyon circa 1895)", (None, 1840, 1895)),
        # Bonhams: place of birth; the person's name again before the years; country; circa
        ("(born Kenya 1970)", (None, 1970, None)),
        ("(born Senegal, 1988)", (None, 1988, None)),
        ("(DOE, JOHN. 1801-1870.)", (None, 1801, 1870)),
        ("(ROE, RICHARD, after. 1750-1811.)", (None, 1750, 1811)),
        ("([POE-SMITH, ANNA MARIA. 1799-1850.])", (None, 1799, 1850)),
        ("(Ghana 1940-2001)", ("Ghana", 1940, 2001)),
        ("(Circa 1600-1650)", (None, 1600, 1650)),
        ("(c.1845-1910)", (None, 1845, 1910)),
        # the forms read before stay as they were
        ("(French, 1901-1975)", ("French", 1901, 1975)),
        ("(American, b. 1962)", ("American", 1962, None)),
        ("(British, 20th century)", ("British", None, None)),
    ],
)
def test_artist_dates_real_forms(text, want):
    assert parse_artist_dates(text) == want


@pytest.mark.parametrize("text", ["(Leeds 1890 - 1870 York)", "(1890 Leeds 1870)", "(12 Leeds 34)"])
def test_artist_dates_impossible_or_unreadable(text):
    with pytest.raises(NormalizationError):
        parse_artist_dates(text)


# ---- medium: Korean (K Auction), Chinese, Japanese ----------------------------------------------------------
@pytest.mark.parametrize(
    ("medium", "want"),
    [
        ("캔버스에 유채", "painting"),  # oil on canvas
        ("캔버스에 아크릴", "painting"),
        ("캔버스에 혼합재료", "painting"),
        ("패널에 혼합재료", "painting"),
        ("혼합재료", "painting"),  # mixed media, as "Mixed media"
        ("캔버스에 아크릴, 오일스틱, 바니쉬", "painting"),
        ("나무박스, 캔버스에 연필, 목탄", "painting"),
        ("종이에 먹", "work_on_paper"),  # ink on paper
        ("종이에 수묵담채", "work_on_paper"),
        ("종이에 수묵채색", "work_on_paper"),
        ("종이에 연필", "work_on_paper"),
        ("종이 위에 먼지", "work_on_paper"),  # "on top of paper"
        ("장지에 호분 및 채색", "work_on_paper"),
        ("비단에 수묵채색", "work_on_paper"),  # as "Ink and colour / Silk"
        ("비단에 채색", "work_on_paper"),
        ("천에 먹", "work_on_paper"),
        ("석판화", "print"),
        ("오프셋 석판화", "print"),
        ("에칭", "print"),  # etching (starts with the postposition's syllable)
        ("리노컷", "print"),
        ("세리그라프", "print"),
        ("메조틴트", "print"),
        ("실크스크린", "print"),
        ("목판화(사후판화)", "print"),
        ("세리그라프, 석판화", "print"),
        ("디지털 프린트", "photograph"),  # as "digital print"
        ("디아섹", "photograph"),
        ("브론즈", "sculpture"),
        ("布面油画", "painting"),  # Chinese: oil on canvas
        ("纸本设色", "work_on_paper"),
        ("絹本水墨", "work_on_paper"),
        ("キャンバスに油彩", "painting"),  # Japanese
        ("リトグラフ", "print"),
        ("Colour / Silk", "work_on_paper"),
    ],
)
def test_cjk_medium_words(medium, want):
    assert classify_medium(medium) == want


def test_cjk_translation_keeps_other_text_and_reads_the_postposition():
    assert translate_cjk("Oil on canvas") == "Oil on canvas"
    assert translate_cjk("캔버스에 유채") == "on canvas oil"
    assert translate_cjk("종이 위에 연필") == "on paper pencil"
    assert classify_medium("알수없는재료") is None  # unknown Korean words stay unclassified


# ---- dimensions: K Auction -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("52×71cm (edition 12/90)", (52.0, 71.0, None)),
        ("52.5×71cm (edition AP)", (52.5, 71.0, None)),
        ("a. 40ⅹ55cm (edition 10/120) b. 30ⅹ33cm (edition 4/60)", (40.0, 55.0, None)),  # U+2179 for "x"
        ("each 60×45cm, 6폭", (60.0, 45.0, None)),
        ("88×60cm, 3점", (88.0, 60.0, None)),
        ("40×66×22(d)cm", (40.0, 66.0, 22.0)),
        ("30.5×28.5(h)cm", (28.5, 30.5, None)),  # the value marked (h) is the height
        ("diameter 33cm", (33.0, 33.0, None)),
        ("Ø 10 in", (25.4, 25.4, None)),
        ("65.5 x 81 cm", (65.5, 81.0, None)),  # unchanged
    ],
)
def test_kauction_sizes(text, want):
    assert parse_dimensions(text) == pytest.approx(want)


@pytest.mark.parametrize("text", ["mixed media 3 cm", "diameter 0cm", "edition 12/90"])
def test_sizes_still_refused(text):
    with pytest.raises(NormalizationError):
        parse_dimensions(text)
