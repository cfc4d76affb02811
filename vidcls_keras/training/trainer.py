"""Train one model on one built TFDS dataset, select it on validation, test it once.

    python -m vidcls_keras.train --model transformer --dataset youtube_videos/frames100 \\
        --output-dir runs/transformer
    python -m vidcls_keras.train --model mean --mixup --alpha 0.4 --seed 1 ...
    python -m vidcls_keras.train --model frame --original-protocol ...

The defaults are the original project's: 10 epochs, batch 16, Adam at 1e-3, mixup alpha 0.4,
soft-target categorical cross-entropy on logits. What differs, on purpose:

- Model selection on `validation`. Every epoch the model is evaluated on the validation split;
  at the end the weights of the epoch with the lowest validation loss (mean cross-entropy; ties
  keep the earlier epoch) are restored (`keras.callbacks.EarlyStopping(restore_best_weights=True)`
  with a patience of all epochs, so training never stops early). The original chose its settings
  on its test set. Loss rather than f1: with ~150 validation videos f1 moves in steps of 0.7% and
  ties often; the loss is continuous.
- The test split is evaluated once, after training, with the selected weights.
- `--original-protocol` reproduces the original's data amounts instead: train on
  train+validation (the original's 1,553 training videos), run the fixed epochs, keep the last
  weights, no validation.
- A seed. Same seed, same data, same machine (CPU) -> the same metrics, run after run (tested).
  Not bit-exact across machines/XLA versions, on GPU (XLA GPU reductions are not deterministic
  unless `XLA_FLAGS=--xla_gpu_deterministic_ops=true`), or between one device and a
  data-parallel run (different reduction order: equal within float tolerance, tested).

Outputs in `--output-dir`: `model.keras` (the head: `vidcls_keras.predict` loads it),
`config.json` (every argument + dataset, label names, `max_frames`, embedder spec),
`metrics.json` (validation and test: loss, accuracy, f1-micro, f1-macro, per-class report,
confusion matrix), `history.csv` (`keras.callbacks.CSVLogger`), `tensorboard/`
(`keras.callbacks.TensorBoard`), `training_curves.png`, `confusion_matrix.png` (test).

More than one device (`len(jax.devices()) > 1`, or `--data-parallel on`): the model is trained
with `keras.distribution.DataParallel` (weights replicated, every batch split across devices).
The batch size must divide evenly; a short last training batch that does not split evenly is
dropped each epoch (evaluation pads its last batch instead, see `evaluate.predict_logits`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import inspect
import json
import logging
import pathlib
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

# `python -m vidcls_keras.train` imports the package first, which sets KERAS_BACKEND=jax.
import jax
import keras
import numpy as np
import tensorflow as tf

import vidcls_keras
from vidcls_keras import data
from vidcls_keras.models import MODELS, build_model
from vidcls_keras.training import evaluate

logger = logging.getLogger(__name__)

MODEL_FILENAME = "model.keras"
CONFIG_FILENAME = "config.json"
METRICS_FILENAME = "metrics.json"
HISTORY_FILENAME = "history.csv"
TENSORBOARD_DIRNAME = "tensorboard"
CURVES_FILENAME = "training_curves.png"
CONFUSION_FILENAME = "confusion_matrix.png"
OUTPUT_FILENAMES = (MODEL_FILENAME, CONFIG_FILENAME, METRICS_FILENAME, HISTORY_FILENAME)

# Model selection: lowest validation loss (see the module docstring for why not f1).
SELECTION_MONITOR = "val_loss"
DATA_PARALLEL_CHOICES = ("auto", "on", "off")
# JAX PRNG implementations whose keys have the shape of Keras's seed state (two uint32); the
# first, JAX's own default, is ours. Philox (counter-based, as tf.random's stateless ops and
# cuRAND) draws the transformer's 7 million dropout bits per step about ten times faster on
# CPU, which made its step about 5% faster on 2 cores (bench/transformer_step_floor.py); but JAX
# 0.10 cannot compile it over sharded arrays (its `mulhi` fails to lower), so not with
# DataParallel.
RNG_CHOICES = ("threefry2x32", "philox4x32")


class TrainError(ValueError):
    """A training run that cannot start: bad argument, dataset not built, wrong backend."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run; `config.json` records it.

    Attributes:
        model: a key of `vidcls_keras.models.MODELS` ("mean", "transformer", "frame").
        dataset: a built TFDS dataset, `"name"` or `"name/config"` (e.g.
            "youtube_videos/frames100").
        data_dir: the `--data_dir` the dataset was built into; None for TFDS' default.
        output_dir: where the model, config, metrics and plots are written.
        mixup: train on mixup batches (two shuffled streams, one Beta(alpha, alpha) weight).
        alpha: the mixup Beta parameter (the original's 0.4).
        epochs: training epochs.
        batch_size: examples per training step (and per evaluation batch).
        learning_rate: Adam's learning rate (PyTorch's Adam default, 1e-3, as the original).
        seed: seeds weight initialisation, dropout, shuffling and mixup.
        max_frames: frame slots per video; None uses the dataset's frames per video.
        original_protocol: train on train+validation for exactly `epochs`, keep the last
            weights (no model selection), as the original did.
        data_parallel: "auto" (DataParallel when there is more than one device), "on", "off".
        rng: the JAX PRNG implementation behind Keras's random draws (weight initialisation,
            dropout) during the run, one of `RNG_CHOICES`; set with `jax.default_prng_impl`
            for the run only. Another choice gives another random stream, as deterministic.
            "philox4x32" is faster on CPU and works on one device only (not DataParallel).
        overwrite: replace the outputs of an earlier run in `output_dir`.
        verbose: Keras verbosity: 0 silent, 1 progress bars, 2 one line per epoch.
    """

    model: str = "mean"
    dataset: str = "youtube_videos/frames100"
    data_dir: str | None = None
    output_dir: str = "runs/train"
    mixup: bool = False
    alpha: float = 0.4
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    max_frames: int | None = None
    original_protocol: bool = False
    data_parallel: str = "auto"
    rng: str = RNG_CHOICES[0]
    overwrite: bool = False
    verbose: int = 1

    def validate(self) -> None:
        """Raises `TrainError` naming the first invalid field and what would be valid."""
        if self.model not in MODELS:
            raise TrainError(
                f"--model {self.model!r} is not a model: choose one of {sorted(MODELS)}."
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise TrainError(
                    f"--{name.replace('_', '-')} must be a positive int, got {value!r}."
                )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise TrainError(f"--seed must be a non-negative int, got {self.seed!r}.")
        if self.max_frames is not None and self.max_frames < 1:
            raise TrainError(
                f"--max-frames must be a positive int or unset, got {self.max_frames!r}."
            )
        if not self.learning_rate > 0:
            raise TrainError(f"--learning-rate must be > 0, got {self.learning_rate!r}.")
        if self.mixup and not self.alpha > 0:
            raise TrainError(
                f"--alpha must be > 0 with --mixup (0.4 in the original), got {self.alpha!r}."
            )
        if self.data_parallel not in DATA_PARALLEL_CHOICES:
            raise TrainError(
                f"--data-parallel must be one of {DATA_PARALLEL_CHOICES}, got {self.data_parallel!r}."
            )
        if self.rng not in RNG_CHOICES:
            raise TrainError(f"--rng must be one of {RNG_CHOICES}, got {self.rng!r}.")
        if self.verbose not in (0, 1, 2):
            raise TrainError(f"--verbose must be 0, 1 or 2, got {self.verbose!r}.")


class ValidationMetrics(keras.callbacks.Callback):
    """Evaluates a split at the end of every epoch and adds `val_*` entries to the epoch logs.

    Adds `val_loss` (mean cross-entropy), `val_accuracy` (= f1-micro for single-label data) and
    `val_f1_macro`, computed with `evaluate.classification_report` (scikit-learn). Put it first in
    the callback list: callbacks after it (EarlyStopping, CSVLogger, TensorBoard, the progress
    bar) see these entries. Unlike `fit(validation_data=...)`, the last short batch is padded,
    so it also runs under `DataParallel` and gives the same numbers there.

    Args:
        dataset: batched `(inputs, one_hot_labels)`, not shuffled.
        label_names: class names in label order.
        batch_size: the dataset's batch size.
    """

    def __init__(self, dataset: tf.data.Dataset, label_names: Sequence[str], batch_size: int):
        super().__init__()
        self.dataset = dataset
        self.label_names = list(label_names)
        self.batch_size = batch_size

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logits, labels = evaluate.predict_logits(
            self.model, self.dataset, batch_size=self.batch_size
        )
        report = evaluate.classification_report(logits, labels, self.label_names)
        if logs is not None:
            for name in ("loss", "accuracy", "f1_macro"):
                logs[f"val_{name}"] = report[name]


@dataclasses.dataclass(frozen=True)
class _DatasetFacts:
    """What training needs to know about a dataset, read from its `DatasetInfo`."""

    name: str
    config_name: str | None
    version: str
    num_classes: int
    label_names: list[str]
    embed_dim: int
    frames_per_video: int | None
    embedder_spec: str | None


def _dataset_facts(info: Any) -> _DatasetFacts:
    """Reads label names, embedding width, frames per video and embedder spec from `info`."""
    label = info.features["label"]
    metadata = dict(info.metadata or {})
    frames_per_video = metadata.get("num_frames")
    embedder_spec = metadata.get("embedder")  # FrameEmbedder.spec, written by tfds_videos
    return _DatasetFacts(
        name=info.name,
        config_name=info.config_name or None,
        version=str(info.version),
        num_classes=int(label.num_classes),
        label_names=[str(name) for name in label.names],
        embed_dim=int(info.features["embeddings"].shape[-1]),
        frames_per_video=int(frames_per_video) if frames_per_video is not None else None,
        embedder_spec=str(embedder_spec) if embedder_spec is not None else None,
    )


def _longest_video(examples: tf.data.Dataset) -> int:
    """The largest `num_frames` in a split (one pass over its files)."""
    lengths = examples.map(
        lambda example: example["num_frames"], num_parallel_calls=tf.data.AUTOTUNE
    )
    return int(
        lengths.reduce(np.int32(0), lambda longest, n: tf.maximum(longest, tf.cast(n, tf.int32)))
    )


def _build_command(dataset: str, data_dir: str | None) -> str:
    """The `tfds build` command that makes `dataset` ("name[/config]")."""
    name, _, config_name = dataset.partition(":")[0].partition("/")
    command = f"tfds build builders/{name}"
    if config_name:
        command += f" --config {config_name}"
    if data_dir:
        command += f" --data_dir {data_dir}"
    return command


def _load(config: TrainConfig, split: str) -> tuple[tf.data.Dataset, Any]:
    """`data.load_split`, with an error that says how to build a missing dataset."""
    try:
        return data.load_split(config.dataset, split, config.data_dir)
    # TFDS raises AssertionError for a registered dataset whose files are not in data_dir.
    except (ValueError, AssertionError) as error:
        raise TrainError(
            f"cannot read split {split!r} of dataset {config.dataset!r} from "
            f"data_dir={config.data_dir!r}. If it is not built yet, build it with "
            f"`{_build_command(config.dataset, config.data_dir)}` (see that builder's README for "
            f"its source files and embedder), then pass the same --data-dir. ({error})"
        ) from error


def _model_arguments(model_name: str, facts: _DatasetFacts, max_frames: int) -> tuple[dict, str]:
    """Keyword arguments for the model's builder, and its input kind ("frames" or "pixels").

    Builders are matched by signature: one that takes an `image_encoder` reads pixels and gets
    the dataset's CLIP image encoder; the others read frame embeddings and get `max_frames` and
    `embed_dim` if they take them. New models need no change here.
    """
    parameters = inspect.signature(MODELS[model_name]).parameters
    arguments: dict[str, Any] = {"num_classes": facts.num_classes}
    if "image_encoder" in parameters:
        if facts.embedder_spec is None:
            raise TrainError(
                f"--model {model_name} needs the CLIP image encoder that made the dataset, but "
                f"dataset {facts.name!r} records no embedder spec in its metadata; rebuild it "
                "with the project's builders."
            )
        from vidcls_keras.clip import (
            image as clip,  # the CLIP encoder is only needed by pixel models
        )

        arguments["image_encoder"] = clip.FrameEmbedder.from_spec(facts.embedder_spec).image_encoder
        return arguments, "pixels"
    for name, value in (("max_frames", max_frames), ("embed_dim", facts.embed_dim)):
        if name in parameters:
            arguments[name] = value
    return arguments, "frames"


def _distribution(config: TrainConfig) -> keras.distribution.Distribution | None:
    """`DataParallel` over all devices when asked for (or "auto" and several devices), else None."""
    devices = keras.distribution.list_devices()
    use = config.data_parallel == "on" or (config.data_parallel == "auto" and len(devices) > 1)
    if not use:
        return None
    if config.rng != RNG_CHOICES[0]:
        raise TrainError(
            f"--rng {config.rng} cannot run data-parallel: JAX cannot compile it over sharded "
            f"arrays. Use --rng {RNG_CHOICES[0]}, or --data-parallel off."
        )
    if config.batch_size % len(devices):
        raise TrainError(
            f"--batch-size {config.batch_size} does not split over {len(devices)} devices: "
            f"use a multiple of {len(devices)}, or --data-parallel off."
        )
    return keras.distribution.DataParallel(devices=devices)


def compile_model(model: keras.Model, learning_rate: float) -> keras.Model:
    """Compiles `model` for training as the original: Adam, soft-target cross-entropy on logits.

    Args:
        model: returns logits `(batch, num_classes)`.
        learning_rate: Adam's learning rate.

    Returns:
        `model`, compiled; its metric is `accuracy` (argmax agreement with the label, the soft
        label's largest share under mixup).
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        # Soft targets: mixup labels are mixtures of one-hot rows.
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def _prepare_output_dir(config: TrainConfig) -> pathlib.Path:
    output_dir = pathlib.Path(config.output_dir)
    existing = [name for name in OUTPUT_FILENAMES if (output_dir / name).exists()]
    if existing and not config.overwrite:
        raise TrainError(
            f"--output-dir {output_dir} already holds a run ({', '.join(existing)}): pass "
            "--overwrite to replace it, or choose another directory."
        )
    # A new run's TensorBoard events must not mix with an old run's.
    shutil.rmtree(output_dir / TENSORBOARD_DIRNAME, ignore_errors=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir


def _write_json(path: pathlib.Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def train(config: TrainConfig) -> dict[str, Any]:
    """Trains, selects and tests one model; writes everything to `config.output_dir`.

    Args:
        config: the run's settings.

    Returns:
        The content of `metrics.json`: `{"test": report, "validation": report or None,
        "selection": {...}}`, each report as `evaluate.classification_report` returns it.

    Raises:
        TrainError: an invalid setting, a dataset that is not built, or a backend other than JAX.
    """
    config.validate()
    if keras.backend.backend() != "jax":
        raise TrainError(
            f"vidcls_keras.train runs on the JAX backend, but Keras uses {keras.backend.backend()!r}: "
            "unset KERAS_BACKEND or set KERAS_BACKEND=jax."
        )
    if importlib.util.find_spec("tensorboard") is None:
        raise TrainError(
            "keras.callbacks.TensorBoard needs the tensorboard package: pip install tensorboard."
        )
    distribution = _distribution(config)  # raises before anything is written
    output_dir = _prepare_output_dir(config)
    with jax.default_prng_impl(config.rng):
        return _train(config, output_dir, distribution)


def _train(
    config: TrainConfig,
    output_dir: pathlib.Path,
    distribution: keras.distribution.Distribution | None,
) -> dict[str, Any]:
    # Fresh Keras state, then one seed for Python, NumPy, TF (tf.data) and Keras (init, dropout).
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)

    train_split = "train+validation" if config.original_protocol else "train"
    train_examples, info = _load(config, train_split)
    test_examples, _ = _load(config, "test")
    validation_examples = None if config.original_protocol else _load(config, "validation")[0]

    facts = _dataset_facts(info)
    max_frames = config.max_frames or facts.frames_per_video or _longest_video(train_examples)
    model_arguments, input_kind = _model_arguments(config.model, facts, max_frames)

    def batches(examples: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        return data.make_batches(
            examples,
            num_classes=facts.num_classes,
            max_frames=max_frames,
            batch_size=config.batch_size,
            training=training,
            mixup_alpha=config.alpha if (training and config.mixup) else None,
            seed=config.seed,
            inputs=input_kind,
        )

    train_batches = batches(train_examples, training=True)
    if distribution is not None:
        num_devices = len(distribution.device_mesh.devices.flat)
        # A short last batch (e.g. 1 of 1,553 videos) cannot be split evenly over the devices:
        # drop it (a filter, not take(): the pipeline's cache must still see the whole split).
        train_batches = train_batches.filter(
            lambda inputs, labels: tf.shape(labels)[0] % num_devices == 0
        )

    validation_batches = None
    callbacks: list[keras.callbacks.Callback] = []
    selection = None
    if validation_examples is not None:
        # One pipeline for every epoch's evaluation (its cache is filled once).
        validation_batches = batches(validation_examples, training=False)
        callbacks.append(
            ValidationMetrics(validation_batches, facts.label_names, config.batch_size)
        )
        selection = keras.callbacks.EarlyStopping(
            monitor=SELECTION_MONITOR,
            mode="min",
            patience=config.epochs,  # never stop early: only keep the best epoch's weights
            restore_best_weights=True,
        )
        callbacks.append(selection)
    callbacks += [
        keras.callbacks.CSVLogger(str(output_dir / HISTORY_FILENAME)),
        keras.callbacks.TensorBoard(
            log_dir=str(output_dir / TENSORBOARD_DIRNAME), write_graph=False
        ),
    ]

    scope = distribution.scope() if distribution is not None else contextlib.nullcontext()
    with scope:
        model = compile_model(build_model(config.model, **model_arguments), config.learning_rate)
        start = time.perf_counter()
        history = model.fit(
            train_batches,
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=False,  # make_batches shuffles, seeded
        )
        train_seconds = time.perf_counter() - start

        validation_report = None
        if validation_batches is not None:  # the selected epoch's validation scores
            validation_report = evaluate.classification_report(
                *evaluate.predict_logits(model, validation_batches, batch_size=config.batch_size),
                facts.label_names,
            )
        # The test split, once, with the selected weights.
        test_report = evaluate.classification_report(
            *evaluate.predict_logits(
                model, batches(test_examples, False), batch_size=config.batch_size
            ),
            facts.label_names,
        )
    model.save(output_dir / MODEL_FILENAME)

    best_epoch = None if selection is None else int(selection.best_epoch)
    metrics = {
        "selection": {
            "monitor": None if selection is None else SELECTION_MONITOR,
            "best_epoch": None if best_epoch is None else best_epoch + 1,
            "epochs": len(history.epoch),
        },
        "validation": validation_report,
        "test": test_report,
    }
    _write_json(output_dir / METRICS_FILENAME, metrics)
    _write_json(
        output_dir / CONFIG_FILENAME,
        {
            **dataclasses.asdict(config),
            "dataset_name": facts.name,
            "dataset_config": facts.config_name,
            "dataset_version": facts.version,
            "embedder_spec": facts.embedder_spec,
            "label_names": facts.label_names,
            "num_classes": facts.num_classes,
            "embed_dim": facts.embed_dim,
            "max_frames": max_frames,
            "model_arguments": {k: v for k, v in model_arguments.items() if k != "image_encoder"},
            "inputs": input_kind,
            "splits": {
                "train": train_split,
                "validation": None if validation_examples is None else "validation",
                "test": "test",
            },
            "num_examples": {
                split: int(info.splits[split].num_examples)
                for split in (train_split, "validation", "test")
            },
            "selection_monitor": metrics["selection"]["monitor"],
            "data_parallel_devices": (
                0 if distribution is None else len(distribution.device_mesh.devices.flat)
            ),
            "versions": {
                "vidcls_keras": vidcls_keras.__version__,
                "keras": keras.__version__,
                "jax": jax.__version__,
                "tensorflow": tf.__version__,
            },
        },
    )
    title = f"{config.model}{' + mixup' if config.mixup else ''} (seed {config.seed})"
    evaluate.plot_history(
        history.history, output_dir / CURVES_FILENAME, best_epoch=best_epoch, title=title
    )
    evaluate.plot_confusion_matrix(
        test_report["confusion_matrix"],
        facts.label_names,
        output_dir / CONFUSION_FILENAME,
        title=f"test: {title}",
    )
    if config.verbose:
        print(
            f"{title}: trained {len(history.epoch)} epochs in {train_seconds:.1f} s"
            + ("" if best_epoch is None else f", kept epoch {best_epoch + 1} (lowest val loss)")
            + f"; test f1-micro {test_report['f1_micro']:.4f}, f1-macro {test_report['f1_macro']:.4f}"
            + f" on {test_report['num_examples']} videos. Outputs: {output_dir}"
        )
    return metrics


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.train`."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.train",
        description="Train a video classifier on a built TFDS dataset of CLIP frame embeddings, "
        "select the best epoch on validation loss, and evaluate the test split once.",
    )
    parser.add_argument("--model", choices=sorted(MODELS), default=defaults.model)
    parser.add_argument(
        "--dataset",
        default=defaults.dataset,
        help="built TFDS dataset, NAME or NAME/CONFIG (default: %(default)s)",
    )
    parser.add_argument("--data-dir", default=defaults.data_dir, help="the tfds build --data_dir")
    parser.add_argument("--output-dir", default=defaults.output_dir, help="default: %(default)s")
    parser.add_argument(
        "--mixup",
        action=argparse.BooleanOptionalAction,
        default=defaults.mixup,
        help="train on mixup batches (default: off)",
    )
    parser.add_argument(
        "--alpha", type=float, default=defaults.alpha, help="mixup Beta(alpha, alpha)"
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="Adam")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--max-frames", type=int, default=None, help="frame slots (default: the dataset's frames)"
    )
    parser.add_argument(
        "--original-protocol",
        action="store_true",
        help="train on train+validation for the fixed epochs, no model selection (the original)",
    )
    parser.add_argument(
        "--data-parallel",
        choices=DATA_PARALLEL_CHOICES,
        default=defaults.data_parallel,
        help="keras.distribution.DataParallel; auto = when JAX sees more than one device",
    )
    parser.add_argument(
        "--rng",
        choices=RNG_CHOICES,
        default=defaults.rng,
        help="JAX PRNG behind weight init and dropout (default: %(default)s; philox4x32 is "
        "faster on CPU, one device only)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's outputs")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=defaults.verbose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns 0 on success and 2 when the run cannot start."""
    arguments = build_parser().parse_args(argv)
    config = TrainConfig(**{key.replace("-", "_"): value for key, value in vars(arguments).items()})
    try:
        train(config)
    except TrainError as error:
        print(f"python -m vidcls_keras.train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
