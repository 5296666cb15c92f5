"""``gbv import``: land -> parse -> conform -> identity -> ingest gate -> de-duplicate -> load -> report.

1. Each file is copied unchanged into ``raw/<source>/<run_date>/`` (sha256 recorded; same bytes again: skipped
   copy, still parsed so a re-import is idempotent).
2. The vendor parser reads it (by position where headers lie); :mod:`gbv.importers.conform` conforms rows.
3. :class:`gbv.identity.ArtistResolver` gives one ``artist_id`` per person across sources (museum records
   from ``../shared`` when present, Arthena's birth years, artists already in the warehouse).
4. :func:`quality.lots.validate_lots` (GX) rejects implausible lots; every rejected row goes to ``quarantine``
   (stage ``ingest``, source ``<source>:<file>``, row number = the file line).
5. De-duplication across sources: lots of two different sources with the same house, lot number (with letter)
   and artist, sale dates at most 3 days apart, are one lot (matched one-to-one, nearest date first). The merged
   lot keeps the lot_ref already in the warehouse, else Arthena's. Field precedence: money and status
   (hammer, estimates, currency, fx) from the source with the better price basis (arthena: true hammer >
   askart-*: premium-derived); descriptive fields from the first source that has them (askart-ny, askart-hk,
   arthena). ``lot_source`` records every source of every lot.
6. One transaction per table group (see :mod:`warehouse.loaders`); the report prints per source: files, rows
   read, rows with a price or estimate, loaded, quarantined by reason, duplicates merged.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gbv.contracts import LOT_COLUMNS, QUARANTINE_COLUMNS
from gbv.faults import fault_point
from gbv.identity import ArtistRecord, ArtistResolver, ResolvedArtist, museum_records
from gbv.importers import arthena, askart_hk, askart_ny
from gbv.importers.base import FileRead, ImportFileError, RawRow, land
from gbv.importers.conform import conform_row
from gbv.normalize.dates import created_contradiction
from gbv.normalize.errors import is_missing
from gbv.normalize.names import artist_key, artwork_key, name_key, normalize_artist_name
from gbv.settings import Settings
from gbv.staging import finish_lots

log = logging.getLogger(__name__)

PARSERS = {"askart-ny": askart_ny, "askart-hk": askart_hk, "arthena": arthena}
SOURCES = tuple(PARSERS)
MONEY_PRECEDENCE = ("arthena", "askart-ny", "askart-hk")  # true hammer first
TEXT_PRECEDENCE = ("askart-ny", "askart-hk", "arthena")
MONEY_FIELDS = ("estimate_low", "estimate_high", "hammer_price", "fx_usd", "sale_currency", "status")
MATCH_DAYS = 3


@dataclass
class SourceReport:
    source: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_priced: int = 0  # rows carrying a price or an estimate
    loaded: int = 0  # rows that became (or merged into) a lot
    loaded_priced: int = 0
    quarantined: Counter = field(default_factory=Counter)  # reason kind -> rows
    duplicates_merged: int = 0
    warnings: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    run_date: str
    sources: dict[str, SourceReport]
    lots_stored: int
    overlap: Counter  # (source a, source b) -> lots matched
    price_check: dict[str, float]
    museum_note: str
    seconds: float
    rows: list[tuple[RawRow, dict | None]] = field(default_factory=list, repr=False)
    errors: list[str] = field(default_factory=list)
    root: str = ""  # the file or folder imported
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file relative to root, why not imported)

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sources.values())


_NAME_ONLY_STEPS = ("first_last", "sorted")  # ArtistResolver steps that match a name without its full key


def _refuse_contradicted_matches(conformed: list[tuple[RawRow, dict, str]], resolved: list[ResolvedArtist | None],
                                 warnings: Counter) -> list[ResolvedArtist | None]:
    """A name matched only by its first and last word or its sorted words (no birth year from the source) to a
    reference born after one of the name's works was made or sold is not that person: askART's "Alfredo Ramos
    Martinez" (1871-1946; works of the 1930s) met MoMA's "Alfredo Martinez, born 1967" by first + last name. Every
    lot of such a name keeps its own name, unresolved (warning ``artist_match_refused``, one per name). A year the
    lot's title names does not count ("1776 And All That" by William N. Copley, born 1919)."""
    refused: set[str] = set()
    for (_, lot, _), art in zip(conformed, resolved, strict=True):
        if art is None or art.matched_by not in _NAME_ONLY_STEPS or art.birth_year is None:
            continue
        if not is_missing(lot["artist_birth_year"]):
            continue  # the source's own birth year agreed with the reference's
        made, sold = lot["year_created"], lot["sale_date"]
        if made is not None and str(made) in str(lot.get("title") or ""):
            made = None  # a year the title names is the subject's ("1776 And All That"), not the work's
        if (made is not None and made < art.birth_year) or (sold is not None and sold.year < art.birth_year):
            refused.add(lot["artist_name_raw"])
    if not refused:
        return resolved
    warnings["artist_match_refused"] += len(refused)
    log.info("artist matches refused (a work made or sold before the reference's birth): %s", sorted(refused))
    out: list[ResolvedArtist | None] = []
    for (_, lot, _), art in zip(conformed, resolved, strict=True):
        if art is not None and lot["artist_name_raw"] in refused and art.matched_by in _NAME_ONLY_STEPS:
            name = normalize_artist_name(lot["artist_name_raw"])
            art = ResolvedArtist(artist_key(name, None), name, None, lot["artist_death_year"],
                                 lot["artist_nationality"], None, False)
        out.append(art)
    return out


