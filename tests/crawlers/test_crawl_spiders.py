"""Spider parsing, offline: responses are built from pages the DemoSite renders (no network, no reactor).

Each parsed item is checked field by field against the demo world's lot, with expectations written
independently of the site's own formatting helpers where that is practical.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache

import pandas as pd
import pytest
import scrapy

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.pipelines.validate import ValidateLotPipeline, validate_lot
from crawlers.spiders.demo_api import DemoApiSpider
from crawlers.spiders.demo_html import DemoHtmlSpider
from crawlers.testing import file_response
from gbv.contracts import RAW_LOT_FIELDS
from gbv.demo.site import DemoSite
from gbv.demo.world import generate_world
from gbv.normalize.premium import premium_inclusive

AS_OF = dt.date(2026, 10, 1)
HTML_STATUS = {"sold": "SOLD", "bought_in": "UNSOLD", "upcoming": "FORTHCOMING"}
API_STATUS = {"sold": "sold", "bought_in": "passed", "upcoming": "open"}
SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£", "HKD": "HK$"}


@cache
def _site() -> DemoSite:
    return DemoSite(generate_world(n_lots=300, seed=7), AS_OF, max_page_size=100)


def _response(path: str):
    return file_response(_site(), path)


def _cases() -> list[tuple[str, str]]:
    lots = _site().catalogue.lots
    return sorted({(h, s) for h, s in zip(lots["house"], lots["status"], strict=True)})


def _lot(house: str, status: str) -> dict:
    lots = _site().catalogue.lots
    return lots[(lots["house"] == house) & (lots["status"] == status)].iloc[0].to_dict()


@cache
def _parsed(house: str, status: str) -> tuple[dict, dict]:
    """(world lot, parsed item) for the first lot of this house with this status."""
    site = _site()
    rec = _lot(house, status)
    fmt = site.catalogue.houses[house].site_format
    if fmt == "html":
        spider = DemoHtmlSpider(house=house, base_url=site.url_root, run_date="2026-10-01")
        out = list(spider.parse_sale(_response(f"/{house}/sale/{rec['sale_id']}")))
    else:
        spider = DemoApiSpider(house=house, base_url=site.url_root, run_date="2026-10-01")
        out = []
        page = 1
        while True:
            resp = _response(f"/api/{house}/lots?page={page}&page_size=100")
            got = list(spider.parse(resp))
            out += [x for x in got if not isinstance(x, scrapy.Request)]
            if not any(isinstance(x, scrapy.Request) for x in got):
                break
            page += 1
    items = [x for x in out if isinstance(x, AuctionLotItem)]
    want_number = rec["lot_number"] if fmt == "html" else f"{rec['lot_number']:04d}"
    match = [it for it in items if it["sale_id"] == rec["sale_id"] and it["lot_number"] == want_number]
    assert len(match) == 1, f"lot {rec['lot_ref']} parsed {len(match)} times"
    return rec, dict(match[0])


def _na(x) -> bool:
    return x is None or (not isinstance(x, str) and pd.isna(x))


def _money(text: str, currency: str) -> float:
    assert text.startswith(SYMBOL[currency]), text
    return float(text[len(SYMBOL[currency]) :].replace(",", ""))


def _inches_to_cm(text: str) -> list[float]:
    out = []
    for part in text.removesuffix(" in.").split(" x "):
        whole, _, frac = part.partition(" ")
        if "/" in whole:
            whole, frac = "0", whole
        num, _, den = frac.partition("/")
        out.append((int(whole) + (int(num) / int(den) if frac else 0)) * 2.54)
    return out


def expected_value(rec: dict, field: str, fmt: str):
    """What the item's field should hold for world lot ``rec`` (a callable = a check to run)."""
    house = rec["house"]
    d: dt.date = rec["sale_date"]
    sold = rec["status"] == "sold"
    currency = rec["sale_currency"]
    year = int(rec["year_created"])
    html = fmt == "html"
    if field in (
        "house",
        "auction_house",
        "sale_id",
        "sale_title",
        "sale_location",
        "sale_currency",
        "title",
        "medium",
        "description",
        "image_url",
    ):
        return rec[field]
    if field == "edition":
        return None if _na(rec["edition"]) else rec["edition"]
    if field == "source":
        return f"demo_{house}"
    if field == "sale_date":
        return f"{d.day} {d.strftime('%B')} {d.year}" if html else f"{d.isoformat()}T19:00:00Z"
    if field == "lot_number":
        return int(rec["lot_number"]) if html else f"{int(rec['lot_number']):04d}"
    if field == "artist_name":
        return rec["artist_name"]
    if field == "artist_birth_year":
        return int(rec["artist_birth_year"]) if html else None
    if field == "artist_death_year":
        return (None if _na(rec["artist_death_year"]) else int(rec["artist_death_year"])) if html else None
    if field == "artist_nationality":
        return rec["artist_nationality"] if html else None
    if field == "artist_dates":
        if html:
            return None
        life = (
            f"b. {rec['artist_birth_year']}"
            if _na(rec["artist_death_year"])
            else f"{rec['artist_birth_year']}-{rec['artist_death_year']}"
        )
        return f"({rec['artist_nationality']}, {life})"
    if field == "created_text":
        return lambda v: v in (str(year), f"c. {year}", f"{year}-{(year + 2) % 100:02d}")
    if field == "dimensions_text":
        if html:
            dims = [rec["height_cm"], rec["width_cm"]] + ([] if _na(rec["depth_cm"]) else [rec["depth_cm"]])
            return " x ".join(f"{x:g}" for x in dims) + " cm"
        dims = [rec["height_cm"], rec["width_cm"]] + ([] if _na(rec["depth_cm"]) else [rec["depth_cm"]])
        return lambda v: (
            v.endswith(" in.")
            and len(_inches_to_cm(v)) == len(dims)
            and all(abs(a - b) <= 2.54 / 16 + 1e-9 for a, b in zip(_inches_to_cm(v), dims, strict=True))
        )
    if field == "signature":
        sig = rec["signature"]
        if html:
            return sig.replace("_", " ")
        return {
            "signed": "Signed lower right",
            "signed_and_dated": f"Signed and dated {year}",
            "monogrammed": "Monogrammed",
            "unsigned": "Unsigned",
        }[sig]
    if field in ("estimate_low", "estimate_high"):
        if html:
            return rec[field]
        return lambda v: _money(v, currency) == round(rec[field])
    if field == "price":
        if not sold:
            return None
        if html:
            return rec["hammer_price"]
        paid = premium_inclusive(rec["hammer_price"], house, d)
        return lambda v: abs(_money(v, currency) - paid) <= 0.5
    if field == "price_basis":
        return "hammer" if html else "premium"
    if field == "status":
        return (HTML_STATUS if html else API_STATUS)[rec["status"]]
    if field == "url":
        site = _site()
        return (
            site.sale_url(house, rec["sale_id"])
            if html
            else lambda v: re.fullmatch(
                re.escape(site.url_root) + rf"/api/{house}/lots\?page=\d+&page_size=100", v
            )
        )
    raise AssertionError(f"no expectation for field {field}")


