"""askART exports of New York sales (``christies.csv``, ``sothebys.csv``, ``backup.csv``).

Every row has 15 fields, read **by position** (the header, where there is one, names only 14: it lacks
``high_estimate``; ``christies.csv`` has no header at all): ``city, auction_house, exhibition, image_url, artist,
title, price, low_estimate, high_estimate, signature, size, created, auction_lot, auction_date, medium``.

Money is USD text (``"$275,000"``, ``"$3,366 (3,000)"`` with the sale's own EUR in brackets, ignored); prices are
premium-inclusive, estimates hammer basis. The price cell may instead say ``-not sold-`` / ``Not sold at
auction.`` (bought in), ``not communicated`` (sold, price unpublished) or ``withdrawn``; ``WITHDRAWN`` after the lot
number also means withdrawn. ``auction_date`` is ``MM/DD/YYYY`` or a range (first day kept). Lot numbers repeat
within a date when a house held two sessions, so the sale is the ``exhibition`` (sale name + date).
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from gbv.importers.base import FileRead, ImportFileError, RawRow, csv_records, read_text, shape_problems

SOURCE = "askart-ny"
COLUMNS = ("city", "auction_house", "exhibition", "image_url", "artist", "title", "price", "low_estimate",
           "high_estimate", "signature", "size", "created", "auction_lot", "auction_date", "medium")
HOUSES = {
    "christie's new york, rockefeller center": "christies",
    "christie's new york": "christies",
    "sotheby's new york": "sothebys",
    "bonhams new york": "bonhams",
    "auctionata, inc.": "auctionata",
    "phillips new york": "phillips",
}


def house_slug(name: str) -> str:
    key = " ".join(name.casefold().split())
    if key in HOUSES:
        return HOUSES[key]
    return re.sub(r"[^a-z0-9]+", "", key.split(",")[0].split(" new york")[0].replace("'", "")) or "unknown"


def looks_like(head: str) -> bool:
    """A file whose first record is an askART NY header or a 15-field row with an askART image URL."""
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    if first.startswith("city,auction_house,exhibition"):
        return True
    try:  # no header (christies.csv): 15 fields, an auction date in field 14
        fields = next(csv.reader([first.rstrip("\r")]))
    except (csv.Error, StopIteration):
        return False
    return len(fields) == 15 and bool(re.match(r"\d{1,2}/\d{1,2}/\d{4}", fields[13].strip()))


def parse(path: Path) -> FileRead:
    text, enc, notes = read_text(path)
    rows: list[RawRow] = []
    header_seen = False
    for line, fields, raw, truncated in csv_records(text):
        if not header_seen and line <= 2 and fields and fields[0].strip().casefold() == "city":
            header_seen = True
            names = [f.strip() for f in fields]
            if names[:8] != list(COLUMNS[:8]):
                raise ImportFileError(f"{path}: line {line}: header {names} is not askART NY's "
                                      f"(expected {list(COLUMNS)} by position)")
            if len(names) == 14:
                notes.append(f"{path.name}: header names 14 columns (no high_estimate); read by position")
            continue
        problems = shape_problems(fields, truncated, len(COLUMNS), " (askART NY rows carry 15)")
        if problems:
            rows.append(RawRow(SOURCE, path.name, line, {}, raw, problems))
            continue
        c = dict(zip(COLUMNS, (f.strip() for f in fields), strict=True))
        exhibition = c["exhibition"]
        house = house_slug(c["auction_house"])
        date_text = c["auction_date"]
        first_day = date_text.split("-")[0].strip()
        code = hashlib.sha1(f"{c['auction_house']}|{exhibition}".encode()).hexdigest()[:8]
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", first_day)
        ymd = f"{m[3]}{int(m[1]):02d}{int(m[2]):02d}" if m else "nodate"
        rows.append(RawRow(SOURCE, path.name, line, {
            "source": SOURCE, "house": house, "auction_house": c["auction_house"],
            "sale_id": f"{house}-ny-{ymd}-{code}", "sale_title": exhibition, "sale_date": first_day,
            "sale_location": c["city"] or "New York", "sale_currency": "USD",
            "lot_label": c["auction_lot"], "artist_name": c["artist"], "title": c["title"],
            "medium": c["medium"], "created_text": c["created"], "dimensions_text": c["size"],
            "dimensions_unit": "in", "signature": c["signature"], "image_url": c["image_url"],
            "estimate_low": c["low_estimate"], "estimate_high": c["high_estimate"],
            "price": c["price"], "price_basis": "premium",
        }, raw))
    if not header_seen:
        notes.append(f"{path.name}: no header line; read by position")
    return FileRead(path, enc, notes, rows)
