"""The embedding cache and the weight fingerprints that keep embedders from mixing."""

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
