"""Check each lot item against the raw lot schema; an invalid one becomes a reject (with its reason), never a
silent drop: the landing pipeline writes rejects to ``rejects.jsonl`` beside the lots."""

from __future__ import annotations

import re
from typing import Any

from itemadapter import ItemAdapter

from crawlers.items import AuctionLotItem, CrawlRejectItem
from gbv.contracts import RAW_LOT_FIELDS

REQUIRED_FIELDS = ("source", "house", "sale_id", "lot_number", "url")
ONE_OF_FIELDS = ("artist_name", "title")
# digits with an optional letter suffix ("3254A": a lot inserted after 3254; Bonhams' sSaleLotNoA), as
# gbv.staging.conform_lots reads them (the letter is kept, lower-cased, in lot_ref)
LOT_NUMBER_RE = re.compile(r"\d+\s*[A-Za-z]{0,2}")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_lot(item: Any) -> list[str]:
    """Problems with one lot item (empty list = valid)."""
    adapter = ItemAdapter(item)
    problems = [f"missing {name}" for name in REQUIRED_FIELDS if _blank(adapter.get(name))]
    if all(_blank(adapter.get(name)) for name in ONE_OF_FIELDS):
        problems.append("missing both artist_name and title")
    lot_number = adapter.get("lot_number")
    if not _blank(lot_number) and not (
        (isinstance(lot_number, int) and not isinstance(lot_number, bool))
        or (isinstance(lot_number, str) and LOT_NUMBER_RE.fullmatch(lot_number.strip()))
    ):
        problems.append(f"lot_number is not a lot number (digits, optional letter): {lot_number!r}")
    unknown = set(adapter.keys()) - set(RAW_LOT_FIELDS)
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)}")
    return problems


class ValidateLotPipeline:
    def __init__(self, crawler=None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, AuctionLotItem):
            return item
        problems = validate_lot(item)
        if not problems:
            return item
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value("gbv/rejects/validate")
        adapter = ItemAdapter(item)
        return CrawlRejectItem(
            source=adapter.get("source"),
            url=adapter.get("url"),
            stage="validate",
            reason="; ".join(problems),
            payload=adapter.asdict(),
        )
