"""Zero-shot topic classification: CLIP text prompts vs mean frame embeddings, no training.

    python -m vidcls_keras.zeroshot --dataset youtube_videos/frames100 \\
        --labels food "art and music" travel history --split test --output-dir runs/zeroshot

Each label becomes a few prompts ("a video about {label}.", "a photo of {label}.", ...). The
prompts are embedded by the CLIP text tower, each embedding is L2-normalized, the label's
embeddings are averaged and the average normalized again: CLIP's prompt ensembling. Each video is
its mean frame embedding (`search.mean_frame_embedding`: frames L2-normalized, averaged,
normalized), and is assigned the label with the highest cosine similarity.

`--labels` are the texts for the dataset's classes, in the dataset's label order (youtube_videos:
food, art_music, travel, history), so "art and music" can stand for `art_music`; without
`--labels` the class names are used, underscores as spaces. The text tower defaults to the image
embedder recorded in the dataset's metadata: image and text towers must come from the same CLIP.

Metrics are `evaluate.classification_report`'s (scikit-learn accuracy, f1-micro, f1-macro, ...)
on logits = 100 x cosine similarity (CLIP's learned logit scale, exp(4.6052) = 100).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from vidcls_keras.retrieval import search  # noqa: E402

DEFAULT_TEMPLATES = (
    "a video about {label}.",
    "a photo of {label}.",
    "a video of {label}.",
    "a youtube video about {label}.",
    "a frame from a video about {label}.",
)
LOGIT_SCALE = 100.0  # OpenAI CLIP's exp(logit_scale)


class ZeroShotError(ValueError):
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
        text_embedder: a `clip_text.TextEmbedder` (anything with `embed(list[str]) -> (n, D)`).
        labels: C label texts.
        templates: prompt templates with a `{label}` placeholder.

    Returns:
        float32 `(C, D)`, rows of unit norm.
    """
    texts = prompts(labels, templates)
    embeddings = search.l2_normalize(text_embedder.embed(texts))
    per_label = embeddings.reshape(len(labels), len(templates), -1).mean(axis=1)
    return search.l2_normalize(per_label)


def zero_shot_logits(video_embeddings: np.ndarray, class_embeddings: np.ndarray) -> np.ndarray:
    """`LOGIT_SCALE * cosine(video, class)`.

    Args:
        video_embeddings: float `(N, D)` (normalized here).
        class_embeddings: float `(C, D)` (normalized here).

    Returns:
        float32 `(N, C)`; the argmax over C is the prediction.
    """
    videos = search.l2_normalize(video_embeddings)
    classes = search.l2_normalize(class_embeddings)
    return (LOGIT_SCALE * videos @ classes.T).astype(np.float32)


def zero_shot_metrics(
    dataset: str,
    labels: Sequence[str] | None = None,
    *,
    split: str = "test",
    data_dir: str | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    text_embedder: Any = None,
    index: search.VideoIndex | None = None,
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
        index: a `search.VideoIndex` already loaded (else loaded, cached, by `search`).

    Returns:
        `evaluate.classification_report`'s dict (`num_examples`, `loss`, `accuracy`, `f1_micro`,
        `f1_macro`, `per_class`, `confusion_matrix`) plus `labels`, `templates`, `text_embedder`
        (spec), `split` and `predictions` (`{video_id: class name}`).

    Raises:
        ZeroShotError: when the number of labels is not the number of classes, or a label or
            template is unusable.
    """
    from vidcls_keras.training import evaluate

    index = index if index is not None else search.load_video_index(dataset, split, data_dir)
    names = list(index.label_names)
    if labels is None:
        labels = [search.class_name_query(name) for name in names]
    labels = list(labels)
    if len(labels) != len(names):
        raise ZeroShotError(
            f"{len(labels)} labels {list(labels)} for {len(names)} classes {names}: give one "
            "label text per class, in this order."
        )
    embedder = search.resolve_text_embedder(text_embedder, index)
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
    output_dir = pathlib.Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = {"test": metrics}
    (output_dir / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.zeroshot",
        description="Zero-shot topic classification of a TFDS video dataset with CLIP prompts.",
    )
    parser.add_argument("--dataset", required=True, help="TFDS name or name/config")
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir it was built in")
    parser.add_argument(
        "--labels",
        nargs="+",
        default=None,
        help="one text per class, in the dataset's label order (default: the class names, "
        "underscores as spaces)",
    )
    parser.add_argument("--split", default="test", help="split name or expression (test)")
    parser.add_argument(
        "--templates",
        nargs="+",
        default=list(DEFAULT_TEMPLATES),
        help="prompt templates with a {label} placeholder (default: 5 video/photo prompts)",
    )
    parser.add_argument(
        "--text-embedder",
        default=None,
        help="text tower spec (default: the image embedder recorded in the dataset's metadata)",
    )
    parser.add_argument("--output-dir", default=None, help="write metrics.json there")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        metrics = zero_shot_metrics(
            args.dataset,
            args.labels,
            split=args.split,
            data_dir=args.data_dir,
            templates=args.templates,
            text_embedder=args.text_embedder,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"zero-shot {args.dataset} [{args.split}], {metrics['num_examples']} videos")
    print(f"f1-micro {metrics['f1_micro']:.4f}")
    print(f"f1-macro {metrics['f1_macro']:.4f}")
    print(f"accuracy {metrics['accuracy']:.4f}")
    if args.output_dir:
        output_dir = pathlib.Path(args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
