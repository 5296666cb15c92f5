import datetime as dt
import json

import pandas as pd
import pytest

from model.baseline import LightGBMValuer
from model.store import ModelStore
from model.train import (
    ensure_champion,
    evaluate,
    holdout_start,
    load_snapshot,
    register_and_promote,
    snapshot_training_set,
    train_challenger,
)
from warehouse.loaders import upsert_lots


@pytest.fixture()
def loaded(world, engine, settings):
    upsert_lots(engine, world.lots)
    return engine


def test_snapshot_holds_only_results_before_as_of(loaded, world, tmp_path):
    snap = snapshot_training_set(loaded, world.as_of, tmp_path / "snaps")
    train = pd.read_parquet(snap / "train.parquet")
    history = pd.read_parquet(snap / "history.parquet")
    assert snap.name == "2026-10-01" and not list((tmp_path / "snaps").glob(".tmp-*"))
    assert set(train["status"]) == {"sold"} and set(history["status"]) == {"sold", "bought_in"}
    assert pd.to_datetime(history["sale_date"]).max() < pd.Timestamp(world.as_of)
    assert len(train) == int((world.lots["status"] == "sold").sum())


def test_train_evaluate_promote_then_reject_a_worse_challenger(loaded, world, settings):
    store = ModelStore(settings.models_dir, loaded)
    champion = ensure_champion(loaded, settings, world.as_of)
    assert store.champion_version() == champion
    assert ensure_champion(loaded, settings, world.as_of) == champion  # no retrain when one exists
    card = store.card(champion)
    assert card["holdout_from"] == holdout_start(world.as_of).isoformat() == "2026-04-01"
    assert dt.date.fromisoformat(card["train_until"]) < dt.date(2026, 4, 1)
    assert card["hardware"] and card["training_seconds"] >= 0 and card["refit_on_all_data"] is False

    # a deliberately worse challenger (5 boosting rounds) on the same snapshot and holdout
    snap = settings.stage_dir / "training_snapshots" / "2026-10-01"
    _, train, history = load_snapshot(snap)
    fit = train[train["sale_date"] < dt.date(2026, 4, 1)]
    worse = store.save_model(LightGBMValuer(seed=7, num_boost_round=5).fit(fit, history),
                             {**card, "params": {"num_boost_round": 5}})
    metrics = evaluate(worse, snap, store)
    assert metrics["champion_version"] == champion
    assert metrics["challenger"]["n"] == metrics["champion"]["n"] == metrics["n_holdout"] > 50
    assert metrics["challenger"]["mdale"] > metrics["champion"]["mdale"]
    assert metrics["house_estimate"]["mdale"] is not None
    assert register_and_promote(worse, metrics, store) is False
    assert store.champion_version() == champion
    assert store.status(worse) == "rejected"

    # the same training run again is the same version and stays champion
    again = train_challenger(snap, settings, store=store)
    assert again == champion
    assert register_and_promote(again, evaluate(again, snap, store), store) is True
    assert store.champion_version() == champion


