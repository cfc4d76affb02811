"""`trainer.train` refuses a dataset with fewer than 2 classes (built elsewhere, or before the
builders refused it), before it writes anything."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

# The tiny on-disk TFDS dataset (pytest puts this folder on sys.path).
from tiny_videos import TINY_EMBED_DIM, TinyVideos, tiny_config  # noqa: E402

from vidcls_keras.datasets.features import video_features  # noqa: E402
from vidcls_keras.training import trainer  # noqa: E402


class OneClassVideos(TinyVideos, skip_registration=True):
    """`tiny_videos` with every video labelled `cats`, the only class."""

    def _info(self) -> tfds.core.DatasetInfo:
        info = super()._info()
        return tfds.core.DatasetInfo(
            builder=self,
            features=video_features(("cats",), TINY_EMBED_DIM),
            metadata=info.metadata,
        )

    def _generate_examples(self, split_index: int, count: int):
        for key, example in super()._generate_examples(split_index, count):
            yield key, {**example, "label": 0}


def test_a_one_class_dataset_is_refused_before_anything_is_written(tmp_path):
    OneClassVideos(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    config = tiny_config(tmp_path / "tfds", tmp_path / "run", dataset="one_class_videos/frames4")
    with pytest.raises(trainer.TrainError) as raised:
        trainer.train(config)
    message = str(raised.value)
    assert "dataset 'one_class_videos/frames4' has 1 class (cats)" in message
    assert "at least 2" in message and "<manual_dir>/<class>/<video>" in message
    assert not (tmp_path / "run").exists()
