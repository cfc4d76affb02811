"""`VideoEmbeddingsMixin`: what the video builders share; mix into `tfds.core.GeneratorBasedBuilder`.

`video_folder` and `youtube_videos` differ only in how they list their videos (`listing`); the
mixin chooses the embedder, declares features and metadata, assigns splits, runs the per-video
jobs (`job`) and writes the build report (`report`).

The embedder is chosen per builder instance: `Builder(embedder="tiny:0")` in Python, or the
environment variable `VIDCLS_EMBEDDER` for `tfds build` (which passes no builder arguments);
default `preset:clip-vit-base-patch32`. Its spec, embedding width and weights fingerprint go into
the dataset's `metadata.json`, and a dataset or cache made by another embedder is refused with
`EmbedderMismatchError`.

What to do with a truncated video (far fewer frames decode than its container lists) is chosen
the same way: `Builder(truncated="fail")`, or `VIDCLS_TRUNCATED=fail` for `tfds build`; default
"warn" (embedded from the frames that decode, flagged in the log and the build report; see
`embedding.pipeline.check_truncated_policy`). The policy goes into `metadata.json`
(`truncated_policy`) and the build report's header.

How frames are sampled likewise: `Builder(frame_sampling="keyframes")`, or
`VIDCLS_FRAME_SAMPLING=keyframes` for `tfds build`; default "exact". "keyframes" takes the keyframe
nearest each evenly spaced position (approximate, much faster on long videos; see
`vidcls_keras.video.read_frames`); `metadata.json` records `frame_sampling` and
`frames_approximate`, and the embedding cache keeps the two apart.

Clip configs (`clips16`, `clips8`: `features.ClipConfig`) store the frames themselves (JPEG,
short side 256, timestamps, group) through `clips.ClipJob`: no embedder is loaded or recorded, no
cache is used (a rebuild decodes again), and sampling is always exact.

Splits go by source-video group (`splits`): the group of a video is found in its file name by
`Builder(group_pattern=...)` or `VIDCLS_GROUP_PATTERN` (a regex with one capturing group; default
UCF101's `v_<Class>_g<NN>_c<NN>`), recorded as `group_pattern` in `metadata.json`. UCF101's own
`trainlist0N.txt` / `testlist0N.txt` in the manual folder define the splits instead
(`split_source` "ucf101_lists"; which N: `VIDCLS_UCF101_SPLIT`, default the lowest present).
All configs, embeddings included, split this way: a folder whose names match no pattern splits
exactly as before, one of UCF101-named videos now keeps each group in one split.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import tensorflow_datasets as tfds
from etils import epath

from vidcls_keras.clip.specs import DEFAULT_EMBEDDER, EMBEDDER_ENV, parse_embedder_spec
from vidcls_keras.datasets.clips import ClipJob
from vidcls_keras.datasets.features import (
    FRAME_INDEX_RULE,
    clip_features,
    is_clip_config,
    video_features,
)
from vidcls_keras.datasets.job import EmbeddingJob, beam_examples, plain_examples
from vidcls_keras.datasets.listing import (
    GROUP_PATTERN_ENV,
    UCF101_GROUP_PATTERN,
    UCF101_SPLIT_ENV,
    Video,
    VideoList,
    VideoListError,
    check_group_pattern,
    with_groups,
)
from vidcls_keras.datasets.report import STATUS_FILE, format_summary, write_report
from vidcls_keras.datasets.splits import SPLIT_NAMES, SPLIT_RULE, assign_splits
from vidcls_keras.embedding.cache import EmbedderMismatchError, default_cache_dir
from vidcls_keras.embedding.embedders import embedder_fingerprint, load_embedder
from vidcls_keras.embedding.pipeline import (
    DEFAULT_FRAME_SAMPLING,
    DEFAULT_TRUNCATED,
    check_truncated_policy,
)
from vidcls_keras.video import FrameSamplingError, check_frame_sampling

logger = logging.getLogger(__name__)

TRUNCATED_ENV = "VIDCLS_TRUNCATED"
FRAME_SAMPLING_ENV = "VIDCLS_FRAME_SAMPLING"


def requested_embedder(embedder: str | None) -> tuple[str, bool]:
    """The embedder spec a builder should use, and whether it was asked for explicitly.

    Order: the `embedder` argument, else `$VIDCLS_EMBEDDER`, else `DEFAULT_EMBEDDER`.

    Returns:
        `(spec, explicit)`; `explicit` is False only for the default.

    Raises:
        vidcls_keras.clip.specs.EmbedderSpecError: the spec is malformed.
    """
    if embedder is not None:
        return str(parse_embedder_spec(embedder, source="embedder")), True
    from_env = os.environ.get(EMBEDDER_ENV, "").strip()
    if from_env:
        return str(parse_embedder_spec(from_env, source=f"${EMBEDDER_ENV}")), True
    return DEFAULT_EMBEDDER, False


def requested_truncated_policy(truncated: str | None) -> str:
    """The truncated-video policy: the `truncated` argument, else `$VIDCLS_TRUNCATED`, else "warn".

    Raises:
        vidcls_keras.embedding.pipeline.TruncatedPolicyError: neither "warn" nor "fail".
    """
    if truncated is not None:
        return check_truncated_policy(truncated, source="truncated")
    from_env = os.environ.get(TRUNCATED_ENV, "").strip()
    if from_env:
        return check_truncated_policy(from_env, source=f"${TRUNCATED_ENV}")
    return DEFAULT_TRUNCATED


def requested_frame_sampling(frame_sampling: str | None) -> str:
    """The frame sampling: the argument, else `$VIDCLS_FRAME_SAMPLING`, else "exact".

    Raises:
        vidcls_keras.video.FrameSamplingError: neither "exact" nor "keyframes".
    """
    if frame_sampling is not None:
        return check_frame_sampling(frame_sampling, source="frame_sampling")
    from_env = os.environ.get(FRAME_SAMPLING_ENV, "").strip()
    if from_env:
        return check_frame_sampling(from_env, source=f"${FRAME_SAMPLING_ENV}")
    return DEFAULT_FRAME_SAMPLING


def requested_group_pattern(group_pattern: str | None) -> str:
    """The group pattern: the argument, else `$VIDCLS_GROUP_PATTERN`, else UCF101's.

    Raises:
        vidcls_keras.datasets.listing.GroupPatternError: not a regex with one capturing group.
    """
    if group_pattern is not None:
        source, pattern = "group_pattern", group_pattern
    else:
        source, pattern = f"${GROUP_PATTERN_ENV}", os.environ.get(GROUP_PATTERN_ENV, "")
        if not pattern.strip():
            source, pattern = "default", UCF101_GROUP_PATTERN
    check_group_pattern(pattern, source=source)
    return pattern


def requested_ucf101_split() -> int | None:
    """`$VIDCLS_UCF101_SPLIT` (1, 2 or 3): which of UCF101's split lists to use; None: lowest.

    Raises:
        VideoListError: not a positive integer.
    """
    value = os.environ.get(UCF101_SPLIT_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise VideoListError(
            f"${UCF101_SPLIT_ENV}={value!r}: give the number of UCF101's split lists to use "
            "(1, 2 or 3, as in trainlist01.txt), or unset it for the lowest present."
        )
    return int(value)


class VideoEmbeddingsMixin:
    """Shared behaviour of the video builders; mix into `tfds.core.GeneratorBasedBuilder`.

    A builder using it calls `video_features` and `video_metadata` in `_info`, returns
    `video_split_generators(listing)` from `_split_generators`, and
    `video_examples(videos, split)` from `_generate_examples`.

    Args (constructor):
        embedder: embedder spec; None reads `$VIDCLS_EMBEDDER`, else uses the default. When the
            dataset already exists, an explicit spec must match the one it was built with.
        truncated: "warn" or "fail" for videos that decode to far fewer frames than their
            container lists; None reads `$VIDCLS_TRUNCATED`, else "warn".
        frame_sampling: "exact" or "keyframes" (approximate); None reads
            `$VIDCLS_FRAME_SAMPLING`, else "exact". Clip configs accept "exact" only.
        group_pattern: regex with one capturing group, searched in each video's file name to
            find its source-video group; None reads `$VIDCLS_GROUP_PATTERN`, else UCF101's.
        **kwargs: for `tfds.core.GeneratorBasedBuilder` (`data_dir`, `config`, `version`, ...).
    """

    def __init__(
        self,
        *,
        embedder: str | None = None,
        truncated: str | None = None,
        frame_sampling: str | None = None,
        group_pattern: str | None = None,
        **kwargs: Any,
    ):
        self._requested_spec, self._explicit_spec = requested_embedder(embedder)
        self._truncated = requested_truncated_policy(truncated)
        self._frame_sampling = requested_frame_sampling(frame_sampling)
        self._group_pattern = requested_group_pattern(group_pattern)
        self._use_beam = False
        self._listing: VideoList | None = None
        self._assigned: dict[str, list[Video]] = {}
        self._split_notes: list[str] = []
        super().__init__(**kwargs)
        self._original_state["embedder"] = embedder  # so pickled builders keep their embedder
        self._original_state["truncated"] = truncated
        self._original_state["frame_sampling"] = frame_sampling
        self._original_state["group_pattern"] = group_pattern

    @property
    def stores_clips(self) -> bool:
        """Whether this config stores clips (pixels, `clips16`/`clips8`), not embeddings."""
        return is_clip_config(self.builder_config)

    # -- _info ------------------------------------------------------------------------------

    @property
    def embedder_spec(self) -> str:
        """The embedder of this dataset (stored one if built, else the requested one); "" for a
        clip config (pixels: the model that trains on them names its own encoder)."""
        return "" if self.stores_clips else self._embedder_choice()[0]

    def _embedder_choice(self) -> tuple[str, int]:
        """`(spec, embed_dim)`, deciding between the stored dataset and the request.

        Raises:
            EmbedderMismatchError: an explicit request differs from the built dataset's.
        """
        if hasattr(self, "_choice"):
            return self._choice
        stored = None
        metadata_path = epath.Path(self.data_path) / "metadata.json"
        if metadata_path.exists():
            stored = json.loads(metadata_path.read_text())
        if stored and not self._explicit_spec:
            self._choice = (stored["embedder"], int(stored["embed_dim"]))
            return self._choice
        embedder = load_embedder(self._requested_spec)
        spec = embedder.spec
        if stored and stored["embedder"] != spec:
            raise EmbedderMismatchError(
                f"{self.data_path} was built with embedder {stored['embedder']!r}, not {spec!r}: "
                f"unset ${EMBEDDER_ENV} (or pass embedder={stored['embedder']!r}) to read it, or "
                "use another --data_dir (or tfds build --overwrite) to build with the new one."
            )
        self._choice = (spec, int(embedder.embed_dim))
        return self._choice

    def video_features(self, class_names: Sequence[str] | None) -> tfds.features.FeaturesDict:
        """The features of both builders, at the chosen embedder's width (see `video_features`),
        or a clip config's (`clip_features`)."""
        if self.stores_clips:
            return clip_features(class_names)
        return video_features(class_names, self._embedder_choice()[1])

    def video_supervised_keys(self) -> tuple[str, str]:
        """`(input, "label")`: the embeddings, or a clip config's frames."""
        return ("clip_frames" if self.stores_clips else "embeddings", "label")

    def video_metadata(self) -> tfds.core.MetadataDict:
        """`metadata.json`: the embedder, frame count and split rule (the report adds counts).

        A clip config records `clip_short_side` instead of an embedder; every config records
        `group_pattern` (and, once built, `split_source`).
        """
        if self.stores_clips:
            return tfds.core.MetadataDict(
                num_frames=self.builder_config.num_frames,
                clip_short_side=self.builder_config.short_side,
                split_rule=SPLIT_RULE,
                group_pattern=self._group_pattern,
                frame_sampling="exact",
                frames_approximate=False,
            )
        spec, embed_dim = self._embedder_choice()
        return tfds.core.MetadataDict(
            embedder=spec,
            embed_dim=embed_dim,
            num_frames=self.builder_config.num_frames,
            frame_index=FRAME_INDEX_RULE,
            split_rule=SPLIT_RULE,
            frame_sampling=self._frame_sampling,
            frames_approximate=self._frame_sampling != "exact",
        )

    # -- generation -------------------------------------------------------------------------

    def _download_and_prepare(self, dl_manager, download_config) -> None:
        # Beam only when tfds build / DownloadConfig was given a runner or pipeline options;
        # otherwise a plain generator, so building needs no apache-beam.
        self._use_beam = bool(download_config.beam_runner or download_config.beam_options)
        super()._download_and_prepare(dl_manager, download_config)
        if self._listing is None:  # TFDS returned early (max_examples_per_split=0)
            return
        if self.stores_clips:
            encoding = {"clip_short_side": self.builder_config.short_side}
        else:
            spec, embed_dim = self._embedder_choice()
            encoding = {
                "embedder": spec,
                "embedder_fingerprint": embedder_fingerprint(spec),
                "embed_dim": embed_dim,
            }
        summary = write_report(
            self.data_path,  # still TFDS' temporary folder: the report is renamed with the data
            header={
                "dataset": self.name,
                "config": self.builder_config.name,
                "version": str(self.version),
                **encoding,
                "num_frames": self.builder_config.num_frames,
                "truncated_policy": self._truncated,
                "frame_sampling": self.info.metadata["frame_sampling"],
                "group_pattern": self._group_pattern,
                "split_source": self.info.metadata["split_source"],
                "class_names": self._listing.class_names,
                "runner": "beam" if self._use_beam else "plain",
            },
            listing=self._listing,
            assigned=self._assigned,
            notes=self._split_notes,
        )
        self.info.metadata["build_summary"] = summary

    def _post_download_and_prepare_hook(self) -> None:
        summary = self.info.metadata.get("build_summary")
        if summary:
            print(
                format_summary(f"{self.name}/{self.builder_config.name}", summary, self.data_path)
            )

    def video_split_generators(self, listing: VideoList) -> dict[str, Any]:
        """Assigns splits (by group), checks the cache and returns `{split: generator}`."""
        label_feature = self.info.features["label"]
        if label_feature.num_classes is None:
            label_feature.names = listing.class_names
        elif list(label_feature.names) != list(listing.class_names):
            raise VideoListError(
                f"classes {listing.class_names} differ from {label_feature.names}."
            )
        self.info.metadata["class_names"] = list(listing.class_names)
        self.info.metadata["truncated_policy"] = self._truncated
        if self.stores_clips:
            if self._frame_sampling != "exact":
                raise FrameSamplingError(
                    f"frame_sampling={self._frame_sampling!r}: clip configs store evenly spaced "
                    "frames with their timestamps, so they sample exactly; unset "
                    "$VIDCLS_FRAME_SAMPLING (keyframe sampling is for the frames* configs)."
                )
            self._job = ClipJob(
                num_frames=self.builder_config.num_frames,
                short_side=self.builder_config.short_side,
                truncated=self._truncated,
            )
        else:
            spec, embed_dim = self._embedder_choice()
            fingerprint = embedder_fingerprint(spec)
            self.info.metadata["embedder_fingerprint"] = fingerprint
            self.info.metadata["frame_sampling"] = self._frame_sampling
            self.info.metadata["frames_approximate"] = self._frame_sampling != "exact"
            self._job = EmbeddingJob(
                spec=spec,
                fingerprint=fingerprint,
                embed_dim=embed_dim,
                num_frames=self.builder_config.num_frames,
                cache_root=str(default_cache_dir()),
                truncated=self._truncated,
                frame_sampling=self._frame_sampling,
            )
            self._job.cache.check()
        listing = with_groups(listing, check_group_pattern(self._group_pattern))
        self.info.metadata["group_pattern"] = self._group_pattern
        self.info.metadata["split_source"] = "ucf101_lists" if listing.split_lists else "groups"
        if listing.split_lists:
            self.info.metadata["split_lists"] = listing.source["split_lists"]
        self._listing = listing
        self._assigned, self._split_notes = assign_splits(
            listing.videos, split_lists=listing.split_lists
        )
        for note in self._split_notes:
            logger.warning("%s: %s", self.name, note)
        return {
            split: self._generate_examples(videos=self._assigned[split], split=split)
            for split in SPLIT_NAMES
        }

    def video_examples(self, videos: Sequence[Video], split: str):
        """A generator of `(key, example)`, or the equivalent Beam `PTransform`."""
        status_path = os.fspath(epath.Path(self.data_path) / STATUS_FILE.format(split=split))
        if self._use_beam:
            return beam_examples(videos, self._job, split, status_path)
        return plain_examples(videos, self._job, split, status_path)