def detect(path: Path) -> str | None:
    """Which vendor format a file is (from its first bytes), or None."""
    try:
        head = path.read_bytes()[:4096].decode("utf-8-sig", errors="replace")
    except OSError:
        return None
    for name, mod in (("askart-hk", askart_hk), ("arthena", arthena), ("askart-ny", askart_ny)):
        if mod.looks_like(head):
            return name
    return None


SPIDERS = "crawlers/spiders"
_SPIDER_INPUT = "spider input: crawl it with `" + SPIDERS + "/{spider}.py`{how}"


def _json_of(path: Path, text: str) -> Any:
    """The JSON a file holds (also ``var data = [...]`` scripts), or None."""
    body = text.strip().lstrip("\ufeff")
    if path.suffix.casefold() == ".js" and "=" in body[:200]:
        body = body.split("=", 1)[1].strip().rstrip(";")
    if body[:1] not in ("{", "["):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def skip_reason(path: Path) -> str:
    """Why ``gbv import auto`` does not import a file that is no vendor export (told from its content, so a renamed
    file is still recognised): a spider input (which spider crawls it), museum data (used for artist enrichment or
    not), a file of lots without artist (cannot be valued), documentation, or an unknown format."""
    name = path.name.casefold()
    if name in ("readme.md", "schema.md") or name.startswith(("licence", "license")):
        return "documentation / licence: no lots"
    try:
        with path.open("rb") as fh:
            raw = fh.read(16 * 2**20)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    text = raw.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0].strip()
    museum = any(part.casefold().startswith("museum") for part in path.parts[:-1])
    # ---- museum open data -----------------------------------------------------------------------------------
    if first.startswith("id,name,gender,dates,yearOfBirth") or first.startswith("ConstituentID,DisplayName"):
        return ("museum data: artist records used for artist enrichment (life dates, nationality; "
                "gbv.identity.museum_records)")
    if museum and path.suffix.casefold() == ".json" and "api_model" not in text and '"acno"' not in text:
        return "museum data: API configuration / licence text, no records"
    if museum or first.startswith("id,accession_number,artist") or first.startswith("id,title,main_reference_number"):
        return "museum data: artworks / API records without prices; not read by the importer (no sale to value)"
    # ---- pages and API answers the real-site spiders read ---------------------------------------------------
    if "window.chrComponents" in text:
        if "chr-lot-header" in text:
            return _SPIDER_INPUT.format(spider="christies_lot", how=" (a Christie's lot page)")
        return _SPIDER_INPUT.format(spider="christies_sale", how=" (a Christie's sale page, lots as embedded JSON)")
    if "__NEXT_DATA__" in text:
        return _SPIDER_INPUT.format(spider="sothebys_auction", how=" (a Sotheby's auction page, `__NEXT_DATA__`)")
    if first.replace('"', "") == "url" and "christies.com" in text:
        return _SPIDER_INPUT.format(spider="christies_sale", how=" (its `sale_list` of Christie's sale URLs)")
    if {"p0", "p1", "p9", "p11"} <= set(first.replace('"', "").split(",")):
        return _SPIDER_INPUT.format(spider="koller_listing", how=" (Koller's listing text blocks; pass -a sale_date)")
    if first.replace('"', "").split(",")[1:5] == ["title", "detail", "uid", "link"]:
        return _SPIDER_INPUT.format(spider="sothebys_auction",
                                    how=" (a list of Sotheby's sales: pass its `link` paths as -a auctions=...)")
    data = _json_of(path, text)
    if isinstance(data, dict):
        if isinstance(data.get("hits"), list):
            return _SPIDER_INPUT.format(spider="sothebys_api", how=" (a Sotheby's lot search answer)")
        if isinstance(data.get("data"), dict) and isinstance(data["data"].get("lot"), dict):
            return _SPIDER_INPUT.format(spider="sothebys_api", how=" (a Sotheby's lot API answer)")
        if isinstance(data.get("lot_info"), list):
            empty = "; an empty sale, no lots" if not data["lot_info"] else ""
            return _SPIDER_INPUT.format(spider="bonhams_api", how=f" (a Bonhams lot API answer{empty})")
        if isinstance(data.get("model_results"), dict):
            return _SPIDER_INPUT.format(spider="bonhams_api", how=" (the Bonhams sale list)")
        if isinstance(data.get("eng"), list) or isinstance(data.get("kor"), list):
            return _SPIDER_INPUT.format(spider="kauction_api", how=" (a K Auction lot API answer)")
        if isinstance(data.get("data"), list) and {"uid", "link", "detail"} <= set(data):
            return ("third-party scraper output (Sotheby's results per sale: lot, artist, estimate text, sold "
                    "price); no importer or spider reads this format: not loaded")
    if isinstance(data, list) and data and all(isinstance(d, dict) and isinstance(d.get("lots"), list) for d in data):
        return ("no artist: cannot be valued (per-lot number, estimates, price and status only; no artist or "
                "title)")
    if data is not None:
        return "JSON with no lots a reader knows (configuration or a format no spider reads)"
    return "unknown format: no vendor export, spider input or museum file; look at it"


