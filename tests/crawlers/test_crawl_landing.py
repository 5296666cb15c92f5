"""The raw landing pipeline, driven directly (no reactor): parts, finalisation, _SUCCESS last, resume, dedupe."""

from __future__ import annotations

import json
import os

import pytest
from scrapy.utils.test import get_crawler

from crawlers.items import AuctionLotItem, CrawlRejectItem
from crawlers.pipelines.landing import LandingExists, RawLandingPipeline
from crawlers.run import is_landed, read_landed, read_rejects
from crawlers.spiders.demo_api import DemoApiSpider
from gbv.contracts import RAW_LOT_FIELDS

RUN_DATE = "2026-10-01"


def _pipeline(settings, resume: bool = False) -> tuple[RawLandingPipeline, object]:
    crawler = get_crawler(DemoApiSpider, {"GBV_HOME": str(settings.home), "GBV_LANDING_RESUME": resume})
    crawler.spider = DemoApiSpider.from_crawler(
        crawler, house="kestrel", base_url="http://127.0.0.1:9", run_date=RUN_DATE
    )
    pipeline = RawLandingPipeline.from_crawler(crawler)
    pipeline.open_spider()
    return pipeline, crawler.spider


def _lot(sale: str, n: int) -> AuctionLotItem:
    return AuctionLotItem.from_fields(
        source="demo_kestrel",
        house="kestrel",
        sale_id=sale,
        lot_number=f"{n:04d}",
        artist_name=f"Artist {n}",
        url="http://127.0.0.1:9/api/kestrel/lots?page=1",
    )


def test_finalise_sorts_fsyncs_renames_and_writes_success_last(gbv_home):
    p, spider = _pipeline(gbv_home)
    folder = gbv_home.raw_path("demo_kestrel", RUN_DATE)
    for sale, n in [("KES-2020-03-A", 2), ("KES-2019-01-A", 10), ("KES-2020-03-A", 1), ("KES-2019-01-A", 9)]:
        p.process_item(_lot(sale, n))
    p.process_item(CrawlRejectItem(source="demo_kestrel", url="http://x/1", stage="parse", reason="broken"))
    assert (folder / "lots.jsonl.part").exists() and not (folder / "lots.jsonl").exists()
    p.close_spider()
    p.spider_closed(spider, "finished")
    assert sorted(os.listdir(folder)) == ["_SUCCESS", "lots.jsonl", "rejects.jsonl"]
    rows = read_landed("demo_kestrel", RUN_DATE, gbv_home)
    assert [(r["sale_id"], r["lot_number"]) for r in rows] == [
        ("KES-2019-01-A", "0009"),
        ("KES-2019-01-A", "0010"),
        ("KES-2020-03-A", "0001"),
        ("KES-2020-03-A", "0002"),
    ]
    assert all(list(r) == list(RAW_LOT_FIELDS) for r in rows)
    assert read_rejects("demo_kestrel", RUN_DATE, gbv_home)[0]["reason"] == "broken"
    success = json.loads((folder / "_SUCCESS").read_text())
    assert success["n_items"] == 4 and success["n_rejected"] == 1 and success["finish_reason"] == "finished"
    assert success["started_at"] <= success["finished_at"]
    mtimes = {name: (folder / name).stat().st_mtime_ns for name in os.listdir(folder)}
    assert mtimes["_SUCCESS"] >= max(mtimes["lots.jsonl"], mtimes["rejects.jsonl"])
    assert not os.access(folder / "lots.jsonl", os.W_OK) or os.geteuid() == 0  # read-only (root ignores it)
    with pytest.raises(LandingExists):
        _pipeline(gbv_home)


@pytest.mark.parametrize("reason", ["shutdown", "cancelled", "closespider_timeout"])
def test_interrupted_crawl_is_not_finalised(gbv_home, reason):
    p, spider = _pipeline(gbv_home)
    p.process_item(_lot("KES-2020-03-A", 1))
    p.close_spider()
    p.spider_closed(spider, reason)
    folder = gbv_home.raw_path("demo_kestrel", RUN_DATE)
    assert not (folder / "_SUCCESS").exists() and (folder / "lots.jsonl.part").exists()
    assert not is_landed("demo_kestrel", RUN_DATE, gbv_home)
    with pytest.raises(FileNotFoundError):
        read_landed("demo_kestrel", RUN_DATE, gbv_home)


