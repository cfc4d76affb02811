"""A tiny YouTube-8M-shaped TFDS dataset on disk for the multi-label tests: `tiny_youtube8m`.

Configs `video` and `frame`, with the features and metadata of the `youtube8m` contract
(`labels` a Sequence of ClassLabel; `mean_rgb`/`mean_audio` float32, or `rgb`/`audio` uint8 per
second + `num_frames`), at tiny widths: 5 classes, 6-wide rgb, 2-wide audio, 1-6 seconds a video.
The records are real YouTube-8M records made by `youtube8m.synthetic.write_shards` (train,
validate, test shards) and read back with `youtube8m.records.decode_*_example`, so the data went
through the formats training meets. Training reads it back by name from `data_dir`, without this
builder's code, as it reads any built dataset.
"""

import pathlib

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vidcls_keras.training.config import TrainConfig
from vidcls_keras.youtube8m import records, synthetic

TINY_YT8M = "tiny_youtube8m"
NUM_CLASSES = 5
RGB_SIZE = 6
AUDIO_SIZE = 2
MAX_SECONDS = 6
VIDEOS = {"train": 16, "validate": 8, "test": 8}  # file prefix -> videos (2 shards each)
LABEL_NAMES = tuple(f"class_{index}" for index in range(NUM_CLASSES))
SPLIT_NAMES = {"train": "train", "validate": "validation", "test": "test"}


def write_tiny_shards(directory: pathlib.Path, level: str) -> pathlib.Path:
    """The tiny record shards of every split (2 shards each), as the real release names them."""
    for prefix, count in VIDEOS.items():
        synthetic.write_shards(
            directory,
            split=prefix,
            num_shards=2,
            videos_per_shard=count // 2,
            level=level,
            num_classes=NUM_CLASSES,
            frames=(1, MAX_SECONDS),
            rgb_size=RGB_SIZE,
            audio_size=AUDIO_SIZE,
        )
    return directory


class TinyYoutube8m(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Tiny generated YouTube-8M shards as a TFDS dataset with the `youtube8m` features."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="video"), tfds.core.BuilderConfig(name="frame")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = "A folder of shards written by `write_tiny_shards`."

    def _info(self) -> tfds.core.DatasetInfo:
        level = self.builder_config.name
        features = {
            "id": tfds.features.Text(),
            "labels": tfds.features.Sequence(tfds.features.ClassLabel(names=LABEL_NAMES)),
        }
        if level == "video":
            features["mean_rgb"] = tfds.features.Tensor(shape=(RGB_SIZE,), dtype=np.float32)
            features["mean_audio"] = tfds.features.Tensor(shape=(AUDIO_SIZE,), dtype=np.float32)
        else:
            features["rgb"] = tfds.features.Tensor(shape=(None, RGB_SIZE), dtype=np.uint8)
            features["audio"] = tfds.features.Tensor(shape=(None, AUDIO_SIZE), dtype=np.uint8)
            features["num_frames"] = tfds.features.Scalar(dtype=np.int32)
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(features),
            metadata=tfds.core.MetadataDict(
                source="youtube8m",
                level=level,
                rgb_size=RGB_SIZE,
                audio_size=AUDIO_SIZE,
                quantize={"max": records.QUANTIZE_MAX, "min": records.QUANTIZE_MIN},
                num_classes=NUM_CLASSES,
                labels_subset=None,
                label_mapping=None,
            ),
        )

    def _split_generators(self, dl_manager):
        shards = pathlib.Path(dl_manager.manual_dir)
        return {
            SPLIT_NAMES[prefix]: self._generate_examples(sorted(shards.glob(f"{prefix}*.tfrecord")))
            for prefix in VIDEOS
        }

    def _generate_examples(self, paths):
        level = self.builder_config.name
        for path in paths:
            for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
                if level == "video":
                    example = records.decode_video_example(record, RGB_SIZE, AUDIO_SIZE)
                else:
                    example = records.decode_frame_example(record, RGB_SIZE, AUDIO_SIZE)
                    example["num_frames"] = len(example["rgb"])
                    for key in records.SEGMENT_KEYS:
                        example.pop(key)
                yield example["id"], example


def build_tiny_youtube8m(data_dir: pathlib.Path, manual_dir: pathlib.Path) -> pathlib.Path:
    """Writes `tiny_youtube8m/video` and `tiny_youtube8m/frame` into `data_dir`; returns it."""
    for level in ("video", "frame"):
        write_tiny_shards(manual_dir / level, level)
        TinyYoutube8m(data_dir=str(data_dir), config=level).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir / level))
        )
    return data_dir


def tiny_yt8m_config(
    data_dir: pathlib.Path, output_dir: pathlib.Path, level: str, **overrides
) -> TrainConfig:
    """Tiny multi-label settings: batch 4 (16 training videos: 4 steps), 2 epochs, quiet."""
    settings = dict(
        dataset=f"{TINY_YT8M}/{level}",
        data_dir=str(data_dir),
        output_dir=str(output_dir),
        epochs=2,
        batch_size=4,
        verbose=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)
