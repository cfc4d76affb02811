"""youtube_videos dataset: built from dummy_data/ (a small youtube.csv + tiny MP4s) with the tiny
embedder."""

import os
import tempfile
from unittest import mock

import tensorflow_datasets as tfds

from vidcls_keras.datasets.youtube_videos import youtube_videos_dataset_builder


class YoutubeVideosTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the youtube_videos dataset."""

    DATASET_CLASS = youtube_videos_dataset_builder.Builder
    # The CSV cleans to 9 videos, 8 on disk (trav0000009 is reported missing):
    # test = ceil(10% of 8) = 1, validation = ceil(10% of 7) = 1, train = 6.
    SPLITS = {"train": 6, "validation": 1, "test": 1}

    @classmethod
    def setUpClass(cls):
        # The tiny random-weight embedder (no download) and a private cache, through the same
        # environment variables `tfds build` users set.
        cls._cache_dir = tempfile.TemporaryDirectory()
        cls._environ = mock.patch.dict(
            os.environ, {"VIDCLS_EMBEDDER": "tiny:0", "VIDCLS_CACHE_DIR": cls._cache_dir.name}
        )
        cls._environ.start()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls._environ.stop()
        cls._cache_dir.cleanup()


if __name__ == "__main__":
    tfds.testing.test_main()
