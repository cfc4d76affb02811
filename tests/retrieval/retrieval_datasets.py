"""Tiny TFDS datasets for the retrieval tests (index, search, zero-shot), built in tmp folders.

The datasets have the shared features (video_id, title, label, embeddings, num_frames, frame) and
record the embedder spec "tiny:0" in their metadata, like the real builders. With random weights
the scores mean nothing, so the tests check structure, ranges and determinism on random
embeddings, and exact answers on datasets whose frame embeddings are built from the tiny text
tower's own embeddings.
"""

import numpy as np
import tensorflow_datasets as tfds

from vidcls_keras.clip.tiny import TINY_EMBED_DIM
from vidcls_keras.datasets.features import video_features

CLASS_NAMES = ("food", "art_music", "travel")
LABEL_TEXTS = ["food", "art and music", "travel"]
DATASET = "vidcls_zeroshot_test_videos"
SPEC = "tiny:0"


class VidclsZeroshotTestVideos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A tiny dataset of given examples; set `EXAMPLES` (split -> list of dicts) before building.

    Not registered: like a dataset built with `tfds build`, it is read back by name from the files
    in data_dir, metadata.json (the embedder spec) included.
    """

    VERSION = tfds.core.Version("1.0.0")
    EXAMPLES: dict[str, list[dict]] = {}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=video_features(CLASS_NAMES, TINY_EMBED_DIM),
            metadata=tfds.core.MetadataDict(embedder=SPEC, embed_dim=TINY_EMBED_DIM),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in self.EXAMPLES}

    def _generate_examples(self, split):
        for example in self.EXAMPLES[split]:
            yield example["video_id"], example


def example(video_id: str, label: int, embeddings: np.ndarray, title: str = "") -> dict:
    return {
        "video_id": video_id,
        "title": title or f"title of {video_id}",
        "label": label,
        "embeddings": np.asarray(embeddings, np.float32),
        "num_frames": len(embeddings),
        "frame": np.zeros((224, 224, 3), np.uint8),
    }


def build(data_dir, examples: dict[str, list[dict]], overwrite: bool = False) -> str:
    VidclsZeroshotTestVideos.EXAMPLES = examples
    mode = (
        tfds.download.GenerateMode.FORCE_REDOWNLOAD
        if overwrite
        else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    )
    VidclsZeroshotTestVideos(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(download_mode=mode)
    )
    return str(data_dir)


def random_examples(seed: int, per_class: int = 4) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        example(
            f"video{label}_{index}",
            label,
            rng.standard_normal((int(rng.integers(1, 6)), TINY_EMBED_DIM)),
        )
        for label in range(len(CLASS_NAMES))
        for index in range(per_class)
    ]


def build_random(data_dir) -> str:
    """Random frame embeddings: test split of 12 videos, train split of 6."""
    return build(data_dir, {"test": random_examples(0), "train": random_examples(1, per_class=2)})


def around(direction: np.ndarray, rng: np.random.Generator, frames: int = 3) -> np.ndarray:
    """Frames pointing along `direction`: positive scales, a little noise."""
    scales = rng.uniform(0.5, 3.0, size=(frames, 1))
    noise = 1e-3 * rng.standard_normal((frames, direction.shape[-1]))
    return scales * (direction / np.linalg.norm(direction)) + noise
