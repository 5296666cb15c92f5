"""The raw landing zone: one immutable folder per (source, run date), written once, replayable for ever.

    $GBV_HOME/raw/<source>/<run_date>/
        lots.jsonl      one raw lot per line (gbv.contracts.RAW_LOT_FIELDS, in that order), sorted by sale and lot
        rejects.jsonl   what the crawl could not turn into a lot: {source, url, stage, reason, payload}
        _SUCCESS        written last (JSON: counts, start/finish times, a subset of the spider's stats)

While the crawl runs, items are appended (and flushed) to ``lots.jsonl.part`` / ``rejects.jsonl.part``; a crawl
resumed from its JOBDIR (setting ``GBV_LANDING_RESUME``) appends to them, after cutting any torn last line.
Only a crawl that closes with reason ``finished`` and no navigation failure is finalised: the parts are sorted
(so the bytes depend only on what the site showed), fsynced and renamed atomically, then ``_SUCCESS`` is
written. Anything else leaves the parts for the resumed run and no ``_SUCCESS``, so nothing downstream reads
half a night. A lot seen twice (same sale and lot number) lands once; the repeat goes to rejects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals

from crawlers.items import REJECT_FIELDS, AuctionLotItem, CrawlRejectItem
from gbv.contracts import RAW_LOT_FIELDS
from gbv.faults import fault_point
from gbv.settings import Settings, get_settings

log = logging.getLogger(__name__)

LOTS_FILE = "lots.jsonl"
REJECTS_FILE = "rejects.jsonl"
SUCCESS_FILE = "_SUCCESS"
PART_SUFFIX = ".part"

# Spider stats worth keeping in _SUCCESS (prefixes).
STATS_KEPT = (
    "downloader/request_count",
    "downloader/response_count",
    "downloader/response_status_count/",
    "retry/",
    "robotstxt/",
    "offsite/",
    "item_scraped_count",
    "log_count/ERROR",
    "log_count/WARNING",
    "httperror/",
    "gbv/",
    "scheduler/dequeued",
    "dupefilter/filtered",
)


class LandingExists(RuntimeError):
    """The landing for this (source, run date) is already complete; it is never written twice."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str, *, read_only: bool = True) -> None:
    """Write ``path`` via a temporary sibling: write, fsync, rename over it, fsync the folder."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    if read_only:
        os.chmod(path, 0o444)


def publish(part: Path, final: Path) -> None:
    """Atomically rename a finished (fsynced) part file to its final name and make it read-only."""
    os.replace(part, final)
    _fsync_dir(final.parent)
    os.chmod(final, 0o444)


def _lot_number_key(value: Any) -> tuple[int, str]:
    s = str(value if value is not None else "")
    return (int(s), s) if s.strip().isdigit() else (-1, s)


def lot_sort_key(row: dict[str, Any]) -> tuple:
    return (str(row.get("sale_id") or ""), _lot_number_key(row.get("lot_number")))


def _read_part(path: Path) -> list[str]:
    """Complete lines of a part file; a torn last line (a crash mid-write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        log.warning("cutting a torn last line (%d bytes) off %s", len(data) - len(keep), path)
        with open(path, "r+b") as fh:
            fh.truncate(len(keep))
    return [ln for ln in keep.decode("utf-8").splitlines() if ln.strip()]


class RawLandingPipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.lots_fh = None
        self.rejects_fh = None
        self.n_items = 0
        self.n_rejected = 0
        self.seen: set[tuple[str, str]] = set()
        self.folder: Path | None = None

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def _settings(self) -> Settings:
        home = self.crawler.settings.get("GBV_HOME")
        settings = get_settings()
        return dataclasses.replace(settings, home=Path(home).resolve()) if home else settings

    # -- lifecycle --
    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.source = spider.source
        self.run_date = spider.run_date
        self.folder = self._settings().raw_path(self.source, self.run_date)
        if (self.folder / SUCCESS_FILE).exists():
            raise LandingExists(
                f"{self.folder} is already complete ({SUCCESS_FILE} exists); not crawling again"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        lots_part = self.folder / (LOTS_FILE + PART_SUFFIX)
        rejects_part = self.folder / (REJECTS_FILE + PART_SUFFIX)
        self.resumed = self.crawler.settings.getbool("GBV_LANDING_RESUME")
        if self.resumed:
            for line in _read_part(lots_part):
                row = json.loads(line)
                self.seen.add((str(row.get("sale_id")), str(row.get("lot_number"))))
                self.n_items += 1
            self.n_rejected = len(_read_part(rejects_part))
            log.info(
                "resuming landing %s: %d lots, %d rejects already there",
                self.folder,
                self.n_items,
                self.n_rejected,
            )
            mode = "a"
        else:
            mode = "w"
        self.lots_fh = open(lots_part, mode, encoding="utf-8", newline="\n")
        self.rejects_fh = open(rejects_part, mode, encoding="utf-8", newline="\n")
        self.started_at = now_iso()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, CrawlRejectItem):
            self._write_reject(ItemAdapter(item).asdict())
        elif isinstance(item, AuctionLotItem):
            row = {name: item.get(name) for name in RAW_LOT_FIELDS}
            key = (str(row["sale_id"]), str(row["lot_number"]))
            if key in self.seen:
                self._write_reject(
                    {
                        "source": row["source"],
                        "url": row["url"],
                        "stage": "landing",
                        "reason": f"duplicate lot (sale {key[0]}, lot {key[1]})",
                        "payload": row,
                    }
                )
            else:
                self.seen.add(key)
                self.lots_fh.write(_dumps(row) + "\n")
                self.lots_fh.flush()
                self.n_items += 1
                fault_point("crawl_item", parent=True)  # kill -9 of the night mid-crawl
        else:
            self._write_reject(
                {
                    "source": self.source,
                    "url": None,
                    "stage": "landing",
                    "reason": f"unexpected item type {type(item).__name__}",
                    "payload": repr(item)[:300],
                }
            )
        return item

    def _write_reject(self, reject: dict[str, Any]) -> None:
        row = {name: reject.get(name) for name in REJECT_FIELDS}
        if row["source"] is None:
            row["source"] = self.source
        self.rejects_fh.write(_dumps(row) + "\n")
        self.rejects_fh.flush()
        self.n_rejected += 1

    def close_spider(self) -> None:
        for fh in (self.lots_fh, self.rejects_fh):
            if fh is not None and not fh.closed:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()

    def spider_closed(self, spider, reason: str) -> None:
        if self.folder is None:
            return
        stats = self.crawler.stats
        incomplete = list(getattr(spider, "incomplete", []))
        if reason != "finished" or incomplete:
            why = f"closed with reason {reason!r}" + (f"; incomplete: {incomplete}" if incomplete else "")
            log.error("landing %s NOT finalised (%s); parts kept for a resumed run", self.folder, why)
            stats.set_value("gbv/landing", "incomplete")
            stats.set_value("gbv/landing_problem", why)
            return
        self.finalise(reason)
        stats.set_value("gbv/landing", "landed")

    def finalise(self, reason: str) -> None:
        lots_part = self.folder / (LOTS_FILE + PART_SUFFIX)
        rejects_part = self.folder / (REJECTS_FILE + PART_SUFFIX)
        rows = [json.loads(line) for line in _read_part(lots_part)]
        rows.sort(key=lot_sort_key)
        lines = [_dumps(r) + "\n" for r in rows]
        rejects = sorted(
            _read_part(rejects_part),
            key=lambda ln: (str(json.loads(ln).get("url")), str(json.loads(ln).get("stage")), ln),
        )
        # Sorted content replaces each part atomically (the part is always whole), then the part is renamed.
        write_atomic(lots_part, "".join(lines), read_only=False)
        write_atomic(rejects_part, "".join(ln + "\n" for ln in rejects), read_only=False)
        publish(lots_part, self.folder / LOTS_FILE)
        publish(rejects_part, self.folder / REJECTS_FILE)
        fault_point("landing_before_success", parent=True)  # landed, but not yet marked complete
        kept = {
            k: v
            for k, v in self.crawler.stats.get_stats().items()
            if any(k == p or (p.endswith("/") and k.startswith(p)) for p in STATS_KEPT)
        }
        success = {
            "source": self.source,
            "run_date": self.run_date,
            "spider": self.crawler.spider.name,
            "n_items": len(rows),
            "n_rejected": len(rejects),
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "resumed": self.resumed,
            "finish_reason": reason,
            "files": {LOTS_FILE: len(rows), REJECTS_FILE: len(rejects)},
            "stats": {
                k: (v.isoformat() if isinstance(v, dt.datetime | dt.date) else v)
                for k, v in sorted(kept.items())
            },
        }
        write_atomic(
            self.folder / SUCCESS_FILE, json.dumps(success, indent=2, sort_keys=True, default=str) + "\n"
        )
        log.info("landed %d lots and %d rejects in %s", len(rows), len(rejects), self.folder)
