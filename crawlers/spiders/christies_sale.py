"""Christie's sale pages: the lots are JSON inside a page script, ``window.chrComponents``.

Two embeddings occur on the real site, and both are read:

* one assignment of every component: ``window.chrComponents = {"header": ..., "lots": ..., "auction": ...};``
  (online sales, e.g. ``Latin-American-Art-Online-28907.aspx``);
* one script per component: ``window.chrComponents.lots = {...};`` — where some components are JavaScript
  object literals rather than JSON (``window.chrComponents.auction = { data: {...}, labels: {...} };``), whose
  ``data``/``labels`` values are still JSON and are read one by one (live sales, e.g.
  ``The-BJ-Eastwood-Collection-29444.aspx``).

The ``lots`` component carries each lot's estimate and price realised both as numbers (``estimate_low``,
``price_realised``) and as text (``estimate_txt`` ``"USD 20,000 - USD 25,000"``, ``price_realised_txt``
``"USD 35,000"``); the text is kept (it names the currency). Christie's prices realised include the buyer's
premium (``price_basis="premium"``); estimates are hammer-basis. The ``auction`` component gives the sale id,
number, title, location and dates.

Arguments (``-a``): ``sales`` — comma-separated sale page paths or URLs (a full URL is moved onto ``base_url``);
``sale_list`` — path on the site of a CSV list of sale URLs (a ``url`` column, as in a saved ``cr.txt``);
``sale_ids`` — only follow listed sales whose URL ends in one of these ids (``...-28907.aspx``).
A page that shows only the first of several lot pages (``total_pages`` > 1; the rest come from the site's lot
search API) is counted under ``gbv/christies/pages_not_followed`` and logged: those lots are not crawled.

    scrapy crawl christies_sale -a sales=/Latin-American-Art-Online-28907.aspx?lid=1 -a run_date=2026-10-01
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.spiders.real_base import RealSpiderBase, catalogue_lines, split_artist_dates, strip_html

COMPONENTS_RE = re.compile(r"window\.chrComponents(?:\.(?P<name>[\w$-]+))?\s*=\s*(?=\{)")
JS_KEY_RE = re.compile(r"(?:^|[{,\s])(?P<key>data|labels)\s*:\s*(?=[\[{])")
CURRENCY_RE = re.compile(r"\b([A-Z]{3})\b")
SALE_ID_IN_URL_RE = re.compile(r"-(\d+)\.aspx", re.IGNORECASE)
_DECODER = json.JSONDecoder()


class EmbeddedJsonError(ValueError):
    """The page's ``window.chrComponents`` data could not be read."""


def _js_literal_values(text: str, start: int) -> dict[str, Any]:
    """``{ data: {...json...}, labels: {...json...} }`` (a JS object literal with JSON values) -> dict."""
    end = text.find("</script>", start)
    chunk = text[start : end if end != -1 else len(text)]
    out: dict[str, Any] = {}
    for m in JS_KEY_RE.finditer(chunk):
        if m.group("key") in out:
            continue
        try:
            out[m.group("key")], _ = _DECODER.raw_decode(chunk, m.end())
        except json.JSONDecodeError:
            continue
    return out


def extract_components(text: str) -> tuple[dict[str, Any], list[str]]:
    """Every ``window.chrComponents`` component on a page -> ({name: component}, [problems]).

    Problems name the components that are there but could not be read (broken JSON)."""
    components: dict[str, Any] = {}
    problems: list[str] = []
    for m in COMPONENTS_RE.finditer(text):
        name = m.group("name")
        try:
            obj, _ = _DECODER.raw_decode(text, m.end())
        except json.JSONDecodeError as exc:
            literal = _js_literal_values(text, m.end()) if name else {}
            if literal:
                components[name] = literal
            else:
                problems.append(f"window.chrComponents{'.' + name if name else ''}: {exc}")
            continue
        if name:
            components[name] = obj
        elif isinstance(obj, dict):
            components.update(obj)
        else:
            problems.append("window.chrComponents is not an object")
    return components, problems


def lots_of(components: dict[str, Any], key: str = "lots") -> list[Any] | None:
    comp = components.get(key)
    data = comp.get("data") if isinstance(comp, dict) else None
    lots = data.get("lots") if isinstance(data, dict) else None
    return lots if isinstance(lots, list) else None


def currency_of(*texts: Any) -> str | None:
    for t in texts:
        if isinstance(t, str):
            m = CURRENCY_RE.search(t)
            if m:
                return m.group(1)
    return None


def split_estimate_txt(text: Any) -> tuple[str | None, str | None]:
    """``"USD 20,000 - USD 25,000"`` -> (``"USD 20,000"``, ``"USD 25,000"``); anything else -> (None, None)."""
    if not isinstance(text, str):
        return None, None
    parts = [p.strip() for p in re.split(r"\s[-–]\s", text) if p.strip()]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, None)


