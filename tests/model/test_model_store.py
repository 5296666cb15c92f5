import json
import re

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from model.baseline import LightGBMValuer
from model.store import COMPLETE_MARKER, ModelNotFound, ModelStore
from warehouse.schema import dim_model

CARD = {"as_of": "2025-04-01", "train_until": "2024-09-30", "holdout_from": "2024-10-01",
        "params": {"x": 1}, "hardware": "cpu: test"}


@pytest.fixture()
def store(settings, engine):
    return ModelStore(settings.models_dir, engine)


def test_save_model_writes_complete_folder_and_challenger_row(store, lgbm, engine):
    version = store.save_model(lgbm, CARD)
    assert re.fullmatch(r"lgbm_baseline-20250401-[0-9a-f]{8}", version)
    folder = store.models_dir / version
    assert (folder / COMPLETE_MARKER).is_file() and (folder / "artifact" / "model.txt").is_file()
    card = json.loads((folder / "card.json").read_text())
    assert card["model_version"] == version and card["kind"] == "lgbm_baseline"
    with engine.connect() as conn:
        row = conn.execute(select(dim_model).where(dim_model.c.model_version == version)).one()
    assert row.status == "challenger" and str(row.train_until) == "2024-09-30" and row.hardware == "cpu: test"
    assert row.artifact_path == str(folder)
    assert list(store.models_dir.glob(".tmp-*")) == []
    # the same content saved again is the same version, one row
    assert store.save_model(lgbm, CARD) == version
    assert len(store.list_models()) == 1
    assert isinstance(store.load_model(version), LightGBMValuer)


def test_tmp_and_incomplete_folders_are_never_listed_or_loaded(store, lgbm, engine):
    version = store.save_model(lgbm, CARD)
    tmp = store.models_dir / f".tmp-lgbm_baseline-{'0' * 32}"
    (tmp / "artifact").mkdir(parents=True)
    (tmp / COMPLETE_MARKER).write_text("x")
    half = store.models_dir / "lgbm_baseline-20250401-deadbeef"
    (half / "artifact").mkdir(parents=True)
    with engine.begin() as conn:  # even a registry row cannot make a half-written folder loadable
        conn.execute(dim_model.insert().values(model_version=half.name, kind="lgbm_baseline", status="challenger",
                                               artifact_path=str(half)))
    assert store.list_models()["model_version"].tolist() == [version]
    for bad in (tmp.name, half.name, "../etc", ""):
        with pytest.raises(ModelNotFound):
            store.load_model(bad)
    with pytest.raises(ModelNotFound):
        store.promote(half.name)


def test_crash_while_saving_leaves_nothing_registered(store, lgbm, train_lots):
    class Crashing(LightGBMValuer):
        def save(self, directory):
            (directory / "model.txt").write_text("partial")
            raise OSError("disk full")

    crashing = Crashing()
    crashing.__dict__.update(lgbm.__dict__)
    with pytest.raises(OSError, match="disk full"):
        store.save_model(crashing, CARD)
    assert list(store.models_dir.iterdir()) == []
    assert store.list_models().empty


def test_promote_retires_the_old_champion_and_reject_keeps_reason(store, lgbm, train_lots):
    first = store.save_model(lgbm, CARD)
    second = store.save_model(LightGBMValuer(seed=7, num_boost_round=50).fit(train_lots, train_lots), CARD)
    assert store.champion() is None
    store.promote(first)
    assert store.champion()[0] == first
    store.promote(second)
    statuses = dict(zip(*store.list_models()[["model_version", "status"]].T.values, strict=True))
    assert statuses == {first: "retired", second: "champion"}
    with pytest.raises(ValueError):
        store.reject(second, "champion cannot be rejected")
    store.reject(first, "worse")
    row = store.list_models().set_index("model_version").loc[first]
    assert row["status"] == "rejected" and json.loads(row["metrics_json"])["rejected_reason"] == "worse"
    assert store.champion_version() == second


# ---- the ensemble kind -----------------------------------------------------------------------------------------

def test_ensemble_kind_saves_loads_and_predicts_the_mean_of_its_members(store, train_lots, holdout, offered):
    from model.base import valuer_class
    from model.ensemble import EnsembleValuer

    assert valuer_class("ensemble") is EnsembleValuer
    ens = EnsembleValuer(seed=7, members=("hedonic_ridge", "lgbm_baseline"),
                         member_params={"lgbm_baseline": {"num_boost_round": 60}}).fit(train_lots, train_lots)
    pred = ens.predict(holdout, offered)
    parts = [m.predict(holdout, offered)["pred_log_usd"].to_numpy() for m in ens.members]
    np.testing.assert_allclose(pred["pred_log_usd"], (parts[0] + parts[1]) / 2)
    assert ens.members[1].num_boost_round == 60
    width = (pred["high_log_usd"] - pred["low_log_usd"]).to_numpy()
    assert (width > 0).all() and ens.calibration["n_calibration"] > 50
    y = np.log(holdout["hammer_usd"].to_numpy(dtype=float))
    cover = np.mean((y >= pred["low_log_usd"]) & (y <= pred["high_log_usd"]))
    assert 0.6 < cover <= 1.0  # an 80% range, give or take a small holdout's noise

    version = store.save_model(ens, CARD)
    assert version.startswith("ensemble-20250401-") and store.save_model(ens, CARD) == version  # deterministic
    folder = store.models_dir / version / "artifact"
    assert (folder / "ensemble.json").is_file() and (folder / "members" / "1-lgbm_baseline" / "model.txt").is_file()
    loaded = store.load_model(version)
    assert isinstance(loaded, EnsembleValuer) and [m.kind for m in loaded.members] == ["hedonic_ridge", "lgbm_baseline"]
    pd.testing.assert_frame_equal(loaded.predict(holdout, offered), pred)
    assert loaded.calibration == ens.calibration

    with pytest.raises(ValueError, match="two or more"):
        EnsembleValuer(members=("lgbm_baseline",))
    (folder.parent / "bad").mkdir()
    (folder.parent / "bad" / "ensemble.json").write_text(json.dumps({"kind": "lgbm_baseline"}))
    with pytest.raises(ValueError, match="not 'ensemble'"):
        EnsembleValuer.load(folder.parent / "bad")


@pytest.mark.slow  # trains the transformer member on a small world (a few minutes on 2 shared cores)
def test_gbv_train_selects_the_ensemble_kind(gbv_home, capsys):
    from gbv.cli import main
    from gbv.demo.world import generate_world
    from gbv.settings import get_settings
    from model.ensemble import EnsembleValuer
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots

    settings = get_settings().ensure_dirs()
    small_world = generate_world(n_lots=300, seed=7)
    upsert_lots(get_engine(settings), small_world.lots)
    assert main(["train", "--kind", "ensemble", "--as-of", small_world.as_of.isoformat()]) == 0
    assert "trained ensemble-" in capsys.readouterr().out
    version, champion = ModelStore(settings.models_dir, get_engine(settings)).champion()
    assert version.startswith("ensemble-") and isinstance(champion, EnsembleValuer)
    assert [m.kind for m in champion.members] == ["transformer", "lgbm_baseline"]
