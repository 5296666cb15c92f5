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
import mmap
import os
from collections.abc import Callable, Iterator
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


def _cut_torn_tail(path: Path) -> None:
    """Cut a torn last line (a crash mid-write) off a part file, reading only its tail."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "r+b") as fh:
        end = size
        while end > 0:
            start = max(0, end - 65536)
            fh.seek(start)
            block = fh.read(end - start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            end = start
        else:
            keep = 0
        if keep != size:
            log.warning("cutting a torn last line (%d bytes) off %s", size - keep, path)
            fh.truncate(keep)


def _iter_part(path: Path) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line with its newline) of each non-blank complete line of a part file, streamed; a torn
    last line is cut off the file first. Memory stays flat however big the crawl was."""
    if not path.exists():
        return
    _cut_torn_tail(path)
    offset = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield offset, line
            offset += len(line)


def _sort_part(path: Path, key: Callable[[bytes], Any]) -> int:
    """Rewrite ``path`` (atomically, fsynced) with its lines sorted by ``key(line)``, stable.

    Only ``(key, offset, length)`` per line is held in memory, never the parsed rows, so a crawl of a quarter of a
    million lots finalises in tens of MB instead of GBs; the lines themselves are copied as bytes from a memory
    map. Returns the number of lines."""
    entries = [(key(line), off, len(line)) for off, line in _iter_part(path)]
    entries.sort(key=lambda e: e[0])
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        if entries:
            with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                for _, off, n in entries:
                    out.write(mm[off : off + n])
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return len(entries)


def _lot_line_key(line: bytes) -> tuple:
    return lot_sort_key(json.loads(line))


def _reject_line_key(line: bytes) -> tuple:
    row = json.loads(line)
    return (str(row.get("url")), str(row.get("stage")), line.rstrip(b"\n").decode("utf-8"))


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
            for _, line in _iter_part(lots_part):
                row = json.loads(line)
                self.seen.add((str(row.get("sale_id")), str(row.get("lot_number"))))
                self.n_items += 1
            self.n_rejected = sum(1 for _ in _iter_part(rejects_part))
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
        # Each part is sorted in place (atomically: the part is always whole), then renamed to its final name.
        n_rows = _sort_part(lots_part, _lot_line_key)
        n_rejects = _sort_part(rejects_part, _reject_line_key)
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
            "n_items": n_rows,
            "n_rejected": n_rejects,
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "resumed": self.resumed,
            "finish_reason": reason,
            "files": {LOTS_FILE: n_rows, REJECTS_FILE: n_rejects},
            "stats": {
                k: (v.isoformat() if isinstance(v, dt.datetime | dt.date) else v)
                for k, v in sorted(kept.items())
            },
        }
        write_atomic(
            self.folder / SUCCESS_FILE, json.dumps(success, indent=2, sort_keys=True, default=str) + "\n"
        )
        log.info("landed %d lots and %d rejects in %s", n_rows, n_rejects, self.folder)
