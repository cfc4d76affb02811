"""One video -> one clip example (`clips16`, `clips8`): evenly spaced frames, short side 256.

    list videos -> assign_splits (by group) -> ClipJob per video -> (key, example) -> TFDS writer
                                               (plain generator, or Beam: `job.plain_examples` /
                                               `job.beam_examples`, the embedding configs' runners)

The frames come from the project's one frame-reading path (`vidcls_keras.video.read_frames`:
upright RGB, the centre of `num_frames` equal stretches of the frames that decode, the truncated
check), then each is resized so its shorter side is `short_side` (PIL bicubic, as CLIP's own
resize; aspect kept, torchvision's rounding). TFDS encodes them as JPEG (quality 95).

No cache: a clip costs one decode and a resize, nothing like an encoder pass, so an interrupted
or rebuilt clip dataset simply decodes its videos again ("cache-free resumability": the build is
a pure function of the files, so the rerun gives the same examples).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
from PIL import Image

from vidcls_keras.clip.preprocessing import resized_size
from vidcls_keras.datasets.features import CLIP_SHORT_SIDE
from vidcls_keras.datasets.job import VideoResult
from vidcls_keras.datasets.listing import Video
from vidcls_keras.embedding.pipeline import (
    DEFAULT_TRUNCATED,
    apply_truncated_policy,
    check_truncated_policy,
)
from vidcls_keras.video import (
    FrameCount,
    TruncatedVideoError,
    VideoDecodeError,
    frame_indices,
    probe_video,
    read_frames,
)


def resize_short_side(frames: np.ndarray, short_side: int = CLIP_SHORT_SIDE) -> np.ndarray:
    """Resizes frames so the shorter side is `short_side`, keeping the aspect (PIL bicubic).

    The longer side becomes `int(short_side * long / short)` (torchvision's `Resize` rule,
    `clip.preprocessing.resized_size`); smaller frames are upscaled the same way.

    Args:
        frames: uint8 RGB `(k, H, W, 3)`, all the same size.
        short_side: the shorter side of the result.

    Returns:
        uint8 `(k, H', W', 3)` with `min(H', W') == short_side`.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (k, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    new_height, new_width = resized_size(height, width, short_side)
    if (new_height, new_width) == (height, width):
        return frames
    resized = np.empty((len(frames), new_height, new_width, 3), np.uint8)
    for index, frame in enumerate(frames):
        image = Image.fromarray(frame).resize((new_width, new_height), Image.Resampling.BICUBIC)
        resized[index] = np.asarray(image)
    return resized


@dataclasses.dataclass(frozen=True)
class ClipJob:
    """Turns one `Video` into a clip `VideoResult`; picklable, so Beam workers can run it.

    Same interface as `job.EmbeddingJob` (`prepare` in the decoding threads, `finish` after,
    `__call__` for Beam), so the same runners and build report serve both kinds of config.
    Frames are always the exact evenly spaced ones (a clip promises uniform spacing and true
    timestamps; keyframe sampling is refused by the builder).

    Attributes:
        num_frames: frames per clip (16 or 8).
        short_side: shorter side of the stored frames.
        truncated: "warn" or "fail" for a truncated video (`pipeline.check_truncated_policy`).
    """

    num_frames: int
    short_side: int = CLIP_SHORT_SIDE
    truncated: str = DEFAULT_TRUNCATED

    def __post_init__(self):
        check_truncated_policy(self.truncated)

    def __call__(self, video: Video) -> VideoResult:
        return self.finish(self.prepare(video))

    def prepare(self, video: Video) -> VideoResult:
        """Decodes, checks and resizes the clip's frames; the whole job (nothing is cached)."""
        try:
            frames, count = read_frames(video.path, self.num_frames)
            apply_truncated_policy(count, self.truncated)
        except VideoDecodeError as error:
            count = None
            if isinstance(error, TruncatedVideoError):
                count = FrameCount(video.path, error.decoded, error.expected)
            return VideoResult(video, "failed", f"cannot decode: {error}", count=count)
        example = {
            "video_id": video.video_id,
            "title": video.title,
            "label": video.label,
            "num_frames": np.int32(len(frames)),
            "clip_frames": resize_short_side(frames, self.short_side),
            "timestamps": clip_timestamps(video.path, count.decoded, len(frames)),
            "group": video.split_group,
        }
        return VideoResult(video, "decoded", example=example, count=count)

    def finish(self, prepared: VideoResult) -> VideoResult:
        """Nothing left to do (the embedding job's encoder half): the result as prepared."""
        return prepared


def clip_timestamps(path: str | os.PathLike, decoded: int, num_kept: int) -> np.ndarray:
    """Seconds of the `num_kept` frames `read_frames` kept from `decoded` frames.

    They are `frame_indices(decoded, num_kept) / fps`, fps the stream's average frame rate (a
    demux-only probe, milliseconds); exact for constant frame rates, the average's estimate for
    variable ones, NaN when the container has no frame rate.

    Returns:
        float32 `(num_kept,)`, increasing.
    """
    fps = probe_video(path).fps
    indices = frame_indices(decoded, num_kept)
    if not (math.isfinite(fps) and fps > 0):
        return np.full(len(indices), np.nan, np.float32)
    return (indices / fps).astype(np.float32)