@pytest.mark.parametrize("field", RAW_LOT_FIELDS)
@pytest.mark.parametrize(("house", "status"), _cases(), ids=lambda x: str(x))
def test_item_field(house, status, field):
    rec, item = _parsed(house, status)
    fmt = _site().catalogue.houses[house].site_format
    want = expected_value(rec, field, fmt)
    got = item[field]
    if callable(want):
        assert want(got), f"{rec['lot_ref']} {field} = {got!r}"
    else:
        assert got == want, f"{rec['lot_ref']} {field}"


def test_items_have_exactly_the_raw_lot_fields():
    assert tuple(AuctionLotItem.fields) == RAW_LOT_FIELDS or set(AuctionLotItem.fields) == set(RAW_LOT_FIELDS)
    assert set(AuctionLotItem.fields) == set(RAW_LOT_FIELDS)
    with pytest.raises(KeyError):
        AuctionLotItem.from_fields(not_a_field=1)


def test_html_sale_page_yields_every_lot_of_the_sale():
    site = _site()
    lots = site.catalogue.lots
    sale_id = lots[lots["house"] == "lotus"]["sale_id"].value_counts().index[0]
    want = sorted(lots[lots["sale_id"] == sale_id]["lot_number"].tolist())
    spider = DemoHtmlSpider(house="lotus", base_url=site.url_root, run_date="2026-10-01")
    items = list(spider.parse_sale(_response(f"/lotus/sale/{sale_id}")))
    assert all(isinstance(i, AuctionLotItem) for i in items)
    assert sorted(i["lot_number"] for i in items) == want
    assert len(want) > 1


