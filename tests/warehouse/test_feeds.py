"""Feeds: one folder per house and night, whole or not at all, same bytes on a re-run, own lots only."""

from __future__ import annotations

import hashlib
import json
import os

import pandas as pd
import pytest

from gbv.contracts import VALUATION_COLUMNS
from gbv.settings import UnsafeName, get_settings
from warehouse import feeds
from warehouse.feeds import FEED_COLUMNS, FEED_SCHEMA_VERSION, FeedError, read_feed, write_feed


def _rows(house: str, n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "lot_ref": [f"{house}-S1-{i:04d}" for i in range(n, 0, -1)], "house": house,
        "estimate_usd": [1000.4 * i for i in range(1, n + 1)], "low_usd": [800.0 * i for i in range(1, n + 1)],
        "high_usd": [1300.0 * i for i in range(1, n + 1)], "expert_value_usd": [None] * (n - 1) + [999.0],
        "confidence": [0.5] * n, "model_version": "m1", "comparables": "x@1@2020-01-01", "explanation": "because",
    })


def test_feed_is_complete_sorted_and_checksummed(gbv_home):
    settings = get_settings()
    res = write_feed(settings, "lotus", "2026-10-01", _rows("lotus"))
    assert res.path == gbv_home / "feeds" / "lotus" / "2026-10-01"
    assert sorted(p.name for p in res.path.iterdir()) == ["_SUCCESS", "estimates.csv", "manifest.json"]
    manifest = json.loads((res.path / "manifest.json").read_text())
    data = (res.path / "estimates.csv").read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["row_count"] == 5 and manifest["columns"] == list(FEED_COLUMNS)
    assert manifest["schema_version"] == FEED_SCHEMA_VERSION == "1.1"
    df = read_feed(res.path)
    assert list(df.columns) == list(FEED_COLUMNS)
    assert list(df.columns)[: len(VALUATION_COLUMNS)] == list(VALUATION_COLUMNS)  # new columns only at the end
    assert list(df["lot_ref"]) == sorted(df["lot_ref"])
    assert not any(p.name.startswith(".") for p in res.path.parent.iterdir())  # no staging folder left


def test_rerun_gives_the_same_bytes_and_changes_replace_whole(gbv_home):
    settings = get_settings()
    first = write_feed(settings, "lotus", "2026-10-01", _rows("lotus"))
    before = (first.path / "estimates.csv").read_bytes()
    again = write_feed(settings, "lotus", "2026-10-01", _rows("lotus").sample(frac=1, random_state=3))
    assert again.unchanged and (again.path / "estimates.csv").read_bytes() == before
    changed = write_feed(settings, "lotus", "2026-10-01", _rows("lotus", 3))
    assert not changed.unchanged and read_feed(changed.path).shape[0] == 3


def test_a_house_never_receives_another_house_lots(gbv_home):
    mixed = pd.concat([_rows("lotus"), _rows("kestrel", 1)])
    with pytest.raises(FeedError, match="other houses"):
        write_feed(get_settings(), "lotus", "2026-10-01", mixed)
    assert not (gbv_home / "feeds" / "lotus" / "2026-10-01").exists()


@pytest.mark.parametrize("house", ["../evil", "/abs", "a/b", "x\x00y", ".."])
def test_house_names_cannot_escape_the_feeds_folder(gbv_home, house):
    with pytest.raises(UnsafeName):
        write_feed(get_settings(), house, "2026-10-01", _rows("lotus").assign(house=house))


def test_a_crash_while_writing_leaves_the_previous_feed_visible(gbv_home, monkeypatch):
    settings = get_settings()
    good = write_feed(settings, "lotus", "2026-10-01", _rows("lotus"))
    before = (good.path / "estimates.csv").read_bytes()
    calls = {"n": 0}
    real = feeds._fsync_write

    def disk_full_on_manifest(path, data):
        calls["n"] += 1
        if path.name == "manifest.json":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(feeds, "_fsync_write", disk_full_on_manifest)
    with pytest.raises(OSError):
        write_feed(settings, "lotus", "2026-10-01", _rows("lotus", 2))
    assert calls["n"] == 2
    assert (good.path / "estimates.csv").read_bytes() == before
    assert read_feed(good.path).shape[0] == 5
    assert [p for p in os.listdir(good.path.parent) if p.startswith(".")] == []


def _consensus():
    return pd.DataFrame({"lot_ref": ["lotus-S1-0001"], "consensus_usd": [999.0], "low_usd": [800.0],
                         "high_usd": [1250.0], "n_experts": [4], "spread": [0.1], "style": [None],
                         "style_confidence": [None]})


def test_feed_carries_the_blend_of_model_and_experts(gbv_home):
    settings = get_settings()
    rows = _rows("lotus")
    rows.loc[rows["lot_ref"] == "lotus-S1-0002", "expert_value_usd"] = 500.0  # not a consensus: a predicted value
    res = write_feed(settings, "lotus", "2026-10-01", rows, consensus=_consensus())
    df = read_feed(res.path).set_index("lot_ref").replace("", float("nan")).astype(
        {c: float for c in ("estimate_usd", "low_usd", "high_usd", "expert_value_usd", "blend_usd", "blend_low_usd",
                            "blend_high_usd", "blend_model_weight", "expert_n")})
    labelled, plain = df.loc["lotus-S1-0001"], df.loc["lotus-S1-0002"]
    # no expert: the model's own estimate and range, weight 1
    assert (plain["expert_n"], plain["blend_model_weight"]) == (0, 1.0)
    assert (plain["blend_usd"], plain["blend_low_usd"], plain["blend_high_usd"]) == (
        plain["estimate_usd"], plain["low_usd"], plain["high_usd"])
    # four agreeing experts at ~1/5 of the model's value: the blend leans to them, inside the range it states
    assert labelled["expert_n"] == 4 and 0 < labelled["blend_model_weight"] < 0.5
    assert labelled["expert_value_usd"] < labelled["blend_usd"] < labelled["estimate_usd"]
    assert labelled["blend_low_usd"] < labelled["blend_usd"] < labelled["blend_high_usd"]


def test_feed_reads_the_nights_consensus_from_the_stage_when_not_given(gbv_home):
    settings = get_settings()
    given = write_feed(settings, "lotus", "2026-10-01", _rows("lotus"), consensus=_consensus())
    given_bytes = (given.path / "estimates.csv").read_bytes()
    stage = settings.stage_dir / "consensus_labels"
    stage.mkdir(parents=True, exist_ok=True)
    _consensus().to_parquet(stage / "2026-10-02.parquet", index=False)
    staged = write_feed(settings, "lotus", "2026-10-02", _rows("lotus"))
    assert (staged.path / "estimates.csv").read_bytes() == given_bytes
    # without any consensus the expert value counts as one expert's view: less weight than four experts
    alone = read_feed(write_feed(settings, "lotus", "2026-10-03", _rows("lotus")).path).set_index("lot_ref")
    four = read_feed(staged.path).set_index("lot_ref")
    assert alone.loc["lotus-S1-0001", "expert_n"] == 1
    assert alone.loc["lotus-S1-0001", "blend_model_weight"] > four.loc["lotus-S1-0001", "blend_model_weight"]
