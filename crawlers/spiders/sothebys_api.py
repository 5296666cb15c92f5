"""Sotheby's JSON APIs: the lot search (Algolia-style answers, ``query.json``) and the lot API (``p.json``).

* Search answer: ``{"hits": [...], "page": 0, "nbPages": 2, ...}``; each hit has ``auctionId``, ``lotNr``,
  ``title``, ``creators``, ``lowEstimate``/``highEstimate``, ``price`` (premium-inclusive, null until results
  are published), ``currency``, ``lotState``, ``withdrawn``, ``auctionName``/``auctionLocation``/``auctionDate``
  and ``objectID`` (the lot id). Pages are followed while ``page + 1 < nbPages`` (``max_pages`` caps them).
* Lot API answer: ``{"data": {"lot": {...}}}`` with ``auction`` (id, title, location, currency, dates),
  ``lotNumber.lotNumber``, ``estimate.lowEstimate``/``highEstimate``, ``bidState.sold.isSold`` and
  ``bidState.sold.premiums.finalPrice`` (``{"currency": "GBP", "amount": "15120"}``, premium-inclusive),
  ``objectSet`` creators and an HTML ``description`` (artist, dates, title, signature, medium, size).

With ``follow_lots`` (default true) every search hit is followed to the lot API and one item is landed per lot,
from the lot API where it answers and from the hit alone where it does not (the failed lot request is recorded
as a reject; nothing is lost). Prices are premium-inclusive (``price_basis="premium"``).

Arguments (``-a``): ``auction_ids`` (comma-separated; searched), ``lot_ids`` (comma-separated; fetched from the
lot API directly), ``search_path`` (template, ``{auction_id}`` and ``{page}``; default
``/api/search/lots?auctionId={auction_id}&page={page}``), ``lot_path`` (template, ``{lot_id}``; default
``/api/lots/{lot_id}``), ``follow_lots`` (true/false), ``max_pages`` (0 = all).
Production: the real search is Algolia's query endpoint and the lot API Sotheby's GraphQL endpoint; point the
templates at a gateway that answers these GETs (see the report / SourcesResource notes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.real_base import RealSpiderBase, catalogue_lines, strip_html
from crawlers.spiders.sothebys_auction import sothebys_status

DEFAULT_SEARCH_PATH = "/api/search/lots?auctionId={auction_id}&page={page}"
DEFAULT_LOT_PATH = "/api/lots/{lot_id}"
LIFE_DATES_RE = re.compile(r"^(?:b\.\s*\d{4}|\d{4}\s*[-–]\s*\d{4}|active\b.*\d{4})$", re.IGNORECASE)


def hit_fields(hit: dict[str, Any]) -> dict[str, Any]:
    """Raw lot fields from one search hit."""
    creators = [c for c in hit.get("creators") or [] if isinstance(c, str) and c.strip()]
    return {
        "sale_id": hit.get("auctionId"),
        "sale_title": hit.get("auctionName"),
        "sale_date": hit.get("auctionDate"),
        "sale_location": hit.get("auctionLocation"),
        "sale_currency": hit.get("currency"),
        "lot_number": hit.get("lotNr"),
        "artist_name": creators[0] if creators else None,
        "title": " ".join((hit.get("title") or "").split()) or None,
        "estimate_low": hit.get("lowEstimate"),
        "estimate_high": hit.get("highEstimate"),
        "price": hit.get("price"),
        "status": sothebys_status(
            withdrawn=bool(hit.get("withdrawn")),
            sold=True if hit.get("price") is not None else None,
            closed=hit.get("lotState") == "Closed",
        )
        or hit.get("lotState"),
        "url_path": hit.get("slug"),
    }


def lot_api_fields(lot: dict[str, Any]) -> dict[str, Any]:
    """Raw lot fields from a lot API answer's ``data.lot``."""
    auction = lot.get("auction") or {}
    dates = auction.get("dates") or {}
    bid = lot.get("bidState") or {}
    sold = bid.get("sold") or {}
    final = ((sold.get("premiums") or {}).get("finalPrice")) or {}
    estimate = lot.get("estimate") or {}
    creators = []
    for obj in ((lot.get("objectSet") or {}).get("objects")) or []:
        creators += [c.get("displayName") for c in (obj or {}).get("creators") or [] if c.get("displayName")]
    lines = (strip_html(lot.get("description")) or "").splitlines()
    dates_line = next((ln for ln in lines[:3] if LIFE_DATES_RE.match(ln)), None)
    parsed = catalogue_lines(lines)
    slug = auction.get("slug") or {}
    withdrawn = ((lot.get("withdrawnState") or {}).get("state")) not in (None, "NotAffected")
    return {
        "sale_id": auction.get("auctionId"),
        "sale_title": " ".join((auction.get("title") or "").split()) or None,
        "sale_date": dates.get("closed") or dates.get("startsToClose") or dates.get("acceptsBids"),
        "sale_location": auction.get("location"),
        "sale_currency": auction.get("currency") or final.get("currency"),
        "lot_number": ((lot.get("lotNumber") or {}).get("lotNumber")),
        "artist_name": creators[0] if creators else None,
        "artist_dates": f"({dates_line})" if dates_line else None,
        "title": " ".join((lot.get("title") or "").split()) or None,
        "medium": parsed["medium"],
        "created_text": parsed["created_text"],
        "dimensions_text": parsed["dimensions_text"],
        "signature": parsed["signature"],
        "description": "\n".join(lines) or None,
        "estimate_low": estimate.get("lowEstimate"),
        "estimate_high": estimate.get("highEstimate"),
        "price": final.get("amount"),
        "status": sothebys_status(withdrawn=withdrawn, sold=sold.get("isSold"), closed=bool(bid.get("isClosed"))),
        "url_path": f"/en/buy/auction/{slug.get('year')}/{slug.get('name')}/{lot.get('slug')}"
        if slug.get("name") and lot.get("slug")
        else None,
    }


