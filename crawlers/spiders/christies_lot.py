"""Christie's single lot pages (e.g. ``onlineonly.christies.com/s/<sale-slug>/<lot-slug>/<object id>``).

The page embeds the same ``window.chrComponents`` data as a sale page (see :mod:`crawlers.spiders.christies_sale`):
its ``lots`` component holds the page's lot (matched by the object id that ends the URL, or the
``<chr-lot-header lot_id=...>``); other components list "more from this sale" lots, which are not this page's lot
and are not yielded. The sale comes from the ``<chr-lot-header>`` attributes (``sale_number``, ``sale_title``),
the analytics call (``SetAnalyticsDL(..., {id: '29318', number: '20300', location: 'Milano'}, ...)``) and the
"more from" link (``SaleID=29318``). Prices realised include the buyer's premium (``price_basis="premium"``).

Arguments (``-a``): ``lots`` — comma-separated lot page paths or URLs; ``follow_next`` — ``true`` to follow
each page's ``next_lot_url`` through the sale (default ``false``).

    scrapy crawl christies_lot -a base_url=https://onlineonly.christies.com \
        -a lots=/s/reborn-modern-contemporary/autori-vari-34/117335
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.christies_sale import christies_lot_item, extract_components, lots_of
from crawlers.spiders.real_base import RealSpiderBase

OBJECT_ID_RE = re.compile(r"/(\d+)/?(?:\?|$)")
ANALYTICS_SALE_RE = re.compile(
    r"SetAnalyticsDL\([^{]*\{\s*id:\s*'(?P<id>[^']*)',\s*number:\s*'(?P<number>[^']*)',\s*location:\s*'(?P<loc>[^']*)'"
)
SALE_ID_LINK_RE = re.compile(r"SaleID=(\d+)", re.IGNORECASE)


class ChristiesLotSpider(RealSpiderBase):
    name = "christies_lot"
    default_house = "christies"
    default_base_url = "https://onlineonly.christies.com"

    def __init__(self, *args: Any, lots: str | None = None, follow_next: str | bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lots = self.split_list(lots)
        if not self.lots:
            raise ValueError(f"spider {self.name}: the 'lots' argument (lot page paths) is required")
        self.follow_next = str(follow_next).strip().lower() in ("1", "true", "yes")

    async def start(self):
        for lot in self.lots:
            yield scrapy.Request(self.site_url(lot), callback=self.parse_lot, errback=self.on_page_error)

    def parse_lot(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem | scrapy.Request]:
        self._inc("gbv/pages/lot")
        components, problems = extract_components(response.text)
        lots = lots_of(components)
        if lots is None:
            reason = "broken embedded JSON: " + "; ".join(problems) if problems else "no window.chrComponents lots data"
            yield self.reject(response.url, "parse", reason, payload=response.text[:300])
            return
        header = response.css("chr-lot-header[sale_number]") or response.css("chr-lot-header")
        lot_id = header.attrib.get("lot_id") if header else None
        if not lot_id:
            m = OBJECT_ID_RE.search(response.url)
            lot_id = m.group(1) if m else None
        mine = [x for x in lots if isinstance(x, dict) and str(x.get("object_id")) == str(lot_id)]
        if not mine:
            yield self.reject(response.url, "parse", f"the page's lot (object id {lot_id}) is not in its lot data")
            return
        analytics = ANALYTICS_SALE_RE.search(response.text)
        link_id = SALE_ID_LINK_RE.search(response.text)
        attrs = header.attrib if header else {}
        sale = {
            "sale_id": (analytics.group("id") if analytics else None)
            or (link_id.group(1) if link_id else None)
            or attrs.get("sale_number"),
            "sale_title": attrs.get("sale_title"),
            "sale_date": None,  # the lot's own end date (ISO) is used; the header's "22 Apr - 6 May 2021" is a range
            "sale_location": analytics.group("loc") if analytics else None,
            "sale_currency": None,
        }
        yield christies_lot_item(
            mine[0], sale, house=self.house, source=self.source, page_url=response.url, base_url=self.base_url
        )
        next_url = attrs.get("next_lot_url")
        if self.follow_next and next_url:
            yield response.follow(next_url, callback=self.parse_lot, errback=self.on_page_error)
