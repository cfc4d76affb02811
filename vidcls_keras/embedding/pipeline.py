"""Videos -> CLIP frame embeddings, one `.npy` per video, with decoding overlapped with the encoder.

    python -m vidcls_keras.embed videos/*.mp4 --frames 100 --out embeddings/
    python -m vidcls_keras.embed videos/ --frames 16 --out embeddings/ --tiny 0   # no weights

writes `embeddings/<video stem>.npy`, float32 `(k, D)` (k <= --frames; one row per sampled frame).
Videos that cannot be read are listed at the end with the reason, and the exit status is 1 (the
others are still written). The encoder comes from `--preset NAME_OR_DIR` (default
clip-vit-base-patch32, downloaded by KerasCV), `--hf DIR` (a Hugging Face CLIP checkpoint) or
`--tiny SEED` (a small random encoder for trying the pipeline).

`embed_videos` is the pipeline of this CLI and of bench/embed_throughput.py. (The TFDS builders
embed each video in batches of its own instead, so a video's embeddings are bit-identical whatever
else a build embeds: resumed, plain or Beam; see `tfds_videos.EmbeddingJob`.) A thread pool decodes
(`video.sample_frames`) and preprocesses (`clip.center_crop_uint8`, `clip.normalize`) the next
videos while the encoder runs; OpenCV, PIL and XLA release the GIL, so the stages overlap. Frames
of consecutive videos are packed into full encoder batches, so only the very last batch is padded
(100 frames in batches of 32 would otherwise waste 28 of every 128 rows).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import pathlib
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from vidcls_keras.clip import image as clip  # noqa: E402
from vidcls_keras.video import VIDEO_EXTENSIONS, VideoDecodeError, sample_frames  # noqa: E402

DEFAULT_NUM_FRAMES = 100


class EmbeddedVideo(NamedTuple):
    """One video's result from `embed_videos`: embeddings and crops, or why it failed.

    Attributes:
        path: the video, as given.
        embeddings: float32 `(k, D)`, one row per sampled frame; None when `error` is set.
        frames: uint8 `(k, S, S, 3)`, the resized and center-cropped frames the encoder saw
            (before normalization); None when `error` is set.
        error: the `VideoDecodeError` that stopped this video, else None.
    """

    path: str
    embeddings: np.ndarray | None
    frames: np.ndarray | None
    error: VideoDecodeError | None


@dataclasses.dataclass
class PipelineStats:
    """Where `embed_videos` spent its time (pass one in to have it filled).

    The stages overlap: `decode_s` and `preprocess_s` are summed over the loading threads,
    `embed_s` is the consumer's time in the encoder (dispatching batches and waiting for
    results), `wait_s` its time waiting for a video to be loaded (the encoder idling).
    """

    videos: int = 0
    failed: int = 0
    frames: int = 0
    decode_s: float = 0.0
    preprocess_s: float = 0.0
    embed_s: float = 0.0
    wait_s: float = 0.0
    wall_s: float = 0.0


class _Loaded(NamedTuple):
    path: str
    crops: np.ndarray | None
    pixels: np.ndarray | None
    error: VideoDecodeError | None
    decode_s: float
    preprocess_s: float


def _load(path: str, num_frames: int, image_size: int) -> _Loaded:
    """Decodes and preprocesses one video (runs in a loading thread)."""
    start = time.perf_counter()
    try:
        frames = sample_frames(path, num_frames)
    except VideoDecodeError as error:
        return _Loaded(path, None, None, error, time.perf_counter() - start, 0.0)
    decoded = time.perf_counter()
    crops = clip.center_crop_uint8(frames, image_size)
    pixels = clip.normalize(crops)
    return _Loaded(path, crops, pixels, None, decoded - start, time.perf_counter() - decoded)


class _PackedEncoder:
    """Runs a stream of frames through the encoder in full batches, across video boundaries.

    `push` queues pixels and dispatches every full batch (asynchronously on JAX); `flush`
    dispatches the rest, zero-padded; `take(n)` returns the next `n` embeddings in push order,
    waiting for their batches.
    """

    def __init__(self, embedder: clip.FrameEmbedder) -> None:
        self._embedder = embedder
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0
        self._dispatched: collections.deque[tuple[object, int]] = collections.deque()
        self._ready: list[np.ndarray] = []
        self.available = 0  # frames dispatched and not yet taken

    def push(self, pixels: np.ndarray) -> None:
        if len(pixels):
            self._queue.append(pixels)
            self._queued += len(pixels)
        while self._queued >= self._embedder.batch_size:
            self._dispatch()

    def flush(self) -> None:
        while self._queued:
            self._dispatch()

    def _dispatch(self) -> None:
        size = self._embedder.batch_size
        rows = min(size, self._queued)
        batch = np.zeros((size, *self._embedder.input_shape), np.float32)
        filled = 0
        while filled < rows:
            pixels = self._queue.popleft()
            used = min(len(pixels), rows - filled)
            batch[filled : filled + used] = pixels[:used]
            if used < len(pixels):
                self._queue.appendleft(pixels[used:])
            filled += used
        self._queued -= rows
        self._dispatched.append((self._embedder.embed_batch(batch), rows))
        self.available += rows

    def take(self, count: int) -> np.ndarray:
        if count > self.available:
            raise RuntimeError(f"take({count}) with only {self.available} frames dispatched")
        have = sum(len(rows) for rows in self._ready)
        while have < count:
            output, rows = self._dispatched.popleft()
            self._ready.append(np.asarray(output, np.float32)[:rows])
            have += rows
        stacked = (
            np.concatenate(self._ready)
            if self._ready
            else np.zeros((0, self._embedder.embed_dim), np.float32)
        )
        self._ready = [stacked[count:]] if count < len(stacked) else []
        self.available -= count
        return stacked[:count]


def embed_videos(
    embedder: clip.FrameEmbedder,
    paths: Iterable[str | os.PathLike],
    num_frames: int = DEFAULT_NUM_FRAMES,
    *,
    workers: int = 1,
    prefetch: int = 2,
    stats: PipelineStats | None = None,
) -> Iterator[EmbeddedVideo]:
    """Samples, preprocesses and embeds videos, overlapping decoding with the encoder.

    Results come in the order of `paths`. A video that cannot be read yields an
    `EmbeddedVideo` with `error` set (a `VideoDecodeError`); other exceptions propagate.
    Each result equals `embedder.embed_video(path, num_frames)` (up to float rounding of the
    batched matmuls, < 1e-5 relative), plus the uint8 crops.

    Args:
        embedder: the CLIP frame embedder.
        paths: video files.
        num_frames: evenly spaced frames per video (all of a shorter video's frames).
        workers: loading threads (decode + preprocess). One keeps up with the encoder on 2
            cores; more help when decoding dominates (long or high-resolution videos).
        prefetch: videos loaded ahead of the encoder (bounds memory: about 75 MB per 100
            frames in flight).
        stats: filled with stage timings when given.

    Yields:
        `EmbeddedVideo(path, embeddings (k, D) float32, frames (k, S, S, 3) uint8, error)`.
    """
    if workers < 1 or prefetch < 1:
        raise ValueError(f"workers and prefetch must be >= 1, got {workers} and {prefetch}")
    stats = stats if stats is not None else PipelineStats()
    started = time.perf_counter()
    encoder = _PackedEncoder(embedder)
    pending: collections.deque[_Loaded] = collections.deque()  # loaded, not yet yielded

    def finished(final: bool) -> Iterator[EmbeddedVideo]:
        while pending:
            head = pending[0]
            if head.error is None and encoder.available < len(head.crops):
                if not final:
                    return
                encoder.flush()
            pending.popleft()
            if head.error is not None:
                stats.failed += 1
                yield EmbeddedVideo(head.path, None, None, head.error)
                continue
            start = time.perf_counter()
            embeddings = encoder.take(len(head.crops))
            stats.embed_s += time.perf_counter() - start
            stats.frames += len(embeddings)
            yield EmbeddedVideo(head.path, embeddings, head.crops, None)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vidcls-load")
    try:
        loading: collections.deque[Future] = collections.deque()
        path_iterator = iter(paths)

        def submit_next() -> None:
            for path in path_iterator:
                loading.append(pool.submit(_load, os.fspath(path), num_frames, embedder.image_size))
                return

        for _ in range(prefetch):
            submit_next()
        while loading:
            start = time.perf_counter()
            loaded = loading.popleft().result()
            stats.wait_s += time.perf_counter() - start
            submit_next()
            stats.videos += 1
            stats.decode_s += loaded.decode_s
            stats.preprocess_s += loaded.preprocess_s
            if loaded.error is None:
                start = time.perf_counter()
                encoder.push(loaded.pixels)
                stats.embed_s += time.perf_counter() - start
            # Drop the pixels here: they now live in the encoder's queue or batches.
            pending.append(loaded._replace(pixels=None))
            stats.wall_s = time.perf_counter() - started
            yield from finished(final=False)
        start = time.perf_counter()
        encoder.flush()
        stats.embed_s += time.perf_counter() - start
        yield from finished(final=True)
        stats.wall_s = time.perf_counter() - started
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def _video_paths(inputs: Iterable[str]) -> list[pathlib.Path]:
    """Files as given; folders are searched (not recursively) for `VIDEO_EXTENSIONS` files."""
    paths = []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            paths += sorted(
                child
                for child in path.iterdir()
                if child.is_file() and child.suffix.lower() in VIDEO_EXTENSIONS
            )
        else:
            paths.append(path)  # missing files are reported by the pipeline, with the others
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.embed",
        description="Embed evenly spaced frames of videos with CLIP; one .npy (k, D) per video.",
    )
    parser.add_argument("videos", nargs="+", help="video files, or folders of videos")
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
        help=f"KerasCV CLIP preset name or local preset folder (default {clip.DEFAULT_PRESET})",
    )
    source.add_argument("--hf", help="Hugging Face CLIP checkpoint folder (save_pretrained)")
    source.add_argument("--tiny", type=int, metavar="SEED", help="small random encoder (tests)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=clip.DEFAULT_BATCH_SIZE,
        help=f"frames per encoder call (default {clip.DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument("--workers", type=int, default=1, help="decoding threads (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns 0, 1 if some videos could not be read, 2 on bad usage.

    Args:
        argv: arguments without the program name; None reads `sys.argv`.
    """
    from tqdm import tqdm

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 1 or args.batch_size < 1 or args.workers < 1:
        parser.error("--frames, --batch-size and --workers must be >= 1")
    paths = _video_paths(args.videos)
    if not paths:
        parser.error(f"no video files found in {args.videos}")
    stems = collections.Counter(path.stem for path in paths)
    clashes = sorted(stem for stem, count in stems.items() if count > 1)
    if clashes:
        parser.error(f"several videos would write the same <stem>.npy: {clashes}; rename them")

    if args.hf:
        spec = f"hf:{args.hf}"
    elif args.tiny is not None:
        spec = f"tiny:{args.tiny}"
    else:
        spec = f"preset:{args.preset or clip.DEFAULT_PRESET}"
    try:
        embedder = clip.FrameEmbedder.from_spec(spec)
    except ValueError as error:  # CheckpointError included
        print(f"error: {error}", file=sys.stderr)
        return 2
    embedder.batch_size = args.batch_size
    args.out.mkdir(parents=True, exist_ok=True)

    failures: list[tuple[str, VideoDecodeError]] = []
    stats = PipelineStats()
    progress = tqdm(total=len(paths), unit="video", desc="embedding", file=sys.stderr)
    for result in embed_videos(embedder, paths, args.frames, workers=args.workers, stats=stats):
        if result.error is not None:
            failures.append((result.path, result.error))
        else:
            np.save(args.out / f"{pathlib.Path(result.path).stem}.npy", result.embeddings)
        progress.update()
        progress.set_postfix(frames_per_s=f"{stats.frames / max(stats.wall_s, 1e-9):.1f}")
    progress.close()

    written = len(paths) - len(failures)
    print(
        f"wrote {written} embedding files ({stats.frames} frames, {embedder.spec}) to {args.out}",
        file=sys.stderr,
    )
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
