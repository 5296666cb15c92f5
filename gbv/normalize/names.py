"""Artist names and the stable keys of artists and artworks.

* :func:`normalize_artist_name` -> the display name: spaces collapsed, ``"PICASSO, Pablo"`` ->
  ``"Pablo Picasso"``, shouted names title-cased, a trailing ``"(1881-1973)"`` dropped. Accents are kept.
* :func:`name_key` -> the matching key: casefolded, accents stripped, punctuation dropped.
* :func:`artist_key` -> ``"pablo-picasso-1881"`` (slug of the key + birth year; ``"-x"`` when unknown).
* :func:`artwork_key` -> a short sha1 of artist id, title key, year and size rounded to whole cm.
* :func:`parse_artist_dates` -> ``("French", 1901, 1975)`` from ``"(French, 1901-1975)"``.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from functools import lru_cache
from typing import Any

from gbv.normalize.errors import ArtistNameError, is_missing

_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}
_PAREN_RE = re.compile(r"\s*[\(\[][^)\]]*[\)\]]\s*")


def _title_word(word: str) -> str:
    return "-".join(p[:1].upper() + p[1:].lower() if p else p for p in word.split("-"))


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def _normalize_name(name: str) -> str:
    s = unicodedata.normalize("NFC", name)
    s = _PAREN_RE.sub(" ", s)
    s = " ".join(s.replace("\u00a0", " ").split()).strip(" ,;")
    if not s or not any(c.isalpha() for c in s):
        raise ArtistNameError("artist_name", name, "no letters in the artist name")
    if s.count(",") == 1:
        last, first = (p.strip() for p in s.split(","))
        if first and last and first.casefold() not in _SUFFIXES:
            if last.isupper() and not first.isupper():
                last = " ".join(_title_word(w) for w in last.split())
            s = f"{first} {last}"
    if s.isupper() and len(s) > 3:
        s = " ".join(_title_word(w) for w in s.split())
    return s


def normalize_artist_name(name: Any) -> str:
    """Display form of an artist name (see module docstring); empty/junk raises :class:`ArtistNameError`."""
    if not isinstance(name, str) or is_missing(name):
        raise ArtistNameError("artist_name", name, "no artist name")
    return _normalize_name(name)


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """Matching key of a (display) name: casefolded, accents stripped, only letters/digits and single spaces."""
    s = _strip_accents(name).casefold().replace("ß", "ss")
    s = re.sub(r"[^\w\s]", " ", s)
    return " ".join(s.replace("_", " ").split())


def _slug(text: str) -> str:
    ascii_text = _strip_accents(text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.casefold()).strip("-")
    if not slug:  # non-Latin scripts: a stable hash keeps them apart
        slug = "u" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return slug


def slugify(text: str) -> str:
    """Lower-case ASCII slug (``"Harrington & Sons"`` -> ``"harrington-sons"``)."""
    return _slug(name_key(text))


def year_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or f <= 0:  # NaN, inf (e.g. "1e400") are no year
        return None
    return int(f)


def artist_key(name: Any, birth_year: Any = None) -> str:
    """Stable artist id: slug of the normalised name plus birth year (``"pablo-picasso-1881"``), or ``-x``."""
    display = normalize_artist_name(name)
    year = year_or_none(birth_year)
    return f"{_slug(name_key(display))}-{year if year is not None else 'x'}"


def _title_key(title: Any) -> str:
    if not isinstance(title, str) or is_missing(title):
        return ""
    return name_key(title)


def _size_key(value: Any) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return ""
    return str(int(round(f))) if math.isfinite(f) else ""


def artwork_key(artist_id: str, title: Any, year_created: Any, h_cm: Any, w_cm: Any) -> str:
    """Stable artwork id: ``"aw_"`` + 16 hex chars of sha1(artist id | title key | year | h | w in whole cm).

    Sizes are rounded to whole cm so an inch size and its published cm conversion usually agree; two
    measurements either side of a .5 boundary still give two ids (matching across sources is fuzzy work for
    a later resolver, not for a key).
    """
    year = year_or_none(year_created)
    parts = [
        artist_id,
        _title_key(title),
        "" if year is None else str(year),
        _size_key(h_cm),
        _size_key(w_cm),
    ]
    return "aw_" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


_DATES_RE = re.compile(
    r"^\(?\s*(?:(?P<nat>[^\d(),]+?)\s*,\s*)?"
    r"(?:(?P<b1>\d{4})\s*[-–—]\s*(?P<d1>\d{4})"
    r"|(?:b\.|born)\s*(?P<b2>\d{4})"
    r"|(?P<b3>\d{4})\s*[-–—]\s*(?:present)?"
    r"|(?:d\.|died)\s*(?P<d2>\d{4}))?\s*\)?$",
    re.IGNORECASE,
)


_CIRCA_RE = re.compile(r"(?<![^\W\d_])(?:circa|ca\.?|c\.)\s*(?=\d{4})", re.IGNORECASE)
_PLACE = r"[^\W\d_][^\d()\[\]]*?"  # a place (or a name): starts with a letter, holds no digit
_YEARS = r"(?P<b>\d{4})\s*[-–—]\s*(?P<d>\d{4})"
# forms the first regex does not read, tried in order on the text without brackets, "circa" or a final "."
_MORE_DATES_RES = (
    # Koller: birth place, years, death place: "(Lastra a Signa 1835 - 1912 Florence)"
    re.compile(rf"^(?P<bplace>{_PLACE})\s+{_YEARS}\s+(?P<dplace>{_PLACE})$"),
    # Koller: born and died in one place: "(1808 Munich 1885)", "(1855 Paris circa 1890)"
    re.compile(rf"^(?P<b>\d{{4}})\s+(?P<dplace>{_PLACE})\s+(?P<d>\d{{4}})$"),
    # Bonhams: "(born Ghana 1965)", "(born Tunisia, 1983)": a place of birth, not a nationality
    re.compile(rf"^(?:born|b\.)\s+(?P<bplace>{_PLACE}),?\s+(?P<b>\d{{4}})$", re.IGNORECASE),
    # Bonhams (books and manuscripts): the person's name again, a full stop, the years:
    # "(SURNAME, FIRST. 1819-1891.)", "([SURNAME, FIRST. 1809-1865.])", "(SURNAME, FIRST, editor. 1631-1700.)"
    re.compile(rf"^(?P<name>{_PLACE})\.\s*{_YEARS}$"),
    # a nationality or country without a comma, or nothing: "(Sudan 1931-1996)", "(Circa 1570-1630)"
    re.compile(rf"^(?:(?P<nat>[^\W\d_][\w .'/-]*?)\s+)?{_YEARS}$"),
)


def _more_dates(text: str) -> tuple[str | None, int | None, int | None] | None:
    s = text.strip()
    while s[:1] in "([" and s[-1:] in ")]":
        s = s[1:-1].strip()
    s = _CIRCA_RE.sub("", s).rstrip(". ").strip()
    for rx in _MORE_DATES_RES:
        m = rx.match(s)
        if m:
            groups = m.groupdict()
            b, d = groups.get("b"), groups.get("d")
            return (groups.get("nat") or None), (int(b) if b else None), (int(d) if d else None)
    return None


def parse_artist_dates(value: Any) -> tuple[str | None, int | None, int | None]:
    """``"(French, 1901-1975)"`` -> ``("French", 1901, 1975)``; ``"(American, b. 1962)"`` ->
    ``("American", 1962, None)``; ``"(b. 1962)"`` -> ``(None, 1962, None)``; empty -> all None.

    Also the real houses' forms: Koller's places of birth and death (``"(Rome 1827 - 1909 Geneva)"``,
    ``"(1808 Munich 1885)"``) and Bonhams' ``"(born Ghana 1965)"``, ``"(SURNAME, FIRST. 1819-1891.)"``,
    ``"(Sudan 1931-1996)"``, ``"(Circa 1570-1630)"``: years only (a place is no nationality), except a lone word
    before the years, read as the nationality (or country) the house states."""
    if (
        value is None
        or (isinstance(value, str) and is_missing(value))
        or (isinstance(value, float) and math.isnan(value))
    ):
        return None, None, None
    if not isinstance(value, str):
        raise ArtistNameError("artist_dates", value, "artist dates must be text")
    s = " ".join(value.split())
    m = _DATES_RE.match(s)
    more = None if m else _more_dates(s)
    if more is not None:
        nat, b, d = more
        if b is not None and d is not None and d < b:
            raise ArtistNameError("artist_dates", value, "death year before birth year")
        return nat, b, d
    if not m:
        # nationality alone, e.g. "(French)", "(Ivorian)", "(Côte d'Ivoire)" or "(British, 20th century)"
        m2 = re.match(
            r"^\(?\s*([^\W\d_](?:[^\W\d_]|[ .'-])*?)\s*(?:,[^()\d]*(?:\d{1,2}(?:st|nd|rd|th) century)?)?\s*\)?$",
            s,
            re.IGNORECASE,
        )
        if m2 and m2.group(1):
            return m2.group(1).strip(), None, None
        raise ArtistNameError("artist_dates", value, "unrecognised artist dates")
    nat = (m["nat"] or "").strip() or None
    if nat and not re.fullmatch(r"[^\W\d_][\w .'/-]*", nat):
        raise ArtistNameError("artist_dates", value, "unrecognised nationality")
    birth = m["b1"] or m["b2"] or m["b3"]
    death = m["d1"] or m["d2"]
    b = int(birth) if birth else None
    d = int(death) if death else None
    if b is not None and d is not None and d < b:
        raise ArtistNameError("artist_dates", value, "death year before birth year")
    if nat is None and b is None and d is None:
        raise ArtistNameError("artist_dates", value, "no nationality or years")
    return nat, b, d
