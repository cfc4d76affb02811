"""Train one model on one built TFDS dataset, select it on validation, test it once.

    python -m vidcls_keras.train --model transformer --dataset youtube_videos/frames100 \\
        --output-dir runs/transformer
    python -m vidcls_keras.train --model mean --mixup --alpha 0.4 --seed 1 ...
    python -m vidcls_keras.train --model frame --original-protocol ...

`train(TrainConfig(...))` is the library call; the flags are `TrainConfig`'s fields
(`training.config`). (About 530 lines, on purpose: a run's steps, read data -> callbacks -> fit
-> select -> test -> write, read top to bottom in one file; the run folder and resumption are in
`training.resume`, the file names in `training.artifacts`.) The defaults are the original project's: 10 epochs, batch 16, Adam at 1e-3,
mixup alpha 0.4, soft-target categorical cross-entropy on logits. What differs, on purpose:

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

Outputs in `--output-dir` (names in `training.artifacts`): `model.keras` (the head:
`vidcls_keras.predict` loads it), `config.json` (every argument + dataset, label names,
`max_frames`, the dataset's `num_frames` per video, embedder spec), `metrics.json` (validation and
test: loss, accuracy, f1-micro, f1-macro, per-class report, confusion matrix), `history.csv`
(`keras.callbacks.CSVLogger`), `tensorboard/` (`keras.callbacks.TensorBoard`),
`training_curves.png`, `confusion_matrix.png` (test); `backup/` while the run is unfinished.

An interrupted run resumes. A killed run leaves no `metrics.json` (written last, atomically: it
marks a run finished) but a `backup/` with its last finished epoch (`resume.RunBackup`, a
`keras.callbacks.BackupAndRestore`); the same command resumes from there, printing "resuming
<run> from epoch N of M", and ends with the metrics of an uninterrupted run, number for number
(tested: killed at a random epoch, resumed, compared). Every epoch's batches depend on `(seed,
epoch)` only (`data.make_batches(epochs=...)`), and the backup restores weights, optimizer,
dropout seed states and model selection's best epoch and weights; `history.csv` is continued.
Another config on an interrupted run's folder is refused, with the differences; a finished run's
folder is refused; `--overwrite` replaces either.

More than one device (`len(jax.devices()) > 1`, or `--data-parallel on`): the model is trained
with `keras.distribution.DataParallel` (weights replicated, every batch split across devices).
The batch size must divide evenly; a short last training batch that does not split evenly is
dropped each epoch (evaluation pads its last batch instead, see `evaluate.predict_logits`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import glob
import importlib.util
import inspect
import logging
import pathlib
import shutil
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
from vidcls_keras._compat import jax_prng
from vidcls_keras.errors import VidclsError
from vidcls_keras.models import MODELS, build_model
from vidcls_keras.models.frame import split_frozen_encoder
from vidcls_keras.training import artifacts, evaluate, resume
from vidcls_keras.training.artifacts import (  # noqa: F401 (also importable from here)
    BACKUP_DIRNAME,
    BACKUP_STATE_FILENAME,
    CONFIG_FILENAME,
    CONFUSION_FILENAME,
    CURVES_FILENAME,
    HISTORY_FILENAME,
    METRICS_FILENAME,
    MODEL_FILENAME,
    OUTPUT_FILENAMES,
    TENSORBOARD_DIRNAME,
)
from vidcls_keras.training.config import (  # noqa: F401 (also importable from here)
    DATA_PARALLEL_CHOICES,
    RNG_CHOICES,
    SHARDABLE_RNG,
    TrainConfig,
    TrainError,
)
from vidcls_keras.youtube8m import records, stream

logger = logging.getLogger(__name__)

# Model selection: lowest validation loss (see the module docstring for why not f1).
SELECTION_MONITOR = "val_loss"


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
    multilabel: bool = False  # a `labels` sequence per example (YouTube-8M), sigmoid outputs
    frame_sampling: str = "exact"  # or "keyframes" (approximate frames): predict samples alike


def _dataset_facts(info: Any) -> _DatasetFacts:
    """Reads label names, embedding width, frames per video and embedder spec from `info`."""
    if isinstance(info, stream.StreamInfo) or data.is_multilabel(info.features):
        return _youtube8m_facts(info)
    label = info.features["label"]
    metadata = dict(info.metadata or {})
    frames_per_video = metadata.get("num_frames")
    embedder_spec = metadata.get("embedder")  # FrameEmbedder.spec, written by the builders
    return _DatasetFacts(
        name=info.name,
        config_name=info.config_name or None,
        version=str(info.version),
        num_classes=int(label.num_classes),
        label_names=[str(name) for name in label.names],
        # Clip datasets (`clips16`) store pixels, no embeddings: no width (the model has its own).
        embed_dim=(
            int(info.features["embeddings"].shape[-1]) if "embeddings" in info.features else 0
        ),
        frames_per_video=int(frames_per_video) if frames_per_video is not None else None,
        embedder_spec=str(embedder_spec) if embedder_spec is not None else None,
        frame_sampling=str(metadata.get("frame_sampling") or "exact"),
    )


def _youtube8m_facts(info: Any) -> _DatasetFacts:
    """The facts of a multi-label YouTube-8M dataset: built (`DatasetInfo`) or streamed
    (`youtube8m.stream.StreamInfo`). Frames are `rgb + audio` wide; a video-level example is one
    frame, a frame-level one up to `records.MAX_FRAMES` (the starter's 300) seconds."""
    if isinstance(info, stream.StreamInfo):
        metadata, label_names = info.metadata, list(info.label_names)
        name, config_name, version = "youtube8m", info.level, "stream"
    else:
        metadata = dict(info.metadata or {})
        label_names = [str(name) for name in info.features["labels"].feature.names]
        name, config_name, version = info.name, info.config_name or None, str(info.version)
    level = metadata.get("level") or (
        "frame" if "rgb" in getattr(info, "features", {}) else "video"
    )
    return _DatasetFacts(
        name=name,
        config_name=config_name,
        version=version,
        num_classes=len(label_names),
        label_names=label_names,
        embed_dim=int(metadata["rgb_size"]) + int(metadata.get("audio_size") or 0),
        frames_per_video=1 if level == "video" else records.MAX_FRAMES,
        embedder_spec=None,
        multilabel=True,
    )


def _require_two_classes(config: TrainConfig) -> None:
    """Refuses a dataset whose label feature has fewer than 2 classes (read from its info).

    A 1-class classifier scores test f1 1.0 and loss 0.0 and means nothing; the builders refuse
    to build such a dataset, this catches one built elsewhere, before anything is written.
    """
    facts = _dataset_facts(_load(config, "test")[1])
    if facts.num_classes < 2:
        raise TrainError(
            f"dataset {config.dataset!r} has {facts.num_classes} class "
            f"({', '.join(facts.label_names) or 'none'}): a classifier needs at least 2. Rebuild "
            "it with each class's videos in its own folder, <manual_dir>/<class>/<video> "
            f"(`{_build_command(config.dataset, config.data_dir)}`)."
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


def _stream_files(config: TrainConfig, split: str) -> list[str]:
    """The shard globs of `split` ("train", "validation", "test" or "train+validation") given by
    `--yt8m-files` and its siblings; a sibling not given is the train glob with its file-name
    part's `train` replaced by `validate` or `test`."""
    folder, _, name = config.yt8m_files.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    given = {
        "train": config.yt8m_files,
        "validation": config.yt8m_validation_files or prefix + name.replace("train", "validate", 1),
        "test": config.yt8m_test_files or prefix + name.replace("train", "test", 1),
    }
    return [given[part] for part in split.split("+")]


def _stream(config: TrainConfig, split: str, batched: bool = False) -> tuple[tf.data.Dataset, Any]:
    """YouTube-8M shards read as they are (`youtube8m.stream`), the level read off a record."""
    patterns = _stream_files(config, split)
    files = sorted(path for pattern in patterns for path in glob.glob(pattern))
    if not files:
        raise TrainError(
            f"--yt8m-files: no shard of split {split!r} matches {patterns} (quote globs in a "
            "shell; give --yt8m-validation-files / --yt8m-test-files when the names differ)."
        )
    try:
        first = next(iter(tf.data.TFRecordDataset(files[:1]).take(1))).numpy()
        level = stream.record_widths(first)[0]
        return stream.stream_examples(
            files, level, vocabulary=config.yt8m_vocabulary, batched=batched
        )
    except (StopIteration, tf.errors.OpError, VidclsError) as error:
        raise TrainError(f"--yt8m-files {files[0]}: {error}") from error


def _num_examples(config: TrainConfig, info: Any, split: str) -> int:
    """Examples in `split`: the built dataset's count, or streamed shards' records, counted once
    (a pass over the files' bytes, no parsing)."""
    if not isinstance(info, stream.StreamInfo):
        return int(info.splits[split].num_examples)
    files = [path for pattern in _stream_files(config, split) for path in glob.glob(pattern)]
    return int(tf.data.TFRecordDataset(sorted(files)).reduce(np.int64(0), lambda n, _: n + 1))


def _load(config: TrainConfig, split: str, batched: bool = False) -> tuple[tf.data.Dataset, Any]:
    """`data.load_split`, with an error that says how to build a missing dataset; with
    `--yt8m-files`, the shards streamed (`_stream`). `batched`: video-level YouTube-8M
    examples in parsed batches, as `data.make_batches` takes them fastest."""
    if config.yt8m_files:
        return _stream(config, split, batched)
    try:
        return data.load_split(config.dataset, split, config.data_dir, batched=batched)
    # TFDS raises AssertionError for a registered dataset whose files are not in data_dir.
    except (ValueError, AssertionError) as error:
        raise TrainError(
            f"cannot read split {split!r} of dataset {config.dataset!r} from "
            f"data_dir={config.data_dir!r}. If it is not built yet, build it with "
            f"`{_build_command(config.dataset, config.data_dir)}` (see that builder's README for "
            f"its source files and embedder), then pass the same --data-dir. ({error})"
        ) from error


def _model_arguments(
    config: TrainConfig, facts: _DatasetFacts, max_frames: int
) -> tuple[dict, str]:
    """Keyword arguments for the model's builder, and its input kind ("frames", "pixels" or
    "clips": a builder with `inputs = "clips"`, fine-tuning on a clip dataset's pixels).

    Builders are matched by signature: one that takes an `image_encoder` reads pixels and gets
    the dataset's CLIP image encoder; the others read frame embeddings and get `max_frames` and
    `embed_dim` if they take them. Any builder also gets the dataset's `label_names` and
    `embedder_spec`, and the value of any `TrainConfig` field of the same name (a model's own
    flag, e.g. `--prompt-template`), when its signature names them and the value is set. New
    models need no change here.
    """
    parameters = inspect.signature(MODELS[config.model]).parameters
    arguments: dict[str, Any] = {"num_classes": facts.num_classes}
    for name, value in (("label_names", facts.label_names), ("embedder_spec", facts.embedder_spec)):
        if name in parameters and value is not None:
            arguments[name] = value
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in parameters and field.name not in arguments and value is not None:
            arguments[field.name] = value
    if "class_text_embeddings" in parameters:  # text-aligned heads (models.aligned)
        arguments["class_text_embeddings"] = _class_text_embeddings(config, facts)
    if getattr(MODELS[config.model], "inputs", None) == "clips":  # models.finetune: whole clips
        from vidcls_keras.clip.specs import DEFAULT_EMBEDDER

        # The tower's weights: --encoder, else the dataset's embedder, else CLIP ViT-B/32.
        arguments["encoder"] = config.encoder or facts.embedder_spec or DEFAULT_EMBEDDER
        arguments["max_frames"] = max_frames
        return arguments, "clips"
    if "image_encoder" in parameters:
        if facts.embedder_spec is None:
            raise TrainError(
                f"--model {config.model} needs the CLIP image encoder that made the dataset, but "
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


def _class_text_embeddings(config: TrainConfig, facts: _DatasetFacts) -> np.ndarray:
    """The CLIP text embeddings `(C, D)` of the class names (underscores as spaces) in
    `--prompt-template`, by the text tower of the dataset's embedder."""
    if facts.embedder_spec is None:
        raise TrainError(
            f"--model {config.model} scores classes by their CLIP text embeddings, but dataset "
            f"{facts.name!r} records no embedder spec in its metadata (whose text tower would "
            "embed the class names); rebuild it with the project's builders."
        )
    from vidcls_keras.retrieval.index import class_name_query
    from vidcls_keras.training import open_set  # the text tower: only for aligned heads

    texts = [class_name_query(name) for name in facts.label_names]
    try:
        return open_set.label_text_embeddings(
            facts.embedder_spec, texts, config.prompt_template, embed_dim=facts.embed_dim
        )
    except open_set.OpenSetError as error:
        raise TrainError(f"--model {config.model}: {error}") from error


def _distribution(config: TrainConfig) -> keras.distribution.Distribution | None:
    """`DataParallel` over all devices when asked for (or "auto" and several devices), else None."""
    devices = keras.distribution.list_devices()
    use = config.data_parallel == "on" or (config.data_parallel == "auto" and len(devices) > 1)
    if not use:
        return None
    problem = jax_prng.sharding_problem(config.rng)
    if problem is not None:
        raise TrainError(
            f"--rng {config.rng} cannot run data-parallel: {problem}. Use --rng "
            f"{SHARDABLE_RNG}, or --data-parallel off."
        )
    if config.batch_size % len(devices):
        raise TrainError(
            f"--batch-size {config.batch_size} does not split over {len(devices)} devices: "
            f"use a multiple of {len(devices)}, or --data-parallel off."
        )
    return keras.distribution.DataParallel(devices=devices)


def compile_model(
    model: keras.Model,
    learning_rate: float,
    optimizer: keras.optimizers.Optimizer | None = None,
    multilabel: bool = False,
) -> keras.Model:
    """Compiles `model` for training as the original: Adam, soft-target cross-entropy on logits.

    Multi-label data (`multilabel=True`) trains each class's sigmoid instead: binary
    cross-entropy on logits, the mean over classes and videos (the YouTube-8M starter summed
    over classes: multiply by the number of classes to compare), and no accuracy metric.

    Args:
        model: returns logits `(batch, num_classes)`.
        learning_rate: Adam's learning rate.
        optimizer: use this optimizer instead of a new Adam (a head trained for its full model,
            see `_train`: the two share it, so the full model's `.keras` holds its state).

    Returns:
        `model`, compiled; its metric is `accuracy` (argmax agreement with the label, the soft
        label's largest share under mixup).
    """
    if multilabel:
        # Soft targets too: mixup mixes multi-hot rows.
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        metrics = []
    else:
        # Soft targets: mixup labels are mixtures of one-hot rows.
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    model.compile(
        # A builder that chose its model's optimizer compiled the model with it (models.finetune).
        optimizer=optimizer
        or (model.optimizer if getattr(model, "compiled", False) else None)
        or keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=metrics,
    )
    return model


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
    _require_two_classes(config)  # so does this
    output_dir, state = resume.prepare_output_dir(config)
    with jax.default_prng_impl(config.rng):
        return _train(config, output_dir, state, distribution)


@dataclasses.dataclass
class _RunData:
    """A run's dataset, read and batched: what the steps after loading need."""

    info: Any  # tfds.core.DatasetInfo
    facts: _DatasetFacts
    max_frames: int
    input_kind: str  # "frames", "pixels" or "clips"
    model_arguments: dict[str, Any]
    splits: dict[str, str | None]  # role -> TFDS split name ("train+validation" under the protocol)
    train_batches: tf.data.Dataset  # the epochs still to run, one after another
    steps_per_epoch: int
    validation_batches: tf.data.Dataset | None
    test_batches: tf.data.Dataset


def _read_data(
    config: TrainConfig,
    distribution: keras.distribution.Distribution | None,
    first_epoch: int = 0,
    encoder: keras.Model | None = None,
) -> _RunData:
    """Loads the splits, reads the dataset's facts, and batches every split for the model.

    The training batches hold epochs `first_epoch` to `config.epochs - 1`, each shuffled and
    mixed as a function of `(seed, epoch)` only, so a resumed run trains on the batches an
    uninterrupted one does. With `encoder` (a built pixel model's frozen encoder, see `_train`),
    every split's batches hold `encoder`'s output for each example, computed once here, in the
    order and mix the pixel batches have; `model_arguments` is then left empty.
    """
    splits = {
        "train": "train+validation" if config.original_protocol else "train",
        "validation": None if config.original_protocol else "validation",
        "test": "test",
    }
    train_examples, info = _load(config, splits["train"], batched=True)
    facts = _dataset_facts(info)
    max_frames = config.max_frames or facts.frames_per_video or _longest_video(train_examples)
    if encoder is None:
        model_arguments, input_kind = _model_arguments(config, facts, max_frames)
    else:  # the model is built already (_train)
        model_arguments, input_kind = {}, "pixels"

    # When every epoch is done (a run interrupted after its last backup), fit() runs no epoch
    # but still reads one batch to build the metrics: the last epoch's.
    epochs = range(min(first_epoch, config.epochs - 1), config.epochs)

    # Keep prepared examples in memory only when they fit easily. YouTube-8M's frame level holds
    # max_frames x D bytes a video (uint8 until batched), 345 kB at 300 x 1152, so its 3.9 M
    # training videos are read again each epoch (2 GB is about 6,000 such videos); its video
    # level D float32 values, 4.6 kB; both hold the labels as C bools (3.9 kB at 3,862 classes).
    frame_bytes = 1 if facts.multilabel and facts.frames_per_video != 1 else 4
    bytes_per_example = max_frames * facts.embed_dim * frame_bytes
    if facts.multilabel:
        bytes_per_example += facts.num_classes
    cache = not facts.multilabel or (
        _num_examples(config, info, splits["train"]) * bytes_per_example < 2**31
    )

    def batches(split: str, training: bool) -> tf.data.Dataset:
        examples = train_examples if split == splits["train"] else _load(config, split, True)[0]
        inputs = input_kind
        if encoder is not None:
            examples, inputs = _with_encoded(examples, encoder, facts, config), "features"
        return data.make_batches(
            examples,
            num_classes=facts.num_classes,
            max_frames=max_frames,
            batch_size=config.batch_size,
            training=training,
            mixup_alpha=config.alpha if (training and config.mixup) else None,
            seed=config.seed,
            inputs=inputs,
            epochs=epochs if training else None,
            cache=cache,
        )

    train_batches = batches(splits["train"], training=True)
    num_train_examples = _num_examples(config, info, splits["train"])
    steps_per_epoch = -(-num_train_examples // config.batch_size)
    if distribution is not None:
        num_devices = len(distribution.device_mesh.devices.flat)
        # A short last batch (e.g. 1 of 1,553 videos) cannot be split evenly over the devices:
        # drop it (a filter, not take(): the pipeline's cache must still see the whole split).
        train_batches = train_batches.filter(
            lambda inputs, labels: tf.shape(labels)[0] % num_devices == 0
        )
        if num_train_examples % config.batch_size % num_devices:
            steps_per_epoch -= 1
    return _RunData(
        info=info,
        facts=facts,
        max_frames=max_frames,
        input_kind=input_kind,
        model_arguments=model_arguments,
        splits=splits,
        train_batches=train_batches,
        steps_per_epoch=steps_per_epoch,
        # One pipeline for every epoch's evaluation (its cache is filled once).
        validation_batches=(
            None if splits["validation"] is None else batches(splits["validation"], False)
        ),
        test_batches=batches(splits["test"], training=False),
    )


def _with_encoded(
    examples: tf.data.Dataset, encoder: keras.Model, facts: _DatasetFacts, config: TrainConfig
) -> tf.data.Dataset:
    """`examples` (file order), each with `encoder`'s output for its stored frame as `features`."""
    pixels = data.make_batches(
        examples,
        num_classes=facts.num_classes,
        batch_size=config.batch_size,
        training=False,
        inputs="pixels",
        cache=False,  # read once
    )
    features, _ = evaluate.predict_logits(encoder, pixels, batch_size=config.batch_size)
    return data.attach_features(examples, features)


def _feature_cache_split(
    config: TrainConfig, run: _RunData, model: keras.Model
) -> tuple[keras.Model, keras.Model] | None:
    """`(frozen encoder, head)` of a pixel model to train on encoded frames, or None.

    Each video's fixed frame gives the same encoder output every epoch: encoding the frames once
    and fitting the head on them computes what fitting the whole model computes (the same
    batches, initial weights and dropout draws; the encoder's outputs equal within float
    rounding, as XLA may block a batch of 16 differently from another). With mixup, the encoded
    frames are mixed instead of the pixels: mixup on the input of the layers that train, as the
    sequence models mix their frame embeddings, at no encoder pass per batch; the original mixed
    pixels, which `--no-feature-cache` still does (the encoder then runs on every mixed batch).
    """
    if run.input_kind != "pixels" or not config.feature_cache:
        return None
    return split_frozen_encoder(model)


def _callbacks(
    config: TrainConfig, run: _RunData, output_dir: pathlib.Path, state: dict[str, Any]
) -> tuple[list[keras.callbacks.Callback], keras.callbacks.EarlyStopping | None]:
    """Validation metrics and model selection (when there is a validation split), logs, backup."""
    resuming = state["epochs_done"] > 0
    callbacks: list[keras.callbacks.Callback] = []
    selection = None
    if run.validation_batches is not None:
        callbacks.append(
            evaluate.ValidationMetrics(
                run.validation_batches,
                run.facts.label_names,
                config.batch_size,
                multilabel=run.facts.multilabel,
            )
        )
        selection = keras.callbacks.EarlyStopping(
            monitor=SELECTION_MONITOR,
            mode="min",
            patience=config.epochs,  # never stop early: only keep the best epoch's weights
            restore_best_weights=True,
        )
        callbacks.append(selection)
    callbacks += [
        # A resumed run continues the history (resume.prepare_output_dir cut it to the epochs done).
        keras.callbacks.CSVLogger(str(output_dir / HISTORY_FILENAME), append=resuming),
        keras.callbacks.TensorBoard(
            log_dir=str(output_dir / TENSORBOARD_DIRNAME), write_graph=False
        ),
        # Last: it restores after EarlyStopping resets, and commits an epoch once it is logged.
        resume.RunBackup(output_dir / BACKUP_DIRNAME, state, selection),
    ]
    return callbacks, selection


def _train(
    config: TrainConfig,
    output_dir: pathlib.Path,
    state: dict[str, Any],
    distribution: keras.distribution.Distribution | None,
) -> dict[str, Any]:
    """The run, in order: seed, data, fit (from the backup's epoch), evaluate, write outputs."""
    # Fresh Keras state, then one seed for Python, NumPy, TF (tf.data) and Keras (init, dropout).
    # A resumed run does the same, then RunBackup replaces what the finished epochs changed.
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    first_epoch = state["epochs_done"]
    run = _read_data(config, distribution, first_epoch)

    scope = distribution.scope() if distribution is not None else contextlib.nullcontext()
    with scope:
        model = compile_model(
            build_model(config.model, **run.model_arguments),
            config.learning_rate,
            multilabel=run.facts.multilabel,
        )
        trained = model  # what fit() trains: the model, or its head on encoded frames
        split = _feature_cache_split(config, run, model)
        if split is not None:
            encoder, head = split
            start = time.perf_counter()
            encoded = _read_data(config, distribution, first_epoch, encoder=encoder)
            run = dataclasses.replace(encoded, model_arguments=run.model_arguments)
            trained = compile_model(head, config.learning_rate, optimizer=model.optimizer)
            if config.verbose:
                print(f"encoded every split's frames once in {time.perf_counter() - start:.1f} s")
        callbacks, selection = _callbacks(config, run, output_dir, state)
        start = time.perf_counter()
        history = trained.fit(
            run.train_batches,
            epochs=config.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=run.steps_per_epoch,  # the batches hold all the epochs to run
            callbacks=callbacks,
            verbose=config.verbose,
            shuffle=False,  # make_batches shuffles, seeded
        )
        train_seconds = time.perf_counter() - start

        def report(batches: tf.data.Dataset) -> dict[str, Any]:
            logits, labels = evaluate.predict_logits(trained, batches, batch_size=config.batch_size)
            if run.facts.multilabel:
                return evaluate.multilabel_classification_report(logits, labels)
            return evaluate.classification_report(logits, labels, run.facts.label_names)

        # The selected epoch's validation scores, then the test split, once, with those weights.
        validation_report = (
            None if run.validation_batches is None else report(run.validation_batches)
        )
        test_report = report(run.test_batches)
    model.save(output_dir / MODEL_FILENAME)

    best_epoch = None if selection is None else int(selection.best_epoch)
    epochs_run = first_epoch + len(history.epoch)
    metrics = {
        "selection": {
            "monitor": None if selection is None else SELECTION_MONITOR,
            "best_epoch": None if best_epoch is None else best_epoch + 1,
            "epochs": epochs_run,
        },
        "validation": validation_report,
        "test": test_report,
    }
    artifacts.write_json(output_dir / CONFIG_FILENAME, _run_record(config, run, distribution))
    title = f"{config.model}{' + mixup' if config.mixup else ''} (seed {config.seed})"
    # Every epoch's logs, those before a resume too, are in history.csv.
    all_epochs = _read_history(output_dir / HISTORY_FILENAME)
    if run.facts.multilabel:  # no confusion matrix: C x C cells say little for 3,862 classes
        evaluate.plot_history(
            all_epochs, output_dir / CURVES_FILENAME, best_epoch=best_epoch, title=title
        )
    else:
        _plot(all_epochs, test_report, run.facts.label_names, output_dir, best_epoch, title)
    # Last, atomically: metrics.json marks the run finished; then its backup can go.
    artifacts.write_json(output_dir / METRICS_FILENAME, metrics)
    shutil.rmtree(output_dir / BACKUP_DIRNAME)
    if config.verbose:
        print(
            f"{title}: trained {len(history.epoch)} epochs in {train_seconds:.1f} s"
            + (f" (resumed after epoch {first_epoch})" if first_epoch else "")
            + ("" if best_epoch is None else f", kept epoch {best_epoch + 1} (lowest val loss)")
            + (
                f"; test GAP@20 {test_report['gap']:.4f}, hit@1 {test_report['hit_at_one']:.4f}"
                if run.facts.multilabel
                else f"; test f1-micro {test_report['f1_micro']:.4f}, "
                f"f1-macro {test_report['f1_macro']:.4f}"
            )
            + f" on {test_report['num_examples']} videos. Outputs: {output_dir}"
        )
    return metrics


def _run_record(
    config: TrainConfig, run: _RunData, distribution: keras.distribution.Distribution | None
) -> dict[str, Any]:
    """The content of `config.json`: every setting, and the dataset facts prediction needs."""
    facts = run.facts
    return {
        **dataclasses.asdict(config),
        "dataset_name": facts.name,
        "dataset_config": facts.config_name,
        "dataset_version": facts.version,
        # A fine-tuned model's tower (clip datasets record no embedder): prediction reads it.
        "embedder_spec": facts.embedder_spec or run.model_arguments.get("encoder"),
        # How the dataset sampled frames: prediction samples a video's frames the same way.
        "frame_sampling": facts.frame_sampling,
        "label_names": facts.label_names,
        "num_classes": facts.num_classes,
        "embed_dim": facts.embed_dim,
        "max_frames": run.max_frames,
        # Frames per video the dataset sampled and embedded: prediction samples as many.
        "num_frames": facts.frames_per_video,
        # Not the encoder nor the class text embeddings (in model.keras; prompt_template above).
        "model_arguments": {
            k: v
            for k, v in run.model_arguments.items()
            if k not in ("image_encoder", "class_text_embeddings")
        },
        "inputs": run.input_kind,
        # Sigmoid outputs, binary cross-entropy (prediction reads it: inference.classifier).
        "multilabel": facts.multilabel,
        "splits": run.splits,
        "num_examples": {
            split: _num_examples(config, run.info, split)
            for split in (run.splits["train"], "validation", "test")
        },
        "selection_monitor": None if run.validation_batches is None else SELECTION_MONITOR,
        "data_parallel_devices": (
            0 if distribution is None else len(distribution.device_mesh.devices.flat)
        ),
        "versions": {
            "vidcls_keras": vidcls_keras.__version__,
            "keras": keras.__version__,
            "jax": jax.__version__,
            "tensorflow": tf.__version__,
        },
    }


def _read_history(path: pathlib.Path) -> dict[str, list[float]]:
    """`history.csv` as a History dict: metric -> one value per epoch; columns CSVLogger left
    empty ("NA": val_* without a validation split) are left out."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    columns = [name for name in (rows[0] if rows else {}) if name != "epoch"]
    empty = ("", "NA")
    return {
        name: [float("nan") if row[name] in empty else float(row[name]) for row in rows]
        for name in columns
        if any(row[name] not in empty for row in rows)
    }


def _plot(
    history: dict[str, list[float]],
    test_report: dict[str, Any],
    label_names: Sequence[str],
    output_dir: pathlib.Path,
    best_epoch: int | None,
    title: str,
) -> None:
    """Writes the training curves and the test confusion matrix."""
    evaluate.plot_history(history, output_dir / CURVES_FILENAME, best_epoch=best_epoch, title=title)
    evaluate.plot_confusion_matrix(
        test_report["confusion_matrix"],
        label_names,
        output_dir / CONFUSION_FILENAME,
        title=f"test: {title}",
    )
