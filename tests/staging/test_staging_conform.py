"""conform_lots: good rows conformed with independently computed values, bad rows quarantined."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from gbv.contracts import LOT_COLUMNS, QUARANTINE_COLUMNS, RAW_LOT_FIELDS
from gbv.staging import StagingResult, conform_lots, read_raw_jsonl

RUN_DATE = "2024-04-01"

# FX table values for 2024 (gbv.normalize.fx, annual averages), written out here on purpose
GBP_2024, EUR_2024, HKD_PER_USD_2024 = 1.278, 1.082, 7.78


def html_row(**over):
    row = dict(
        source="demo_harrington",
        house="harrington",
        auction_house="Harrington & Sons",
        sale_id="L24001",
        sale_title="Modern and Contemporary",
        sale_date="14 March 2024",
        sale_location="London",
        sale_currency="GBP",
        lot_number=12,
        artist_name="PICASSO, Pablo",
        artist_birth_year=1881,
        artist_death_year=1973,
        artist_nationality="Spanish",
        artist_dates=None,
        title="Tête de femme",
        medium="Oil on canvas",
        created_text="c. 1965",
        dimensions_text="65.5 x 81 x 20 cm",
        signature="signed and dated",
        description="A head.",
        edition=None,
        image_url="http://img/1.jpg",
        estimate_low=10000,
        estimate_high=15000,
        price=12000,
        price_basis="hammer",
        status="SOLD",
        url="http://demo/harrington/L24001/12",
    )
    row.update(over)
    return row


def api_row(**over):
    row = dict(
        source="demo_delacroix",
        house="delacroix",
        auction_house="Delacroix",
        sale_id="P24-03",
        sale_title="Art d'après-guerre",
        sale_date="2024-03-14T19:00:00Z",
        sale_location="Paris",
        sale_currency="EUR",
        lot_number="0007",
        artist_name="Pierre Soulages",
        artist_birth_year=None,
        artist_death_year=None,
        artist_nationality=None,
        artist_dates="(French, 1919-2022)",
        title="Peinture",
        medium="Oil on canvas",
        created_text="1965-67",
        dimensions_text="25 3/4 x 31 7/8 in.",
        signature="Signed lower right",
        description=None,
        edition=None,
        image_url=None,
        estimate_low="€12,500",
        estimate_high="€18,000",
        price="€15,625",
        price_basis="premium",
        status="sold",
        url="http://demo/api/delacroix/P24-03/7",
    )
    row.update(over)
    return row


def frame(rows):
    return pd.DataFrame(rows, columns=list(RAW_LOT_FIELDS))


def result_frame() -> pd.DataFrame:
    rows = [
        html_row(),  # 1 good html
        api_row(),  # 2 good api, premium price
        html_row(
            lot_number=13,
            house="lotus",
            auction_house="Lotus",
            sale_id="HK24",
            sale_currency="HKD",
            price=None,
            status="UNSOLD",
            estimate_low=800000,
            estimate_high=1200000,
            dimensions_text="weird size",
            created_text="who knows",
            medium="Lithograph",
            sale_date="14 March 2024",
            url="http://demo/lotus/13",
        ),  # 3 good, soft problems
        api_row(lot_number="0008", price="€abc", url="http://demo/api/delacroix/P24-03/8"),  # 4 bad price
        api_row(lot_number="x9", url="http://demo/api/delacroix/P24-03/x9"),  # 5 bad lot number
        html_row(lot_number=14, sale_date="sometime in spring"),  # 6 bad sale date
        html_row(lot_number=15, sale_currency="ZZZ"),  # 7 unknown currency
        html_row(lot_number=16, estimate_low=20000, estimate_high=15000),  # 8 estimate low > high
        html_row(lot_number=17, price=0),  # 9 non-positive price
        api_row(
            lot_number="0010",
            house="kestrel",
            auction_house="Kestrel",
            sale_id="NY24",
            sale_currency="USD",
            estimate_low="$100,000",
            estimate_high="$150,000",
            price=None,
            status="open",
            sale_date="2024-05-20T19:00:00Z",
            artist_dates="(American, b. 1962)",
            artist_name="Jane Doe",
            dimensions_text="25 3/4 x 31 7/8 x 8 in.",
            signature="Unsigned",
            url="http://demo/api/kestrel/NY24/10",
        ),  # 10 good upcoming
        html_row(price=12500, url="http://demo/harrington/L24001/12?again"),  # 11 duplicate of row 1 (wins)
    ]
    return frame(rows)


@pytest.fixture(scope="module")
def result() -> StagingResult:
    return conform_lots(result_frame(), RUN_DATE)


def lot(result, ref):
    got = result.lots[result.lots["lot_ref"] == ref]
    assert len(got) == 1, f"expected one lot {ref}, got {len(got)}"
    return got.iloc[0]


def test_shapes_and_columns(result):
    assert tuple(result.lots.columns) == LOT_COLUMNS
    assert tuple(result.quarantine.columns) == QUARANTINE_COLUMNS
    assert result.n_rows == 11
    assert sorted(result.lots["lot_ref"]) == sorted(
        ["harrington-L24001-0012", "delacroix-P24-03-0007", "lotus-HK24-0013", "kestrel-NY24-0010"]
    )


def test_html_row_values(result):
    row = lot(result, "harrington-L24001-0012")
    assert row["sale_date"] == dt.date(2024, 3, 14)
    assert row["lot_number"] == 12 and row["sale_currency"] == "GBP"
    assert (row["height_cm"], row["width_cm"], row["depth_cm"]) == (65.5, 81.0, 20.0)
    assert row["hammer_price"] == 12500.0  # the duplicate (last) row won
    assert row["fx_usd"] == pytest.approx(GBP_2024)
    assert row["hammer_usd"] == pytest.approx(12500 * GBP_2024)
    assert row["estimate_low_usd"] == pytest.approx(10000 * GBP_2024)
    assert row["estimate_high_usd"] == pytest.approx(15000 * GBP_2024)
    assert row["artist_name"] == "Pablo Picasso" and row["artist_id"] == "pablo-picasso-1881"
    assert row["year_created"] == 1965 and row["medium_class"] == "painting"
    assert row["signature"] == "signed_and_dated" and row["status"] == "sold"
    assert row["artwork_id"].startswith("aw_")


def test_api_row_values(result):
    row = lot(result, "delacroix-P24-03-0007")
    assert row["sale_date"] == dt.date(2024, 3, 14)
    assert row["lot_number"] == 7
    assert row["height_cm"] == pytest.approx((25 + 3 / 4) * 2.54, abs=1e-3)  # 65.405
    assert row["width_cm"] == pytest.approx((31 + 7 / 8) * 2.54, abs=1e-3)  # 80.9625
    assert pd.isna(row["depth_cm"])
    # premium-inclusive €15,625 at delacroix's flat 25 % premium -> hammer €12,500
    assert row["hammer_price"] == pytest.approx(15625 / 1.25)
    assert row["hammer_usd"] == pytest.approx(15625 / 1.25 * EUR_2024)
    assert (row["estimate_low"], row["estimate_high"]) == (12500.0, 18000.0)
    assert (row["artist_nationality"], row["artist_birth_year"], row["artist_death_year"]) == (
        "French",
        1919,
        2022,
    )
    assert row["artist_id"] == "pierre-soulages-1919"
    assert row["year_created"] == 1965 and row["signature"] == "signed" and row["status"] == "sold"


def test_soft_problems_become_nulls_and_warnings(result):
    row = lot(result, "lotus-HK24-0013")
    assert pd.isna(row["height_cm"]) and pd.isna(row["year_created"])
    assert row["status"] == "bought_in" and pd.isna(row["hammer_price"]) and pd.isna(row["hammer_usd"])
    assert row["fx_usd"] == pytest.approx(1 / HKD_PER_USD_2024)
    assert row["estimate_low_usd"] == pytest.approx(800000 / HKD_PER_USD_2024)
    assert row["medium_class"] == "print"
    assert result.warnings["dimensions_unparsed"] == 1
    assert result.warnings["created_unparsed"] == 1
    assert result.warnings["duplicate_lot_ref"] == 1


def test_upcoming_api_row(result):
    row = lot(result, "kestrel-NY24-0010")
    assert row["status"] == "upcoming" and row["fx_usd"] == 1.0
    assert row["estimate_high_usd"] == 150000.0
    assert row["depth_cm"] == pytest.approx(8 * 2.54)
    assert row["artist_birth_year"] == 1962 and pd.isna(row["artist_death_year"])
    assert row["signature"] == "unsigned"


@pytest.mark.parametrize(
    ("row_number", "field", "row_ref", "in_reason"),
    [
        (4, "price", "delacroix-P24-03-0008", "€abc"),
        (5, "lot_number", "http://demo/api/delacroix/P24-03/x9", "x9"),
        (6, "sale_date", "harrington-L24001-0014", "sometime in spring"),
        (7, "sale_currency", "harrington-L24001-0015", "ZZZ"),
        (8, "estimate_low", "harrington-L24001-0016", "20000"),
        (9, "price", "harrington-L24001-0017", "non-positive"),
    ],
)
def test_bad_rows_quarantined(result, row_number, field, row_ref, in_reason):
    q = result.quarantine
    hits = q[(q["row_number"] == row_number) & (q["field"] == field)]
    assert len(hits) == 1, q[["row_number", "field", "reason"]]
    hit = hits.iloc[0]
    assert hit["row_ref"] == row_ref and in_reason in hit["reason"]
    assert hit["stage"] == "conform" and hit["run_date"] == RUN_DATE and hit["source"].startswith("demo_")
    assert json.loads(hit["payload"])["url"]


def test_only_bad_rows_quarantined(result):
    assert set(result.quarantine["row_number"]) == {4, 5, 6, 7, 8, 9}
    assert result.n_quarantined_rows == 6


def test_a_year_of_creation_before_birth_or_after_the_sale_is_dropped_and_the_lot_kept():
    rows = frame([html_row(lot_number=1, created_text="1872"),  # Picasso, born 1881: a year from the title
                  html_row(lot_number=2, created_text="2025"),  # sold in March 2024
                  html_row(lot_number=3, created_text="1881"),  # the year he was born: possible
                  api_row(created_text="1918")])  # Soulages, born 1919 (from artist_dates)
    r = conform_lots(rows, RUN_DATE)
    assert r.quarantine.empty and len(r.lots) == 4
    years = dict(zip(r.lots["lot_number"], r.lots["year_created"], strict=True))
    assert pd.isna(years[1]) and pd.isna(years[2]) and years[3] == 1881 and pd.isna(years[7])
    assert (r.lots["hammer_price"].notna()).sum() >= 3  # the sales themselves are kept
    assert r.warnings["created_before_birth"] == 2 and r.warnings["created_after_sale"] == 1


def test_idempotent():
    rows = frame([html_row(), api_row(), api_row(lot_number="0008", price="junk")])
    a, b = conform_lots(rows, RUN_DATE), conform_lots(rows, RUN_DATE)
    pd.testing.assert_frame_equal(a.lots, b.lots)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)


def test_empty_batch():
    r = conform_lots(frame([]), RUN_DATE)
    assert tuple(r.lots.columns) == LOT_COLUMNS and r.lots.empty
    assert tuple(r.quarantine.columns) == QUARANTINE_COLUMNS and r.quarantine.empty


def test_ten_thousand_rows():
    rows = [
        api_row(lot_number=f"{i:04d}", title=f"Work {i}", price=f"€{10_000 + i:,}")
        if i % 2
        else html_row(lot_number=i, title=f"Work {i}", price=10_000 + i)
        for i in range(10_000)
    ]
    r = conform_lots(frame(rows), RUN_DATE)  # speed is measured by `gbv bench night`, not here
    assert len(r.lots) == 10_000 and r.quarantine.empty
    assert r.lots["lot_ref"].is_unique


@pytest.mark.parametrize("chunk_rows", [1, 3, 5, 10])
def test_conform_in_chunks_equals_one_batch(result, chunk_rows):
    """A million-lot night conforms a chunk at a time: same lots, same quarantine (row numbers in the whole
    frame), the duplicate in a later chunk still wins and is still counted."""
    from gbv.staging import conform_in_chunks

    chunked = conform_in_chunks(result_frame(), RUN_DATE, chunk_rows=chunk_rows)
    by_ref = lambda df: df.sort_values("lot_ref").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(by_ref(chunked.lots), by_ref(result.lots), check_dtype=False)
    pd.testing.assert_frame_equal(chunked.quarantine.reset_index(drop=True), result.quarantine,
                                  check_dtype=False)
    assert chunked.warnings == result.warnings
    assert chunked.warnings["duplicate_lot_ref"] == 1
    assert lot(chunked, "harrington-L24001-0012")["hammer_price"] == 12500


def test_read_raw_jsonl(tmp_path):
    path = tmp_path / "lots.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [html_row(), api_row()]) + "\n", encoding="utf-8")
    raw = read_raw_jsonl(path)
    assert tuple(raw.columns) == RAW_LOT_FIELDS and raw.loc[1, "lot_number"] == "0007"
    assert len(conform_lots(raw, RUN_DATE).lots) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_raw_jsonl(bad)
