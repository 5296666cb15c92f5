"""The fine-tuned transformer valuer: real MiniLM weights, real (tiny) training runs on the demo world.

Kept small for a 2-core CI machine: ~200 sold lots, max_length 32, a few dozen optimiser steps in all.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from model.base import PREDICTION_COLUMNS, valuer_class  # noqa: E402
from model.store import content_hash  # noqa: E402
from model.text import render_lot, render_lots  # noqa: E402
from model.transformer import (  # noqa: E402
    TransformerValuer,
    load_pretrained,
    pinball_loss,
    pretrained_dir,
)

TINY = {"seed": 7, "device": "cpu", "max_length": 32, "batch_size": 16, "hidden": 64}
TEXT = "Oil painting of a woman in a garden, signed and dated 1905"


@pytest.fixture(scope="module")
def small(offered) -> pd.DataFrame:
    """The first 200 lots with a result (sold + bought in): ~160 sold lots to fit on."""
    return offered.head(200).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(small, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("ckpt")
    valuer = TransformerValuer(**TINY, epochs=2, checkpoint_dir=ckpt, patience=5).fit(small, small)
    return valuer, ckpt


def _embed(encoder, tokenizer, text: str = TEXT) -> np.ndarray:
    enc = tokenizer([text], return_tensors="pt")
    with torch.inference_mode():
        hs = encoder(**enc).last_hidden_state
    return hs.mean(1)[0].numpy()


# ---- text rendering ----------------------------------------------------------------------------------------

def test_render_lot_has_the_catalogue_fields_and_never_the_outcome(world):
    lot = world.lots[world.lots["status"] == "sold"].iloc[0]
    text = render_lot(lot)
    assert text.startswith(str(lot["artist_name"]))
    for field in ("title", "medium"):
        assert str(lot[field]) in text
    assert str(int(lot["year_created"])) in text and " cm" in text
    for field in ("hammer_price", "hammer_usd", "estimate_low", "estimate_high"):
        assert f"{lot[field]:.0f}" not in text.replace(str(int(lot["year_created"])), "")
    assert "sold" not in text.lower().split()


def test_render_lot_copes_with_missing_and_dirty_fields():
    assert render_lot({}) == "Unknown artist."
    text = render_lot({"artist_name": "A. Painter", "height_cm": float("nan"), "width_cm": None,
                       "description": "<p>Oil&nbsp;on <b>board</b></p>\r\n  signed", "year_created": "n/a"})
    assert text == "A. Painter. Oil on board signed."
    frame = pd.DataFrame([{"artist_name": "X", "title": "T"}, {"artist_name": None}])
    assert render_lots(frame) == ["X. T.", "Unknown artist."]


# ---- the pretrained weights --------------------------------------------------------------------------------

def test_pretrained_minilm_really_loads_offline():
    from transformers import BertModel

    tok1, enc1 = load_pretrained()
    tok2, enc2 = load_pretrained()
    e1, e2 = _embed(enc1, tok1), _embed(enc2, tok2)
    assert e1.shape == (384,) and np.isfinite(e1).all()
    np.testing.assert_allclose(e1, e2, rtol=0, atol=1e-6)  # same files, same vectors
    torch.manual_seed(0)
    random_enc = BertModel(enc1.config).eval()
    assert np.abs(_embed(random_enc, tok1) - e1).max() > 0.1  # the pretrained weights are not a fresh init
    # and they carry meaning: a related sentence is closer than an unrelated one (not so for a random init)
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    near = _embed(enc1, tok1, "Portrait of a lady, oil on canvas, signed")
    far = _embed(enc1, tok1, "Quarterly earnings of the railway company fell sharply")
    assert cos(e1, near) > cos(e1, far) + 0.1
    assert (pretrained_dir() / "model.safetensors").exists()


def test_pinball_loss_is_the_quantile_loss():
    y = torch.tensor([0.0, 1.0])
    pred = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # residual 1 for the second row: 0.1, 0.5, 0.9 under-prediction costs; mean over 6 entries
    assert float(pinball_loss(pred, y)) == pytest.approx((0.1 + 0.5 + 0.9) / 6)
    # over-prediction by 2 and 1: costs (1 - tau) per unit
    assert float(pinball_loss(pred, y - 2)) == pytest.approx((0.9 + 0.5 + 0.1) * (2 + 1) / 6)


# ---- training --------------------------------------------------------------------------------------------

def test_kind_is_registered():
    assert valuer_class("transformer") is TransformerValuer


def test_training_learns_and_predicts_finite_calibrated_ranges(fitted, small, offered):
    valuer, _ = fitted
    log = valuer.epoch_log
    assert [e["epoch"] for e in log] == [1, 2]
    assert log[1]["train_pinball"] < log[0]["train_pinball"]  # the loss goes down
    info = valuer.fit_info()
    assert info["n_train"] > info["n_validation"] > 0 and info["n_calibration"] > 0
    assert info["validation_from"] < info["calibration_from"]  # time-based: validation before calibration
    encoder = sum(p.numel() for n, p in valuer.net.encoder.named_parameters() if not n.startswith("pooler"))
    assert encoder > 15_000_000 and info["n_trainable"] > encoder  # end to end: the encoder too, not only the head
    assert info["calibration"]["method"] == "cqr" and np.isfinite(info["calibration"]["pooled"])

    later = offered[(offered["sale_date"] > small["sale_date"].max()) & (offered["status"] == "sold")].head(40)
    pred = valuer.predict(later, offered)
    assert list(pred.columns) == list(PREDICTION_COLUMNS) and len(pred) == 40
    assert list(pred["lot_ref"]) == list(later["lot_ref"])
    p, lo, hi = (pred[c].to_numpy() for c in ("pred_log_usd", "low_log_usd", "high_log_usd"))
    assert np.isfinite(p).all() and (lo <= p).all() and (p <= hi).all() and (hi - lo).min() > 0
    # 16 optimiser steps teach the trend, not accuracy (that is the benchmark's job): the predictions differ per
    # lot and stay in the range of prices the model was trained on
    y_fit = np.log(small.loc[small["status"] == "sold", "hammer_usd"].to_numpy(dtype=float))
    assert p.std() > 0.01 and y_fit.min() - 1 < p.min() and p.max() < y_fit.max() + 1


def test_no_leakage_of_future_sales(fitted, offered):
    valuer, _ = fitted
    sold = offered[(offered["sale_date"] >= dt.date(2020, 1, 1)) & (offered["status"] == "sold")]
    day = sold["sale_date"].value_counts().sort_index().loc[lambda n: n >= 10].index[0]
    lots = sold[sold["sale_date"] == day].head(30)  # one sale day
    past = offered[offered["sale_date"] < lots["sale_date"].min()]
    everything = offered  # includes the lots' own results and everything after them
    a = valuer.predict(lots, past.iloc[:0])  # no history at all
    # what happened on/after a lot's date never changes its valuation: blank those results (their catalogue, the
    # lot numbers of the lot's own sale, stays: it is published before the sale)
    later = offered["sale_date"] >= lots["sale_date"].min()
    blanked = pd.concat([offered[~later], offered[later].assign(hammer_usd=np.nan, hammer_price=np.nan,
                                                                status="upcoming")])
    b = valuer.predict(lots, blanked)
    c = valuer.predict(lots, everything)
    pd.testing.assert_frame_equal(b, c)
    assert not np.allclose(a["pred_log_usd"], c["pred_log_usd"])  # while the past does
    lots_hidden = lots.assign(hammer_usd=np.nan, hammer_price=np.nan, status="upcoming")
    pd.testing.assert_frame_equal(valuer.predict(lots_hidden, everything), c)  # its own result is not an input


def test_save_load_round_trip_is_identical_and_deterministic(fitted, offered, tmp_path):
    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(25)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    valuer.save(tmp_path / "a")
    valuer.save(tmp_path / "b")
    assert content_hash(tmp_path / "a") == content_hash(tmp_path / "b")
    size = sum(p.stat().st_size for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert 50e6 < size < 150e6
    loaded = TransformerValuer.load(tmp_path / "a", device="cpu")
    pd.testing.assert_frame_equal(loaded.predict(lots, offered), valuer.predict(lots, offered))
    assert loaded.calibration == valuer.calibration and loaded.params() == valuer.params()


def test_a_shallow_encoder_keeps_the_lowest_layers_and_round_trips(small, offered, tmp_path):
    valuer = TransformerValuer(**TINY, epochs=1, max_steps=3, encoder_layers=2).fit(small, small)
    assert TransformerValuer().encoder_layers == 2 and TransformerValuer(encoder_layers=None).encoder_layers is None
    enc = valuer.net.encoder
    assert len(enc.encoder.layer) == 2 and enc.config.num_hidden_layers == 2
    # the two layers kept start from MiniLM's lowest two (fine-tuned a little since)
    _, full = load_pretrained()
    w_kept = enc.encoder.layer[1].attention.self.query.weight.detach()
    assert torch.allclose(w_kept, full.encoder.layer[1].attention.self.query.weight, atol=0.05)
    assert not torch.allclose(w_kept, full.encoder.layer[5].attention.self.query.weight, atol=0.05)
    valuer.save(tmp_path)
    loaded = TransformerValuer.load(tmp_path, device="cpu", embedding_cache=None)
    assert loaded.params()["encoder_layers"] == 2 and len(loaded.net.encoder.encoder.layer) == 2
    lots = offered[offered["status"] == "sold"].tail(25)
    pd.testing.assert_frame_equal(loaded.predict(lots, offered), valuer.predict(lots, offered))
    with pytest.raises(ValueError, match="encoder_layers"):
        TransformerValuer(encoder_layers=0)


def test_int8_scoring_stays_close_to_fp32(fitted, offered):
    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(40)
    valuer.quantize, valuer._qnet = False, None
    p32 = valuer.predict(lots, offered)["pred_log_usd"].to_numpy()
    valuer.quantize, valuer._qnet = True, None
    p8 = valuer.predict(lots, offered)["pred_log_usd"].to_numpy()
    valuer.quantize, valuer._qnet = "auto", None
    assert np.isfinite(p8).all() and np.abs(p8 - p32).max() < 0.5 and not np.array_equal(p8, p32)


def test_bad_input_is_valued_not_crashed(fitted, offered):
    valuer, _ = fitted
    assert len(valuer.predict(offered.iloc[:0], offered)) == 0
    odd = pd.DataFrame([
        {"lot_ref": "x1", "artist_name": "Nobody Ever Seen", "sale_date": dt.date(2026, 10, 1)},
        {"lot_ref": "x2", "artist_name": "Someone", "year_created": 99999, "height_cm": -3, "width_cm": 1e9,
         "sale_date": None, "house": "unknown-house", "medium_class": "hologram"},
    ])
    pred = valuer.predict(odd, offered)
    assert list(pred["lot_ref"]) == ["x1", "x2"]
    assert np.isfinite(pred[["pred_log_usd", "low_log_usd", "high_log_usd"]].to_numpy()).all()


@pytest.mark.slow  # trains a second model (~15 s on 2 cores)
def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(fitted, small, offered):
    valuer, ckpt = fitted
    files = sorted(ckpt.glob("epoch-*.pt"))
    assert [f.name for f in files] == ["epoch-001.pt", "epoch-002.pt"]
    assert len((ckpt / "metrics.jsonl").read_text().splitlines()) == 2
    # a crash during epoch 2: only epoch 1's checkpoint survives
    crashed = ckpt.parent / "crashed"
    crashed.mkdir()
    shutil.copy(files[0], crashed / files[0].name)
    resumed = TransformerValuer(**TINY, epochs=2, checkpoint_dir=crashed, patience=5, resume=True).fit(small, small)
    assert resumed.info["resumed_from"].endswith("epoch-001.pt")
    assert [e["epoch"] for e in resumed.epoch_log] == [1, 2]
    assert resumed.epoch_log[1]["val_mdale"] == valuer.epoch_log[1]["val_mdale"]
    lots = offered[offered["status"] == "sold"].tail(20)
    valuer.quantize = resumed.quantize = False
    valuer._qnet = resumed._qnet = None
    pd.testing.assert_frame_equal(resumed.predict(lots, offered), valuer.predict(lots, offered))
    valuer.quantize = "auto"


# ---- device and kind plumbing ------------------------------------------------------------------------------

def test_default_kind_is_the_transformer_ensemble_on_a_gpu(monkeypatch, settings):
    import model.compute
    from model.train import default_kind

    monkeypatch.setattr(model.compute, "_cuda_available", lambda: False)
    assert default_kind(settings) == "lgbm_baseline"
    monkeypatch.setattr(model.compute, "_cuda_available", lambda: True)
    assert default_kind(settings) == "ensemble"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training_in_bf16_and_the_artifact_scores_on_cpu(small, offered, tmp_path):
    valuer = TransformerValuer(seed=7, device="cuda", epochs=2, max_length=32).fit(small, small)
    assert valuer.device == "cuda" and valuer.info["batch_size"] == 256
    assert valuer.info["hardware"].startswith("cuda:")
    lots = offered[offered["status"] == "sold"].tail(64)
    gpu = valuer.predict(lots, offered)
    assert np.isfinite(gpu[["pred_log_usd", "low_log_usd", "high_log_usd"]].to_numpy()).all()
    valuer.save(tmp_path)
    cpu = TransformerValuer.load(tmp_path, device="cpu")
    cpu.quantize = False
    diff = np.abs(cpu.predict(lots, offered)["pred_log_usd"] - gpu["pred_log_usd"]).max()
    assert diff < 0.1  # bf16 autocast on the GPU vs fp32 on the CPU


@pytest.mark.slow
def test_gbv_train_kind_transformer_end_to_end(engine, settings):
    """snapshot -> train_challenger(kind="transformer") -> evaluate -> promote, on a small demo world."""
    from gbv.demo.world import generate_world
    from model.store import ModelStore
    from model.train import evaluate, register_and_promote, snapshot_training_set, train_challenger
    from warehouse.loaders import upsert_lots

    small_world = generate_world(n_lots=300, seed=7)
    upsert_lots(engine, small_world.lots)
    snap = snapshot_training_set(engine, small_world.as_of, settings.stage_dir / "training_snapshots")
    store = ModelStore(settings.models_dir, engine)
    version = train_challenger(snap, settings, kind="transformer", store=store)
    card = store.card(version)
    assert card["kind"] == "transformer" and card["device"] == "cpu" and card["fit_info"]["epochs_log"]
    assert card["fit_info"]["n_parameters"] > 15_000_000 and card["training_seconds"] > 0  # MiniLM's 2 layers
    assert list((settings.stage_dir / "checkpoints").glob("transformer-*/epoch-*.pt"))
    metrics = evaluate(version, snap, store)
    assert metrics["challenger"]["n"] > 0 and metrics["challenger"]["mdale"] is not None
    assert register_and_promote(version, metrics, store) is True
    # a retried task resumes from the finished checkpoints: no retraining, the same artifact and version
    assert train_challenger(snap, settings, kind="transformer", store=store) == version


# ---- fast tokenisation and market signals ------------------------------------------------------------------

def test_word_cached_tokenisation_gives_the_tokenizers_own_ids(offered):
    from model.transformer import encode_texts

    tok, _ = load_pretrained()
    texts = render_lots(offered.head(300), sale=True) + ["", "Ünïcode café 日本 x", "a " * 200, TEXT]
    for max_length in (96, 16):
        ref = tok(texts, truncation=True, max_length=max_length)["input_ids"]
        cache: dict = {}
        ids, lengths = encode_texts(tok, texts, max_length, cache)
        assert ids.shape == (len(texts), max(map(len, ref))) and list(lengths) == [len(r) for r in ref]
        assert all(list(ids[i, :lengths[i]]) == r for i, r in enumerate(ref))
        assert (ids[np.arange(ids.shape[1])[None, :] >= lengths[:, None]] == tok.pad_token_id).all()
        again, _ = encode_texts(tok, texts, max_length, cache)  # from the word cache: the same ids
        assert cache and np.array_equal(again, ids)


# ---- CPU scoring fast path -----------------------------------------------------------------------------------

def test_column_wise_rendering_gives_render_lots_own_strings(world):
    from model.text import SALE_FIELDS, TEXT_FIELDS

    odd = pd.DataFrame({
        "artist_name": ["<b></b>", None, "X", "  ", 5, 5.0], "title": ["...", 1, 1.0, None, "t", np.nan],
        "edition": [1, 1.0, "1", None, np.nan, "n"], "height_cm": ["12", 5, None, "abc", 0.5, 1e400],
        "auction_house": [None, "", "A", np.nan, "B", None], "house": ["h", "h2", None, "h4", "h5", None],
        "artist_birth_year": [1900, "1901", None, "x", 1.5, np.nan],
        "artist_death_year": [None, 1950, 1960, 2000, np.nan, 1],
        "description": ["a" * 500, "<p>x&amp;y</p>", None, "", " ", "ok."],
        "signature": ["signed_dated", None, "", "a", "b", "c"]})
    for frame in (world.lots, odd, world.lots.head(0)):
        for sale in (False, True):
            cols = [c for c in TEXT_FIELDS + (SALE_FIELDS if sale else ()) if c in frame.columns]
            assert render_lots(frame, sale=sale) == [render_lot(r, sale=sale) for r in frame[cols].to_dict("records")]


def test_cpu_precisions_resolve_and_bf16_stays_close_to_fp32(fitted, offered, monkeypatch):
    from model.transformer import cpu_has_amx, cpu_has_native_bf16

    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(40)
    old = (valuer.quantize, valuer.cpu_precision)
    try:
        valuer.quantize = "auto"
        valuer.cpu_precision = "auto"
        expected = "bf16" if cpu_has_amx() and cpu_has_native_bf16() else "onnx-int8"
        assert valuer.scoring_precision() == expected
        monkeypatch.setenv("GBV_CPU_PRECISION", "fp32")
        assert valuer.scoring_precision() == "fp32"
        monkeypatch.setenv("GBV_CPU_PRECISION", "fp16")
        with pytest.raises(ValueError, match="GBV_CPU_PRECISION"):
            valuer.scoring_precision()
        monkeypatch.delenv("GBV_CPU_PRECISION")
        valuer.cpu_precision = "fp32"
        p32 = valuer.predict(lots, offered)
        valuer.cpu_precision = "bf16"
        pbf = valuer.predict(lots, offered)
        assert valuer.scoring_precision() == "bf16" and valuer._qnet is not valuer.net
        assert next(valuer._qnet.encoder.parameters()).dtype == torch.bfloat16
        assert next(valuer.net.parameters()).dtype == torch.float32  # the trained weights are left alone
        diff = np.abs(pbf[["pred_log_usd", "low_log_usd", "high_log_usd"]].to_numpy()
                      - p32[["pred_log_usd", "low_log_usd", "high_log_usd"]].to_numpy())
        assert np.isfinite(diff).all() and diff.max() < 0.05 and diff.max() > 0
        valuer.quantize = True  # the legacy switch wins
        assert valuer.scoring_precision() == "int8"
        valuer.quantize = False
        assert valuer.scoring_precision() == "fp32"
        pd.testing.assert_frame_equal(valuer.predict(lots, offered), p32)
    finally:
        valuer.quantize, valuer.cpu_precision = old
        valuer._qnet = None
    with pytest.raises(ValueError, match="cpu_precision"):
        TransformerValuer(cpu_precision="fp8")


def test_scoring_bench_reports_each_precision_against_fp32(fitted, offered):
    from gbv.cli import build_parser
    from model.bench import scoring_bench

    args = build_parser().parse_args(["bench", "scoring", "--n", "64", "--precisions", "fp32,bf16", "--threads", "1"])
    assert args.func.__name__ == "cmd_bench_scoring" and (args.n, args.threads) == (64, 1)
    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(24).reset_index(drop=True)
    res = scoring_bench(valuer, lots, offered, ("fp32", "bf16"), repeats=1)
    assert res["n"] == 24 and res["threads"] >= 1 and res["batch_size"] == 256 and res["mean_tokens"] > 5
    fp32, bf16 = res["precisions"]["fp32"], res["precisions"]["bf16"]
    assert fp32["max_abs_diff_vs_fp32"] == 0 and 0 < bf16["max_abs_diff_vs_fp32"] < 0.05
    assert bf16["median_abs_diff_vs_fp32"] <= bf16["max_abs_diff_vs_fp32"]
    for r in (fp32, bf16):
        assert r["e2e_lots_per_s"] > 0 and r["model_lots_per_s"] > 0 and r["mdale_sample"] > 0
        assert set(r["breakdown_s"]) == {"features_s", "render_s", "tokenize_s", "encoder_s", "cache_s", "head_s"}
    assert valuer.cpu_precision == "auto" and valuer._qnet is None  # the valuer is left as it was


def test_scoring_bench_times_cold_and_warm_nights_with_the_embedding_cache(fitted, offered, capsys):
    from model.bench import print_cache_nights, scoring_bench

    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(30).reset_index(drop=True)
    res = scoring_bench(valuer, lots, offered, ("fp32",), repeats=2, cache_precisions=("fp32", "bf16"), seen=0.8)
    cache = res["cache"]
    assert cache["n"] == 30 and 15 <= cache["n_seen"] < 30
    for prec in ("fp32", "bf16"):
        cold, warm = cache["precisions"][prec]["cold"], cache["precisions"][prec]["warm"]
        assert len(cold["lots_per_s"]) == len(warm["lots_per_s"]) == 2
        assert (cold["hits"], cold["encoded"]) == (0, 30)
        assert (warm["hits"], warm["encoded"]) == (cache["n_seen"], 30 - cache["n_seen"])
        # shares of the time are measured, not asserted beyond their sum: no test is timed
        assert abs(sum(warm["share"].values()) - 1) < 0.01 and cold["share"]["encoder"] > 0
        assert cold["max_abs_diff_vs_uncached"] < 1e-5 and warm["max_abs_diff_vs_uncached"] < 5e-3
    assert cache["precisions"]["fp32"]["warm"]["max_abs_diff_vs_uncached"] < 1e-5
    print_cache_nights(cache)
    out = capsys.readouterr().out
    assert "cold" in out and "warm" in out and "encoder" in out
    assert valuer.embedding_cache is None and valuer.cpu_precision == "auto" and valuer._qnet is None


@pytest.mark.parametrize("env", ["GBV_SCORING_THREADS", "GBV_LGBM_THREADS"])
def test_thread_counts_follow_the_environment(monkeypatch, env):
    from model.compute import cpu_threads, lgbm_threads
    from model.transformer import scoring_threads

    count = {"GBV_SCORING_THREADS": scoring_threads, "GBV_LGBM_THREADS": lgbm_threads}[env]
    monkeypatch.delenv(env, raising=False)
    assert count() == cpu_threads()
    monkeypatch.setenv(env, "1")
    assert count() == 1
    monkeypatch.setenv(env, "512")
    assert count() == cpu_threads()
    monkeypatch.setenv(env, "many")
    assert count() == cpu_threads()


# ---- the text-embedding cache across nights ------------------------------------------------------------------

@pytest.fixture()
def fp32_valuer(fitted):
    valuer, _ = fitted
    old = (valuer.cpu_precision, valuer.embedding_cache)
    valuer.cpu_precision, valuer._qnet = "fp32", None
    yield valuer
    valuer.cpu_precision, valuer.embedding_cache = old
    valuer._qnet = None


def test_cached_text_embeddings_give_the_uncached_predictions(fp32_valuer, offered, tmp_path):
    valuer = fp32_valuer
    tonight = offered.tail(60).reset_index(drop=True)
    yesterday = tonight.head(45)
    valuer.embedding_cache = None
    uncached = valuer.predict(tonight, offered)
    assert valuer.last_cache["dir"] is None and valuer.last_cache["encoded"] == 60
    valuer.embedding_cache = tmp_path
    valuer.predict(yesterday, offered)  # last night: 45 of tonight's lots
    assert (valuer.last_cache["hits"], valuer.last_cache["encoded"]) == (0, 45)
    partly = valuer.predict(tonight, offered)
    assert (valuer.last_cache["hits"], valuer.last_cache["encoded"]) == (45, 15)
    warm = valuer.predict(tonight, offered)
    assert (valuer.last_cache["hits"], valuer.last_cache["encoded"]) == (60, 0)
    assert valuer.last_timing["encoder_s"] < 0.05  # the encoder was skipped
    pd.testing.assert_frame_equal(warm, partly)
    pd.testing.assert_frame_equal(warm, uncached, check_exact=False, rtol=0, atol=1e-5)
    # each distinct text once: a lot twice in one call is one text
    twice = valuer.predict(pd.concat([tonight.head(5), tonight.head(5)], ignore_index=True), offered)
    assert valuer.last_cache["distinct"] == 5
    np.testing.assert_allclose(twice["pred_log_usd"].to_numpy()[:5], uncached["pred_log_usd"].to_numpy()[:5],
                               atol=1e-5)


def test_cached_bf16_embeddings_are_kept_apart_from_fp32_and_give_bf16_predictions(fp32_valuer, offered, tmp_path):
    valuer = fp32_valuer
    lots = offered.tail(20).reset_index(drop=True)
    valuer.embedding_cache = tmp_path
    p32 = valuer.predict(lots, offered)
    valuer.cpu_precision = "bf16"
    cold = valuer.predict(lots, offered)
    assert valuer.last_cache["hits"] == 0  # another precision, another namespace
    warm = valuer.predict(lots, offered)
    assert valuer.last_cache["hits"] == 20
    pd.testing.assert_frame_equal(warm, cold)
    assert 0 < np.abs(warm["pred_log_usd"] - p32["pred_log_usd"]).max() < 0.05
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 2


def test_another_model_version_never_reads_the_cached_embeddings(fitted, offered, tmp_path, monkeypatch):
    valuer, _ = fitted
    lots = offered.tail(20).reset_index(drop=True)
    (tmp_path / "v1").mkdir()
    valuer.save(tmp_path / "v1")
    cache = tmp_path / "cache"
    monkeypatch.setenv("GBV_EMBEDDING_CACHE", str(cache))
    v1 = TransformerValuer.load(tmp_path / "v1", device="cpu")
    assert v1.embedding_cache == "auto" and valuer.embedding_cache is None  # loaded artifacts use it by default
    v1.cpu_precision = "fp32"
    a = v1.predict(lots, offered)
    assert v1.last_cache["dir"].startswith(str(cache)) and v1.last_cache["encoded"] == 20
    # "v2": the next retrain, here the same artifact with its encoder nudged
    v2 = TransformerValuer.load(tmp_path / "v1", device="cpu")
    v2.cpu_precision = "fp32"
    with torch.no_grad():
        v2.net.encoder.embeddings.LayerNorm.bias.add_(0.5)
    b = v2.predict(lots, offered)
    assert v2.last_cache["hits"] == 0 and v2.last_cache["dir"] != v1.last_cache["dir"]
    v2.embedding_cache = None
    pd.testing.assert_frame_equal(v2.predict(lots, offered), b, check_exact=False, rtol=0, atol=1e-5)
    assert np.abs(a["pred_log_usd"] - b["pred_log_usd"]).max() > 1e-3
    v1.predict(lots, offered)
    assert v1.last_cache["hits"] == 20  # the first version still finds its own
    monkeypatch.setenv("GBV_EMBEDDING_CACHE", "off")
    v1.predict(lots, offered)
    assert v1.last_cache["dir"] is None and v1.last_cache["encoded"] == 20


def test_a_corrupt_cache_file_is_rebuilt_with_a_warning(fp32_valuer, offered, tmp_path, caplog):
    import logging

    valuer = fp32_valuer
    lots = offered.tail(20).reset_index(drop=True)
    valuer.embedding_cache = tmp_path
    first = valuer.predict(lots, offered)
    (shard,) = tmp_path.glob("*/*.npz")
    shard.write_bytes(shard.read_bytes()[:1000])  # e.g. a disk that filled up
    with caplog.at_level(logging.WARNING, logger="model.transformer"):
        again = valuer.predict(lots, offered)
    assert "corrupt" in caplog.text and valuer.last_cache["encoded"] == 20
    pd.testing.assert_frame_equal(again, first, check_exact=False, rtol=0, atol=1e-5)
    valuer.predict(lots, offered)
    assert valuer.last_cache["hits"] == 20  # rebuilt
    (tmp_path / "blocked").write_text("not a folder")
    valuer.embedding_cache = tmp_path / "blocked"  # an unusable cache folder: scored without it, with a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="model.transformer"):
        pd.testing.assert_frame_equal(valuer.predict(lots, offered), first, check_exact=False, rtol=0, atol=1e-5)
    assert "could not store" in caplog.text


def test_onnx_runtime_encoder_scores_like_torch_and_uses_the_embedding_cache(fitted, offered, tmp_path):
    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(30)
    cols = ["pred_log_usd", "low_log_usd", "high_log_usd"]
    try:
        valuer.cpu_precision = "fp32"
        p32 = valuer.predict(lots, offered)[cols].to_numpy()
        valuer.cpu_precision = "onnx"
        ponnx = valuer.predict(lots, offered)[cols].to_numpy()
        valuer.cpu_precision, valuer._qnet = "onnx-int8", None
        p8 = valuer.predict(lots, offered)[cols].to_numpy()
        # the fusion head stays torch: the pooled text is cached per precision like any other
        valuer.embedding_cache = tmp_path
        first = valuer.predict(lots, offered)[cols].to_numpy()
        assert valuer.last_cache["encoded"] == valuer.last_cache["distinct"] > 0
        again = valuer.predict(lots, offered)[cols].to_numpy()
        assert valuer.last_cache["hits"] == valuer.last_cache["distinct"] and valuer.last_cache["encoded"] == 0
        (namespace,) = tmp_path.rglob("namespace.json")
        assert json.loads(namespace.read_text())["precision"] == "onnx-int8"
    finally:
        valuer.cpu_precision, valuer._qnet, valuer.embedding_cache = "auto", None, None
    assert np.abs(ponnx - p32).max() < 1e-3
    assert 0 < np.abs(p8 - p32).max() < 0.2  # int8 weights: close, not equal
    np.testing.assert_array_equal(first, p8)
    np.testing.assert_array_equal(again, p8)


def test_auto_precision_falls_back_to_fp32_when_onnx_cannot_be_built(fitted, offered, monkeypatch, caplog):
    import logging

    import model.onnx
    import model.transformer as mt

    valuer, _ = fitted
    lots = offered[offered["status"] == "sold"].tail(10)
    monkeypatch.setattr(mt, "auto_cpu_precision", lambda: "onnx-int8")

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("no exporter here")

    monkeypatch.setattr(model.onnx, "ort_net", broken)
    valuer.cpu_precision = "fp32"
    p32 = valuer.predict(lots, offered)
    try:
        valuer.cpu_precision, valuer._qnet = "auto", None
        with caplog.at_level(logging.WARNING, logger="model.transformer"):
            pauto = valuer.predict(lots, offered)
        assert valuer.scoring_precision() == "fp32" and "scoring in fp32" in caplog.text
        pd.testing.assert_frame_equal(pauto, p32)
        valuer.cpu_precision = "onnx-int8"  # asked for by name: the error is the caller's to see
        with pytest.raises(RuntimeError, match="no exporter"):
            valuer.predict(lots, offered)
    finally:
        valuer.cpu_precision, valuer._qnet, valuer._unavailable = "auto", None, set()
