"""youtube8m dataset: built from dummy_data/ (tiny shards of both levels, one truncated shard)."""

import tensorflow_datasets as tfds

from vidcls_keras.datasets.youtube8m import youtube8m_dataset_builder


class Youtube8mTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the youtube8m dataset, both configs."""

    DATASET_CLASS = youtube8m_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["video", "frame"]
    # One shard of 3 videos per split; video/train0001.tfrecord is truncated: left out.
    SPLITS = {"train": 3, "validation": 3, "test": 3}


if __name__ == "__main__":
    tfds.testing.test_main()
