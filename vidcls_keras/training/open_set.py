"""Class names as CLIP texts for the text-aligned heads, and the open-set (unseen class) protocol.

`label_text_embeddings(spec, labels, prompt_template)` is the one place a label list becomes the
`(C, J)` text embeddings an aligned head scores against: the trainer (`--prompt-template`),
`inference.classifier` (new labels at prediction time) and the protocol below all call it. It is
`retrieval.zeroshot.class_text_embeddings` (prompts embedded, normalised, averaged, normalised)
with the text tower of the dataset's embedder spec and the run's prompt template:
`"ensemble"` (the default) is the zero-shot command's five templates, anything else is one
template with a `{label}` placeholder (e.g. `"{label}"`, plain class names).

The open-set protocol (`experiment_run`, the `open_set` row of `vidcls_keras.experiments`):
leave one class out. For each class h of the dataset in turn, an aligned head (`config.model`)
is trained exactly as `train` would (same batches, mixup, Adam, model selection on validation)
on the other C - 1 classes only, their videos and their text embeddings; then the test videos of
class h, never seen in training, are classified zero-shot among all C class names (the C - 1
trained ones + the new name h). Each test video is thus scored once, by the model that never
saw its class, and the row's test metrics are `evaluate.classification_report` over all test
videos (accuracy = mean over videos; the per-class recall of class h = accuracy on held-out
class h). Beside it, in the same `metrics.json`, plain CLIP zero-shot (`retrieval.zeroshot`:
mean frame embedding, the zero-shot default prompts) on the same videos, per class and overall;
that is also the `zero_shot` row of the table, computed on the same test split. C trainings per
seed: the row costs C times an `aligned_lstm` row.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from vidcls_keras import data, files
from vidcls_keras.errors import VidclsError
from vidcls_keras.models.aligned import VIDEO_EMBEDDING_LAYER, logit_scale
from vidcls_keras.retrieval import zeroshot
from vidcls_keras.retrieval.index import class_name_query, l2_normalize
from vidcls_keras.training import artifacts, evaluate, trainer
from vidcls_keras.training.config import PROMPT_ENSEMBLE, TrainConfig

OPEN_SET_FOLDS_FILENAME = "open_set.csv"


class OpenSetError(VidclsError):
    """Labels, templates or a dataset that cannot be used with a text-aligned head."""


def prompt_templates(prompt_template: str) -> tuple[str, ...]:
    """The templates a `--prompt-template` value stands for.

    Args:
        prompt_template: `"ensemble"` (`retrieval.zeroshot.DEFAULT_TEMPLATES`, 5 templates) or
            one template with a `{label}` placeholder.

    Returns:
        The templates, e.g. `("{label}",)`.

    Raises:
        OpenSetError: a template without `{label}`.
    """
    if prompt_template == PROMPT_ENSEMBLE:
        return tuple(zeroshot.DEFAULT_TEMPLATES)
    if not isinstance(prompt_template, str) or "{label}" not in prompt_template:
        raise OpenSetError(
            f"prompt template {prompt_template!r} has no '{{label}}' placeholder: use e.g. "
            f"'a video about {{label}}.', '{{label}}', or {PROMPT_ENSEMBLE!r} (the zero-shot "
            "templates)."
        )
    return (prompt_template,)


def label_text_embeddings(
    text_embedder: Any,
    labels: Sequence[str],
    prompt_template: str = PROMPT_ENSEMBLE,
    *,
    embed_dim: int | None = None,
) -> np.ndarray:
    """The CLIP text embeddings of label texts, one unit row per label.

    Args:
        text_embedder: an embedder spec (`"tiny:0"`, `"preset:..."`, `"hf:..."`: the text tower
            of the CLIP that embedded the frames) or a `clip.text.TextEmbedder`.
        labels: L label texts ("street food"), in output order.
        prompt_template: see `prompt_templates`.
        embed_dim: the frame embeddings' width, checked against the text tower's when given.

    Returns:
        float32 `(L, J)`, rows of unit norm.

    Raises:
        OpenSetError: an unusable template or label, or a text tower of another width.
    """
    templates = prompt_templates(prompt_template)
    if isinstance(text_embedder, str):
        from vidcls_keras.clip.text import TextEmbedder  # the text tower: only when asked for

        text_embedder = TextEmbedder.from_spec(text_embedder)
    if embed_dim is not None and text_embedder.embed_dim != embed_dim:
        raise OpenSetError(
            f"text embedder {text_embedder.spec!r} gives {text_embedder.embed_dim}-d embeddings "
            f"but the frame embeddings are {embed_dim}-d: use the text tower of the CLIP that "
            "embedded the frames."
        )
    labels = list(labels)
    if not labels:
        raise OpenSetError("no label given: pass at least one label text, e.g. 'street food'.")
    try:
        return zeroshot.class_text_embeddings(text_embedder, labels, templates)
    except zeroshot.ZeroShotError as error:
        raise OpenSetError(str(error)) from error


def _without_class(examples: tf.data.Dataset, held_out: int) -> tf.data.Dataset:
    """The examples of every class but `held_out`, labels renumbered to `0 .. C - 2`."""
    held_out = tf.constant(held_out, tf.int64)

    def renumber(example):
        label = tf.cast(example["label"], tf.int64)
        return {**example, "label": label - tf.cast(label > held_out, tf.int64)}

    return examples.filter(lambda example: tf.cast(example["label"], tf.int64) != held_out).map(
        renumber, num_parallel_calls=tf.data.AUTOTUNE
    )


def _only_class(examples: tf.data.Dataset, label: int) -> tf.data.Dataset:
    return examples.filter(lambda example: tf.cast(example["label"], tf.int64) == label)


def _count(examples: tf.data.Dataset) -> int:
    return int(examples.reduce(np.int64(0), lambda count, _: count + 1))


def _train_without(
    config: TrainConfig, facts: Any, held_out: int, max_frames: int
) -> tuple[keras.Model, int | None]:
    """Trains `config.model` on every class but `held_out`, as `train` would (selection on the
    validation split's other classes; the original protocol trains on train+validation)."""
    keep = [name for index, name in enumerate(facts.label_names) if index != held_out]
    kept_facts = dataclasses.replace(facts, num_classes=len(keep), label_names=keep)
    model_arguments, input_kind = trainer._model_arguments(config, kept_facts, max_frames)
    if input_kind != "frames" or "class_text_embeddings" not in model_arguments:
        raise OpenSetError(
            f"--model {config.model}: the open-set protocol needs a text-aligned head over frame "
            "embeddings (aligned_lstm or aligned_transformer)."
        )
    train_split = "train+validation" if config.original_protocol else "train"

    def batches(split: str, training: bool) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """`(batches, examples)` of `split` without the held-out class, as `train` batches."""
        examples, _ = data.load_split(config.dataset, split, config.data_dir)
        examples = _without_class(examples, held_out)
        batched = data.make_batches(
            examples,
            num_classes=len(keep),
            max_frames=max_frames,
            batch_size=config.batch_size,
            training=training,
            mixup_alpha=config.alpha if (training and config.mixup) else None,
            seed=config.seed,
            epochs=range(config.epochs) if training else None,
        )
        return batched, examples

    # As trainer._train: fresh Keras state and one seed, then data, then the model.
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    train_batches, train_examples = batches(train_split, True)
    steps_per_epoch = -(-_count(train_examples) // config.batch_size)
    callbacks, selection = [], None
    if not config.original_protocol:  # model selection on validation, as train's
        callbacks.append(
            evaluate.ValidationMetrics(batches("validation", False)[0], keep, config.batch_size)
        )
        selection = keras.callbacks.EarlyStopping(
            monitor=trainer.SELECTION_MONITOR,
            mode="min",
            patience=config.epochs,  # never stop early: keep the best epoch's weights
            restore_best_weights=True,
        )
        callbacks.append(selection)
    model = trainer.compile_model(
        trainer.build_model(config.model, **model_arguments), config.learning_rate
    )
    model.fit(
        train_batches,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )
    return model, None if selection is None else int(selection.best_epoch) + 1


def _rate(hits: np.ndarray) -> float | None:
    """The share of True in `hits`; None when empty (a class without test videos)."""
    return float(hits.mean()) if hits.size else None


def _test_embeddings(
    cut: keras.Model, batches: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(video embeddings (N, J), unit-frame means (N, D), one-hot labels (N, C))` of a split."""
    outputs: list[list[np.ndarray]] = [[], [], []]
    for inputs, labels in batches:
        video, mean = cut.predict_on_batch({key: value.numpy() for key, value in inputs.items()})
        for output, value in zip(outputs, (video, mean, labels.numpy()), strict=True):
            output.append(np.asarray(value))
    videos, means, labels = (np.concatenate(output) for output in outputs)
    return videos, means, labels


def open_set_metrics(config: TrainConfig) -> dict[str, Any]:
    """Leave-one-class-out: each test video classified by an aligned head that never saw its class.

    Args:
        config: the settings of every fold's training (`model` an aligned head); `output_dir`
            receives each fold's `held_out_<class>/model.keras`.

    Returns:
        `{"test": report, "clip_zero_shot": report, "held_out": [per class], "selection": {...}}`:
        `report`s are `evaluate.classification_report`s over all test videos, among all C class
        names; `held_out` rows hold `label`, `num_videos`, `aligned_accuracy` (held-out videos
        named right), `clip_zero_shot_accuracy` (the same videos, plain CLIP zero-shot) and
        `seen_accuracy` (the fold's trained classes' test videos, among all C names).
    """
    test_examples, info = trainer._load(config, "test")
    facts = trainer._dataset_facts(info)
    if facts.embedder_spec is None:
        raise OpenSetError(
            f"dataset {config.dataset!r} records no embedder spec: the class names cannot be "
            "embedded by the matching CLIP text tower."
        )
    max_frames = (
        config.max_frames or facts.frames_per_video or trainer._longest_video(test_examples)
    )
    texts = [class_name_query(name) for name in facts.label_names]
    from vidcls_keras.clip.text import TextEmbedder

    text_embedder = TextEmbedder.from_spec(facts.embedder_spec)
    aligned_text = label_text_embeddings(
        text_embedder, texts, config.prompt_template, embed_dim=facts.embed_dim
    )
    clip_text = label_text_embeddings(text_embedder, texts, PROMPT_ENSEMBLE)
    num_classes = facts.num_classes
    test_batches = data.make_batches(
        test_examples,
        num_classes=num_classes,
        max_frames=max_frames,
        batch_size=config.batch_size,
        training=False,
    )
    output_dir = pathlib.Path(config.output_dir)
    aligned_logits = np.zeros((0, num_classes), np.float32)
    clip_logits = np.zeros((0, num_classes), np.float32)
    one_hot = np.zeros((0, num_classes), np.float32)
    folds = []
    for held_out, name in enumerate(facts.label_names):
        model, best_epoch = _train_without(config, facts, held_out, max_frames)
        fold_dir = output_dir / f"held_out_{name}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        model.save(fold_dir / artifacts.MODEL_FILENAME)
        # The video embedding and the masked mean of the unit frames (CLIP's mean embedding).
        cut = keras.Model(
            model.input,
            [model.get_layer(VIDEO_EMBEDDING_LAYER).output, model.get_layer("masked_mean").output],
        )
        scale = logit_scale(model)
        videos, means, labels = _test_embeddings(cut, test_batches)
        fold_aligned = scale * l2_normalize(videos) @ aligned_text.T
        fold_clip = zeroshot.zero_shot_logits(means, clip_text)
        true = labels.argmax(axis=1)
        held = true == held_out
        folds.append(
            {
                "label": name,
                "num_videos": int(held.sum()),
                "aligned_accuracy": _rate(fold_aligned[held].argmax(axis=1) == held_out),
                "clip_zero_shot_accuracy": _rate(fold_clip[held].argmax(axis=1) == held_out),
                "seen_accuracy": _rate(fold_aligned[~held].argmax(axis=1) == true[~held]),
                "logit_scale": scale,
                "best_epoch": best_epoch,
            }
        )
        aligned_logits = np.concatenate([aligned_logits, fold_aligned[held]])
        clip_logits = np.concatenate([clip_logits, fold_clip[held]])
        one_hot = np.concatenate([one_hot, labels[held]])
    return {
        "selection": {
            "monitor": None if config.original_protocol else trainer.SELECTION_MONITOR,
            "best_epoch": None,  # one per fold, in "held_out"
            "epochs": config.epochs,
        },
        "protocol": "leave one class out: trained on C - 1 classes, the held-out class's test "
        "videos classified among all C class names",
        "prompt_template": config.prompt_template,
        "held_out": folds,
        "test": evaluate.classification_report(aligned_logits, one_hot, facts.label_names),
        "clip_zero_shot": evaluate.classification_report(clip_logits, one_hot, facts.label_names),
    }


def _csv_rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def experiment_run(config: TrainConfig) -> dict[str, Any]:
    """The `open_set` row of `vidcls_keras.experiments`: `open_set_metrics`, written to
    `<output_dir>/metrics.json` (last, so a finished row is reused), with `config.json` and
    `open_set.csv` (one line per held-out class: aligned vs plain CLIP zero-shot accuracy)."""
    config.validate()
    output_dir = pathlib.Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics = open_set_metrics(config)
    lines = ["held_out,num_videos,aligned_accuracy,clip_zero_shot_accuracy,seen_accuracy"]
    lines += [
        ",".join(
            [fold["label"], str(fold["num_videos"])]
            + [
                _csv_rate(fold[key])
                for key in ("aligned_accuracy", "clip_zero_shot_accuracy", "seen_accuracy")
            ]
        )
        for fold in metrics["held_out"]
    ]
    files.atomic_write_text(output_dir / OPEN_SET_FOLDS_FILENAME, "\n".join(lines) + "\n")
    artifacts.write_json(output_dir / artifacts.CONFIG_FILENAME, dataclasses.asdict(config))
    artifacts.write_json(output_dir / artifacts.METRICS_FILENAME, metrics)
    if config.verbose:
        print(
            "open set: held-out classes named right "
            f"{metrics['test']['accuracy']:.3f} (aligned) vs "
            f"{metrics['clip_zero_shot']['accuracy']:.3f} (plain CLIP zero-shot), "
            f"{metrics['test']['num_examples']} test videos"
        )
    return metrics


__all__ = [
    "OPEN_SET_FOLDS_FILENAME",
    "OpenSetError",
    "experiment_run",
    "label_text_embeddings",
    "open_set_metrics",
    "prompt_templates",
]