def test_snapshot_carries_the_presale_consensus_and_training_uses_it(loaded, world, settings, tmp_path):
    """Labels in the warehouse reach the model: the snapshot puts on each lot the consensus it had before its
    sale (labels submitted on or after the snapshot's as_of are left out), and the LightGBM champion uses it as
    a feature and bought-in lots' consensus as a target."""
    from gbv.consensus import point_in_time_consensus
    from gbv.crowd.simulate import world_labels_usd
    from warehouse.loaders import upsert
    from warehouse.schema import fact_expert_label

    labels = world_labels_usd(world).assign(label_id=lambda d: [f"T{i:06d}" for i in range(len(d))])
    late = labels.head(3).assign(label_id=["LATE1", "LATE2", "LATE3"], value_point_usd=1e9,
                                 submitted_at=pd.Timestamp(world.as_of))  # on the night: not yet known
    upsert(loaded, fact_expert_label, pd.concat([labels, late], ignore_index=True).drop(columns=["style"]))
    snap = snapshot_training_set(loaded, world.as_of, tmp_path / "snaps")
    meta, train, history = load_snapshot(snap)
    assert meta["n_with_consensus"] > 300
    offered = world.lots[world.lots["status"].isin(["sold", "bought_in"])]
    sold = offered[offered["status"] == "sold"][["lot_ref", "hammer_usd", "sale_date"]]
    want = point_in_time_consensus(offered, labels, sold).set_index("lot_ref")["consensus_usd"]
    got = history.set_index("lot_ref")["expert_consensus_usd"].dropna()
    assert set(got.index) == set(want.index)
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)

    store = ModelStore(settings.models_dir, loaded)
    version = train_challenger(snap, settings, store=store)
    info = store.card(version)["fit_info"]
    assert info["n_unsold_targets"] > 10 and info["n_with_consensus"] > 100
    assert info["consensus_stage"]["tau"] > 0
    metrics = evaluate(version, snap, store)
    assert metrics["challenger"]["n"] == metrics["n_holdout"] > 50
    ch = metrics["challenger"]
    # the nightly ranges (re-measured on realised sales) are scored beside the ranges as fitted
    assert 0.5 < ch["coverage_80_nightly"] <= 1.0 and ch["width_ratio_nightly"] > 1.0
    assert ch["coverage_80_nightly"] != ch["coverage_80"] or ch["width_ratio_nightly"] != ch["width_ratio"]


@pytest.mark.parametrize("kind", ["lgbm_baseline", "hedonic_ridge"])
def test_tabular_models_fit_the_same_on_their_input_columns_only(loaded, world, tmp_path, kind):
    """Training reads only ``input_columns`` from the snapshot (no titles or descriptions in memory): a model
    fitted on those columns predicts exactly what one fitted on every column predicts; a column the model reads
    but that was left out of ``input_columns`` would show here as a difference."""
    from model.base import make_valuer, valuer_class
    from model.features import rows_before
    from model.train import sold_rows

    snap = snapshot_training_set(loaded, world.as_of, tmp_path / "snaps")
    cols = valuer_class(kind).input_columns
    _, train_all, full = load_snapshot(snap)
    _, none, lean = load_snapshot(snap, columns=cols, with_train=False)
    assert none is None and set(lean.columns) <= set(cols) and len(lean) == len(full)
    assert "description" in full.columns and "description" not in lean.columns
    cut = dt.date(2025, 1, 1)
    fit_full = full[full["sale_date"] < cut].reset_index(drop=True)
    fit_lean = rows_before(lean, cut)
    assert len(fit_lean) == len(fit_full) and int(sold_rows(lean).sum()) == len(train_all)
    a = make_valuer(kind, seed=7).fit(fit_full, full)
    b = make_valuer(kind, seed=7).fit(fit_lean, lean)
    later = full[full["sale_date"] >= cut].reset_index(drop=True)
    pa, pb = a.predict(later, full), b.predict(later[[c for c in cols if c in later]], lean)
    assert len(pa) > 50
    pd.testing.assert_frame_equal(pa, pb)


def test_snapshot_train_file_is_history_sold_rows(loaded, world, tmp_path):
    from model.train import sold_rows

    snap = snapshot_training_set(loaded, world.as_of, tmp_path / "snaps")
    train = pd.read_parquet(snap / "train.parquet")
    history = pd.read_parquet(snap / "history.parquet")
    pd.testing.assert_frame_equal(train, history[sold_rows(history)].reset_index(drop=True))


