"""Tests for vidcls_keras.training.experiments (and its command): the sweep over configurations and seeds, and its summary."""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# The tiny on-disk TFDS dataset (pytest puts this folder on sys.path).
from tiny_videos import TINY_DATASET, build_tiny_dataset  # noqa: E402

from vidcls_keras.experiments import main as experiments_main  # noqa: E402
from vidcls_keras.models import MODELS  # noqa: E402
from vidcls_keras.training import experiments  # noqa: E402
from vidcls_keras.training.config import TrainConfig  # noqa: E402


def test_the_six_rows_are_the_originals():
    reported = {
        experiment.name: experiment.original_f1_micro
        for experiment in experiments.EXPERIMENTS
        if experiment.original_f1_micro is not None
    }
    assert reported == {
        "mean": 0.965,
        "mean_mixup": 0.977,
        "transformer": 0.983,
        "transformer_mixup": 0.954,
        "frame": 0.844,
        "frame_mixup": 0.867,
    }
    for experiment in experiments.EXPERIMENTS:
        config = dataclasses.replace(TrainConfig(), **experiment.overrides)
        assert config.model in MODELS
        assert config.mixup == experiment.name.endswith("_mixup")


def test_cli_two_seeds_one_epoch_on_tiny_data(tmp_path):
    data_dir = build_tiny_dataset(tmp_path / "tfds")
    output_dir = tmp_path / "sweep"
    status = experiments_main(
        ["--dataset", TINY_DATASET, "--data-dir", str(data_dir), "--output-dir", str(output_dir)]
        + ["--seeds", "0", "1", "--epochs", "1", "--batch-size", "4", "--verbose", "0"]
        + ["--only", "mean", "mean_mixup"]
    )
    assert status == 0
    for name in ("runs.csv", "results.csv", "results.md", "results.png"):
        assert (output_dir / name).is_file()
    for name in ("mean", "mean_mixup"):
        for seed in (0, 1):
            assert (output_dir / name / f"seed_{seed}" / "metrics.json").is_file()

    runs = pd.read_csv(output_dir / "runs.csv")
    assert len(runs) == 4 and set(runs["seed"]) == {0, 1}
    results = pd.read_csv(output_dir / "results.csv").set_index("experiment")
    assert list(results.index) == ["mean", "mean_mixup"]
    for name, group in runs.groupby("experiment"):
        scores = group["test_f1_micro"].to_numpy()
        assert results.loc[name, "num_seeds"] == 2
        assert results.loc[name, "f1_micro_mean"] == pytest.approx(scores.mean())
        assert results.loc[name, "f1_micro_std"] == pytest.approx(np.std(scores, ddof=1))
    assert results.loc["mean", "original_f1_micro"] == 0.965
    assert results.loc["mean_mixup", "original_f1_micro"] == 0.977

    markdown = (output_dir / "results.md").read_text()
    assert "| mean + linear | 2 |" in markdown and "| 0.965 |" in markdown
    assert "| 0.977 |" in markdown and " ± " in markdown

    # A rerun does not silently replace finished runs.
    again = experiments_main(
        ["--dataset", TINY_DATASET, "--data-dir", str(data_dir), "--output-dir", str(output_dir)]
        + ["--seeds", "0", "--epochs", "1", "--batch-size", "4", "--verbose", "0", "--only", "mean"]
    )
    assert again == 2


def test_a_new_row_with_its_own_runner_and_the_original_protocol(tmp_path):
    """Rows are plain data: a row that does not train (say zero-shot) brings its own `run`."""
    seen = []

    def zero_shot(config):
        seen.append(config)
        score = 0.5 + 0.1 * config.seed
        return {
            "test": {"f1_micro": score, "f1_macro": score - 0.1, "accuracy": score, "loss": 1.0}
        }

    rows = [
        experiments.Experiment("zero_shot", "zero-shot CLIP", {"model": "mean"}, None, zero_shot)
    ]
    base = TrainConfig(dataset="tiny/x", epochs=3, original_protocol=True, verbose=0)
    results = experiments.run_experiments(base, [0, 1, 2], tmp_path, experiments=rows)

    assert [result.seed for result in results] == [0, 1, 2]
    assert all(config.original_protocol and config.epochs == 3 for config in seen)
    assert [config.output_dir for config in seen] == [
        str(tmp_path / "zero_shot" / f"seed_{seed}") for seed in (0, 1, 2)
    ]
    (summary,) = experiments.summarize(results, rows)
    assert summary["f1_micro_mean"] == pytest.approx(0.6)
    assert summary["f1_micro_std"] == pytest.approx(0.1)
    assert summary["original_f1_micro"] is None and summary["difference"] is None
    markdown = (tmp_path / "results.md").read_text()
    assert "original protocol" in markdown
    assert "| zero-shot CLIP | 3 | 0.600 ± 0.100 | 0.500 ± 0.100 | — | — |" in markdown


def test_bad_requests_are_refused(tmp_path):
    with pytest.raises(experiments.ExperimentsError, match="unknown configuration"):
        experiments.run_experiments(TrainConfig(), [0], tmp_path, only=["nope"])
    with pytest.raises(experiments.ExperimentsError, match="distinct"):
        experiments.run_experiments(TrainConfig(), [1, 1], tmp_path)
