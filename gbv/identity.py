"""Artist identity across sources: one ``artist_id`` per person, whatever the spelling.

Sources spell one artist many ways: ``"Alexander Sandy Calder"`` and ``"Alexander Calder"``, ``"PICASSO, Pablo"``,
``"Sol Lewitt"`` / ``"Sol LeWitt"``, with or without accents, and Chinese names in either order (``"Wou-Ki Zao"``
/ ``"Zao Wou-Ki"``). :class:`ArtistResolver` maps each name to a canonical identity in three steps, first hit wins:

1. **full key** — :func:`gbv.normalize.names.name_key` of the display name (casefolded, accents and punctuation
   dropped): ``"PICASSO, Pablo"``, ``"Pablo Picasso"`` and ``"Pablo Picassó"`` agree;
2. **first + last** — the first and last word only, so middle names and nicknames drop out
   (``"Alexander Sandy Calder"`` -> ``alexander calder``);
3. **sorted words** — the words in any order (``"Wou-Ki Zao"`` = ``"Zao Wou-Ki"``).

A step matches only when it is unambiguous: its candidates must agree on the birth year (two different
``John Smith``s with different birth years stop the match, and a name whose own birth year is known only matches
candidates born that year or of unknown birth).

Candidates ("references") come from the museum artist records (Tate ``artist_data.csv`` and MoMA
``Artists_*.csv``, read from ``../shared/data/auctions`` when present: life dates and nationality), from any
source row that carries a birth year (Arthena), and from artists already in the warehouse. Names that match no
reference are grouped among themselves by the same keys (so ``"Sam Lewis Francis"`` and ``"Sam Francis"`` become
one artist even without a museum record); the most frequent spelling is the display name.

``artist_id`` is :func:`gbv.normalize.names.artist_key` of the canonical display name and birth year
(``"pablo-picasso-1881"``; ``"-x"`` when no source knows the birth year).
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gbv.normalize.errors import NormalizationError
from gbv.normalize.names import artist_key, name_key, normalize_artist_name, year_or_none

log = logging.getLogger(__name__)

# Repo root's sibling: ../shared/data/auctions (the museum folders live there).
DEFAULT_SHARED_AUCTIONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "auctions"


@dataclass(frozen=True)
class ArtistRecord:
    """One known person: display name, life dates, nationality and where it came from."""

    name: str
    birth_year: int | None = None
    death_year: int | None = None
    nationality: str | None = None
    origin: str = ""  # "tate", "moma", "source:arthena", "warehouse"


@dataclass(frozen=True)
class ResolvedArtist:
    artist_id: str
    name: str
    birth_year: int | None
    death_year: int | None
    nationality: str | None
    matched_by: str | None  # "full", "first_last", "sorted", None (no reference)
    museum: bool  # enriched from a museum record


def _keys(display: str) -> tuple[str, str | None, str | None]:
    full = name_key(display)
    words = full.replace("-", " ").split()
    fl = f"{words[0]} {words[-1]}" if len(words) >= 3 else None
    srt = " ".join(sorted(words)) if len(words) >= 2 else None
    return full, fl, srt


def _int(value: Any) -> int | None:
    y = year_or_none(value)
    return y if y is not None and 1000 <= y <= 2100 else None


def read_tate(path: Path) -> list[ArtistRecord]:
    """Tate ``artist_data.csv``: ``name`` ("Calder, Alexander"), ``yearOfBirth``, ``yearOfDeath``,
    ``placeOfBirth`` (its country stands in for the nationality)."""
    out = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                name = normalize_artist_name(row.get("name"))
            except NormalizationError:
                continue
            place = (row.get("placeOfBirth") or "").split(",")[-1].strip() or None
            out.append(ArtistRecord(name, _int(row.get("yearOfBirth")), _int(row.get("yearOfDeath")), None
                                    if place is None else f"born in {place}", "tate"))
    return out


def read_moma(path: Path) -> list[ArtistRecord]:
    """MoMA ``Artists_*.csv``: ``DisplayName``, ``Nationality``, ``BeginDate``, ``EndDate`` (0 = unknown)."""
    out = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                name = normalize_artist_name(row.get("DisplayName"))
            except NormalizationError:
                continue
            nat = (row.get("Nationality") or "").strip() or None
            if nat in {"Nationality unknown", "nationality unknown"}:
                nat = None
            out.append(ArtistRecord(name, _int(row.get("BeginDate")), _int(row.get("EndDate")), nat, "moma"))
    return out


def museum_records(shared_auctions: Path | None = None) -> tuple[list[ArtistRecord], str]:
    """Museum artist records from ``<shared>/museum-tate`` and ``<shared>/museum-moma``, and a one-line note
    saying what was read (or that nothing was, when the folders are absent). ``<shared>``: the argument, else
    ``$GBV_SHARED_AUCTIONS`` (as for the benchmarks), else ``../shared/data/auctions`` beside the checkout."""
    root = Path(shared_auctions or os.environ.get("GBV_SHARED_AUCTIONS") or DEFAULT_SHARED_AUCTIONS)
    recs: list[ArtistRecord] = []
    notes = []
    tate = root / "museum-tate" / "artist_data.csv"
    if tate.is_file():
        t = read_tate(tate)
        recs += t
        notes.append(f"Tate {len(t):,d}")
    for moma in sorted((root / "museum-moma").glob("Artists*.csv")) if (root / "museum-moma").is_dir() else []:
        m = read_moma(moma)
        recs += m
        notes.append(f"MoMA {len(m):,d}")
    note = (f"museum artist records: {', '.join(notes)} (from {root})" if notes else
            f"museum artist records: none found under {root}; no life-date/nationality enrichment")
    return recs, note


class ArtistResolver:
    """Resolve artist names to one identity (see the module docstring)."""

    def __init__(self, references: Iterable[ArtistRecord] = ()):
        self._idx: dict[str, dict[str, list[ArtistRecord]]] = {
            "full": defaultdict(list), "first_last": defaultdict(list), "sorted": defaultdict(list)}
        for r in references:
            self.add_reference(r)
        self._cache: dict[tuple[str, int | None], ResolvedArtist] = {}

    def add_reference(self, rec: ArtistRecord) -> None:
        full, fl, srt = _keys(rec.name)
        self._idx["full"][full].append(rec)
        words = full.replace("-", " ").split()
        self._idx["first_last"][f"{words[0]} {words[-1]}" if words else ""].append(rec)
        if srt:
            self._idx["sorted"][srt].append(rec)
        self._cache = {}

    def _lookup(self, display: str, birth: int | None) -> tuple[ArtistRecord | None, str | None]:
        full, fl, srt = _keys(display)
        words = full.replace("-", " ").split()
        for step, key in (("full", full), ("first_last", fl or (f"{words[0]} {words[-1]}" if words else None)),
                          ("sorted", srt)):
            if not key:
                continue
            cands = self._idx[step].get(key, [])
            if birth is not None:
                cands = [c for c in cands if c.birth_year in (None, birth)]
            if not cands:
                continue
            births = {c.birth_year for c in cands if c.birth_year is not None}
            if len(births) > 1:
                return None, None  # two people share the name: do not guess
            # prefer a record with life dates, then a museum record, then the first seen
            best = sorted(cands, key=lambda c: (c.birth_year is None, c.origin not in ("moma", "tate")))[0]
            merged = ArtistRecord(
                best.name, best.birth_year,
                next((c.death_year for c in cands if c.death_year is not None), None),
                next((c.nationality for c in cands if c.nationality and c.origin != "tate"),
                     next((c.nationality for c in cands if c.nationality), None)),
                best.origin)
            return merged, step
        return None, None

    def resolve(self, name: Any, birth_year: Any = None, death_year: Any = None,
                nationality: str | None = None) -> ResolvedArtist:
        """One name -> its identity; raises :class:`gbv.normalize.errors.ArtistNameError` for junk names."""
        display = normalize_artist_name(name)
        birth = _int(birth_year)
        ck = (display, birth)
        hit = self._cache.get(ck)
        if hit is None:
            ref, step = self._lookup(display, birth)
            if ref is not None:
                b = birth if birth is not None else ref.birth_year
                hit = ResolvedArtist(artist_key(ref.name, b), ref.name, b,
                                     ref.death_year, ref.nationality, step, ref.origin in ("tate", "moma"))
            else:
                hit = ResolvedArtist(artist_key(display, birth), display, birth, None, None, None, False)
            self._cache[ck] = hit
        death = _int(death_year)
        if (death is not None and hit.death_year is None) or (nationality and not hit.nationality):
            return ResolvedArtist(hit.artist_id, hit.name, hit.birth_year, hit.death_year or death,
                                  hit.nationality or nationality, hit.matched_by, hit.museum)
        return hit

    def resolve_batch(self, names: Iterable[tuple[Any, Any, Any, Any]]) -> list[ResolvedArtist | None]:
        """Resolve ``(name, birth, death, nationality)`` tuples together: rows carrying a birth year become
        references first; names matching no reference are grouped among themselves (first+last, sorted words)
        under their most frequent spelling. ``None`` for names that are not names."""
        items = list(names)
        displays: list[str | None] = []
        for name, birth, death, nat in items:
            try:
                d = normalize_artist_name(name)
            except NormalizationError:
                displays.append(None)
                continue
            displays.append(d)
            if _int(birth) is not None:
                self.add_reference(ArtistRecord(d, _int(birth), _int(death), (nat or None), "source"))
        resolved: list[ResolvedArtist | None] = [
            None if d is None else self.resolve(d, it[1], it[2], it[3]) for d, it in zip(displays, items, strict=True)]
        # unmatched names: group among themselves
        spellings: Counter = Counter(r.name for r in resolved if r is not None and r.matched_by is None)
        groups: dict[str, str] = {}  # key -> canonical spelling
        for spelling, _ in sorted(spellings.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0])):
            full, fl, srt = _keys(spelling)
            words = full.replace("-", " ").split()
            for key in (f"fl:{words[0]} {words[-1]}" if words else None, f"s:{srt}" if srt else None):
                if key:
                    groups.setdefault(key, spelling)
        out: list[ResolvedArtist | None] = []
        for r in resolved:
            if r is None or r.matched_by is not None:
                out.append(r)
                continue
            full, fl, srt = _keys(r.name)
            words = full.replace("-", " ").split()
            cands = [groups.get(f"fl:{words[0]} {words[-1]}") if words else None,
                     groups.get(f"s:{srt}") if srt else None]
            canon = next((c for c in cands if c and c != r.name), None)
            if canon and canon != r.name:
                out.append(ResolvedArtist(artist_key(canon, r.birth_year), canon, r.birth_year, r.death_year,
                                          r.nationality, "grouped", False))
            else:
                out.append(r)
        return out

