"""What every bulk importer shares: reading a vendor file safely, the landing zone, raw rows.

* :func:`read_text` decodes a file: UTF-8 (with or without BOM); UTF-16 (BOM, or NUL bytes) and non-UTF-8 bytes
  (read as Windows-1252/latin-1) are decoded too, with a note saying so; an empty file raises
  :class:`ImportFileError`.
* :func:`csv_records` yields ``(first_line, fields, raw_text)`` per CSV record, quotes and line breaks inside
  quoted fields (CRLF or bare LF) respected; a record whose quote never closes (a truncated file) comes back
  with ``truncated=True``.
* :func:`land` copies the file byte for byte into ``raw/<source>/<run_date>/`` and records its sha256 next to it
  (``<name>.sha256``). Append-only: the same bytes again are skipped; different bytes under the same name are
  stored as ``<stem>.<sha12><suffix>``, never over the earlier file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gbv.faults import fault_point
from gbv.settings import Settings


class ImportFileError(ValueError):
    """A whole file cannot be imported (empty, wrong format, required columns missing); names the file."""


@dataclass
class RawRow:
    """One vendor row mapped to RAW_LOT_FIELDS-like names, with where it came from."""

    source: str
    file: str
    line: int  # first physical line of the record in the file (1-based)
    fields: dict[str, Any]
    raw: str  # the record's text as read (for quarantine payloads and spot checks; never committed)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, reason) found while reading


@dataclass
class FileRead:
    path: Path
    encoding: str
    notes: list[str]
    rows: list[RawRow]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_side(side: Path, sha: str, name: str) -> None:
    """Write ``<name>.sha256`` whole or not at all (temporary file, then rename)."""
    tmp = side.with_name(f".{side.name}.tmp")
    tmp.write_text(f"{sha}  {name}\n")
    tmp.replace(side)


def header_and_records(path: Path, text: str) -> tuple[list[str], Iterator[tuple[int, list[str], str, bool]]]:
    """A file with a header line: (its column names, the records after it); no header raises ImportFileError."""
    records = csv_records(text)
    try:
        _, header, _, _ = next(records)
    except StopIteration:
        raise ImportFileError(f"{path}: no header line") from None
    return header, records


def shape_problems(fields: list[str], truncated: bool, expected: int, note: str = "") -> list[tuple[str, str]]:
    """Why a CSV record cannot be read field by field: cut off by the end of the file, or the wrong width."""
    if truncated:
        return [("row", f"truncated record (file ends inside a quoted field), {len(fields)} fields")]
    if len(fields) != expected:
        return [("row", f"{len(fields)} fields, expected {expected}{note}")]
    return []


def land(settings: Settings, source: str, path: Path, run_date: str) -> tuple[Path, str, bool]:
    """Copy ``path`` unchanged into the landing zone; returns (landed path, sha256, newly_copied)."""
    sha = sha256_of(path)
    folder = settings.raw_path(source, run_date)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / path.name
    for candidate in (dest, dest.with_name(f"{dest.stem}.{sha[:12]}{dest.suffix}")):
        side = candidate.with_name(candidate.name + ".sha256")
        if candidate.exists():
            # the file's own bytes decide (a kill may have left it without its .sha256); the side file is redone
            if sha256_of(candidate) == sha:
                if not side.exists():
                    _write_side(side, sha, candidate.name)
                return candidate, sha, False
            continue
        tmp = candidate.with_name(f".{candidate.name}.tmp")
        shutil.copyfile(path, tmp)
        if sha256_of(tmp) != sha:
            tmp.unlink()
            raise ImportFileError(f"{path}: landing copy differs from the source file (changed while copying?)")
        tmp.replace(candidate)
        fault_point("import_landed")  # the bytes are in place under their name, the .sha256 not yet
        _write_side(side, sha, candidate.name)
        return candidate, sha, True
    raise ImportFileError(f"{path}: landing zone already holds two different files named {path.name} for "
                          f"{source} {run_date}; import it under another name")


def read_text(path: Path) -> tuple[str, str, list[str]]:
    """Decode a vendor file; returns (text, encoding, notes). Raises :class:`ImportFileError` when empty."""
    data = path.read_bytes()
    if not data.strip(b" \r\n\t\x00\xef\xbb\xbf\xff\xfe"):
        raise ImportFileError(f"{path}: empty file (no header, no rows)")
    notes: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        notes.append(f"{path.name}: UTF-16 file (byte-order mark); decoded as UTF-16")
        return data.decode("utf-16"), "utf-16", notes
    if b"\x00" in data[:4096]:
        enc = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        notes.append(f"{path.name}: NUL bytes without a byte-order mark; decoded as {enc}")
        return data.decode(enc, errors="replace"), enc, notes
    try:
        return data.decode("utf-8-sig"), "utf-8", notes
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        notes.append(f"{path.name}: not UTF-8 (first bad byte {data[exc.start]:#04x} on line {line}); "
                     "decoded as Windows-1252/latin-1")
        try:
            return data.decode("cp1252"), "cp1252", notes
        except UnicodeDecodeError:
            return data.decode("latin-1"), "latin-1", notes


def csv_records(text: str) -> Iterator[tuple[int, list[str], str, bool]]:
    """Yield ``(first_line, fields, raw_text, truncated)`` for each CSV record of ``text``."""
    lines = io.StringIO(text, newline="").readlines()  # the same line splitting as the csv reader sees
    buf = io.StringIO(text, newline="")
    reader = csv.reader(buf, strict=False)
    prev_end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # pragma: no cover - strict=False rarely raises
            yield prev_end + 1, [], f"csv error: {exc}", True
            return
        end = reader.line_num
        raw = "".join(lines[prev_end:end]) if lines else ""
        # the record's text lacks a closing quote: the file ended inside a quoted field
        truncated = end >= len(lines) and raw.count('"') % 2 == 1
        first = prev_end + 1
        prev_end = end
        if not fields and not raw.strip():
            continue
        yield first, fields, raw.rstrip("\r\n"), truncated
