"""Catalogue intake: the CSV an auction house sends to be valued -> lots (LOT_COLUMNS, status "upcoming").

Columns are :data:`gbv.contracts.CATALOGUE_COLUMNS`; only ``lot_ref`` and ``artist_name`` are required (a file
without one of them raises :class:`CatalogueError` naming the file and the column). Header names are matched
after trimming and lower-casing; unknown extra columns are ignored with a warning. UTF-8 with or without a
byte-order mark.

A row with no ``lot_ref`` or ``artist_name``, an unknown ``sale_currency``, an unreadable ``sale_date``, a
non-numeric or non-positive size, a non-numeric year, or a year that cannot be (an artist born after the sale or
dead after the run day, a work made after the sale or before its artist's birth) goes to quarantine (stage ``intake``, source = file
name, row_number = 1-based data row, the field and a reason naming the value); the other rows go through.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings as _warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gbv.contracts import CATALOGUE_COLUMNS, CATALOGUE_REQUIRED
from gbv.normalize.dates import created_contradiction, parse_created, parse_sale_date
from gbv.normalize.errors import NormalizationError, is_missing
from gbv.normalize.fx import UnknownCurrency, usd_per_unit
from gbv.normalize.medium import classify_medium
from gbv.normalize.names import artist_key, artwork_key, normalize_artist_name, slugify
from gbv.normalize.status import normalize_signature
from gbv.staging import _payload, finish_batch, nul_errors

log = logging.getLogger(__name__)

STAGE = "intake"


class CatalogueError(ValueError):
    """The catalogue file as a whole cannot be read (missing required column, not CSV, not UTF-8)."""


class CatalogueWarning(UserWarning):
    """Something in a catalogue file was ignored (e.g. unknown columns)."""


@dataclass
class IntakeResult:
    lots: pd.DataFrame  # exactly LOT_COLUMNS
    quarantine: pd.DataFrame  # exactly QUARANTINE_COLUMNS, stage "intake"
    n_rows: int  # data rows read from the file
    ignored_columns: tuple[str, ...] = ()
    warnings: Counter = field(default_factory=Counter)


def _cell(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip()
    return None if not s or is_missing(s) else s


def _number(text: str) -> float:
    t = text.strip().replace(" ", "")
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")  # comma decimal: "15,2"
    return float(t)


def _year(text: str | None, name: str, errors: list[tuple[str, str]]) -> int | None:
    if text is None:
        return None
    try:
        f = float(text)
    except ValueError:
        errors.append((name, f"non-numeric {name} {text!r}"))
        return None
    if math.isnan(f) or f == -1:
        return None
    if not f.is_integer() or not 1000 <= f <= 2100:
        errors.append((name, f"{name} {text!r} is not a year between 1000 and 2100"))
        return None
    return int(f)


def _impossible_years(birth: int | None, death: int | None, created: int | None, sale_date: dt.date | None,
                      run_day: dt.date) -> list[tuple[str, str]]:
    """Years that cannot be true of a lot offered on ``sale_date`` (the run day when the sale has no date): an
    artist born after the sale or dead after the run day, a work made after the sale or before its artist was
    born. Such a row is a data-entry error the model would extrapolate from (an artist's age at creation of -40
    years), so it is quarantined with the reason rather than valued. (A death after the sale is possible: an old
    sale's catalogue sent with today's facts about the artist.)"""
    when, what = (sale_date, f"the sale date {sale_date}") if sale_date else (run_day, f"the run day {run_day}")
    out = []
    if birth is not None and birth > when.year:
        out.append(("artist_birth_year", f"artist_birth_year {birth} is after {what}"))
    if death is not None and death > run_day.year:
        out.append(("artist_death_year", f"artist_death_year {death} is after the run day {run_day}"))
    why = created_contradiction(created, birth, when)
    if why == "created_after_sale":
        out.append(("year_created", f"year_created {created} is after {what}: the work is not made yet"))
    elif why == "created_before_birth":
        out.append(("year_created", f"year_created {created} is before artist_birth_year {birth}"))
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=False
        )
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise CatalogueError(f"{path.name}: empty file (no header line)") from None
    except pd.errors.ParserError as exc:
        raise CatalogueError(f"{path.name}: not a readable CSV file ({exc})") from None


def _conform_row(
    row: dict[str, Any], source: str, run_day: dt.date, warn: Counter
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = nul_errors(row)
    lot_ref = _cell(row, "lot_ref")
    if lot_ref is None:
        errors.append(("lot_ref", "empty lot_ref"))
    artist_name = None
    raw_artist = _cell(row, "artist_name")
    if raw_artist is None:
        errors.append(("artist_name", "empty artist_name"))
    else:
        try:
            artist_name = normalize_artist_name(raw_artist)
        except NormalizationError as exc:
            errors.append(("artist_name", f"bad artist_name {raw_artist!r}: {exc.reason}"))

    sale_date = None
    if (text := _cell(row, "sale_date")) is not None:
        try:
            sale_date = parse_sale_date(text)
        except NormalizationError as exc:
            errors.append(("sale_date", f"unreadable sale_date {text!r}: {exc.reason}"))
    currency = _cell(row, "sale_currency")
    fx = math.nan
    if currency is not None:
        currency = currency.upper()
        try:
            fx = usd_per_unit(currency, sale_date or run_day)
        except UnknownCurrency:
            errors.append(("sale_currency", f"unknown currency {_cell(row, 'sale_currency')!r}"))

    sizes: dict[str, float] = {}
    for name in ("height_cm", "width_cm", "depth_cm"):
        text = _cell(row, name)
        if text is None:
            continue
        try:
            value = _number(text)
        except ValueError:
            errors.append((name, f"non-numeric {name} {text!r}"))
            continue
        if not math.isfinite(value) or value <= 0 or value > 5000:
            errors.append((name, f"{name} {text!r} is not a size between 0 and 5000 cm"))
            continue
        sizes[name] = value

    birth = _year(_cell(row, "artist_birth_year"), "artist_birth_year", errors)
    death = _year(_cell(row, "artist_death_year"), "artist_death_year", errors)
    year_created = _year(_cell(row, "year_created"), "year_created", errors)
    if birth is not None and death is not None and death < birth:
        errors.append(("artist_death_year", f"artist_death_year {death} is before artist_birth_year {birth}"))
    errors += _impossible_years(birth, death, year_created, sale_date, run_day)
    if errors:
        return None, errors

    if year_created is None and (text := _cell(row, "created_text")) is not None:
        try:
            year_created = parse_created(text)
        except NormalizationError:
            warn["created_unparsed"] += 1
        # "1950s" reads as 1955, "19th century" as 1850: a free-text date that lands after the sale or before
        # the artist's birth is too vague to use, not wrong enough to refuse the lot
        if year_created is not None and _impossible_years(birth, None, year_created, sale_date, run_day):
            year_created = None
            warn["created_text_impossible"] += 1

    lot_number = None
    if (text := _cell(row, "lot_number")) is not None:
        if text.isdigit():
            lot_number = int(text)
        else:
            warn["lot_number_not_integer"] += 1

    auction_house = _cell(row, "auction_house")
    title = _cell(row, "title")
    medium = _cell(row, "medium")
    medium_class = classify_medium(medium)
    if medium and medium_class is None:
        warn["medium_unclassified"] += 1
    artist_id = artist_key(artist_name, birth)
    h, w = sizes.get("height_cm"), sizes.get("width_cm")
    return {
        "lot_ref": lot_ref,
        "source": source,
        "house": slugify(auction_house) if auction_house else None,
        "auction_house": auction_house,
        "sale_id": None,
        "sale_title": _cell(row, "sale_title"),
        "sale_date": sale_date,
        "sale_location": _cell(row, "sale_location"),
        "sale_currency": currency,
        "lot_number": lot_number,
        "artist_id": artist_id,
        "artist_name": artist_name,
        "artist_birth_year": birth,
        "artist_death_year": death,
        "artist_nationality": _cell(row, "artist_nationality"),
        "artwork_id": artwork_key(artist_id, title, year_created, h, w),
        "title": title,
        "medium": medium,
        "medium_class": medium_class,
        "year_created": year_created,
        "height_cm": h,
        "width_cm": w,
        "depth_cm": sizes.get("depth_cm"),
        "signature": normalize_signature(_cell(row, "signature")),
        "description": _cell(row, "description"),
        "edition": _cell(row, "edition"),
        "image_url": _cell(row, "image_url"),
        "estimate_low": math.nan,
        "estimate_high": math.nan,
        "hammer_price": math.nan,
        "fx_usd": fx,
        "status": "upcoming",
    }, []


def read_catalogue(path: Path, run_date: str | None = None) -> IntakeResult:
    """Read one catalogue CSV (see module docstring). ``run_date`` (ISO) stamps quarantine rows; default today."""
    path = Path(path)
    run_date = run_date or dt.date.today().isoformat()
    run_day = dt.date.fromisoformat(run_date[:10])
    frame = _read_csv(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in CATALOGUE_REQUIRED if c not in frame.columns]
    if missing:
        raise CatalogueError(
            f"{path.name}: missing required column(s): {', '.join(missing)} "
            f"(required: {', '.join(CATALOGUE_REQUIRED)})"
        )
    extra = tuple(c for c in frame.columns if c not in CATALOGUE_COLUMNS)
    if extra:
        message = f"{path.name}: ignoring unknown column(s): {', '.join(extra)}"
        log.warning(message)
        _warnings.warn(message, CatalogueWarning, stacklevel=2)
    known = [c for c in CATALOGUE_COLUMNS if c in frame.columns]
    rows = frame[known].to_dict("records")

    warn: Counter = Counter()
    records: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        lot, errors = _conform_row(row, path.name, run_day, warn)
        if lot is not None:
            records.append(lot)
            continue
        payload = _payload(row)
        for field_name, reason in errors:
            quarantined.append(
                {
                    "run_date": run_date,
                    "stage": STAGE,
                    "source": path.name,
                    "row_ref": _cell(row, "lot_ref"),
                    "row_number": number,
                    "field": field_name,
                    "reason": f"row {number}: {reason}",
                    "payload": payload,
                }
            )

    lots, quarantine = finish_batch(records, quarantined, warn)
    quarantine["row_number"] = quarantine["row_number"].astype("Int64")
    log.info(
        "intake %s: %d rows -> %d lots, %d quarantine reasons; warnings %s",
        path.name,
        len(rows),
        len(lots),
        len(quarantine),
        dict(warn),
    )
    return IntakeResult(
        lots=lots, quarantine=quarantine, n_rows=len(rows), ignored_columns=extra, warnings=warn
    )


@dataclass
class ArtistMatches:
    """What :func:`resolve_known_artists` did: the lots, the rows matched by name, and the rows whose name matched
    an artist whose birth contradicts the lot's years (refused: most likely another person of that name)."""
    lots: pd.DataFrame
    matched: int = 0
    refused: list[str] = field(default_factory=list)  # one line per refused row: lot_ref, the name, why
    filled: int = 0  # rows of a known artist that took the warehouse's death year (the catalogue left it blank)


