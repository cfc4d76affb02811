"""Our CLIP datasets as YouTube-8M shards: frame level, video level and `vocabulary.csv`.

    export_dataset("video_folder/frames16", "yt8m_out", data_dir="/tmp/tfds")

reads every split of a built dataset of ours (`video_folder`, `youtube_videos`: `video_id`,
`label`, `embeddings` (k, D)) with `data.load_split` and writes

    yt8m_out/vocabulary.csv                      Index, Name, TrainVideoCount (our class names)
    yt8m_out/frame/{train,validate,test}NNNN.tfrecord   SequenceExamples: `rgb` = the frame
                                                 embeddings quantized (`records.quantize`)
    yt8m_out/video/{train,validate,test}NNNN.tfrecord   Examples: `mean_rgb` = their mean
    yt8m_out/<level>/youtube8m.json              level, rgb_size = D, audio_size = 0, source

so YouTube-8M tooling (the starter code's readers with `feature_sizes=D`) and our `youtube8m`
builder (`--manual_dir yt8m_out`, which reads the widths from `youtube8m.json`) take our data.

Choices, stated once:
- No audio: our datasets have none, so the records carry no `audio` / `mean_audio` feature and
  `youtube8m.json` says `audio_size: 0` (the builder then declares no audio feature).
- Labels: `[label]`, one per video, kept in every split (the real test shards withhold theirs).
- `mean_rgb` is the mean of the float embeddings, not of the quantized frames (more exact; the
  real release's is the mean of its dequantized frames).
- Quantization is the release's fixed [-2, 2] over 256 levels: a step of 4/255 (about 0.016),
  coarse next to CLIP ViT-B/32's components (mostly within +-0.5); values outside [-2, 2] are
  clipped and counted (`clipped_values` in `youtube8m.json`).
- Splits: `train`, `validation` -> `validate`, `test`; the same video ids as the source.

Each level is written into a staging folder and renamed into place at the end, so a failed
export leaves no partial level behind; an existing level folder is refused unless `overwrite`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import pathlib
import shutil
import uuid
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vidcls_keras import files
from vidcls_keras.errors import VidclsError
from vidcls_keras.youtube8m import records
from vidcls_keras.youtube8m.stream import LEVELS, VOCABULARY_FILE, WIDTHS_FILE

PREFIX_OF_SPLIT = {"train": "train", "validation": "validate", "test": "test"}
"""TFDS split -> YouTube-8M shard prefix."""
DEFAULT_VIDEOS_PER_SHARD = 1000


class ExportError(VidclsError):
    """A dataset that cannot be exported to YouTube-8M shards, or an output in the way."""


@dataclasses.dataclass
class LevelExport:
    """What was written for one level.

    Attributes:
        level: `"video"` or `"frame"`.
        folder: The level's folder.
        shards: `{split prefix: [shard paths]}`.
        videos: `{split prefix: videos written}`.
        rgb_size: The feature width (the dataset's embedding width D).
        clipped_values: Feature values outside [-2, 2], clipped by quantization (frame level).
    """

    level: str
    folder: pathlib.Path
    shards: dict[str, list[pathlib.Path]]
    videos: dict[str, int]
    rgb_size: int
    clipped_values: int = 0


class ShardWriter:
    """Writes `<prefix>NNNN.tfrecord` shards of at most `videos_per_shard` records each."""

    def __init__(self, folder: pathlib.Path, prefix: str, videos_per_shard: int):
        self.folder, self.prefix, self.videos_per_shard = folder, prefix, videos_per_shard
        self.paths: list[pathlib.Path] = []
        self.count = 0
        self._writer: tf.io.TFRecordWriter | None = None

    def write(self, record: bytes) -> None:
        """Appends one serialized record, starting a new shard when the current one is full."""
        if self.count % self.videos_per_shard == 0:
            self.close()
            self.paths.append(self.folder / f"{self.prefix}{len(self.paths):04d}.tfrecord")
            self._writer = tf.io.TFRecordWriter(str(self.paths[-1]))
        self._writer.write(record)
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _source_info(dataset: str, data_dir: str | None) -> tuple[Any, list[str]]:
    """The dataset's info and split names; checks it is one of our CLIP datasets."""
    from vidcls_keras.data import load_split  # data.py pulls in TF and TFDS only

    try:
        _, info = load_split(dataset, "all", data_dir)
    except ValueError as error:  # the dataset is not built there
        raise ExportError(str(error)) from error
    features = info.features
    needed = {"video_id", "label", "embeddings"}
    if not needed <= set(features.keys()) or not isinstance(
        features["label"], tfds.features.ClassLabel
    ):
        raise ExportError(
            f"dataset {dataset!r} has features {sorted(features.keys())}: expected one of our "
            "CLIP datasets (video_id, label as a ClassLabel, embeddings (frames, D)), e.g. "
            "video_folder/frames16"
        )
    splits = [split for split in PREFIX_OF_SPLIT if split in info.splits]
    if not splits:
        raise ExportError(f"dataset {dataset!r} has no train/validation/test split")
    return info, splits


def _vocabulary_csv(names: list[str], train_counts: np.ndarray) -> str:
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(("Index", "Name", "TrainVideoCount"))
    for index, name in enumerate(names):
        writer.writerow((index, name, int(train_counts[index])))
    return table.getvalue()


def export_dataset(
    dataset: str,
    out: str | os.PathLike,
    data_dir: str | None = None,
    levels: tuple[str, ...] = LEVELS,
    videos_per_shard: int = DEFAULT_VIDEOS_PER_SHARD,
    overwrite: bool = False,
) -> dict[str, LevelExport]:
    """Writes a built CLIP dataset of ours as YouTube-8M shards (see the module docstring).

    Args:
        dataset: `"name/config"` as built by `tfds build` (e.g. `"video_folder/frames16"`).
        out: The output folder: `vocabulary.csv` and one folder per level.
        data_dir: The dataset's `--data_dir` (None: TFDS' default).
        levels: `"video"`, `"frame"` or both.
        videos_per_shard: Records per shard.
        overwrite: Replace existing `out/<level>/` folders (else they are refused).

    Returns:
        `{level: LevelExport}`.

    Raises:
        ExportError: The dataset is not built or not one of ours, a level is unknown,
            videos_per_shard < 1, a video has no embeddings, or `out/<level>` exists.
        vidcls_keras.files.OutputPathError: `out` cannot be made a folder.
    """
    from vidcls_keras.data import load_split

    unknown = sorted(set(levels) - set(LEVELS))
    if unknown or not levels:
        raise ExportError(f"levels {list(levels)}: choose from {list(LEVELS)}")
    if videos_per_shard < 1:
        raise ExportError(f"videos_per_shard={videos_per_shard}: must be at least 1")
    info, splits = _source_info(dataset, data_dir)
    out = files.ensure_dir(out, "--out")
    for level in levels:
        if (out / level).exists() and not overwrite:
            raise ExportError(
                f"{out / level} already exists: choose another --out, or --overwrite to replace it"
            )
    names = list(info.features["label"].names)
    embed_dim = int(info.features["embeddings"].shape[-1])
    staging = {level: out / f".{level}.partial-{uuid.uuid4().hex[:8]}" for level in levels}
    writers: dict[tuple[str, str], ShardWriter] = {}
    clipped = 0
    train_counts = np.zeros(len(names), np.int64)
    try:
        for folder in staging.values():
            folder.mkdir()
        for split in splits:
            prefix = PREFIX_OF_SPLIT[split]
            for level in levels:
                writers[level, prefix] = ShardWriter(staging[level], prefix, videos_per_shard)
            examples, _ = load_split(dataset, split, data_dir)
            for example in tfds.as_numpy(examples):
                video_id = example["video_id"].decode("utf-8")
                embeddings = np.asarray(example["embeddings"], np.float32)
                if embeddings.ndim != 2 or not len(embeddings):
                    raise ExportError(
                        f"{dataset} {split} video {video_id!r}: embeddings {embeddings.shape}, "
                        "expected (frames >= 1, D)"
                    )
                labels = [int(example["label"])]
                if split == "train":
                    train_counts[labels[0]] += 1
                if "frame" in levels:
                    clipped += int(np.sum(np.abs(embeddings) > records.QUANTIZE_MAX))
                    writers["frame", prefix].write(
                        records.encode_frame_example(video_id, labels, records.quantize(embeddings))
                    )
                if "video" in levels:
                    writers["video", prefix].write(
                        records.encode_video_example(video_id, labels, embeddings.mean(axis=0))
                    )
            for level in levels:
                writers[level, prefix].close()
        results = {}
        for level in levels:
            level_writers = {p: w for (lv, p), w in writers.items() if lv == level}
            result = LevelExport(
                level=level,
                folder=out / level,
                shards={
                    p: [out / level / path.name for path in w.paths]
                    for p, w in level_writers.items()
                },
                videos={p: w.count for p, w in level_writers.items()},
                rgb_size=embed_dim,
                clipped_values=clipped if level == "frame" else 0,
            )
            sidecar = {
                "format": "youtube8m",
                "level": level,
                "rgb_size": embed_dim,
                "audio_size": 0,
                "quantize": {"max": records.QUANTIZE_MAX, "min": records.QUANTIZE_MIN},
                "videos": result.videos,
                "shards": {p: len(paths) for p, paths in result.shards.items()},
                "clipped_values": result.clipped_values,
                "source": {
                    "dataset": dataset,
                    "version": str(info.version),
                    "data_dir": data_dir,
                    "embedder": (info.metadata or {}).get("embedder"),
                    "features": "rgb = quantized CLIP frame embeddings"
                    if level == "frame"
                    else "mean_rgb = mean of the float CLIP frame embeddings",
                },
            }
            files.atomic_write_text(staging[level] / WIDTHS_FILE, json.dumps(sidecar, indent=1))
            results[level] = result
        files.atomic_write_text(out / VOCABULARY_FILE, _vocabulary_csv(names, train_counts))
        for level in levels:  # into place, last: a failed export leaves no level half-written
            if (out / level).exists():
                shutil.rmtree(out / level)
            os.replace(staging[level], out / level)
        return results
    finally:
        for writer in writers.values():
            writer.close()
        for folder in staging.values():
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(folder)
