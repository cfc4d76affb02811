"""Multi-label training (issue 11) on a tiny YouTube-8M-shaped TFDS dataset (tiny_youtube8m.py):
every head trains on it, metrics.json holds the official metrics, the run predicts sigmoids."""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from tiny_youtube8m import (  # noqa: E402
    AUDIO_SIZE,
    LABEL_NAMES,
    RGB_SIZE,
    VIDEOS,
    build_tiny_youtube8m,
    tiny_yt8m_config,
)

from vidcls_keras.inference.classifier import VideoClassifier  # noqa: E402
from vidcls_keras.training import trainer  # noqa: E402
from vidcls_keras.training.config import TrainError  # noqa: E402
from vidcls_keras.training.evaluate import MULTILABEL_METRICS  # noqa: E402

TINY_DBOF = dict(dbof_cluster_size=16, dbof_hidden_size=8, dbof_iterations=4)
# (model, level, settings): the video-level heads on video level, the others on frame level.
RUNS = {
    "logistic": ("video", {}),
    "moe": ("video", dict(mixup=True)),
    "dbof": ("frame", dict(TINY_DBOF, max_frames=8)),
    "lstm": ("frame", dict(max_frames=8)),
    "mean": ("frame", {}),  # the default: the starter's 300 seconds
    "transformer": ("frame", dict(max_frames=8)),
}


@pytest.fixture(scope="session")
def yt8m_dirs(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    root = tmp_path_factory.mktemp("yt8m")
    return build_tiny_youtube8m(root / "tfds", root / "manual"), root / "manual"


def assert_multilabel_run(output_dir: pathlib.Path, metrics: dict) -> None:
    written = json.loads((output_dir / "metrics.json").read_text())
    assert written == metrics
    for split in ("validation", "test"):
        report = metrics[split]
        for name in (*MULTILABEL_METRICS, "loss"):
            assert np.isfinite(report[name]), (split, name)
        for name in MULTILABEL_METRICS:
            assert 0.0 <= report[name] <= 1.0
        assert "confusion_matrix" not in report
    assert metrics["test"]["num_examples"] == VIDEOS["test"]
    assert (output_dir / "training_curves.png").is_file()
    assert not (output_dir / "confusion_matrix.png").exists()
    history = pd.read_csv(output_dir / "history.csv")
    assert {"loss", "val_loss", *(f"val_{name}" for name in MULTILABEL_METRICS)} <= set(history)
    record = json.loads((output_dir / "config.json").read_text())
    assert record["multilabel"] is True and record["label_names"] == list(LABEL_NAMES)
    assert record["embed_dim"] == RGB_SIZE + AUDIO_SIZE


@pytest.mark.parametrize("model", sorted(RUNS))
def test_every_head_trains_on_multi_label_data_and_writes_the_official_metrics(
    model, yt8m_dirs, tmp_path
):
    level, settings = RUNS[model]
    config = tiny_yt8m_config(yt8m_dirs[0], tmp_path, level, model=model, epochs=1, **settings)
    metrics = trainer.train(config)
    assert_multilabel_run(tmp_path, metrics)
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["max_frames"] == settings.get("max_frames", 1 if level == "video" else 300)
    if model == "dbof":  # the flags reached the builder
        assert {key: record["model_arguments"][key] for key in TINY_DBOF} == TINY_DBOF


def test_multi_label_run_reloads_and_predicts_sigmoid_probabilities(yt8m_dirs, tmp_path):
    config = tiny_yt8m_config(yt8m_dirs[0], tmp_path, "frame", model="mean", max_frames=4)
    trainer.train(config)
    classifier = VideoClassifier.load(tmp_path)
    features = np.random.default_rng(0).normal(size=(6, RGB_SIZE + AUDIO_SIZE)).astype("float32")
    probabilities = classifier.predict_proba(features)
    head = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    # The first max_frames = 4 seconds, as in training.
    logits = head.predict_on_batch(
        {"frames": features[None, :4], "padding_mask": np.ones((1, 4), bool)}
    )
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits[0])), rtol=1e-5, atol=1e-6)
    assert probabilities.shape == (len(LABEL_NAMES),)
    top = classifier.predict(features, top_k=2)
    assert [entry["label"] for entry in top] == [
        LABEL_NAMES[index] for index in np.argsort(-probabilities)[:2]
    ]
    with pytest.raises(ValueError, match="precomputed features"):
        classifier.predict_proba(features[:, :3])


def test_streamed_shards_train_as_the_built_dataset(yt8m_dirs, tmp_path):
    shards = yt8m_dirs[1] / "video"
    config = tiny_yt8m_config(
        yt8m_dirs[0],
        tmp_path,
        "video",
        model="logistic",
        epochs=1,
        dataset="unused",
        yt8m_files=str(shards / "train*.tfrecord"),
    )
    metrics = trainer.train(config)
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["num_examples"] == {"train": 16, "validation": 8, "test": 8}
    assert metrics["test"]["num_examples"] == VIDEOS["test"]
    assert set(MULTILABEL_METRICS) <= set(metrics["validation"])
    # No vocabulary.csv beside the shards: the real vocabulary's indices, named by number.
    assert record["label_names"][:2] == ["class 0", "class 1"]


def test_stream_flags_without_files_or_matches_are_refused(yt8m_dirs, tmp_path):
    config = tiny_yt8m_config(yt8m_dirs[0], tmp_path, "video", yt8m_test_files="x*.tfrecord")
    with pytest.raises(TrainError, match="--yt8m-files"):
        trainer.train(config)
    config = tiny_yt8m_config(
        yt8m_dirs[0], tmp_path, "video", yt8m_files=str(tmp_path / "nothing*.tfrecord")
    )
    with pytest.raises(TrainError, match="no shard"):
        trainer.train(config)


def test_experiments_on_multi_label_data_tabulate_the_official_metrics(yt8m_dirs, tmp_path):
    from vidcls_keras.training import experiments

    base = tiny_yt8m_config(yt8m_dirs[0], tmp_path / "unused", "video", epochs=1)
    results = experiments.run_experiments(base, [0], tmp_path, only=["logistic"])
    assert [result.experiment for result in results] == ["logistic"]
    assert 0.0 <= results[0].test_gap <= 1.0
    table = (tmp_path / "results.md").read_text()
    assert "| configuration | seeds | GAP@20 | hit@1 | PERR | mAP |" in table
    assert "| logistic (starter) | 1 |" in table and "f1-micro" not in table
    assert (tmp_path / "results.png").is_file()
