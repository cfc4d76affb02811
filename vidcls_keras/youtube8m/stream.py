"""YouTube-8M shards as a `tf.data` input without a build, and what the builder reads with it.

    dataset, info = stream_examples("yt8m/frame/train*.tfrecord", "frame",
                                    vocabulary="yt8m/vocabulary.csv")

`stream_examples` yields, from a glob of original shards, exactly the example dicts that
`tfds.as_dataset` yields for the built `youtube8m` dataset (same keys, dtypes and values; frame
features stay uint8: dequantize them in the input pipeline with `records.dequantize`), with a
`StreamInfo` holding what training needs (label names, widths, number of classes). For users
who will not copy 1.5 TB of frame-level shards into a TFDS build.

The pieces the `youtube8m` builder shares with it live here too, so both read the same way:

- `read_vocabulary`: `vocabulary.csv` -> one name per index (an empty `Name` falls back to the
  Knowledge-Graph id; no class is dropped and no index shifts);
- `shard_widths`: the feature widths of a folder of shards (`youtube8m.json` beside them, as our
  writers leave it, else the first readable record);
- `LabelSubset`: `--labels Cooking Recipe` (names or indices) -> which videos to keep and,
  optionally, labels re-indexed to the subset.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vidcls_keras.errors import VidclsError
from vidcls_keras.youtube8m import records

LEVELS = ("video", "frame")
VOCABULARY_FILE = "vocabulary.csv"
WIDTHS_FILE = "youtube8m.json"
"""Beside shards written by `youtube8m.writers`: level, rgb_size, audio_size, quantize range."""
SPLIT_OF_PREFIX = {"train": "train", "validate": "validation", "test": "test"}
"""Shard file prefix -> TFDS split name (`validate*.tfrecord` is the `validation` split)."""


class StreamError(VidclsError):
    """Shards, a vocabulary or a label subset that cannot be read as YouTube-8M data."""


# --------------------------------------------------------------------------------------------
# Vocabulary


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """Reads `vocabulary.csv` into one class name per index, index order.

    The file needs `Index` and `Name` columns (the real one adds `KnowledgeGraphId`, counts,
    verticals...). A row with an empty `Name` (56 of the real 3,862) is named by its
    `KnowledgeGraphId`; with neither, `"class <index>"`. A name used twice gets its
    Knowledge-Graph id (or index) appended, since TFDS class names are unique. Indices missing
    from the file are named `"class <index>"`, so every index keeps its place.

    Args:
        path: The CSV file.

    Returns:
        Names, `names[i]` for class index i; length = largest index + 1.

    Raises:
        StreamError: The file is missing or unreadable, lacks the columns, or has a
            non-integer, negative or repeated index.
    """
    path = pathlib.Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
            columns = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise StreamError(f"vocabulary {path}: cannot be read ({error})") from error
    if not rows or not {"Index", "Name"} <= set(columns):
        raise StreamError(
            f"vocabulary {path}: expected a CSV with a header holding at least 'Index' and "
            f"'Name' and one row per class, got columns {list(columns)} and {len(rows)} rows"
        )
    by_index: dict[int, tuple[str, str]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            index = int(row["Index"])
        except (TypeError, ValueError):
            raise StreamError(
                f"vocabulary {path} line {line}: Index {row['Index']!r} is not an integer"
            ) from None
        if index < 0 or index in by_index:
            raise StreamError(
                f"vocabulary {path} line {line}: Index {index} is "
                f"{'negative' if index < 0 else 'repeated'}"
            )
        knowledge_graph_id = (row.get("KnowledgeGraphId") or "").strip()
        name = (row["Name"] or "").strip() or knowledge_graph_id or f"class {index}"
        by_index[index] = (name, knowledge_graph_id)
    names, seen = [], set()
    for index in range(max(by_index) + 1):
        name, knowledge_graph_id = by_index.get(index, (f"class {index}", ""))
        if name in seen:
            name = f"{name} ({knowledge_graph_id or f'index {index}'})"
        seen.add(name)
        names.append(name)
    return names


# --------------------------------------------------------------------------------------------
# Label subsets


@dataclasses.dataclass(frozen=True)
class LabelSubset:
    """The classes a subset keeps: videos with at least one of them, labels re-indexed or not.

    Attributes:
        indices: Original class indices of the subset, in the order given (no repeats).
        reindex: True: labels become positions in `indices` (other labels are dropped);
            False: labels keep their vocabulary indices (all of a kept video's labels stay).
        num_classes: Size of the full vocabulary.
    """

    indices: tuple[int, ...]
    reindex: bool
    num_classes: int

    @classmethod
    def resolve(
        cls, labels: Sequence[str | int], names: Sequence[str], reindex: bool = True
    ) -> LabelSubset:
        """Reads `--labels Cooking Recipe` style entries: names, or indices (ints or digits).

        Raises:
            StreamError: An entry is neither a name of the vocabulary nor an index in it.
        """
        position = {name: index for index, name in enumerate(names)}
        lowered = {name.lower(): index for index, name in enumerate(names)}
        indices: list[int] = []
        for label in labels:
            text = str(label).strip()
            if text in position:
                index = position[text]
            elif text.lower() in lowered:
                index = lowered[text.lower()]
            elif text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
                index = int(text)
            else:
                raise StreamError(
                    f"label {label!r}: neither a class name of the vocabulary nor an index in "
                    f"[0, {len(names)}) (names are matched exactly, then ignoring case)"
                )
            if index not in indices:
                indices.append(index)
        if not indices:
            raise StreamError("labels: the subset is empty; give at least one name or index")
        return cls(tuple(indices), bool(reindex), len(names))

    @property
    def label_mapping(self) -> dict[int, int] | None:
        """`{new index: original index}` when re-indexed, else None."""
        return dict(enumerate(self.indices)) if self.reindex else None

    def class_names(self, names: Sequence[str]) -> list[str]:
        """The dataset's class names: the subset's (re-indexed) or the whole vocabulary's."""
        return [names[index] for index in self.indices] if self.reindex else list(names)

    def lookup(self) -> np.ndarray:
        """int64 (num_classes,): the new index of each original class, -1 outside the subset."""
        table = np.full(self.num_classes, -1, np.int64)
        table[list(self.indices)] = np.arange(len(self.indices)) if self.reindex else self.indices
        return table

    def apply(self, labels: np.ndarray) -> np.ndarray | None:
        """A video's labels int64 (k,) -> its labels in the subset's dataset, or None to drop it."""
        new = self.lookup()[labels]
        if not np.any(new >= 0):
            return None
        return new[new >= 0] if self.reindex else labels

    def apply_segments(self, segments: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Re-indexes the 2019 segment fields too, dropping segments of other classes.

        Without `reindex` they are returned as they are (vocabulary indices).
        """
        if not self.reindex:
            return segments
        new = self.lookup()[segments["segment_labels"]]
        kept = {key: np.asarray(value)[new >= 0] for key, value in segments.items()}
        kept["segment_labels"] = new[new >= 0]
        return kept


# --------------------------------------------------------------------------------------------
# Shards and widths


def split_shards(folder: str | os.PathLike) -> dict[str, list[str]]:
    """`{split: sorted shard paths}` for the `train*`, `validate*`, `test*.tfrecord` in `folder`.

    Splits without shards are left out.
    """
    found = {}
    for prefix, split in SPLIT_OF_PREFIX.items():
        paths = sorted(
            glob.glob(os.path.join(glob.escape(os.fspath(folder)), f"{prefix}*.tfrecord"))
        )
        if paths:
            found[split] = paths
    return found


def record_widths(serialized: bytes) -> tuple[str, int, int]:
    """`(level, rgb_size, audio_size)` of one record, from its features (audio_size 0: none).

    A serialized `tf.train.Example` also parses as a `SequenceExample` (its features become the
    context), so one parse tells the levels apart: frame level has an `rgb` feature list.

    Raises:
        StreamError: Not a YouTube-8M record (no `rgb` frames and no `mean_rgb`).
    """
    try:
        example = tf.train.SequenceExample.FromString(serialized)
    except Exception as error:  # protobuf's DecodeError, whose module varies by implementation
        raise StreamError(f"not a serialized YouTube-8M record ({error})") from error
    lists = example.feature_lists.feature_list
    if "rgb" in lists and lists["rgb"].feature:
        audio = lists["audio"].feature if "audio" in lists else []
        rgb_size = len(lists["rgb"].feature[0].bytes_list.value[0])
        audio_size = len(audio[0].bytes_list.value[0]) if audio else 0
        return "frame", rgb_size, audio_size
    context = example.context.feature
    if "mean_rgb" in context:
        audio_size = len(context["mean_audio"].float_list.value) if "mean_audio" in context else 0
        return "video", len(context["mean_rgb"].float_list.value), audio_size
    raise StreamError("not a YouTube-8M record: no frame-level 'rgb' and no video-level 'mean_rgb'")


def shard_widths(paths: Sequence[str], level: str) -> tuple[int, int]:
    """`(rgb_size, audio_size)` of shards at `level`; audio_size 0 when they carry no audio.

    Read from `youtube8m.json` beside the first shard (written by `youtube8m.writers`), else
    from the first record that can be read (a truncated shard is passed over).

    Raises:
        StreamError: The shards are of the other level, or none has a readable record.
    """
    _check_level(level)
    sidecar = pathlib.Path(paths[0]).parent / WIDTHS_FILE if paths else None
    if sidecar is not None and sidecar.exists():
        recorded = json.loads(sidecar.read_text())
        found_level = recorded.get("level", level)
        rgb_size, audio_size = int(recorded["rgb_size"]), int(recorded.get("audio_size", 0))
    else:
        found_level = None
        for path in paths:
            try:
                serialized = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
            except tf.errors.OpError:
                continue
            if serialized is None:
                continue
            try:
                found_level, rgb_size, audio_size = record_widths(serialized.numpy())
            except StreamError:
                continue
            break
        if found_level is None:
            raise StreamError(
                f"no readable YouTube-8M record in {len(paths)} shard(s) "
                f"({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''})"
            )
    if found_level != level:
        raise StreamError(
            f"{os.path.dirname(paths[0]) or '.'}: these are {found_level}-level shards, not "
            f"{level}-level: choose level (or --config) {found_level!r}, or point at the "
            f"{level}-level shards"
        )
    return rgb_size, audio_size


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise StreamError(f"level {level!r}: must be one of {LEVELS}")


# --------------------------------------------------------------------------------------------
# Streaming


@dataclasses.dataclass(frozen=True)
class StreamInfo:
    """What training needs to know about streamed shards (as the built dataset's metadata).

    Attributes:
        level: `"video"` or `"frame"`.
        files: The shard paths read, in order.
        label_names: Class names, index order (the subset's when re-indexed).
        rgb_size: Width of `rgb` / `mean_rgb`.
        audio_size: Width of `audio` / `mean_audio`; 0 when the shards carry no audio (and the
            examples have no audio key).
        labels_subset: Original indices of a label subset, or None.
        label_mapping: `{new index: original index}` of a re-indexed subset, or None.
    """

    level: str
    files: tuple[str, ...]
    label_names: tuple[str, ...]
    rgb_size: int
    audio_size: int
    labels_subset: tuple[int, ...] | None = None
    label_mapping: dict[int, int] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def metadata(self) -> dict[str, Any]:
        """The keys of the built dataset's `info.metadata` that streaming can know."""
        return {
            "source": "youtube8m",
            "level": self.level,
            "rgb_size": self.rgb_size,
            "audio_size": self.audio_size,
            "quantize": {"max": records.QUANTIZE_MAX, "min": records.QUANTIZE_MIN},
            "num_classes": self.num_classes,
            "labels_subset": None if self.labels_subset is None else list(self.labels_subset),
            "label_mapping": self.label_mapping,
        }


PARSE_BATCH = 256
"""Video-level records parsed at a time (`tf.io.parse_example` over a batch)."""


def stream_examples(
    pattern: str | Sequence[str],
    level: str,
    vocabulary: str | os.PathLike | None = None,
    labels: Sequence[str | int] | None = None,
    reindex: bool = True,
    num_parallel_reads: int | None = None,
    batched: bool = False,
) -> tuple[tf.data.Dataset, StreamInfo]:
    """Reads original YouTube-8M shards as the built `youtube8m` dataset's examples.

    Args:
        pattern: A glob (`"yt8m/train*.tfrecord"`) or a list of globs / paths; files are read in
            sorted order, records in file order.
        level: `"video"` or `"frame"`.
        vocabulary: `vocabulary.csv`; None looks for it beside the shards, then one folder up
            (the writers' layout); without one the classes are named `"class <i>"` for the
            real vocabulary's 3,862 indices, and a subset must be given by index.
        labels: A label subset (names or indices): only videos with one of them.
        reindex: With `labels`: re-index labels to the subset (others dropped), as the builder.
        num_parallel_reads: Files read at once (`TFRecordDataset`); None reads one after
            another, which keeps the order of the built dataset. Interleaving changes the order.
        batched: video level only: give the parsed batches of up to `PARSE_BATCH` records as
            they are (as `read_built(batched=True)`); ignored at frame level.

    Returns:
        `(dataset, info)`. Each element of `dataset` is a dict: `id` string (), `labels` int64
        (k,); video level `mean_rgb` float32 (rgb_size,) and `mean_audio` float32
        (audio_size,); frame level `rgb` uint8 (frames, rgb_size), `audio` uint8 (frames,
        audio_size), `num_frames` int32 (), `segment_labels` int64 (s,),
        `segment_start_times` int64 (s,), `segment_scores` float32 (s,). The audio key is
        absent when the shards carry no audio (audio_size 0). Video level, `labels` has a
        ragged spec of ragged rank 0 (`read_built` says why): each value is a plain tensor,
        `batch()` gives a `tf.RaggedTensor`.

    Raises:
        StreamError: No file matches, the shards are of the other level or unreadable, the
            vocabulary is malformed or the subset names an unknown class. A bad record (wrong
            sizes, label outside the vocabulary) fails when read, with
            `tf.errors.InvalidArgumentError` naming the video (streaming cannot skip a shard
            it has started; build the dataset for that).
    """
    _check_level(level)
    patterns = [pattern] if isinstance(pattern, str | os.PathLike) else list(pattern)
    files = sorted({path for item in patterns for path in glob.glob(os.fspath(item))})
    if not files:
        raise StreamError(f"no shard matches {patterns}: check the glob (quote it in a shell)")
    rgb_size, audio_size = shard_widths(files, level)
    if vocabulary is None:
        folder = pathlib.Path(files[0]).parent
        candidates = [folder / VOCABULARY_FILE, folder.parent / VOCABULARY_FILE]
        vocabulary = next((path for path in candidates if path.exists()), None)
    if vocabulary is not None:
        names = read_vocabulary(vocabulary)
    elif labels and any(not str(label).strip().isdigit() for label in labels):
        raise StreamError("labels given by name need a vocabulary: pass vocabulary=vocabulary.csv")
    else:
        names = [f"class {index}" for index in range(records.NUM_CLASSES)]
    subset = None if not labels else LabelSubset.resolve(labels, names, reindex)
    audio = audio_size or None
    num_classes = len(names)
    lookup = None if subset is None else tf.constant(subset.lookup())
    records_ds = tf.data.TFRecordDataset(files, num_parallel_reads=num_parallel_reads)
    if level == "video":
        # Parsed PARSE_BATCH records at a time: one parse_example per batch (the starter's order)
        # instead of one per record, and no per-example function after it.
        def parse(serialized):
            parsed = records.parse_video_example(serialized, num_classes, rgb_size, audio)
            example = {"id": parsed["id"], "labels": parsed["label_indices"]}
            example["mean_rgb"] = parsed["mean_rgb"]
            if audio:
                example["mean_audio"] = parsed["mean_audio"]
            if lookup is None:
                return example
            new = tf.gather(lookup, example["labels"])
            kept = tf.reduce_any(new >= 0, axis=1)
            if subset.reindex:
                example["labels"] = tf.ragged.boolean_mask(new, new >= 0)
            return {key: tf.ragged.boolean_mask(value, kept) for key, value in example.items()}

        batches = records_ds.batch(PARSE_BATCH).map(
            parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        dataset = batches if batched else batches.unbatch()
    else:

        def parse(serialized):
            parsed = records.parse_frame_example(
                serialized,
                max_frames=np.iinfo(np.int32).max,  # keep every frame, as the builder stores
                num_classes=num_classes,
                rgb_size=rgb_size,
                audio_size=audio,
                dequantized=False,
            )
            example = {"id": parsed["id"], "labels": parsed["label_indices"]}
            example["rgb"] = parsed["rgb"]
            if audio:
                example["audio"] = parsed["audio"]
            example["num_frames"] = parsed["num_frames"]
            example |= {key: parsed[key] for key in records.SEGMENT_KEYS}
            return example

        dataset = records_ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if subset is not None:

            def keep(example):
                return tf.reduce_any(tf.gather(lookup, example["labels"]) >= 0)

            def relabel(example):
                new = tf.gather(lookup, example["labels"])
                example = example | {"labels": tf.boolean_mask(new, new >= 0)}
                # Segments of other classes go, the rest are re-indexed.
                new = tf.gather(lookup, example["segment_labels"])
                kept = new >= 0
                example |= {
                    key: tf.boolean_mask(example[key], kept) for key in records.SEGMENT_KEYS
                }
                example["segment_labels"] = tf.boolean_mask(new, kept)
                return example

            dataset = dataset.filter(keep)
            if subset.reindex:
                dataset = dataset.map(relabel, num_parallel_calls=tf.data.AUTOTUNE)
    info = StreamInfo(
        level=level,
        files=tuple(files),
        label_names=tuple(names if subset is None else subset.class_names(names)),
        rgb_size=rgb_size,
        audio_size=audio_size,
        labels_subset=None if subset is None else subset.indices,
        label_mapping=None if subset is None else subset.label_mapping,
    )
    return dataset, info


def read_built(builder: Any, split: str, batched: bool = False) -> tf.data.Dataset:
    """A built `youtube8m` split's examples, as `builder.as_dataset(split, shuffle_files=False)`
    gives them (same files, order and values), with the records parsed in batches.

    TFDS parses one record at a time and decodes each feature of it, about 16,000 video-level
    examples/s on 2 cores (the starter's batch-parsing reader does 87,000/s). Here the split's
    records are read in TFDS' order (its file instructions, and its interleave of
    `interleave_block_length` records per file, taken as whole blocks), parsed `PARSE_BATCH`
    at a time with `tf.io.parse_example`, and split back into examples with `unbatch`
    (`batched=False`): at video level nothing runs per example, at frame level only the
    decoding of the stored bytes. Any other dataset (or an old build whose frames are int64
    lists) is read with `as_dataset`.

    Args:
        builder: the dataset's `tfds.core.DatasetBuilder` (e.g. `tfds.builder(name, data_dir=...)`).
        split: a split name or TFDS split expression (`"train[:90%]"`).
        batched: video level only: give the parsed batches as they are (`mean_rgb` float32
            `(b, 1024)`, `labels` a ragged int64 `(b, None)`, ..., b <= `PARSE_BATCH`), which
            `data.make_batches` prepares without splitting them; ignored at frame level.

    Returns:
        The examples, keys and dtypes as `builder.info.features`. At video level `labels` has a
        ragged spec of ragged rank 0 (what `unbatch` gives a ragged row): each value is a plain
        int64 `(k,)` tensor, and `batch()` gives a `tf.RaggedTensor` (use `ragged_batch`, not
        `padded_batch`).
    """
    features = builder.info.features
    serialized_info = features.get_serialized_info()
    widths = {name: info.shape for name, info in serialized_info.items()}
    video_level = "mean_rgb" in widths and all(
        len(shape) == 1 and (shape[0] is not None or name == "labels")
        for name, shape in widths.items()
        if name != "id"
    )
    frame_level = "rgb" in widths and all(
        serialized_info[name].tf_dtype == tf.string and widths[name] == ()
        for name in ("rgb", "audio")
        if name in widths
    )
    if not (video_level or frame_level):
        return builder.as_dataset(split=split, shuffle_files=False)

    def spec(info: Any) -> Any:  # the tf.train.Example types: bytes, int64 or float32
        kind = tf.int64 if info.tf_dtype.is_integer else info.tf_dtype
        if None in info.shape:
            return tf.io.RaggedFeature(kind)
        return tf.io.FixedLenFeature(info.shape, kind)

    specs = {name: spec(info) for name, info in serialized_info.items()}
    read_config = tfds.ReadConfig()
    instructions = builder.info.splits[split].file_instructions
    paths = tf.data.Dataset.from_tensor_slices(
        (
            [os.fspath(item.filename) for item in instructions],
            np.array([item.skip for item in instructions], np.int64),
            np.array([item.take for item in instructions], np.int64),
        )
    )

    # TFDS interleaves `block_length` records of each file in turn; taking each file's records
    # in batches of `block_length`, one batch per turn, gives the same order with one
    # interleave element per block instead of per record (~25% of the read at video level).
    block_length = read_config.interleave_block_length or 1

    def read(path, skip, take):
        return tf.data.TFRecordDataset(path).skip(skip).take(take).batch(block_length)

    cycle_length = read_config.interleave_cycle_length
    if cycle_length == tfds.core.utils.read_config.MISSING:
        cycle_length = 1 if builder.info.disable_shuffling else 16
    blocks = paths.interleave(
        read,
        cycle_length=cycle_length,
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )

    def parse(batch):
        parsed = tf.io.parse_example(batch, specs)
        return {
            name: tf.cast(value, serialized_info[name].tf_dtype) for name, value in parsed.items()
        }

    examples = blocks.rebatch(PARSE_BATCH).map(
        parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if video_level and batched:
        return examples
    examples = examples.unbatch()
    if video_level:
        return examples
    return examples.map(
        features.decode_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
