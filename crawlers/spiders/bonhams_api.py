"""Bonhams JSON APIs: the sale list (``b1.json``) and each sale's lots (``bonhams/<sale>.json``).

* Sale list: ``model_results.sale.items[*]`` with ``iSaleNo``, ``status``, ``name_text``, ``location``;
  ``main_index_page``/``main_index_page_length``/``total_count`` for paging. The list is newest first, so a
  nightly crawl reads ``list_pages`` pages of it (default 1).
* A sale's lots: ``{"auction_info": {...}, "lot_info": [...]}``. Each lot has ``iSaleLotNo`` (+ ``sSaleLotNoA``
  suffix), ``sDesc``/``sStyledDesc`` (artist, dates, title as HTML lines), ``sCatalogDesc``,
  ``dEstimateLow``/``dEstimateHigh``, ``dHammerPrice`` (hammer) and ``dHammerPremium`` (premium-inclusive),
  ``sLotStatus`` (``SOLD``, ``BI`` bought in, ``WD`` withdrawn), ``sCurrencySymbol`` (``US$``, ``HK$``,
  ``&#163;``) and the sale (``iSaleNo.sSaleName``, ``sVenue``, ``daEndDate``). Sales with no lots (an empty
  ``lot_info``) are counted under ``gbv/bonhams/empty_sales``.

The hammer price is landed (``price_basis="hammer"``); ``0`` amounts (no estimate, not sold) land as missing.

Arguments (``-a``): ``sales`` (comma-separated sale numbers; read directly), ``list_pages`` (sale list pages to
read; 0 = none, default 1 when no ``sales`` are given), ``sale_list_path`` (template with ``{page}``, default
``/api/v1/sales/?page={page}``), ``lots_path`` (template with ``{sale}``, default ``/api/v1/lots/{sale}/``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.real_base import RealSpiderBase, split_artist_dates, strip_html

DEFAULT_SALE_LIST_PATH = "/api/v1/sales/?page={page}"
DEFAULT_LOTS_PATH = "/api/v1/lots/{sale}/"
CURRENCY_SYMBOLS = {
    "US$": "USD",
    "$": "USD",
    "HK$": "HKD",
    "£": "GBP",
    "€": "EUR",
    "CHF": "CHF",
    "A$": "AUD",
    "AU$": "AUD",
    "C$": "CAD",
    "CA$": "CAD",
    "¥": "JPY",
    "S$": "SGD",
    "NT$": "TWD",
}
STYLED_LINE_RE = re.compile(r"<div class=\"(?P<cls>firstLine|secondLine|otherLine)\">(?P<text>.*?)</div>", re.S)
DATES_RE = re.compile(r"^\(?[^()]*\d{4}[^()]*\)?$")


def currency_code(symbol: Any) -> str | None:
    """``"US$"`` / ``"&#163;"`` / ``"GBP"`` -> ISO code (None if unknown or empty)."""
    if not isinstance(symbol, str) or not symbol.strip():
        return None
    s = html.unescape(symbol).strip()
    if re.fullmatch(r"[A-Z]{3}", s):
        return s
    return CURRENCY_SYMBOLS.get(s)


def _amount(value: Any) -> Any:
    """Bonhams writes 0 for "none": keep real amounts as found, 0/empty -> None."""
    if value in (None, "", 0, 0.0, "0"):
        return None
    return value


def artist_and_title(lot: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(artist name, artist dates, title) from ``sStyledDesc`` (first line = artist when the second line is
    their dates), else from ``artists``; the title is the first ``otherLine`` (or ``sDesc``)."""
    lines = {}
    others = []
    for m in STYLED_LINE_RE.finditer(lot.get("sStyledDesc") or ""):
        text = strip_html(m.group("text"))
        if not text:
            continue
        if m.group("cls") == "otherLine":
            others.append(text)
        else:
            lines.setdefault(m.group("cls"), text)
    artists = [a for a in lot.get("artists") or [] if isinstance(a, dict)]
    name = dates = None
    if artists:
        name = artists[0].get("sName") or artists[0].get("name") or artists[0].get("sDisplayName")
    first, second = lines.get("firstLine"), lines.get("secondLine")
    if not name and first and second and DATES_RE.match(second):
        name, dates = first, (second if second.startswith("(") else f"({second})")
    elif not name and first:
        name, dates = split_artist_dates(first)
        if dates is None:  # a first line without dates is a title ("10 pieces of Abuja Pottery")
            name = None
            others.insert(0, first)
    title = others[0] if others else (strip_html(lot.get("sDesc")) if not name else None)
    return name, dates, title