def test_rows_before_is_a_slice_of_a_sorted_frame_and_a_filter_otherwise():
    from model.features import rows_before

    frame = pd.DataFrame({"sale_date": [dt.date(2020, 1, d) for d in (1, 2, 2, 5, 9)], "x": range(5)})
    head = rows_before(frame, dt.date(2020, 1, 5))
    assert list(head["x"]) == [0, 1, 2]
    assert list(rows_before(frame, "2020-01-02")["x"]) == [0]
    assert len(rows_before(frame, dt.date(2019, 1, 1))) == 0 and len(rows_before(frame, dt.date(2030, 1, 1))) == 5
    shuffled = frame.iloc[[3, 0, 4, 1, 2]].reset_index(drop=True)
    assert sorted(rows_before(shuffled, dt.date(2020, 1, 5))["x"]) == [0, 1, 2]
    with_gap = frame.assign(sale_date=[dt.date(2020, 1, 1), None, dt.date(2020, 1, 2), dt.date(2020, 1, 5), None])
    assert list(rows_before(with_gap, dt.date(2020, 1, 5))["x"]) == [0, 2]


def test_model_cards_follow_the_registry_and_gbv_models_lists_it(loaded, world, settings, monkeypatch, capsys):
    from gbv.cli import main
    from model.card import CARD_FILE

    store = ModelStore(settings.models_dir, loaded)
    champion = ensure_champion(loaded, settings, world.as_of)
    metrics = json.loads(store.registry_row(champion)["metrics_json"])
    text = (settings.models_dir / champion / CARD_FILE).read_text()
    assert text.startswith(f"# Model card: {champion}\n") and "- Status: **champion** since " in text
    assert f"({metrics['n_holdout']:,d} lots)" in text and "Sold lots from 2026-04-01 to before 2026-10-01" in text
    mine = next(line for line in text.splitlines() if line.startswith(f"| this model ({champion})"))
    cells = [c.strip() for c in mine.strip("|").split("|")]
    assert float(cells[2]) == pytest.approx(metrics["challenger"]["mdale"], abs=5e-4)  # MdALE, as registered
    assert float(cells[5]) == pytest.approx(metrics["challenger"]["coverage_80_nightly"], abs=5e-4)
    assert "| house estimate (mid of low and high) |" in text
    assert "| num_boost_round | 1,000 |" in text and "| 10 or more |" in text  # parameters, calibration bins

    # a worse challenger: its card says it was rejected and why, beside the champion it lost to
    snap = settings.stage_dir / "training_snapshots" / "2026-10-01"
    _, train, history = load_snapshot(snap)
    fit = train[train["sale_date"] < dt.date(2026, 4, 1)]
    worse = store.save_model(LightGBMValuer(seed=7, num_boost_round=5).fit(fit, history),
                             {**store.card(champion), "params": {"num_boost_round": 5}})
    assert "**challenger** (not evaluated yet)" in (settings.models_dir / worse / CARD_FILE).read_text()
    assert register_and_promote(worse, evaluate(worse, snap, store), store) is False
    text = (settings.models_dir / worse / CARD_FILE).read_text()
    assert "- Status: **rejected**: MdALE " in text and f"is not lower than champion {champion}'s" in text
    assert f"| champion then ({champion}) |" in text

    # promoted by hand: the old champion's card says it retired
    store.promote(worse)
    assert "- Status: **retired** (was champion from " in (settings.models_dir / champion / CARD_FILE).read_text()
    assert "- Status: **champion** since " in (settings.models_dir / worse / CARD_FILE).read_text()

    # gbv models: the registry with each version's holdout MdALE; --card renders (and rewrites) one card
    (settings.models_dir / champion / CARD_FILE).unlink()
    loaded.dispose()
    monkeypatch.setenv("GBV_HOME", str(settings.home))
    monkeypatch.setenv("GBV_WAREHOUSE_URL", settings.warehouse_url)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("lgbm_baseline-")}
    assert rows[champion][1] == "retired" and rows[worse][1] == "champion"
    assert float(rows[champion][3]) == pytest.approx(metrics["challenger"]["mdale"], abs=5e-4)
    assert main(["models", "--card", champion]) == 0
    printed = capsys.readouterr().out
    assert printed == (settings.models_dir / champion / CARD_FILE).read_text() and "**retired**" in printed
    assert main(["models", "--card", "lgbm_baseline-20990101-00000000"]) == 1
    assert "has no complete artifact" in capsys.readouterr().err
