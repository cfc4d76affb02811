"""`python -m vidcls_keras.search`: text -> video search over a built TFDS video dataset.

    python -m vidcls_keras.search "street food in bangkok" --dataset youtube_videos/frames100 \\
        --data-dir ~/tensorflow_datasets --top-k 10
    python -m vidcls_keras.search --eval-class-names --dataset youtube_videos/frames100
    python -m vidcls_keras.search --like dQw4w9WgXcQ --dataset youtube_videos/frames100
    python -m vidcls_keras.search --like my_clip.mp4 --dataset youtube_videos/frames100

Prints the top-k videos by CLIP similarity to the query, or with `--eval-class-names` recall@k
and mAP with each class name as a query, or with `--like VIDEO_ID_OR_FILE` the videos most like
a video of the split (by id; left out of its own results) or a video file (embedded by the
dataset's own frame embedder, with its frames per video); `--output-dir` also writes
`results.json` / `metrics.json`. The library is `vidcls_keras.retrieval.search` (the cached video index:
`vidcls_keras.retrieval.index`).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Sequence

from vidcls_keras import files
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval.search import (
    DEFAULT_TOP_K,
    evaluate_class_name_queries,
    more_like_this,
    search,
)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.search`."""
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.search",
        description="Text -> video search over a built TFDS video dataset (CLIP similarity).",
    )
    parser.add_argument("query", nargs="?", help='the text query, e.g. "street food in bangkok"')
    parser.add_argument("--dataset", required=True, help="TFDS name or name/config")
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir it was built in")
    parser.add_argument("--split", default="test", help="split name or expression (test)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="results to print")
    parser.add_argument(
        "--text-embedder",
        default=None,
        help="text tower spec (default: the image embedder recorded in the dataset's metadata)",
    )
    parser.add_argument(
        "--eval-class-names",
        action="store_true",
        help="use the class names as queries; print recall@k and mAP",
    )
    parser.add_argument(
        "--like",
        metavar="VIDEO_ID_OR_FILE",
        default=None,
        help="video -> video: the videos most like this video id of the split, or this file",
    )
    parser.add_argument("--output-dir", default=None, help="write results.json / metrics.json")
    return parser


def _print_results(result: list[dict]) -> None:
    print(f"{'rank':>4}  {'score':>6}  {'label':<12} {'video_id':<24} title")
    for row in result:
        print(
            f"{row['rank']:>4}  {row['score']:>6.3f}  {row['label']:<12} "
            f"{row['video_id']:<24} {row['title']}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns 0, or 2 with the reason on stderr when it cannot run."""
    args = build_parser().parse_args(argv)
    modes = (args.query is not None) + args.eval_class_names + (args.like is not None)
    if modes != 1:
        build_parser().error("give exactly one of: a query, --eval-class-names, --like.")
    try:
        if args.eval_class_names:
            ks = sorted({1, 5, args.top_k})
            result = evaluate_class_name_queries(
                args.dataset,
                split=args.split,
                data_dir=args.data_dir,
                ks=ks,
                text_embedder=args.text_embedder,
            )
            for name, metrics in result["per_class"].items():
                recalls = "  ".join(f"R@{k} {v:.3f}" for k, v in metrics["recall_at_k"].items())
                print(f"{name:<20} AP {metrics['average_precision']:.3f}  {recalls}")
            recalls = "  ".join(f"R@{k} {v:.3f}" for k, v in result["recall_at_k"].items())
            print(f"{'mean':<20} mAP {result['mean_average_precision']:.3f}  {recalls}")
            output_name = "metrics.json"
        elif args.like is not None:
            result = more_like_this(
                args.like,
                args.dataset,
                split=args.split,
                data_dir=args.data_dir,
                top_k=args.top_k,
            )
            _print_results(result)
            output_name = "results.json"
        else:
            result = search(
                args.query,
                args.dataset,
                split=args.split,
                data_dir=args.data_dir,
                top_k=args.top_k,
                text_embedder=args.text_embedder,
            )
            _print_results(result)
            output_name = "results.json"
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output_dir:
        files.atomic_write_text(
            pathlib.Path(args.output_dir) / output_name,
            json.dumps(result, indent=2, ensure_ascii=False),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
