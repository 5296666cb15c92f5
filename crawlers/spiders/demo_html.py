"""Spider for the demo site's html houses (harrington, lotus).

Follows the paginated sale index ``/<house>/sales/?page=N`` (``a[rel=next]``), opens every sale linked from it
(``a.sale-link``; robots.txt and the site boundary decide what is actually fetched), and reads the lots from the
JSON the sale page embeds in ``<script type="application/json" id="lot-data">``. Values are kept as found.

    scrapy crawl demo_html -a house=harrington -a base_url=http://127.0.0.1:8000 -a run_date=2026-10-01
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.base import DemoSpiderBase


def lot_item_from_html(
    lot: dict[str, Any], data: dict[str, Any], *, house: str, source: str, url: str
) -> AuctionLotItem:
    """One lot of a sale page's embedded JSON (``data`` = the whole ``lot-data`` object) -> raw item."""
    sale = data.get("sale") or {}
    house_info = data.get("house") or {}
    return AuctionLotItem.from_fields(
        source=source,
        house=house,
        auction_house=house_info.get("name"),
        sale_id=sale.get("id"),
        sale_title=sale.get("title"),
        sale_date=sale.get("date"),
        sale_location=sale.get("location"),
        sale_currency=sale.get("currency"),
        lot_number=lot.get("lot_number"),
        artist_name=lot.get("artist_name"),
        artist_birth_year=lot.get("artist_birth_year"),
        artist_death_year=lot.get("artist_death_year"),
        artist_nationality=lot.get("artist_nationality"),
        artist_dates=lot.get("artist_dates"),
        title=lot.get("title"),
        medium=lot.get("medium"),
        created_text=lot.get("created_text"),
        dimensions_text=lot.get("dimensions_text"),
        signature=lot.get("signature"),
        description=lot.get("description"),
        edition=lot.get("edition"),
        image_url=lot.get("image_url"),
        estimate_low=lot.get("estimate_low"),
        estimate_high=lot.get("estimate_high"),
        price=lot.get("price"),
        price_basis=lot.get("price_basis") or "hammer",
        status=lot.get("status"),
        url=url,
    )


class DemoHtmlSpider(DemoSpiderBase):
    name = "demo_html"

    async def start(self):
        yield scrapy.Request(
            f"{self.base_url}/{self.house}/sales/?page=1",
            callback=self.parse_index,
            errback=self.on_navigation_error,
            dont_filter=True,
        )

    def parse_index(self, response: Response) -> Iterator[scrapy.Request]:
        self._inc("gbv/pages/index")
        for href in response.css("a.sale-link::attr(href)").getall():
            yield response.follow(href, callback=self.parse_sale, errback=self.on_page_error)
        next_href = response.css('a[rel="next"]::attr(href)').get()
        if next_href:
            yield response.follow(next_href, callback=self.parse_index, errback=self.on_navigation_error)

    def parse_sale(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem]:
        self._inc("gbv/pages/sale")
        raw = response.css("script#lot-data::text").get()
        if raw is None:
            yield self.reject(response.url, "parse", "no embedded lot data (script#lot-data) on the page")
            return
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield self.reject(
                response.url, "parse", f"broken embedded JSON (script#lot-data): {exc}", payload=raw[:300]
            )
            return
        if not isinstance(data, dict) or not isinstance(data.get("lots"), list):
            yield self.reject(response.url, "parse", "embedded JSON has no 'lots' list", payload=raw[:300])
            return
        shown = len(response.css("article.lot"))
        if shown != len(data["lots"]):
            self._inc("gbv/markup_json_mismatch")
            self.logger.warning("%s shows %d lots but embeds %d", response.url, shown, len(data["lots"]))
        for i, lot in enumerate(data["lots"]):
            if not isinstance(lot, dict):
                yield self.reject(
                    response.url,
                    "parse",
                    f"lot #{i} in embedded JSON is not an object",
                    payload=repr(lot)[:300],
                )
                continue
            yield lot_item_from_html(lot, data, house=self.house, source=self.source, url=response.url)