def discover(source: str, path: Path, skipped: list[tuple[Path, str]] | None = None) -> list[tuple[str, Path]]:
    """``(source, file)`` pairs to import: one file, or every known CSV under a folder (recursively). With
    ``source="auto"`` on a folder every file is accounted for: those not imported go to ``skipped`` as
    ``(file, reason)`` (:func:`skip_reason`)."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file or folder")
    if path.is_dir():
        pattern = "*" if source == "auto" else "*.csv"
        files = sorted(p for p in path.rglob(pattern) if p.is_file() and not p.name.startswith("."))
    else:
        files = [path]
    out = []
    for f in files:
        kind = detect(f) if f.suffix.casefold() == ".csv" or not path.is_dir() else None
        kind = kind if source == "auto" else source
        if source == "auto" and kind is None:
            reason = skip_reason(f)
            log.info("import: %s skipped: %s", f, reason)
            if skipped is not None:
                skipped.append((f, reason))
            continue
        if source != "auto" and path.is_dir() and (other := detect(f)) not in (None, source):
            if skipped is not None:
                skipped.append((f, f"{other} export, not {source}"))
            continue
        out.append((kind, f))
    return out


def _kind(reason: str) -> str:
    """A short reason class for the report ("unparsable price", "truncated record", ...)."""
    r = reason.split(" (got")[0]
    for cut in (" '", ' "', ":"):
        r = r.split(cut)[0]
    return r.strip()[:60]


def _has_money(f: dict) -> bool:
    for k in ("price", "estimate_low", "estimate_high"):
        v = f.get(k)
        if isinstance(v, str) and not is_missing(v) and any(ch.isdigit() for ch in v):
            return True
    return False


def _match(lots: pd.DataFrame) -> list[list[int]]:
    """Groups of row positions that are one lot reported by different sources (see module docstring).

    The artist is compared by the name key of the resolved name, not by artist_id: a source that gives no birth
    year (askART) and one that does (Arthena) resolve to the same name but, without museum records to supply the
    year, to different ids.
    """
    lots = lots.assign(_artist=[name_key(n) if isinstance(n, str) else "" for n in lots["artist_name"]])
    key_cols = ["house", "lot_label", "_artist"]
    idx: dict[tuple, list[int]] = defaultdict(list)
    for pos, key in enumerate(lots[key_cols].itertuples(index=False, name=None)):
        idx[key].append(pos)
    src = lots["source"].to_numpy()
    days = [d.toordinal() for d in lots["sale_date"]]
    groups: list[list[int]] = []
    for positions in idx.values():
        if len({src[p] for p in positions}) < 2:
            continue
        used: set[int] = set()
        pairs = sorted((abs(days[a] - days[b]), a, b) for i, a in enumerate(positions) for b in positions[i + 1:]
                       if src[a] != src[b] and abs(days[a] - days[b]) <= MATCH_DAYS)
        linked: dict[int, list[int]] = {}
        for _, a, b in pairs:
            if a in used or b in used:
                continue
            used.update((a, b))
            linked[a] = [a, b]
        groups.extend(linked.values())
    # second pass: a lot letter one source drops ("5A" / "5"): same house, lot digits and artist, sale dates
    # within MATCH_DAYS, and the same title (name key) or the same low estimate
    taken = {p for g in groups for p in g}
    titles = [name_key(t) if isinstance(t, str) else "" for t in lots["title"]]
    lows = lots["estimate_low"].to_numpy()
    idx2: dict[tuple, list[int]] = defaultdict(list)
    for pos, key in enumerate(lots[["house", "lot_number", "_artist"]].itertuples(index=False, name=None)):
        if pos not in taken:
            idx2[key].append(pos)
    for positions in idx2.values():
        pairs = sorted((abs(days[a] - days[b]), a, b) for i, a in enumerate(positions) for b in positions[i + 1:]
                       if src[a] != src[b] and abs(days[a] - days[b]) <= MATCH_DAYS
                       and ((titles[a] and titles[a] == titles[b]) or (lows[a] == lows[b] and lows[a] == lows[a])))
        for _, a, b in pairs:
            if a not in taken and b not in taken:
                taken.update((a, b))
                groups.append([a, b])
    return groups


def _merge(group: pd.DataFrame, stored_refs: set[str] = frozenset()) -> dict[str, Any]:
    """One lot from the rows of a match group, by the field-precedence rules."""
    by_src = {r["source"]: r for r in group.to_dict("records")}
    money_src = next(s for s in (*MONEY_PRECEDENCE, *by_src) if s in by_src)
    text_order = [s for s in (*TEXT_PRECEDENCE, *by_src) if s in by_src]
    out = dict(by_src[money_src])
    for col in LOT_COLUMNS:
        if col in MONEY_FIELDS or col in ("lot_ref",):
            continue
        for s in text_order:
            v = by_src[s].get(col)
            if v is not None and not (isinstance(v, float) and math.isnan(v)) and v is not pd.NA:
                out[col] = v
                break
    existing = sorted((r for r in group.to_dict("records") if r.get("_existing") or r["lot_ref"] in stored_refs),
                      key=lambda r: r["source"] != "arthena")
    out["lot_ref"] = existing[0]["lot_ref"] if existing else by_src.get("arthena", out)["lot_ref"]
    stored = [r for r in existing if r.get("_existing")]  # read back from the warehouse, not this batch's row
    if stored:  # sale and keys stay as stored
        for col in ("sale_id", "lot_number", "house", "sale_date"):
            out[col] = stored[0][col]
    out["source"] = money_src
    return out


def _existing_lots(engine) -> pd.DataFrame:  # noqa: ANN001
    from warehouse.io import read_lots

    lots = read_lots(engine)
    if lots.empty:
        return lots
    lots["lot_label"] = lots["lot_ref"].str.extract(r"-(\d+[a-z]*)$")[0].str.lstrip("0").str.upper()
    lots["_existing"] = True
    return lots


def run_import(settings: Settings, source: str, path: Path, run_date: str, *, load: bool = True,
               shared_auctions: Path | None = None, keep_rows: bool = False) -> ImportReport:
    """Import one file or folder (``source`` one of :data:`SOURCES` or ``"auto"``); see the module docstring."""
    started = time.perf_counter()
    if source != "auto" and source not in PARSERS:
        raise ImportFileError(f"unknown source {source!r}; known: {', '.join(SOURCES)}, auto")
    skipped: list[tuple[Path, str]] = []
    files = discover(source, Path(path), skipped)
    if not files:
        raise ImportFileError(f"{path}: no {source if source != 'auto' else 'known vendor'} file found")
    reports: dict[str, SourceReport] = {}
    warnings: Counter = Counter()
    conformed: list[tuple[RawRow, dict, str]] = []  # (row, lot record, sha)
    quarantine: list[dict[str, Any]] = []
    kept: list[tuple[RawRow, dict | None]] = []
    errors: list[str] = []

    def reject(row: RawRow, fld: str, reason: str, sha: str | None) -> None:
        quarantine.append({"run_date": run_date, "stage": "ingest", "source": f"{row.source}:{row.file}",
                           "row_ref": f"{row.file}:{row.line}", "row_number": row.line, "field": fld,
                           "reason": reason, "payload": json.dumps({"raw": row.raw[:4000], "sha256": sha},
                                                                   ensure_ascii=False)})
        reports[row.source].quarantined[_kind(reason)] += 1

    for kind, f in files:
        rep = reports.setdefault(kind, SourceReport(kind))
        rep.files.append(f.name)
        try:
            landed, sha, fresh = land(settings, kind, f, run_date) if load else (f, None, False)
            read: FileRead = PARSERS[kind].parse(landed)
        except ImportFileError as exc:
            errors.append(str(exc))
            rep.notes.append(f"FILE REJECTED: {exc}")
            continue
        rep.notes += read.notes
        for row in read.rows:
            rep.rows_read += 1
            if _has_money(row.fields) or (row.problems and any(ch.isdigit() for ch in row.raw)):
                rep.rows_priced += 1
            lot, errs = conform_row(row, warnings)
            if keep_rows:
                kept.append((row, lot))
            if lot is None:
                seen = set()
                for fld, reason in errs:
                    if fld not in seen:
                        seen.add(fld)
                        reject(row, fld, reason, sha)
                continue
            lot["_priced"] = _has_money(row.fields)
            conformed.append((row, lot, sha))

    # ---- identity -----------------------------------------------------------------------------------
    refs, museum_note = museum_records(shared_auctions)
    engine = None
    existing = pd.DataFrame()
    if load:
        from warehouse.db import get_engine
        from warehouse.io import read_table
        from warehouse.schema import dim_artist

        engine = get_engine(settings)
        known = read_table(engine, dim_artist)
        refs += [ArtistRecord(r.artist_name, r.birth_year, r.death_year, r.nationality, "warehouse")
                 for r in known.itertuples() if r.birth_year == r.birth_year and r.birth_year is not None]
        existing = _existing_lots(engine)
    resolver = ArtistResolver(refs)
    resolved = resolver.resolve_batch((lot["artist_name_raw"], lot["artist_birth_year"],
                                       lot["artist_death_year"], lot["artist_nationality"])
                                      for _, lot, _ in conformed)
    resolved = _refuse_contradicted_matches(conformed, resolved, warnings)
    records, meta = [], []
    for (row, lot, sha), art in zip(conformed, resolved, strict=True):
        if art is None:
            reject(row, "artist_name", f"no artist name {row.fields.get('artist_name')!r}", sha)
            continue
        lot.update(artist_id=art.artist_id, artist_name=art.name, artist_birth_year=art.birth_year,
                   artist_death_year=art.death_year, artist_nationality=art.nationality)
        # a year of creation the artist's life dates or the sale date rule out is dropped, the lot kept (Arthena's
        # work_execution_year holds the height in mm on ~300 Warhol prints: "1162" for a 1162 x 756 mm Cow)
        if why := created_contradiction(lot["year_created"], art.birth_year, lot["sale_date"]):
            warnings[why] += 1
            lot["year_created"] = None
        lot["artwork_id"] = artwork_key(art.artist_id, lot["title"], lot["year_created"], lot["height_cm"],
                                        lot["width_cm"])
        records.append(lot)
        meta.append((row, sha, lot["lot_label"], lot["_priced"]))
    lots = finish_lots(records)
    lots["lot_label"] = [m[2] for m in meta]

    # ---- ingest gate (GX) ---------------------------------------------------------------------------
    from quality.lots import validate_lots

    mask, failures, _ = validate_lots(lots, run_date)
    failed_fields: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for fl in failures:
        failed_fields[fl["pos"]].append((fl["field"], fl["reason"]))
    for pos, errs in failed_fields.items():
        row, sha, _, _ = meta[pos]
        for fld, reason in dict(errs).items():
            reject(row, fld, reason, sha)
    keep = [i for i in range(len(lots)) if i not in failed_fields]
    lots = lots.iloc[keep].reset_index(drop=True)
    meta = [meta[i] for i in keep]
    lots["_row_ref"] = [f"{m[0].file}:{m[0].line}" for m in meta]
    lots["_sha"] = [m[1] for m in meta]
    for (row, _, _, priced) in meta:
        reports[row.source].loaded += 1
        reports[row.source].loaded_priced += int(priced)

    # duplicates within one source (same lot_ref twice): the last row wins, counted
    dup_same = lots.duplicated(["lot_ref", "source"], keep="last")
    for s in lots.loc[dup_same, "source"]:
        reports[s].warnings["duplicate_row_same_source"] += 1
    lots = lots[~dup_same].reset_index(drop=True)

    # ---- de-duplication across sources --------------------------------------------------------------
    lots["_existing"] = False
    pool = lots
    if len(existing):
        ex = existing[existing["house"].isin(set(lots["house"])) & ~existing["lot_ref"].isin(set(lots["lot_ref"]))]
        ex = ex.assign(source=ex["source"].fillna("warehouse"))
        pool = pd.concat([lots, ex], ignore_index=True)
    stored_refs = set(existing["lot_ref"]) if len(existing) else set()
    groups = _match(pool)
    overlap: Counter = Counter()
    diffs = []
    merged_rows = []
    drop = set()
    for g in groups:
        sub = pool.iloc[g]
        if not (~sub["_existing"]).any():
            continue
        overlap[tuple(sorted(sub["source"]))] += 1
        m = _merge(sub, stored_refs)
        merged_rows.append(m)
        drop.update(g)
        for r in sub.to_dict("records"):
            if not r["_existing"] and r["source"] != m["source"]:
                reports[r["source"]].duplicates_merged += 1
        srcs = dict(zip(sub["source"], sub["hammer_price"], strict=True))
        if "arthena" in srcs and "askart-ny" in srcs and srcs["arthena"] > 0 and srcs["askart-ny"] > 0:
            diffs.append(abs(srcs["askart-ny"] / srcs["arthena"] - 1))
    lot_sources = pd.DataFrame({"lot_ref": lots["lot_ref"], "source": lots["source"],
                                "source_row_ref": lots["_row_ref"], "raw_sha256": lots["_sha"]})
    canon: dict[int, str] = {}
    for g, m in zip([g for g in groups if (~pool.iloc[g]["_existing"]).any()], merged_rows, strict=True):
        for p in g:
            canon[p] = m["lot_ref"]
    lot_sources["lot_ref"] = [canon.get(i, ref) for i, ref in enumerate(lot_sources["lot_ref"])]
    final = pd.concat([pool.drop(index=list(drop)), pd.DataFrame(merged_rows)], ignore_index=True)
    final = final[~final["_existing"].astype(bool) | final["lot_ref"].isin(set(lot_sources["lot_ref"]))]
    final = finish_lots(final[[c for c in LOT_COLUMNS if c not in ("estimate_low_usd", "estimate_high_usd",
                                                                   "hammer_usd")]].to_dict("records"))
    final = final.drop_duplicates("lot_ref", keep="last").reset_index(drop=True)
    price_check = {}
    if diffs:
        s = pd.Series(diffs)
        price_check = {"pairs": float(len(s)), "median_abs_rel_diff": float(s.median()),
                       "share_within_1pct": float((s <= 0.01).mean())}

    # ---- load ---------------------------------------------------------------------------------------
    qframe = pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS))
    if load and engine is not None:
        from warehouse.loaders import load_quarantine, record_stage, upsert_lot_sources, upsert_lots

        fault_point("import_parsed")  # everything read and de-duplicated, nothing loaded
        upsert_lots(engine, final, run_date)
        fault_point("import_lots_loaded")  # fact_lot and dimensions committed, lot_source not yet
        upsert_lot_sources(engine, lot_sources, run_date)
        fault_point("import_sources_loaded")  # lot_source committed, quarantine not yet
        load_quarantine(engine, qframe, run_date, "ingest",
                        sources=[f"{k}:{f.name}" for k, f in files])
        record_stage(engine, run_date, "ingest", rows_in=sum(r.rows_read for r in reports.values()),
                     rows_out=len(final), rows_quarantined=int(qframe["row_number"].nunique()) if len(qframe)
                     else 0, seconds=time.perf_counter() - started)
    root = Path(path)
    report = ImportReport(run_date, reports, len(final), overlap, price_check, museum_note,
                          time.perf_counter() - started, kept, errors, str(root),
                          [(str(f.relative_to(root)) if root.is_dir() else f.name, why) for f, why in skipped])
    report.quarantine = qframe  # type: ignore[attr-defined]
    report.lots = final  # type: ignore[attr-defined]
    report.warnings = warnings  # type: ignore[attr-defined]
    return report


def format_report(rep: ImportReport) -> str:
    lines = [f"gbv import, night {rep.run_date}: {rep.rows_read:,d} rows read, {rep.lots_stored:,d} lots stored "
             f"in {rep.seconds:.1f} s", f"  {rep.museum_note}"]
    for s in rep.sources.values():
        share = f"{s.loaded_priced / s.rows_priced:.2%}" if s.rows_priced else "n/a, no priced rows"
        lines.append(f"  [{s.source}] files: {', '.join(s.files)}")
        lines.append(f"    rows read {s.rows_read:,d}; with a price or estimate {s.rows_priced:,d}; loaded "
                     f"{s.loaded:,d} ({s.loaded_priced:,d} of the priced = {share}); quarantined "
                     f"{sum(s.quarantined.values()):,d}; duplicates merged {s.duplicates_merged:,d}")
        for reason, n in s.quarantined.most_common():
            lines.append(f"      quarantined {n:6,d}  {reason}")
        for note in s.notes:
            lines.append(f"    note: {note}")
    for (a, b), n in sorted(rep.overlap.items()):
        lines.append(f"  overlap {a} <-> {b}: {n:,d} lots (stored once, both sources in lot_source)")
    if rep.price_check:
        pc = rep.price_check
        lines.append(f"  askART premium-derived hammer vs Arthena true hammer on {int(pc['pairs']):,d} sold overlap "
                     f"lots: median |diff| {pc['median_abs_rel_diff']:.2%}, within 1%: {pc['share_within_1pct']:.1%}")
    warn = getattr(rep, "warnings", {})
    if warn:
        lines.append("  warnings: " + ", ".join(f"{k} {v:,d}" for k, v in sorted(warn.items())))
    for e in rep.errors:
        lines.append(f"  ERROR: {e}")
    if rep.skipped:
        n_files = sum(len(s.files) for s in rep.sources.values())
        lines.append(f"  files: {n_files + len(rep.skipped):,d} under {rep.root}: {n_files:,d} imported, "
                     f"{len(rep.skipped):,d} not imported:")
        width = min(max(len(f) for f, _ in rep.skipped), 60)
        for f, why in rep.skipped:
            lines.append(f"    skipped {f:{width}s}  {why}")
    return "\n".join(lines)
