"""Issue 7 additions to the expert_labels suite: unknown lot, submitted after the sale, implausible
timestamps and statistical outliers against the leave-one-out consensus."""

from __future__ import annotations

import pandas as pd
import pytest

from quality.labels import outlier_k_from_env, validate_labels

SALT = "s"
RUN = "2026-10-01"
EXPERTS = [f"E{i:03d}" for i in range(1, 8)]


def _row(label_id, lot_ref, expert_id, point, submitted_at="2026-09-01T10:00:00Z", currency="USD"):
    return {"label_id": label_id, "lot_ref": lot_ref, "expert_id": expert_id, "value_low": point * 0.8,
            "value_point": point, "value_high": point * 1.25, "currency": currency, "submitted_at": submitted_at}


LOTS = pd.DataFrame({"lot_ref": ["A", "B", "C"], "sale_date": ["2026-10-20", "2026-10-20", "2026-08-15"]})


def _reasons(result):
    return {(r.row_ref, r.field): r.reason for r in result.quarantine.itertuples()}


def test_unknown_lot_and_after_sale_are_quarantined():
    labels = pd.DataFrame([
        _row("L1", "A", "E001", 1000), _row("L2", "ZZZ", "E002", 1000),
        _row("L3", "C", "E003", 1000, submitted_at="2026-08-20T09:00:00Z"),  # after C sold on 08-15
        _row("L4", "C", "E004", 1000, submitted_at="2026-08-15T18:00:00Z"),  # sale day: fine
        _row("L5", "B", "E005", 1000, submitted_at="1970-01-02T00:00:00Z"),
    ])
    res = validate_labels(labels, EXPERTS, RUN, "t", salt=SALT, lots=LOTS)
    reasons = _reasons(res)
    assert set(res.accepted["label_id"]) == {"L1", "L4"}
    assert reasons[("L2", "lot_ref")].startswith("unknown lot")
    assert "after the lot's sale date" in reasons[("L3", "submitted_at")]
    assert "implausible timestamp" in reasons[("L5", "submitted_at")]
    assert res.summary["lot_known"]["failed"] == 1


def test_without_lots_no_lot_rule_runs():
    labels = pd.DataFrame([_row("L1", "ZZZ", "E001", 1000)])
    res = validate_labels(labels, EXPERTS, RUN, "t", salt=SALT)
    assert list(res.accepted["label_id"]) == ["L1"] and "lot_known" not in res.summary


def test_outlier_against_leave_one_out_consensus():
    rows = []
    for j, lot in enumerate("ABCDEFGH"):
        base = 1000 * (j + 1)
        for i, f in enumerate([1.0, 1.1, 0.92, 1.05]):
            rows.append(_row(f"L{lot}{i}", lot, EXPERTS[i], base * f))
    rows.append(_row("LBAD", "A", "E006", 1000 * 60))  # 60x the others
    res = validate_labels(pd.DataFrame(rows), EXPERTS, RUN, "t", salt=SALT, outlier_k=4.0)
    reasons = _reasons(res)
    assert list(reasons) == [("LBAD", "value_point")]
    assert reasons[("LBAD", "value_point")].startswith("outlier")
    assert len(res.accepted) == len(rows) - 1
    # off: the same label is accepted
    assert len(validate_labels(pd.DataFrame(rows), EXPERTS, RUN, "t", salt=SALT).accepted) == len(rows)


def test_outlier_needs_two_references_and_uses_current_consensus():
    rows = [_row("L1", "A", "E001", 1000), _row("L2", "A", "E002", 90_000)]
    assert len(validate_labels(pd.DataFrame(rows), EXPERTS, RUN, "t", salt=SALT, outlier_k=3).accepted) == 2
    # background lots give the pooled scale
    for j, lot in enumerate("BCDE"):
        rows += [_row(f"L{lot}{i}", lot, EXPERTS[i], 2000 * (j + 1) * f) for i, f in enumerate([1, 1.1, 0.9])]
    current = pd.DataFrame({"lot_ref": ["A"], "consensus_usd": [1050.0]})
    res = validate_labels(pd.DataFrame(rows), EXPERTS, RUN, "t", salt=SALT, outlier_k=3,
                          current_consensus=current)
    assert set(res.quarantine["row_ref"]) == {"L2"}


def test_outlier_k_from_env(monkeypatch):
    monkeypatch.delenv("GBV_LABEL_OUTLIER_K", raising=False)
    assert outlier_k_from_env() == 4.0
    monkeypatch.setenv("GBV_LABEL_OUTLIER_K", "off")
    assert outlier_k_from_env() is None
    monkeypatch.setenv("GBV_LABEL_OUTLIER_K", "2.5")
    assert outlier_k_from_env() == 2.5
    monkeypatch.setenv("GBV_LABEL_OUTLIER_K", "-1")
    with pytest.raises(ValueError):
        outlier_k_from_env()
