"""The original project's six configurations (+ extra rows) over seeds, beside its reported numbers.

    python -m vidcls_keras.experiments --dataset youtube_videos/frames100 --seeds 0 1 2 \\
        --output-dir runs/experiments
    python -m vidcls_keras.experiments ... --original-protocol     # the original's data amounts
    python -m vidcls_keras.experiments ... --only mean transformer  # a subset of the rows
    python -m vidcls_keras.experiments ... --rng threefry2x32       # any of train's flags

`run_experiments(TrainConfig(...), seeds, output_dir)` is the library call; the command line
(`vidcls_keras/experiments.py`) takes train's flags, generated from the same `TrainConfig`, except
those each row sets (`--model`, `--mixup`) or the sweep does (`--seed` -> `--seeds`).

Every (configuration, seed) pair is one `vidcls_keras.train` run in `<output-dir>/<name>/seed_<k>/`
(all of train's outputs). The summary goes to `<output-dir>`:

- `runs.csv`: one row per run (test f1-micro, f1-macro, accuracy, loss, the kept epoch).
- `results.csv` / `results.md`: per configuration, mean ± sample standard deviation (ddof=1)
  over the seeds of test f1-micro and f1-macro, beside the original's f1-micro.
- `results.png`: the same as a bar chart with error bars (one standard deviation).
- `retrieval.csv` / `retrieval.md` (and a "Retrieval" section of `results.md`): CLIP4Clip's
  R@1/5/10, median and mean rank on the test split, text->video and video->text, for class-prompt
  and title queries, with the mean-pooled frame embeddings beside each run whose head has a
  `video_embedding` layer (the aligned heads): `retrieval.evaluation.experiments_retrieval`.

The original reported one run per configuration, with no seed, on its 173 test videos, after
choosing its settings on those same videos; its numbers are context, not a target to match to the
third decimal. f1-micro equals accuracy for single-label data; f1-macro weighs classes equally.
They stand beside real runs only: when the dataset's embedder has random weights (`tiny:<seed>`)
or the videos are generated (the demo's clips, `run_experiments(..., generated_videos=True)`),
the original's column, the difference and its bars are left out, and the summary says why
(`incomparable_reason`).

`EXPERIMENTS` is a plain list: a new row (an LSTM head, max pooling, zero-shot CLIP) is one more
`Experiment`, with its own `run` function when it does not train (zero-shot).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vidcls_keras import data
from vidcls_keras.clip.specs import parse_embedder_spec
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import ensure_dir
from vidcls_keras.retrieval import evaluation as retrieval_evaluation
from vidcls_keras.retrieval import zeroshot
from vidcls_keras.training import open_set, resume, trainer
from vidcls_keras.training.artifacts import CONFIG_FILENAME, METRICS_FILENAME
from vidcls_keras.training.config import TrainConfig

RUNS_FILENAME = "runs.csv"
RESULTS_CSV_FILENAME = "results.csv"
RESULTS_MD_FILENAME = "results.md"
RESULTS_PNG_FILENAME = "results.png"
ORIGINAL_SETUP = "173 real YouTube test videos, pretrained CLIP ViT-B/32"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One row of the results table.

    Attributes:
        name: short identifier, also the run folder's name ("transformer_mixup").
        description: the row's label in the table and chart ("transformer + mixup").
        overrides: `TrainConfig` fields this row sets (e.g. `{"model": "mean"}`); the
            command line's settings (epochs, batch size, ...) fill in the rest.
        original_f1_micro: the original project's reported test f1-micro, or None.
        run: trains and evaluates one `TrainConfig`, returning `trainer.train`'s metrics dict
            (at least `{"test": {"f1_micro", "f1_macro", "accuracy", "loss"}}`).
    """

    name: str
    description: str
    overrides: Mapping[str, Any]
    original_f1_micro: float | None = None
    run: Callable[[TrainConfig], dict[str, Any]] = trainer.train


