"""KerasCV CLIP presets: local preset directories of both kinds, names offline, refusals."""

import json
import os

import keras
import numpy as np
import pytest

from vidcls_keras.clip import tokenizer
from vidcls_keras.clip.errors import CheckpointError, TextEmbedderError
from vidcls_keras.clip.image import FrameEmbedder
from vidcls_keras.clip.text import TextEmbedder

PROMPTS = ["a video about food", "A Photo of ART and music.", "street food in Bangkok!"]


def test_save_preset_round_trips_and_keras_file(tmp_path, real_pixels):
    embedder = FrameEmbedder.tiny(5)
    directory = embedder.save_preset(tmp_path / "tiny_preset")
    assert sorted(os.listdir(directory)) == ["config.json", "metadata.json", "model.weights.h5"]
    assert json.loads((directory / "metadata.json").read_text())["source_spec"] == "tiny:5"
    loaded = FrameEmbedder.from_preset(directory)
    assert loaded.spec == f"preset:{directory}" and loaded.embed_dim == 16
    np.testing.assert_array_equal(loaded.embed(real_pixels[:3]), embedder.embed(real_pixels[:3]))
    # The encoder inside a functional model survives a .keras round trip.
    inputs = keras.Input((224, 224, 3))
    model = keras.Model(inputs, loaded.image_encoder(inputs))
    model.save(tmp_path / "encoder.keras")
    reloaded = keras.saving.load_model(tmp_path / "encoder.keras")
    np.testing.assert_allclose(
        np.asarray(reloaded(real_pixels[:2])), embedder.embed(real_pixels[:2]), atol=1e-5
    )


def test_from_preset_reads_a_keras_cv_clip_preset_directory(tmp_path, real_pixels):
    """The layout of KerasCV's Kaggle presets (a whole CLIP), written by KerasCV's own saver."""
    import keras_cv
    from keras_cv.src.utils.preset_utils import save_to_preset

    keras.utils.set_random_seed(0)
    clip_model = keras_cv.models.CLIP(  # the image tower has TINY_CONFIG's sizes
        embed_dim=16,
        vision_layers=2,
        vision_width=128,
        vocab_size=64,
        transformer_width=32,
        transformer_heads=2,
        transformer_layers=1,
    )
    save_to_preset(clip_model, tmp_path / "kerascv_clip")
    config = json.loads((tmp_path / "kerascv_clip" / "config.json").read_text())
    assert config["registered_name"] == "keras_cv>CLIP"
    embedder = FrameEmbedder.from_preset(tmp_path / "kerascv_clip")
    assert embedder.spec == f"preset:{(tmp_path / 'kerascv_clip').resolve()}"
    for loaded, saved in zip(
        embedder.image_encoder.weights, clip_model.image_encoder.weights, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(loaded), np.asarray(saved))
    expected = FrameEmbedder(clip_model.image_encoder).embed(real_pixels[:2])
    np.testing.assert_array_equal(embedder.embed(real_pixels[:2]), expected)


def test_from_preset_offline_names_the_alternatives(monkeypatch):
    import keras_cv
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_cv.models.CLIP, "from_preset", offline)
    with pytest.raises(CheckpointError, match="could not download") as error:
        FrameEmbedder.from_preset("clip-vit-base-patch32")
    assert "--preset DIR" in str(error.value) and "--hf DIR" in str(error.value)
    with pytest.raises(CheckpointError, match="clip-vit-base-patch16"):
        FrameEmbedder.from_preset("no-such-preset")
    with pytest.raises(TextEmbedderError, match="could not download.*hf:"):
        TextEmbedder.from_preset("clip-vit-base-patch32")


def test_from_preset_refuses_other_directories(tmp_path):
    with pytest.raises(CheckpointError, match="not a preset directory"):
        FrameEmbedder.from_preset(tmp_path)
    with pytest.raises(TextEmbedderError, match="not a preset directory"):
        TextEmbedder.from_preset(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "keras>Dense"}))
    with pytest.raises(CheckpointError, match="not a KerasCV CLIP"):
        FrameEmbedder.from_preset(tmp_path)


@pytest.mark.slow
def test_text_from_preset_reads_a_local_keras_cv_preset(tmp_path):
    """A KerasCV preset folder (config.json + model.weights.h5) with the BPE files beside it."""
    import keras_cv
    from keras_cv.src.utils.preset_utils import save_to_preset

    tiny = TextEmbedder.tiny(0)
    vocabulary, merges = tokenizer.tiny_vocabulary()
    model = keras_cv.models.CLIP(
        embed_dim=16,
        image_resolution=32,
        vision_layers=1,
        vision_width=64,
        vision_patch_size=16,
        context_length=16,
        vocab_size=len(vocabulary),
        transformer_width=32,
        transformer_heads=2,
        transformer_layers=2,
    )
    model.text_encoder.set_weights(tiny.text_encoder.get_weights())
    save_to_preset(model, tmp_path / "preset")
    tokenizer.write_vocabulary(tmp_path / "preset", vocabulary, merges)
    embedder = TextEmbedder.from_preset(str(tmp_path / "preset"))
    assert embedder.spec == f"preset:{(tmp_path / 'preset').resolve()}"
    np.testing.assert_allclose(embedder.embed(PROMPTS), tiny.embed(PROMPTS), atol=1e-6)


def test_text_from_preset_refuses_an_image_only_preset(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "vidcls_keras>X"}))
    with pytest.raises(TextEmbedderError, match="no text tower"):
        TextEmbedder.from_preset(tmp_path)
