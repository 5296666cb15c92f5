"""askART exports of Hong Kong sales: two schemas, told apart by their header.

* Christie's (``HK_Christies_*.csv``): ``Artist, Title, Sales_Price_Dollar, Low_Estimate, High_estimate,
  Signature, Size, Edition, Foundry, Created, Medium_Clean, Medium, Auction_Lot, Auction_Date`` (``MM/DD/YYYY``).
* Sotheby's (``HK_Sothebys_*.csv``): ``artist, title, online_dummy, sales_dollar, dummy_sold,
  low_estimate_dollar, high_estimate_dollar, signed, size_cm, edition, foundry, created, category, Medium,
  auction_lot, auction_date, auction_location`` (``M/D/YY``).

Money: plain numbers in **USD converted by askART** from HKD; prices premium-inclusive (the Hong Kong schedule is in
HK$, so the importer converts to HK$ at the annual rate, removes the premium, and converts back), estimates hammer
basis. Blank price = bought in; ``[not communicated]`` = sold, price unpublished; ``WITHDRAWN`` in the lot number =
withdrawn. Christie's ``Size`` holds inches then cm; Sotheby's ``size_cm`` may have ``Foundry: ...`` glued on.
The sale is the house and date (no sale name in these files).
"""

from __future__ import annotations

import re
from pathlib import Path

from gbv.importers.base import (
    FileRead,
    ImportFileError,
    RawRow,
    header_and_records,
    read_text,
    shape_problems,
)

SOURCE = "askart-hk"
CHRISTIES = ("Artist", "Title", "Sales_Price_Dollar", "Low_Estimate", "High_estimate", "Signature", "Size",
             "Edition", "Foundry", "Created", "Medium_Clean", "Medium", "Auction_Lot", "Auction_Date")
SOTHEBYS = ("artist", "title", "online_dummy", "sales_dollar", "dummy_sold", "low_estimate_dollar",
            "high_estimate_dollar", "signed", "size_cm", "edition", "foundry", "created", "category", "Medium",
            "auction_lot", "auction_date", "auction_location")


def looks_like(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    return first.startswith(("Artist,Title,Sales_Price_Dollar", "artist,title,online_dummy"))


def _schema(header: list[str], path: Path) -> tuple[str, tuple[str, ...]]:
    names = [h.strip().lstrip("\ufeff") for h in header]
    for name, cols in (("christies", CHRISTIES), ("sothebys", SOTHEBYS)):
        overlap = len(set(cols) & set(names))
        if overlap >= len(cols) - 3:
            missing = [c for c in cols if c not in names]
            if missing:
                raise ImportFileError(f"{path}: askART HK {name} file is missing column(s) {missing}")
            return name, cols
    raise ImportFileError(f"{path}: header {names[:6]}... is neither askART HK schema (Christie's or Sotheby's)")


def _ymd(date_text: str) -> str:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", date_text.strip())
    if not m:
        return "nodate"
    y = m[3] if len(m[3]) == 4 else f"20{m[3]}"
    return f"{y}{int(m[1]):02d}{int(m[2]):02d}"


def parse(path: Path) -> FileRead:
    text, enc, notes = read_text(path)
    header, records = header_and_records(path, text)
    house, cols = _schema(header, path)
    idx = {c: header.index(c) if c in header else [h.strip().lstrip("\ufeff") for h in header].index(c)
           for c in cols}
    rows: list[RawRow] = []
    for line, fields, raw, truncated in records:
        problems = shape_problems(fields, truncated, len(header))
        if problems:
            rows.append(RawRow(SOURCE, path.name, line, {}, raw, problems))
            continue
        c = {k: fields[i] for k, i in idx.items()}
        if house == "christies":
            date_text, lot, price = c["Auction_Date"], c["Auction_Lot"], c["Sales_Price_Dollar"]
            f = {"artist_name": c["Artist"], "title": c["Title"], "estimate_low": c["Low_Estimate"],
                 "estimate_high": c["High_estimate"], "signature": c["Signature"],
                 "dimensions_text": c["Size"], "edition": c["Edition"], "created_text": c["Created"],
                 "medium": c["Medium"] or c["Medium_Clean"], "auction_house": "Christie's Hong Kong"}
        else:
            date_text, lot, price = c["auction_date"], c["auction_lot"], c["sales_dollar"]
            size = re.split(r"Foundry:", c["size_cm"], maxsplit=1)[0]
            f = {"artist_name": c["artist"], "title": c["title"], "estimate_low": c["low_estimate_dollar"],
                 "estimate_high": c["high_estimate_dollar"], "signature": c["signed"],
                 "dimensions_text": size, "edition": c["edition"], "created_text": c["created"],
                 "medium": c["Medium"] or c["category"],
                 "auction_house": c["auction_location"] or "Sotheby's Hong Kong"}
        ymd = _ymd(date_text)
        f.update({"source": SOURCE, "house": house, "sale_id": f"{house}-hk-{ymd}",
                  "sale_title": f"{f['auction_house']} {date_text.strip()}", "sale_date": date_text.strip(),
                  "sale_location": "Hong Kong", "sale_currency": "USD", "schedule_currency": "HKD",
                  "lot_label": lot, "price": price, "price_basis": "premium",
                  "blank_price_means": "bought_in"})
        rows.append(RawRow(SOURCE, path.name, line, {k: (v.strip() if isinstance(v, str) else v)
                                                      for k, v in f.items()}, raw))
    return FileRead(path, enc, notes, rows)
