"""Tests for vidcls_keras.training.open_set: label texts for aligned heads, the open-set row."""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# The tiny on-disk TFDS dataset (pytest puts this folder on sys.path).
from tiny_videos import TINY_DATASET, TINY_LABELS, TINY_SPLITS, build_tiny_dataset  # noqa: E402

from vidcls_keras.clip.text import TextEmbedder  # noqa: E402
from vidcls_keras.experiments import main as experiments_main  # noqa: E402
from vidcls_keras.retrieval import zeroshot  # noqa: E402
from vidcls_keras.training import open_set  # noqa: E402
from vidcls_keras.training.config import TrainConfig, TrainError  # noqa: E402


def test_prompt_templates():
    assert open_set.prompt_templates("ensemble") == zeroshot.DEFAULT_TEMPLATES
    assert open_set.prompt_templates("{label}") == ("{label}",)
    with pytest.raises(open_set.OpenSetError, match="placeholder"):
        open_set.prompt_templates("a video about food")
    with pytest.raises(TrainError, match="--prompt-template"):
        TrainConfig(prompt_template="no placeholder").validate()


def test_label_text_embeddings_are_zero_shots_class_embeddings():
    embedder = TextEmbedder.tiny(0)
    labels = ["street food", "museum tour"]
    embeddings = open_set.label_text_embeddings(embedder, labels, "{label}")
    assert embeddings.shape == (2, embedder.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        embeddings, zeroshot.class_text_embeddings(embedder, labels, ("{label}",)), atol=1e-6
    )
    np.testing.assert_allclose(  # a spec gives the same tower
        open_set.label_text_embeddings("tiny:0", labels),
        zeroshot.class_text_embeddings(embedder, labels),
        atol=1e-6,
    )
    with pytest.raises(open_set.OpenSetError, match="16-d embeddings but the frame"):
        open_set.label_text_embeddings(embedder, labels, embed_dim=512)
    with pytest.raises(open_set.OpenSetError, match="empty"):
        open_set.label_text_embeddings(embedder, ["food", ""])
    with pytest.raises(open_set.OpenSetError, match="no label"):
        open_set.label_text_embeddings(embedder, [])


def test_the_open_set_row_appears_in_the_experiments_output(tmp_path):
    data_dir = build_tiny_dataset(tmp_path / "tfds")
    output_dir = tmp_path / "sweep"
    status = experiments_main(
        ["--dataset", TINY_DATASET, "--data-dir", str(data_dir), "--output-dir", str(output_dir)]
        + ["--seeds", "0", "--epochs", "1", "--batch-size", "4", "--verbose", "0"]
        + ["--only", "open_set", "zero_shot"]
    )
    assert status == 0
    results = pd.read_csv(output_dir / "results.csv").set_index("experiment")
    assert list(results.index) == ["open_set", "zero_shot"]  # --only order
    assert "class unseen" in (output_dir / "results.md").read_text(encoding="utf-8")

    run_dir = output_dir / "open_set" / "seed_0"
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    num_test = TINY_SPLITS["test"]
    # Every test video once, scored by the fold that never saw its class, among all C names.
    assert metrics["test"]["num_examples"] == num_test
    assert metrics["clip_zero_shot"]["num_examples"] == num_test
    folds = metrics["held_out"]
    assert [fold["label"] for fold in folds] == list(TINY_LABELS)
    assert sum(fold["num_videos"] for fold in folds) == num_test
    for fold in folds:
        assert 0.0 <= fold["aligned_accuracy"] <= 1.0
        assert 0.0 <= fold["clip_zero_shot_accuracy"] <= 1.0
        assert (run_dir / f"held_out_{fold['label']}" / "model.keras").is_file()
    # The row's accuracy is the held-out classes' accuracies, weighted by their videos.
    pooled = sum(fold["aligned_accuracy"] * fold["num_videos"] for fold in folds) / num_test
    assert metrics["test"]["accuracy"] == pytest.approx(pooled)
    assert results.loc["open_set", "accuracy_mean"] == pytest.approx(pooled)
    # Plain CLIP zero-shot on the same videos is the zero_shot row (same default prompts).
    clip_pooled = sum(f["clip_zero_shot_accuracy"] * f["num_videos"] for f in folds) / num_test
    assert results.loc["zero_shot", "accuracy_mean"] == pytest.approx(clip_pooled)
    csv = pd.read_csv(run_dir / open_set.OPEN_SET_FOLDS_FILENAME)
    assert list(csv["held_out"]) == list(TINY_LABELS)

    # A finished row is reused by the same command (no new training).
    before = (run_dir / "metrics.json").stat().st_mtime_ns
    assert (
        experiments_main(
            [
                "--dataset",
                TINY_DATASET,
                "--data-dir",
                str(data_dir),
                "--output-dir",
                str(output_dir),
            ]
            + ["--seeds", "0", "--epochs", "1", "--batch-size", "4", "--verbose", "0"]
            + ["--only", "open_set"]
        )
        == 0
    )
    assert (run_dir / "metrics.json").stat().st_mtime_ns == before
