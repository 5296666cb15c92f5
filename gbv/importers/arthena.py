"""Arthena's lot data (``picasso.csv``, ``warhol.csv``, ``lewitt.csv``): 28 named columns.

``-1`` means missing anywhere. ``hammer_price`` is the **true hammer** in the sale currency; ``-1`` = not sold,
except 51 rows whose ``buyers_premium`` holds the premium-inclusive price plus 1 (``31251`` for a lot sold for
31,250 with premium): those are read as sold at ``buyers_premium - 1`` premium-inclusive (hammer derived with the
house's schedule). ``exchange_rate_to_usd`` (USD per unit on the sale date) is used as ``fx_usd``. Dimensions
come from ``work_dimensions`` parsed by us (comma decimals, cm/mm/in), not from the broken parsed columns.
CRLF and bare LF inside quoted descriptions are kept. Where the sale's place and currency disagree, the currency
(consistent with the exchange rate) is kept and the row is counted as ``place_currency_mismatch``.
"""

from __future__ import annotations

from pathlib import Path

from gbv.importers.base import (
    FileRead,
    ImportFileError,
    RawRow,
    header_and_records,
    read_text,
    shape_problems,
)

SOURCE = "arthena"
COLUMNS = ("artist_name", "artist_nationality", "artist_birth_year", "artist_death_year", "auction_house",
           "auction_sale_id", "auction_department", "auction_location", "auction_date", "auction_currency",
           "exchange_rate_to_usd", "auction_lot_count", "lot_id", "lot_place_in_auction", "lot_description",
           "lot_link", "work_title", "work_medium", "work_execution_year", "work_dimensions", "work_height",
           "work_width", "work_depth", "work_measurement_unit", "hammer_price", "buyers_premium", "estimate_low",
           "estimate_high")
REQUIRED = ("artist_name", "auction_house", "auction_sale_id", "auction_date", "auction_currency", "lot_id",
            "hammer_price", "buyers_premium", "estimate_low", "estimate_high")
HOUSES = {"christies": "christies", "sothebys": "sothebys", "phillips": "phillips", "bonhams": "bonhams"}
HOME_CURRENCY = {"new york": "USD", "london": "GBP", "olympia": "GBP", "paris": "EUR", "amsterdam": "EUR",
                 "milan": "EUR", "hong kong": "HKD", "shanghai": "CNY"}


def looks_like(head: str) -> bool:
    return head.lstrip("\ufeff").startswith("artist_name,artist_nationality,artist_birth_year")


def _missing(v: str) -> bool:
    return v.strip() in {"", "-1", "-1.0"}


def parse(path: Path) -> FileRead:
    text, enc, notes = read_text(path)
    header, records = header_and_records(path, text)
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(f"{path}: Arthena file is missing required column(s) {missing}")
    idx = {c: header.index(c) for c in COLUMNS if c in header}
    rows: list[RawRow] = []
    for line, fields, raw, truncated in records:
        problems = shape_problems(fields, truncated, len(header))
        if problems:
            rows.append(RawRow(SOURCE, path.name, line, {}, raw, problems))
            continue
        c = {k: fields[i] for k, i in idx.items()}
        def g(k: str, c: dict = c) -> str | None:
            return None if k not in c or _missing(c[k]) else c[k].strip()
        house = HOUSES.get(c["auction_house"].strip().casefold(), c["auction_house"].strip().casefold())
        hammer, bp = g("hammer_price"), g("buyers_premium")
        price, basis, status = hammer, "hammer", None
        if hammer is None:
            try:
                bpv = float(bp) if bp is not None else None
            except ValueError:
                bpv = None
            if bpv is not None and bpv > 100:  # the 51 rows: premium-inclusive price + 1
                price, basis, status = f"{bpv - 1:.2f}", "premium", "sold"
            else:
                price, status = None, "bought_in"
        location = g("auction_location")
        currency = (g("auction_currency") or "").upper() or None
        mismatch = bool(location and currency and HOME_CURRENCY.get(location.casefold(), currency) != currency)
        dims = g("work_dimensions")
        sale_id = g("auction_sale_id")
        rows.append(RawRow(SOURCE, path.name, line, {
            "source": SOURCE, "house": house, "auction_house": c["auction_house"].strip(),
            "sale_id": f"{house}-{sale_id}" if sale_id else None, "sale_title": g("auction_department"),
            "sale_date": (g("auction_date") or "")[:10] or None, "sale_location": location,
            "sale_currency": currency, "fx_usd": g("exchange_rate_to_usd"),
            "lot_label": g("lot_id"), "artist_name": g("artist_name"),
            "artist_birth_year": g("artist_birth_year"), "artist_death_year": g("artist_death_year"),
            "artist_nationality": g("artist_nationality"), "title": g("work_title"),
            "medium": g("work_medium"), "created_text": g("work_execution_year"),
            "dimensions_text": dims, "description": g("lot_description"), "url": g("lot_link"),
            "estimate_low": g("estimate_low"), "estimate_high": g("estimate_high"),
            "price": price, "price_basis": basis, "status": status,
            "place_currency_mismatch": mismatch,
        }, raw))
    return FileRead(path, enc, notes, rows)
