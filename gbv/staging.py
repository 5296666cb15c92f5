"""Staging: raw crawl items (RAW_LOT_FIELDS, strings as found) -> conformed lots (LOT_COLUMNS).

``conform_lots(raw, run_date)`` parses every row with :mod:`gbv.normalize`:

* money in the sale currency, on the **hammer** basis (premium-inclusive prices are converted back with the
  house's buyer's-premium schedule for the sale date), ``fx_usd`` = USD per unit on the sale date, ``*_usd``;
* sizes in cm, sale date, creation year, medium class, signature, status, artist identity;
* ``lot_ref = f"{house}-{sale_id}-{lot_number:04d}{suffix}"``, ``artist_id``, ``artwork_id``: a lot number with a
  letter (``"3254A"``: a lot inserted after 3254; Bonhams' ``sSaleLotNoA``) keeps its number in ``lot_number``
  and the letter, lower-cased, in ``lot_ref`` (``...-3254a``), as the importers do.

A row whose required field cannot be read (sale date, lot number, house, sale id, artist name, currency, a
price or estimate that won't parse, a non-positive amount, ``estimate_low > estimate_high``) goes to the
quarantine frame (one row per failing field, with the raw row as JSON payload); the other rows go through.
Unreadable optional fields (dimensions, creation year, artist dates, medium class) become null and are
counted in ``warnings``. Duplicate ``lot_ref``s in one batch: the last one (input order) wins, and they are
counted too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gbv.contracts import LOT_COLUMNS, QUARANTINE_COLUMNS, RAW_LOT_FIELDS
from gbv.normalize.dates import created_contradiction, parse_created, parse_sale_date
from gbv.normalize.dimensions import parse_dimensions
from gbv.normalize.errors import NormalizationError, is_missing
from gbv.normalize.fx import UnknownCurrency, usd_per_unit
from gbv.normalize.medium import classify_medium
from gbv.normalize.money import parse_money
from gbv.normalize.names import (
    artist_key,
    artwork_key,
    normalize_artist_name,
    parse_artist_dates,
    slugify,
    year_or_none,
)
from gbv.normalize.premium import UnknownPremiumSchedule, hammer_from_premium
from gbv.normalize.status import normalize_signature, normalize_status
from gbv.settings import UnsafeName, safe_component

log = logging.getLogger(__name__)

STAGE = "conform"
INT_COLUMNS = ("lot_number", "artist_birth_year", "artist_death_year", "year_created")
FLOAT_COLUMNS = (
    "height_cm",
    "width_cm",
    "depth_cm",
    "estimate_low",
    "estimate_high",
    "hammer_price",
    "fx_usd",
    "estimate_low_usd",
    "estimate_high_usd",
    "hammer_usd",
)
USD_COLUMNS = ("estimate_low_usd", "estimate_high_usd", "hammer_usd")
PREMIUM_BASES = {
    "premium",
    "premium-inclusive",
    "premium inclusive",
    "buyers premium",
    "buyer's premium",
    "with premium",
    "incl. premium",
}
HAMMER_BASES = {"hammer", "hammer price"}


@dataclass
class StagingResult:
    """Conformed lots (exactly LOT_COLUMNS), quarantined rows (exactly QUARANTINE_COLUMNS) and counters.

    ``warnings`` counts soft problems: ``dimensions_unparsed``, ``created_unparsed``, ``created_before_birth`` and
    ``created_after_sale`` (the year dropped, the lot kept), ``artist_dates_unparsed``, ``medium_unclassified``,
    ``status_unknown``, ``price_basis_assumed_hammer``, ``duplicate_lot_ref``.
    """

    lots: pd.DataFrame
    quarantine: pd.DataFrame
    warnings: Counter = field(default_factory=Counter)
    n_rows: int = 0

    @property
    def n_quarantined_rows(self) -> int:
        """Input rows quarantined (a row failing on several fields counts once)."""
        return int(self.quarantine["row_number"].nunique()) if len(self.quarantine) else 0


class _RowError(Exception):
    pass


def nul_errors(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for every text cell holding a NUL character: no database stores it (PostgreSQL refuses
    the whole load), so the row is quarantined rather than the night sunk or the character silently dropped."""
    return [
        (str(name), f"{name} contains a NUL character (\\x00)")
        for name, value in row.items()
        if isinstance(value, str) and "\x00" in value
    ]


