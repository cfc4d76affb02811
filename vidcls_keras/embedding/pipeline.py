"""The one path from a video file to its CLIP frame embeddings `(k, D)`.

    frames  = video.read_frames(path, num_frames).frames   # decode: (k, H, W, 3) uint8
    crops   = clip.center_crop_uint8(frames)               # resize + crop: (k, 224, 224, 3) uint8
    pixels  = clip.normalize(crops)                        # CLIP normalisation, float32
    output  = embed_pixels(embedder, pixels, num_frames)   # fixed-shape encoder calls: (k, D)

Every user of embeddings calls this module: the TFDS builders (`vidcls_keras.datasets`), the
`embed` command, `predict` (`VideoClassifier`), the benchmarks and the demo. So a video's
embeddings are bit for bit the same wherever they are computed: the dataset a model trained on
and the prediction path agree (tested in tests/embedding/test_pipeline.py).

Bit-identical needs one batching rule. XLA's matmuls give last-bit differences between batch
shapes and between rows of a batch, so a video is always embedded on its own, in
`encoder_batch_size(num_frames)`-row calls (zero-padded at the end), never packed with frames of
another video: its embeddings then do not depend on which other videos are embedded with it
(resumed, plain or Beam builds, one file or a folder).

A truncated video (fewer than 3/4 of the frames its container lists decode:
`vidcls_keras.video.is_truncated`) is never silent: `video.read_frames` logs a WARNING,
`LoadedVideo` / `EmbeddedVideo` carry `decoded` and `expected`, and the `truncated` policy
(`TRUNCATED_POLICIES`) says whether it is embedded from the frames that decode ("warn", the
default) or fails with `TruncatedVideoError` ("fail"). See `check_truncated_policy` for why
"warn" is the default.

`embed_videos` overlaps the CPU half (`load_video`: decode + preprocess, in threads; OpenCV, PIL
and XLA release the GIL) of the next videos with the encoder half of the current one; the threads
are sized to the machine (`default_workers`) and run nicer than the encoder
(`lower_thread_priority`), so that on a CPU decoding fills the encoder's gaps instead of stalling
its ops.

`frame_sampling="keyframes"` (opt-in, approximate: `vidcls_keras.video.read_frames`) takes the
keyframe nearest each evenly spaced position and decodes keyframes only; its embeddings are
another dataset's, never mixed with exact ones (the embedding cache keys them apart).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from vidcls_keras.clip.preprocessing import CLIP_IMAGE_SIZE, center_crop_uint8, normalize
from vidcls_keras.errors import VidclsError
from vidcls_keras.video import (
    FrameCount,
    FrameSampling,
    TruncatedVideoError,
    VideoDecodeError,
    check_frame_sampling,
    read_frames,
    truncation_message,
)

if TYPE_CHECKING:
    from vidcls_keras.clip.image import FrameEmbedder

DEFAULT_NUM_FRAMES = 100
MAX_ENCODER_BATCH = 32  # the fastest of 8/16/32/64 frames per call on 2 CPU cores
DEFAULT_FRAME_SAMPLING: FrameSampling = "exact"


def default_workers() -> int:
    """Videos decoded at once while the encoder runs, sized to the machine: its cores, 1-8.

    The decoding threads run at the lowest priority (`lower_thread_priority`), so they take
    only what the encoder leaves: while it runs they fill its gaps, and when it waits for the
    next video every core decodes. On 2 cores, 2 niced workers embedded 4 x 100 frames of
    10-minute videos in 0.80-0.98 of the wall time of the earlier default (1 worker at the
    encoder's priority) on 7 of 8 video and mode pairs, 1.08 on one (bench/long_videos.py).
    """
    return max(1, min(8, os.cpu_count() or 1))


# Decoding threads run this much nicer than the encoder (Linux): the most there is. On a CPU, XLA
# splits each of the encoder's ops over every core and waits for the slowest part, so a decoding
# thread that takes a core for a moment stalls the whole op. Measured on 2 cores, 4 x 100 frames
# of 10-minute 640x360 videos (a keyframe every 5 s; bench/long_videos.py --decode-niceness N
# --workers W), wall seconds at niceness 0 / 10 / 19 with 2 workers (0 with 1: the old default):
# smooth H.264 exact 27.6 (1 worker) / 25.2 / 24.6, smooth VP9 exact 26.1 / 24.5 / 23.4, textured
# H.264 in keyframe mode 25.7 / 23.4 / 22.8; 19 was the fastest, or tied, on 7 of the 8 video and
# mode pairs (textured VP9 in keyframe mode: 21.8 / 22.4 / 23.5).
DECODE_NICENESS = 19


def lower_thread_priority(niceness: int | None = None) -> None:
    """Makes the calling thread `niceness` nicer (Linux only; elsewhere, or if refused, nothing).

    The initializer of the decoding threads (`embed_videos`, the TFDS builders): threads that
    FFmpeg starts from them inherit it, and the encoder's threads keep their priority. Linux
    applies `setpriority` to one thread when given its id; an unprivileged process can raise its
    niceness but never lower it back, so call it only in threads that do nothing else. (On a
    machine busy with other work, decoding then waits for it too.)

    Args:
        niceness: added to the thread's current niceness (capped at 19); None:
            `DECODE_NICENESS`.
    """
    niceness = DECODE_NICENESS if niceness is None else niceness
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + niceness))
    except OSError:  # a sandbox that forbids it: decoding still works, only less well overlapped
        pass


TruncatedPolicy = Literal["warn", "fail"]
TRUNCATED_POLICIES: tuple[str, ...] = ("warn", "fail")
DEFAULT_TRUNCATED: TruncatedPolicy = "warn"


class TruncatedPolicyError(VidclsError):
    """A `truncated` policy that is neither "warn" nor "fail"."""


def check_truncated_policy(policy: str, source: str = "truncated") -> TruncatedPolicy:
    """Validates what to do with a truncated video: "warn" (default) or "fail".

    - "warn": embed the frames that decode; the video is flagged (a WARNING in the log,
      `decoded` / `expected` in every result and report). The default, because the frames that
      decode are real frames of the video, and the promised count is the container's estimate:
      failing on it would drop videos from datasets on a heuristic. Visible is what matters.
    - "fail": the video fails like an undecodable one (`TruncatedVideoError`, a
      `VideoDecodeError`): for datasets that must hold only whole videos.

    Args:
        policy: the value given.
        source: where it came from, named in the error (`--truncated`, `$VIDCLS_TRUNCATED`).

    Raises:
        TruncatedPolicyError: any other value.
    """
    if policy not in TRUNCATED_POLICIES:
        raise TruncatedPolicyError(
            f"{source}={policy!r}: must be one of {', '.join(TRUNCATED_POLICIES)} (what to do "
            "with a video that decodes to far fewer frames than its container lists)."
        )
    return policy


def apply_truncated_policy(count: FrameCount, policy: str) -> None:
    """Raises `TruncatedVideoError` when `count` is truncated and `policy` is "fail".

    Raises:
        vidcls_keras.video.TruncatedVideoError: naming the file, both counts and the fix.
    """
    if policy == "fail" and count.truncated:
        raise TruncatedVideoError(
            f"{count.warning}; refused under the 'fail' policy for truncated videos: re-download "
            "or repair the file, or embed the frames that decode with the 'warn' policy "
            "(--truncated warn; VIDCLS_TRUNCATED=warn for tfds build)",
            count.decoded,
            count.expected,
        )


def encoder_batch_size(num_frames: int) -> int:
    """Rows per encoder call for `num_frames`-frame videos: equal calls of at most 32 rows.

    100 -> 4 calls of 25, 16 -> 1 call of 16: a full-length video needs no padding rows. A change
    of this rule changes embeddings in their last bits, so it must bump
    `vidcls_keras.embedding.cache.CACHE_FORMAT`.

    Args:
        num_frames: frames sampled per video (the dataset config's `num_frames`).

    Returns:
        The batch size, between 1 and `MAX_ENCODER_BATCH`.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    calls = math.ceil(num_frames / MAX_ENCODER_BATCH)
    return math.ceil(num_frames / calls)


class LoadedVideo(NamedTuple):
    """A video after the CPU half of the pipeline.

    Attributes:
        path: the video, as given.
        crops: uint8 `(k, S, S, 3)`, the resized, center-cropped frames the encoder sees.
        pixels: float32 `(k, S, S, 3)`, `crops` CLIP-normalised.
        decoded: frames of the whole video that decode.
        expected: frames its container lists, when plausible, else None.
    """

    path: str
    crops: np.ndarray
    pixels: np.ndarray
    decoded: int
    expected: int | None

    @property
    def warning(self) -> str:
        """The truncation warning, "" when the video is whole (`video.truncation_message`)."""
        return truncation_message(self.path, self.decoded, self.expected)


def load_video(
    path: str | os.PathLike,
    num_frames: int,
    image_size: int = CLIP_IMAGE_SIZE,
    *,
    truncated: TruncatedPolicy = DEFAULT_TRUNCATED,
    frame_sampling: FrameSampling = DEFAULT_FRAME_SAMPLING,
) -> LoadedVideo:
    """Decodes `num_frames` evenly spaced frames and preprocesses them for CLIP.

    Args:
        path: a video file.
        num_frames: frames wanted; a shorter video gives all of its frames (k <= num_frames).
        image_size: side S of the square encoder input.
        truncated: "warn" or "fail" for a truncated video (see `check_truncated_policy`).
        frame_sampling: "exact" (default) or "keyframes" (`vidcls_keras.video.read_frames`).

    Returns:
        `LoadedVideo(path, crops (k, S, S, 3) uint8, pixels (k, S, S, 3) float32, decoded,
        expected)`.

    Raises:
        vidcls_keras.video.VideoDecodeError: the file cannot be decoded.
        vidcls_keras.video.TruncatedVideoError: truncated, under `truncated="fail"`.
    """
    check_truncated_policy(truncated)
    frames, count = read_frames(path, num_frames, frame_sampling=frame_sampling)
    apply_truncated_policy(count, truncated)
    crops = center_crop_uint8(frames, image_size)
    return LoadedVideo(os.fspath(path), crops, normalize(crops), count.decoded, count.expected)


def embed_pixels(embedder: FrameEmbedder, pixels: np.ndarray, num_frames: int) -> np.ndarray:
    """Embeds one video's CLIP-normalised frames with the batching rule of the datasets.

    Args:
        embedder: the CLIP image tower.
        pixels: float32 `(k, S, S, 3)`, `k <= num_frames` (may be 0).
        num_frames: frames per video of the dataset or run (sets `encoder_batch_size`).

    Returns:
        float32 `(k, D)`.
    """
    embeddings = embedder.embed(pixels, batch_size=encoder_batch_size(num_frames))
    return np.asarray(embeddings, dtype=np.float32)


def embed_frames(embedder: FrameEmbedder, frames: np.ndarray, num_frames: int) -> np.ndarray:
    """Preprocesses uint8 frames `(k, H, W, 3)` and embeds them: float32 `(k, D)`."""
    crops = center_crop_uint8(np.asarray(frames), embedder.image_size)
    return embed_pixels(embedder, normalize(crops), num_frames)


def embed_video(
    embedder: FrameEmbedder,
    path: str | os.PathLike,
    num_frames: int,
    *,
    truncated: TruncatedPolicy = DEFAULT_TRUNCATED,
    frame_sampling: FrameSampling = DEFAULT_FRAME_SAMPLING,
) -> np.ndarray:
    """The embeddings of one video file: float32 `(k, D)`, `k <= num_frames`.

    Raises:
        vidcls_keras.video.VideoDecodeError: the file cannot be decoded (or is truncated,
            under `truncated="fail"`).
    """
    loaded = load_video(
        path, num_frames, embedder.image_size, truncated=truncated, frame_sampling=frame_sampling
    )
    return embed_pixels(embedder, loaded.pixels, num_frames)


class EmbeddedVideo(NamedTuple):
    """One video's result from `embed_videos`: embeddings and crops, or why it failed.

    Attributes:
        path: the video, as given.
        embeddings: float32 `(k, D)`; None when `error` is set.
        frames: uint8 `(k, S, S, 3)`, the crops the encoder saw; None when `error` is set.
        error: the `VideoDecodeError` that stopped this video, else None.
        decoded: frames of the whole video that decode; None when that is unknown (an error
            before or while decoding, except `TruncatedVideoError`, which carries both counts).
        expected: frames its container lists, when plausible, else None.
    """

    path: str
    embeddings: np.ndarray | None
    frames: np.ndarray | None
    error: VideoDecodeError | None
    decoded: int | None = None
    expected: int | None = None

    @property
    def warning(self) -> str:
        """The truncation warning of a video embedded anyway ("warn"), else ""."""
        if self.error is not None or self.decoded is None:
            return ""
        return truncation_message(self.path, self.decoded, self.expected)


@dataclasses.dataclass
class PipelineStats:
    """Where `embed_videos` spent its time (pass one in to have it filled).

    `load_s` is summed over the loading threads (decode + preprocess), `embed_s` is the consumer's
    time in the encoder, `wait_s` its time waiting for a video to be loaded (the encoder idling).
    """

    videos: int = 0
    failed: int = 0
    truncated: int = 0  # embedded although truncated ("warn"); under "fail" they count as failed
    frames: int = 0
    load_s: float = 0.0
    embed_s: float = 0.0
    wait_s: float = 0.0
    wall_s: float = 0.0


def _timed_load(
    path: str,
    num_frames: int,
    image_size: int,
    truncated: TruncatedPolicy,
    frame_sampling: FrameSampling = DEFAULT_FRAME_SAMPLING,
):
    """`(path, LoadedVideo or the VideoDecodeError, seconds)`, for a loading thread."""
    start = time.perf_counter()
    try:
        loaded: LoadedVideo | VideoDecodeError = load_video(
            path, num_frames, image_size, truncated=truncated, frame_sampling=frame_sampling
        )
    except VideoDecodeError as error:
        loaded = error
    return path, loaded, time.perf_counter() - start


def embed_videos(
    embedder: FrameEmbedder,
    paths: Iterable[str | os.PathLike],
    num_frames: int = DEFAULT_NUM_FRAMES,
    *,
    workers: int | None = None,
    prefetch: int = 2,
    stats: PipelineStats | None = None,
    truncated: TruncatedPolicy = DEFAULT_TRUNCATED,
    frame_sampling: FrameSampling = DEFAULT_FRAME_SAMPLING,
) -> Iterator[EmbeddedVideo]:
    """`embed_video` over many files, loading the next videos while the encoder runs.

    Results come in the order of `paths`, each bit-identical to `embed_video(embedder, path,
    num_frames)`. A video that cannot be read yields an `EmbeddedVideo` with `error` set; other
    exceptions propagate.

    Args:
        embedder: the CLIP image tower.
        paths: video files.
        num_frames: evenly spaced frames per video.
        workers: loading threads; None: `default_workers()` (the cores, 1 to 8). They run at
            the lowest priority (`lower_thread_priority`): they fill the encoder's gaps, and
            all decode while it waits.
        prefetch: videos loaded ahead of the encoder, at least `workers` (bounds memory: about
            75 MB per 100 frames).
        stats: filled with stage timings when given.
        truncated: "warn" or "fail" for a truncated video (see `check_truncated_policy`).
        frame_sampling: "exact" (default) or "keyframes" (`vidcls_keras.video.read_frames`).

    Yields:
        `EmbeddedVideo(path, embeddings (k, D) float32, frames (k, S, S, 3) uint8, error,
        decoded, expected)`.
    """
    workers = default_workers() if workers is None else workers
    if workers < 1 or prefetch < 1:
        raise ValueError(f"workers and prefetch must be >= 1, got {workers} and {prefetch}")
    check_truncated_policy(truncated)
    check_frame_sampling(frame_sampling)
    stats = stats if stats is not None else PipelineStats()
    started = time.perf_counter()
    pool = ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="vidcls-load", initializer=lower_thread_priority
    )
    try:
        loading: collections.deque[Future] = collections.deque()
        path_iterator = iter(paths)

        def submit_next() -> None:
            for path in path_iterator:
                loading.append(
                    pool.submit(
                        _timed_load,
                        os.fspath(path),
                        num_frames,
                        embedder.image_size,
                        truncated,
                        frame_sampling,
                    )
                )
                return

        for _ in range(max(prefetch, workers)):
            submit_next()
        while loading:
            start = time.perf_counter()
            path, loaded, load_s = loading.popleft().result()
            stats.wait_s += time.perf_counter() - start
            submit_next()
            stats.videos += 1
            stats.load_s += load_s
            if isinstance(loaded, VideoDecodeError):
                stats.failed += 1
                counts = (
                    (loaded.decoded, loaded.expected)
                    if isinstance(loaded, TruncatedVideoError)
                    else (None, None)
                )
                yield EmbeddedVideo(path, None, None, loaded, *counts)
                continue
            start = time.perf_counter()
            embeddings = embed_pixels(embedder, loaded.pixels, num_frames)
            stats.embed_s += time.perf_counter() - start
            stats.frames += len(embeddings)
            stats.truncated += bool(loaded.warning)
            stats.wall_s = time.perf_counter() - started
            yield EmbeddedVideo(
                loaded.path, embeddings, loaded.crops, None, loaded.decoded, loaded.expected
            )
        stats.wall_s = time.perf_counter() - started
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
