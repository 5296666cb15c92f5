"""The model card's rendering of what a transformer's fit records (epochs, CQR ranges) and of a bare card."""

from model.card import render_model_card


def test_transformer_card_shows_epochs_and_cqr_ranges_and_unevaluated_state():
    card = {"model_version": "transformer-20261001-0123abcd", "kind": "transformer", "as_of": "2026-10-01",
            "train_from": "2016-01-11", "train_until": "2026-03-25", "n_train": 2290, "holdout_from": "2026-04-01",
            "holdout_months": 6, "device": "cuda", "hardware": "cuda: NVIDIA H100 80GB HBM3", "seed": 7,
            "training_seconds": 93.5, "params": {"epochs": 6, "lr_decay": 0.8},
            "fit_info": {"n_train": 1700, "n_validation": 250, "n_calibration": 340, "best_epoch": 2,
                         "calibration": {"method": "cqr", "coverage": 0.8, "n_calibration": 340,
                                         "history_bins": [0, 1, 4, 10], "pooled": 0.2,
                                         "bins": {"0": 0.2, "1": 0.3, "2": 0.25, "3": 0.1},
                                         "bin_sizes": {"0": 12, "1": 60, "2": 70, "3": 198},
                                         "no_size_from": {"0": "fallback", "1": "lots without a size"}},
                         "epochs_log": [{"epoch": 1, "val_mdale": 0.61, "best": True},
                                        {"epoch": 2, "val_mdale": 0.55, "best": True},
                                        {"epoch": 3, "val_mdale": 0.57, "best": False}]}}
    text = render_model_card(card, None)
    assert "- Status: **unregistered** (not evaluated yet)" in text
    assert "## Holdout metrics\n\nNot evaluated yet." in text
    assert "conformalized quantile regression" in text
    assert "| 0 | 0.2 | 12 | – | – | too few lots: the wider of" in text and "| 1–3 | 0.3 | 60 |" in text
    # no ranges without a size were measured: the lots column counts every calibration lot
    assert "| artist's earlier sales | half-width | lots | half-width without a size |" in text
    with_no_size = {**card["fit_info"]["calibration"], "bins_no_size": {"0": 0.3, "1": 0.4, "2": 0.3, "3": 0.2}}
    text2 = render_model_card({**card, "fit_info": {**card["fit_info"], "calibration": with_no_size}}, None)
    assert "| artist's earlier sales | half-width | lots with a size | half-width without a size |" in text2
    assert "| epoch | val_mdale | best |" in text and "| 2 | 0.55 | yes |" in text
    assert "- Device: cuda (cuda: NVIDIA H100 80GB HBM3); seed 7; 93.5 s to train" in text
    assert "| lr_decay | 0.8 |" in text and "| best_epoch | 2 |" in text