def test_navigation_failure_blocks_finalisation(gbv_home):
    p, spider = _pipeline(gbv_home)
    p.process_item(_lot("KES-2020-03-A", 1))
    spider.incomplete.append("http://x/api/kestrel/lots?page=2: HTTP 500")
    p.close_spider()
    p.spider_closed(spider, "finished")
    assert not is_landed("demo_kestrel", RUN_DATE, gbv_home)
    assert p.crawler.stats.get_value("gbv/landing") == "incomplete"


def test_resume_appends_cuts_torn_line_and_lands_each_lot_once(gbv_home):
    p, spider = _pipeline(gbv_home)
    p.process_item(_lot("KES-2020-03-A", 1))
    p.process_item(_lot("KES-2020-03-A", 2))
    p.close_spider()
    p.spider_closed(spider, "shutdown")
    part = gbv_home.raw_path("demo_kestrel", RUN_DATE) / "lots.jsonl.part"
    with open(part, "a", encoding="utf-8") as fh:
        fh.write('{"source": "demo_kestrel", "sale_id": "KES-20')  # killed mid-write
    p2, spider2 = _pipeline(gbv_home, resume=True)
    assert p2.n_items == 2
    p2.process_item(_lot("KES-2020-03-A", 2))  # re-emitted after the resume: lands once, repeat -> rejects
    p2.process_item(_lot("KES-2020-03-A", 3))
    p2.close_spider()
    p2.spider_closed(spider2, "finished")
    rows = read_landed("demo_kestrel", RUN_DATE, gbv_home)
    assert [r["lot_number"] for r in rows] == ["0001", "0002", "0003"]
    rejects = read_rejects("demo_kestrel", RUN_DATE, gbv_home)
    assert len(rejects) == 1 and rejects[0]["stage"] == "landing" and "duplicate" in rejects[0]["reason"]
    assert json.loads((part.parent / "_SUCCESS").read_text())["resumed"] is True


def test_fresh_crawl_truncates_stale_parts(gbv_home):
    p, spider = _pipeline(gbv_home)
    p.process_item(_lot("KES-2020-03-A", 1))
    p.close_spider()
    p.spider_closed(spider, "shutdown")
    p2, spider2 = _pipeline(gbv_home, resume=False)
    p2.process_item(_lot("KES-2020-03-A", 5))
    p2.close_spider()
    p2.spider_closed(spider2, "finished")
    assert [r["lot_number"] for r in read_landed("demo_kestrel", RUN_DATE, gbv_home)] == ["0005"]


def test_a_jobdir_from_another_crawl_is_discarded(tmp_path):
    from crawlers.run import _forget_stale_job

    jobdir, args_file = tmp_path / "2026-10-01", tmp_path / "2026-10-01.args.json"
    jobdir.mkdir()
    (jobdir / "requests.seen").write_text("x")
    _forget_stale_job(jobdir, args_file, spider="demo_api", house="kestrel", base_url="http://127.0.0.1:1")
    assert jobdir.exists()  # first sight: nothing to compare with
    _forget_stale_job(jobdir, args_file, spider="demo_api", house="kestrel", base_url="http://127.0.0.1:1")
    assert jobdir.exists()  # same crawl: resume
    _forget_stale_job(jobdir, args_file, spider="demo_api", house="kestrel", base_url="http://127.0.0.1:2")
    assert not jobdir.exists()  # the site moved: start afresh


def test_a_job_args_file_cut_short_by_a_kill_discards_the_jobdir(tmp_path):
    """kill -9 while the args file was being written left it empty: the next crawl must start afresh, not crash on
    its JSON (seen once in tests/faults/test_kill_night.py)."""
    import json

    from crawlers.run import _forget_stale_job

    jobdir, args_file = tmp_path / "job", tmp_path / "job.args.json"
    (jobdir / "requests.queue").mkdir(parents=True)
    args_file.write_text("", encoding="utf-8")
    _forget_stale_job(jobdir, args_file, spider="demo_auction", house="lotus", base_url="http://127.0.0.1:1")
    assert not jobdir.exists()
    assert json.loads(args_file.read_text()) == {"base_url": "http://127.0.0.1:1", "house": "lotus",
                                                 "spider": "demo_auction"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
