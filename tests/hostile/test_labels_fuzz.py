"""Hostile expert-label frames through the real GX suite: any frame is accepted row by row or quarantined with a
reason, or refused whole with a LabelSchemaError naming the source and the missing field; never a crash, never
a silent drop (accepted + quarantined rows == input rows), never a raw expert id in what comes out."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gbv.contracts import LABEL_COLUMNS, LABEL_OPTIONAL_COLUMNS, QUARANTINE_COLUMNS
from quality.labels import LabelSchemaError, validate_labels

SLOW_GX = settings(
    max_examples=30,  # each example runs the GX suite (~0.2 s)
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: a failure prints its frame as found
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXPERTS = ["E001", "E002", "E003"]
SALT = "fuzz-salt"

values = st.one_of(
    st.none(),
    st.just(np.nan),
    st.text(max_size=12),
    st.sampled_from(
        [
            "E001",
            "E002",
            "E999",
            "",
            " ",
            "USD",
            "eur",
            "XXX",
            "2026-09-30T10:00:00Z",
            "1e400",
            "-5",
            "0",
            "inf",
            "NaN",
            "abstract",
            "\x00",
            "2026-02-30",
            "9999-12-31T00:00:00",
        ]
    ),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.binary(max_size=4),
)
column_sets = st.lists(
    st.sampled_from([*LABEL_COLUMNS, *LABEL_OPTIONAL_COLUMNS, "extra", "Expert_ID"]), unique=True, max_size=14
)


@st.composite
def frames(draw):
    cols = draw(column_sets)
    if draw(st.booleans()):
        cols = list(dict.fromkeys([*LABEL_COLUMNS, *cols]))  # mostly schema-complete frames
    n = draw(st.integers(0, 6))
    data = {c: [draw(values) for _ in range(n)] for c in cols}
    return pd.DataFrame(data, columns=cols, dtype=object)


@SLOW_GX
@given(frames())
def test_any_label_frame_is_accepted_quarantined_or_refused(frame):
    try:
        result = validate_labels(frame, EXPERTS, "2026-10-01", "fuzz.csv", salt=SALT)
    except LabelSchemaError as exc:
        assert "fuzz.csv" in str(exc) and exc.missing
        assert set(exc.missing) == {c for c in LABEL_COLUMNS if c not in frame.columns}
        return
    q = result.quarantine
    assert list(q.columns) == list(QUARANTINE_COLUMNS)
    assert len(result.accepted) + q["row_number"].nunique() == len(frame)  # nothing silently dropped
    assert q["row_number"].between(1, len(frame)).all()
    assert q["field"].notna().all() and q["reason"].str.len().gt(0).all()
    assert (q["source"] == "fuzz.csv").all()
    # pseudonymous: no raw expert id where the expert is named (accepted rows, quarantine payloads)
    assert "expert_id" not in result.accepted.columns
    assert not result.accepted["expert_key"].isin(EXPERTS).any()
    for payload in q["payload"]:
        named = json.loads(payload)
        assert named.get("expert_id") not in EXPERTS and named.get("expert_key") not in EXPERTS


@pytest.mark.parametrize(
    "frame,fragment",
    [
        (pd.DataFrame({"label_id": ["L1"]}), "missing required column(s): lot_ref, expert_id"),
        (pd.DataFrame(), "missing required column(s): label_id"),
    ],
)
def test_schema_errors_name_source_and_fields(frame, fragment):
    with pytest.raises(
        LabelSchemaError, match=r"'fuzz.csv'.*" + fragment.replace("(", r"\(").replace(")", r"\)")
    ):
        validate_labels(frame, EXPERTS, "2026-10-01", "fuzz.csv", salt=SALT)


def test_one_bad_cell_quarantines_its_row_and_the_good_row_goes_through():
    good = {
        "label_id": "L1",
        "lot_ref": "harrington-S1-0001",
        "expert_id": "E001",
        "value_low": 100,
        "value_point": 150,
        "value_high": 200,
        "currency": "USD",
        "submitted_at": "2026-09-30T10:00:00Z",
    }
    bad = {**good, "label_id": "L2", "expert_id": "E002", "value_point": "a lot"}
    result = validate_labels(pd.DataFrame([good, bad]), EXPERTS, "2026-10-01", "fuzz.csv", salt=SALT)
    assert list(result.accepted["label_id"]) == ["L1"]
    assert list(result.quarantine["row_number"]) == [2] and list(result.quarantine["field"]) == [
        "value_point"
    ]
    assert "'a lot'" in result.quarantine["reason"].iloc[0]


@pytest.mark.parametrize("stamp", ["-005-01-01", "0001-01-01T00:00:00", "20260-01-01"])
def test_a_timestamp_outside_any_plausible_range_is_quarantined_not_a_crash(stamp):
    """Found by the property test above: a year pandas can hold but not in nanoseconds crashed the intake."""
    from quality.labels import validate_labels

    frame = pd.DataFrame([{"label_id": "L1", "lot_ref": "x-1", "expert_id": "E001", "value_low": "1",
                           "value_point": "2", "value_high": "3", "currency": "USD", "submitted_at": stamp},
                          {"label_id": "L2", "lot_ref": "x-1", "expert_id": "E002", "value_low": "1",
                           "value_point": "2", "value_high": "3", "currency": "USD",
                           "submitted_at": "2026-01-01T00:00:00Z"}])
    result = validate_labels(frame, ["E001", "E002"], "2026-10-01", "fuzz", salt="s")
    assert list(result.accepted["label_id"]) == ["L2"]
    assert set(result.quarantine.loc[result.quarantine["row_ref"] == "L1", "field"]) == {"submitted_at"}
