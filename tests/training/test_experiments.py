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
    for name in ("runs.csv", "results.csv", "results.md", "results.png", "retrieval.csv"):
        assert (output_dir / name).is_file()
    # The retrieval table (no aligned run here: the mean-pooled frames' rows only).
    assert "## Retrieval" in (output_dir / "results.md").read_text()
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
    # tiny_videos records embedder tiny:0 (random weights): the original's numbers are left out.
    assert "original_f1_micro" not in results.columns and "difference" not in results.columns

    markdown = (output_dir / "results.md").read_text()
    assert "| mean + linear | 2 |" in markdown and " ± " in markdown
    assert "0.965" not in markdown and "0.977" not in markdown and "difference" not in markdown
    assert "not comparable with the original's numbers" in markdown
    assert "the encoder tiny:0 has random weights" in markdown

    # The same command again (a sweep killed part-way) reuses the finished runs untouched ...
    finished = output_dir / "mean" / "seed_0" / "metrics.json"
    stamp = finished.stat().st_mtime_ns
    same = ["--dataset", TINY_DATASET, "--data-dir", str(data_dir), "--output-dir", str(output_dir)]
    same += ["--seeds", "0", "--epochs", "1", "--batch-size", "4", "--verbose", "0"]
    assert experiments_main([*same, "--only", "mean"]) == 0
    assert finished.stat().st_mtime_ns == stamp
    # ... and never silently replaces a finished run made with other settings.
    other = [*same, "--only", "mean"]
    other[other.index("--epochs") + 1] = "2"
    assert experiments_main(other) == 2
    assert finished.stat().st_mtime_ns == stamp


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


def test_which_runs_stand_beside_the_original():
    assert experiments.incomparable_reason("preset:clip-vit-base-patch32") is None
    assert experiments.incomparable_reason("hf:/models/clip") is None
    assert experiments.incomparable_reason(None) is None  # unknown: not built by our builders
    assert "tiny:3 has random weights" in experiments.incomparable_reason("tiny:3")
    assert "generated clips" in experiments.incomparable_reason(
        "preset:clip-vit-base-patch32", generated_videos=True
    )


def _fake_results():
    rows = [row for row in experiments.EXPERIMENTS if row.name in ("mean", "frame")]
    results = [
        experiments.RunResult(row.name, seed, 0.5 + 0.1 * seed, 0.4, 0.5, 1.0, 1, f"/runs/{seed}")
        for row in rows
        for seed in (0, 1)
    ]
    return rows, results


def test_real_runs_are_shown_beside_the_original(tmp_path):
    rows, results = _fake_results()
    summary = experiments.write_summary(results, rows, TrainConfig(), tmp_path)
    assert summary[0]["original_f1_micro"] == 0.965
    assert summary[0]["difference"] == pytest.approx(0.55 - 0.965)
    markdown = (tmp_path / "results.md").read_text()
    assert "| original f1-micro | difference |" in markdown
    assert "| mean + linear | 2 | 0.550 ± 0.071 | 0.400 ± 0.000 | 0.965 | -0.415 |" in markdown
    assert "not comparable" not in markdown
    figure = experiments.results_figure(summary)
    (axis,) = figure.axes
    assert len(axis.patches) == 2 * len(rows)  # ours and the original's, side by side
    assert [t.get_text() for t in axis.get_legend().get_texts()] == [
        "this project",
        "original (1 run)",
    ]


def test_generated_or_random_runs_leave_the_original_out(tmp_path):
    rows, results = _fake_results()
    reason = experiments.incomparable_reason("tiny:0", generated_videos=True)
    summary = experiments.write_summary(
        results, rows, TrainConfig(), tmp_path, not_comparable=reason
    )
    assert all("original_f1_micro" not in row and "difference" not in row for row in summary)
    assert "original_f1_micro" not in (tmp_path / "results.csv").read_text()
    markdown = (tmp_path / "results.md").read_text()
    assert "| configuration | seeds | f1-micro | f1-macro |\n" in markdown
    assert "0.965" not in markdown and "0.844" not in markdown and "difference" not in markdown
    assert "not comparable with the original's numbers" in markdown and reason in markdown
    figure = experiments.results_figure(summary, not_comparable=reason)
    (axis,) = figure.axes
    assert len(axis.patches) == len(rows)  # ours only
    assert "not comparable with the original" in axis.get_title()
    assert (tmp_path / "results.png").is_file()
