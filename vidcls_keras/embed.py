"""`python -m vidcls_keras.embed`: videos -> CLIP frame embeddings, one `.npy` per video.

    python -m vidcls_keras.embed videos/*.mp4 --frames 100 --out embeddings/
    python -m vidcls_keras.embed videos/ --frames 16 --out embeddings/ --tiny 0   # no weights

writes `embeddings/<video stem>.npy`, float32 `(k, D)` (k <= --frames; one row per sampled frame),
through `vidcls_keras.embedding.pipeline`, the code the dataset builders and `predict` run: the
files equal, bit for bit, the `embeddings` of a dataset built with the same embedder and frame
count. Videos that cannot be read are listed at the end with the reason, and the exit status is 1
(the others are still written); 2 for a usage error, an --out that cannot be a folder (it or a
folder above it is a file) or an encoder that cannot be loaded. A folder given as input that holds
no video file is named on stderr and skipped. The encoder comes from `--preset NAME_OR_DIR`
(default clip-vit-base-patch32, downloaded by KerasCV), `--hf DIR` (a Hugging Face CLIP
checkpoint) or `--tiny SEED` (a small random encoder).

`--frame-sampling keyframes` (opt-in, approximate) takes the keyframe nearest each evenly spaced
position and decodes keyframes only: much faster on long videos, for huge corpora (the files then
equal a dataset built with `VIDCLS_FRAME_SAMPLING=keyframes`, not an exact one). While the encoder
embeds one video the next ones decode (`--workers`, default the cores, 1 to 8), at the lowest CPU
priority so that they do not slow the encoder.

**A dataset split as one table** (for indexing the videos elsewhere): with `--dataset NAME`
instead of videos, `python -m vidcls_keras.embed --dataset youtube_videos/frames100 --split all
--out exports/` writes `exports/youtube_videos_frames100-all.npz` (and `.parquet` when pyarrow is
importable): one row per video, `id`, `label`, `title` and `vector`, the video's mean-pooled frame
embedding (`retrieval.index.mean_frame_embedding`); with `--video-embedding RUN` the vector is an
aligned run's video embedding (its `video_embedding` layer) instead. The library is
`vidcls_keras.retrieval.embedding_table`.

A truncated video (fewer than 3/4 of the frames its container lists decode, e.g. an interrupted
download) is embedded from the frames that decode, with a warning on stderr and in the summary
(`--truncated warn`, the default), or fails like an unreadable one (`--truncated fail`). `--json`
prints one JSON object per video on stdout: `{"video", "ok", "output", "frames", "decoded",
"expected", "warning"}`, or `{"video", "ok": false, "error", "decoded", "expected"}`.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys
from collections.abc import Iterable

import vidcls_keras  # noqa: F401  (KERAS_BACKEND=jax before keras is imported)
from vidcls_keras.clip.specs import DEFAULT_PRESET
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import ensure_dir
from vidcls_keras.video import FRAME_SAMPLINGS, VIDEO_EXTENSIONS


def _video_paths(inputs: Iterable[str]) -> list[pathlib.Path]:
    """Files as given; folders are searched (not recursively) for `VIDEO_EXTENSIONS` files.

    A folder with no such file is named on stderr and skipped; the other inputs go on.
    """
    paths = []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            children = list(path.iterdir())
            videos = sorted(
                child
                for child in children
                if child.is_file() and child.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not videos:
                subfolders = sum(child.is_dir() for child in children)
                print(
                    f"{item}: no video files ({' '.join(VIDEO_EXTENSIONS)}) in this folder, "
                    "skipped"
                    + (
                        f" (its {subfolders} subfolders are not searched: pass them)"
                        if subfolders
                        else ""
                    ),
                    file=sys.stderr,
                )
            paths += videos
        else:
            paths.append(path)  # missing files are reported by the pipeline, with the others
    return paths


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.embed`."""
    from vidcls_keras.embedding.pipeline import (
        DEFAULT_NUM_FRAMES,
        DEFAULT_TRUNCATED,
        TRUNCATED_POLICIES,
    )

    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.embed",
        description="Embed evenly spaced frames of videos with CLIP; one .npy (k, D) per video.",
    )
    parser.add_argument(
        "videos", nargs="*", help="video files, or folders of videos (or --dataset, below)"
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_NUM_FRAMES,
        help=f"evenly spaced frames per video (default {DEFAULT_NUM_FRAMES})",
    )
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output folder")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--preset",
        help=f"KerasCV CLIP preset name or local preset folder (default {DEFAULT_PRESET})",
    )
    source.add_argument("--hf", help="Hugging Face CLIP checkpoint folder (save_pretrained)")
    source.add_argument("--tiny", type=int, metavar="SEED", help="small random encoder (tests)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="videos decoded at once, at the lowest priority, while the encoder runs (default: the "
        "cores, 1 to 8)",
    )
    parser.add_argument(
        "--frame-sampling",
        choices=FRAME_SAMPLINGS,
        default="exact",
        help="'exact': the evenly spaced frames; 'keyframes': the keyframe nearest each "
        "(approximate, decodes keyframes only: much faster on long videos; needs pip install av) "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--truncated",
        choices=TRUNCATED_POLICIES,
        default=DEFAULT_TRUNCATED,
        help="a video decoding to under 3/4 of the frames its container lists: 'warn' embeds "
        "the frames that decode and says so, 'fail' treats it as unreadable (default %(default)s)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per video on stdout (output file, frames, decoded and "
        "expected frame counts, warning or error)",
    )
    table = parser.add_argument_group(
        "a dataset split as one table (id, label, title, vector) in --out, instead of videos"
    )
    table.add_argument("--dataset", help="a built TFDS dataset, name or name/config")
    table.add_argument("--data-dir", default=None, help="TFDS data_dir it was built in")
    table.add_argument("--split", default="all", help="split name or expression (all)")
    table.add_argument(
        "--video-embedding",
        metavar="RUN",
        default=None,
        help="an aligned run's folder: its video embeddings (default: mean-pooled frames)",
    )
    return parser


def _export_table(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`--dataset`: writes the split's vectors as `.npz` (+ `.parquet`); 0, or 2 on a user error."""
    from vidcls_keras.retrieval.embedding_table import table_stem, write_embedding_table
    from vidcls_keras.retrieval.video_embeddings import split_video_index

    if args.dataset is None:
        parser.error("--video-embedding RUN needs --dataset NAME (it exports a dataset split).")
    if args.videos:
        parser.error("give video files or --dataset, not both.")
    if args.preset or args.hf or args.tiny is not None:
        parser.error(
            "--dataset exports the embeddings the dataset holds (made by its own embedder); "
            "--preset, --hf and --tiny choose the encoder for video files only."
        )
    try:
        ensure_dir(args.out, "--out")
        index = split_video_index(args.dataset, args.split, args.data_dir, run=args.video_embedding)
        written = write_embedding_table(index, args.out, table_stem(args.dataset, args.split))
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {len(index)} video vectors ({index.embeddings.shape[1]}-d, {index.source}) to "
        + ", ".join(str(path) for path in written),
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns 0, 1 if some videos could not be read, 2 on bad usage.

    Args:
        argv: arguments without the program name; None reads `sys.argv`.
    """
    import numpy as np
    from tqdm import tqdm

    from vidcls_keras.clip.image import FrameEmbedder
    from vidcls_keras.embedding.pipeline import PipelineStats, embed_videos

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset is not None or args.video_embedding is not None:
        return _export_table(parser, args)
    if not args.videos:
        parser.error("give video files or folders, or --dataset NAME to export a split's vectors.")
    if args.frames < 1 or (args.workers is not None and args.workers < 1):
        parser.error("--frames and --workers must be >= 1")
    paths = _video_paths(args.videos)
    if not paths:
        parser.error(f"no video files found in {args.videos}")
    stems = collections.Counter(path.stem for path in paths)
    clashes = sorted(stem for stem, count in stems.items() if count > 1)
    if clashes:
        parser.error(f"several videos would write the same <stem>.npy: {clashes}; rename them")
    in_the_way = sorted(
        str(args.out / f"{stem}.npy") for stem in stems if (args.out / f"{stem}.npy").is_dir()
    )
    if in_the_way:
        parser.error(f"--out {args.out}: {in_the_way} are folders, not files; move them away")

    if args.hf:
        spec = f"hf:{args.hf}"
    elif args.tiny is not None:
        spec = f"tiny:{args.tiny}"
    else:
        spec = f"preset:{args.preset or DEFAULT_PRESET}"
    try:
        # The folder first: a path that cannot be one is refused before the encoder loads.
        ensure_dir(args.out, "--out")
        embedder = FrameEmbedder.from_spec(spec)
    except VidclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    failures, truncated = [], []
    stats = PipelineStats()
    progress = tqdm(total=len(paths), unit="video", desc="embedding", file=sys.stderr)
    results = embed_videos(
        embedder,
        paths,
        args.frames,
        workers=args.workers,
        stats=stats,
        truncated=args.truncated,
        frame_sampling=args.frame_sampling,
    )
    for result in results:
        record = {"video": result.path, "ok": result.error is None}
        if result.error is not None:
            failures.append((result.path, result.error))
            record["error"] = str(result.error)
        else:
            output = args.out / f"{pathlib.Path(result.path).stem}.npy"
            np.save(output, result.embeddings)
            record.update(output=str(output), frames=len(result.embeddings))
            record["warning"] = result.warning or None
            if result.warning:
                truncated.append(result.warning)
        record.update(decoded=result.decoded, expected=result.expected)
        if args.json:
            progress.clear()
            print(json.dumps(record), flush=True)
        progress.update()
        progress.set_postfix(frames_per_s=f"{stats.frames / max(stats.wall_s, 1e-9):.1f}")
    progress.close()

    written = len(paths) - len(failures)
    print(
        f"wrote {written} embedding files ({stats.frames} frames, {embedder.spec}) to {args.out}",
        file=sys.stderr,
    )
    if truncated:
        print(
            f"{len(truncated)} of {len(paths)} videos are truncated, embedded from the frames "
            "that decode (--truncated fail to refuse them):",
            file=sys.stderr,
        )
        for warning in truncated:
            print(f"  {warning}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(paths)} videos could not be read:", file=sys.stderr)
        for path, error in failures:
            message = str(error)  # VideoDecodeError messages start with the path
            print(
                f"  {message if message.startswith(path) else f'{path}: {message}'}",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
