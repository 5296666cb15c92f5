"""K Auction (Seoul) lot API: one answer per page of a sale, ``{"kor": [...], "eng": [...]}``.

Both lists hold the same lots (same ``uid``) in Korean and English; the English one is read (artist names are
romanised there; titles and materials stay as the house wrote them). Each lot: ``auc_kind``/``auc_num`` (the
sale), ``lot_num``, ``artist_name``, ``title``, ``material``, ``size`` (``"114.5×28cm"``), ``make_date``,
``price_estimated_low``/``high``, ``price_hammer`` (KRW, hammer; 0 = none), ``currency``, ``auc_end_date``,
``finish_yn``, ``total_count``. Pages are followed until ``total_count`` lots have been read or a page is empty.

Arguments (``-a``): ``sales`` (comma-separated ``<auc_kind>-<auc_num>``, e.g. ``4-1``), ``api_path``
(template with ``{kind}``, ``{num}``, ``{page}``; default ``/api/Auction/{kind}/{num}?page={page}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.real_base import RealSpiderBase, strip_html

DEFAULT_API_PATH = "/api/Auction/{kind}/{num}?page={page}"


def _amount(value: Any) -> Any:
    return None if value in (None, "", 0, "0") else value


class KAuctionApiSpider(RealSpiderBase):
    name = "kauction_api"
    default_house = "kauction"
    default_base_url = "https://www.k-auction.com"

    def __init__(self, *args: Any, sales: str | None = None, api_path: str = DEFAULT_API_PATH, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sales = []
        for sale in self.split_list(sales):
            kind, sep, num = sale.partition("-")
            if not sep or not kind or not num:
                raise ValueError(f"spider {self.name}: a sale is '<auc_kind>-<auc_num>', got {sale!r}")
            self.sales.append((kind, num))
        if not self.sales:
            raise ValueError(f"spider {self.name}: the 'sales' argument is required")
        self.api_path = api_path

    def page_request(self, kind: str, num: str, page: int, seen: int = 0) -> scrapy.Request:
        return scrapy.Request(
            self.site_url(self.api_path.format(kind=kind, num=num, page=page)),
            callback=self.parse,
            errback=self.on_navigation_error,
            cb_kwargs={"kind": kind, "num": num, "page": page, "seen": seen},
        )

    async def start(self):
        for kind, num in self.sales:
            yield self.page_request(kind, num, 1)

    def parse(
        self, response: Response, kind: str, num: str, page: int, seen: int
    ) -> Iterator[AuctionLotItem | CrawlRejectItem | scrapy.Request]:
        self._inc("gbv/pages/api")
        data, reject = self.load_json(response, "K Auction API")
        lots = data.get("eng") if isinstance(data, dict) else None
        if reject is None and not isinstance(lots, list):
            reject = self.reject(response.url, "parse", "answer has no 'eng' lot list", payload=response.text[:300])
        if reject is not None:
            self.incomplete.append(f"{response.url}: unreadable API page")
            yield reject
            return
        total = 0
        for i, lot in enumerate(lots):
            if not isinstance(lot, dict):
                yield self.reject(response.url, "parse", f"lot #{i} is not an object")
                continue
            total = max(total, int(lot.get("total_count") or 0))
            yield self.lot_item(lot, response)
        seen += len(lots)
        if lots and seen < total:
            yield self.page_request(kind, num, page + 1, seen)

    def lot_item(self, lot: dict[str, Any], response: Response) -> AuctionLotItem:
        hammer = _amount(lot.get("price_hammer"))
        finished = lot.get("finish_yn") == "Y"
        status = "sold" if finished and hammer else ("unsold" if finished else None)
        return AuctionLotItem.from_fields(
            source=self.source,
            house=self.house,
            auction_house="K Auction",
            sale_id=f"{lot.get('auc_kind')}-{lot.get('auc_num')}",
            sale_title=lot.get("auc_title"),
            sale_date=lot.get("auc_end_date") or lot.get("auc_date") or lot.get("end_time"),
            sale_location="Hong Kong" if lot.get("hongkong_yn") == "Y" else "Seoul",
            sale_currency=lot.get("currency") or "KRW",
            lot_number=lot.get("lot_num"),
            artist_name=lot.get("artist_name"),
            title=lot.get("title"),
            medium=lot.get("material") or None,
            created_text=lot.get("make_date") or None,
            dimensions_text=lot.get("size") or None,
            description=strip_html(lot.get("desc")),
            edition=lot.get("display_edition") or lot.get("edition") or None,
            image_url=lot.get("img_file_url") or None,
            estimate_low=_amount(lot.get("price_estimated_low")),
            estimate_high=_amount(lot.get("price_estimated_high")),
            price=hammer,
            price_basis="hammer",
            status=status,
            url=response.url,
        )
