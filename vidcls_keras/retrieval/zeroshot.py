"""Zero-shot topic classification: CLIP text prompts vs mean frame embeddings, no training.

The library behind `python -m vidcls_keras.zeroshot` (the command line is in that module) and the
`zero_shot` row of `vidcls_keras.experiments`:

    zeroshot.zero_shot_metrics("youtube_videos/frames100", ["food", "art and music", ...])

Each label becomes a few prompts ("a video about {label}.", "a photo of {label}.", ...). The
prompts are embedded by the CLIP text tower, each embedding is L2-normalized, the label's
embeddings are averaged and the average normalized again: CLIP's prompt ensembling. Each video is
its mean frame embedding (`index.mean_frame_embedding`: frames L2-normalized, averaged,
normalized), and is assigned the label with the highest cosine similarity.

The labels are the texts for the dataset's classes, in the dataset's label order (youtube_videos:
food, art_music, travel, history), so "art and music" can stand for `art_music`; without labels
the class names are used, underscores as spaces. The text tower defaults to the image embedder
recorded in the dataset's metadata: image and text towers must come from the same CLIP.

Metrics are `evaluate.classification_report`'s (scikit-learn accuracy, f1-micro, f1-macro, ...)
on logits = 100 x cosine similarity (CLIP's learned logit scale, exp(4.6052) = 100).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from vidcls_keras import files
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval.index import (
    VideoIndex,
    class_name_query,
    l2_normalize,
    load_video_index,
    resolve_text_embedder,
)

DEFAULT_TEMPLATES = (
    "a video about {label}.",
    "a photo of {label}.",
    "a video of {label}.",
    "a youtube video about {label}.",
    "a frame from a video about {label}.",
)
LOGIT_SCALE = 100.0  # OpenAI CLIP's exp(logit_scale)


class ZeroShotError(VidclsError):
    """Labels or templates that cannot be used for zero-shot classification."""


def prompts(labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> list[str]:
    """Every template filled with every label, label-major: `[t(l0) for t] + [t(l1) for t] ...`.

    Raises:
        ZeroShotError: an empty label, no template, or a template without `{label}`.
    """
    if not templates:
        raise ZeroShotError("no prompt template; pass at least one, e.g. 'a video about {label}.'")
    for template in templates:
        if "{label}" not in template:
            raise ZeroShotError(
                f"template {template!r} has no '{{label}}' placeholder, e.g. 'a video about "
                "{label}.'"
            )
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ZeroShotError(f"label {label!r} is empty; give each class a few words.")
    return [
        template.replace("{label}", label.strip()) for label in labels for template in templates
    ]


def class_text_embeddings(
    text_embedder: Any, labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES
) -> np.ndarray:
    """One unit embedding per label: prompts embedded, normalized, averaged, normalized.

    Args:
        text_embedder: a `clip.text.TextEmbedder` (anything with `embed(list[str]) -> (n, D)`).
        labels: C label texts.
        templates: prompt templates with a `{label}` placeholder.

    Returns:
        float32 `(C, D)`, rows of unit norm.
    """
    texts = prompts(labels, templates)
    embeddings = l2_normalize(text_embedder.embed(texts))
    per_label = embeddings.reshape(len(labels), len(templates), -1).mean(axis=1)
    return l2_normalize(per_label)


def zero_shot_logits(video_embeddings: np.ndarray, class_embeddings: np.ndarray) -> np.ndarray:
    """`LOGIT_SCALE * cosine(video, class)`.

    Args:
        video_embeddings: float `(N, D)` (normalized here).
        class_embeddings: float `(C, D)` (normalized here).

    Returns:
        float32 `(N, C)`; the argmax over C is the prediction.
    """
    videos = l2_normalize(video_embeddings)
    classes = l2_normalize(class_embeddings)
    return (LOGIT_SCALE * videos @ classes.T).astype(np.float32)


def zero_shot_metrics(
    dataset: str,
    labels: Sequence[str] | None = None,
    *,
    split: str = "test",
    data_dir: str | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    text_embedder: Any = None,
    index: VideoIndex | None = None,
) -> dict[str, Any]:
    """Zero-shot classification metrics of a dataset split (what the experiments table calls).

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        labels: one text per class, in the dataset's label order; None uses the class names
            with underscores as spaces ("art_music" -> "art music").
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir it was built in (None: TFDS' default).
        templates: prompt templates with a `{label}` placeholder.
        text_embedder: a `TextEmbedder`, a spec string, or None for the dataset's recorded one.
        index: a `VideoIndex` already loaded (else loaded, cached, by `index.load_video_index`).

    Returns:
        `evaluate.classification_report`'s dict (`num_examples`, `loss`, `accuracy`, `f1_micro`,
        `f1_macro`, `per_class`, `confusion_matrix`) plus `labels`, `templates`, `text_embedder`
        (spec), `split` and `predictions` (`{video_id: class name}`).

    Raises:
        ZeroShotError: when the number of labels is not the number of classes, or a label or
            template is unusable.
    """
    from vidcls_keras.training import evaluate

    index = index if index is not None else load_video_index(dataset, split, data_dir)
    names = list(index.label_names)
    if labels is None:
        labels = [class_name_query(name) for name in names]
    labels = list(labels)
    if len(labels) != len(names):
        raise ZeroShotError(
            f"{len(labels)} labels {list(labels)} for {len(names)} classes {names}: give one "
            "label text per class, in this order."
        )
    embedder = resolve_text_embedder(text_embedder, index)
    class_embeddings = class_text_embeddings(embedder, labels, templates)
    logits = zero_shot_logits(index.embeddings, class_embeddings)
    one_hot = np.eye(len(names), dtype=np.float32)[index.labels]
    report = evaluate.classification_report(logits, one_hot, names)
    predicted = logits.argmax(axis=1)
    report.update(
        {
            "labels": list(labels),
            "templates": list(templates),
            "text_embedder": embedder.spec,
            "split": split,
            "predictions": {
                str(video_id): names[int(label)]
                for video_id, label in zip(index.video_ids, predicted, strict=True)
            },
        }
    )
    return report


def experiment_run(config: Any) -> dict[str, Any]:
    """A zero-shot row for `vidcls_keras.experiments`: no training, the same numbers every seed.

    Args:
        config: a `train.TrainConfig` (only `dataset`, `data_dir` and `output_dir` are read).
            The labels are the class names with underscores as spaces, the templates the defaults.

    Returns:
        `{"test": zero_shot_metrics(...)}`; the metrics are also written to
        `<output_dir>/metrics.json`.
    """
    metrics = zero_shot_metrics(config.dataset, split="test", data_dir=config.data_dir)
    result = {"test": metrics}
    files.atomic_write_text(
        pathlib.Path(config.output_dir) / "metrics.json",
        json.dumps(result, indent=2, ensure_ascii=False),
    )
    return result
