"""The frame embedder: tiny models, fixed-shape batches, specs, and the lazy `vidcls_keras.clip`."""

import keras
import numpy as np
import pytest

from vidcls_keras import clip as clip_package
from vidcls_keras.clip import image
from vidcls_keras.clip.image import FrameEmbedder
from vidcls_keras.clip.specs import EmbedderSpecError
from vidcls_keras.errors import VidclsError


def test_tiny_is_deterministic_and_seeded(real_pixels):
    pixels = real_pixels[:3]
    first = FrameEmbedder.tiny(0)
    assert (first.embed_dim, first.spec, first.image_size) == (16, "tiny:0", 224)
    np.testing.assert_array_equal(first.embed(pixels), FrameEmbedder.tiny(0).embed(pixels))
    assert np.max(np.abs(first.embed(pixels) - FrameEmbedder.tiny(1).embed(pixels))) > 1e-3


def test_embed_batches_pad_and_compile_once(real_pixels):
    embedder = FrameEmbedder.tiny(0)
    embedder.batch_size = 4
    single = np.concatenate([embedder.embed(real_pixels[i : i + 1]) for i in range(10)])
    batched = embedder.embed(real_pixels[:10])  # 4 + 4 + 2 (padded)
    assert batched.shape == (10, 16) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    assert embedder.embed(real_pixels[:0]).shape == (0, 16)
    if keras.backend.backend() == "jax":  # every call above had the shape (4, 224, 224, 3)
        compiled = image._compiled_forward(embedder.image_encoder)
        before = compiled._cache_size()
        embedder.embed(real_pixels[:7])
        assert compiled._cache_size() == before
    with pytest.raises(ValueError, match="preprocess"):
        embedder.embed(np.zeros((1, 224, 224, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        embedder.embed(np.zeros((1, 200, 200, 3), np.float32))


def test_embed_takes_a_batch_size_and_compiles_once_per_size(real_pixels):
    embedder = FrameEmbedder.tiny(0)
    pixels = real_pixels[:7]
    default = embedder.embed(pixels)  # one call of 16 rows
    for batch_size in (3, 5, 3):
        np.testing.assert_allclose(
            embedder.embed(pixels, batch_size=batch_size), default, rtol=1e-5, atol=1e-6
        )
    assert embedder.batch_size == image.DEFAULT_BATCH_SIZE  # the keyword is per call
    if keras.backend.backend() == "jax":
        compiled = image._compiled_forward(embedder.image_encoder)
        before = compiled._cache_size()  # 16, 3 and 5 rows are compiled by now
        embedder.embed(pixels, batch_size=5)
        embedder.embed(pixels, batch_size=3)
        assert compiled._cache_size() == before
        embedder.embed(pixels, batch_size=2)
        assert compiled._cache_size() == before + 1
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="batch_size"):
            embedder.embed(pixels, batch_size=bad)


def test_embed_batch_takes_exactly_batch_size_rows(real_pixels):
    embedder = FrameEmbedder.tiny(0)
    embedder.batch_size = 2
    np.testing.assert_array_equal(
        np.asarray(embedder.embed_batch(real_pixels[:2])), embedder.embed(real_pixels[:2])
    )
    with pytest.raises(ValueError, match="embed_batch takes exactly"):
        embedder.embed_batch(real_pixels[:3])


def test_spec_round_trips(tmp_path, real_pixels):
    pixels = real_pixels[:2]
    for embedder in [
        FrameEmbedder.tiny(3),
        FrameEmbedder.from_preset(FrameEmbedder.tiny(4).save_preset(tmp_path / "preset")),
    ]:
        again = FrameEmbedder.from_spec(embedder.spec)
        assert again.spec == embedder.spec
        np.testing.assert_array_equal(again.embed(pixels), embedder.embed(pixels))
    for bad in ["tiny", "tiny:x", "onnx:/model", ""]:
        with pytest.raises(EmbedderSpecError, match="spec"):
            FrameEmbedder.from_spec(bad)


def test_in_memory_embedder_has_no_spec_until_saved(tmp_path):
    embedder = FrameEmbedder(image.TINY_CONFIG.build())
    with pytest.raises(ValueError, match="no spec"):
        _ = embedder.spec
    directory = embedder.save_preset(tmp_path / "saved")
    assert embedder.spec == f"preset:{directory}"


def test_errors_are_vidcls_errors():
    assert issubclass(image.CheckpointError, VidclsError)
    assert issubclass(clip_package.TextEmbedderError, VidclsError)


def test_clip_package_exposes_the_public_names_lazily():
    assert clip_package.FrameEmbedder is FrameEmbedder
    assert clip_package.preprocess is clip_package.preprocessing.preprocess
    assert clip_package.TextEmbedder is clip_package.text.TextEmbedder
    assert clip_package.parse_embedder_spec("tiny:2").seed == 2
    assert clip_package.DEFAULT_PRESET == "clip-vit-base-patch32"
    assert clip_package.EncoderConfig is image.EncoderConfig
    assert set(clip_package.__all__) <= set(dir(clip_package))
    for name in clip_package.__all__:
        assert getattr(clip_package, name) is not None, name
    with pytest.raises(AttributeError, match="no_such_name"):
        clip_package.no_such_name  # noqa: B018


def test_a_frozen_encoder_does_not_break_the_shared_compiled_forward(real_pixels):
    """The frame model freezes the encoder it is given; other encoders of the same size must
    still embed (the compiled forward is shared per trainable/non-trainable split)."""
    frozen = FrameEmbedder.tiny(0)
    frozen.image_encoder.trainable = False
    pixels = real_pixels[:4]
    first = frozen.embed(pixels, batch_size=4)
    second = FrameEmbedder.tiny(0).embed(pixels, batch_size=4)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(frozen.embed(pixels, batch_size=4), first)
