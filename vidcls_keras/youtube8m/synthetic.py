"""Generated YouTube-8M-shaped shards and `vocabulary.csv`, for tests and benchmarks.

    python -c "from vidcls_keras.youtube8m import synthetic; \
        synthetic.write_shards('yt8m', num_shards=4, videos_per_shard=1000, level='frame')"

The records have the real formats and sizes (`records` describes them): 1024-d rgb and 128-d
audio, 4-character ids, 3,862 classes, frame level up to 300 one-second frames, and labels drawn
the way the real ones fall: about 3 per video (1 + Poisson(2)), classes heavy-tailed (the first
indices are the common ones, as in the real vocabulary). In `test` shards about half the videos
have no labels, as the real test shards withhold theirs. The features are learnable but carry no
meaning: each class has a random direction in feature space and a video is the mean of its
labels' directions plus noise; frames add their own noise and are quantized as the real ones.

Everything is drawn from `numpy.random.default_rng(SeedSequence([seed, crc32(split), shard]))`
and serialized deterministically, so the same arguments give the same bytes, and each shard can be
made on its own (the same shard comes out whatever `num_shards` is).
"""

from __future__ import annotations

import csv
import os
import pathlib
import zlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from vidcls_keras.errors import VidclsError
from vidcls_keras.youtube8m import records

MEAN_LABELS = 3.0
"""Labels per labelled video, on average (the real training set has about 3.0)."""
UNLABELLED_TEST_SHARE = 0.5
"""Share of videos in `test` shards written with an empty label list."""
UNNAMED_CLASSES = 56
"""Rows of the real 3,862-row vocabulary.csv with an empty Name."""
VOCABULARY_COLUMNS = (
    "Index",
    "TrainVideoCount",
    "KnowledgeGraphId",
    "Name",
    "WikiUrl",
    "Vertical1",
    "Vertical2",
    "Vertical3",
    "WikiDescription",
)
"""The real vocabulary.csv's header, in its order."""
_VERTICALS = (
    "Games",
    "Arts & Entertainment",
    "Autos & Vehicles",
    "Food & Drink",
    "Sports",
    "Pets & Animals",
    "Computers & Electronics",
    "Beauty & Fitness",
    "Science",
    "Travel",
)
# Names in the style of the real vocabulary's common classes (with "Cooking" at index 22, the
# issue's example); not a copy of its rows. Quotes and commas test the CSV quoting.
_NAMES = (
    "Game",
    "Video game",
    "Vehicle",
    "Concert",
    "Musician",
    "Cartoon",
    "Performance art",
    "Car",
    "Dance",
    "Guitar",
    "String instrument",
    "Food",
    "Association football",
    "Musical ensemble",
    "Music video",
    "Animal",
    "Animation",
    "Motorsport",
    "Pet",
    "Racing",
    "Recipe",
    "Mobile phone",
    "Cooking",
    'Toys "R" Us',
    "Arts, crafts & sewing",
)
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class SyntheticShardsError(VidclsError):
    """An invalid request for generated YouTube-8M shards (split, level, sizes, counts)."""


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(split.encode()), index]))


def class_frequencies(num_classes: int) -> np.ndarray:
    """Heavy-tailed class probabilities (num_classes,), largest first, summing to 1."""
    weights = 1.0 / np.arange(10, 10 + num_classes, dtype=np.float64)
    return weights / weights.sum()


def _class_directions(num_classes: int, size: int, seed: int, name: str) -> np.ndarray:
    """One random direction per class (num_classes, size), float32, entries about +-0.5."""
    rng = _rng(seed, name, size)
    return rng.normal(0.0, 0.5, (num_classes, size)).astype(np.float32)


def _draw_labels(
    rng: np.random.Generator, num_classes: int, probabilities: np.ndarray, unlabelled: bool
) -> np.ndarray:
    if unlabelled:
        return np.zeros(0, np.int64)
    count = min(1 + int(rng.poisson(MEAN_LABELS - 1.0)), num_classes)
    return np.sort(rng.choice(num_classes, size=count, replace=False, p=probabilities)).astype(
        np.int64
    )


