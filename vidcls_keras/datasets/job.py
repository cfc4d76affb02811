"""One video -> one TFDS example, through the embedding cache and `vidcls_keras.embedding`.

    list videos -> assign_splits -> EmbeddingJob per video -> (key, example) -> TFDS writer
                                    (plain generator, or Beam when tfds build gets Beam options)

Per video, `EmbeddingJob` hashes the file, looks it up in the embedding cache, and on a miss runs
the project's one embedding path (`embedding.pipeline.load_video` then `embed_pixels`), storing the
result in the cache (atomically, so a killed build leaves no half entry and a rerun embeds only
what is missing).

Every video's row in the build report carries `decoded` (frames that decode) and `expected`
(frames its container lists, when plausible): a truncated video is embedded with a WARNING and a
`warning` in its row (policy "warn"), or fails (policy "fail"); see `EmbeddingJob.truncated`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from vidcls_keras.datasets.features import frame_index
from vidcls_keras.datasets.listing import Video, VideoListError
from vidcls_keras.datasets.report import write_status
from vidcls_keras.embedding.cache import (
    CorruptCacheEntryError,
    EmbedderMismatchError,
    EmbeddingCache,
    file_sha256,
)
from vidcls_keras.embedding.embedders import embedder_fingerprint, load_embedder
from vidcls_keras.embedding.pipeline import (
    DEFAULT_FRAME_SAMPLING,
    DEFAULT_TRUNCATED,
    apply_truncated_policy,
    default_workers,
    embed_pixels,
    load_video,
    lower_thread_priority,
)
from vidcls_keras.video import (
    FrameCount,
    TruncatedVideoError,
    VideoDecodeError,
    container_frame_count,
    probe_video,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class VideoResult:
    """What became of one video.

    Attributes:
        video: the video.
        status: `embedded` (computed now), `cached` (read from the cache), `cache_corrupt`
            (its cache entry was unreadable: moved aside, and the video embedded now) or
            `failed`.
        reason: why it failed, or which cache entry was moved where ("" otherwise).
        example: the TFDS example (None when failed).
        count: frames that decode against frames the container lists; None when the file
            could not be read that far.
    """

    video: Video
    status: str
    reason: str = ""
    example: dict[str, Any] | None = None
    count: FrameCount | None = None

    def status_row(self, split: str) -> dict[str, Any]:
        """The video's row in the build report (`decoded`/`expected` None when unknown)."""
        count = self.count
        return {
            "video_id": self.video.video_id,
            "label": self.video.label,
            "split": split,
            "status": self.status,
            "reason": self.reason,
            "path": self.video.path,
            "decoded": None if count is None else count.decoded,
            "expected": None if count is None else count.expected,
            # A truncated video that was kept (policy "warn"); a refused one has its `reason`.
            "warning": count.warning if count is not None and self.status != "failed" else "",
        }


@dataclasses.dataclass
class _Prepared:
    """A video after the CPU half of `EmbeddingJob`: hashed, looked up, decoded on a miss.

    Attributes:
        video: the video.
        content_sha256: sha256 of its file.
        embeddings: float32 `(k, D)` from the cache, or None (embed `pixels`).
        pixels: float32 `(k, 224, 224, 3)`, CLIP-normalised frames (cache miss only).
        frame: uint8 `(224, 224, 3)`, the stored frame.
        failure: why the video cannot be used ("" when it can).
        cache_corrupt: the unreadable cache entry and where it was moved ("" when none).
        count: frames that decode against frames the container lists (None: unknown).
    """

    video: Video
    content_sha256: str = ""
    embeddings: np.ndarray | None = None
    pixels: np.ndarray | None = None
    frame: np.ndarray | None = None
    failure: str = ""
    cache_corrupt: str = ""
    count: FrameCount | None = None


