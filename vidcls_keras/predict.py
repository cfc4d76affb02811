"""`python -m vidcls_keras.predict`: classify video files, folders, URLs; export a model for serving.

    python -m vidcls_keras.predict runs/mean ../shared/data/videos/mmaction2__demo.mp4
    python -m vidcls_keras.predict runs/mean ../shared/data/videos/ --top-k 2 --json
    python -m vidcls_keras.predict runs/mean https://example.com/clip.mp4 dQw4w9WgXcQ
    python -m vidcls_keras.predict runs/mean --export classifier.keras
    python -m vidcls_keras.predict classifier.keras --export-saved-model serving/
    python -m vidcls_keras.predict runs/mean --export-onnx head.onnx [--onnx-end-to-end]

MODEL and the way a video is read: `inference.classifier`; INPUTs: `inference.sources`; exports:
`inference.export`. This module holds the command line, and re-exports the library's names for
`from vidcls_keras.predict import VideoClassifier`.

Exit status: 0 when every input was classified, 1 when any input failed (each failure is reported
and the other inputs still run), 2 for a usage error, a model that cannot be loaded (missing, junk
or tampered: see `inference.classifier`) or an export path that cannot be written (a file where a
folder must be).
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

from vidcls_keras.embedding.pipeline import DEFAULT_TRUNCATED, TRUNCATED_POLICIES
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import OutputPathError, ensure_dir
from vidcls_keras.inference.classifier import (  # noqa: F401 (the library, re-exported)
    DEFAULT_TOP_K,
    ModelLoadError,
    VideoClassifier,
    pad_frames,
)
from vidcls_keras.inference.export import (  # noqa: F401 (the library, re-exported)
    export_end_to_end,
    export_onnx,
    export_saved_model,
)
from vidcls_keras.inference.sources import (  # noqa: F401 (the library, re-exported)
    InputError,
    default_cache_dir,
    download_video,
    expand_inputs,
)
from vidcls_keras.video import FRAME_SAMPLINGS, TruncatedVideoError

logger = logging.getLogger(__name__)

PROG = "python -m vidcls_keras.predict"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.predict`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify videos, folders of videos, URLs or YouTube ids with a trained model, "
        "or export the model as one end-to-end .keras file / a TensorFlow SavedModel.",
    )
    parser.add_argument(
        "model",
        type=pathlib.Path,
        help="training output dir (model.keras + config.json) or an end-to-end .keras file",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="video file, folder of videos, URL or YouTube id"
    )
    parser.add_argument(
        "--top-k",
        type=_positive_int,
        default=DEFAULT_TOP_K,
        help="labels shown per video (default: %(default)s)",
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        metavar="LABEL",
        help="score these label texts instead of the trained classes (open set): a text-aligned "
        "model (aligned_*) uses its video embedding, any other plain CLIP zero-shot on the mean "
        'frame embedding; each record says which ("method": "aligned" / "clip_zero_shot")',
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per input and line "
        '({"input", "ok", "predictions", "decoded", "expected", "warning"} or '
        '{"input", "ok", "error"}; decoded/expected: frames that decode / that the container '
        "lists)",
    )
    parser.add_argument(
        "--frames",
        type=_positive_int,
        default=None,
        help="frames sampled per video (default: as many as the training dataset's videos)",
    )
    parser.add_argument(
        "--truncated",
        choices=TRUNCATED_POLICIES,
        default=DEFAULT_TRUNCATED,
        help="a video decoding to under 3/4 of the frames its container lists: 'warn' classifies "
        "the frames that decode and says so, 'fail' treats it as unreadable (default %(default)s)",
    )
    parser.add_argument(
        "--frame-sampling",
        choices=FRAME_SAMPLINGS,
        default=None,
        help="'exact' evenly spaced frames, or 'keyframes' (the keyframe nearest each: "
        "approximate, faster) (default: as the run's training dataset sampled them)",
    )
    parser.add_argument(
        "--cache-dir",
        type=pathlib.Path,
        default=default_cache_dir(),
        help="where URLs and YouTube ids are downloaded (default: %(default)s)",
    )
    parser.add_argument(
        "--export",
        type=pathlib.Path,
        metavar="OUT.keras",
        help="write the end-to-end model (CLIP encoder + head + softmax) to this .keras file",
    )
    parser.add_argument(
        "--export-saved-model",
        type=pathlib.Path,
        metavar="DIR",
        help="write the end-to-end model as a TensorFlow SavedModel (for serving) to DIR",
    )
    parser.add_argument(
        "--export-onnx",
        type=pathlib.Path,
        metavar="OUT.onnx",
        help="write the head + softmax as ONNX (inputs frames (B, T, D) float32, padding_mask "
        "(B, T) bool; output probabilities (B, C)); needs pip install jax2onnx onnx onnxruntime",
    )
    parser.add_argument(
        "--onnx-end-to-end",
        action="store_true",
        help="with --export-onnx: export CLIP image encoder + head + softmax instead (input "
        "pixels (B, T, 224, 224, 3) float32, clip.preprocess output, + padding_mask)",
    )
    return parser


def _print_text(record: dict[str, Any]) -> None:
    if record["ok"]:
        method = record.get("method")
        print(record["input"] + (f"  ({method.replace('_', ' ')})" if method else ""))
        width = max(len(prediction["label"]) for prediction in record["predictions"])
        for rank, prediction in enumerate(record["predictions"], start=1):
            print(f"  {rank}. {prediction['label']:<{width}}  {prediction['score']:.4f}")
    else:
        print(f"error: {record['input']}: {record['error']}", file=sys.stderr)


def _export(classifier: VideoClassifier, args: argparse.Namespace) -> None:
    """Writes the requested exports; an OutputPathError when a file is where a folder must be."""
    if args.export is not None:
        ensure_dir(args.export.parent, "--export", given=args.export)
    if args.export_saved_model is not None:
        ensure_dir(args.export_saved_model, "--export-saved-model")
    end_to_end = classifier.to_end_to_end()
    if args.export is not None:
        end_to_end.save(args.export)
        print(f"wrote {args.export}", file=sys.stderr)
    if args.export_saved_model is not None:
        export_saved_model(end_to_end, args.export_saved_model)
        print(f"wrote {args.export_saved_model}", file=sys.stderr)


def _classify(classifier: VideoClassifier, source: Any, args: argparse.Namespace) -> dict:
    """One input's record: `{"input", "ok", "predictions"}` or `{"input", "ok", "error"}`."""
    record: dict[str, Any] = {"input": source.name, "ok": False}
    try:
        if source.error is not None:
            raise InputError(source.error)
        path = source.path
        if source.url is not None:
            path = download_video(source.url, args.cache_dir)
            record["file"] = str(path)
        if args.labels:
            record["predictions"] = classifier.predict_labels(path, args.labels, top_k=args.top_k)
            record["method"] = classifier.label_method
        else:
            record["predictions"] = classifier.predict(path, top_k=args.top_k)
        record["ok"] = True
        count = classifier.last_count  # frames that decode / that the container lists
        if count is not None:
            record.update(decoded=count.decoded, expected=count.expected)
            record["warning"] = count.warning or None  # a truncated video, classified anyway
    except Exception as error:  # One bad input must not stop the others: report, go on.
        logger.debug("failed on %s", source.name, exc_info=True)
        record.pop("predictions", None)
        record["error"] = f"{type(error).__name__}: {error}"
        if isinstance(error, TruncatedVideoError):  # --truncated fail
            record.update(decoded=error.decoded, expected=error.expected)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.inputs and args.export is None and args.export_saved_model is None:
        if args.export_onnx is None:
            parser.error(
                "give at least one INPUT, or --export / --export-saved-model / --export-onnx"
            )
    if args.onnx_end_to_end and args.export_onnx is None:
        parser.error("--onnx-end-to-end goes with --export-onnx OUT.onnx")
    if args.export is not None and args.export.suffix != ".keras":
        print(f"error: --export {args.export}: the file must end in .keras", file=sys.stderr)
        return 2
    if args.export is not None and args.export.is_dir():
        print(
            f"error: --export {args.export}: is a folder; give the path of the .keras file to "
            "write (or use --export-saved-model DIR for a folder)",
            file=sys.stderr,
        )
        return 2
    try:
        classifier = VideoClassifier.load(args.model, num_frames=args.frames)
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # --frames beyond what the model takes
        print(f"error: --frames {args.frames}: {error}", file=sys.stderr)
        return 2
    if args.export is not None or args.export_saved_model is not None:
        try:
            _export(classifier, args)
        except OutputPathError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.export_onnx is not None:
        try:
            export_onnx(classifier, args.export_onnx, end_to_end=args.onnx_end_to_end)
        except VidclsError as error:
            print(f"error: --export-onnx: {error}", file=sys.stderr)
            return 2
        print(f"wrote {args.export_onnx}", file=sys.stderr)

    if args.labels:  # embedded once, here: a bad label is a usage error, not a failed input
        try:
            classifier.label_embeddings(args.labels)
        except VidclsError as error:
            print(f"error: --labels: {error}", file=sys.stderr)
            return 2
    classifier.truncated = args.truncated
    if args.frame_sampling is not None:
        classifier.frame_sampling = args.frame_sampling
    failures = 0
    for source in expand_inputs(args.inputs):
        record = _classify(classifier, source, args)
        failures += not record["ok"]
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            _print_text(record)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
