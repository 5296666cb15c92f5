"""gbv labels import and gbv consensus: real files, the real GX suite, real DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from gbv.cli import main
from gbv.contracts import LABEL_COLUMNS, LABEL_OPTIONAL_COLUMNS

RUN = "2026-10-01"


def _good_labels(world, n=40):
    """Clean labels (valid currency, style, values) of the world's lots, submitted before their sales."""
    labels = world.labels
    labels = labels[pd.to_numeric(labels["value_point"]) > 0]
    labels = labels[labels["expert_id"].isin(world.experts["expert_id"])]
    labels = labels[labels["style"].isin(__import__("gbv.contracts", fromlist=["STYLES"]).STYLES)]
    labels = labels.drop_duplicates("label_id").drop_duplicates(["lot_ref", "expert_id"])
    labels = labels[pd.to_numeric(labels["value_low"]) <= pd.to_numeric(labels["value_point"])]
    return labels.head(n).reset_index(drop=True)


def _bad_rows(world, good):
    lot = good.iloc[0]
    base = {c: lot[c] for c in list(LABEL_COLUMNS) + list(LABEL_OPTIONAL_COLUMNS)}
    e = world.experts["expert_id"].tolist()
    unused = [x for x in e if x not in set(good.loc[good["lot_ref"] == lot["lot_ref"], "expert_id"])]
    return pd.DataFrame([
        {**base, "label_id": "BAD-MISSING", "value_point": "", "expert_id": unused[0]},
        {**base, "label_id": "BAD-NEG", "lot_ref": good.iloc[1]["lot_ref"], "value_low": "-5", "value_point": "-1",
         "expert_id": unused[0]},
        {**base, "label_id": "BAD-STYLE", "lot_ref": good.iloc[2]["lot_ref"], "style": "baroque-ish",
         "expert_id": unused[0]},
        {**base},  # duplicate submission: same label_id again
        {**base, "label_id": "BAD-LOT", "lot_ref": "nowhere-0000"},
        {**base, "label_id": "BAD-CUR", "lot_ref": good.iloc[3]["lot_ref"], "currency": "XYZ",
         "expert_id": unused[1]},
    ])


EXPECTED = {"BAD-MISSING": "value_point is missing", "BAD-NEG": "must be > 0", "BAD-STYLE": "unknown style",
            "BAD-LOT": "unknown lot", "BAD-CUR": "unknown currency"}


def _check_quarantine(q, good_first_id):
    for label_id, words in EXPECTED.items():
        reasons = " | ".join(q.loc[q["row_ref"] == label_id, "reason"])
        assert words in reasons, (label_id, reasons)
    dup = q[q["row_ref"] == good_first_id]
    assert dup["reason"].str.contains("duplicate label_id").any()


@pytest.fixture
def files(small_world, tmp_path):
    world = small_world
    good = _good_labels(world)
    labels = pd.concat([good, _bad_rows(world, good)], ignore_index=True)
    lpath = tmp_path / "labels.csv"
    labels.to_csv(lpath, index=False)
    cat = world.truth[world.truth["lot_ref"].isin(good["lot_ref"])]
    catalogue = world.catalogue(as_of=dt.date(2016, 1, 1))  # every lot is upcoming on that day
    catalogue = catalogue[catalogue["lot_ref"].isin(cat["lot_ref"])]
    cpath = tmp_path / "catalogue.csv"
    catalogue.to_csv(cpath, index=False)
    roster = tmp_path / "experts.csv"
    world.experts[["expert_id", "display_name"]].to_csv(roster, index=False)
    return {"labels": lpath, "catalogue": cpath, "roster": roster, "good": good, "world": world}


def test_offline_consensus_writes_rows_and_quarantine_report(files, tmp_path, gbv_home, capsys):
    out = tmp_path / "out" / "consensus.csv"
    rc = main(["consensus", "--catalogue", str(files["catalogue"]), "--labels", str(files["labels"]),
               "--out", str(out), "--date", RUN])
    assert rc == 0
    text = capsys.readouterr().out
    assert "consensus for" in text and "unknown lot" in text
    cons = pd.read_csv(out)
    assert list(cons.columns) == ["lot_ref", "consensus_usd", "low_usd", "high_usd", "n_experts", "spread",
                                  "style"]
    good = files["good"]
    assert set(cons["lot_ref"]) == set(good["lot_ref"])
    assert cons["lot_ref"].is_unique and (cons["consensus_usd"] > 0).all()
    assert ((cons["low_usd"] <= cons["consensus_usd"]) & (cons["consensus_usd"] <= cons["high_usd"])).all()
    assert (cons["n_experts"] == good.groupby("lot_ref").size().reindex(cons["lot_ref"]).to_numpy()).all()
    q = pd.read_csv(out.with_name("consensus.quarantine.csv"))
    _check_quarantine(q, good.iloc[0]["label_id"])
    # consensus sits near the truth for multi-expert lots (the world's own experts, offline: no gold)
    truth = files["world"].truth.set_index("lot_ref")["true_value_usd"]
    err = (cons["consensus_usd"].apply(float).pipe(lambda s: s.values) / truth.reindex(cons["lot_ref"]).values)
    assert pd.Series(err).apply(lambda r: abs(__import__("math").log(r))).median() < 0.5
    # privacy: no raw expert id in the outputs
    assert "E00" not in out.read_text() and "E001" not in q["payload"].str.cat()