# The original's numbers: test f1-micro on its 173 test videos (README of
# borisshapa/video-classification), 10 epochs, batch 16, Adam 1e-3, mixup alpha 0.4.
EXPERIMENTS: list[Experiment] = [
    Experiment("mean", "mean + linear", {"model": "mean", "mixup": False}, 0.965),
    Experiment("mean_mixup", "mean + linear, mixup", {"model": "mean", "mixup": True}, 0.977),
    Experiment("transformer", "transformer", {"model": "transformer", "mixup": False}, 0.983),
    Experiment(
        "transformer_mixup", "transformer, mixup", {"model": "transformer", "mixup": True}, 0.954
    ),
    Experiment("frame", "random frame", {"model": "frame", "mixup": False}, 0.844),
    Experiment("frame_mixup", "random frame, mixup", {"model": "frame", "mixup": True}, 0.867),
    # Beyond the original: more temporal heads and baselines, and CLIP with no training at all.
    Experiment("lstm", "bidirectional LSTM", {"model": "lstm", "mixup": False}),
    Experiment("max", "max + linear", {"model": "max", "mixup": False}),
    Experiment("vote", "mean + linear, frame majority vote", {"model": "vote", "mixup": False}),
    Experiment("zero_shot", "zero-shot CLIP (no training)", {}, None, zeroshot.experiment_run),
    # CLIP's joint space: heads whose classes are CLIP texts (models.aligned), and the open-set
    # protocol: each test video named by an aligned head trained without its class, among all C
    # names (training.open_set; plain CLIP zero-shot on the same videos is the zero_shot row).
    Experiment("aligned_lstm", "text-aligned LSTM", {"model": "aligned_lstm", "mixup": False}),
    Experiment(
        "aligned_transformer",
        "text-aligned transformer",
        {"model": "aligned_transformer", "mixup": False},
    ),
    Experiment(
        "open_set",
        "text-aligned LSTM, class unseen in training (open set)",
        {"model": "aligned_lstm", "mixup": False},
        None,
        open_set.experiment_run,
    ),
]


# Multi-label data (YouTube-8M, issue 11): the starter's heads and ours, on its features. A sweep
# over a multi-label dataset runs these instead of EXPERIMENTS; its table shows GAP@20, hit@1,
# PERR and mAP (evaluate.MULTILABEL_METRICS).
MULTILABEL_EXPERIMENTS: list[Experiment] = [
    Experiment("logistic", "logistic (starter)", {"model": "logistic", "mixup": False}),
    Experiment("moe", "mixture of 2 experts (starter)", {"model": "moe", "mixup": False}),
    Experiment("moe_mixup", "mixture of 2 experts, mixup", {"model": "moe", "mixup": True}),
    Experiment("dbof", "deep bag of frames (starter)", {"model": "dbof", "mixup": False}),
    Experiment("lstm_frames", "bidirectional LSTM", {"model": "lstm", "mixup": False}),
    Experiment("mean_frames", "mean + linear", {"model": "mean", "mixup": False}),
    Experiment("transformer_frames", "transformer", {"model": "transformer", "mixup": False}),
]
_MULTILABEL_COLUMNS = {"gap": "GAP@20", "hit_at_one": "hit@1", "perr": "PERR", "mean_ap": "mAP"}


class ExperimentsError(VidclsError):
    """An invalid request: unknown configuration name, no seeds, duplicate seeds."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One finished (configuration, seed) run: its test scores and where its outputs are."""

    experiment: str
    seed: int
    test_f1_micro: float
    test_f1_macro: float
    test_accuracy: float
    test_loss: float
    best_epoch: int | None
    output_dir: str
    # Multi-label runs: the official metrics (their f1 and accuracy fields are NaN).
    test_gap: float | None = None
    test_hit_at_one: float | None = None
    test_perr: float | None = None
    test_mean_ap: float | None = None


def incomparable_reason(embedder_spec: str | None, *, generated_videos: bool = False) -> str | None:
    """Why a sweep's numbers cannot stand beside the original's, or None when they can.

    Args:
        embedder_spec: the dataset's embedder (its metadata's `embedder`); None when unknown
            (a dataset not built by this project's builders), taken as comparable.
        generated_videos: the videos were generated (the demo's synthetic clips).

    Returns:
        None for real videos embedded by pretrained weights (`preset:`, `hf:`); else the reason,
        e.g. "the encoder tiny:0 has random weights".
    """
    reasons = []
    if generated_videos:
        reasons.append("the videos are generated clips")
    if embedder_spec is not None and parse_embedder_spec(embedder_spec).kind == "tiny":
        reasons.append(f"the encoder {embedder_spec} has random weights")
    return " and ".join(reasons) or None


def _dataset_embedder(base: TrainConfig) -> str | None:
    """The embedder spec in the dataset's metadata; None when the dataset cannot be read (its
    runs then say why) or records none."""
    try:
        _, info = data.load_split(base.dataset, "test", base.data_dir)
    # TFDS raises AssertionError for a registered dataset whose files are not in data_dir.
    except (ValueError, AssertionError):
        return None
    embedder = (info.metadata or {}).get("embedder")
    return None if embedder is None else str(embedder)


