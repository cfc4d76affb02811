"""The embedding cache and the weight fingerprints that keep embedders from mixing."""

import dataclasses
import pathlib

import numpy as np
import pytest

from vidcls_keras.clip.image import FrameEmbedder
from vidcls_keras.embedding import cache, embedders

EMBEDDER = "tiny:0"


def test_fingerprint_ignores_the_layer_names_keras_made_unique():
    """A second tiny:0 in one process gets names like residual_attention_2; same fingerprint."""
    first = FrameEmbedder.tiny(0).image_encoder
    second = FrameEmbedder.tiny(0).image_encoder
    assert [w.path for w in first.weights] != [w.path for w in second.weights]
    assert cache.weights_fingerprint(first) == cache.weights_fingerprint(second)
    other_seed = FrameEmbedder.tiny(1).image_encoder
    assert cache.weights_fingerprint(other_seed) != cache.weights_fingerprint(first)


def test_cache_made_by_other_weights_is_refused(tmp_path):
    embed_dim = embedders.load_embedder(EMBEDDER).embed_dim
    fingerprint = embedders.embedder_fingerprint(EMBEDDER)
    cache.EmbeddingCache(str(tmp_path), EMBEDDER, fingerprint, embed_dim).check()
    other = cache.EmbeddingCache(str(tmp_path), EMBEDDER, "0" * 64, embed_dim)
    with pytest.raises(cache.EmbedderMismatchError, match="weights behind 'tiny:0' changed"):
        other.check()


def _entry(tmp_path):
    """A cache with one stored entry: `(cache, content sha256, path of the entry)`."""
    embed_dim = embedders.load_embedder(EMBEDDER).embed_dim
    store = cache.EmbeddingCache(
        str(tmp_path), EMBEDDER, embedders.embedder_fingerprint(EMBEDDER), embed_dim
    )
    store.check()
    sha = "ab" + "0" * 62
    embeddings = np.arange(3 * embed_dim, dtype=np.float32).reshape(3, embed_dim)
    store.save(sha, 16, embeddings, np.zeros((224, 224, 3), np.uint8), 1)
    return store, sha, store.entry_path(sha, 16)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_payload_byte(path):
    """Flips one byte inside the stored `embeddings.npy` (past its header): only its CRC-32 says."""
    data = bytearray(path.read_bytes())
    start = data.index(b"embeddings.npy") + 200
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, why",
    [(_truncate, "File is not a zip file"), (_flip_payload_byte, "Bad CRC-32")],
)
def test_an_unreadable_entry_is_moved_aside_and_named(damage, why, tmp_path, caplog):
    store, sha, path = _entry(tmp_path)
    damaged = damage(path) or path.read_bytes()
    with pytest.raises(cache.CorruptCacheEntryError, match=why) as raised:
        store.load(sha, 16)
    moved = raised.value.moved_to
    assert raised.value.path == str(path)
    assert moved and pathlib.Path(moved).parent == path.parent
    assert pathlib.Path(moved).name.startswith(f"{path.name}.corrupt-")
    assert pathlib.Path(moved).read_bytes() == damaged  # kept for a look, not deleted
    assert not path.exists()
    assert f"moved to {moved}" in str(raised.value)
    assert [r.levelname for r in caplog.records] == ["WARNING"] and moved in caplog.text
    assert store.load(sha, 16) is None  # a miss now: the caller embeds the video again


def test_an_entry_of_the_wrong_width_is_moved_aside(tmp_path):
    store, sha, path = _entry(tmp_path)
    store.save(sha, 16, np.zeros((3, 5), np.float32), np.zeros((224, 224, 3), np.uint8), 1)
    with pytest.raises(cache.CorruptCacheEntryError, match=r"embeddings of shape \(3, 5\)"):
        store.load(sha, 16)
    assert not path.exists()


def test_an_entry_of_another_embedder_is_still_refused_not_moved(tmp_path):
    store, sha, path = _entry(tmp_path)
    other = dataclasses.replace(store, fingerprint="0" * 64)
    with pytest.raises(cache.EmbedderMismatchError, match="was written by embedder"):
        other.load(sha, 16)
    assert path.is_file() and list(path.parent.iterdir()) == [path]


def test_keyframe_embeddings_are_keyed_apart_from_exact_ones(tmp_path):
    """Exact and approximate (keyframe) embeddings of one file never share an entry."""
    store, sha, exact_path = _entry(tmp_path)
    assert exact_path.parent.parent.name == "frames16"  # exact entries keep their old place
    keyframes_path = store.entry_path(sha, 16, "keyframes")
    assert keyframes_path.parent.parent.name == "frames16-keyframes"
    assert store.load(sha, 16, "keyframes") is None  # the exact entry is not served
    embeddings = np.ones((2, store.embed_dim), np.float32)
    store.save(sha, 16, embeddings, np.zeros((224, 224, 3), np.uint8), 0, "keyframes")
    np.testing.assert_array_equal(store.load(sha, 16, "keyframes")["embeddings"], embeddings)
    assert store.load(sha, 16)["embeddings"].shape == (3, store.embed_dim)  # exact, untouched
