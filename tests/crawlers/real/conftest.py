"""Fixtures for the real-source spider tests: the saved real pages in ``../shared`` (read at test time, never
copied into the repository), a local server serving them at the real sites' URL paths, one crawl of every
source through ``crawlers.run.run_crawl``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gbv.settings import get_settings

AUCTIONS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "auctions"
BROKEN_SALE = "/Broken-Embedded-Json-99999.aspx?lid=1"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not ((AUCTIONS / "raw-pages-ssartthree").is_dir() and (AUCTIONS / "collectrium-gz475").is_dir()):
        pytest.skip(f"saved real pages not present at {AUCTIONS}: these tests read ../shared/data/auctions")
    return AUCTIONS


def broken_sale_page(shared: Path) -> bytes:
    """The Latin-American sale page with its ``window.chrComponents`` JSON cut off mid-lot (made at test time)."""
    text = (shared / "raw-pages-ssartthree/test/Latin-American-Art-Online-28907.txt").read_text(encoding="utf-8")
    start = text.index("window.chrComponents = ")
    cut = text.index('"lots":[', start) + 400
    return (text[:cut] + "\n</script></body></html>").encode("utf-8")


@pytest.fixture(scope="session")
def crawled(shared, tmp_path_factory):
    """Every real spider once against the local server; christies_sale also gets a broken sale page."""
    import crawlers.bench as bench

    home = tmp_path_factory.mktemp("gbv_real")
    settings = dataclasses.replace(get_settings(), home=home)
    plan = bench.crawl_plan(shared)
    plan[0][1]["sales"] = BROKEN_SALE
    extra = {BROKEN_SALE: (broken_sale_page(shared), "text/html; charset=utf-8")}
    with bench.SavedPagesServer(bench.saved_routes(shared), extra) as server, pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench, "crawl_plan", lambda data_dir: plan)
        results = bench.crawl_all(server.base_url, shared, settings, timeout_s=120)
        yield {
            "settings": settings,
            "results": {spider: r for spider, r, _ in results},
            "requests": list(server.requests),
        }
