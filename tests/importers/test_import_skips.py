"""``gbv import auto`` accounts for every file of a folder: vendor exports are imported, every other file gets
one line saying why it is not (spider input and which spider, museum data, no artist, documentation, unknown).
Synthetic files of each shape here; the real ../shared folder is checked too when it is present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gbv.importers.pipeline import discover, format_report, run_import, skip_reason

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "auctions"

ARTHENA_HEADER = ("artist_name,artist_nationality,artist_birth_year,artist_death_year,auction_house,auction_sale_id,"
                  "auction_department,auction_location,auction_date,auction_currency,exchange_rate_to_usd,"
                  "auction_lot_count,lot_id,lot_place_in_auction,lot_description,lot_link,work_title,work_medium,"
                  "work_execution_year,work_dimensions,work_height,work_width,work_depth,work_measurement_unit,"
                  "hammer_price,buyers_premium,estimate_low,estimate_high")
ARTHENA_ROW = ("Jane Painter,American,1930,2001,Sothebys,N01234,Contemporary,New York,2015-05-12T00:00:00,USD,1,"
               "50,7,-1,-1,-1,Untitled,painting,1970,50 x 40 cm,50,40,-1,cm,20000,5000,15000,25000")

SHAPES = {
    # path under the folder -> (content, the words its skip line must hold)
    "README.md": ("# data\n", "documentation"),
    "houses/sale-page.html": ("<html><script>window.chrComponents = {\"lots\": {}};</script></html>",
                              "crawlers/spiders/christies_sale.py"),
    "houses/lot-page.html": ("<html><chr-lot-header lot_id='1'></chr-lot-header>"
                             "<script>window.chrComponents = {};</script></html>", "crawlers/spiders/christies_lot.py"),
    "houses/auction.html": ('<html><script id="__NEXT_DATA__" type="application/json">{}</script></html>',
                            "crawlers/spiders/sothebys_auction.py"),
    "houses/search.json": (json.dumps({"hits": [], "page": 0}), "crawlers/spiders/sothebys_api.py"),
    "houses/lot.json": (json.dumps({"data": {"lot": {"lotId": "x"}}}), "crawlers/spiders/sothebys_api.py"),
    "houses/b/123.json": (json.dumps({"auction_info": {}, "lot_info": []}), "crawlers/spiders/bonhams_api.py"),
    "houses/salelist.json": (json.dumps({"model_results": {"sale": {"items": []}}}), "crawlers/spiders/bonhams_api.py"),
    "houses/k.json": (json.dumps({"kor": [], "eng": []}), "crawlers/spiders/kauction_api.py"),
    "houses/listing.csv": ("p0,p1,p2,p9,p10,p11,img\nLot 1 - A1 x,text,,CHF 1 / 2,,Sold for CHF 1,\n",
                           "crawlers/spiders/koller_listing.py"),
    "houses/sales.csv": (",title,detail,uid,link\n0,A sale,1 May 2021,abc,https://example.test/a\n",
                         "crawlers/spiders/sothebys_auction.py"),
    "houses/urls.txt": ("url\nhttps://www.christies.com/Some-Sale-12345.aspx?lid=1\n",
                        "crawlers/spiders/christies_sale.py"),
    "tables/example.js": ('var data = [{"date": "2000-01-01", "currency": "USD", "lots": [{"lot_number": "1", '
                          '"price": 10.0, "status": "Sold"}]}];', "no artist: cannot be valued"),
    "tables/sale.json": (json.dumps([{"date": "2000-01-01", "currency": "GBP", "lots": []}]),
                         "no artist: cannot be valued"),
    "scraped/one-sale.json": (json.dumps({"title": "t", "detail": "d", "uid": "u", "link": "l", "data": []}),
                              "no importer or spider reads this format"),
    "museum-x/artist_data.csv": ("id,name,gender,dates,yearOfBirth,yearOfDeath\n1,A B,Male,1900-1990,1900,1990\n",
                                 "used for artist enrichment"),
    "museum-x/works.csv": ("id,title,main_reference_number,department_title,artist_title\n",
                           "without prices"),
    "odd/notes.bin": ("\x00\x01garbage", "unknown format"),
}


@pytest.fixture
def mixed_dir(tmp_path):
    d = tmp_path / "mixed"
    for rel, (content, _) in SHAPES.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")
    (d / "vendor").mkdir()
    (d / "vendor" / "painter.csv").write_bytes(f"{ARTHENA_HEADER}\r\n{ARTHENA_ROW}\r\n".encode())
    return d


@pytest.mark.parametrize("rel", sorted(SHAPES))
def test_skip_reason_names_what_the_file_is(mixed_dir, rel):
    assert SHAPES[rel][1] in skip_reason(mixed_dir / rel)


def test_auto_accounts_for_every_file(mixed_dir):
    skipped: list = []
    files = discover("auto", mixed_dir, skipped)
    assert [(k, f.name) for k, f in files] == [("arthena", "painter.csv")]
    assert sorted(str(f.relative_to(mixed_dir)) for f, _ in skipped) == sorted(SHAPES)
    # a named source on a folder says which files were another vendor's
    other: list = []
    assert "painter.csv" not in {f.name for _, f in discover("askart-ny", mixed_dir, other)}
    assert [(f.name, why) for f, why in other] == [("painter.csv", "arthena export, not askart-ny")]


def test_import_report_prints_one_line_per_skipped_file(mixed_dir, gbv_home, tmp_path):
    from gbv.settings import get_settings

    rep = run_import(get_settings(), "auto", mixed_dir, "2026-11-25", load=False,
                     shared_auctions=tmp_path / "no-museums")
    text = format_report(rep)
    assert f"files: {len(SHAPES) + 1} under {mixed_dir}: 1 imported, {len(SHAPES)} not imported:" in text
    for rel, (_, words) in SHAPES.items():
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"skipped {rel} "))
        assert words in line
    assert rep.sources["arthena"].loaded == 1


def test_real_shared_folder_every_file_accounted_for():
    if not SHARED.is_dir():
        pytest.skip(f"shared auction data not found at {SHARED} (the CI clone has ../shared beside it)")
    skipped: list = []
    files = discover("auto", SHARED, skipped)
    everything = sorted(p for p in SHARED.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert sorted([f for _, f in files] + [f for f, _ in skipped]) == everything
    assert {k for k, _ in files} == {"askart-ny", "askart-hk", "arthena"}
    reasons = dict(skipped)
    assert not [f for f, why in reasons.items() if why.startswith("unknown format")], reasons
    for f, why in reasons.items():
        if why.startswith("spider input"):  # the spider it names exists
            spider = why.split("`")[1]
            assert (REPO / spider).is_file(), (f, why)
    spider_inputs = {f.name for f, why in reasons.items() if why.startswith("spider input")}
    assert {"kauction_1.json", "b1.json", "query.json", "p.json", "cc.html", "19th-century-paintings-8.csv"} <= (
        spider_inputs)
    no_artist = {f.name for f, why in reasons.items() if why.startswith("no artist")}
    assert no_artist == {"sale-data.json", "example_2.js", "example_3.js", "example_4.js"}
