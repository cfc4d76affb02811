"""The frame model trained on encoded frames (the default) equals it trained on pixels.

`TrainConfig.feature_cache`: a frozen encoder's output for a video's fixed frame is the same every
epoch, so the trainer encodes each split once and fits the head on those outputs.
Same seed, same dataset: the same metrics within float rounding, and the same saved pixel model.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from tiny_videos import TINY_DATASET, build_tiny_dataset, tiny_config  # noqa: E402

from vidcls_keras import data  # noqa: E402
from vidcls_keras.training import evaluate, trainer  # noqa: E402


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    return build_tiny_dataset(tmp_path_factory.mktemp("tfds"))


def flat_numbers(value, prefix=""):
    if isinstance(value, dict):
        return {
            k: v for key in value for k, v in flat_numbers(value[key], f"{prefix}/{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v
            for i, item in enumerate(value)
            for k, v in flat_numbers(item, f"{prefix}/{i}").items()
        }
    return {prefix: value} if isinstance(value, (int, float)) else {}


def test_cached_encoder_outputs_give_the_metrics_of_pixel_training(tiny_data_dir, tmp_path, capsys):
    settings = dict(model="frame", epochs=2, seed=2, learning_rate=0.01, verbose=1)
    cached = trainer.train(tiny_config(tiny_data_dir, tmp_path / "cached", **settings))
    assert "encoded every split's frames once" in capsys.readouterr().out
    pixels = trainer.train(
        tiny_config(tiny_data_dir, tmp_path / "pixels", **settings, feature_cache=False)
    )
    assert "encoded every split's frames once" not in capsys.readouterr().out

    assert cached["selection"] == pixels["selection"]
    expected = flat_numbers(pixels)
    assert flat_numbers(cached) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "cached" / "history.csv").to_numpy(),
        pd.read_csv(tmp_path / "pixels" / "history.csv").to_numpy(),
        rtol=1e-4,
        atol=1e-6,
    )
    config = json.loads((tmp_path / "cached" / "config.json").read_text())
    assert config["inputs"] == "pixels" and config["feature_cache"] is True

    # The saved file is the whole pixel model, whose head holds the trained weights.
    model = keras.saving.load_model(tmp_path / "cached" / "model.keras", safe_mode=True)
    assert set(model.input) == {"pixels"}
    examples, _ = data.load_split(TINY_DATASET, "test", str(tiny_data_dir))
    batches = data.make_batches(
        examples, num_classes=3, batch_size=4, training=False, inputs="pixels"
    )
    logits, labels = evaluate.predict_logits(model, batches, batch_size=4)
    report = evaluate.classification_report(logits, labels, ["food", "art_music", "travel"])
    assert report["loss"] == pytest.approx(cached["test"]["loss"], rel=1e-5)
    assert report["f1_micro"] == cached["test"]["f1_micro"]


def test_mixup_mixes_encoded_frames_and_no_feature_cache_mixes_pixels(
    tiny_data_dir, tmp_path, capsys
):
    """With the cache, mixup mixes the encoder's outputs (no encoder pass per batch); without
    it, pixels (the original's mixup); sequence models have no encoder to split."""
    settings = dict(model="frame", mixup=True, epochs=2, seed=1, verbose=1)
    config = tiny_config(tiny_data_dir, tmp_path / "features", **settings)
    run = trainer._read_data(config, None)
    model = trainer.build_model("frame", **run.model_arguments)
    assert trainer._feature_cache_split(config, run, model) is not None
    result = trainer.train(config)
    assert "encoded every split's frames once" in capsys.readouterr().out
    assert 0.0 <= result["test"]["f1_micro"] <= 1.0
    reloaded = keras.saving.load_model(tmp_path / "features" / "model.keras", safe_mode=True)
    assert set(reloaded.input) == {"pixels"}

    pixels_config = tiny_config(tiny_data_dir, tmp_path / "pixels", **settings, feature_cache=False)
    assert trainer._feature_cache_split(pixels_config, run, model) is None
    trainer.train(pixels_config)
    assert "encoded every split's frames once" not in capsys.readouterr().out

    mean_config = tiny_config(tiny_data_dir, tmp_path, model="mean")
    mean_run = trainer._read_data(mean_config, None)
    mean_model = trainer.build_model("mean", **mean_run.model_arguments)
    assert trainer._feature_cache_split(mean_config, mean_run, mean_model) is None
