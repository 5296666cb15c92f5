"""Hostile catalogue files: any bytes either parse or are refused with a CatalogueError naming the file.

A file that parses accounts for every data row: accepted lots + quarantined rows + duplicate lot refs (counted
in ``warnings``) == the rows in the file, and the row count equals what Python's csv module reads from the same
text. Quarantine rows name the file, the row number and the field.
"""

from __future__ import annotations

import csv
import io
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbv.contracts import CATALOGUE_COLUMNS, LOT_COLUMNS, QUARANTINE_COLUMNS
from gbv.intake import CatalogueError, read_catalogue

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "n/a", "-1", "1e309", "nan", "-5", "0", "12,5", "1 000", "2026-13-45", "EUR", "XXX", "£1,000"]
    ),
    st.text(alphabet="0123456789.,- ", max_size=8),
    st.just("x" * 70_000),  # a huge field
)
headers = st.lists(
    st.one_of(st.sampled_from(CATALOGUE_COLUMNS), st.text(min_size=1, max_size=12)),
    min_size=1,
    max_size=8,
    unique_by=lambda h: h.strip().lower(),
)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]
QUOTING = [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]


def _accounting(result, n_written: int | None) -> None:
    assert list(result.lots.columns) == list(LOT_COLUMNS)
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    n_quarantined = result.quarantine["row_number"].nunique()
    dups = result.warnings.get("duplicate_lot_ref", 0)
    assert len(result.lots) + n_quarantined + dups == result.n_rows  # nothing silently dropped
    if n_written is not None:
        assert result.n_rows == n_written
    if len(result.quarantine):
        assert result.quarantine["source"].eq("catalogue.csv").all()
        assert result.quarantine["field"].notna().all() and result.quarantine["reason"].str.len().gt(0).all()
        assert result.quarantine["row_number"].between(1, result.n_rows).all()


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_catalogue(path, run_date="2026-10-01")


@FAST
@given(
    headers,
    st.lists(st.lists(cells, min_size=0, max_size=9), max_size=6),
    st.sampled_from(ENCODINGS),
    st.sampled_from(QUOTING),
    st.booleans(),
)
def test_generated_csv_parses_or_is_refused(tmp_path_factory, header, rows, encoding, quoting, with_required):
    if with_required:
        header = [
            "lot_ref",
            "artist_name",
            *[h for h in header if h.strip().lower() not in ("lot_ref", "artist_name")],
        ]
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=quoting, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow((row + [""] * len(header))[: len(header)])  # every row as wide as the header
    text = buf.getvalue()
    path = tmp_path_factory.mktemp("cat") / "catalogue.csv"
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
        encoding = "utf-8"
    path.write_bytes(data)
    try:
        result = _read(path)
    except CatalogueError as exc:
        assert "catalogue.csv" in str(exc)
        return
    # What the csv module reads from the same text is the truth about how many data rows there are.
    truth = list(csv.reader(io.StringIO(data.decode(encoding).lstrip("\ufeff"), newline="")))
    n_written = len([r for r in truth[1:] if r])
    _accounting(result, n_written)


@FAST
@given(
    st.binary(max_size=400),
    st.sampled_from([b"", b"lot_ref,artist_name\n", b"\xef\xbb\xbflot_ref,artist_name\n"]),
)
def test_random_bytes_parse_or_are_refused(tmp_path_factory, junk, prefix):
    path = tmp_path_factory.mktemp("cat") / "catalogue.csv"
    path.write_bytes(prefix + junk)
    try:
        result = _read(path)
    except CatalogueError as exc:
        assert "catalogue.csv" in str(exc)
        return
    _accounting(result, None)


@pytest.mark.parametrize(
    "data,fragment",
    [
        (b"", "empty file"),
        ("lot_ref,artist_name\nL1,Renée\n".encode("utf-16"), "catalogue.csv"),
        (b"title,medium\nA,oil\n", "missing required column(s): lot_ref, artist_name"),
        (b"lot_ref,artist_name\nL1,Pablo\x00Picasso\n", "catalogue.csv"),
        (b'lot_ref,artist_name\n"L1,Pablo\n', "catalogue.csv"),
    ],
    ids=["empty", "utf16", "missing_columns", "nul", "unclosed_quote"],
)
def test_hostile_files_are_refused_or_quarantined_clearly(tmp_path, data, fragment):
    path = tmp_path / "catalogue.csv"
    path.write_bytes(data)
    try:
        result = _read(path)
    except CatalogueError as exc:
        assert fragment in str(exc)
        return
    _accounting(result, None)
    # a file that parses: a NUL inside a name must not reach the warehouse
    assert not result.lots["artist_name"].astype(str).str.contains("\x00").any()


def test_a_nul_in_a_cell_quarantines_the_row_naming_the_field(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_bytes(b"lot_ref,artist_name,title\nL1,Pablo\x00Picasso,Guitar\nL2,Joan Miro,Bird\n")
    result = _read(path)
    assert list(result.lots["lot_ref"]) == ["L2"]
    q = result.quarantine
    assert list(q["field"]) == ["artist_name"] and list(q["row_number"]) == [1]
    assert "NUL" in q["reason"].iloc[0] and q["source"].iloc[0] == "catalogue.csv"


def test_latin1_file_is_refused_naming_the_byte(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_bytes("lot_ref,artist_name\nL1,Renée Sintenis\n".encode("latin-1"))
    with pytest.raises(CatalogueError, match=r"catalogue.csv: not UTF-8 text .* at byte \d+"):
        _read(path)


def test_extra_columns_are_ignored_and_good_rows_go_through(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text(
        "lot_ref,artist_name,secret_column\nL1,Pablo Picasso,x\n,Nobody,y\nL3,,z\n", encoding="utf-8"
    )
    result = _read(path)
    assert result.ignored_columns == ("secret_column",)
    assert list(result.lots["lot_ref"]) == ["L1"]
    assert sorted(result.quarantine["row_number"]) == [2, 3]
    assert set(result.quarantine["field"]) == {"lot_ref", "artist_name"}
