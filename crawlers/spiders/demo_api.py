"""Spider for the demo site's api houses (delacroix, kestrel).

Pages through ``/api/<house>/lots?page=N&page_size=100`` by following each answer's ``next`` URL and maps the
house's field names (``lotNumber``, ``artistName``, ``artist_dates``, ``estimateLow``, ``priceRealised`` ...)
to the raw lot fields. Money stays a string ("€15,625", premium-inclusive: ``price_basis="premium"``).

    scrapy crawl demo_api -a house=kestrel -a base_url=http://127.0.0.1:8000 -a run_date=2026-10-01
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.base import DemoSpiderBase


def lot_item_from_api(result: dict[str, Any], *, house: str, source: str, url: str) -> AuctionLotItem:
    """One element of an API page's ``results`` -> raw item."""
    sale = result.get("sale") or {}
    return AuctionLotItem.from_fields(
        source=source,
        house=house,
        auction_house=result.get("auctionHouse"),
        sale_id=sale.get("saleId"),
        sale_title=sale.get("title"),
        sale_date=sale.get("startsAt"),
        sale_location=sale.get("location"),
        sale_currency=sale.get("currency"),
        lot_number=result.get("lotNumber"),
        artist_name=result.get("artistName"),
        artist_birth_year=None,  # the API gives only artist_dates; staging parses it
        artist_death_year=None,
        artist_nationality=None,
        artist_dates=result.get("artist_dates"),
        title=result.get("title"),
        medium=result.get("medium"),
        created_text=result.get("dateText"),
        dimensions_text=result.get("dimensions"),
        signature=result.get("signature"),
        description=result.get("description"),
        edition=result.get("edition"),
        image_url=result.get("imageUrl"),
        estimate_low=result.get("estimateLow"),
        estimate_high=result.get("estimateHigh"),
        price=result.get("priceRealised"),
        price_basis="premium",
        status=result.get("status"),
        url=url,
    )


class DemoApiSpider(DemoSpiderBase):
    name = "demo_api"

    def __init__(self, *args: Any, page_size: int | str = 100, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.page_size = int(page_size)

    async def start(self):
        yield scrapy.Request(
            f"{self.base_url}/api/{self.house}/lots?page=1&page_size={self.page_size}",
            callback=self.parse,
            errback=self.on_navigation_error,
            dont_filter=True,
        )

    def parse(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem | scrapy.Request]:
        self._inc("gbv/pages/api")
        try:
            data = json.loads(response.text)
        except json.JSONDecodeError as exc:
            self.incomplete.append(f"{response.url}: broken JSON")
            yield self.reject(response.url, "parse", f"broken API JSON: {exc}", payload=response.text[:300])
            return
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            self.incomplete.append(f"{response.url}: no results list")
            yield self.reject(
                response.url, "parse", "API answer has no 'results' list", payload=response.text[:300]
            )
            return
        for i, result in enumerate(data["results"]):
            if not isinstance(result, dict):
                yield self.reject(
                    response.url, "parse", f"result #{i} is not an object", payload=repr(result)[:300]
                )
                continue
            yield lot_item_from_api(result, house=self.house, source=self.source, url=response.url)
        if data.get("next"):
            yield response.follow(data["next"], callback=self.parse, errback=self.on_navigation_error)
