"""``gbv bench model``: argument wiring, de-duplication across sources, and a quick run of the tree/ridge kinds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gbv.cli import build_parser
from model.bench import dedupe_sources, metrics, run_bench


def test_bench_model_is_a_gbv_command():
    args = build_parser().parse_args(["bench", "model", "--source", "warehouse", "--train-before", "2016-01-01",
                                      "--kinds", "hedonic_ridge,transformer", "--epochs", "3", "--max-length", "96"])
    assert args.func.__name__ == "cmd_bench_model"
    assert (args.source, args.train_before, args.epochs, args.max_length) == ("warehouse", "2016-01-01", 3, 96)


def test_lots_in_two_sources_count_once_preferring_true_hammer_prices():
    lots = pd.DataFrame({
        "source": ["askart-ny", "arthena", "askart-ny", "arthena"],
        "sale_date": [dt.date(2015, 5, 1)] * 3 + [dt.date(2015, 5, 2)],
        "lot_number": ["12", "12", "13", "12"],
        "artist_name": ["Andy Warhol", "andy  warhol", "Andy Warhol", "Andy Warhol"],
        "hammer_usd": [1.0, 2.0, 3.0, 4.0],
    })
    out = dedupe_sources(lots)
    assert list(out["hammer_usd"]) == [2.0, 3.0, 4.0]


def test_metrics_on_the_log_scale():
    y = np.log(np.array([100.0, 200.0, 400.0, 800.0]))
    m = metrics(y, y + np.array([0.1, -0.2, 0.3, 0.0]), y - 0.25, y + 0.25)
    assert m["n"] == 4 and abs(m["mdale"] - 0.15) < 1e-9 and abs(m["mae_log"] - 0.15) < 1e-9
    assert m["coverage_80"] == 1.0 and abs(m["width_log"] - 0.5) < 1e-9 and m["r2"] > 0.9


def test_quick_bench_of_the_baselines_on_the_demo_world(capsys):
    args = build_parser().parse_args(["bench", "model", "--source", "demo", "--demo-lots", "1500",
                                      "--kinds", "hedonic_ridge,lgbm_baseline"])
    res = run_bench(args)
    out = capsys.readouterr().out
    assert "[overall]" in out and "house_estimate" in out and "lgbm_baseline" in out
    overall = res["models"]["lgbm_baseline"]["overall"]
    assert overall["n"] > 50 and 0 < overall["mdale"] < 1.5 and 0.6 < overall["coverage_80"] <= 1.0
    assert res["timing"]["lgbm_baseline"]["cpu_lots_per_s"] > 0


def test_saved_models_score_again_as_they_did_and_a_model_fitted_past_the_cut_is_refused(tmp_path, capsys):
    base = ["bench", "model", "--source", "demo", "--demo-lots", "1500", "--kinds", "hedonic_ridge,lgbm_baseline"]
    first = run_bench(build_parser().parse_args([*base, "--save-dir", str(tmp_path / "run")]))
    saved = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert len(saved) == first["models"]["lgbm_baseline"]["overall"]["n"]
    y = saved["log_hammer_usd"]
    inside = ((y >= saved["lgbm_baseline_low"]) & (y <= saved["lgbm_baseline_high"])).mean()
    assert inside == pytest.approx(first["models"]["lgbm_baseline"]["overall"]["coverage_80"])
    inside_fit = ((y >= saved["lgbm_baseline_low_fit"]) & (y <= saved["lgbm_baseline_high_fit"])).mean()
    assert inside_fit == pytest.approx(first["models_as_fitted"]["lgbm_baseline"]["overall"]["coverage_80"])
    by_year = first["coverage_by_year"]["lgbm_baseline"]
    year = pd.to_datetime(saved["sale_date"]).dt.year.astype(str)
    want = ((y >= saved["lgbm_baseline_low"]) & (y <= saved["lgbm_baseline_high"])).groupby(year).mean().to_dict()
    assert by_year["nightly"] == pytest.approx(want) and len(want) >= 1
    assert set(by_year["as_fitted"]) == set(want)
    again = run_bench(build_parser().parse_args([*base, "--models-dir", str(tmp_path / "run" / "models")]))
    assert "loaded_from" in again["timing"]["lgbm_baseline"]
    assert again["models"] == first["models"] and again["models_as_fitted"] == first["models_as_fitted"]
    capsys.readouterr()
    with pytest.raises(SystemExit, match="not before the cut"):  # scored on sales it learned from: refused
        run_bench(build_parser().parse_args([*base, "--train-before", "2024-06-01",
                                             "--models-dir", str(tmp_path / "run" / "models")]))


def test_a_zero_layer_encoder_is_refused_not_replaced_by_the_default(capsys):
    from gbv.cli import main

    assert main(["bench", "scoring", "--encoder-layers", "0", "--demo-lots", "300", "--n", "16"]) != 0
    assert "encoder_layers must be >= 1" in capsys.readouterr().err
