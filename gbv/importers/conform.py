"""Raw importer rows -> conformed lots (LOT_COLUMNS), with the :mod:`gbv.normalize` functions.

Differences from :func:`gbv.staging.conform_lots` (which serves the crawlers): lot numbers may carry a letter
(``12A``; ``lot_number`` keeps 12, ``lot_ref`` keeps ``0012a``); a price cell may state a status
(:func:`gbv.normalize.money.price_status`); premium-inclusive prices use the house's sale-room schedule
(:func:`gbv.normalize.premium.schedule_key`), through HK$ for askART-HK's USD amounts; a source's own exchange rate
(Arthena) beats the annual table.

Status: ``sold`` (price known), ``sold`` with a null hammer for "not communicated" (sold, price unpublished:
stored, never used for training, which needs a hammer price), ``bought_in``, ``withdrawn``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from typing import Any

from gbv.importers.base import RawRow
from gbv.normalize.dates import parse_created, parse_sale_date
from gbv.normalize.dimensions import parse_dimensions
from gbv.normalize.errors import NormalizationError, is_missing
from gbv.normalize.fx import UnknownCurrency, usd_per_unit
from gbv.normalize.medium import classify_medium
from gbv.normalize.money import parse_money, price_status
from gbv.normalize.premium import UnknownPremiumSchedule, hammer_from_premium, schedule_key
from gbv.normalize.status import normalize_signature

LOT_RE = re.compile(r"^\s*(\d{1,6})\s*([A-Za-z]{0,2})\s*(WITHDRAWN)?\s*$", re.IGNORECASE)


def parse_lot_label(text: Any) -> tuple[int, str, bool]:
    """``"13c WITHDRAWN"`` -> ``(13, "c", True)``; raises NormalizationError otherwise."""
    if not isinstance(text, str) or not LOT_RE.match(text):
        raise NormalizationError("lot_number", text, "not a lot number (digits, optional letter)")
    m = LOT_RE.match(text)
    return int(m[1]), m[2].lower(), bool(m[3])


def _t(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return None if is_missing(s) else s


def _amount(f: dict, name: str, currency: str, errors: list) -> float:
    v = f.get(name)
    if v is None or is_missing(v):
        return math.nan
    try:
        m = parse_money(v, currency, field=name)
    except NormalizationError as exc:
        errors.append((name, f"unparsable {name} {v!r}: {exc.reason}"))
        return math.nan
    if m.currency and m.currency != currency:
        errors.append((name, f"{name} {v!r} is in {m.currency}, the sale currency is {currency}"))
        return math.nan
    return m.amount


def conform_row(row: RawRow, warnings: Counter) -> tuple[dict | None, list[tuple[str, str]]]:
    """One raw row -> (lot record without artist identity / *_usd, errors)."""
    f = row.fields
    errors: list[tuple[str, str]] = list(row.problems)
    if errors:
        return None, errors
    house = _t(f.get("house"))
    sale_id = _t(f.get("sale_id"))
    if not house:
        errors.append(("house", "no auction house"))
    if not sale_id or "nodate" in sale_id:
        errors.append(("sale_id", f"no sale identifier (sale date {f.get('sale_date')!r})"))
    lot_number, suffix, withdrawn_flag = None, "", False
    try:
        lot_number, suffix, withdrawn_flag = parse_lot_label(f.get("lot_label"))
    except NormalizationError as exc:
        errors.append(("lot_number", f"unparsable lot number {f.get('lot_label')!r}: {exc.reason}"))
    sale_date = None
    try:
        sale_date = parse_sale_date(f.get("sale_date"))
    except NormalizationError as exc:
        errors.append(("sale_date", f"unparsable sale date {f.get('sale_date')!r}: {exc.reason}"))
    currency = (_t(f.get("sale_currency")) or "").upper() or None
    if currency is None:
        errors.append(("sale_currency", "no sale currency"))
    fx = math.nan
    if currency and sale_date:
        given = _t(f.get("fx_usd"))
        try:
            fx = float(given) if given else usd_per_unit(currency, sale_date)
            if not fx > 0:
                raise ValueError
        except UnknownCurrency:
            errors.append(("sale_currency", f"unknown currency {currency!r}"))
        except ValueError:
            errors.append(("fx_usd", f"bad exchange rate {given!r}"))
    est_low = _amount(f, "estimate_low", currency or "USD", errors)
    est_high = _amount(f, "estimate_high", currency or "USD", errors)

    # ---- price -> status and hammer -------------------------------------------------------------
    price_text = f.get("price")
    stated = price_status(price_text) if isinstance(price_text, str) else None
    status = _t(f.get("status"))
    hammer = math.nan
    if withdrawn_flag or stated == "withdrawn":
        status = "withdrawn"
    elif stated == "bought_in":
        status = "bought_in"
    elif stated == "sold_price_unknown":
        status = "sold"
        warnings["sold_price_unknown"] += 1
    elif price_text is None or is_missing(price_text):
        status = status or f.get("blank_price_means") or "bought_in"
    else:
        price = _amount(f, "price", currency or "USD", errors)
        if not math.isnan(price):
            if price <= 0:
                errors.append(("price", f"non-positive price {price_text!r}"))
            elif f.get("price_basis") == "premium" and house and sale_date:
                sched_cur = f.get("schedule_currency") or currency
                key = schedule_key(house, sched_cur, f.get("sale_location"))
                try:
                    if sched_cur != currency:  # askART-HK: USD amounts, HK$ schedule
                        rate = usd_per_unit(sched_cur, sale_date) / (fx if fx == fx else 1.0)
                        hammer = hammer_from_premium(price / rate, key, sale_date) * rate
                    else:
                        hammer = hammer_from_premium(price, key, sale_date)
                    hammer = round(hammer, 2)
                except UnknownPremiumSchedule:
                    errors.append(("price_basis", f"premium-inclusive price {price_text!r} but no buyer's "
                                                  f"premium schedule for {house!r}"))
            else:
                hammer = price
            status = "sold"
    if errors:
        return None, errors
    if f.get("place_currency_mismatch"):
        warnings["place_currency_mismatch"] += 1

    # ---- the work -------------------------------------------------------------------------------
    year_created = None
    ct = f.get("created_text")
    if ct is not None and not is_missing(ct):
        try:
            year_created = parse_created(ct)
        except NormalizationError:
            warnings["created_unparsed"] += 1
    h = w = d = None
    dims = _t(f.get("dimensions_text"))
    if dims and not dims.casefold().startswith("dimensions not"):
        text = dims
        if f.get("dimensions_unit") == "in" and '"' not in text and re.fullmatch(r"[\d.\sx]+", text):
            text += " in"  # askART bare numbers are inches
        elif f.get("dimensions_unit") == "in" and not re.search(r"cm|mm|in", text):
            text += '"'  # closing inch mark missing: '30.00" x 22.25'
        try:
            h, w, d = parse_dimensions(text)
        except NormalizationError:
            if re.fullmatch(r"\s*[\d.]+\s*(?:in)?", text):  # one number: a height only
                try:
                    h = round(float(text.replace("in", "").strip()) * 2.54, 3)
                except ValueError:
                    warnings["dimensions_unparsed"] += 1
            else:
                warnings["dimensions_unparsed"] += 1
    medium = _t(f.get("medium"))
    mc = classify_medium(medium)
    if medium and mc is None:
        warnings["medium_unclassified"] += 1
    return {
        "lot_ref": f"{sale_id}-{lot_number:04d}{suffix}",
        "lot_label": f"{lot_number}{suffix.upper()}",
        "source": row.source, "house": house, "auction_house": _t(f.get("auction_house")),
        "sale_id": sale_id, "sale_title": _t(f.get("sale_title")), "sale_date": sale_date,
        "sale_location": _t(f.get("sale_location")), "sale_currency": currency, "lot_number": lot_number,
        "artist_name_raw": f.get("artist_name"),
        "artist_birth_year": _t(f.get("artist_birth_year")), "artist_death_year": _t(f.get("artist_death_year")),
        "artist_nationality": _t(f.get("artist_nationality")),
        "title": _t(f.get("title")), "medium": medium, "medium_class": mc, "year_created": year_created,
        "height_cm": h, "width_cm": w, "depth_cm": d, "signature": normalize_signature(f.get("signature")),
        "description": _t(f.get("description")), "edition": _t(f.get("edition")),
        "image_url": _t(f.get("image_url")) if "noimage" not in (f.get("image_url") or "") else None,
        "estimate_low": est_low, "estimate_high": est_high, "hammer_price": hammer, "fx_usd": fx,
        "status": status or "sold",
    }, []


def sale_day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
