"""video_folder dataset: CLIP frame embeddings of your own videos, one folder per class.

    VIDCLS_EMBEDDER=tiny:0 tfds build builders/video_folder --config frames16 \
        --manual_dir ~/my_videos --data_dir /tmp/tfds

builds `/tmp/tfds/video_folder/frames16/1.0.0/` (with `build_report.json` beside the records)
from `~/my_videos/<class>/<video file>`. Drop `VIDCLS_EMBEDDER` for CLIP ViT-B/32.

    tfds build builders/video_folder --config clips16 --manual_dir ~/my_videos --data_dir /tmp/tfds

stores the clips themselves (16 frames, JPEG at short side 256; no embedder) for fine-tuning.
"""

import tensorflow_datasets as tfds

from vidcls_keras.datasets.builder import VideoEmbeddingsMixin, requested_ucf101_split
from vidcls_keras.datasets.features import clip_configs, frame_configs
from vidcls_keras.datasets.listing import list_video_folder


class Builder(VideoEmbeddingsMixin, tfds.core.GeneratorBasedBuilder):
    """CLIP frame embeddings (or clips) of the videos in `<manual_dir>/<class>/*`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = frame_configs() + clip_configs()
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Put your videos in one folder per class and pass the parent folder as --manual_dir:

        <manual_dir>/<class name>/<video>.mp4   (any of vidcls_keras.video.VIDEO_EXTENSIONS)

    Class names are the folder names, sorted; at least 2 class folders. Hidden names, other
    files, files outside a class folder and nested folders are skipped and listed in
    build_report.json. Choose the embedder with VIDCLS_EMBEDDER (default
    preset:clip-vit-base-patch32); the clips16 / clips8 configs need none.

    Clips cut from one source video stay in one split: UCF101's v_<Class>_g<NN>_c<NN> names are
    grouped by default, other names with VIDCLS_GROUP_PATTERN=<regex with one group>. UCF101's
    trainlist0N.txt / testlist0N.txt (in manual_dir or manual_dir/ucfTrainTestlist/) define
    the splits when present (VIDCLS_UCF101_SPLIT=N chooses which).
    """

    def _info(self) -> tfds.core.DatasetInfo:
        """Returns the dataset metadata; class names come from the folders at build time."""
        return self.dataset_info_from_configs(
            features=self.video_features(class_names=None),
            supervised_keys=self.video_supervised_keys(),
            homepage="https://github.com/borisshapa/video-classification",
            metadata=self.video_metadata(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        """Lists `<manual_dir>/<class>/*` and returns the train/validation/test generators."""
        listing = list_video_folder(dl_manager.manual_dir, requested_ucf101_split())
        return self.video_split_generators(listing)

    def _generate_examples(self, videos, split):
        """Yields `(video_id, example)`, or returns the same as a Beam PTransform."""
        return self.video_examples(videos, split)
