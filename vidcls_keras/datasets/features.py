"""What every video dataset of the project stores: its configs, features and stored frame.

One definition, used by both builders and by the tiny datasets tests and benchmarks write.

Two kinds of configs: `frames100` / `frames16` (`VideoConfig`) store CLIP frame embeddings;
`clips16` / `clips8` (`ClipConfig`) store the frames themselves, as JPEG at short side 256, for
training the encoder end to end (random 224 crops need the margin; `vidcls_keras.augment`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds

FRAME_SIZE = 224
CLIP_SHORT_SIDE = 256  # stored clip frames: short side 256, so training can crop 224 at random
FRAME_INDEX_RULE = "int(hashlib.sha256(video_id.encode()).hexdigest(), 16) % num_frames"


@dataclasses.dataclass
class VideoConfig(tfds.core.BuilderConfig):
    """A builder config: how many evenly spaced frames to embed per video.

    Attributes:
        num_frames: frames sampled per video (fewer for videos that have fewer frames).
    """

    num_frames: int = 100


def frame_configs() -> list[VideoConfig]:
    """The configs both builders offer: `frames100` (the original's) and `frames16` (quick)."""
    return [
        VideoConfig(
            name="frames100",
            num_frames=100,
            description="100 evenly spaced frames per video, as in the original project.",
        ),
        VideoConfig(
            name="frames16",
            num_frames=16,
            description="16 evenly spaced frames per video: about 6x faster to build.",
        ),
    ]


@dataclasses.dataclass
class ClipConfig(VideoConfig):
    """A clip config: `num_frames` evenly spaced frames stored as JPEG, short side `short_side`.

    Attributes:
        short_side: length in pixels of the shorter side of every stored frame (aspect kept).
    """

    short_side: int = CLIP_SHORT_SIDE


def clip_configs() -> list[ClipConfig]:
    """The clip configs both builders offer: `clips16` and `clips8` (pixels, no embedder)."""
    return [
        ClipConfig(
            name=f"clips{count}",
            num_frames=count,
            description=(
                f"{count} evenly spaced upright frames per video as JPEG, short side "
                f"{CLIP_SHORT_SIDE} (aspect kept), with their timestamps and source-video group: "
                "for fine-tuning the image encoder end to end."
            ),
        )
        for count in (16, 8)
    ]


def is_clip_config(config: tfds.core.BuilderConfig | None) -> bool:
    """Whether a builder config stores clips (pixels) rather than embeddings."""
    return isinstance(config, ClipConfig)


def _video_identity(class_names: Sequence[str] | None) -> dict[str, tfds.features.FeatureConnector]:
    """The features every video example starts with: `video_id`, `title` and `label`."""
    label = (
        tfds.features.ClassLabel(names=list(class_names))
        if class_names is not None
        else tfds.features.ClassLabel()
    )
    return {
        "video_id": tfds.features.Text(doc="YouTube id, or <class>/<file name>."),
        "title": tfds.features.Text(doc='Video title ("" when unknown).'),
        "label": label,
    }


def clip_features(class_names: Sequence[str] | None) -> tfds.features.FeaturesDict:
    """The features of a clip config (`clips16`, `clips8`) of both builders.

    Args:
        class_names: the label names; None sets them at build time.

    Returns:
        `video_id`, `title`, `label`, `num_frames` int32, `clip_frames` (k, H, W, 3) uint8 JPEG
        with min(H, W) = the config's `short_side`, `timestamps` (k,) float32 seconds, `group`.
    """
    return tfds.features.FeaturesDict(
        {
            **_video_identity(class_names),
            "num_frames": tfds.features.Scalar(
                dtype=np.int32, doc="Frames in `clip_frames` (fewer for short videos)."
            ),
            "clip_frames": tfds.features.Sequence(
                tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                doc="Evenly spaced upright RGB frames in time order, short side resized.",
            ),
            "timestamps": tfds.features.Tensor(
                shape=(None,),
                dtype=np.float32,
                doc="Seconds of each stored frame: frame index / average frame rate (NaN when "
                "the container has no frame rate).",
            ),
            "group": tfds.features.Text(
                doc="Source-video group: clips of one group share a split (the video id when "
                "its name matches no group pattern)."
            ),
        }
    )


def video_features(class_names: Sequence[str] | None, embed_dim: int) -> tfds.features.FeaturesDict:
    """The features of every video dataset of the project (both builders, test and bench data).

    Args:
        class_names: the label names; None sets them at build time.
        embed_dim: width of one frame embedding.

    Returns:
        `video_id`, `title`, `label`, `embeddings` (num_frames, embed_dim) float32, `num_frames`,
        and the dataset's fixed `frame` (FRAME_SIZE, FRAME_SIZE, 3) uint8.
    """
    return tfds.features.FeaturesDict(
        {
            **_video_identity(class_names),
            "embeddings": tfds.features.Tensor(
                shape=(None, embed_dim),
                dtype=np.float32,
                doc="CLIP image embedding of each sampled frame, in time order.",
            ),
            "num_frames": tfds.features.Scalar(
                dtype=np.int32, doc="Rows of `embeddings` (fewer for short videos)."
            ),
            "frame": tfds.features.Image(
                shape=(FRAME_SIZE, FRAME_SIZE, 3),
                doc=f"Sampled frame number {FRAME_INDEX_RULE}, resized + center-cropped.",
            ),
        }
    )


def frame_index(video_id: str, num_frames: int) -> int:
    """Index of the stored frame among a video's `num_frames` sampled frames (`FRAME_INDEX_RULE`).

    Stable across runs, machines and Python's hash seed.
    """
    return int(hashlib.sha256(video_id.encode()).hexdigest(), 16) % num_frames
