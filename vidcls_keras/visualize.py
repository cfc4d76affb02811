"""`python -m vidcls_keras.visualize`: embedding maps of a built TFDS video dataset.

    python -m vidcls_keras.visualize --dataset youtube_videos/frames100 --out maps/
    python -m vidcls_keras.visualize --dataset youtube_videos/frames100 --run runs/aligned_lstm \\
        --video dQw4w9WgXcQ --out maps/
    python -m vidcls_keras.visualize --dataset video_folder/frames16 --method umap  # umap-learn

writes `<out>/tsne.png` (`umap.png` with `--method umap`): a t-SNE of the split's video
embeddings, one point per video coloured by label, with a legend, seed fixed (`--seed`). The
embeddings are the mean-pooled frames, or with `--run` the aligned run's video embeddings (its
`video_embedding` layer). With `--video ID`, also `<out>/trajectory.png`: that video's frame
embeddings fitted in one t-SNE together with the videos, drawn as a path in time order. The
library is `vidcls_keras.retrieval.maps`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import vidcls_keras  # noqa: F401  (KERAS_BACKEND=jax before keras is imported)
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval.maps import DEFAULT_METHOD, DEFAULT_SEED, METHODS, write_maps


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.visualize`."""
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.visualize",
        description="t-SNE (or UMAP) maps of a dataset's video embeddings, and one video's frames.",
    )
    parser.add_argument("--dataset", required=True, help="TFDS name or name/config")
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir it was built in")
    parser.add_argument("--split", default="test", help="split name or expression (test)")
    parser.add_argument(
        "--run",
        default=None,
        help="an aligned run's folder: map its video embeddings (default: mean-pooled frames)",
    )
    parser.add_argument(
        "--video", default=None, metavar="ID", help="also draw this video's frames as a path"
    )
    parser.add_argument(
        "--method", choices=METHODS, default=DEFAULT_METHOD, help="tsne (default) or umap"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random state (0)")
    parser.add_argument("--out", default="embedding_maps", help="output folder (embedding_maps)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns 0, or 2 with the reason on stderr when it cannot run."""
    args = build_parser().parse_args(argv)
    try:
        written = write_maps(
            args.dataset,
            split=args.split,
            data_dir=args.data_dir,
            run=args.run,
            video_id=args.video,
            method=args.method,
            seed=args.seed,
            out=args.out,
        )
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path, embedding_map in written.values():
        print(f"wrote {path} ({len(embedding_map.vectors)} points, {embedding_map.source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