@dataclasses.dataclass(frozen=True)
class EmbeddingJob:
    """Turns one `Video` into a `VideoResult`; picklable, so Beam workers can run it.

    `prepare` (hash, cache lookup, decode, CLIP preprocessing) and `finish` (the encoder, cache
    write, example) are separate so that the plain path can run the next video's `prepare` in a
    thread while this one's `finish` runs; `__call__` runs both, as Beam does. The embedder is
    loaded lazily, once per process, on the first cache miss (so a fully cached rebuild never
    loads it), and its weights are checked against `fingerprint` there.

    Attributes:
        spec: embedder spec.
        fingerprint: the driver's `embedder_fingerprint(spec)`.
        embed_dim: embedding width D.
        num_frames: frames to sample per video.
        cache_root: embedding cache folder.
        truncated: policy for a video that decodes to far fewer frames than its container
            lists: "warn" (embed the frames that decode, log a WARNING, flag its report row) or
            "fail" (a failed video); see `embedding.pipeline.check_truncated_policy`. Applied
            to cache hits too, so a video cached by a "warn" build fails a "fail" build.
        frame_sampling: "exact" (default) or "keyframes" (approximate: the keyframe nearest
            each evenly spaced position; `vidcls_keras.video.read_frames`). Part of the cache
            key, so the two never mix.
    """

    spec: str
    fingerprint: str
    embed_dim: int
    num_frames: int
    cache_root: str
    truncated: str = DEFAULT_TRUNCATED
    frame_sampling: str = DEFAULT_FRAME_SAMPLING

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.cache_root, self.spec, self.fingerprint, self.embed_dim)

    def __call__(self, video: Video) -> VideoResult:
        return self.finish(self.prepare(video))

    def prepare(self, video: Video) -> _Prepared:
        """The CPU half: hash the file, look it up in the cache, decode and preprocess on a miss.

        Raises:
            EmbedderMismatchError: the cache entry was made by another embedder.
        """
        prepared = _Prepared(video)
        try:
            prepared.content_sha256 = file_sha256(video.path)
        except OSError as error:
            prepared.failure = f"cannot read the file: {error}"
            return prepared
        try:
            cached = self.cache.load(prepared.content_sha256, self.num_frames, self.frame_sampling)
        except CorruptCacheEntryError as error:  # moved aside: embed the video again
            cached, prepared.cache_corrupt = None, f"{error}; embedded again"
        if cached is not None:
            prepared.embeddings = cached["embeddings"]
            index = frame_index(video.video_id, len(prepared.embeddings))
            if int(cached["frame_index"]) == index:
                prepared.frame = cached["frame"]
                prepared.count = self._cached_count(video.path, len(prepared.embeddings))
                try:
                    apply_truncated_policy(prepared.count, self.truncated)
                except TruncatedVideoError as error:
                    prepared.failure = f"cannot decode: {error}"
                    return prepared
                if prepared.count.truncated:  # nothing was decoded: say it here
                    logger.warning("%s", prepared.count.warning)
                return prepared
            # The same file under another id stores another frame: decode it, embed nothing.
        try:
            loaded = load_video(
                video.path,
                self.num_frames,
                truncated=self.truncated,
                frame_sampling=self.frame_sampling,
            )
        except VideoDecodeError as error:
            prepared.failure = f"cannot decode: {error}"
            if isinstance(error, TruncatedVideoError):
                prepared.count = FrameCount(video.path, error.decoded, error.expected)
            return prepared
        prepared.count = FrameCount(video.path, loaded.decoded, loaded.expected)
        if prepared.embeddings is not None and len(loaded.crops) != len(prepared.embeddings):
            raise ValueError(
                f"{video.path}: {len(loaded.crops)} frames decode now, "
                f"{len(prepared.embeddings)} when it was cached: delete {self.cache.folder} (the "
                "decoder changed)."
            )
        prepared.frame = loaded.crops[frame_index(video.video_id, len(loaded.crops))]
        if prepared.embeddings is None:
            prepared.pixels = loaded.pixels
        return prepared

    def _cached_count(self, path: str, rows: int) -> FrameCount:
        """The frame counts of a cached video, without decoding it (a demux-only pass, ms).

        Fewer rows than `num_frames` means the video gave all of its frames: exactly `rows`
        decode. Otherwise the packet count stands in for the decoded count; the two are equal
        on every shared clip and on every cut of them measured (10% to 97% of the bytes).
        """
        probe = probe_video(path)
        decoded = rows if rows < self.num_frames else max(rows, probe.packets)
        expected = container_frame_count(probe.reported_frames, os.path.getsize(path))
        return FrameCount(path, decoded, expected)

    def finish(self, prepared: _Prepared) -> VideoResult:
        """The encoder half: embed on a cache miss, store the entry, build the example."""
        video = prepared.video
        if prepared.failure:
            return VideoResult(video, "failed", prepared.failure, count=prepared.count)
        if prepared.embeddings is not None:
            embeddings, status = prepared.embeddings, "cached"
        else:
            if embedder_fingerprint(self.spec) != self.fingerprint:
                raise EmbedderMismatchError(
                    f"embedder {self.spec!r} in process {os.getpid()} does not have the weights "
                    "the build started with: give every worker the same weights."
                )
            embeddings = embed_pixels(load_embedder(self.spec), prepared.pixels, self.num_frames)
            if embeddings.shape != (len(prepared.pixels), self.embed_dim):
                raise ValueError(
                    f"embedder {self.spec!r} returned shape {embeddings.shape} for "
                    f"{len(prepared.pixels)} frames; expected (k, {self.embed_dim})."
                )
            index = frame_index(video.video_id, len(embeddings))
            self.cache.save(
                prepared.content_sha256,
                self.num_frames,
                embeddings,
                prepared.frame,
                index,
                self.frame_sampling,
            )
            status = "cache_corrupt" if prepared.cache_corrupt else "embedded"
        example = {
            "video_id": video.video_id,
            "title": video.title,
            "label": video.label,
            "embeddings": np.asarray(embeddings, dtype=np.float32),
            "num_frames": np.int32(len(embeddings)),
            "frame": np.asarray(prepared.frame, dtype=np.uint8),
        }
        return VideoResult(
            video, status, prepared.cache_corrupt, example=example, count=prepared.count
        )


