"""vidcls_keras.retrieval.zeroshot and its command, `python -m vidcls_keras.zeroshot`."""

import json
import types

import numpy as np
import pytest
from retrieval_datasets import (
    CLASS_NAMES,
    DATASET,
    LABEL_TEXTS,
    SPEC,
    around,
    build,
    example,
)

from vidcls_keras import zeroshot as zeroshot_command
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval import zeroshot


def test_zero_shot_cli_end_to_end(random_dataset, tmp_path, capsys):
    arguments = ["--dataset", DATASET, "--data-dir", random_dataset, "--labels", *LABEL_TEXTS]
    capsys.readouterr()
    assert zeroshot_command.main([*arguments, "--output-dir", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    for name in ("f1-micro", "f1-macro", "accuracy"):
        assert name in printed
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["num_examples"] == 12
    assert metrics["text_embedder"] == SPEC and metrics["labels"] == LABEL_TEXTS
    for name in ("accuracy", "f1_micro", "f1_macro"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["f1_micro"] == pytest.approx(metrics["accuracy"])
    assert np.sum(metrics["confusion_matrix"]) == 12
    assert set(metrics["predictions"].values()) <= set(CLASS_NAMES)
    # Deterministic: the same numbers again (now from the cached index), and from the API.
    assert zeroshot_command.main([*arguments, "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again == metrics
    direct = zeroshot.zero_shot_metrics(DATASET, LABEL_TEXTS, data_dir=random_dataset)
    assert direct["predictions"] == metrics["predictions"]
    assert direct["f1_macro"] == pytest.approx(metrics["f1_macro"])


def test_zero_shot_is_perfect_when_videos_look_like_their_prompts(tmp_path, text_embedder):
    """Frames along each label's prompt-ensemble embedding: every video is classified right."""
    classes = zeroshot.class_text_embeddings(text_embedder, LABEL_TEXTS)
    rng = np.random.default_rng(0)
    examples = [
        example(f"v{label}_{index}", label, around(classes[label], rng))
        for label in range(len(CLASS_NAMES))
        for index in range(3)
    ]
    data_dir = build(tmp_path / "tfds", {"test": examples})
    metrics = zeroshot.zero_shot_metrics(DATASET, LABEL_TEXTS, data_dir=data_dir)
    assert metrics["accuracy"] == 1.0 and metrics["f1_macro"] == 1.0
    # Labels map onto classes by position: shuffle the texts and the answers move with them.
    swapped = zeroshot.zero_shot_metrics(
        DATASET, [LABEL_TEXTS[1], LABEL_TEXTS[0], LABEL_TEXTS[2]], data_dir=data_dir
    )
    assert swapped["accuracy"] == pytest.approx(3 / 9)


def test_errors(random_dataset, capsys):
    assert issubclass(zeroshot.ZeroShotError, VidclsError)
    with pytest.raises(zeroshot.ZeroShotError, match="2 labels .* for 3 classes"):
        zeroshot.zero_shot_metrics(DATASET, ["food", "travel"], data_dir=random_dataset)
    arguments = ["--dataset", DATASET, "--data-dir", random_dataset]
    assert zeroshot_command.main([*arguments, "--labels", "food", "travel"]) == 2
    assert "for 3 classes" in capsys.readouterr().err
    with pytest.raises(zeroshot.ZeroShotError, match="empty"):
        zeroshot.zero_shot_metrics(DATASET, ["food", " ", "travel"], data_dir=random_dataset)
    with pytest.raises(zeroshot.ZeroShotError, match="placeholder"):
        zeroshot.zero_shot_metrics(
            DATASET, LABEL_TEXTS, data_dir=random_dataset, templates=["a video"]
        )


def test_experiment_row_runner(random_dataset, tmp_path):
    """`experiments.Experiment(..., run=zeroshot.experiment_run)`: class names as labels."""
    config = types.SimpleNamespace(
        dataset=DATASET, data_dir=random_dataset, output_dir=str(tmp_path / "row"), seed=0
    )
    result = zeroshot.experiment_run(config)
    assert result["test"]["labels"] == ["food", "art music", "travel"]
    assert {"f1_micro", "f1_macro", "accuracy", "loss"} <= set(result["test"])
    assert json.loads((tmp_path / "row" / "metrics.json").read_text()) == result
