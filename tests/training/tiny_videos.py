"""A tiny TFDS dataset on disk for the training tests: `tiny_videos/frames4`.

3 classes, 16-wide embeddings, 2-4 frames per video, 24 / 12 / 12 videos, written by a small
builder defined here with the project's features and metadata, and read back the way training
reads a built dataset: by name from `data_dir`, without the builder's code. Each class's
embeddings scatter around their own centre, so a model that trains at all separates them.
"""

import pathlib

import numpy as np
import tensorflow_datasets as tfds

from vidcls_keras.datasets.features import video_features
from vidcls_keras.training.config import TrainConfig

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_DATASET = "tiny_videos/frames4"
TINY_LABELS = ("food", "art_music", "travel")
TINY_EMBED_DIM = 16  # FrameEmbedder.tiny's width, as if tiny:0 had made the embeddings
TINY_FRAMES = 4
TINY_SPLITS = {"train": 24, "validation": 12, "test": 12}


class TinyVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Random frame embeddings with the project's features; class c's rows scatter around c's centre."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"frames{TINY_FRAMES}")]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=video_features(TINY_LABELS, TINY_EMBED_DIM),
            # The keys the project's builders write (vidcls_keras.datasets).
            metadata=tfds.core.MetadataDict(
                embedder="tiny:0", embed_dim=TINY_EMBED_DIM, num_frames=TINY_FRAMES
            ),
        )

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(index, count)
            for index, (split, count) in enumerate(TINY_SPLITS.items())
        }

    def _generate_examples(self, split_index: int, count: int):
        centres = 2.0 * np.random.default_rng(1234).normal(size=(len(TINY_LABELS), TINY_EMBED_DIM))
        rng = np.random.default_rng(split_index)
        for index in range(count):
            label = index % len(TINY_LABELS)
            num_frames = int(rng.integers(2, TINY_FRAMES + 1))
            embeddings = centres[label] + rng.normal(size=(num_frames, TINY_EMBED_DIM))
            # One flat colour per class, a little brighter or darker per video.
            frame = np.full((224, 224, 3), 40 + 70 * label + int(rng.integers(0, 20)), np.uint8)
            video_id = f"split{split_index}_video{index}"
            yield (
                video_id,
                {
                    "video_id": video_id,
                    "title": "",
                    "label": label,
                    "embeddings": embeddings.astype(np.float32),
                    "num_frames": num_frames,
                    "frame": frame,
                },
            )


def build_tiny_dataset(data_dir: pathlib.Path) -> pathlib.Path:
    """Writes `tiny_videos/frames4` into `data_dir` (train/validation/test) and returns `data_dir`."""
    TinyVideos(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def tiny_config(data_dir: pathlib.Path, output_dir: pathlib.Path, **overrides) -> TrainConfig:
    """Tiny-run settings: batch 4 (24 training videos: 6 steps), 2 epochs, quiet."""
    settings = dict(
        dataset=TINY_DATASET,
        data_dir=str(data_dir),
        output_dir=str(output_dir),
        epochs=2,
        batch_size=4,
        verbose=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)
