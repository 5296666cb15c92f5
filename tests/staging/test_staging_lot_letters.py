"""conform_lots with the real houses' lot numbers and statuses (issue 3): a lot number with a letter (Koller's
``Lot 3254A``, Bonhams' ``iSaleLotNo`` + ``sSaleLotNoA``) is read like the importers read askART's ``13c``, and
Bonhams' ``WD`` is withdrawn. Synthetic rows."""

from __future__ import annotations

import pandas as pd
import pytest

from crawlers.items import AuctionLotItem
from crawlers.pipelines.validate import validate_lot
from gbv.contracts import RAW_LOT_FIELDS
from gbv.staging import conform_lots

RUN_DATE = "2024-04-01"


def row(**over):
    r = {c: None for c in RAW_LOT_FIELDS}
    r.update(
        source="koller",
        house="koller",
        auction_house="Koller Auktionen",
        sale_id="A999",
        sale_date="2014-09-19",
        sale_currency="CHF",
        lot_number="3201",
        artist_name="MUSTER, HANS",
        title="Landscape",
        estimate_low="CHF 6 000",
        estimate_high="8 000",
        price="CHF 7 000",
        price_basis="hammer",
        status="Sold",
        url="http://example.test/koller/A999#lot",
    )
    r.update(over)
    return r


def conform(rows):
    raw = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype="object") for c in RAW_LOT_FIELDS})
    return conform_lots(raw, RUN_DATE)


@pytest.mark.parametrize(
    ("lot_number", "number", "ref_tail"),
    [
        ("3201A", 3201, "3201a"),  # Koller
        ("3201a", 3201, "3201a"),
        ("12 B", 12, "0012b"),
        ("7AA", 7, "0007aa"),
        ("0012", 12, "0012"),  # unchanged: digits, zero-padded, float-looking text, ints
        ("12.0", 12, "0012"),
        (12, 12, "0012"),
        (12.0, 12, "0012"),
    ],
)
def test_lot_number_with_letter_is_kept_in_lot_ref(lot_number, number, ref_tail):
    res = conform([row(lot_number=lot_number)])
    assert res.quarantine.empty, res.quarantine["reason"].tolist()
    lot = res.lots.iloc[0]
    assert lot["lot_number"] == number
    assert lot["lot_ref"] == f"koller-A999-{ref_tail}"


def test_letter_lot_and_its_plain_lot_are_two_lots():
    res = conform([row(lot_number="3201"), row(lot_number="3201A", title="Another landscape")])
    assert sorted(res.lots["lot_ref"]) == ["koller-A999-3201", "koller-A999-3201a"]
    assert res.warnings["duplicate_lot_ref"] == 0


@pytest.mark.parametrize("lot_number", ["A12", "12-3", "12ABC", "x9", "", "1234567", True, 12.5])
def test_bad_lot_numbers_still_quarantined(lot_number):
    res = conform([row(lot_number=lot_number)])
    assert res.lots.empty
    assert set(res.quarantine["field"]) == {"lot_number"}


@pytest.mark.parametrize(
    ("lot_number", "ok"),
    [("3254A", True), ("12 b", True), ("0012", True), (12, True), ("A12", False), ("12-3", False), ("x9", False)],
)
def test_crawl_validation_accepts_what_staging_accepts(lot_number, ok):
    item = AuctionLotItem({k: v for k, v in row(lot_number=lot_number).items() if v is not None})
    problems = validate_lot(item)
    assert (problems == []) is ok, problems
    res = conform([row(lot_number=lot_number)])
    assert (len(res.lots) == 1) is ok


@pytest.mark.parametrize(
    ("status", "price", "want"),
    [("WD", None, "withdrawn"), ("BI", None, "bought_in"), ("SOLD", "CHF 7 000", "sold"), ("Closed", None, "bought_in")],
)
def test_bonhams_status_words(status, price, want):
    res = conform([row(source="bonhams", house="bonhams", status=status, price=price)])
    assert res.lots.iloc[0]["status"] == want
    assert res.warnings["status_unknown"] == 0