def _dataset_multilabel(base: TrainConfig) -> bool:
    """Whether the sweep's data are multi-label (streamed YouTube-8M shards, or a built dataset
    whose examples have a `labels` sequence); False when the dataset cannot be read."""
    if base.yt8m_files:
        return True
    try:
        _, info = data.load_split(base.dataset, "test", base.data_dir)
    except (ValueError, AssertionError):
        return False
    return data.is_multilabel(info.features)


def _select(names: Sequence[str] | None, experiments: Sequence[Experiment]) -> list[Experiment]:
    if not names:
        return list(experiments)
    known = {experiment.name: experiment for experiment in experiments}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ExperimentsError(f"unknown configuration(s) {unknown}: choose among {list(known)}.")
    return [known[name] for name in names]


def _finished_run(config: TrainConfig) -> dict[str, Any] | None:
    """The metrics of a run already finished in `config.output_dir` with these settings, or None.

    So a sweep killed part-way and started again with the same command skips its finished runs
    and resumes the interrupted one (`train` refuses a finished run's folder otherwise).
    """
    run_dir = pathlib.Path(config.output_dir)
    metrics_path, config_path = run_dir / METRICS_FILENAME, run_dir / CONFIG_FILENAME
    if config.overwrite or not (metrics_path.is_file() and config_path.is_file()):
        return None
    try:
        recorded = json.loads(config_path.read_text(encoding="utf-8"))
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # let `train` say what is wrong with the folder
    wanted = resume.resume_settings(config)
    # An unset setting (None, e.g. max_frames) is recorded as the value the run resolved; a
    # setting added after the run was made (absent from its config.json) counts as its default.
    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    if any(
        value is not None and recorded.get(key, defaults.get(key)) != value
        for key, value in wanted.items()
    ):
        return None  # another run: `train` refuses it with its message
    if config.verbose:
        print(f"   finished already: reusing {metrics_path}", flush=True)
    return metrics


