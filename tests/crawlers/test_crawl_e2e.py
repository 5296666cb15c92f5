"""Real crawls: Scrapy subprocesses against a real DemoSite on localhost (small world, fast settings).

One crawl of all four houses is shared by the module (a broken sale page, a 429 on one API page, small pages
so pagination matters); each test checks one promise against it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket

import pytest

from crawlers.run import CrawlError, crawl_demo_site, read_landed, read_rejects, run_crawl
from gbv.demo.site import DemoSite
from gbv.settings import get_settings

RUN_DATE = "2026-10-01"
USER_AGENT = "gbv-bot/0.1 (+https://github.com/gbv; data@gbv.example)"
SALES_PER_PAGE = 5
API_PAGE = 25


def _lot_ref(row: dict) -> str:
    return f"{row['house']}-{row['sale_id']}-{int(row['lot_number']):04d}"


@pytest.fixture(scope="module")
def crawled(world, tmp_path_factory):
    lots = world.lots_as_of(world.as_of)
    broken = lots[lots["house"] == "harrington"]["sale_id"].value_counts().index[0]  # a sale with lots
    throttled = f"/api/kestrel/lots?page=2&page_size={API_PAGE}"
    home = tmp_path_factory.mktemp("gbv_e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBV_HOME", str(home))
        settings = get_settings()
        site = DemoSite(
            world,
            sales_per_page=SALES_PER_PAGE,
            max_page_size=API_PAGE,
            broken_sales={broken},
            fail_first={throttled: 1},
        )
        with site:
            results = crawl_demo_site(site.base_url, RUN_DATE, world.houses, settings, timeout_s=120)
            requests_after_first = len(site.requests)
            again = [
                run_crawl(
                    "demo_html" if r.source in ("demo_harrington", "demo_lotus") else "demo_api",
                    r.source.removeprefix("demo_"),
                    site.base_url,
                    RUN_DATE,
                    settings,
                    timeout_s=60,
                )
                for r in results
            ]
            requests_after_second = len(site.requests)
            yield {
                "site": site,
                "settings": settings,
                "results": {r.source: r for r in results},
                "again": again,
                "broken": broken,
                "throttled": throttled,
                "requests": (requests_after_first, requests_after_second),
            }


def test_every_lot_the_site_shows_lands_exactly_once(crawled):
    site, settings = crawled["site"], crawled["settings"]
    broken_refs = {rec["lot_ref"] for rec in site.catalogue.lots_by_sale[crawled["broken"]]}
    assert broken_refs
    for house in site.catalogue.houses:
        rows = read_landed(f"demo_{house}", RUN_DATE, settings)
        refs = [_lot_ref(r) for r in rows]
        assert len(refs) == len(set(refs)), f"{house}: a lot landed twice"
        want = set(site.catalogue.shown_lot_refs(house)) - broken_refs
        assert set(refs) == want, house
        assert crawled["results"][f"demo_{house}"].n_items == len(refs)
        assert all(r["source"] == f"demo_{house}" and r["url"].startswith(site.base_url) for r in rows)


def test_pagination_is_followed(crawled):
    site = crawled["site"]
    paths = set(site.requested_paths())
    for house, h in site.catalogue.houses.items():
        if h.site_format == "html":
            n_pages = -(-len(site.catalogue.sales_by_house[house]) // SALES_PER_PAGE)
            want = {f"/{house}/sales/?page={p}" for p in range(1, n_pages + 1)}
            want |= {f"/{house}/sale/{s.sale_id}" for s in site.catalogue.sales_by_house[house]}
        else:
            n_pages = -(-len(site.catalogue.lots_by_house[house]) // API_PAGE)
            want = {f"/api/{house}/lots?page=1&page_size=100"}
            want |= {f"/api/{house}/lots?page={p}&page_size={API_PAGE}" for p in range(2, n_pages + 1)}
        assert n_pages > 1
        assert want <= paths, sorted(want - paths)


def test_robots_txt_is_obeyed_and_the_crawl_stays_on_site(crawled):
    site = crawled["site"]
    log = site.requests
    assert any(r["path"] == "/robots.txt" for r in log)
    assert not [r["path"] for r in log if r["path"].startswith(("/private/", "/admin/"))]
    assert {r["user_agent"] for r in log} == {USER_AGENT}
    harrington = crawled["results"]["demo_harrington"].stats
    assert harrington["robotstxt/forbidden"] >= 1  # the /private/ sale link was seen and refused
    assert harrington["offsite/filtered"] >= 1  # the partner link was never requested


def test_success_is_written_last_and_files_are_whole(crawled):
    for result in crawled["results"].values():
        names = sorted(os.listdir(result.path))
        assert names == ["_SUCCESS", "lots.jsonl", "rejects.jsonl"], names  # no .part left behind
        mtime = {n: (result.path / n).stat().st_mtime_ns for n in names}
        assert mtime["_SUCCESS"] >= max(mtime["lots.jsonl"], mtime["rejects.jsonl"])
        success = json.loads((result.path / "_SUCCESS").read_text())
        assert success["n_items"] == result.n_items
        assert success["n_rejected"] == result.n_rejected
        assert success["started_at"] <= success["finished_at"]
        assert (result.path / "lots.jsonl").read_bytes().endswith(b"\n")


def test_broken_sale_page_goes_to_rejects_while_other_sales_land(crawled):
    site, settings = crawled["site"], crawled["settings"]
    rejects = read_rejects("demo_harrington", RUN_DATE, settings)
    assert [(r["url"], r["stage"]) for r in rejects] == [
        (site.sale_url("harrington", crawled["broken"]), "parse")
    ]
    assert "broken embedded JSON" in rejects[0]["reason"]
    assert crawled["results"]["demo_harrington"].n_rejected == 1
    assert crawled["results"]["demo_harrington"].n_items > 0
    assert crawled["results"]["demo_lotus"].n_rejected == 0


def test_a_429_is_retried(crawled):
    site = crawled["site"]
    statuses = [r["status"] for r in site.requests if r["path"] == crawled["throttled"]]
    assert statuses == [429, 200]
    assert crawled["results"]["demo_kestrel"].stats["retry/count"] >= 1


def test_second_run_for_the_same_date_is_skipped_and_changes_nothing(crawled, world):
    first, second = crawled["requests"]
    assert second == first  # nothing was fetched again
    for result in crawled["again"]:
        assert result.skipped
        before = crawled["results"][result.source]
        assert (result.n_items, result.n_rejected, result.path) == (
            before.n_items,
            before.n_rejected,
            before.path,
        )
    # and the landing bytes are exactly what the first run wrote (checksums taken now and after a re-run)
    settings = crawled["settings"]
    digest = {
        s: hashlib.sha256((r.path / "lots.jsonl").read_bytes()).hexdigest()
        for s, r in crawled["results"].items()
    }
    run_crawl("demo_api", "delacroix", "http://127.0.0.1:9", RUN_DATE, settings)  # would fail if it crawled
    assert digest == {
        s: hashlib.sha256((r.path / "lots.jsonl").read_bytes()).hexdigest()
        for s, r in crawled["results"].items()
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_site_raises_crawl_error_and_lands_nothing(gbv_home):
    settings = dataclasses.replace(gbv_home)
    base = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(CrawlError) as err:
        run_crawl("demo_api", "kestrel", base, RUN_DATE, settings, timeout_s=60)
    assert "demo_api" in str(err.value) and err.value.returncode == 1
    assert "not landed" in err.value.stderr_tail
    assert not (settings.raw_path("demo_kestrel", RUN_DATE) / "_SUCCESS").exists()


@pytest.mark.slow
def test_interrupted_crawl_resumes_from_its_jobdir(world, gbv_home):
    """A crawl stopped by its timeout (SIGINT, graceful) resumes from JOBDIR: every lot lands exactly once."""
    with DemoSite(world, sales_per_page=SALES_PER_PAGE, delay_s=0.15) as site:
        with pytest.raises(CrawlError, match="timed out"):
            run_crawl("demo_html", "lotus", site.base_url, RUN_DATE, gbv_home, timeout_s=4)
        jobdir = gbv_home.crawl_jobs_dir / "demo_lotus" / RUN_DATE
        assert jobdir.is_dir() and any(jobdir.iterdir())
        part = gbv_home.raw_path("demo_lotus", RUN_DATE) / "lots.jsonl.part"
        assert part.exists()
        n_first = len(site.requests)
        result = run_crawl("demo_html", "lotus", site.base_url, RUN_DATE, gbv_home, timeout_s=120)
        refs = [_lot_ref(r) for r in read_landed("demo_lotus", RUN_DATE, gbv_home)]
        assert len(refs) == len(set(refs))
        assert set(refs) == set(site.catalogue.shown_lot_refs("lotus"))
        sale_paths = [p for p in site.requested_paths() if "/lotus/sale/" in p]
        assert len(sale_paths) == len(set(sale_paths))  # no sale page fetched twice across the two runs
        assert len(site.requests) > n_first
    assert not result.skipped and json.loads((result.path / "_SUCCESS").read_text())["resumed"] is True
    assert not jobdir.exists()


def test_a_page_that_keeps_failing_fails_the_crawl_and_the_retry_starts_afresh(world, gbv_home):
    """API page 2 answers 429 more often than Scrapy retries: the crawl must not land half the lots; the next
    run (the site has recovered) crawls again from the start and lands everything."""
    page2 = f"/api/delacroix/lots?page=2&page_size={API_PAGE}"
    with DemoSite(world, max_page_size=API_PAGE, fail_first={page2: 5}) as site:
        with pytest.raises(CrawlError, match="demo_api") as err:
            run_crawl("demo_api", "delacroix", site.base_url, RUN_DATE, gbv_home, timeout_s=60)
        assert "not landed" in err.value.stderr_tail
        assert not (gbv_home.crawl_jobs_dir / "demo_delacroix" / RUN_DATE).exists()  # no stale JOBDIR
        result = run_crawl("demo_api", "delacroix", site.base_url, RUN_DATE, gbv_home, timeout_s=60)
        refs = [_lot_ref(r) for r in read_landed("demo_delacroix", RUN_DATE, gbv_home)]
        assert sorted(refs) == sorted(site.catalogue.shown_lot_refs("delacroix"))
        assert result.n_rejected == 0 and not result.skipped
