"""`python -m vidcls_keras.export_youtube8m`: a built CLIP dataset of ours -> YouTube-8M shards.

    python -m vidcls_keras.export_youtube8m video_folder/frames16 --data-dir /tmp/tfds --out yt8m/
    tfds build builders/youtube8m --manual_dir yt8m/ --data_dir /tmp/tfds   # and back, as YT8M

writes `yt8m/vocabulary.csv`, `yt8m/frame/{train,validate,test}NNNN.tfrecord` (frame-level
SequenceExamples, `rgb` = the quantized frame embeddings), `yt8m/video/...` (video-level Examples,
`mean_rgb` = their mean) and `youtube8m.json` in each level folder (width D, no audio, the
source). See `vidcls_keras.youtube8m.writers` for the choices. Exit status 2 for a usage error,
a dataset that is not built (or not one of ours) or an output in the way.
"""

from __future__ import annotations

import argparse
import sys

import vidcls_keras  # noqa: F401  (KERAS_BACKEND=jax before keras is imported)
from vidcls_keras.errors import VidclsError


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.export_youtube8m`."""
    from vidcls_keras.youtube8m.stream import LEVELS
    from vidcls_keras.youtube8m.writers import DEFAULT_VIDEOS_PER_SHARD

    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.export_youtube8m",
        description="Export a built CLIP dataset (video_folder, youtube_videos) to YouTube-8M "
        "frame-level and video-level TFRecord shards plus vocabulary.csv.",
    )
    parser.add_argument(
        "dataset", help="the built dataset, NAME/CONFIG (e.g. video_folder/frames16)"
    )
    parser.add_argument(
        "--out", required=True, help="output folder (vocabulary.csv, video/, frame/)"
    )
    parser.add_argument("--data-dir", default=None, help="the dataset's tfds build --data_dir")
    parser.add_argument(
        "--levels", nargs="+", choices=LEVELS, default=list(LEVELS), help="levels to write"
    )
    parser.add_argument(
        "--videos-per-shard",
        type=int,
        default=DEFAULT_VIDEOS_PER_SHARD,
        help="records per shard (default %(default)s)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing OUT/<level>/ folders"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the export; returns the exit status (0, or 2 for a user error)."""
    arguments = build_parser().parse_args(argv)
    from vidcls_keras.youtube8m.writers import export_dataset

    try:
        results = export_dataset(
            arguments.dataset,
            arguments.out,
            data_dir=arguments.data_dir,
            levels=tuple(arguments.levels),
            videos_per_shard=arguments.videos_per_shard,
            overwrite=arguments.overwrite,
        )
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for level, result in results.items():
        counts = ", ".join(
            f"{prefix} {result.videos[prefix]} videos in {len(result.shards[prefix])} shards"
            for prefix in result.videos
        )
        clipped = (
            f"; {result.clipped_values} values outside [-2, 2] clipped"
            if result.clipped_values
            else ""
        )
        print(
            f"{level} level: {counts} (rgb width {result.rgb_size}, no audio){clipped} -> {result.folder}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