def test_html_index_follows_sales_and_next_page_but_lists_private_and_partner_links_too():
    site = _site()
    spider = DemoHtmlSpider(house="harrington", base_url=site.url_root, run_date="2026-10-01")
    reqs = list(spider.parse_index(_response("/harrington/sales/?page=1")))
    urls = [r.url for r in reqs]
    sales = site.catalogue.sales_by_house["harrington"][: site.sales_per_page]
    for s in sales:
        assert site.sale_url("harrington", s.sale_id) in urls
    assert site.sale_index_url("harrington", 2) in urls
    # the page links to a /private/ sale and an off-site partner: robots.txt and allowed_domains stop them
    assert any("/private/" in u for u in urls)
    assert spider.allowed_domains == ["demo-auctions.test"]
    last = -(-len(site.catalogue.sales_by_house["harrington"]) // site.sales_per_page)
    reqs_last = list(spider.parse_index(_response(f"/harrington/sales/?page={last}")))
    assert not any("sales/?page=" in r.url for r in reqs_last)


def test_broken_embedded_json_becomes_a_reject_not_a_crash(world):
    lots = world.lots_as_of(AS_OF)
    sale_id = lots[lots["house"] == "harrington"]["sale_id"].iloc[0]
    site = DemoSite(world, AS_OF, broken_sales={sale_id})
    spider = DemoHtmlSpider(house="harrington", base_url=site.url_root, run_date="2026-10-01")
    out = list(spider.parse_sale(file_response(site, f"/harrington/sale/{sale_id}")))
    assert len(out) == 1 and isinstance(out[0], CrawlRejectItem)
    assert out[0]["url"] == site.sale_url("harrington", sale_id)
    assert out[0]["stage"] == "parse" and "broken embedded JSON" in out[0]["reason"]


def test_page_without_lot_data_is_a_reject(offline_site):
    spider = DemoHtmlSpider(house="harrington", base_url=offline_site.url_root, run_date="2026-10-01")
    resp = scrapy.http.HtmlResponse(
        url=offline_site.url_root + "/harrington/sale/x", body=b"<html></html>", encoding="utf-8"
    )
    (out,) = list(spider.parse_sale(resp))
    assert isinstance(out, CrawlRejectItem) and "no embedded lot data" in out["reason"]


def test_api_spider_follows_next_and_stops_at_the_end(world):
    site = DemoSite(world, AS_OF, max_page_size=20)
    spider = DemoApiSpider(house="kestrel", base_url=site.url_root, run_date="2026-10-01", page_size=100)
    n_lots = len(site.catalogue.lots_by_house["kestrel"])
    page, seen, url = 1, 0, site.api_url("kestrel", 1, 100)
    while url:
        path = url[len(site.url_root) :]
        out = list(spider.parse(file_response(site, path)))
        seen += sum(isinstance(x, AuctionLotItem) for x in out)
        nxt = [x for x in out if isinstance(x, scrapy.Request)]
        assert len(nxt) <= 1
        url = nxt[0].url if nxt else None
        page += 1
    assert seen == n_lots
    assert page - 1 == -(-n_lots // 20)


def test_api_broken_json_marks_crawl_incomplete(offline_site):
    spider = DemoApiSpider(house="kestrel", base_url=offline_site.url_root, run_date="2026-10-01")
    resp = scrapy.http.TextResponse(
        url=offline_site.url_root + "/api/kestrel/lots?page=1&page_size=100",
        body=b'{"count": 3, "results": [',
        encoding="utf-8",
    )
    (out,) = list(spider.parse(resp))
    assert isinstance(out, CrawlRejectItem) and "broken API JSON" in out["reason"]
    assert spider.incomplete


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sale_id": None}, "missing sale_id"),
        ({"lot_number": ""}, "missing lot_number"),
        ({"artist_name": None, "title": " "}, "missing both artist_name and title"),
        ({"lot_number": "a12"}, "lot_number is not a lot number"),
        ({"source": None}, "missing source"),
    ],
)
def test_validate_pipeline_turns_invalid_items_into_rejects(change, problem):
    _, good = _parsed("kestrel", "sold")
    assert validate_lot(AuctionLotItem(good)) == []
    assert ValidateLotPipeline().process_item(AuctionLotItem(good)) == AuctionLotItem(good)
    bad = AuctionLotItem({**good, **change})
    out = ValidateLotPipeline().process_item(bad)
    assert isinstance(out, CrawlRejectItem)
    assert problem in out["reason"]
    assert out["stage"] == "validate" and out["payload"]["url"] == good["url"]


def test_validate_pipeline_passes_rejects_through():
    rej = CrawlRejectItem(source="demo_x", url="u", stage="parse", reason="r", payload=None)
    assert ValidateLotPipeline().process_item(rej) is rej


@pytest.mark.parametrize(
    "bad", [{"house": "../etc"}, {"base_url": "ftp://x"}, {"run_date": "2026-13-01"}, {"house": None}]
)
def test_spider_arguments_are_checked(bad):
    args = {"house": "kestrel", "base_url": "http://127.0.0.1:1", "run_date": "2026-10-01", **bad}
    with pytest.raises(ValueError):
        DemoApiSpider(**args)


def test_embedded_json_matches_visible_markup(offline_site):
    sale = next(
        s
        for s in offline_site.catalogue.sales_by_house["lotus"]
        if offline_site.catalogue.lots_by_sale.get(s.sale_id)
    )
    resp = _response(f"/lotus/sale/{sale.sale_id}")
    data = json.loads(resp.css("script#lot-data::text").get())
    assert len(resp.css("article.lot")) == len(data["lots"])
    assert resp.css("article.lot .artist::text").getall() == [lot["artist_name"] for lot in data["lots"]]