class BonhamsApiSpider(RealSpiderBase):
    name = "bonhams_api"
    default_house = "bonhams"
    default_base_url = "https://www.bonhams.com"

    def __init__(
        self,
        *args: Any,
        sales: str | None = None,
        list_pages: int | str | None = None,
        sale_list_path: str = DEFAULT_SALE_LIST_PATH,
        lots_path: str = DEFAULT_LOTS_PATH,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.sales = self.split_list(sales)
        self.list_pages = int(list_pages) if list_pages not in (None, "") else (0 if self.sales else 1)
        self.sale_list_path = sale_list_path
        self.lots_path = lots_path

    async def start(self):
        if self.list_pages > 0:
            yield self.list_request(1)
        for sale in self.sales:
            yield self.lots_request(sale)

    def list_request(self, page: int) -> scrapy.Request:
        return scrapy.Request(
            self.site_url(self.sale_list_path.format(page=page)),
            callback=self.parse_sale_list,
            errback=self.on_navigation_error,
            cb_kwargs={"page": page},
            dont_filter=page == 1,
        )

    def lots_request(self, sale: Any) -> scrapy.Request:
        return scrapy.Request(
            self.site_url(self.lots_path.format(sale=sale)), callback=self.parse_lots, errback=self.on_page_error
        )

    def parse_sale_list(self, response: Response, page: int) -> Iterator[scrapy.Request | CrawlRejectItem]:
        self._inc("gbv/pages/index")
        data, reject = self.load_json(response, "sale list")
        items = (((data or {}).get("model_results") or {}).get("sale") or {}).get("items") if isinstance(data, dict) else None
        if reject is not None or not isinstance(items, list):
            self.incomplete.append(f"{response.url}: unreadable sale list")
            yield reject or self.reject(response.url, "parse", "sale list without model_results.sale.items")
            return
        for sale in items:
            if isinstance(sale, dict) and sale.get("iSaleNo"):
                yield self.lots_request(sale["iSaleNo"])
        sale_block = data["model_results"]["sale"]
        length = int(data.get("main_index_page_length") or len(items) or 1)
        total = int(sale_block.get("count") or sale_block.get("total_count") or 0)
        if page < self.list_pages and page * length < total:
            yield self.list_request(page + 1)

    def parse_lots(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem]:
        self._inc("gbv/pages/sale")
        data, reject = self.load_json(response, "lot API")
        if reject is None and not (isinstance(data, dict) and isinstance(data.get("lot_info"), list)):
            reject = self.reject(response.url, "parse", "lot answer has no 'lot_info' list", payload=response.text[:300])
        if reject is not None:
            yield reject
            return
        info = data.get("auction_info") or {}
        if not data["lot_info"]:
            self._inc("gbv/bonhams/empty_sales")
            self.logger.info("%s: sale %s has no lots", response.url, info.get("iSaleNo"))
            return
        for i, lot in enumerate(data["lot_info"]):
            if not isinstance(lot, dict):
                yield self.reject(response.url, "parse", f"lot #{i} is not an object")
                continue
            yield self.lot_item(lot, info, response)

    def lot_item(self, lot: dict[str, Any], info: dict[str, Any], response: Response) -> AuctionLotItem:
        sale = lot.get("iSaleNo") if isinstance(lot.get("iSaleNo"), dict) else {}
        artist, dates, title = artist_and_title(lot)
        number = lot.get("iSaleLotNo")
        suffix = (lot.get("sSaleLotNoA") or "").strip()
        images = [im for im in lot.get("images") or [] if isinstance(im, dict)]
        image = next((im for im in images if im.get("lPrimary")), images[0] if images else {})
        sale_no = sale.get("iSaleNo") or info.get("iSaleNo")
        return AuctionLotItem.from_fields(
            source=self.source,
            house=self.house,
            auction_house="Bonhams",
            sale_id=sale_no,
            sale_title=sale.get("sSaleName") or info.get("name_text"),
            sale_date=sale.get("daEndDate") or info.get("dtEndUTC") or sale.get("daStartDate"),
            sale_location=sale.get("sVenue") or info.get("location"),
            sale_currency=currency_code(lot.get("sCurrencySymbol")),
            lot_number=f"{number}{suffix}" if suffix else number,
            artist_name=artist,
            artist_dates=dates,
            title=title,
            description=strip_html(lot.get("sCatalogDesc")) or strip_html(lot.get("sDesc")),
            image_url=image.get("image_url"),
            estimate_low=_amount(lot.get("dEstimateLow")),
            estimate_high=_amount(lot.get("dEstimateHigh")),
            price=_amount(lot.get("dHammerPrice")),
            price_basis="hammer",
            status=lot.get("sLotStatus"),
            url=f"{self.base_url}/auction/{sale_no}/lot/{lot.get('iSaleLotNo')}{suffix}/" if sale_no else response.url,
        )