def run_experiments(
    base: TrainConfig,
    seeds: Sequence[int],
    output_dir: str | pathlib.Path,
    *,
    experiments: Sequence[Experiment] = EXPERIMENTS,
    only: Sequence[str] | None = None,
    generated_videos: bool = False,
    retrieval: bool = True,
) -> list[RunResult]:
    """Runs every selected configuration with every seed, then writes the summary files.

    Args:
        base: settings shared by all runs (dataset, epochs, batch size, protocol, ...); each
            run replaces `seed`, `output_dir` and the experiment's `overrides`.
        seeds: the seeds, e.g. `[0, 1, 2]`.
        output_dir: the parent folder of the runs and the summary files.
        experiments: the rows (default: all of `EXPERIMENTS`, the original's six first).
        only: names of the rows to run; None runs all.
        generated_videos: the dataset's videos were generated (the demo's clips): the summary
            leaves the original's numbers out (as it does for a random-weight `tiny:` embedder).
        retrieval: after the runs, write the retrieval table (`retrieval.csv`, a section of
            `results.md`): mean-pooled frames beside each aligned run.

    Returns:
        One `RunResult` per run, in run order.

    Raises:
        ExperimentsError: unknown names in `only`, or no / repeated seeds.
        training.config.TrainError: a run that cannot start (dataset not built, ...).
    """
    multilabel = _dataset_multilabel(base)
    if multilabel and experiments is EXPERIMENTS:
        experiments = MULTILABEL_EXPERIMENTS
    selected = _select(only, experiments)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ExperimentsError(f"--seeds must be distinct integers, at least one; got {seeds}.")
    output_dir = pathlib.Path(output_dir)
    ensure_dir(output_dir, "--output-dir")
    not_comparable = incomparable_reason(_dataset_embedder(base), generated_videos=generated_videos)
    if multilabel:
        not_comparable = "the data are multi-label YouTube-8M features, not its four topics"
    results = []
    for experiment in selected:
        for seed in seeds:
            run_dir = output_dir / experiment.name / f"seed_{seed}"
            config = dataclasses.replace(
                base, **dict(experiment.overrides), seed=seed, output_dir=str(run_dir)
            )
            if base.verbose:
                print(f"== {experiment.description}, seed {seed} -> {run_dir}", flush=True)
            metrics = _finished_run(config) or experiment.run(config)
            test = metrics["test"]
            best_epoch = (metrics.get("selection") or {}).get("best_epoch")
            results.append(
                RunResult(
                    experiment=experiment.name,
                    seed=seed,
                    test_f1_micro=float(test.get("f1_micro", np.nan)),
                    test_f1_macro=float(test.get("f1_macro", np.nan)),
                    test_accuracy=float(test.get("accuracy", np.nan)),
                    test_loss=float(test["loss"]),
                    best_epoch=best_epoch,
                    output_dir=str(run_dir),
                    **{
                        f"test_{name}": float(test[name])
                        for name in _MULTILABEL_COLUMNS
                        if name in test
                    },
                )
            )
            # Rewritten after every run, so an interrupted sweep keeps what it finished.
            write_summary(results, selected, base, output_dir, not_comparable=not_comparable)
    if retrieval and results and not multilabel:  # retrieval reads CLIP embeddings
        retrieval_evaluation.experiments_retrieval(
            base.dataset,
            base.data_dir,
            [result.output_dir for result in results],
            output_dir,
            results_md=output_dir / RESULTS_MD_FILENAME,
        )
    return results


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for a single value)."""
    values = np.asarray(values, dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return float(values.mean()), std


def summarize(
    results: Sequence[RunResult],
    experiments: Sequence[Experiment],
    *,
    with_original: bool = True,
) -> list[dict[str, Any]]:
    """One row per experiment that has runs: seeds, mean and std of the test scores, original.

    Args:
        results: the finished runs.
        experiments: the rows, in table order.
        with_original: add the original's numbers (False: runs not comparable with them).

    Returns:
        Dicts with keys `experiment`, `description`, `num_seeds`, `f1_micro_mean`,
        `f1_micro_std`, `f1_macro_mean`, `f1_macro_std`, `accuracy_mean`, and with
        `with_original`: `original_f1_micro` and `difference` (our mean f1-micro minus the
        original's).
    """
    rows = []
    for experiment in experiments:
        runs = [result for result in results if result.experiment == experiment.name]
        if not runs:
            continue
        f1_micro_mean, f1_micro_std = _mean_std([run.test_f1_micro for run in runs])
        f1_macro_mean, f1_macro_std = _mean_std([run.test_f1_macro for run in runs])
        row = {
            "experiment": experiment.name,
            "description": experiment.description,
            "num_seeds": len(runs),
            "f1_micro_mean": f1_micro_mean,
            "f1_micro_std": f1_micro_std,
            "f1_macro_mean": f1_macro_mean,
            "f1_macro_std": f1_macro_std,
            "accuracy_mean": float(np.mean([run.test_accuracy for run in runs])),
        }
        if runs[0].test_gap is not None:  # multi-label: the official metrics
            for name in _MULTILABEL_COLUMNS:
                mean, std = _mean_std([getattr(run, f"test_{name}") for run in runs])
                row[f"{name}_mean"], row[f"{name}_std"] = mean, std
        if with_original:
            original = experiment.original_f1_micro
            row["original_f1_micro"] = original
            row["difference"] = None if original is None else f1_micro_mean - original
        rows.append(row)
    return rows


def _format(mean: float, std: float) -> str:
    return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _write_csv(path: pathlib.Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_summary(
    results: Sequence[RunResult],
    experiments: Sequence[Experiment],
    base: TrainConfig,
    output_dir: str | pathlib.Path,
    *,
    not_comparable: str | None = None,
) -> list[dict[str, Any]]:
    """Writes `runs.csv`, `results.csv`, `results.md` and `results.png` into `output_dir`.

    Args:
        results: the finished runs.
        experiments: the rows, in table order.
        base: the sweep's shared settings (described in `results.md`).
        output_dir: where the files go.
        not_comparable: why these runs cannot stand beside the original's numbers
            (`incomparable_reason`); then the original's column, the difference and its bars
            are left out, and `results.md` says why. None shows them.

    Returns:
        The summary rows (see `summarize`).
    """
    output_dir = pathlib.Path(output_dir)
    with_original = not_comparable is None
    rows = summarize(results, experiments, with_original=with_original)
    _write_csv(output_dir / RUNS_FILENAME, [dataclasses.asdict(result) for result in results])
    _write_csv(output_dir / RESULTS_CSV_FILENAME, rows)

    seeds = sorted({result.seed for result in results})
    protocol = (
        "original protocol: trained on train+validation for the fixed epochs, last weights, "
        "no model selection"
        if base.original_protocol
        else "trained on train; the epoch with the lowest validation loss kept; test evaluated once"
    )
    lines = [
        "# Results",
        "",
        f"Dataset `{base.dataset}`; {base.epochs} epochs, batch {base.batch_size}, "
        f"Adam {base.learning_rate:g}, mixup alpha {base.alpha:g}; seeds {seeds}; {protocol}.",
        "",
        "Test f1-micro (= accuracy for single-label data) and f1-macro: mean ± sample standard "
        "deviation over the seeds. "
        + (
            "The original's numbers are one unseeded run each, on its 173 test videos, with "
            "settings chosen on that test set."
            if with_original
            else f"These runs are not comparable with the original's numbers ({ORIGINAL_SETUP}), "
            f"which are left out: {not_comparable}."
        ),
        "",
        "| configuration | seeds | f1-micro | f1-macro |"
        + (" original f1-micro | difference |" if with_original else ""),
        "|---|---:|---:|---:|" + ("---:|---:|" if with_original else ""),
    ]
    for row in rows:
        line = (
            f"| {row['description']} | {row['num_seeds']} "
            f"| {_format(row['f1_micro_mean'], row['f1_micro_std'])} "
            f"| {_format(row['f1_macro_mean'], row['f1_macro_std'])} |"
        )
        if with_original:
            original = row["original_f1_micro"]
            difference = row["difference"]
            line += " — |" if original is None else f" {original:.3f} |"
            line += " — |" if difference is None else f" {difference:+.3f} |"
        lines.append(line)
    lines += ["", f"Per run: `{RUNS_FILENAME}`; bar chart: `{RESULTS_PNG_FILENAME}`.", ""]
    if rows and "gap_mean" in rows[0]:  # multi-label: the official metrics' table instead
        lines[4:] = [
            "Test GAP@20, hit@1, PERR and mAP (YouTube-8M's official metrics, "
            "`training.multilabel_metrics`): mean ± sample standard deviation over the seeds.",
            "",
            "| configuration | seeds | " + " | ".join(_MULTILABEL_COLUMNS.values()) + " |",
            "|---|---:|" + "---:|" * len(_MULTILABEL_COLUMNS),
            *(
                f"| {row['description']} | {row['num_seeds']} | "
                + " | ".join(
                    _format(row[f"{name}_mean"], row[f"{name}_std"]) for name in _MULTILABEL_COLUMNS
                )
                + " |"
                for row in rows
            ),
            "",
            f"Per run: `{RUNS_FILENAME}`; bar chart (GAP@20): `{RESULTS_PNG_FILENAME}`.",
            "",
        ]
    (output_dir / RESULTS_MD_FILENAME).write_text("\n".join(lines), encoding="utf-8")
    plot_results(rows, output_dir / RESULTS_PNG_FILENAME, not_comparable=not_comparable)
    return rows


def plot_results(
    rows: Sequence[Mapping[str, Any]],
    path: str | pathlib.Path,
    *,
    not_comparable: str | None = None,
) -> pathlib.Path:
    """Writes `results_figure(rows, not_comparable=...)` to `path` (PNG); returns `path`."""
    path = pathlib.Path(path)
    results_figure(rows, not_comparable=not_comparable).savefig(path, dpi=100)
    return path


def results_figure(
    rows: Sequence[Mapping[str, Any]], *, not_comparable: str | None = None
) -> Figure:
    """Bar chart: our mean test f1-micro (error bar: one std) beside the original's, per row.

    With `not_comparable` (see `write_summary`), our bars only, titled with the reason.
    """
    figure = Figure(figsize=(1.6 * len(rows) + 2.0, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    positions = np.arange(len(rows))
    width = 0.38
    metric = "gap" if rows and "gap_mean" in rows[0] else "f1_micro"  # GAP@20: multi-label
    means = [row[f"{metric}_mean"] for row in rows]
    errors = [0.0 if np.isnan(row[f"{metric}_std"]) else row[f"{metric}_std"] for row in rows]
    originals = [] if not_comparable else [row["original_f1_micro"] for row in rows]
    offset = width / 2 if originals else 0.0
    axis.bar(positions - offset, means, width, yerr=errors, capsize=4, label="this project")
    if originals:
        axis.bar(
            positions + offset,
            [np.nan if value is None else value for value in originals],
            width,
            hatch="//",
            alpha=0.6,
            label="original (1 run)",
        )
    else:
        axis.set_title(
            f"not comparable with the original ({ORIGINAL_SETUP}):\n{not_comparable}",
            fontsize="small",
        )
    axis.set_xticks(positions, labels=[row["description"] for row in rows], rotation=20, ha="right")
    axis.set_ylabel("test GAP@20" if metric == "gap" else "test f1-micro")
    # Zoom in on the top of the scale when every bar is high (the original's are all > 0.84).
    lows = [mean - error for mean, error in zip(means, errors, strict=True)]
    low = min(lows + [value for value in originals if value is not None] + [1.0])
    axis.set_ylim(0.0 if low < 0.5 else low - 0.05, 1.0)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(loc="lower right")
    return figure