def christies_lot_item(
    lot: dict[str, Any], sale: dict[str, Any], *, house: str, source: str, page_url: str, base_url: str
) -> AuctionLotItem:
    """One element of a ``lots`` component -> raw item. ``sale``: ``sale_id, sale_title, sale_date,
    sale_location, sale_currency`` as found on the page (any may be None)."""
    artist, dates = split_artist_dates(lot.get("title_primary_txt"))
    description = strip_html(lot.get("description_txt"))
    parsed = catalogue_lines(description.splitlines()[1:] if description else [])
    low_txt, high_txt = split_estimate_txt(lot.get("estimate_txt"))
    price = lot.get("price_realised_txt") or lot.get("price_realised") or None
    image = lot.get("image") if isinstance(lot.get("image"), dict) else {}
    url = lot.get("url") or page_url
    if isinstance(url, str) and url.startswith("/"):
        url = base_url + url
    if lot.get("lot_withdrawn"):
        status = "withdrawn"
    elif price:
        status = "sold"
    elif sale.get("is_over"):
        status = "unsold"
    else:
        status = None
    return AuctionLotItem.from_fields(
        source=source,
        house=house,
        auction_house="Christie's",
        sale_id=sale.get("sale_id"),
        sale_title=sale.get("sale_title"),
        sale_date=sale.get("sale_date") or lot.get("end_date") or lot.get("start_date"),
        sale_location=sale.get("sale_location"),
        sale_currency=sale.get("sale_currency")
        or currency_of(lot.get("estimate_txt"), lot.get("price_realised_txt")),
        lot_number=lot.get("lot_id_txt"),
        artist_name=artist,
        artist_dates=dates,
        title=(lot.get("title_secondary_txt") or None),
        medium=parsed["medium"],
        created_text=parsed["created_text"],
        dimensions_text=parsed["dimensions_text"],
        signature=parsed["signature"],
        description=description,
        image_url=image.get("image_src") or image.get("image_url"),
        estimate_low=low_txt or lot.get("estimate_low"),
        estimate_high=high_txt or lot.get("estimate_high"),
        price=price,
        price_basis="premium",
        status=status,
        url=url,
    )


class ChristiesSaleSpider(RealSpiderBase):
    name = "christies_sale"
    default_house = "christies"
    default_base_url = "https://www.christies.com"

    def __init__(
        self,
        *args: Any,
        sales: str | None = None,
        sale_list: str | None = None,
        sale_ids: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.sales = self.split_list(sales)
        self.sale_list = sale_list
        self.sale_ids = set(self.split_list(sale_ids))
        if not self.sales and not self.sale_list:
            raise ValueError(f"spider {self.name}: give 'sales' (page paths) and/or 'sale_list' (a list's path)")

    async def start(self):
        if self.sale_list:
            yield scrapy.Request(
                self.site_url(self.sale_list),
                callback=self.parse_sale_list,
                errback=self.on_navigation_error,
                dont_filter=True,
            )
        for sale in self.sales:
            yield scrapy.Request(self.site_url(sale), callback=self.parse_sale, errback=self.on_page_error)

    def sale_requests(self, urls: list[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            m = SALE_ID_IN_URL_RE.search(url)
            if self.sale_ids and not (m and m.group(1) in self.sale_ids):
                continue
            yield scrapy.Request(self.site_url(url), callback=self.parse_sale, errback=self.on_page_error)

    def parse_sale_list(self, response: Response) -> Iterator[scrapy.Request | CrawlRejectItem]:
        self._inc("gbv/pages/index")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        if not rows or "url" not in rows[0]:
            self.incomplete.append(f"{response.url}: sale list without a 'url' column")
            yield self.reject(response.url, "parse", "sale list has no 'url' column", payload=response.text[:300])
            return
        yield from self.sale_requests([r["url"] for r in rows if (r.get("url") or "").strip()])

    def sale_info(self, components: dict[str, Any], response: Response) -> dict[str, Any]:
        auction = components.get("auction")
        data = auction.get("data") if isinstance(auction, dict) else None
        data = data if isinstance(data, dict) else {}
        status = data.get("auction_status") if isinstance(data.get("auction_status"), dict) else {}
        labels = auction.get("labels") if isinstance(auction, dict) else None
        url_id = SALE_ID_IN_URL_RE.search(response.url)
        title = data.get("title") or response.css("title::text").get()
        return {
            "sale_id": data.get("sale_id") or (url_id.group(1) if url_id else None),
            "sale_title": " ".join(title.split()) if isinstance(title, str) else None,
            "sale_date": status.get("end_date") or status.get("start_date"),
            "sale_location": data.get("sale_location"),
            "sale_currency": (labels.get("currency_txt") or "").strip() or None if isinstance(labels, dict) else None,
            "is_over": status.get("is_auction_over"),
        }

    def parse_sale(self, response: Response) -> Iterator[AuctionLotItem | CrawlRejectItem]:
        self._inc("gbv/pages/sale")
        components, problems = extract_components(response.text)
        lots = lots_of(components)
        if lots is None:
            reason = (
                "broken embedded JSON: " + "; ".join(problems)
                if problems
                else "no window.chrComponents lots data on the page"
            )
            yield self.reject(response.url, "parse", reason, payload=response.text[:300])
            return
        sale = self.sale_info(components, response)
        data = components["lots"].get("data") or {}
        try:
            total_pages = int(data.get("total_pages") or 0)
        except (TypeError, ValueError):
            total_pages = 0
        if total_pages > 1:
            self._inc("gbv/christies/pages_not_followed", total_pages - 1)
            self.logger.warning(
                "%s shows lot page 1 of %d; the other pages (lot search API) are not crawled", response.url, total_pages
            )
        for i, lot in enumerate(lots):
            if not isinstance(lot, dict):
                yield self.reject(response.url, "parse", f"lot #{i} in embedded JSON is not an object")
                continue
            yield christies_lot_item(
                lot, sale, house=self.house, source=self.source, page_url=response.url, base_url=self.base_url
            )
