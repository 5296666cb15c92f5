import numpy as np
import pytest

from model.base import PREDICTION_COLUMNS, conformal_quantile, make_valuer
from model.baseline import HedonicValuer, LightGBMValuer
from model.compute import describe_hardware, pick_device
from model.features import log_hammer_usd
from model.train import score


def _naive_artist_mean(train_lots, holdout):
    sold = train_lots[train_lots["status"] == "sold"]
    y = log_hammer_usd(sold)
    means = y.groupby(sold["artist_id"]).mean()
    return holdout["artist_id"].map(means).fillna(y.mean()).to_numpy()


def test_lgbm_beats_naive_artist_mean(lgbm, train_lots, holdout, offered):
    y = log_hammer_usd(holdout).to_numpy()
    pred = lgbm.predict(holdout, offered)
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert pred["lot_ref"].tolist() == holdout["lot_ref"].tolist()
    model = score(y, pred["pred_log_usd"].to_numpy())
    naive = score(y, _naive_artist_mean(train_lots, holdout))
    assert model["mdale"] < 0.8 * naive["mdale"], (model, naive)
    assert model["r2"] > 0.75


def test_conformal_coverage_on_later_holdout(lgbm, holdout, offered):
    y = log_hammer_usd(holdout).to_numpy()
    pred = lgbm.predict(holdout, offered)
    covered = (y >= pred["low_log_usd"]) & (y <= pred["high_log_usd"])
    assert 0.7 <= covered.mean() <= 0.9, covered.mean()
    assert (pred["high_log_usd"] > pred["low_log_usd"]).all()


def test_conformal_quantile_finite_sample_correction():
    r = np.arange(1, 11, dtype=float)  # n=10: ceil(11*0.8)=9th smallest
    assert conformal_quantile(r, 0.8) == 9.0
    assert conformal_quantile(r[:3], 0.8) == np.inf


def test_training_is_deterministic_on_any_number_of_threads(train_lots, tmp_path, monkeypatch):
    """One thread, then every core this process may use (LightGBM trains on all of them): the same bytes."""
    from model.compute import LGBM_THREADS_ENV, cpu_threads

    monkeypatch.setenv(LGBM_THREADS_ENV, "1")
    a = LightGBMValuer(seed=7).fit(train_lots, train_lots)
    monkeypatch.delenv(LGBM_THREADS_ENV)
    b = LightGBMValuer(seed=7).fit(train_lots, train_lots)
    for name, valuer in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        valuer.save(tmp_path / name)
    for name in ("model.txt", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    text = (tmp_path / "a" / "model.txt").read_text()
    assert "[num_threads: 0]" in text and f"[num_threads: {cpu_threads()}]" not in text.replace("[num_threads: 0]", "")
    assert "num_threads" not in (tmp_path / "a" / "meta.json").read_text()


@pytest.mark.parametrize("kind", ["lgbm_baseline", "hedonic_ridge"])
def test_save_load_round_trip(kind, train_lots, holdout, offered, tmp_path):
    valuer = make_valuer(kind, seed=7).fit(train_lots, train_lots)
    valuer.save(tmp_path)
    loaded = type(valuer).load(tmp_path)
    np.testing.assert_allclose(loaded.predict(holdout, offered)[["pred_log_usd", "low_log_usd"]].to_numpy(),
                               valuer.predict(holdout, offered)[["pred_log_usd", "low_log_usd"]].to_numpy())


def test_hedonic_is_a_reasonable_second_kind(train_lots, holdout, offered):
    y = log_hammer_usd(holdout).to_numpy()
    pred = HedonicValuer().fit(train_lots, train_lots).predict(holdout, offered)
    assert score(y, pred["pred_log_usd"].to_numpy())["mdale"] < score(y, _naive_artist_mean(train_lots, holdout))["mdale"]


def test_pick_device_falls_back_to_cpu(monkeypatch):
    import model.compute as compute

    monkeypatch.setattr(compute, "_cuda_available", lambda: False)
    assert pick_device("auto") == "cpu"
    assert pick_device("cpu") == "cpu"
    with pytest.warns(RuntimeWarning, match="falling back to cpu"):
        assert pick_device("cuda") == "cpu"
    with pytest.raises(ValueError):
        pick_device("tpu")
    assert describe_hardware("cpu").startswith("cpu: ")
    monkeypatch.setattr(compute, "_cuda_available", lambda: True)
    assert pick_device("auto") == "cuda"
    assert pick_device("cpu") == "cpu"