def _video_id(split: str, global_index: int) -> str:
    """A unique 4+ character id per (split, index), scrambled so ids do not sort by index."""
    number = (global_index * 2_654_435_761 + zlib.crc32(split.encode())) % 62**4
    number += (global_index // 62**4) * 62**4  # past 62**4 videos, ids grow a character
    characters = []
    for _ in range(4):
        number, digit = divmod(number, 62)
        characters.append(_ID_ALPHABET[digit])
    while number:
        number, digit = divmod(number, 62)
        characters.append(_ID_ALPHABET[digit])
    return "".join(characters)


def _segments(
    rng: np.random.Generator, labels: np.ndarray, num_frames: int
) -> tuple[list[int], list[int], list[float]]:
    """The 2019 release's 5-second rated segments: a few per labelled video, scored 0 or 1."""
    if not labels.size or num_frames < 5:
        return [], [], []
    possible = np.arange(0, num_frames - 4, 5)  # 5-second segments inside the video
    starts = rng.choice(possible, size=min(int(rng.integers(1, 6)), possible.size), replace=False)
    segment_labels = rng.choice(labels, size=len(starts)).tolist()
    scores = rng.integers(0, 2, len(starts)).astype(float).tolist()
    return segment_labels, sorted(int(start) for start in starts), scores


def write_shards(
    directory: str | os.PathLike,
    split: str = "train",
    num_shards: int = 2,
    videos_per_shard: int = 10,
    level: str = "video",
    num_classes: int = records.NUM_CLASSES,
    frames: tuple[int, int] = (60, records.MAX_FRAMES),
    seed: int = 0,
    id_key: str = "id",
    segments: bool = False,
    rgb_size: int = records.RGB_SIZE,
    audio_size: int | None = records.AUDIO_SIZE,
) -> list[pathlib.Path]:
    """Writes `<split>NNNN.tfrecord` shards of generated YouTube-8M records.

    Args:
        directory: Folder to write into (created if missing); existing shards are overwritten.
        split: The file prefix: `train`, `validate` or `test` (test shards leave about half the
            videos unlabelled).
        num_shards: Shards to write.
        videos_per_shard: Records per shard.
        level: `"video"` (Examples with mean_rgb, mean_audio) or `"frame"` (SequenceExamples
            with rgb, audio per second).
        num_classes: Size of the vocabulary the labels index.
        frames: Inclusive (min, max) seconds per video, frame level only.
        seed: Seed of everything drawn.
        id_key: `"id"` (2018+ releases) or `"video_id"` (2017).
        segments: Frame level only: add the 2019 segment fields to labelled videos.
        rgb_size: Visual feature width.
        audio_size: Audio feature width; None writes no audio.

    Returns:
        The shard paths, in order.

    Raises:
        SyntheticShardsError: An unknown split or level, or sizes that cannot be written.
    """
    if split not in records.SPLIT_PREFIXES:
        raise SyntheticShardsError(f"split {split!r}: must be one of {records.SPLIT_PREFIXES}")
    if level not in ("video", "frame"):
        raise SyntheticShardsError(f"level {level!r}: must be 'video' or 'frame'")
    if num_shards < 1 or videos_per_shard < 1 or num_classes < 1:
        raise SyntheticShardsError(
            f"num_shards={num_shards}, videos_per_shard={videos_per_shard}, "
            f"num_classes={num_classes}: each must be at least 1"
        )
    min_frames, max_frames = frames
    if not 1 <= min_frames <= max_frames:
        raise SyntheticShardsError(f"frames={frames}: need 1 <= min <= max")
    if segments and level != "frame":
        raise SyntheticShardsError("segments: the segment fields exist at frame level only")
    if id_key not in records.ID_KEYS:
        raise SyntheticShardsError(f"id_key {id_key!r}: must be one of {records.ID_KEYS}")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    probabilities = class_frequencies(num_classes)
    rgb_directions = _class_directions(num_classes, rgb_size, seed, "rgb")
    audio_directions = (
        None if audio_size is None else _class_directions(num_classes, audio_size, seed, "audio")
    )
    paths = []
    for shard in range(num_shards):
        rng = _rng(seed, split, shard)
        path = directory / f"{split}{shard:04d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for index in range(videos_per_shard):
                video_id = _video_id(split, shard * videos_per_shard + index)
                unlabelled = split == "test" and rng.random() < UNLABELLED_TEST_SHARE
                labels = _draw_labels(rng, num_classes, probabilities, unlabelled)
                # Unlabelled videos still look like some class (the hidden truth of a test set).
                shown = labels if labels.size else rng.choice(num_classes, 1, p=probabilities)
                rgb = rgb_directions[shown].mean(0)
                audio = None if audio_directions is None else audio_directions[shown].mean(0)
                if level == "video":
                    writer.write(_video_record(rng, video_id, labels, rgb, audio, id_key))
                else:
                    num_frames = int(rng.integers(min_frames, max_frames + 1))
                    writer.write(
                        _frame_record(
                            rng, video_id, labels, rgb, audio, num_frames, id_key, segments
                        )
                    )
        paths.append(path)
    return paths


def _video_record(
    rng: np.random.Generator,
    video_id: str,
    labels: np.ndarray,
    rgb: np.ndarray,
    audio: np.ndarray | None,
    id_key: str,
) -> bytes:
    mean_rgb = np.clip(rgb + rng.normal(0.0, 0.3, rgb.shape), -2.0, 2.0)
    mean_audio = (
        None if audio is None else np.clip(audio + rng.normal(0.0, 0.3, audio.shape), -2.0, 2.0)
    )
    return records.encode_video_example(video_id, labels, mean_rgb, mean_audio, id_key=id_key)


def _frame_record(
    rng: np.random.Generator,
    video_id: str,
    labels: np.ndarray,
    rgb: np.ndarray,
    audio: np.ndarray | None,
    num_frames: int,
    id_key: str,
    segments: bool,
) -> bytes:
    # float32 noise: a 300 x 1024 video is drawn in a few milliseconds.
    rgb_frames = records.quantize(
        rgb + rng.standard_normal((num_frames, rgb.size), np.float32) * 0.5
    )
    audio_frames = None
    if audio is not None:
        audio_frames = records.quantize(
            audio + rng.standard_normal((num_frames, audio.size), np.float32) * 0.5
        )
    segment_fields: tuple = (None, None, None)
    if segments and labels.size:
        segment_fields = _segments(rng, labels, num_frames)
    return records.encode_frame_example(
        video_id, labels, rgb_frames, audio_frames, *segment_fields, id_key=id_key
    )


def write_vocabulary(
    path: str | os.PathLike,
    num_classes: int = records.NUM_CLASSES,
    unnamed: int | None = None,
    seed: int = 0,
) -> pathlib.Path:
    """Writes a `vocabulary.csv` shaped like the real one (header, quoting, empty names).

    Args:
        path: The CSV file to write.
        num_classes: Rows, indices 0..num_classes-1.
        unnamed: Rows with an empty Name (their KnowledgeGraphId is still set, as in the real
            file). Default: the real share (56 of 3,862), at least one when num_classes > 1.
        seed: Seed of the counts, ids and which rows are unnamed.

    Returns:
        The path written.

    Raises:
        SyntheticShardsError: num_classes < 1 or unnamed out of range.
    """
    if num_classes < 1:
        raise SyntheticShardsError(f"num_classes={num_classes}: must be at least 1")
    if unnamed is None:
        unnamed = max(
            round(UNNAMED_CLASSES * num_classes / records.NUM_CLASSES), int(num_classes > 1)
        )
    if not 0 <= unnamed < num_classes:
        raise SyntheticShardsError(f"unnamed={unnamed}: must be in [0, {num_classes})")
    rng = _rng(seed, "vocabulary", num_classes)
    # Never the first rows (the common classes, and index 22 "Cooking" of the example).
    candidates = np.arange(min(len(_NAMES), num_classes - unnamed), num_classes)
    unnamed_rows = set(rng.choice(candidates, size=unnamed, replace=False).tolist())
    counts = np.maximum(
        100, np.round(378_135 * class_frequencies(num_classes) / class_frequencies(num_classes)[0])
    )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(VOCABULARY_COLUMNS)
        for index in range(num_classes):
            name = _NAMES[index] if index < len(_NAMES) else f"Topic {index}"
            verticals = rng.choice(len(_VERTICALS), size=int(rng.integers(1, 4)), replace=False)
            vertical_names = [_VERTICALS[v] for v in verticals] + [""] * (3 - len(verticals))
            knowledge_graph_id = "/m/0" + "".join(rng.choice(list(_ID_ALPHABET[:36]), 5))
            if index in unnamed_rows:
                writer.writerow(
                    [index, int(counts[index]), knowledge_graph_id, "", "", *vertical_names, ""]
                )
                continue
            wiki = "https://en.wikipedia.org/wiki/" + name.replace(" ", "_")
            description = f'{name} is a topic of generated videos, often called "{name.lower()}", with commas, quotes.'
            writer.writerow(
                [
                    index,
                    int(counts[index]),
                    knowledge_graph_id,
                    name,
                    wiki,
                    *vertical_names,
                    description,
                ]
            )
    return path


def write_dataset(
    directory: str | os.PathLike,
    level: str = "video",
    splits: Sequence[str] = records.SPLIT_PREFIXES,
    num_shards: int = 2,
    videos_per_shard: int = 10,
    num_classes: int = records.NUM_CLASSES,
    seed: int = 0,
    **shard_options,
) -> pathlib.Path:
    """A manual-data folder as the `youtube8m` builder expects: shards of each split + vocabulary.

    Args:
        directory: Folder to fill.
        level: `"video"` or `"frame"`.
        splits: File prefixes to write.
        num_shards: Shards per split.
        videos_per_shard: Records per shard.
        num_classes: Vocabulary size.
        seed: Seed of everything drawn.
        **shard_options: Passed on to `write_shards` (frames, id_key, segments, sizes).

    Returns:
        The folder.
    """
    directory = pathlib.Path(directory)
    for split in splits:
        write_shards(
            directory,
            split=split,
            num_shards=num_shards,
            videos_per_shard=videos_per_shard,
            level=level,
            num_classes=num_classes,
            seed=seed,
            **shard_options,
        )
    write_vocabulary(directory / "vocabulary.csv", num_classes=num_classes, seed=seed)
    return directory
