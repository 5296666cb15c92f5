"""The expert_labels GX suite on hand-built label frames: every bad-input kind lands in quarantine."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gbv.contracts import LABEL_COLUMNS, QUARANTINE_COLUMNS
from gbv.privacy import pseudonymize
from quality.labels import ACCEPTED_LABEL_COLUMNS, LabelSchemaError, validate_labels

SALT = "test-salt"
RUN_DATE = "2026-10-01"
KNOWN = ["E001", "E002"]
GOOD = dict(value_low="80", value_point="100", value_high="120", currency="USD",
            submitted_at="2026-09-01T10:00:00Z", style="pop_art", attribution_confidence="0.9",
            condition="good", comment="")


def _row(label_id, lot_ref, expert_id, **overrides):
    return {"label_id": label_id, "lot_ref": lot_ref, "expert_id": expert_id, **GOOD, **overrides}


# (row, expected quarantine (field, reason words) for that row; [] = accepted)
CASES = [
    (_row("L01", "LOT-A", "E001", currency="GBP"), []),
    (_row("L02", "LOT-A", "E002", style=None, attribution_confidence=None), []),
    (_row("L03", "LOT-B", "E001", value_low="-10"), [("value_low", "must be > 0")]),
    (_row("L04", "LOT-C", "E001", value_low="150"), [("value_low", "above value_point")]),
    (_row("L05", "LOT-D", "E001", currency="XYZ"), [("currency", "unknown currency")]),
    (_row("L06", "LOT-E", "E001", style="baroque-ish"), [("style", "unknown style")]),
    (_row("L01", "LOT-F", "E001"), [("label_id", "duplicate label_id")]),
    (_row("L08", "LOT-A", "E001"), [("lot_ref,expert_id", "same expert for the same lot")]),
    (_row("L09", "LOT-G", "E999"), [("expert_id", "unknown expert")]),
    (_row("L10", "LOT-H", "E002", submitted_at="2026-10-05T09:00:00Z"), [("submitted_at", "after the run date")]),
    (_row("L11", "LOT-I", "E002", value_point="abc"), [("value_point", "could not be read as a number")]),
    (_row("L12", "LOT-J", "E002", submitted_at="last tuesday"), [("submitted_at", "could not be read")]),
    (_row("L13", "LOT-K", "E002", currency=" eur ", style=" Pop_Art", submitted_at="2026-10-01T23:59:59"), []),
    (_row("L14", "LOT-L", "E002", attribution_confidence="1.5"),
     [("attribution_confidence", "between 0 and 1")]),
    (_row("L15", "LOT-M", "E002", value_high="90"), [("value_high", "below value_point")]),
    (_row("L16", "LOT-N", "E002", value_point=""), [("value_point", "is missing")]),
    (_row("L17", "LOT-O", "E002", value_low="-5", value_point="-1"),
     [("value_low", "must be > 0"), ("value_point", "must be > 0")]),
]


@pytest.fixture(scope="module")
def labels() -> pd.DataFrame:
    return pd.DataFrame([row for row, _ in CASES], dtype=object)


@pytest.fixture(scope="module")
def result(labels, tmp_path_factory):
    root = tmp_path_factory.mktemp("gx")
    return validate_labels(labels, KNOWN, RUN_DATE, "test_upload", salt=SALT, docs_dir=root / "docs",
                           gx_dir=root / "gx")


@pytest.mark.parametrize("row_number", range(1, len(CASES) + 1))
def test_each_bad_kind_is_quarantined_with_field_and_reason(result, row_number):
    row, expected = CASES[row_number - 1]
    q = result.quarantine[result.quarantine["row_number"] == row_number]
    got = sorted(zip(q["field"], q["reason"], strict=True))
    assert [f for f, _ in got] == sorted(f for f, _ in expected), got
    for (field, words), (_, reason) in zip(sorted(expected), got, strict=True):
        assert words in reason, (field, reason)
        assert "[expect_" in reason or "type coercion" in reason  # names the expectation / stage
    accepted_ids = set(result.accepted["label_id"])
    if expected:
        assert (q["row_ref"] == row["label_id"]).all()
        if row["label_id"] != "L01":  # L01's first occurrence is accepted, the duplicate is not
            assert row["label_id"] not in accepted_ids
    else:
        assert row["label_id"] in accepted_ids


def test_quarantine_rows_are_well_formed(result):
    q = result.quarantine
    assert tuple(q.columns) == QUARANTINE_COLUMNS
    assert (q["run_date"] == RUN_DATE).all() and (q["stage"] == "labels").all()
    assert (q["source"] == "test_upload").all()
    assert q["row_number"].dtype == "int64"
    assert list(q["row_number"]) == sorted(q["row_number"])


def test_accepted_rows(result):
    acc = result.accepted
    assert tuple(acc.columns) == ACCEPTED_LABEL_COLUMNS
    assert "expert_id" not in acc.columns
    assert list(acc["label_id"]) == ["L01", "L02", "L13"]
    assert set(acc["expert_key"]) == {pseudonymize("E001", SALT), pseudonymize("E002", SALT)}
    gbp = acc.set_index("label_id").loc["L01"]
    assert gbp["value_point_usd"] == pytest.approx(100 * 1.330)  # GBP, 2026 annual average
    eur = acc.set_index("label_id").loc["L13"]
    assert eur["currency"] == "EUR" and eur["style"] == "pop_art"
    assert eur["value_high_usd"] == pytest.approx(120 * 1.150)
    assert acc["value_point"].dtype == "float64"
    assert str(acc["submitted_at"].dtype).startswith("datetime64")


def test_raw_expert_ids_never_leave(result, labels):
    for payload in result.quarantine["payload"]:
        row = json.loads(payload)
        assert row["expert_id"] is None or row["expert_id"].startswith("ex_")
    text = result.quarantine.to_csv() + result.accepted.to_csv()
    for raw_id in ("E001", "E002", "E999"):
        assert raw_id not in text
    unknown = result.quarantine[result.quarantine["field"] == "expert_id"]
    assert json.loads(unknown["payload"].iloc[0])["expert_id"] == pseudonymize("E999", SALT)
    # the Data Docs only ever saw pseudonyms too
    docs = result.docs_index.parent
    for path in docs.rglob("*.html"):
        assert "E999" not in path.read_text(encoding="utf-8")


def test_summary_counts(result):
    s = result.summary
    assert s["parse"]["evaluated"] == len(CASES) and s["parse"]["failed"] == 2
    assert s["label_id_unique"]["unexpected"] == 2 and s["label_id_unique"]["failed"] == 1
    assert s["expert_known"]["failed"] == 1 and s["currency_known"]["failed"] == 1
    assert s["value_point_in_range"]["failed"] == 1
    assert s["value_low_le_point"]["failed"] == 1  # L17 (-5 <= -1) passes the pair check
    assert s["style_known"]["success"] is False and s["lot_ref_not_null"]["success"] is True


def test_data_docs_written(result):
    assert result.docs_index is not None and result.docs_index.exists()
    html = result.docs_index.read_text(encoding="utf-8")
    assert "expert_labels" in html
    assert any((result.docs_index.parent / "validations").rglob("*.html"))


def test_without_docs_same_answer(labels, result):
    again = validate_labels(labels, KNOWN, RUN_DATE, "test_upload", salt=SALT)
    assert again.docs_index is None
    pd.testing.assert_frame_equal(again.accepted, result.accepted)
    pd.testing.assert_frame_equal(again.quarantine, result.quarantine)


@pytest.mark.parametrize("drop", [["currency"], ["value_point", "submitted_at"]])
def test_missing_column_raises_naming_field_and_source(labels, drop):
    with pytest.raises(LabelSchemaError) as err:
        validate_labels(labels.drop(columns=drop), KNOWN, RUN_DATE, "vendor_x.csv", salt=SALT)
    assert err.value.missing == tuple(drop)
    for name in [*drop, "vendor_x.csv"]:
        assert name in str(err.value)


def test_optional_columns_may_be_absent_and_input_may_be_empty():
    only_required = pd.DataFrame([{k: v for k, v in _row("L1", "LOT", "E001").items() if k in LABEL_COLUMNS}])
    out = validate_labels(only_required, KNOWN, RUN_DATE, "s", salt=SALT)
    assert len(out.accepted) == 1 and out.accepted["style"].isna().all() and out.quarantine.empty
    empty = validate_labels(only_required.iloc[:0], KNOWN, RUN_DATE, "s", salt=SALT)
    assert empty.accepted.empty and empty.quarantine.empty
    assert tuple(empty.quarantine.columns) == QUARANTINE_COLUMNS
