"""`python -m vidcls_keras.zeroshot`: zero-shot topic classification with CLIP's text tower.

    python -m vidcls_keras.zeroshot --dataset youtube_videos/frames100 \\
        --labels food "art and music" travel history --split test --output-dir runs/zeroshot

`--labels` are the texts for the dataset's classes, in the dataset's label order (youtube_videos:
food, art_music, travel, history); without `--labels` the class names are used, underscores as
spaces. Prints f1-micro, f1-macro and accuracy; `--output-dir` also writes `metrics.json`. The
library is `vidcls_keras.retrieval.zeroshot`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Sequence

from vidcls_keras import files
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval.zeroshot import DEFAULT_TEMPLATES, zero_shot_metrics


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.zeroshot`."""
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
    """Runs the command; returns 0, or 2 with the reason on stderr when it cannot run."""
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
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"zero-shot {args.dataset} [{args.split}], {metrics['num_examples']} videos")
    print(f"f1-micro {metrics['f1_micro']:.4f}")
    print(f"f1-macro {metrics['f1_macro']:.4f}")
    print(f"accuracy {metrics['accuracy']:.4f}")
    if args.output_dir:
        files.atomic_write_text(
            pathlib.Path(args.output_dir) / "metrics.json",
            json.dumps(metrics, indent=2, ensure_ascii=False),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
