"""Sotheby's auction pages (Next.js): the sale and its lots are JSON in ``<script id="__NEXT_DATA__">``.

``props.pageProps`` holds ``auctionJson.data.auctionDetails`` (sale: id, name, location, currency, dates,
``sapAuctionSaleNumber``), ``lotsJson.data.auction.lots`` (lot number, title, estimates, ``sold``,
``premiums.finalPrice`` — the premium-inclusive price where results are published — creators, withdrawn state,
URL) and ``algoliaJson`` (the search index's hits for the same lots: ``creators``, ``price``; and ``nbPages``).
A lot is read from ``lotsJson`` and completed from the matching Algolia hit (same ``lotNr``); hits without a
``lotsJson`` lot are read on their own. Where Algolia says there are more pages (``nbPages``), ``?page=N`` is
followed.

Arguments (``-a``): ``auctions`` — comma-separated auction page paths (``/en/buy/auction/2021/<slug>``).

    scrapy crawl sothebys_auction -a auctions=/en/buy/auction/2021/contemporary-curated-5
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.real_base import RealSpiderBase, catalogue_lines, strip_html


def _creators(lot: dict[str, Any]) -> list[str]:
    names = []
    objects = ((lot.get("objectSet") or {}).get("objects")) or []
    for obj in objects:
        for c in ((obj or {}).get("object_") or obj or {}).get("creators") or []:
            name = (c.get("creator") or {}).get("displayName") or c.get("displayName")
            if name:
                names.append(name)
    return names


def sothebys_status(*, withdrawn: bool, sold: Any, closed: bool) -> str | None:
    if withdrawn:
        return "withdrawn"
    if sold is True:
        return "sold"
    if sold is False and closed:
        return "unsold"
    return None


class SothebysAuctionSpider(RealSpiderBase):
    name = "sothebys_auction"
    default_house = "sothebys"
    default_base_url = "https://www.sothebys.com"

    def __init__(self, *args: Any, auctions: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.auctions = self.split_list(auctions)
        if not self.auctions:
            raise ValueError(f"spider {self.name}: the 'auctions' argument (auction page paths) is required")

    async def start(self):
        for path in self.auctions:
            yield scrapy.Request(self.site_url(path), callback=self.parse_auction, errback=self.on_page_error)

    def parse_auction(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem | scrapy.Request]:
        self._inc("gbv/pages/sale")
        raw = response.css("script#__NEXT_DATA__::text").get()
        if raw is None:
            yield self.reject(response.url, "parse", "no __NEXT_DATA__ script on the page", payload=response.text[:300])
            return
        try:
            data = json.loads(raw)
            props = data["props"]["pageProps"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            yield self.reject(response.url, "parse", f"broken embedded JSON (__NEXT_DATA__): {exc!r}", payload=raw[:300])
            return
        auction = (((props.get("auctionJson") or {}).get("data") or {}).get("auctionDetails")) or {}
        lots = ((((props.get("lotsJson") or {}).get("data") or {}).get("auction") or {}).get("lots")) or []
        algolia = props.get("algoliaJson") or {}
        hits = {h.get("lotNr"): h for h in algolia.get("hits") or [] if isinstance(h, dict)}
        if not auction or not (lots or hits):
            yield self.reject(response.url, "parse", "__NEXT_DATA__ has no auctionDetails or no lots", payload=raw[:300])
            return
        dates = auction.get("auctionDates") or {}
        sale = {
            "sale_id": auction.get("auctionId"),
            "sale_title": " ".join((auction.get("name") or "").split()) or None,
            "sale_date": dates.get("end_") or dates.get("close") or dates.get("open_"),
            "sale_location": auction.get("location") or (auction.get("locationV3") or {}).get("saleLocation"),
            "sale_currency": auction.get("currency"),
            "closed": auction.get("state") == "Closed",
        }
        seen = set()
        for i, lot in enumerate(lots):
            if not isinstance(lot, dict):
                yield self.reject(response.url, "parse", f"lot #{i} in __NEXT_DATA__ is not an object")
                continue
            seen.add(lot.get("lotNr"))
            yield self.lot_item(lot, hits.get(lot.get("lotNr")) or {}, sale, response)
        for nr, hit in hits.items():
            if nr not in seen:
                yield self.lot_item({}, hit, sale, response)
        try:
            page, pages = int(algolia.get("page") or 0), int(algolia.get("nbPages") or 1)
        except (TypeError, ValueError):
            page, pages = 0, 1
        if page + 1 < pages:
            next_url = self.site_url(urlsplit(response.url).path) + f"?page={page + 2}"  # the site counts from 1
            yield scrapy.Request(next_url, callback=self.parse_auction, errback=self.on_navigation_error)

    def lot_item(self, lot: dict, hit: dict, sale: dict, response: Response) -> AuctionLotItem:
        estimates = lot.get("estimates") or {}
        final = ((lot.get("premiums") or {}).get("finalPrice")) if lot else None
        price = final.get("amount") if isinstance(final, dict) else final
        if price is None:
            price = hit.get("price")
        creators = _creators(lot) or list(hit.get("creators") or [])
        note = strip_html(lot.get("catalogueNote"))
        url = lot.get("url") or hit.get("slug")
        withdrawn = (lot.get("withdrawnState") not in (None, "NotAffected")) or bool(hit.get("withdrawn"))
        parsed = catalogue_lines(note.splitlines()) if note else {}
        return AuctionLotItem.from_fields(
            source=self.source,
            house=self.house,
            auction_house="Sotheby's",
            sale_id=sale["sale_id"],
            sale_title=sale["sale_title"] or hit.get("auctionName"),
            sale_date=sale["sale_date"] or hit.get("auctionDate"),
            sale_location=sale["sale_location"] or hit.get("auctionLocation"),
            sale_currency=sale["sale_currency"] or hit.get("currency"),
            lot_number=lot.get("lotNr", hit.get("lotNr")),
            artist_name=creators[0] if creators else None,
            title=" ".join((lot.get("title") or hit.get("title") or "").split()) or None,
            medium=parsed.get("medium"),
            dimensions_text=parsed.get("dimensions_text"),
            description=note,
            estimate_low=estimates.get("low", hit.get("lowEstimate")),
            estimate_high=estimates.get("high", hit.get("highEstimate")),
            price=price,
            price_basis="premium",
            status=sothebys_status(withdrawn=withdrawn, sold=lot.get("sold"), closed=sale["closed"]),
            url=(self.base_url + url) if isinstance(url, str) and url.startswith("/") else (url or response.url),
        )
