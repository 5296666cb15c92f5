"""Comparables search: the k most similar past sales of a lot, each price brought to today by a price index.

Order of the answer: **the same artist first** (the artist's earlier sold lots, nearest first), then the nearest
other sold lots. "Nearest" is one distance over a single vector per lot:

* the lot's text (:func:`model.text.render_lot`: artist, bio, title, medium, size, year, ...) embedded with the
  project's MiniLM, mean-pooled over the tokens as the transformer valuer does, unit length
  (:data:`TEXT_MAX_LENGTH` tokens: the catalogue head, before the description);
* the medium class (one-hot, weight :data:`W_MEDIUM`), the log area (per standard deviation, :data:`W_SIZE`)
  and the sale date (per year, :data:`W_DATE`) appended, so that one L2 distance weighs text, medium, size and
  date together. A lot without a size or a text still gets a vector (the missing part is neutral).

Only sales **strictly before** the query date count (a lot never finds itself or later results). Each
comparable's hammer price (USD) is multiplied by ``index_ratio(comp sale date, query date, medium class)``
(:class:`PriceIndex`: the hedonic index in the warehouse's ``fact_price_index`` / ``mart_price_index``
when it exists, else no adjustment).

The vector index is **usearch** (HNSW, persisted under ``$GBV_HOME/market/comps/``, refreshed nightly:
incrementally when only new sales arrived, rebuilt when stored sales changed) on the embedded default, and
**pgvector** (an HNSW index in the warehouse) on PostgreSQL when the ``vector`` extension is available.
Embeddings are cached under ``$GBV_HOME/cache/embeddings/`` keyed by a hash of the text.

Entry points: :func:`comparables_for_lots` (for valuation explanations), :func:`refresh_index`, and the CLI
``gbv comps --lot-ref REF`` / ``gbv comps --catalogue FILE --row N``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gbv.contracts import MEDIUM_CLASSES

log = logging.getLogger(__name__)

TEXT_MAX_LENGTH = 32
TEXT_DIM = 384
W_MEDIUM = 0.5
W_SIZE = 0.3
W_DATE = 0.05
LOG_AREA_MEAN, LOG_AREA_SD = 7.5, 1.2
DEFAULT_K = 10
ARTIST_EXACT_MAX = 400  # an artist with more earlier sales is searched through their own HNSW index
EMBEDDER_ENV = "GBV_COMPS_EMBEDDER"  # minilm (default) | hashing (tests, quick looks)
# Seconds a refresh may spend embedding texts it has not seen before (newest sales first); the rest wait for the
# next refresh. A warehouse that arrives with half a million unseen sales is embedded over a few nights instead of
# holding one night for hours (MiniLM does ~100 texts/s on 2 cores); "none" lifts the cap.
EMBED_BUDGET_ENV = "GBV_COMPS_EMBED_BUDGET_S"
DEFAULT_EMBED_BUDGET_S = 300.0
_FROM_ENV = object()


def parse_budget(raw: str | None, what: str = EMBED_BUDGET_ENV, error: type[Exception] = ValueError) -> float | None:
    """An embedding budget in seconds from text: a number >= 0, or ``none`` (no cap); empty = the default.
    ``what`` names the setting in the error, raised as ``error``."""
    raw = (raw or "").strip().lower()
    if not raw:
        return DEFAULT_EMBED_BUDGET_S
    if raw in ("none", "inf", "unlimited"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise error(f"{what} must be a number of seconds or 'none', got {raw!r}") from None
    if not value >= 0:
        raise error(f"{what} must be >= 0, got {raw!r}")
    return value


def embed_budget_from_env() -> float | None:
    """The refresh's embedding budget in seconds (:data:`EMBED_BUDGET_ENV`; ``None`` = no cap)."""
    return parse_budget(os.environ.get(EMBED_BUDGET_ENV))


VECTOR_DIM = TEXT_DIM + len(MEDIUM_CLASSES) + 2


class ComparablesError(ValueError):
    """A comparables request that cannot be answered (unknown lot, unreadable catalogue row, empty index)."""


# ---- price index adapter -----------------------------------------------------------------------------------

def _month(d) -> int:  # noqa: ANN001 - date, datetime, Timestamp or ISO string
    ts = pd.Timestamp(d)
    return ts.year * 12 + ts.month - 1


