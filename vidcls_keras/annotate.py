"""`python -m vidcls_keras.annotate`: classify every moment of a video and write the label on it.

    python -m vidcls_keras.annotate runs/mean ../shared/data/videos/mmaction2__demo.mp4 \\
        --out annotated/annotated.mp4 --every 1 --window 5

writes `annotated/annotated.mp4` (every frame of the input, same size, frame rate and upright
orientation, with the current top label and score at the top left), and beside it
`annotated/timeline.csv` (one row per classified frame: time, the averaged probability of each
class, the top label and score, each frame's own probabilities) and `annotated/timeline.png`
(class probabilities over time). One frame every `--every` seconds is classified as a one-frame
video by MODEL (a training output directory, or an end-to-end `.keras` file, as for predict); the
label shown is the top class of the mean of the last `--window` predictions. The library is
`vidcls_keras.inference.annotate`.

Exit status: 0 when the video was written; 2 for a usage error, a model that cannot be loaded, an
input that cannot be decoded (or is truncated, unless `--truncated warn`), or an output that
cannot be written. Nothing is left under the output's name on failure.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
from collections.abc import Sequence

import vidcls_keras  # noqa: F401  (KERAS_BACKEND=jax before keras is imported)
from vidcls_keras.embedding.pipeline import TRUNCATED_POLICIES
from vidcls_keras.errors import VidclsError

PROG = "python -m vidcls_keras.annotate"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds > 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.annotate`."""
    from vidcls_keras.inference import annotate

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify one frame every --every seconds with a trained model, average the "
        "last --window predictions, and write the video with the current label drawn on every "
        "frame, plus timeline.csv and timeline.png beside it.",
    )
    parser.add_argument(
        "model",
        type=pathlib.Path,
        help="training output dir (model.keras + config.json) or an end-to-end .keras file",
    )
    parser.add_argument("video", type=pathlib.Path, help="the video file to annotate")
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        required=True,
        metavar="OUT.mp4",
        help="the annotated video to write; timeline.csv and timeline.png go in the same folder",
    )
    parser.add_argument(
        "--every",
        type=_positive_seconds,
        default=annotate.DEFAULT_EVERY,
        metavar="SECONDS",
        help="seconds between classified frames (default: %(default)g)",
    )
    parser.add_argument(
        "--window",
        type=_positive_int,
        default=annotate.DEFAULT_WINDOW,
        metavar="K",
        help="predictions averaged for the label shown (default: %(default)s; 1: none)",
    )
    parser.add_argument(
        "--codec",
        choices=annotate.CODECS,
        default=annotate.DEFAULT_CODEC,
        help="fourcc of OpenCV's video writer: mp4v (MPEG-4 Part 2, in every OpenCV) or avc1 "
        "(H.264, needs an OpenCV built with an H.264 encoder) (default: %(default)s)",
    )
    parser.add_argument(
        "--truncated",
        choices=TRUNCATED_POLICIES,
        default=annotate.DEFAULT_TRUNCATED,
        help="a video decoding to under 3/4 of the frames its container lists: 'fail' refuses "
        "it, 'warn' annotates the frames that decode (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (see the module docstring)."""
    from vidcls_keras.inference.annotate import annotate_video
    from vidcls_keras.inference.classifier import VideoClassifier

    args = build_parser().parse_args(argv)
    try:
        classifier = VideoClassifier.load(args.model)
        result = annotate_video(
            classifier,
            args.video,
            args.out,
            every=args.every,
            window=args.window,
            codec=args.codec,
            truncated=args.truncated,
            progress=not args.quiet,
        )
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    timeline = result.timeline
    print(
        f"wrote {result.output} ({result.frames} frames, {result.width}x{result.height}, "
        f"{result.fps:g} fps, {result.codec}), {result.timeline_csv} "
        f"({len(timeline.times)} classified frames), {result.timeline_png}"
    )
    if result.count.warning:
        print(f"warning: {result.count.warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
