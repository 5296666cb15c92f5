"""read_catalogue: required columns, per-row quarantine, good rows kept."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gbv.contracts import CATALOGUE_COLUMNS, LOT_COLUMNS, QUARANTINE_COLUMNS
from gbv.intake import CatalogueError, CatalogueWarning, read_catalogue

GOOD = {
    "lot_ref": "HAR-2406-001",
    "auction_house": "Harrington & Sons",
    "sale_location": "London",
    "sale_date": "2024-06-20",
    "sale_currency": "GBP",
    "lot_number": "1",
    "artist_name": "HOCKNEY, David",
    "artist_birth_year": "1937",
    "artist_death_year": "",
    "artist_nationality": "British",
    "title": "Pool",
    "medium": "Acrylic on canvas",
    "year_created": "1967",
    "created_text": "1967",
    "height_cm": "121,9",
    "width_cm": "121.9",
    "depth_cm": "",
    "signature": "Signed and dated",
    "description": "",
    "edition": "",
    "image_url": "",
}


def write(tmp_path, rows, columns=CATALOGUE_COLUMNS, name="harrington_2406.csv", encoding="utf-8"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False, encoding=encoding)
    return path


def test_missing_artist_name_column_raises_naming_it(tmp_path):
    cols = [c for c in CATALOGUE_COLUMNS if c != "artist_name"]
    path = write(tmp_path, [{k: v for k, v in GOOD.items() if k != "artist_name"}], cols)
    with pytest.raises(CatalogueError) as info:
        read_catalogue(path, "2024-06-01")
    assert "artist_name" in str(info.value) and path.name in str(info.value)


def test_only_required_columns_is_enough(tmp_path):
    path = write(tmp_path, [{"lot_ref": "X-1", "artist_name": "Bridget Riley"}], ["lot_ref", "artist_name"])
    r = read_catalogue(path, "2024-06-01")
    assert len(r.lots) == 1 and r.lots.loc[0, "artist_id"] == "bridget-riley-x"
    assert pd.isna(r.lots.loc[0, "fx_usd"]) and r.lots.loc[0, "status"] == "upcoming"


def test_bad_rows_quarantined_good_rows_kept(tmp_path):
    rows = [
        GOOD,
        {**GOOD, "lot_ref": "HAR-2406-002", "artist_name": "  "},  # 2 empty artist
        {**GOOD, "lot_ref": "HAR-2406-003", "sale_currency": "XYZ"},  # 3 unknown currency
        {**GOOD, "lot_ref": "HAR-2406-004", "sale_date": "31/31/2024"},  # 4 bad date
        {**GOOD, "lot_ref": "HAR-2406-005", "width_cm": "wide"},  # 5 non-numeric size
        {
            **GOOD,
            "lot_ref": "HAR-2406-006",
            "artist_name": "Bridget Riley",
            "medium": "Screenprint",
            "sale_currency": "",
            "year_created": "",
            "created_text": "c. 1960s",
        },  # 6 good
    ]
    r = read_catalogue(write(tmp_path, rows), "2024-06-01")
    assert r.n_rows == 6
    assert tuple(r.lots.columns) == LOT_COLUMNS and tuple(r.quarantine.columns) == QUARANTINE_COLUMNS
    assert list(r.lots["lot_ref"]) == ["HAR-2406-001", "HAR-2406-006"]

    q = r.quarantine.set_index("row_number")
    assert q.loc[2, "field"] == "artist_name"
    assert q.loc[3, "field"] == "sale_currency" and "XYZ" in q.loc[3, "reason"]
    assert q.loc[4, "field"] == "sale_date" and "31/31/2024" in q.loc[4, "reason"]
    assert q.loc[5, "field"] == "width_cm" and "wide" in q.loc[5, "reason"]
    assert set(r.quarantine["stage"]) == {"intake"}
    assert set(r.quarantine["source"]) == {"harrington_2406.csv"}
    assert all(
        f"row {n}" in reason
        for n, reason in zip(r.quarantine["row_number"], r.quarantine["reason"], strict=True)
    )

    good = r.lots.iloc[0]
    assert good["house"] == "harrington-sons" and good["status"] == "upcoming"
    assert good["sale_date"] == dt.date(2024, 6, 20)
    assert good["artist_name"] == "David Hockney" and good["artist_id"] == "david-hockney-1937"
    assert good["height_cm"] == pytest.approx(121.9) and good["width_cm"] == pytest.approx(121.9)
    assert good["fx_usd"] == pytest.approx(1.278)  # GBP 2024 annual average
    assert pd.isna(good["hammer_price"]) and pd.isna(good["estimate_low_usd"])
    assert good["medium_class"] == "painting" and good["signature"] == "signed_and_dated"
    assert r.lots.iloc[1]["year_created"] == 1965 and r.lots.iloc[1]["medium_class"] == "print"


def test_extra_columns_ignored_with_warning_and_bom(tmp_path):
    path = write(
        tmp_path, [{**GOOD, "provenance": "x"}], [*CATALOGUE_COLUMNS, "provenance"], encoding="utf-8-sig"
    )
    with pytest.warns(CatalogueWarning, match="provenance"):
        r = read_catalogue(path, "2024-06-01")
    assert r.ignored_columns == ("provenance",) and len(r.lots) == 1


def test_not_utf8_is_a_catalogue_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("lot_ref,artist_name\nX-1,Léger\n".encode("latin-1"))
    with pytest.raises(CatalogueError, match="latin1.csv"):
        read_catalogue(path)


def test_a_sale_title_gives_the_model_the_sales_type(tmp_path):
    from model.features import context_features

    evening = {**GOOD, "lot_ref": "HAR-2406-002", "sale_title": "Post-War and Contemporary Art Evening Sale"}
    path = write(tmp_path, [{**GOOD, "sale_title": ""}, evening])
    lots = read_catalogue(path, "2024-06-01").lots
    assert pd.isna(lots.loc[0, "sale_title"]) and lots.loc[1, "sale_title"] == evening["sale_title"]
    ctx = context_features(lots, lots.iloc[:0])
    assert list(ctx["evening_sale"]) == [0.0, 1.0]


def test_years_that_cannot_be_are_quarantined_with_the_field_and_the_rest_kept(tmp_path):
    rows = [
        {**GOOD, "lot_ref": "Y-1", "year_created": "2031"},  # made after the 2024 sale
        {**GOOD, "lot_ref": "Y-2", "year_created": "1890"},  # made before Hockney's birth (1937)
        {**GOOD, "lot_ref": "Y-3", "artist_birth_year": "2030", "year_created": ""},  # born after the sale
        {**GOOD, "lot_ref": "Y-4", "artist_death_year": "2090"},  # dead after the run day
        {**GOOD, "lot_ref": "Y-5", "sale_date": "", "year_created": "2025"},  # no sale date: after the run day
        GOOD,  # 6 good
        {**GOOD, "lot_ref": "Y-7", "year_created": "", "created_text": "2020s"},  # vague: year dropped, lot kept
        {**GOOD, "lot_ref": "Y-8", "year_created": "1937"},  # made in the birth year: possible
        {**GOOD, "lot_ref": "Y-9", "sale_date": "2016-05-01", "artist_death_year": "2020"},  # an old sale, today's facts
    ]
    r = read_catalogue(write(tmp_path, rows), "2024-06-01")
    assert list(r.lots["lot_ref"]) == ["HAR-2406-001", "Y-7", "Y-8", "Y-9"]
    q = r.quarantine.set_index("row_number")
    assert list(q.index) == [1, 2, 3, 4, 5]
    assert q.loc[1, "field"] == "year_created" and "2031 is after the sale date 2024-06-20" in q.loc[1, "reason"]
    assert q.loc[2, "field"] == "year_created" and "before artist_birth_year 1937" in q.loc[2, "reason"]
    assert q.loc[3, "field"] == "artist_birth_year" and "2030" in q.loc[3, "reason"]
    assert q.loc[4, "field"] == "artist_death_year" and "2090" in q.loc[4, "reason"]
    assert q.loc[5, "field"] == "year_created" and "the run day 2024-06-01" in q.loc[5, "reason"]
    assert pd.isna(r.lots.set_index("lot_ref").loc["Y-7", "year_created"])
    assert r.warnings["created_text_impossible"] == 1
    assert r.lots.set_index("lot_ref").loc["Y-8", "year_created"] == 1937