def _text(value: Any) -> str | None:
    """Strip a raw cell to text; None for missing markers (empty, NaN, None)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    s = str(value).strip()
    return s or None


LOT_LABEL_RE = re.compile(r"(\d+)(?:\.0+|\s*([A-Za-z]{1,2}))?")


def _lot_number(value: Any) -> tuple[int, str]:
    """A lot number -> (its number, its letter suffix lower-cased): ``12`` / ``"0012"`` / ``"12.0"`` ->
    ``(12, "")``; ``"3254A"`` / ``"12 b"`` -> ``(3254, "a")`` / ``(12, "b")`` (a letter lot inserted after lot
    3254, Bonhams' ``sSaleLotNoA``), as the importers read askART's ``13c``."""
    if isinstance(value, bool):
        raise NormalizationError("lot_number", value, "not a lot number")
    suffix = ""
    if isinstance(value, (int, np.integer)):
        n = int(value)
    elif isinstance(value, (float, np.floating)):
        if math.isnan(value) or not float(value).is_integer():
            raise NormalizationError("lot_number", value, "not a whole lot number")
        n = int(value)
    elif isinstance(value, str) and (m := LOT_LABEL_RE.fullmatch(value.strip())):
        n, suffix = int(m[1]), (m[2] or "").lower()  # "0012", "12.0" (went through a float column), "3254A"
    else:
        raise NormalizationError("lot_number", value, "not a lot number (digits, optional letter)")
    if not 0 <= n <= 999_999:
        raise NormalizationError("lot_number", value, "lot number out of range")
    return n, suffix


@lru_cache(maxsize=4096)
def _fx(currency: str, year: int) -> float:
    return usd_per_unit(currency, year)


def _payload(row: dict[str, Any]) -> str:
    clean = {}
    for k, v in row.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        clean[k] = v
    return json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str)


def _money(
    row: dict[str, Any], name: str, currency: str | None, errors: list[tuple[str, str]]
) -> tuple[float, str | None]:
    """Parse one money cell; returns (amount or NaN, currency it names or None)."""
    value = row.get(name)
    if value is None or is_missing(value):
        return math.nan, None
    try:
        money = parse_money(value, currency, field=name)
    except NormalizationError as exc:
        errors.append((name, f"unparsable {name} {value!r}: {exc.reason}"))
        return math.nan, None
    if currency and money.currency and money.currency != currency:
        errors.append((name, f"{name} {value!r} is in {money.currency}, the sale currency is {currency}"))
        return math.nan, None
    if money.amount <= 0:
        errors.append((name, f"non-positive {name} {value!r}"))
        return math.nan, None
    return money.amount, money.currency


def _conform_row(
    row: dict[str, Any], run_day: dt.date, warnings: Counter
) -> tuple[dict[str, Any] | None, list[tuple[str, str]], str | None]:
    """One raw row -> (lot or None, [(field, reason)], row_ref)."""
    errors: list[tuple[str, str]] = nul_errors(row)

    # ---- identity: house, sale, lot number -> lot_ref -------------------------------------------
    house = _text(row.get("house"))
    if house is None and _text(row.get("auction_house")):
        house = slugify(_text(row.get("auction_house")))
    if house is None:
        errors.append(("house", "no house slug or auction_house"))
    else:
        try:
            safe_component(house, "house")
        except UnsafeName:
            errors.append(("house", f"unsafe house slug {house!r}"))
            house = None
    sale_id = _text(row.get("sale_id"))
    if sale_id is None:
        errors.append(("sale_id", "no sale_id"))
    lot_number: int | None = None
    lot_suffix = ""
    try:
        lot_number, lot_suffix = _lot_number(row.get("lot_number"))
    except NormalizationError as exc:
        errors.append(("lot_number", f"unparsable lot_number {row.get('lot_number')!r}: {exc.reason}"))
    lot_ref = (
        f"{house}-{sale_id}-{lot_number:04d}{lot_suffix}" if house and sale_id and lot_number is not None else None
    )
    row_ref = lot_ref or _text(row.get("url"))

    # ---- sale date and currency -----------------------------------------------------------------
    sale_date: dt.date | None = None
    try:
        sale_date = parse_sale_date(row.get("sale_date") if not is_missing(row.get("sale_date")) else None)
    except NormalizationError as exc:
        errors.append(("sale_date", f"unparsable sale_date {row.get('sale_date')!r}: {exc.reason}"))

    currency = _text(row.get("sale_currency"))
    currency = currency.upper() if currency else None
    est_low, cur_low = _money(row, "estimate_low", currency, errors)
    est_high, cur_high = _money(row, "estimate_high", currency, errors)
    price, cur_price = _money(row, "price", currency, errors)
    if currency is None:
        named = {c for c in (cur_low, cur_high, cur_price) if c}
        if len(named) == 1:
            currency = named.pop()
        elif len(named) > 1:
            errors.append(
                ("sale_currency", f"no sale_currency and the amounts name several: {sorted(named)}")
            )
        elif not (math.isnan(est_low) and math.isnan(est_high) and math.isnan(price)):
            errors.append(("sale_currency", "no sale_currency and the amounts name none"))
    fx = math.nan
    if currency is not None:
        try:
            fx = _fx(currency, (sale_date or run_day).year)
        except UnknownCurrency:
            errors.append(("sale_currency", f"unknown currency {row.get('sale_currency')!r}"))
    if not math.isnan(est_low) and not math.isnan(est_high) and est_low > est_high:
        errors.append(
            (
                "estimate_low",
                f"estimate_low {row.get('estimate_low')!r} is above estimate_high "
                f"{row.get('estimate_high')!r}",
            )
        )

    # ---- price -> hammer basis ------------------------------------------------------------------
    hammer = math.nan
    if not math.isnan(price):
        basis = (_text(row.get("price_basis")) or "").casefold()
        if basis in PREMIUM_BASES:
            if house and sale_date:
                try:
                    hammer = round(hammer_from_premium(price, house, sale_date), 2)
                except UnknownPremiumSchedule:
                    errors.append(
                        (
                            "price_basis",
                            f"premium-inclusive price {row.get('price')!r} but no buyer's "
                            f"premium schedule for house {house!r}",
                        )
                    )
        elif basis in HAMMER_BASES or basis == "":
            if basis == "":
                warnings["price_basis_assumed_hammer"] += 1
            hammer = price
        else:
            errors.append(("price_basis", f"unknown price_basis {row.get('price_basis')!r}"))

    # ---- artist ---------------------------------------------------------------------------------
    artist_name = None
    try:
        artist_name = normalize_artist_name(row.get("artist_name"))
    except NormalizationError as exc:
        errors.append(("artist_name", f"bad artist_name {row.get('artist_name')!r}: {exc.reason}"))

    if errors:
        return None, errors, row_ref

    birth = year_or_none(row.get("artist_birth_year"))
    death = year_or_none(row.get("artist_death_year"))
    nationality = _text(row.get("artist_nationality"))
    dates_text = row.get("artist_dates")
    if not is_missing(dates_text):
        try:
            nat2, birth2, death2 = parse_artist_dates(dates_text)
            nationality = nationality or nat2
            birth = birth if birth is not None else birth2
            death = death if death is not None else death2
        except NormalizationError:
            warnings["artist_dates_unparsed"] += 1

    # ---- work -----------------------------------------------------------------------------------
    title = _text(row.get("title"))
    medium = _text(row.get("medium"))
    medium_class = classify_medium(medium)
    if medium and medium_class is None:
        warnings["medium_unclassified"] += 1
    year_created = None
    created_text = row.get("created_text")
    if not is_missing(created_text):
        try:
            year_created = parse_created(created_text)
        except NormalizationError:
            warnings["created_unparsed"] += 1
    if why := created_contradiction(year_created, birth, sale_date):  # the year is wrong, not the lot
        warnings[why] += 1
        year_created = None
    h = w = d = None
    dims_text = row.get("dimensions_text")
    if not is_missing(dims_text):
        try:
            h, w, d = parse_dimensions(dims_text)
        except NormalizationError:
            warnings["dimensions_unparsed"] += 1

    # ---- status ---------------------------------------------------------------------------------
    price_present = not math.isnan(hammer)
    past = sale_date <= run_day
    try:
        status = normalize_status(_text(row.get("status")), price_present, past=past)
    except NormalizationError:
        warnings["status_unknown"] += 1
        status = normalize_status(None, price_present, past=past)

    artist_id = artist_key(artist_name, birth)
    lot = {
        "lot_ref": lot_ref,
        "source": _text(row.get("source")),
        "house": house,
        "auction_house": _text(row.get("auction_house")),
        "sale_id": sale_id,
        "sale_title": _text(row.get("sale_title")),
        "sale_date": sale_date,
        "sale_location": _text(row.get("sale_location")),
        "sale_currency": currency,
        "lot_number": lot_number,
        "artist_id": artist_id,
        "artist_name": artist_name,
        "artist_birth_year": birth,
        "artist_death_year": death,
        "artist_nationality": nationality,
        "artwork_id": artwork_key(artist_id, title, year_created, h, w),
        "title": title,
        "medium": medium,
        "medium_class": medium_class,
        "year_created": year_created,
        "height_cm": h,
        "width_cm": w,
        "depth_cm": d,
        "signature": normalize_signature(row.get("signature")),
        "description": _text(row.get("description")),
        "edition": _text(row.get("edition")),
        "image_url": _text(row.get("image_url")),
        "estimate_low": est_low,
        "estimate_high": est_high,
        "hammer_price": hammer,
        "fx_usd": fx,
        "status": status,
    }
    return lot, [], row_ref


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS}).astype(
        {"row_number": "Int64"}
    )


def finish_batch(records: list[dict[str, Any]], quarantined: list[dict[str, Any]],
                 warnings: Counter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conformed rows -> lots (a lot_ref seen twice in one batch: the last row wins, counted in ``warnings``)
    and the batch's quarantine frame."""
    lots = finish_lots(records)
    before = len(lots)
    lots = lots.drop_duplicates("lot_ref", keep="last").reset_index(drop=True)
    if before != len(lots):
        warnings["duplicate_lot_ref"] += before - len(lots)
    quarantine = (
        pd.DataFrame.from_records(quarantined, columns=list(QUARANTINE_COLUMNS))
        if quarantined
        else empty_quarantine()
    )
    return lots, quarantine


def finish_lots(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records -> a frame with exactly LOT_COLUMNS and the contract's dtypes; ``*_usd`` computed here."""
    lots = pd.DataFrame.from_records(records, columns=[c for c in LOT_COLUMNS if c not in USD_COLUMNS])
    for col in INT_COLUMNS:
        lots[col] = pd.array(lots[col].tolist(), dtype="Int64") if len(lots) else pd.Series(dtype="Int64")
    for col in (
        "height_cm",
        "width_cm",
        "depth_cm",
        "estimate_low",
        "estimate_high",
        "hammer_price",
        "fx_usd",
    ):
        lots[col] = pd.to_numeric(lots[col], errors="coerce").astype("float64")
    lots["estimate_low_usd"] = lots["estimate_low"] * lots["fx_usd"]
    lots["estimate_high_usd"] = lots["estimate_high"] * lots["fx_usd"]
    lots["hammer_usd"] = lots["hammer_price"] * lots["fx_usd"]
    lots["sale_date"] = lots["sale_date"].astype("object")
    for col in lots.columns:  # text as pandas' Arrow-backed strings, whatever a batch's first values were
        if lots[col].dtype == object and col != "sale_date":
            lots[col] = lots[col].astype("str")
    return lots[list(LOT_COLUMNS)].reset_index(drop=True)


def conform_lots(raw: pd.DataFrame, run_date: str, *, first_row: int = 1) -> StagingResult:
    """Conform a batch of raw crawl items (see module docstring). ``run_date`` is ISO ``YYYY-MM-DD``;
    quarantined rows are numbered from ``first_row`` (the batch's position in a larger frame)."""
    run_day = dt.date.fromisoformat(str(run_date)[:10])
    warnings: Counter = Counter()
    records: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    columns = [c for c in RAW_LOT_FIELDS if c in raw.columns] + [
        c for c in raw.columns if c not in RAW_LOT_FIELDS
    ]
    rows = raw[columns].astype("object").to_dict("records") if len(raw) else []
    for number, row in enumerate(rows, start=first_row):
        try:
            lot, errors, row_ref = _conform_row(row, run_day, warnings)
        except Exception as exc:  # a bug must not sink the night: quarantine the row and say so loudly
            log.exception("conform: unexpected error on row %d", number)
            warnings["unexpected_error"] += 1
            lot, errors, row_ref = (
                None,
                [("row", f"unexpected error {type(exc).__name__}: {exc}")],
                _text(row.get("url")),
            )
        if lot is not None:
            records.append(lot)
            continue
        payload = _payload(row)
        for field_name, reason in errors:
            quarantined.append(
                {
                    "run_date": str(run_date),
                    "stage": STAGE,
                    "source": _text(row.get("source")),
                    "row_ref": row_ref,
                    "row_number": number,
                    "field": field_name,
                    "reason": reason,
                    "payload": payload,
                }
            )

    lots, quarantine = finish_batch(records, quarantined, warnings)
    if len(quarantine):
        quarantine["row_number"] = quarantine["row_number"].astype("Int64")
    result = StagingResult(lots=lots, quarantine=quarantine, warnings=warnings, n_rows=len(rows))
    log.info(
        "conform %s: %d rows -> %d lots, %d rows quarantined (%d reasons); warnings %s",
        run_date,
        len(rows),
        len(lots),
        result.n_quarantined_rows,
        len(quarantine),
        dict(warnings),
    )
    return result


CONFORM_CHUNK_ROWS = 50_000


def conform_in_chunks(raw: pd.DataFrame, run_date: str, chunk_rows: int = CONFORM_CHUNK_ROWS) -> StagingResult:
    """:func:`conform_lots` over ``raw`` ``chunk_rows`` rows at a time, with the same result as one call.

    Conforming builds a Python dict per row; a chunk at a time keeps that to one chunk's worth (a million-lot
    night otherwise holds gigabytes of dicts). Rows keep their numbering in ``raw``; a ``lot_ref`` seen in two
    chunks keeps its last row, as within one batch, and is counted in ``warnings["duplicate_lot_ref"]``.
    """
    if len(raw) <= chunk_rows:
        return conform_lots(raw, run_date)
    lots, quarantines, warnings = [], [], Counter()
    for start in range(0, len(raw), chunk_rows):
        part = conform_lots(raw.iloc[start:start + chunk_rows], run_date, first_row=start + 1)
        lots.append(part.lots)
        quarantines.append(part.quarantine)
        warnings.update(part.warnings)
    all_lots = pd.concat(lots, ignore_index=True)
    del lots
    before = len(all_lots)
    all_lots = all_lots.drop_duplicates("lot_ref", keep="last").reset_index(drop=True)
    if before != len(all_lots):
        warnings["duplicate_lot_ref"] += before - len(all_lots)
    quarantine = pd.concat([q for q in quarantines if len(q)], ignore_index=True) \
        if any(len(q) for q in quarantines) else empty_quarantine()
    return StagingResult(lots=all_lots, quarantine=quarantine, warnings=warnings, n_rows=len(raw))


def read_raw_jsonl(paths: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """Read landing-zone JSONL file(s) into a frame with RAW_LOT_FIELDS (values kept as written; object dtype).

    A line that is not a JSON object raises ``ValueError`` naming the file and line: the landing zone is
    written by our own spiders, so a broken line is a bug to see, not a row to skip.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    items: list[dict[str, Any]] = []
    for path in paths:
        path = Path(path)
        with path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{i}: not JSON ({exc.msg})") from None
                if not isinstance(item, dict):
                    raise ValueError(f"{path}:{i}: not a JSON object")
                items.append(item)
    frame = pd.DataFrame({c: pd.Series([it.get(c) for it in items], dtype="object") for c in RAW_LOT_FIELDS})
    return frame