def test_offline_consensus_with_roster_flags_unknown_expert(files, tmp_path, gbv_home):
    labels = pd.read_csv(files["labels"], dtype=str)
    labels.loc[len(labels) - 1, "expert_id"] = "E999"
    labels.to_csv(files["labels"], index=False)
    out = tmp_path / "c.csv"
    assert main(["consensus", "--catalogue", str(files["catalogue"]), "--labels", str(files["labels"]),
                 "--out", str(out), "--experts", str(files["roster"]), "--date", RUN]) == 0
    q = pd.read_csv(tmp_path / "c.quarantine.csv")
    assert q["reason"].str.contains("unknown expert").any()


def _engine_with_lots(settings, world):
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots
    from warehouse.schema import metadata

    engine = get_engine(settings)
    metadata.create_all(engine)
    upsert_lots(engine, world.lots_as_of(dt.date(2016, 1, 1)), RUN)
    return engine


def test_labels_import_stores_accepted_and_quarantine(files, warehouse_settings):
    from gbv.crowd.labels import import_labels
    from warehouse.schema import fact_expert_label, quarantine

    settings = warehouse_settings
    engine = _engine_with_lots(settings, files["world"])
    res = import_labels(files["labels"], settings, RUN, experts=files["roster"], outlier_k=4.0)
    assert res.landed.read_bytes() == files["labels"].read_bytes()
    assert res.landed.parent == settings.raw_path("labels", RUN)
    with engine.connect() as conn:
        stored = pd.read_sql(select(fact_expert_label), conn)
        q = pd.read_sql(select(quarantine), conn)
    good = files["good"]
    assert set(stored["label_id"]) == set(good["label_id"]) == set(res.accepted["label_id"])
    assert stored["expert_key"].str.startswith("ex_").all()
    _check_quarantine(q, good.iloc[0]["label_id"])
    assert set(q["source"]) == {res.source}
    # importing the same file again leaves the same rows
    import_labels(files["labels"], settings, RUN, experts=files["roster"], outlier_k=4.0)
    with engine.connect() as conn:
        assert len(pd.read_sql(select(fact_expert_label), conn)) == len(stored)
        assert len(pd.read_sql(select(quarantine), conn)) == len(q)


def test_labels_import_cli_finds_landed_roster(files, gbv_home, capsys):
    from gbv.settings import get_settings

    settings = get_settings().ensure_dirs()
    _engine_with_lots(settings, files["world"])
    roster_dir = settings.raw_path("labels", RUN)
    roster_dir.mkdir(parents=True, exist_ok=True)
    (roster_dir / "experts.csv").write_bytes(files["roster"].read_bytes())
    assert main(["labels", "import", str(files["labels"]), "--date", RUN]) == 0
    out = capsys.readouterr().out
    assert f"{len(files['good'])} accepted" in out and "6 quarantined" in out
    assert "unknown lot" in out and "unknown currency" in out


def test_labels_import_without_roster_is_a_clear_error(files, gbv_home, capsys):
    assert main(["labels", "import", str(files["labels"]), "--date", RUN]) == 1
    assert "no expert roster" in capsys.readouterr().err


@pytest.mark.parametrize("field", ["lot_ref", "expert_id", "value_point", "currency", "submitted_at", "label_id"])
def test_each_missing_required_field_is_quarantined_with_its_name(files, tmp_path, field):
    """The issue's bad-input list, one missing field at a time: the row is quarantined naming the field, the
    good labels are all still accepted."""
    from gbv.crowd.labels import offline_consensus

    good = files["good"]
    bad = good.iloc[[0]].assign(label_id="MISSING-ONE", expert_id=None)
    unused = sorted(set(files["world"].experts["expert_id"]) - set(good.loc[good["lot_ref"] == good.iloc[0]["lot_ref"],
                                                                            "expert_id"]))
    bad["expert_id"] = unused[0]
    bad[field] = ""
    path = tmp_path / "one-missing.csv"
    pd.concat([good, bad], ignore_index=True).to_csv(path, index=False)
    res = offline_consensus(files["catalogue"], path, tmp_path / "out.csv", experts=files["roster"],
                            run_date=RUN, outlier_k=None)
    q = res.quarantine[res.quarantine["stage"] == "labels"]
    assert res.n_accepted == len(good)
    assert (q["field"] == field).any() and q["reason"].str.contains(f"{field} is missing").any(), q
