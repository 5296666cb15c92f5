"""Run one spider in this process (``crawlers.run.run_crawl`` starts it as a subprocess, since Scrapy's reactor
cannot be restarted within one process).

    python -m crawlers.crawl --spider demo_html --house harrington --base-url http://127.0.0.1:8000 \
        --run-date 2026-10-01 [--jobdir DIR] [--set DOWNLOAD_TIMEOUT=5 ...]

Exit status 0 only when the landing was finalised (``_SUCCESS`` written); otherwise 1 with the reason as the
last line of stderr. ``SCRAPY_SETTINGS_MODULE`` picks the settings (default ``crawlers.settings.base``, or
``crawlers.settings.prod`` when ``GBV_ENV=PROD``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path


def _default_settings_module() -> str:
    return (
        "crawlers.settings.prod"
        if (os.environ.get("GBV_ENV") or "").upper() == "PROD"
        else "crawlers.settings.base"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.crawl", description=__doc__.splitlines()[0])
    parser.add_argument("--spider", required=True, help="spider name, e.g. demo_html / demo_api")
    parser.add_argument("--house", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--run-date", required=True, help="YYYY-MM-DD; names the landing folder")
    parser.add_argument("--jobdir", default=None, help="Scrapy JOBDIR: an interrupted crawl resumes from it")
    parser.add_argument(
        "-a",
        dest="spider_args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra spider argument (repeatable)",
    )
    parser.add_argument(
        "--set",
        dest="scrapy_settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a Scrapy setting, e.g. DOWNLOAD_TIMEOUT=5 (repeatable)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", _default_settings_module())
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    from gbv.settings import get_settings

    settings = get_project_settings()
    settings.set("GBV_HOME", str(get_settings().home), priority="cmdline")
    for pair in args.scrapy_settings:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier() or not name.isupper():
            parser.error(f"--set expects SETTING_NAME=VALUE, got {pair!r}")
        settings.set(name, value, priority="cmdline")
    if args.jobdir:
        jobdir = Path(args.jobdir)
        resume = jobdir.is_dir() and any(jobdir.iterdir())
        jobdir.mkdir(parents=True, exist_ok=True)
        settings.set("JOBDIR", str(jobdir), priority="cmdline")
        settings.set("GBV_LANDING_RESUME", resume, priority="cmdline")

    extra = {}
    for pair in args.spider_args:
        name, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"-a expects NAME=VALUE, got {pair!r}")
        extra[name] = value

    process = CrawlerProcess(settings)
    crawler = process.create_crawler(args.spider)
    process.crawl(crawler, house=args.house, base_url=args.base_url, run_date=args.run_date, **extra)
    process.start()

    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    if stats.get("gbv/landing") != "landed":
        problem = stats.get("gbv/landing_problem") or "the crawl did not finish (see the log above)"
        if args.jobdir and stats.get("finish_reason") == "finished":
            # It ran to the end but missed pages: its JOBDIR would make a retry skip them as already seen.
            shutil.rmtree(args.jobdir, ignore_errors=True)
            problem += "; JOBDIR cleared, the next run starts afresh"
        print(
            f"crawl {args.spider} house={args.house} run_date={args.run_date} not landed: {problem}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    print(
        json.dumps(
            {
                "spider": args.spider,
                "house": args.house,
                "run_date": args.run_date,
                "items": stats.get("item_scraped_count", 0),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