def plain_examples(
    videos: Sequence[Video],
    job: EmbeddingJob,
    split: str,
    status_path: str,
    workers: int | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields `(video_id, example)` in id order; decodes the next videos while embedding this one.

    `workers` threads run `job.prepare` (hash, cache lookup, decode, preprocess) of the next
    `workers` videos while the encoder (`job.finish`) runs on this one; results and their order
    are those of the one-at-a-time path, bit for bit. Writes the per-video statuses to
    `status_path` once all videos are done.

    Args:
        workers: decoding threads; None: `embedding.pipeline.default_workers()` (the cores,
            1 to 8), at the lowest priority (`embedding.pipeline.lower_thread_priority`).
    """
    rows = []
    workers = default_workers() if workers is None else max(1, int(workers))
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=workers, initializer=lower_thread_priority
    ) as pool:
        # Decoding (OpenCV, PyAV), resizing (PIL) and XLA release the GIL; `workers` videos are
        # prepared ahead, and taken in order so the output does not depend on their timing.
        upcoming = iter(videos)
        pending: collections.deque[concurrent.futures.Future] = collections.deque(
            pool.submit(job.prepare, video) for video in itertools.islice(upcoming, workers)
        )
        while pending:
            prepared = pending.popleft().result()
            for video in itertools.islice(upcoming, 1):
                pending.append(pool.submit(job.prepare, video))
            result = job.finish(prepared)
            rows.append(result.status_row(split))
            if result.example is not None:
                yield result.video.video_id, result.example
    if not any(row["status"] != "failed" for row in rows):
        raise VideoListError(
            f"split {split!r}: all {len(rows)} of its videos failed to decode "
            f"({rows[0]['reason'] if rows else 'no videos'}); TFDS cannot write an empty split."
        )
    write_status(rows, status_path)


def beam_examples(videos: Sequence[Video], job: EmbeddingJob, split: str, status_path: str):
    """The same as `plain_examples`, as a Beam `PTransform` (one element per video).

    `Reshuffle` breaks fusion with `Create`, so the runner spreads videos over its workers.
    """
    beam = tfds.core.lazy_imports.apache_beam

    def expand(pipeline):
        results = (
            pipeline
            | "Videos" >> beam.Create(list(videos))
            | "Spread" >> beam.Reshuffle()
            | "Embed" >> beam.Map(job)
        )
        _ = (
            results
            | "StatusRow" >> beam.Map(VideoResult.status_row, split)
            | "AllRows" >> beam.combiners.ToList()
            | "WriteStatus" >> beam.Map(write_status, path=status_path)
        )
        return (
            results
            | "Succeeded" >> beam.Filter(lambda result: result.example is not None)
            | "KeyExample" >> beam.Map(lambda result: (result.video.video_id, result.example))
        )

    return beam.ptransform_fn(expand)()