def _fill_life_facts(lots: pd.DataFrame, history: pd.DataFrame, rows: np.ndarray) -> int:
    """Blank death years and nationalities of ``rows`` (artists the warehouse knows by their key) from the
    warehouse, in place: a catalogue that writes "Irena Costa, 1931" without her death year would value her as a
    living artist. Returns how many rows took a death year."""
    facts = history.loc[history["artist_id"].notna(), ["artist_id", "artist_death_year", "artist_nationality"]]
    facts = facts.groupby("artist_id", sort=False).first()  # the first non-null per column
    ids = lots.loc[rows, "artist_id"].astype(str)
    filled = 0
    for col in ("artist_death_year", "artist_nationality"):
        blank = lots.loc[rows, col].isna().to_numpy() & ids.isin(facts.index).to_numpy()
        if not blank.any():
            continue
        values = facts[col].reindex(ids[blank]).to_numpy()
        took = pd.notna(values)
        target = ids[blank].index[took]
        lots.loc[target, col] = values[took]
        if col == "artist_death_year":
            filled = int(took.sum())
    return filled


def resolve_known_artists(lots: pd.DataFrame, history: pd.DataFrame,
                          run_date: str | None = None) -> ArtistMatches:
    """``lots`` (from :func:`read_catalogue`) with each artist the catalogue names without the warehouse's key
    matched by name to the warehouse's artist (:class:`gbv.identity.ArtistResolver` over ``history``'s artists
    with a birth year: full name, first+last, sorted words; never a guess between two people of one name). A
    catalogue that writes "Irena Costa" without her birth year gets her sales history, not an unseen artist's
    range. Missing life dates and nationality come from the match; ``artwork_id`` follows the new key. A row that
    names a known artist by the warehouse's key takes their death year and nationality where it left them blank.

    The intake checked the row's years against the life dates it was given; a match brings a birth year the
    catalogue did not write. A match whose birth year makes the row impossible (the work made, or the sale held,
    before that artist was born) is refused: the name belongs to someone else (a namesake, an earlier generation),
    and the row is valued as an unseen artist, as it was, with the refusal reported."""
    from gbv.identity import ArtistRecord, ArtistResolver

    if len(lots) == 0 or history is None or len(history) == 0:
        return ArtistMatches(lots)
    known = set(history["artist_id"].dropna().astype(str))
    todo = ~lots["artist_id"].astype(str).isin(known)
    out, result = lots.copy(), ArtistMatches(lots)
    result.filled = _fill_life_facts(out, history, lots.index[~todo.to_numpy()].to_numpy())
    if not todo.any():
        result.lots = out
        return result
    run_day = dt.date.fromisoformat((run_date or dt.date.today().isoformat())[:10])
    people = history[["artist_name", "artist_birth_year", "artist_death_year", "artist_nationality"]]
    people = people.dropna(subset=["artist_name", "artist_birth_year"]).drop_duplicates()
    resolver = ArtistResolver(ArtistRecord(str(r.artist_name), int(r.artist_birth_year),
                                           None if pd.isna(r.artist_death_year) else int(r.artist_death_year),
                                           None if pd.isna(r.artist_nationality) else str(r.artist_nationality),
                                           "warehouse") for r in people.itertuples(index=False))
    for i in lots.index[todo.to_numpy()]:
        row = out.loc[i]
        hit = resolver.resolve(row["artist_name"], row["artist_birth_year"], row["artist_death_year"],
                               row["artist_nationality"])
        if hit.matched_by is None or hit.artist_id not in known:
            continue
        sale = None if is_missing(row["sale_date"]) else pd.Timestamp(row["sale_date"]).date()
        created = None if is_missing(row["year_created"]) else int(row["year_created"])
        impossible = _impossible_years(hit.birth_year, None, created, sale, run_day)
        if impossible:
            result.refused.append(f"{row['lot_ref']} ({row['artist_name']}): not {hit.name} "
                                  f"(born {hit.birth_year}): {impossible[0][1]}")
            continue
        result.matched += 1
        out.at[i, "artist_id"], out.at[i, "artist_name"] = hit.artist_id, hit.name
        for col, value in (("artist_birth_year", hit.birth_year), ("artist_death_year", hit.death_year),
                           ("artist_nationality", hit.nationality)):
            if is_missing(row[col]) and value is not None:
                out.at[i, col] = value
        out.at[i, "artwork_id"] = artwork_key(hit.artist_id, row["title"], row["year_created"], row["height_cm"],
                                              row["width_cm"])
    result.lots = out
    return result