class SothebysApiSpider(RealSpiderBase):
    name = "sothebys_api"
    default_house = "sothebys"
    default_base_url = "https://www.sothebys.com"

    def __init__(
        self,
        *args: Any,
        auction_ids: str | None = None,
        lot_ids: str | None = None,
        search_path: str = DEFAULT_SEARCH_PATH,
        lot_path: str = DEFAULT_LOT_PATH,
        follow_lots: str | bool = True,
        max_pages: int | str = 0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.auction_ids = self.split_list(auction_ids)
        self.lot_ids = self.split_list(lot_ids)
        if not self.auction_ids and not self.lot_ids:
            raise ValueError(f"spider {self.name}: give 'auction_ids' and/or 'lot_ids'")
        self.search_path = search_path
        self.lot_path = lot_path
        self.follow_lots = str(follow_lots).strip().lower() in ("1", "true", "yes")
        self.max_pages = int(max_pages or 0)

    def search_request(self, auction_id: str, page: int) -> scrapy.Request:
        return scrapy.Request(
            self.site_url(self.search_path.format(auction_id=auction_id, page=page)),
            callback=self.parse_search,
            errback=self.on_navigation_error,
            cb_kwargs={"auction_id": auction_id, "page": page},
            dont_filter=page == 0,
        )

    def lot_request(self, lot_id: str, hit: dict[str, Any] | None = None) -> scrapy.Request:
        return scrapy.Request(
            self.site_url(self.lot_path.format(lot_id=lot_id)),
            callback=self.parse_lot,
            errback=self.on_lot_error,
            meta={"gbv_hit": hit},
        )

    async def start(self):
        for auction_id in self.auction_ids:
            yield self.search_request(auction_id, 0)
        for lot_id in self.lot_ids:
            yield self.lot_request(lot_id)

    def item(self, fields: dict[str, Any], url: str) -> AuctionLotItem:
        fields = dict(fields)
        path = fields.pop("url_path", None)
        return AuctionLotItem.from_fields(
            source=self.source,
            house=self.house,
            auction_house="Sotheby's",
            price_basis="premium",
            url=(self.base_url + path) if isinstance(path, str) and path.startswith("/") else url,
            **fields,
        )

    def parse_search(
        self, response: Response, auction_id: str, page: int
    ) -> Iterator[AuctionLotItem | CrawlRejectItem | scrapy.Request]:
        self._inc("gbv/pages/api")
        data, reject = self.load_json(response, "search API")
        if reject is None and not (isinstance(data, dict) and isinstance(data.get("hits"), list)):
            reject = self.reject(response.url, "parse", "search answer has no 'hits' list", payload=response.text[:300])
        if reject is not None:
            self.incomplete.append(f"{response.url}: unreadable search page")
            yield reject
            return
        for i, hit in enumerate(data["hits"]):
            if not isinstance(hit, dict):
                yield self.reject(response.url, "parse", f"hit #{i} is not an object")
                continue
            if self.follow_lots and hit.get("objectID"):
                yield self.lot_request(str(hit["objectID"]), hit_fields(hit))
            else:
                yield self.item(hit_fields(hit), response.url)
        try:
            pages = int(data.get("nbPages") or 1)
        except (TypeError, ValueError):
            pages = 1
        if page + 1 < pages:
            if self.max_pages and page + 1 >= self.max_pages:
                self._inc("gbv/pages_capped", pages - page - 1)
                self.logger.warning("%s: %d more search page(s) not fetched (max_pages)", auction_id, pages - page - 1)
            else:
                yield self.search_request(auction_id, page + 1)

    def parse_lot(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem]:
        self._inc("gbv/pages/lot")
        hit = response.meta.get("gbv_hit") or {}
        data, reject = self.load_json(response, "lot API")
        lot = ((data or {}).get("data") or {}).get("lot") if isinstance(data, dict) else None
        if reject is not None or not isinstance(lot, dict):
            yield reject or self.reject(response.url, "parse", "lot answer has no data.lot", payload=response.text[:300])
            if hit:
                yield self.item(hit, response.url)  # the search hit still lands
            return
        fields = lot_api_fields(lot)
        merged = {k: (v if v is not None else hit.get(k)) for k, v in fields.items()}
        yield self.item(merged, response.url)

    def on_lot_error(self, failure: Failure):
        yield from self.on_page_error(failure)
        hit = failure.request.meta.get("gbv_hit")
        if hit:
            self._inc("gbv/sothebys/lot_api_missing")
            yield self.item(hit, failure.request.url)
