"""video_folder dataset: built from dummy_data/ (2 classes x 3 tiny MP4s) with the tiny embedder."""

import os
import tempfile
from unittest import mock

import tensorflow_datasets as tfds

from vidcls_keras.datasets.video_folder import video_folder_dataset_builder


class VideoFolderTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the video_folder dataset."""

    DATASET_CLASS = video_folder_dataset_builder.Builder
    # 6 clips: test = ceil(10% of 6) = 1, validation = ceil(10% of 5) = 1, train = 4.
    # dummy_data/sports/notes.txt is not a video: skipped (and reported), not an example.
    SPLITS = {"train": 4, "validation": 1, "test": 1}

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
