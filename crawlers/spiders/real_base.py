"""What the spiders for real auction sources share (not a spider itself: no ``name``).

Every real spider:

* takes ``base_url`` (default: the house's real site) and lands under a fixed ``source`` (``christies``,
  ``sothebys`` ...; one per spider, so two spiders of one house never share a landing folder), ``house``
  (default: the house's slug) and ``run_date``;
* stays on the host of ``base_url`` (``allowed_domains``), and relies on the project settings for robots.txt,
  the user agent, AutoThrottle, retries and JOBDIR resume (``crawlers.settings``, ``crawlers.run.run_crawl``);
* yields :class:`~crawlers.items.AuctionLotItem` with the raw lot fields as the source shows them (money strings
  or numbers kept as found, ``price_basis`` as the source states it, ``sale_currency`` as an ISO code), and a
  :class:`~crawlers.items.CrawlRejectItem` (URL + reason) for anything it cannot read — a broken embedded JSON
  never crashes a crawl.

``REAL_SOURCES`` maps spider name -> source; :func:`source_for` extends ``crawlers.run.source_for`` with them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from crawlers.spiders.base import DemoSpiderBase

# spider name -> source it lands under (kept here so run.py / bench / the lead's SourcesResource can import it
# without loading Scrapy spiders)
REAL_SOURCES = {
    "christies_sale": "christies",
    "christies_lot": "christies_lots",
    "sothebys_auction": "sothebys",
    "sothebys_api": "sothebys_api",
    "bonhams_api": "bonhams",
    "kauction_api": "kauction",
    "koller_listing": "koller",
}


def source_for(spider: str, house: str) -> str:
    """The landing source of a spider: the real spiders' fixed sources, else ``crawlers.run``'s demo rule."""
    if spider in REAL_SOURCES:
        return REAL_SOURCES[spider]
    from crawlers import run

    return run.source_for(spider, house)


class RealSpiderBase(DemoSpiderBase):
    """Arguments: ``base_url`` (default ``default_base_url``: the real site), ``house`` (default
    ``default_house``), ``run_date``. Subclasses set ``name``, ``default_house``, ``default_base_url``."""

    default_house: str = ""
    default_base_url: str = ""

    def __init__(
        self,
        house: str | None = None,
        base_url: str | None = None,
        run_date: str | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(house or self.default_house, base_url or self.default_base_url, run_date, *args, **kwargs)
        self.source = REAL_SOURCES[self.name]

    # -- URLs ---------------------------------------------------------------------------------------
    def site_url(self, path_or_url: str) -> str:
        """A path on the configured site; a full URL (e.g. from a saved list of the real site's pages) keeps its
        path and query but is moved onto ``base_url``'s host, so a test server or a mirror can stand in."""
        parts = urlsplit(path_or_url.strip())
        path = parts.path or "/"
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path + (f"?{parts.query}" if parts.query else "")

    @staticmethod
    def split_list(value: str | None) -> list[str]:
        return [v.strip() for v in (value or "").split(",") if v.strip()]

    # -- parsing helpers ----------------------------------------------------------------------------
    def load_json(self, response, what: str) -> tuple[Any, Any]:
        """(data, None) or (None, reject) for a JSON API answer."""
        try:
            return json.loads(response.text), None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return None, self.reject(response.url, "parse", f"broken {what} JSON: {exc}", payload=response.text[:300])


_TAG_RE = re.compile(r"<[^>]+>")
_BR_RE = re.compile(r"<\s*br\s*/?\s*>|</\s*(?:p|div)\s*>", re.IGNORECASE)


def strip_html(text: Any) -> str | None:
    """Markup -> plain text: ``<br>``/``</p>`` become line breaks, other tags go, entities are decoded."""
    if text is None:
        return None
    s = _BR_RE.sub("\n", str(text))
    s = html.unescape(_TAG_RE.sub("", s)).replace("\u00a0", " ")
    lines = [" ".join(line.split()) for line in s.splitlines()]
    out = "\n".join(line for line in lines if line)
    return out or None


_ARTIST_DATES_RE = re.compile(r"^(?P<name>.*?)\s*(?P<dates>\((?:[^()]*\d{3,4}[^()]*)\))\s*$")


def split_artist_dates(text: Any) -> tuple[str | None, str | None]:
    """``"Ángel Botello (1913-1986)"`` -> (``"Ángel Botello"``, ``"(1913-1986)"``); no dates -> (text, None)."""
    if text is None:
        return None, None
    s = " ".join(str(text).split())
    if not s:
        return None, None
    m = _ARTIST_DATES_RE.match(s)
    if m and m.group("name"):
        return m.group("name").strip(" ,"), m.group("dates")
    return s, None


_DIMENSION_LINE_RE = re.compile(r"\d\s*(?:[\d.,/ ½¼¾⅛⅜⅝⅞]*)\s*(?:x|×|by)\s*[\d.,/ ½¼¾⅛⅜⅝⅞]+\s*(?:cm|mm|in)\b", re.I)
_CREATED_LINE_RE = re.compile(
    r"^(?:painted|executed|drawn|conceived|cast|made|executed|created|dated|circa|c\.)\b.*\d{3,4}", re.I
)
_SIGNATURE_LINE_RE = re.compile(r"^(?:signed|inscribed|stamped|monogrammed|initialled|initialed|dated)\b", re.I)


MAX_CATALOGUE_LINES = 8


def catalogue_lines(lines: list[str]) -> dict[str, str | None]:
    """Read a catalogue entry's lines (artist, title, signature, medium, size, date — the order Christie's and
    Sotheby's use) into ``signature``, ``medium``, ``dimensions_text``, ``created_text``. Lines it cannot place
    are left alone (the whole text stays in ``description``)."""
    out: dict[str, str | None] = {"signature": None, "medium": None, "dimensions_text": None, "created_text": None}
    lines = lines[:MAX_CATALOGUE_LINES]  # a long text (a lot of 31 books) is not one work's entry
    dim_idx = next((i for i, ln in enumerate(lines) if _DIMENSION_LINE_RE.search(ln)), None)
    if dim_idx is not None:
        out["dimensions_text"] = lines[dim_idx]
        if dim_idx >= 1 and not _SIGNATURE_LINE_RE.match(lines[dim_idx - 1]):
            out["medium"] = lines[dim_idx - 1]
    for ln in lines:
        if out["signature"] is None and _SIGNATURE_LINE_RE.match(ln):
            out["signature"] = ln
        if out["created_text"] is None and _CREATED_LINE_RE.match(ln):
            out["created_text"] = ln
    return out


def iter_dicts(items: Any) -> Iterator[tuple[int, Any]]:
    """Enumerate a list (anything else: nothing)."""
    if isinstance(items, list):
        yield from enumerate(items)
