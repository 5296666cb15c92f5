"""The demo auction website: formats, pagination, robots.txt, determinism, fault hooks, and serving over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from gbv.demo.site import (
    DemoSite,
    artist_dates,
    created_text,
    dimensions_cm_text,
    dimensions_in_text,
    format_money,
    inch_number,
    long_date,
)


@pytest.mark.parametrize(
    ("cm", "text"),
    [(65.405, "25 3/4"), (80.963, "31 7/8"), (2.54, "1"), (1.27, "1/2"), (20.32, "8"), (0.3, "1/8")],
)
def test_inch_number(cm, text):
    assert inch_number(cm) == text


def test_text_formats():
    import datetime as dt

    assert long_date(dt.date(2024, 3, 4)) == "4 March 2024"
    assert format_money(12500.0, "EUR") == "€12,500"
    assert format_money(12500.5, "USD") == "$12,501"
    assert format_money(12500, "HKD") == "HK$12,500"
    assert format_money(None, "HKD") is None
    assert dimensions_cm_text(65.5, 81.0, float("nan")) == "65.5 x 81 cm"
    assert dimensions_cm_text(65.5, 81.0, 20.0) == "65.5 x 81 x 20 cm"
    assert dimensions_in_text(65.405, 80.963, None) == "25 3/4 x 31 7/8 in."
    assert artist_dates("French", 1901, 1975) == "(French, 1901-1975)"
    assert artist_dates("American", 1962, None) == "(American, b. 1962)"
    texts = {created_text(1965, f"x-{i}") for i in range(200)}
    assert texts == {"1965", "c. 1965", "1965-67"}
    assert created_text(1965, "lot-a") == created_text(1965, "lot-a")


def test_robots_txt(offline_site):
    status, ctype, body = offline_site.render("/robots.txt")
    assert status == 200 and ctype == "text/plain"
    assert "Disallow: /private/" in body and "Disallow: /admin/" in body


def test_pages_are_deterministic(world):
    a, b = DemoSite(world), DemoSite(world)
    for path in (
        "/harrington/sales/?page=1",
        "/lotus/sale/" + a.catalogue.sales_by_house["lotus"][3].sale_id,
        "/api/kestrel/lots?page=1&page_size=50",
    ):
        assert a.render(path) == b.render(path)


def test_past_sales_show_results_and_future_sales_have_no_price(offline_site):
    cat = offline_site.catalogue
    for house, h in cat.houses.items():
        for rec in cat.lots_by_house[house]:
            lot = cat.html_lot(rec) if h.site_format == "html" else cat.api_lot(rec)
            price = lot["price"] if h.site_format == "html" else lot["priceRealised"]
            if rec["sale_day"] >= offline_site.as_of:
                assert price is None and rec["status"] == "upcoming"
            elif rec["status"] == "sold":
                assert price is not None


def test_api_pagination_covers_every_lot_once(world):
    site = DemoSite(world, max_page_size=30)
    refs, page = [], 1
    while True:
        status, _, body = site.render(f"/api/delacroix/lots?page={page}&page_size=100")
        assert status == 200
        data = json.loads(body)
        assert len(data["results"]) <= 30
        refs += [r["lotId"] for r in data["results"]]
        if data["next"] is None:
            break
        assert data["next"] == site.api_url("delacroix", page + 1, 30)
        page += 1
    assert data["count"] == len(refs) == len(set(refs))
    assert refs == site.catalogue.shown_lot_refs("delacroix")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/delacroix/lots?page=999&page_size=100", 404),
        ("/api/harrington/lots?page=1", 404),
        ("/api/kestrel/lots?page=x", 400),
        ("/harrington/sales/?page=0", 404),
        ("/lotus/sale/NOPE", 404),
        ("/private/bidder-registry", 403),
        ("/nowhere", 404),
        ("/", 200),
    ],
)
def test_status_codes(offline_site, path, status):
    assert offline_site.render(path)[0] == status


def test_served_over_http_with_request_log_and_fault_hooks(world):
    sale = world.lots_as_of(world.as_of)
    sale_id = sale[sale["house"] == "lotus"]["sale_id"].iloc[0]
    with DemoSite(world, broken_sales={sale_id}, fail_first={"/robots.txt": 1}) as site:
        assert site.base_url.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(site.base_url + "/robots.txt", timeout=5)
        assert err.value.code == 429
        with urllib.request.urlopen(site.base_url + "/robots.txt", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(site.sale_url("lotus", sale_id), timeout=5) as resp:
            page = resp.read().decode("utf-8")
        raw = page.split('id="lot-data">', 1)[1].split("</script>", 1)[0]
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        assert [r["status"] for r in site.requests] == [429, 200, 200]
        assert site.requested_paths()[-1] == f"/lotus/sale/{sale_id}"
    with pytest.raises(RuntimeError):
        _ = site.base_url  # stopped
