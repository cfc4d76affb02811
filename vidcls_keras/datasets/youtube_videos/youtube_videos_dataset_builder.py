"""youtube_videos dataset: CLIP frame embeddings of the Youtube Videos Dataset (4 topics).

    python -m vidcls_keras.download --csv ~/yt/youtube.csv --out ~/yt/videos
    tfds build builders/youtube_videos --config frames100 --manual_dir ~/yt

builds `~/tensorflow_datasets/youtube_videos/frames100/1.0.0/` with CLIP ViT-B/32 embeddings
and `build_report.json` (missing downloads, undecodable files) beside the records; `--config
clips16` (or `clips8`) stores the frames themselves (JPEG, short side 256) for fine-tuning.
"""

import tensorflow_datasets as tfds

from vidcls_keras.datasets.builder import VideoEmbeddingsMixin
from vidcls_keras.datasets.features import clip_configs, frame_configs
from vidcls_keras.datasets.listing import list_youtube_videos

CLASS_NAMES = ("food", "art_music", "travel", "history")


class Builder(VideoEmbeddingsMixin, tfds.core.GeneratorBasedBuilder):
    """CLIP frame embeddings of the Youtube Videos Dataset, labelled by topic."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = frame_configs() + clip_configs()
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    The manual_dir holds the dataset's CSV and the videos downloaded from it:

        <manual_dir>/youtube.csv                  Kaggle "Youtube Videos Dataset" (rajatrc1705)
        <manual_dir>/videos/<category>/<id>.<ext> python -m vidcls_keras.download \\
                                                      --csv <manual_dir>/youtube.csv \\
                                                      --out <manual_dir>/videos

    CSV rows whose video is not on disk are listed as missing in build_report.json.
    Choose the embedder with VIDCLS_EMBEDDER (default preset:clip-vit-base-patch32); the
    clips16 / clips8 configs need none.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        """Returns the dataset metadata."""
        return self.dataset_info_from_configs(
            features=self.video_features(class_names=CLASS_NAMES),
            supervised_keys=self.video_supervised_keys(),
            homepage="https://www.kaggle.com/datasets/rajatrc1705/youtube-videos-dataset",
            metadata=self.video_metadata(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        """Reads the CSV, finds the downloaded videos and returns the split generators."""
        listing = list_youtube_videos(
            csv_path=dl_manager.manual_dir / "youtube.csv",
            videos_dir=dl_manager.manual_dir / "videos",
            class_names=CLASS_NAMES,
        )
        return self.video_split_generators(listing)

    def _generate_examples(self, videos, split):
        """Yields `(video_id, example)`, or returns the same as a Beam PTransform."""
        return self.video_examples(videos, split)