@dataclass
class PriceIndex:
    """Log index levels by month and segment; ``ratio(a, b, segment)`` = level(b) / level(a).

    Months outside a segment's range take the nearest level at its edge; an unknown segment uses ``"all"``;
    no levels at all means no adjustment (ratio 1). ``source`` says where the levels came from.
    """

    levels: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # seg -> (months, log level)
    source: str = "none"

    @classmethod
    def none(cls) -> PriceIndex:
        return cls({}, "none (no price index available: prices are not adjusted)")

    @classmethod
    def from_frame(cls, df: pd.DataFrame, source: str) -> PriceIndex:
        """From rows (segment, month as date/period start, log_level)."""
        levels = {}
        for seg, g in df.dropna(subset=["log_level"]).groupby("segment"):
            months = np.array([_month(d) for d in g["period"]], dtype=np.int64)
            order = np.argsort(months)
            levels[str(seg)] = (months[order], g["log_level"].to_numpy(dtype=float)[order])
        return cls(levels, source) if levels else cls.none()

    @classmethod
    def from_warehouse(cls, engine) -> PriceIndex:  # noqa: ANN001 - sqlalchemy Engine
        """The hedonic monthly index the marts engineer stores (``fact_price_index``, else the view
        ``mart_price_index``), overall and per medium class; no adjustment when neither exists or is empty.

        Columns read: ``period_start``, ``segment`` (``all`` or a medium class; rows of other ``segment_type``s
        are skipped), ``log_index`` (else ``log(index_value)``), ``frequency`` (``month`` preferred) and
        ``index_kind`` (``hedonic`` preferred). Gap periods (no level) keep the last level before them.
        """
        from sqlalchemy import inspect, text

        try:
            insp = inspect(engine)
            names = set(insp.get_table_names()) | set(insp.get_view_names())
            table = next((t for t in ("fact_price_index", "mart_price_index") if t in names), None)
            if table is None:
                return cls.none()
            with engine.connect() as conn:
                df = pd.read_sql(text(f"SELECT * FROM {table}"), conn)
        except Exception as exc:  # noqa: BLE001 - an index is an improvement, never a reason to fail
            log.warning("price index: could not read the warehouse index (%s); prices not adjusted", exc)
            return cls.none()
        cols = {c.lower(): c for c in df.columns}
        pick = (lambda *names: next((cols[n] for n in names if n in cols), None))  # noqa: E731
        period, seg = pick("period_start", "month"), pick("segment", "segment_value")
        log_col, lvl_col = pick("log_index", "log_level"), pick("index_value", "index_level")
        if df.empty or period is None or (log_col is None and lvl_col is None):
            if not df.empty:
                log.warning("price index: %s has no recognisable period/level columns %s; not adjusted", table,
                            list(df.columns))
            return cls.none()
        for col, want in ((pick("segment_type"), ("all", "medium_class")),):
            if col is not None:
                df = df[df[col].astype(str).isin(want)]
        freq, kind = pick("frequency", "period_type"), pick("index_kind", "method")
        if freq is not None and (df[freq].astype(str) == "month").any():
            df = df[df[freq].astype(str) == "month"]
        if kind is not None and (df[kind].astype(str) == "hedonic").any():
            df = df[df[kind].astype(str) == "hedonic"]
        level = (pd.to_numeric(df[log_col], errors="coerce") if log_col is not None
                 else np.log(pd.to_numeric(df[lvl_col], errors="coerce").where(lambda s: s > 0)))
        segment = df[seg].astype(str).str.lower().replace({"overall": "all"}) if seg is not None else "all"
        return cls.from_frame(pd.DataFrame({"segment": segment, "period": df[period], "log_level": level}),
                              f"the warehouse's hedonic price index ({table})")

    @classmethod
    def fit_simple(cls, lots: pd.DataFrame, min_sales: int = 30) -> PriceIndex:
        """A simple repeat-artist index from sold lots (for benchmarks and when no mart exists yet).

        Each sale's log price minus its artist's mean log price (artists with >= 2 sales); the level of a
        quarter is the median over it and the three quarters before (at least ``min_sales``), overall and per
        medium class; quarters without enough sales keep the last level (a gap, not an interpolation)."""
        from model.features import artist_keys, log_hammer_usd, sale_dates

        y = log_hammer_usd(lots)
        df = pd.DataFrame({"a": artist_keys(lots), "y": y, "d": sale_dates(lots),
                           "seg": lots.get("medium_class", pd.Series(index=lots.index, dtype=object))})
        df = df.dropna(subset=["a", "y", "d"])
        df = df[df.groupby("a")["y"].transform("size") >= 2]
        if df.empty:
            return cls.none()
        df["r"] = df["y"] - df.groupby("a")["y"].transform("mean")
        df["q"] = df["d"].dt.year * 4 + (df["d"].dt.month - 1) // 3
        rows = []
        for seg, g in [("all", df)] + [(str(s), g) for s, g in df.groupby("seg")]:
            quarters = sorted(g["q"].unique())
            by_q = {q: part["r"].to_numpy() for q, part in g.groupby("q")}
            med = {}
            for q in quarters:  # trailing four quarters: smooths the evening/day sale mix of a season
                r = np.concatenate([by_q[p] for p in range(q - 3, q + 1) if p in by_q])
                if len(r) >= min_sales:
                    med[q] = float(np.median(r))
            for q, v in med.items():
                for m in range(3):  # each month of the quarter
                    rows.append((seg, dt.date(int(q) // 4, (int(q) % 4) * 3 + 1 + m, 1), float(v)))
        if not rows:
            return cls.none()
        return cls.from_frame(pd.DataFrame(rows, columns=["segment", "period", "log_level"]),
                              "simple repeat-artist quarterly index (gbv.market.comps)")

    def log_level(self, months: np.ndarray, segment: str | None) -> np.ndarray:
        key = segment if segment in self.levels else "all"
        if key not in self.levels:
            return np.zeros(len(months))
        m, lv = self.levels[key]
        pos = np.clip(np.searchsorted(m, months, side="right") - 1, 0, len(m) - 1)
        return lv[pos]

    def ratio(self, from_date, to_date, segment: str | None = None) -> float:  # noqa: ANN001
        """Index level at ``to_date`` over the level at ``from_date`` (1.0 without an index)."""
        if not self.levels:
            return 1.0
        a, b = self.log_level(np.array([_month(from_date), _month(to_date)]), segment)
        return float(math.exp(b - a))

    def ratios(self, from_months: np.ndarray, to_month: int, segments: np.ndarray) -> np.ndarray:
        if not self.levels:
            return np.ones(len(from_months))
        out = np.empty(len(from_months))
        for seg in set(segments.tolist()):
            mask = segments == seg
            lv = self.log_level(from_months[mask], seg)
            out[mask] = np.exp(self.log_level(np.array([to_month]), seg)[0] - lv)
        return out


def index_ratio(from_date, to_date, segment: str | None = None, engine=None) -> float:  # noqa: ANN001
    """``level(to_date) / level(from_date)`` of the warehouse's price index for ``segment`` (1.0 when none)."""
    if engine is None:
        from warehouse.db import get_engine

        engine = get_engine()
    return PriceIndex.from_warehouse(engine).ratio(from_date, to_date, segment)


# ---- text embeddings ---------------------------------------------------------------------------------------

class HashingEmbedder:
    """Word and word-bigram feature hashing into 384 dims, unit length: instant, no model (tests)."""

    name = "hashing-384"
    dim = TEXT_DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            words = [w.strip(".,;:()").lower() for w in t.split()]
            words = [w for w in words if w]
            for tok in words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]:
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class MiniLMEmbedder:
    """The project's MiniLM (``model.transformer.load_pretrained``), mean-pooled over tokens, unit length."""

    dim = TEXT_DIM

    def __init__(self, max_length: int = TEXT_MAX_LENGTH, batch_size: int = 64):
        self.max_length, self.batch_size = max_length, batch_size
        self.name = f"minilm-l6-mean-{max_length}"
        self._tok = self._enc = self._backend = None
        self._cache: dict = {}

    def _load(self) -> None:
        if self._enc is None:
            from model.transformer import _backend, load_pretrained

            self._tok, self._enc = load_pretrained()
            self._enc.eval()
            self._backend = _backend(self._tok)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        from model.transformer import encode_texts

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        self._load()
        ids, lengths = encode_texts(self._tok, texts, self.max_length, self._cache, self._backend)
        order = np.argsort(lengths, kind="stable")
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                idx = order[s:s + self.batch_size]
                width = int(lengths[idx].max())
                x = torch.from_numpy(ids[idx, :width])
                mask = (torch.arange(width)[None, :] < torch.from_numpy(lengths[idx])[:, None]).long()
                hs = self._enc(input_ids=x, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(hs.dtype)
                out[idx] = ((hs * m).sum(1) / m.sum(1).clamp(min=1.0)).float().numpy()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache keyed by sha1(embedder name + text): shards of
    ``<dir>/<embedder name>/*.npz``, each written whole (temporary file + rename)."""

    chunk = 512  # new texts embedded (and the budget checked) this many at a time

    def __init__(self, inner, cache_dir: Path | None):  # noqa: ANN001
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.dir = Path(cache_dir) / inner.name if cache_dir else None
        self._mem: dict[bytes, np.ndarray] | None = None
        self.hits = self.misses = 0

    def _key(self, text: str) -> bytes:
        return hashlib.sha1(f"{self.name}\x00{text}".encode()).digest()

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._mem is None:
            self._mem = {}
            if self.dir is not None and self.dir.exists():
                for shard in sorted(self.dir.glob("*.npz")):
                    try:
                        with np.load(shard) as z:
                            keys, vecs = z["keys"], z["vecs"]
                    except Exception as exc:  # noqa: BLE001 - a damaged shard is only a cache miss
                        log.warning("embedding cache: ignoring unreadable %s (%s)", shard, exc)
                        continue
                    self._mem.update(zip(keys.tolist(), vecs, strict=True))
        return self._mem

    def fill(self, texts: list[str], budget_s: float | None = None) -> int:
        """Embed the texts of ``texts`` not cached yet, in the given order, while ``budget_s`` lasts (``None``: all;
        0: none), into the cache; returns how many were embedded. Nothing of the size of ``texts`` is returned."""
        mem = self._load()
        keys = [self._key(t) for t in texts]
        # in the caller's order (callers put the texts that matter most first), each new text once
        todo = list({k: t for k, t in zip(keys, texts, strict=True) if k not in mem}.items())
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        started, chunk, done = time.perf_counter(), self.chunk, 0
        for s in range(0, len(todo), chunk):
            if budget_s is not None and (budget_s <= 0 or time.perf_counter() - started > budget_s):
                log.warning("embedding budget of %.0f s spent: %d of %d new texts left unembedded", budget_s,
                            len(todo) - s, len(todo))
                break
            part = todo[s:s + chunk]
            vecs = self.inner.embed([t for _, t in part])
            new = dict(zip([k for k, _ in part], vecs, strict=True))
            mem.update(new)
            self._save(new)
            done += len(part)
        return done

    def has(self, texts: list[str]) -> np.ndarray:
        """Which of ``texts`` are cached (boolean per text)."""
        mem = self._load()
        return np.fromiter((self._key(t) in mem for t in texts), dtype=bool, count=len(texts))

    def embed(self, texts: list[str], budget_s: float | None = None) -> np.ndarray:
        """Vectors for ``texts``; with ``budget_s`` new texts are embedded, in the given order, only while time
        remains (the others come back as NaN rows, so a caller can use a stated subset; 0 = cached texts only)."""
        self.fill(texts, budget_s)
        mem = self._load()
        out = np.full((len(texts), self.dim), np.nan, dtype=np.float32)
        for i, t in enumerate(texts):
            v = mem.get(self._key(t))
            if v is not None:
                out[i] = v
        return out

    def _save(self, new: dict[bytes, np.ndarray]) -> None:
        if self.dir is None or not new:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=np.array(list(new), dtype="S20"), vecs=np.stack(list(new.values())))
        os.replace(tmp, self.dir / name)


def make_embedder(kind: str | None = None, cache_dir: Path | None = None) -> CachedEmbedder:
    """``minilm`` (default, ``GBV_COMPS_EMBEDDER``) or ``hashing``, with the on-disk cache."""
    kind = (kind or os.environ.get(EMBEDDER_ENV) or "minilm").lower()
    if kind == "minilm":
        inner = MiniLMEmbedder()
    elif kind == "hashing":
        inner = HashingEmbedder()
    else:
        raise ValueError(f"{EMBEDDER_ENV} must be minilm or hashing, got {kind!r}")
    return CachedEmbedder(inner, cache_dir)


def lot_texts(lots: pd.DataFrame) -> list[str]:
    from model.text import render_lots

    return render_lots(lots)


# ---- vectors -----------------------------------------------------------------------------------------------

def _log_area(lots: pd.DataFrame) -> np.ndarray:
    h = pd.to_numeric(lots.get("height_cm", pd.Series(np.nan, index=lots.index)), errors="coerce")
    w = pd.to_numeric(lots.get("width_cm", pd.Series(np.nan, index=lots.index)), errors="coerce")
    area = (h * w).where((h > 0) & (w > 0))
    return np.log(area.to_numpy(dtype=float))


def _days(dates) -> np.ndarray:  # noqa: ANN001
    d = pd.to_datetime(pd.Series(dates), errors="coerce").to_numpy().astype("datetime64[D]")
    return d.astype(np.int64)  # NaT -> min int64


def feature_block(lots: pd.DataFrame, dates=None) -> np.ndarray:  # noqa: ANN001
    """Medium one-hot, standardised log area and years since 2000, weighted (missing parts are neutral)."""
    n = len(lots)
    out = np.zeros((n, len(MEDIUM_CLASSES) + 2), dtype=np.float32)
    med = lots.get("medium_class", pd.Series([None] * n, index=lots.index)).astype(object).to_numpy()
    for j, m in enumerate(MEDIUM_CLASSES):
        out[:, j] = (med == m) * W_MEDIUM
    la = _log_area(lots)
    out[:, -2] = np.where(np.isfinite(la), np.clip((la - LOG_AREA_MEAN) / LOG_AREA_SD, -4, 4), 0.0) * W_SIZE
    days = _days(lots["sale_date"] if dates is None else dates).astype(float)
    years = np.where(days > -1e12, (days - 10957.0) / 365.25, 16.0)  # 10957 = 2000-01-01; unknown -> 2016
    out[:, -1] = years * W_DATE
    return out


def lot_vectors(lots: pd.DataFrame, embedder, dates=None) -> np.ndarray:  # noqa: ANN001
    """Vectors of ``lots`` (texts embedded as needed; a budget is applied earlier, by :func:`embeddable`)."""
    text = embedder.embed(lot_texts(lots))
    return np.hstack([np.asarray(text, dtype=np.float32), feature_block(lots, dates)])


def embeddable(lots: pd.DataFrame, embedder, budget_s: float | None) -> pd.DataFrame:  # noqa: ANN001
    """The rows of ``lots`` whose text is embedded once ``budget_s`` is spent on the newest sales first (all rows
    without a budget or a caching embedder). Only the cache grows: no vectors of the whole set are made."""
    if budget_s is None or not isinstance(embedder, CachedEmbedder) or len(lots) == 0:
        return lots
    texts = lot_texts(lots)
    newest_first = np.argsort(-_days(lots["sale_date"]), kind="stable")
    embedder.fill([texts[i] for i in newest_first], budget_s=budget_s)
    ok = embedder.has(texts)
    if not ok.all():
        log.warning("comparables index: %d of %d sold lots wait for a later refresh (embedding budget of %s s spent)",
                    int((~ok).sum()), len(ok), budget_s)
    return lots if ok.all() else lots[ok].reset_index(drop=True)


def _norm_name(names: pd.Series) -> np.ndarray:
    from gbv.normalize.names import name_key

    return np.array([name_key(str(n)) if isinstance(n, str) and n.strip() else "" for n in names], dtype=object)


def _fingerprint(lots: pd.DataFrame, texts: list[str]) -> np.ndarray:
    cols = lots[["lot_ref", "sale_date", "hammer_usd", "medium_class", "height_cm", "width_cm"]]
    joined = ["|".join(map(str, row)) for row in cols.itertuples(index=False, name=None)]
    return np.array([hashlib.sha1(f"{j}|{t}".encode()).hexdigest()[:16] for j, t in zip(joined, texts,
                                                                                       strict=True)])


# ---- the index ---------------------------------------------------------------------------------------------

META_COLUMNS = ("lot_ref", "artist_id", "artist_name", "title", "medium_class", "height_cm", "width_cm", "house",
                "auction_house", "sale_date", "hammer_usd", "fp")


@dataclass
class Comparable:
    lot_ref: str
    same_artist: bool
    distance: float
    artist_name: str
    title: str
    medium_class: str
    size: str
    sale_date: str
    house: str
    hammer_usd: float
    index_ratio: float
    adjusted_usd: float


def _sold(lots: pd.DataFrame) -> pd.DataFrame:
    price = pd.to_numeric(lots["hammer_usd"], errors="coerce")
    keep = (lots["status"].astype(str) == "sold") & (price > 0) & pd.to_datetime(lots["sale_date"],
                                                                                  errors="coerce").notna()
    out = lots[keep].drop_duplicates("lot_ref", keep="last")
    return out.sort_values(["sale_date", "lot_ref"], kind="stable").reset_index(drop=True)


class ComparablesIndex:
    """Sold lots, their vectors and an ANN index over them (usearch HNSW, or pgvector through ``ann``)."""

    def __init__(self, meta: pd.DataFrame, vectors: np.ndarray, embedder_name: str, ann=None,  # noqa: ANN001
                 price_index: PriceIndex | None = None):
        self.meta = meta.reset_index(drop=True)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.embedder_name = embedder_name
        self.price_index = price_index or PriceIndex.none()
        self.ann = ann if ann is not None else self._build_usearch()
        self._prepare()

    # hot-path arrays
    def _prepare(self) -> None:
        m = self.meta
        self.days = _days(m["sale_date"])
        self.months = np.array([_month(d) for d in m["sale_date"]], dtype=np.int64) if len(m) else \
            np.zeros(0, np.int64)
        self.price = m["hammer_usd"].to_numpy(dtype=float)
        self.refs = m["lot_ref"].astype(str).to_numpy()
        self.segments = m["medium_class"].astype(object).fillna("").to_numpy()
        ids = m["artist_id"].astype(object).fillna("").to_numpy()
        names = _norm_name(m["artist_name"])
        self.artist_ids, self.artist_names = ids, names
        self._text = None
        self._artist_index: dict | None = None

        def by(keys: np.ndarray) -> dict:  # rows per key, in sale-date order (appended rows may be older)
            groups = pd.Series(np.arange(len(m))).groupby(keys).indices if len(m) else {}
            return {k: v[np.argsort(self.days[v], kind="stable")] for k, v in groups.items()}

        self.by_artist_id, self.by_artist_name = by(ids), by(names)

    def _build_usearch(self):  # noqa: ANN202
        from usearch.index import Index

        index = Index(ndim=self.vectors.shape[1], metric="l2sq", dtype="f32", connectivity=16,
                      expansion_add=64, expansion_search=96)
        if len(self.vectors):
            index.add(np.arange(len(self.vectors), dtype=np.uint64), self.vectors, threads=1)  # one thread: same graph
        return index

    def __len__(self) -> int:
        return len(self.meta)

    # ---- build, grow, persist ----------------------------------------------------------------------------
    @classmethod
    def build(cls, lots: pd.DataFrame, embedder, price_index: PriceIndex | None = None,  # noqa: ANN001
              budget_s: float | None = None) -> ComparablesIndex:
        sold = embeddable(_sold(lots), embedder, budget_s)
        texts = lot_texts(sold)
        vec = lot_vectors(sold, embedder)
        ok = np.isfinite(vec).all(axis=1)
        meta = sold.assign(fp=_fingerprint(sold, texts))
        meta = meta[[c for c in META_COLUMNS]][ok].reset_index(drop=True)
        return cls(meta, vec[ok], embedder.name, price_index=price_index)

    def add(self, lots: pd.DataFrame, embedder, budget_s: float | None = None) -> int:  # noqa: ANN001
        """Append newly sold lots (incremental nightly refresh; under ``budget_s`` those whose text could not be
        embedded in time wait for the next refresh); returns how many were added."""
        sold = _sold(lots)
        sold = sold[~sold["lot_ref"].astype(str).isin(set(self.refs))]
        if sold.empty:
            return 0
        sold = embeddable(sold, embedder, budget_s)
        if sold.empty:
            return 0
        vec = lot_vectors(sold, embedder)
        ok = np.isfinite(vec).all(axis=1)
        if not ok.all():
            sold, vec = sold[ok].reset_index(drop=True), vec[ok]
            if sold.empty:
                return 0
        texts = lot_texts(sold)
        keys = np.arange(len(self.meta), len(self.meta) + len(sold), dtype=np.uint64)
        if isinstance(self.ann, PgVectorANN):
            self.ann.add(keys, vec, refs=sold["lot_ref"].astype(str).to_numpy())
        else:
            self.ann.add(keys, vec, threads=1)
        new = sold.assign(fp=_fingerprint(sold, texts))[list(META_COLUMNS)]
        self.meta = pd.concat([self.meta, new], ignore_index=True)
        self.vectors = np.vstack([self.vectors, vec])
        self._prepare()
        return len(sold)

    def save(self, directory: Path) -> None:
        """Write the index folder whole: files in a hidden sibling, fsynced, then renamed into place."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            self.ann.save(str(staging / "index.usearch"))
            np.save(staging / "vectors.npy", self.vectors)
            meta = self.meta.assign(sale_date=self.meta["sale_date"].astype(str))
            meta.to_parquet(staging / "meta.parquet", index=False)
            (staging / "manifest.json").write_text(json.dumps({
                "embedder": self.embedder_name, "rows": len(self.meta), "dim": int(self.vectors.shape[1]),
                "weights": {"medium": W_MEDIUM, "size": W_SIZE, "date": W_DATE}, "text_max_length": TEXT_MAX_LENGTH,
            }, indent=2, sort_keys=True) + "\n")
            from warehouse.feeds import swap_folder

            swap_folder(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: Path, price_index: PriceIndex | None = None) -> ComparablesIndex | None:
        from usearch.index import Index

        directory = Path(directory)
        if not (directory / "manifest.json").exists():
            return None
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("weights") != {"medium": W_MEDIUM, "size": W_SIZE, "date": W_DATE} \
                or manifest.get("text_max_length") != TEXT_MAX_LENGTH:
            return None  # built with other settings: rebuild
        meta = pd.read_parquet(directory / "meta.parquet")
        meta["sale_date"] = pd.to_datetime(meta["sale_date"]).dt.date
        vectors = np.load(directory / "vectors.npy")
        ann = Index.restore(str(directory / "index.usearch"))
        if ann is None or len(ann) != len(meta):
            return None
        ann.expansion_search = 96
        return cls(meta, vectors, manifest["embedder"], ann=ann, price_index=price_index)

    # ---- search ------------------------------------------------------------------------------------------
    def ann_search(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        m = self.ann.search(query, count, threads=1)
        return np.asarray(m.keys, dtype=np.int64), np.asarray(m.distances, dtype=float)

    def artist_rows(self, artist_id: str | None, artist_name: str | None) -> np.ndarray:
        return self._artist(artist_id, artist_name)[1]

    def _artist(self, artist_id: str | None, artist_name: str | None) -> tuple[str | None, np.ndarray]:
        if artist_id:
            rows = self.by_artist_id.get(artist_id)
            if rows is not None:
                return f"id:{artist_id}", rows
        if artist_name:
            key = _norm_name(pd.Series([artist_name]))[0]
            rows = self.by_artist_name.get(key)
            if rows is not None:
                return f"name:{key}", rows
        return None, np.zeros(0, dtype=np.int64)

    def _artist_ann(self, key: str, rows: np.ndarray):  # noqa: ANN202 - a usearch Index over one artist's rows
        from usearch.index import Index

        if self._artist_index is None:
            self._artist_index = {}
        index = self._artist_index.get(key)
        if index is None:
            index = Index(ndim=self.vectors.shape[1], metric="l2sq", dtype="f32", connectivity=16,
                          expansion_add=64, expansion_search=96)
            index.add(rows.astype(np.uint64), self.vectors[rows], threads=1)
            self._artist_index[key] = index
        return index

    def warm(self) -> int:
        """Build the HNSW index of every prolific artist now (else each is built on its first query)."""
        n = 0
        for key, rows in self.by_artist_id.items():
            if len(rows) > ARTIST_EXACT_MAX and key:
                self._artist_ann(f"id:{key}", rows)
                n += 1
        return n

    def same_artist(self, query: np.ndarray, day: int, k: int, artist_id: str | None,
                    artist_name: str | None, exclude: str | None) -> list[tuple[int, bool, float]]:
        """The artist's ``k`` nearest sales before ``day``: exact over up to :data:`ARTIST_EXACT_MAX` of them,
        through the artist's own HNSW index (built on first use) for prolific artists."""
        key, rows = self._artist(artist_id, artist_name)
        if not len(rows):
            return []
        before = rows[:np.searchsorted(self.days[rows], day, side="left")]  # rows are in date order
        if len(before) > ARTIST_EXACT_MAX:
            index = self._artist_ann(key, rows)
            count = min(len(rows), max(8 * k, 64))
            while True:
                m = index.search(query, count, threads=1)
                found = [(int(r), True, float(d)) for r, d in zip(np.asarray(m.keys).tolist(),
                                                                 np.asarray(m.distances).tolist(), strict=True)
                         if self.days[r] < day and self.refs[r] != exclude]
                if len(found) >= k or count >= len(rows):
                    return found[:k]
                if count >= 4096:
                    break  # rare: most of the artist's sales are later; scan the earlier ones exactly
                count = min(len(rows), count * 4)
        if exclude is not None:
            before = before[self.refs[before] != exclude]
        if not len(before):
            return []
        d = ((self.vectors[before] - query) ** 2).sum(axis=1)
        take = np.argsort(d, kind="stable")[:k]
        return [(int(before[j]), True, float(d[j])) for j in take]

    def search_rows(self, query: np.ndarray, day: int, k: int, artist_id: str | None = None,
                    artist_name: str | None = None, exclude: str | None = None) -> list[tuple[int, bool, float]]:
        """(row, same_artist, squared distance) of up to ``k`` sold lots before ``day`` (days since 1970)."""
        query = np.asarray(query, dtype=np.float32)
        chosen = self.same_artist(query, day, k, artist_id, artist_name, exclude)
        taken = {r for r, _, _ in chosen}
        count = min(len(self.meta), max(8 * k, 64))
        while len(chosen) < k and count > 0:
            keys, dist = self.ann_search(query, count)
            extra = []
            for key, dd in zip(keys.tolist(), dist.tolist(), strict=True):
                if key < 0 or key in taken or self.days[key] >= day or self.refs[key] == exclude:
                    continue
                extra.append((key, False, dd))
                if len(chosen) + len(extra) >= k:
                    break
            if len(chosen) + len(extra) >= k or count >= min(len(self.meta), 4096):
                chosen += extra
                break
            count = min(len(self.meta), count * 4)
        return chosen

    def describe(self, found: list[tuple[int, bool, float]], target_date) -> list[Comparable]:  # noqa: ANN001
        if not found:
            return []
        rows = np.array([r for r, _, _ in found])
        ratios = self.price_index.ratios(self.months[rows], _month(target_date), self.segments[rows])
        text = self._text_columns()
        out = []
        for (r, same, d), ratio in zip(found, ratios, strict=True):
            name, title, size, date, house = (c[r] for c in text)
            out.append(Comparable(
                lot_ref=str(self.refs[r]), same_artist=same, distance=round(math.sqrt(max(d, 0.0)), 4),
                artist_name=name, title=title, medium_class=str(self.segments[r] or ""), size=size, sale_date=date,
                house=house, hammer_usd=float(self.price[r]), index_ratio=round(float(ratio), 4),
                adjusted_usd=float(self.price[r] * ratio)))
        return out

    def _text_columns(self) -> tuple[np.ndarray, ...]:
        if getattr(self, "_text", None) is None or len(self._text[0]) != len(self.meta):
            m = self.meta
            h = pd.to_numeric(m["height_cm"], errors="coerce").to_numpy(dtype=float)
            w = pd.to_numeric(m["width_cm"], errors="coerce").to_numpy(dtype=float)
            size = np.array([f"{a:g} x {b:g} cm" if np.isfinite(a) and np.isfinite(b) else ""
                             for a, b in zip(h, w, strict=True)], dtype=object)
            self._text = (m["artist_name"].astype(object).fillna("").astype(str).to_numpy(),
                          m["title"].astype(object).fillna("").astype(str).str.slice(0, 60).to_numpy(),
                          size, m["sale_date"].astype(str).to_numpy(), m["house"].astype(str).to_numpy())
        return self._text

    def query_lots(self, lots: pd.DataFrame, embedder, k: int = DEFAULT_K, as_of=None,  # noqa: ANN001
                   exclude_self: bool = True) -> list[list[Comparable]]:
        """Comparables of each lot (sales before its sale date, or ``as_of``/today without one), adjusted to
        that date."""
        lots = lots.reset_index(drop=True)
        today = pd.Timestamp(as_of or dt.date.today())
        dates = pd.to_datetime(lots.get("sale_date"), errors="coerce").fillna(today)
        vec = lot_vectors(lots, embedder, dates=dates)
        vec = np.where(np.isfinite(vec), vec, 0.0).astype(np.float32)
        days = _days(dates)
        out = []
        for i in range(len(lots)):
            row = lots.iloc[i]
            found = self.search_rows(vec[i], int(days[i]), k, artist_id=_str(row.get("artist_id")),
                                     artist_name=_str(row.get("artist_name")),
                                     exclude=_str(row.get("lot_ref")) if exclude_self else None)
            out.append(self.describe(found, dates.iloc[i]))
        return out


def _str(v) -> str | None:  # noqa: ANN001
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


# ---- pgvector (PostgreSQL) -----------------------------------------------------------------------------------

PG_TABLE = "market_comp_vector"
PG_EF_MAX = 1000  # pgvector's largest hnsw.ef_search


def pgvector_schema(engine, create: bool = False) -> str | None:  # noqa: ANN001
    """Schema of the ``vector`` extension on PostgreSQL (created in ``public`` when ``create`` and it is
    installable); None elsewhere or when the extension is not available."""
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        found = conn.execute(text("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                  "WHERE extname = 'vector'")).scalar()
        available = conn.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")).scalar()
    if found or not available or not create:
        return found
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"))
    except Exception as exc:  # noqa: BLE001 - no privilege: stay on usearch
        log.warning("pgvector: could not create the extension (%s); comparables stay on usearch", exc)
        return None
    return pgvector_schema(engine)


class PgVectorANN:
    """The ANN half of :class:`ComparablesIndex` in PostgreSQL: table ``market_comp_vector`` (key, lot_ref,
    embedding vector(dim)) in the warehouse's schema with an HNSW index (``vector_l2_ops``); ``search`` orders
    by ``<->``. The extension's objects are schema-qualified, so any search_path works."""

    def __init__(self, engine, dim: int = VECTOR_DIM):  # noqa: ANN001
        self.engine, self.dim = engine, dim
        ext = pgvector_schema(engine, create=True)
        if ext is None:
            raise RuntimeError("the pgvector extension is not available on this PostgreSQL server "
                               "(install pgvector for it, e.g. the Debian/PGDG package postgresql-16-pgvector)")
        self.ext = ext
        self.vtype = f"{ext}.vector"
        self.op = f"OPERATOR({ext}.<->)"

    def _lit(self, v: np.ndarray) -> str:
        return "[" + ",".join(f"{x:.9g}" for x in np.asarray(v, dtype=np.float32).tolist()) + "]"

    def sync(self, refs: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the table's rows with these (one transaction)."""
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {PG_TABLE}"))
            conn.execute(text(f"CREATE TABLE {PG_TABLE} (k bigint PRIMARY KEY, lot_ref text NOT NULL, "
                              f"embedding {self.vtype}({self.dim}) NOT NULL)"))
            rows = [{"k": i, "r": str(r), "e": self._lit(v)} for i, (r, v) in enumerate(zip(refs, vectors,
                                                                                          strict=True))]
            for s in range(0, len(rows), 2000):
                conn.execute(text(f"INSERT INTO {PG_TABLE} (k, lot_ref, embedding) VALUES (:k, :r, "
                                  f"CAST(:e AS {self.vtype}))"), rows[s:s + 2000])
            conn.execute(text(f"CREATE INDEX {PG_TABLE}_hnsw ON {PG_TABLE} "
                              f"USING hnsw (embedding {self.ext}.vector_l2_ops)"))

    def add(self, keys: np.ndarray, vectors: np.ndarray, threads: int = 0,  # noqa: ARG002
            refs: np.ndarray | None = None) -> None:
        """Insert (or replace) rows ``keys``; the HNSW index takes them in as they come."""
        from sqlalchemy import text

        refs = np.full(len(keys), "", dtype=object) if refs is None else refs
        rows = [{"k": int(k), "r": str(r), "e": self._lit(v)} for k, r, v in zip(keys, refs, vectors, strict=True)]
        with self.engine.begin() as conn:
            for s in range(0, len(rows), 2000):
                conn.execute(text(f"INSERT INTO {PG_TABLE} (k, lot_ref, embedding) VALUES (:k, :r, "
                                  f"CAST(:e AS {self.vtype})) ON CONFLICT (k) DO UPDATE SET "
                                  f"lot_ref = EXCLUDED.lot_ref, embedding = EXCLUDED.embedding"), rows[s:s + 2000])

    def state(self) -> tuple[int, str | None, int | None]:
        """(rows, md5 of the lot refs in key order, vector dimension) of the table; (0, None, None) without one."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('market_comp_vector')")).scalar() is None:
                return 0, None, None
            n, digest = conn.execute(text("SELECT count(*), md5(string_agg(lot_ref, E'\\n' ORDER BY k)) "
                                          "FROM market_comp_vector")).one()
            dim = conn.execute(text("SELECT atttypmod FROM pg_attribute WHERE attrelid = "
                                    "'market_comp_vector'::regclass AND attname = 'embedding'")).scalar()
        return int(n), digest, (int(dim) if dim is not None else None)

    @staticmethod
    def digest(refs) -> str | None:  # noqa: ANN001
        """What :meth:`state` reports for a table holding ``refs`` as keys 0..n-1."""
        return hashlib.md5("\n".join(map(str, refs)).encode()).hexdigest() if len(refs) else None

    def search(self, query: np.ndarray, count: int, threads: int = 1):  # noqa: ANN201, ARG002
        """The ``count`` nearest rows (squared L2, as usearch's ``l2sq``). Up to :data:`PG_EF_MAX` through the HNSW
        index (``hnsw.ef_search`` = count, at least 40); an HNSW scan returns at most ``ef_search`` rows, so a
        larger ``count`` (a lot whose nearest sales are mostly later ones) is answered exactly by a scan."""
        from sqlalchemy import text

        q = self._lit(query)
        count = int(count)
        with self.engine.begin() as conn:
            if count <= PG_EF_MAX:
                conn.execute(text(f"SET LOCAL hnsw.ef_search = {min(PG_EF_MAX, max(40, count))}"))
            else:
                conn.execute(text("SET LOCAL enable_indexscan = off"))
            res = conn.execute(text(f"SELECT k, embedding {self.op} CAST(:q AS {self.vtype}) AS d FROM {PG_TABLE} "
                                    f"ORDER BY embedding {self.op} CAST(:q AS {self.vtype}) LIMIT :n"),
                               {"q": q, "n": count}).all()
        return _Matches(np.array([r[0] for r in res], dtype=np.int64), np.array([float(r[1]) ** 2 for r in res]))

    def save(self, path: str) -> None:  # noqa: ARG002 - the table is the persisted index
        return None

    def __len__(self) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {PG_TABLE}")).scalar())


@dataclass
class _Matches:
    keys: np.ndarray
    distances: np.ndarray


# ---- refresh from the warehouse ------------------------------------------------------------------------------

def index_dir(settings) -> Path:  # noqa: ANN001
    return settings.home / "market" / "comps"


def embedding_cache_dir(settings) -> Path:  # noqa: ANN001
    return settings.home / "cache" / "embeddings"


@dataclass
class RefreshResult:
    mode: str  # built | incremental | unchanged
    rows: int
    added: int
    seconds: float
    backend: str


def refresh_index(engine, settings, embedder=None, history: pd.DataFrame | None = None,  # noqa: ANN001
                  budget_s=_FROM_ENV) -> tuple[ComparablesIndex, RefreshResult]:  # noqa: ANN001
    """Bring the persisted index up to the warehouse's sold lots: unchanged, grown incrementally (new sales
    only), or rebuilt (a stored sale changed or disappeared, or the embedder changed). ``budget_s``: seconds for
    embedding unseen texts (default :func:`embed_budget_from_env`; ``None`` = no cap; ``0`` = cached texts only);
    sales left out wait for the next refresh."""
    from warehouse.io import read_lots

    if budget_s is _FROM_ENV:
        budget_s = embed_budget_from_env()
    started = time.perf_counter()
    embedder = embedder or make_embedder(cache_dir=embedding_cache_dir(settings))
    history = read_lots(engine) if history is None else history
    sold = _sold(history)
    pindex = PriceIndex.from_warehouse(engine)
    path = index_dir(settings)
    index = ComparablesIndex.load(path, pindex)
    mode, added = "built", 0
    if index is not None and index.embedder_name == embedder.name:
        current = sold.set_index(sold["lot_ref"].astype(str))
        stored = index.meta.set_index("lot_ref")["fp"]
        known = current.loc[current.index.intersection(stored.index)]
        same = len(known) == len(stored) and bool(
            (_fingerprint(known.reset_index(drop=True), lot_texts(known)) == stored.loc[known.index].to_numpy()).all())
        if same:
            added = index.add(sold, embedder, budget_s=budget_s)
            mode = "incremental" if added else "unchanged"
        else:
            index = None
    if index is None:
        index = ComparablesIndex.build(sold, embedder, pindex, budget_s=budget_s)
        added = len(index)
    if mode != "unchanged":
        index.save(path)
    backend = "usearch"
    if pgvector_schema(engine, create=True):
        pg = PgVectorANN(engine, index.vectors.shape[1])
        rows, digest, dim = pg.state()
        if mode == "built" or dim != index.vectors.shape[1] or rows > len(index) \
                or digest != pg.digest(index.refs[:rows]):
            pg.sync(index.refs, index.vectors)  # a rebuilt index, no table, or another index's rows
        elif rows < len(index):  # the table holds the first rows: add the new sales only
            pg.add(np.arange(rows, len(index)), index.vectors[rows:], refs=index.refs[rows:])
        index.ann = pg
        backend = "pgvector"
    res = RefreshResult(mode, len(index), added, time.perf_counter() - started, backend)
    log.info("comparables index: %s, %d sold lots (%d added) in %.1f s, ANN on %s", mode, res.rows, added,
             res.seconds, backend)
    return index, res


def comparables_for_lots(lots: pd.DataFrame, k: int = 5, settings=None, engine=None,  # noqa: ANN001
                         index: ComparablesIndex | None = None, embedder=None) -> list[list[Comparable]]:
    """The hook for valuation explanations: per lot (``LOT_COLUMNS`` or catalogue rows), up to ``k``
    :class:`Comparable` (same artist first, index-adjusted to the lot's sale date)."""
    if index is None or embedder is None:
        from gbv.settings import get_settings
        from warehouse.db import get_engine

        settings = settings or get_settings()
        engine = engine or get_engine(settings)
        embedder = embedder or make_embedder(cache_dir=embedding_cache_dir(settings))
        if index is None:
            index, _ = refresh_index(engine, settings, embedder)
    return index.query_lots(lots, embedder, k=k)


def comps_frame(comps: list[Comparable]) -> pd.DataFrame:
    return pd.DataFrame([c.__dict__ for c in comps])


def format_table(target: dict, comps: list[Comparable], price_source: str) -> str:
    lines = [f"comparables for {target.get('lot_ref')}: {target.get('artist_name')}, "
             f"{str(target.get('title') or '')[:50]} ({target.get('medium_class') or 'medium unknown'}), "
             f"as of {target.get('as_of')}",
             f"prices: USD hammer; adjusted to {target.get('as_of')} by {price_source}"]
    if not comps:
        lines.append("  no earlier sold lots in the index: nothing comparable yet")
        return "\n".join(lines)
    head = f"  {'#':>2} {'lot_ref':34} {'artist':22} {'title':28} {'medium':13} {'size':18} {'sold':10} " \
           f"{'hammer':>12} {'ratio':>6} {'adjusted':>12} {'dist':>6}"
    lines.append(head)
    for i, c in enumerate(comps, 1):
        mark = "*" if c.same_artist else " "
        lines.append(f"  {i:>2}{mark}{c.lot_ref[:34]:34} {c.artist_name[:22]:22} {c.title[:28]:28} "
                     f"{c.medium_class[:13]:13} {c.size[:18]:18} {c.sale_date:10} {c.hammer_usd:>12,.0f} "
                     f"{c.index_ratio:>6.2f} {c.adjusted_usd:>12,.0f} {c.distance:>6.3f}")
    adj = [c.adjusted_usd for c in comps]
    lines.append(f"  * same artist.  median adjusted price {np.median(adj):,.0f} USD over {len(adj)} comparable(s)")
    return "\n".join(lines)


# ---- CLI ---------------------------------------------------------------------------------------------------------

def _catalogue_row(path: Path, row: int) -> pd.DataFrame:
    from gbv.intake import CatalogueError, read_catalogue

    if row < 1:
        raise ComparablesError(f"{path}: --row must be 1 or more (1 = the first data row), got {row}")
    try:
        intake = read_catalogue(path)
    except (CatalogueError, FileNotFoundError) as exc:
        raise ComparablesError(str(exc)) from exc
    if row > intake.n_rows:
        raise ComparablesError(f"{path}: row {row} does not exist (the file has {intake.n_rows} data rows)")
    q = intake.quarantine
    bad = q[q["row_number"] == row] if len(q) else q
    if len(bad):
        reasons = "; ".join(f"field {r.field}: {r.reason}" for r in bad.itertuples())
        raise ComparablesError(f"{path.name} row {row} cannot be used: {reasons}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    ref = str(raw.iloc[row - 1]["lot_ref"]).strip()
    lots = intake.lots[intake.lots["lot_ref"].astype(str) == ref]
    if lots.empty:
        raise ComparablesError(f"{path.name} row {row}: lot_ref {ref!r} was not read from the catalogue")
    return lots.head(1)


def cmd_comps(args: argparse.Namespace) -> int:
    from gbv.settings import get_settings
    from warehouse.db import get_engine
    from warehouse.io import read_lots

    if args.refresh:
        return _cmd_refresh(args)
    if bool(args.lot_ref) == bool(args.catalogue):
        raise ComparablesError("give either --lot-ref REF or --catalogue FILE --row N (or --refresh)")
    if args.k < 1:
        raise ComparablesError(f"--k must be at least 1, got {args.k}")
    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    history = read_lots(engine)
    if args.lot_ref:
        lot = history[history["lot_ref"].astype(str) == args.lot_ref]
        if lot.empty:
            raise ComparablesError(f"lot {args.lot_ref!r} is not in the warehouse "
                                   f"({engine.url.render_as_string(hide_password=True)})")
    else:
        if args.row is None:
            raise ComparablesError("--catalogue needs --row N (1 = the first data row)")
        lot = _catalogue_row(Path(args.catalogue), args.row)
    embedder = make_embedder(cache_dir=embedding_cache_dir(settings))
    index, res = refresh_index(engine, settings, embedder, history=history)
    if len(index) == 0:
        print("the warehouse holds no sold lots yet: no comparables to show")
        return 0
    comps = index.query_lots(lot, embedder, k=args.k)[0]
    rec = lot.iloc[0].to_dict()
    as_of = rec.get("sale_date")
    rec["as_of"] = str(as_of) if pd.notna(pd.to_datetime(as_of, errors="coerce")) else dt.date.today().isoformat()
    print(format_table(rec, comps, index.price_index.source))
    print(f"(index: {res.rows:,} sold lots, {res.mode}, ANN on {res.backend}, text embedder {index.embedder_name})")
    return 0


def _cmd_refresh(args: argparse.Namespace) -> int:
    """``gbv comps --refresh [--budget-s S|none]``: grow the index outside the night (e.g. a one-off backfill of a
    warehouse that arrived with many unseen sales; the nights then only add what is new)."""
    from gbv.settings import get_settings
    from warehouse.db import get_engine

    budget = (embed_budget_from_env() if args.budget_s is None
              else parse_budget(args.budget_s, "--budget-s", ComparablesError))
    settings = get_settings().ensure_dirs()
    engine = get_engine(settings)
    embedder = make_embedder(cache_dir=embedding_cache_dir(settings))
    index, res = refresh_index(engine, settings, embedder, budget_s=budget)
    print(f"comparables index {res.mode}: {res.rows:,} sold lots indexed ({res.added:,} added) in {res.seconds:.1f} s, "
          f"ANN on {res.backend}, text embedder {index.embedder_name}")
    return 0


def register(subparsers) -> None:  # noqa: ANN001 - argparse's _SubParsersAction
    p = subparsers.add_parser("comps", help="the k most similar past sales of a lot (same artist first), "
                                            "prices adjusted to today")
    p.add_argument("--lot-ref", help="a lot in the warehouse")
    p.add_argument("--catalogue", help="a catalogue CSV in the intake format")
    p.add_argument("--row", type=int, help="with --catalogue: the data row (1 = first)")
    p.add_argument("--k", type=int, default=DEFAULT_K)
    p.add_argument("--refresh", action="store_true",
                   help="only bring the index up to the warehouse (a backfill; nights do this themselves)")
    p.add_argument("--budget-s", default=None,
                   help=f"with --refresh: seconds for embedding unseen texts, or 'none' (default {EMBED_BUDGET_ENV} "
                        f"or {DEFAULT_EMBED_BUDGET_S:.0f})")
    p.set_defaults(func=cmd_comps)
