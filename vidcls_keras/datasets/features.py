"""What every video dataset of the project stores: its configs, features and stored frame.

One definition, used by both builders and by the tiny datasets tests and benchmarks write.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds

FRAME_SIZE = 224
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


def video_features(class_names: Sequence[str] | None, embed_dim: int) -> tfds.features.FeaturesDict:
    """The features of every video dataset of the project (both builders, test and bench data).

    Args:
        class_names: the label names; None sets them at build time.
        embed_dim: width of one frame embedding.

    Returns:
        `video_id`, `title`, `label`, `embeddings` (num_frames, embed_dim) float32, `num_frames`,
        and the dataset's fixed `frame` (FRAME_SIZE, FRAME_SIZE, 3) uint8.
    """
    label = (
        tfds.features.ClassLabel(names=list(class_names))
        if class_names is not None
        else tfds.features.ClassLabel()
    )
    return tfds.features.FeaturesDict(
        {
            "video_id": tfds.features.Text(doc="YouTube id, or <class>/<file name>."),
            "title": tfds.features.Text(doc='Video title ("" when unknown).'),
            "label": label,
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
