"""The transformer's text-embedding cache on disk (:class:`model.transformer.TextEmbeddingCache`), without a model:
hits and misses, damaged and vanished shards, its bounds, and processes reading and writing it at once."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp

import numpy as np
import pytest

from model.transformer import (
    EMBEDDING_CACHE_SHARDS,
    EMBEDDING_CACHE_VERSIONS,
    TextEmbeddingCache,
    text_keys,
)

DIM = 8


def _vec(keys: np.ndarray) -> np.ndarray:
    """A vector that is a pure function of its key, as the pooled text is of its text."""
    rows = [np.frombuffer(hashlib.sha256(k).digest()[:DIM], dtype=np.uint8) / np.float32(7.0) for k in keys]
    return np.stack(rows) if rows else np.zeros((0, DIM), np.float32)


def _keys(*texts: str) -> np.ndarray:
    return text_keys(list(texts))


def test_text_keys_are_sha1_of_the_utf8_text():
    k = text_keys(["Tête de femme", "Tête de femme", "x"])
    assert k.dtype == np.dtype("S20") and k[0] == k[1] != k[2]
    assert bytes(k[0]).ljust(20, b"\0") == hashlib.sha1("Tête de femme".encode()).digest()


def test_hits_and_misses(tmp_path):
    cache = TextEmbeddingCache(tmp_path, "ns", DIM)
    found, vecs = cache.lookup(_keys("a", "b"))
    assert not found.any() and (vecs == 0).all()
    stored = _keys("a", "b", "c")
    cache.add(stored, _vec(stored))
    query = _keys("c", "x", "a", "a")
    found, vecs = cache.lookup(query)
    assert found.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(vecs[found], _vec(query[found]))
    assert (cache.hits, cache.misses) == (3, 3)
    assert len(cache.shards()) == 1 and (tmp_path / "ns" / "namespace.json").is_file()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_dim", "nan", "empty"])
def test_a_corrupt_shard_is_a_warned_miss_removed_and_rebuilt(tmp_path, caplog, damage):
    cache = TextEmbeddingCache(tmp_path, "ns", DIM)
    keys = _keys("a", "b", "c")
    cache.add(keys, _vec(keys))
    shard = cache.shards()[0]
    if damage == "garbage":
        shard.write_bytes(b"not a zip file at all" * 10)
    elif damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:-100])
    elif damage == "empty":
        shard.write_bytes(b"")
    else:
        with open(shard, "wb") as fh:
            vecs = np.zeros((3, DIM + 1), np.float32) if damage == "wrong_dim" else np.full((3, DIM), np.nan, np.float32)
            np.savez(fh, keys=np.sort(keys), vecs=vecs)
    with caplog.at_level(logging.WARNING, logger="model.transformer"):
        found, _ = cache.lookup(keys)
    assert not found.any()
    assert "corrupt" in caplog.text and shard.name in caplog.text
    assert not shard.exists()
    cache.add(keys, _vec(keys))  # the texts encoded again are stored again
    found, vecs = cache.lookup(keys)
    assert found.all()
    np.testing.assert_array_equal(vecs, _vec(keys))


def test_a_shard_that_vanished_since_listing_is_a_quiet_miss(tmp_path, caplog, monkeypatch):
    cache = TextEmbeddingCache(tmp_path, "ns", DIM)
    keys = _keys("a")
    cache.add(keys, _vec(keys))
    listed = cache.shards()
    listed[0].unlink()  # merged away by another process after this one listed it
    monkeypatch.setattr(cache, "shards", lambda: listed)
    with caplog.at_level(logging.WARNING):
        found, _ = cache.lookup(keys)
    assert not found.any() and "corrupt" not in caplog.text


def test_shards_are_merged_and_the_cache_stays_bounded_keeping_tonights_texts(tmp_path):
    cache = TextEmbeddingCache(tmp_path, "ns", DIM, max_lots=30)
    old = text_keys([f"old {i}" for i in range(EMBEDDING_CACHE_SHARDS * 3)])
    for i in range(0, len(old), 3):  # one small shard per night: merged once there are too many
        cache.add(old[i:i + 3], _vec(old[i:i + 3]))
    assert len(cache.shards()) <= EMBEDDING_CACHE_SHARDS
    found, vecs = cache.lookup(old)
    assert found.all()
    np.testing.assert_array_equal(vecs, _vec(old))
    tonight = text_keys([f"new {i}" for i in range(20)])
    seen = old[:5]
    cache.add(tonight, _vec(tonight), recent=np.concatenate([tonight, seen]))  # 20 new + 5 seen tonight
    shards = cache.shards()
    assert len(shards) == 1 and sum(int(s.name.split("-")[1]) for s in shards) == 30
    assert cache.lookup(tonight)[0].all() and cache.lookup(seen)[0].all()  # tonight's texts are kept first
    assert cache.lookup(old)[0].sum() == 5 + 5  # then the newest of the rest, up to max_lots
    assert not list((tmp_path / "ns").glob(".tmp-*"))


def test_only_the_model_versions_used_last_are_kept(tmp_path):
    import os
    import time

    keys = _keys("a")
    now = time.time()
    for i in range(EMBEDDING_CACHE_VERSIONS):  # v0 the oldest
        TextEmbeddingCache(tmp_path, f"v{i}", DIM).add(keys, _vec(keys))
        for p in (tmp_path / f"v{i}" / "last_used", tmp_path / f"v{i}"):
            os.utime(p, (now - 1000 + i, now - 1000 + i))
    assert len(list(tmp_path.iterdir())) == EMBEDDING_CACHE_VERSIONS
    assert TextEmbeddingCache(tmp_path, "v0", DIM).lookup(keys)[0].all()  # v0 used again tonight
    TextEmbeddingCache(tmp_path, "new", DIM).add(keys, _vec(keys))  # one version too many: v1 goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "v0", *(f"v{i}" for i in
                                                                        range(2, EMBEDDING_CACHE_VERSIONS))]


def _night(root: str, worker: int, rounds: int, queue) -> None:  # noqa: ANN001 - run in a child process
    try:
        cache = TextEmbeddingCache(root, "shared", DIM, max_lots=40)
        wrong = 0
        for r in range(rounds):
            keys = text_keys([f"lot {(worker * 7 + r * 5 + i) % 60}" for i in range(12)])
            found, vecs = cache.lookup(keys)
            wrong += int((vecs[found] != _vec(keys[found])).any())
            cache.add(keys[~found], _vec(keys[~found]), recent=keys)
        queue.put(("ok", wrong))
    except BaseException as exc:  # noqa: BLE001 - report to the parent
        queue.put(("error", repr(exc)))


def test_processes_reading_writing_and_merging_at_once_never_see_a_wrong_vector(tmp_path):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_night, args=(str(tmp_path), w, 25, queue)) for w in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [("ok", 0)] * 3
    cache = TextEmbeddingCache(tmp_path, "shared", DIM, max_lots=40)
    keys = text_keys([f"lot {i}" for i in range(60)])
    found, vecs = cache.lookup(keys)
    np.testing.assert_array_equal(vecs[found], _vec(keys[found]))
    assert 0 < found.sum() and len(cache.shards()) <= EMBEDDING_CACHE_SHARDS + 3
