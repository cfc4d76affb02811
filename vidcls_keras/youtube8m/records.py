"""The YouTube-8M TFRecord formats in one place: names, sizes, quantization, encoding, parsing.

Video level (`tf.train.Example`, one per video):

    id | video_id   bytes      the video id (releases differ in the key; both are read)
    labels         int64 list class indices into vocabulary.csv; empty in test shards
    mean_rgb       float 1024 mean of the frames' (dequantized) visual features
    mean_audio     float 128  mean of the seconds' audio features

Frame level (`tf.train.SequenceExample`, one per video):

    context        id | video_id (bytes), labels (int64 list); the 2019 segment release adds
                   segment_labels (int64), segment_start_times (int64, seconds),
                   segment_scores (float), one value per rated segment, all three the same length
    feature_lists  rgb: one bytes value per second of video, 1024 uint8 each;
                   audio: one bytes value per second, 128 uint8 each; up to 300 seconds

Frame features are quantized to uint8 over [-2, 2] and read back with the starter code's
`utils.Dequantize`: `x * (max - min) / 255 + (max - min) / 512 + min` (`dequantize` here, with
`quantize` its inverse). The starter's `YT8MFrameFeatureReader` keeps the *first* `max_frames`
seconds of a longer video, reports `num_frames = min(frames, max_frames)`, and pads shorter ones
with 0.0 after dequantizing; `parse_frame_example` does the same (padding only when asked, since
our pipelines pad at batch time and carry an explicit `padding_mask`).

Two ways to read a record, one set of checks:

- `parse_video_example` / `parse_frame_example`: TensorFlow ops for `tf.data.Dataset.map`. A bad
  record (a feature of the wrong size, frames of unequal count, a label outside the vocabulary)
  fails with a message that names the video and the feature: a `RecordError` when called eagerly,
  a `tf.errors.InvalidArgumentError` carrying the same text when raised inside a `tf.data` map.
- `decode_video_example` / `decode_frame_example`: NumPy, for a builder that reads shard by shard
  and must report and skip a bad record instead of stopping (frame features stay uint8 there).

`encode_video_example` / `encode_frame_example` write records the starter code reads.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from vidcls_keras.errors import VidclsError

NUM_CLASSES = 3862
"""Classes in the 2018 vocabulary (and in every later video-level release)."""
RGB_SIZE = 1024
"""Width of the visual features (`rgb`, `mean_rgb`)."""
AUDIO_SIZE = 128
"""Width of the audio features (`audio`, `mean_audio`)."""
MAX_FRAMES = 300
"""Frame-level records hold at most this many seconds; the starter reads up to this many."""
QUANTIZE_MAX = 2.0
QUANTIZE_MIN = -2.0
"""The range the frame features were quantized over (the starter's defaults)."""

ID_KEYS = ("id", "video_id")
"""The video id's key: `id` in the 2018+ releases, `video_id` in the 2017 one and its readers."""
LABELS_KEY = "labels"
VIDEO_FEATURES = {"mean_rgb": RGB_SIZE, "mean_audio": AUDIO_SIZE}
"""Video-level float features and their sizes."""
FRAME_FEATURES = {"rgb": RGB_SIZE, "audio": AUDIO_SIZE}
"""Frame-level feature lists (one uint8 bytes value per second) and their sizes."""
SEGMENT_KEYS = ("segment_labels", "segment_start_times", "segment_scores")
"""The 2019 segment release's context features (int64, int64, float), absent elsewhere."""
SPLIT_PREFIXES = ("train", "validate", "test")
"""Shards are named `<prefix>*.tfrecord`, e.g. `train0093.tfrecord`."""


class RecordError(VidclsError):
    """A YouTube-8M record that does not have the expected features (sizes, types, counts)."""


# --------------------------------------------------------------------------------------------
# Quantization


def _scale_and_bias(max: float, min: float) -> tuple[np.float32, np.float32]:
    """The starter's `utils.Dequantize` constants, as float32 (the type it multiplies in)."""
    if not max > min:
        raise RecordError(f"quantization range: max ({max}) must be greater than min ({min})")
    quantized_range = max - min
    return np.float32(quantized_range / 255.0), np.float32(quantized_range / 512.0 + min)


def dequantize(x_uint8: Any, max: float = QUANTIZE_MAX, min: float = QUANTIZE_MIN) -> Any:
    """Maps uint8 codes back to floats, exactly as the starter's `utils.Dequantize`.

    `x * (max - min) / 255 + (max - min) / 512 + min`, computed in float32.

    Args:
        x_uint8: uint8 (or integer-valued) codes of any shape, a NumPy array or a `tf.Tensor`.
        max: The top of the quantized range.
        min: The bottom of the quantized range.

    Returns:
        float32 values of the same shape and kind (NumPy in, NumPy out; tensor in, tensor out).
    """
    scale, bias = _scale_and_bias(max, min)
    if tf.is_tensor(x_uint8):
        return tf.cast(x_uint8, tf.float32) * scale + bias
    return np.asarray(x_uint8).astype(np.float32) * scale + bias


def quantize(x: Any, max: float = QUANTIZE_MAX, min: float = QUANTIZE_MIN) -> np.ndarray:
    """The inverse of `dequantize`: floats to the nearest uint8 code, clipped to [0, 255].

    For `x` in [min, max], `abs(dequantize(quantize(x)) - x) <= (max - min) / 510` (half a step).

    Args:
        x: float values of any shape (array-like).
        max: The top of the quantized range.
        min: The bottom of the quantized range.

    Returns:
        uint8 array of the same shape.
    """
    scale, bias = _scale_and_bias(max, min)
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise RecordError("quantize: the features hold NaN or infinite values")
    codes = np.rint((x - float(bias)) / float(scale))
    return np.clip(codes, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Encoding (writers)


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _bytes_feature(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64_feature(values: Any) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64)))


def _float_feature(values: Any) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32)))


def _check_id_key(id_key: str) -> None:
    if id_key not in ID_KEYS:
        raise RecordError(f"id_key {id_key!r}: must be one of {ID_KEYS}")


def _label_array(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.size and labels.min() < 0:
        raise RecordError(f"labels {labels.tolist()}: class indices cannot be negative")
    return labels


def encode_video_example(
    video_id: str | bytes,
    labels: Sequence[int] | np.ndarray,
    mean_rgb: np.ndarray,
    mean_audio: np.ndarray | None = None,
    id_key: str = "id",
) -> bytes:
    """One video-level record, serialized (deterministically) as the starter code reads it.

    Args:
        video_id: The video's id.
        labels: Class indices (k,), possibly empty.
        mean_rgb: float (rgb_size,), normally 1024.
        mean_audio: float (audio_size,), normally 128; None writes no audio feature.
        id_key: `"id"` (2018+ releases) or `"video_id"` (2017).

    Returns:
        A serialized `tf.train.Example`.
    """
    _check_id_key(id_key)
    feature = {
        id_key: _bytes_feature([_bytes(video_id)]),
        LABELS_KEY: _int64_feature(_label_array(labels)),
        "mean_rgb": _float_feature(np.asarray(mean_rgb, np.float32).reshape(-1)),
    }
    if mean_audio is not None:
        feature["mean_audio"] = _float_feature(np.asarray(mean_audio, np.float32).reshape(-1))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def _frame_rows(name: str, frames: np.ndarray) -> tf.train.FeatureList:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 2:
        raise RecordError(
            f"{name}: expected uint8 (frames, size), got {frames.dtype} {frames.shape} "
            "(quantize float features with youtube8m.records.quantize first)"
        )
    rows = [
        tf.train.Feature(bytes_list=tf.train.BytesList(value=[row.tobytes()])) for row in frames
    ]
    return tf.train.FeatureList(feature=rows)


def encode_frame_example(
    video_id: str | bytes,
    labels: Sequence[int] | np.ndarray,
    rgb: np.ndarray,
    audio: np.ndarray | None = None,
    segment_labels: Sequence[int] | None = None,
    segment_start_times: Sequence[int] | None = None,
    segment_scores: Sequence[float] | None = None,
    id_key: str = "id",
) -> bytes:
    """One frame-level record, serialized (deterministically) as the starter code reads it.

    Args:
        video_id: The video's id.
        labels: Class indices (k,), possibly empty.
        rgb: uint8 (frames, rgb_size), one row per second (see `quantize`).
        audio: uint8 (frames, audio_size), the same number of rows; None writes no audio.
        segment_labels: The 2019 segment fields, (s,) each, all three or none.
        segment_start_times: Seconds, (s,).
        segment_scores: (s,), 1.0 where the segment shows its label, 0.0 where it does not.
        id_key: `"id"` or `"video_id"`.

    Returns:
        A serialized `tf.train.SequenceExample`.
    """
    _check_id_key(id_key)
    context = {
        id_key: _bytes_feature([_bytes(video_id)]),
        LABELS_KEY: _int64_feature(_label_array(labels)),
    }
    segments = (segment_labels, segment_start_times, segment_scores)
    if any(field is not None for field in segments):
        if any(field is None for field in segments) or len({len(field) for field in segments}) != 1:
            raise RecordError(
                f"video {video_id!r}: {', '.join(SEGMENT_KEYS)} must be given together, "
                "with one value per segment each"
            )
        context["segment_labels"] = _int64_feature(segment_labels)
        context["segment_start_times"] = _int64_feature(segment_start_times)
        context["segment_scores"] = _float_feature(segment_scores)
    feature_lists = {"rgb": _frame_rows("rgb", rgb)}
    if audio is not None:
        if len(audio) != len(rgb):
            raise RecordError(
                f"video {video_id!r}: rgb has {len(rgb)} frames but audio has {len(audio)}"
            )
        feature_lists["audio"] = _frame_rows("audio", audio)
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=feature_lists),
    )
    return example.SerializeToString(deterministic=True)


# --------------------------------------------------------------------------------------------
# Decoding in NumPy (builders: report and skip a bad record)


def _proto_id(features: Any, where: str) -> str:
    for key in ID_KEYS:
        if key in features and features[key].bytes_list.value:
            return features[key].bytes_list.value[0].decode("utf-8", errors="replace")
    raise RecordError(f"{where}: no video id (expected a bytes feature 'id' or 'video_id')")


def _proto_values(features: Any, name: str, kind: str, video_id: str) -> np.ndarray:
    if name not in features:
        return np.zeros(0, np.int64 if kind == "int64_list" else np.float32)
    feature = features[name]
    if feature.WhichOneof("kind") not in (None, kind):
        raise RecordError(
            f"video {video_id!r}: feature {name!r} is a {feature.WhichOneof('kind')}, "
            f"expected {kind}"
        )
    dtype = np.int64 if kind == "int64_list" else np.float32
    return np.asarray(getattr(feature, kind).value, dtype)


def _check_size(video_id: str, name: str, size: int, expected: int, hint: str) -> None:
    if size != expected:
        raise RecordError(
            f"video {video_id!r}: feature {name!r} has {size} values, expected {expected} ({hint})"
        )


def decode_video_example(
    serialized: bytes, rgb_size: int = RGB_SIZE, audio_size: int | None = AUDIO_SIZE
) -> dict[str, Any]:
    """Reads one video-level record into NumPy, checking it.

    Args:
        serialized: A serialized `tf.train.Example`.
        rgb_size: Expected width of `mean_rgb`.
        audio_size: Expected width of `mean_audio`; None when the records carry no audio.

    Returns:
        `id` (str), `labels` int64 (k,), `mean_rgb` float32 (rgb_size,) and, unless audio_size is
        None, `mean_audio` float32 (audio_size,).

    Raises:
        RecordError: Not an Example, no id, or a feature of the wrong type or size.
    """
    try:
        example = tf.train.Example.FromString(serialized)
    except Exception as error:  # protobuf's DecodeError, whose module varies by implementation
        raise RecordError(f"not a serialized tf.train.Example ({error})") from error
    features = example.features.feature
    video_id = _proto_id(features, "video-level record")
    result: dict[str, Any] = {"id": video_id}
    result["labels"] = _proto_values(features, LABELS_KEY, "int64_list", video_id)
    sizes = {"mean_rgb": rgb_size} | ({} if audio_size is None else {"mean_audio": audio_size})
    for name, size in sizes.items():
        values = _proto_values(features, name, "float_list", video_id)
        _check_size(video_id, name, values.size, size, "is this a video-level shard?")
        result[name] = values
    return result


def decode_frame_example(
    serialized: bytes, rgb_size: int = RGB_SIZE, audio_size: int | None = AUDIO_SIZE
) -> dict[str, Any]:
    """Reads one frame-level record into NumPy, checking it; frames stay uint8, all kept.

    Args:
        serialized: A serialized `tf.train.SequenceExample`.
        rgb_size: Bytes per `rgb` frame.
        audio_size: Bytes per `audio` frame; None when the records carry no audio.

    Returns:
        `id` (str), `labels` int64 (k,), `rgb` uint8 (frames, rgb_size), `audio` uint8
        (frames, audio_size) unless audio_size is None, and `segment_labels` int64 (s,),
        `segment_start_times` int64 (s,), `segment_scores` float32 (s,), empty when absent.

    Raises:
        RecordError: Not a SequenceExample, no id, frames of the wrong size or unequal counts,
            segment fields of unequal lengths.
    """
    try:
        example = tf.train.SequenceExample.FromString(serialized)
    except Exception as error:  # protobuf's DecodeError, whose module varies by implementation
        raise RecordError(f"not a serialized tf.train.SequenceExample ({error})") from error
    context = example.context.feature
    video_id = _proto_id(context, "frame-level record")
    result: dict[str, Any] = {"id": video_id}
    result["labels"] = _proto_values(context, LABELS_KEY, "int64_list", video_id)
    sizes = {"rgb": rgb_size} | ({} if audio_size is None else {"audio": audio_size})
    lists = example.feature_lists.feature_list
    for name, size in sizes.items():
        rows = (
            [b for feature in lists[name].feature for b in feature.bytes_list.value]
            if name in lists
            else []
        )
        if name in lists and len(rows) != len(lists[name].feature):
            raise RecordError(f"video {video_id!r}: {name!r} must hold one bytes value per frame")
        for index, row in enumerate(rows):
            if len(row) != size:
                raise RecordError(
                    f"video {video_id!r}: {name!r} frame {index} has {len(row)} bytes, expected "
                    f"{size} (is this a frame-level shard of {size}-wide features?)"
                )
        result[name] = np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), size)
    if audio_size is not None and len(result["audio"]) != len(result["rgb"]):
        raise RecordError(
            f"video {video_id!r}: 'rgb' has {len(result['rgb'])} frames but 'audio' has "
            f"{len(result['audio'])}"
        )
    kinds = ("int64_list", "int64_list", "float_list")
    segments = [
        _proto_values(context, key, kind, video_id)
        for key, kind in zip(SEGMENT_KEYS, kinds, strict=True)
    ]
    if len({field.size for field in segments}) != 1:
        raise RecordError(
            f"video {video_id!r}: {', '.join(SEGMENT_KEYS)} have "
            f"{[field.size for field in segments]} values, expected one each per segment"
        )
    result.update(zip(SEGMENT_KEYS, segments, strict=True))
    return result


# --------------------------------------------------------------------------------------------
# Parsing in TensorFlow (tf.data pipelines)


def _id_spec() -> dict[str, tf.io.FixedLenFeature]:
    return {key: tf.io.FixedLenFeature([], tf.string, default_value="") for key in ID_KEYS}


def _pick_id(parsed: dict[str, tf.Tensor]) -> tf.Tensor:
    """`id` where present, else `video_id` (releases differ in the key)."""
    return tf.where(parsed["id"] != "", parsed["id"], parsed["video_id"])


def _check(condition: tf.Tensor, message: str, *values: tf.Tensor) -> tf.Operation | None:
    """An assertion that fails with one readable line: `message` with `{}` filled by values."""
    return tf.debugging.Assert(condition, [tf.strings.format(message, values, summarize=16)])


def _label_check(values: tf.Tensor, num_classes: int, video_id: tf.Tensor) -> tf.Operation | None:
    return _check(
        tf.reduce_all((values >= 0) & (values < num_classes)),
        f"YouTube-8M record: video {{}} has labels {{}}, outside the vocabulary [0, {num_classes}) "
        "(pass num_classes= the vocabulary's size)",
        video_id,
        values,
    )


def _multi_hot(
    row_ids: tf.Tensor, values: tf.Tensor, rows: tf.Tensor, num_classes: int
) -> tf.Tensor:
    """Class indices `values` of rows `row_ids` -> float32 multi-hot (rows, num_classes)."""
    indices = tf.stack([tf.cast(row_ids, tf.int64), values], axis=1)
    shape = tf.stack([tf.cast(rows, tf.int64), tf.constant(num_classes, tf.int64)])
    return tf.minimum(tf.scatter_nd(indices, tf.ones_like(values, tf.float32), shape), 1.0)


def _eager_errors(parse: Any, *args: Any) -> dict[str, Any]:
    """Runs a parser; called eagerly, a failed check becomes a RecordError with its message."""
    if not tf.executing_eagerly():
        return parse(*args)
    try:
        return parse(*args)
    except tf.errors.InvalidArgumentError as error:
        message = error.message
        if "Summarized data: " in message:  # eager Assert: the message is our bytes' repr
            try:
                message = ast.literal_eval(
                    message.split("Summarized data: ", 1)[1].strip()
                ).decode()
            except (ValueError, SyntaxError, AttributeError):
                pass
        raise RecordError(message) from error


@tf.autograph.experimental.do_not_convert  # plain ops; nothing to convert
def parse_video_example(
    serialized: tf.Tensor | bytes,
    num_classes: int = NUM_CLASSES,
    rgb_size: int = RGB_SIZE,
    audio_size: int | None = AUDIO_SIZE,
) -> dict[str, tf.Tensor]:
    """Parses video-level records into tensors, as the starter's `YT8MAggregatedFeatureReader`.

    Works on one record (a scalar) or a batch (a vector): parsing a batch after `batch()` is
    the faster order for video-level data, as the starter's reader does with `read_up_to`.

    Args:
        serialized: A scalar or (batch,) string tensor of serialized `tf.train.Example`s.
        num_classes: Width of the multi-hot `labels`.
        rgb_size: Expected width of `mean_rgb`.
        audio_size: Expected width of `mean_audio`; None when the records carry no audio.

    Returns:
        With `[batch]` present only for a batch: `id` string [batch], `labels` float32 multi-hot
        [batch,] (num_classes,), `label_indices` int64 (k,) for one record or ragged
        (batch, None), `mean_rgb` float32 [batch,] (rgb_size,) and, unless audio_size is None,
        `mean_audio` float32 [batch,] (audio_size,).

    Raises:
        RecordError: Called eagerly on a record with features of the wrong size or a label
            outside [0, num_classes). Inside `tf.data`, the same message arrives as a
            `tf.errors.InvalidArgumentError` when the record is read.
    """
    return _eager_errors(_parse_video, serialized, num_classes, rgb_size, audio_size)


def _parse_video(
    serialized: Any, num_classes: int, rgb_size: int, audio_size: int | None
) -> dict[str, tf.Tensor]:
    serialized = tf.convert_to_tensor(serialized, tf.string)
    single = serialized.shape.rank == 0
    sizes = {"mean_rgb": rgb_size} | ({} if audio_size is None else {"mean_audio": audio_size})
    spec: dict[str, Any] = _id_spec() | {LABELS_KEY: tf.io.RaggedFeature(tf.int64)}
    spec |= {name: tf.io.RaggedFeature(tf.float32) for name in sizes}
    parsed = tf.io.parse_example(tf.reshape(serialized, [-1]), spec)
    video_id = _pick_id(parsed)
    labels = parsed[LABELS_KEY]
    checks = [_label_check(labels.values, num_classes, video_id)]
    for name, size in sizes.items():
        checks.append(
            _check(
                tf.reduce_all(parsed[name].row_lengths() == size),
                f"YouTube-8M video-level record: videos {{}} have {{}} {name} values, "
                f"expected {size} (is this a video-level shard? for other widths pass "
                "rgb_size/audio_size)",
                video_id,
                parsed[name].row_lengths(),
            )
        )
    # Everything read below waits for the checks, so a bad record fails with their message.
    with tf.control_dependencies([check for check in checks if check is not None]):
        result = {
            "id": tf.identity(video_id),
            "labels": _multi_hot(labels.value_rowids(), labels.values, labels.nrows(), num_classes),
            "label_indices": labels.with_values(tf.identity(labels.values)),
        }
        for name, size in sizes.items():
            result[name] = tf.reshape(parsed[name].values, [-1, size])
    if single:
        result = {key: value[0] for key, value in result.items()}
    return result


@tf.autograph.experimental.do_not_convert  # plain ops; nothing to convert
def parse_frame_example(
    serialized: tf.Tensor | bytes,
    max_frames: int = MAX_FRAMES,
    num_classes: int = NUM_CLASSES,
    rgb_size: int = RGB_SIZE,
    audio_size: int | None = AUDIO_SIZE,
    pad: bool = False,
    max_quantized: float = QUANTIZE_MAX,
    min_quantized: float = QUANTIZE_MIN,
    dequantized: bool = True,
) -> dict[str, tf.Tensor]:
    """Parses one frame-level record, as the starter's `YT8MFrameFeatureReader`.

    Keeps the first `max_frames` seconds (the starter's `resize_axis`), dequantizes them, and
    reports `num_frames = min(frames, max_frames)`. Every frame is checked, kept or not.

    Args:
        serialized: A scalar string tensor, a serialized `tf.train.SequenceExample`.
        max_frames: Seconds kept from the start of the video.
        num_classes: Width of the multi-hot `labels`.
        rgb_size: Bytes per `rgb` frame.
        audio_size: Bytes per `audio` frame; None when the records carry no audio.
        pad: Pad `rgb`/`audio` with 0.0 rows to exactly `max_frames` (as the starter does);
            otherwise T = num_frames and batches are padded later (`padded_batch`).
        max_quantized: The top of the quantized range.
        min_quantized: The bottom of the quantized range.
        dequantized: False keeps `rgb`/`audio` as the stored uint8 (padding rows 0), for a
            pipeline that dequantizes later (after batching, as `data.make_batches` does).

    Returns:
        `id` string (), `labels` float32 multi-hot (num_classes,), `label_indices` int64 (k,),
        `rgb` float32 (T, rgb_size), `audio` float32 (T, audio_size) unless audio_size is None
        (uint8 with `dequantized=False`),
        `num_frames` int32 (), `padding_mask` bool (T,) True on real frames, and
        `segment_labels` int64 (s,), `segment_start_times` int64 (s,), `segment_scores`
        float32 (s,), empty when the record has none. T is max_frames with `pad`, else
        num_frames.
        `label_indices` and the segment fields vary in length: drop them, or batch with
        `padded_batch` / `ragged_batch`, before a plain `batch()`.

    Raises:
        RecordError: Called eagerly on a record with frames of the wrong size, unequal rgb and
            audio frame counts, unequal segment fields or a label outside [0, num_classes).
            Inside `tf.data`, the same message arrives as a `tf.errors.InvalidArgumentError`.
    """
    if max_frames < 1:
        raise RecordError(f"max_frames={max_frames}: must be at least 1")
    return _eager_errors(
        _parse_frame,
        serialized,
        max_frames,
        num_classes,
        rgb_size,
        audio_size,
        pad,
        max_quantized,
        min_quantized,
        dequantized,
    )


def _parse_frame(
    serialized: Any,
    max_frames: int,
    num_classes: int,
    rgb_size: int,
    audio_size: int | None,
    pad: bool,
    max_quantized: float,
    min_quantized: float,
    dequantized: bool = True,
) -> dict[str, tf.Tensor]:
    serialized = tf.convert_to_tensor(serialized, tf.string)
    if serialized.shape.rank != 0:
        raise RecordError(
            f"parse_frame_example reads one record at a time (got shape {serialized.shape}); "
            "map it before batching"
        )
    sizes = {"rgb": rgb_size} | ({} if audio_size is None else {"audio": audio_size})
    kinds = (tf.int64, tf.int64, tf.float32)
    context_spec: dict[str, Any] = _id_spec() | {LABELS_KEY: tf.io.VarLenFeature(tf.int64)}
    context_spec |= {
        key: tf.io.VarLenFeature(kind) for key, kind in zip(SEGMENT_KEYS, kinds, strict=True)
    }
    sequence_spec = {
        name: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True) for name in sizes
    }
    context, lists = tf.io.parse_single_sequence_example(serialized, context_spec, sequence_spec)
    video_id = _pick_id(context)
    label_indices = context[LABELS_KEY].values
    checks = [_label_check(label_indices, num_classes, video_id)]
    for name, size in sizes.items():
        lengths = tf.strings.length(lists[name])
        checks.append(
            _check(
                tf.reduce_all(lengths == size),
                f"YouTube-8M frame-level record: video {{}} has {name} frames of {{}} bytes, "
                f"expected {size} (is this a frame-level shard? for other widths pass "
                "rgb_size/audio_size)",
                video_id,
                tf.unique(lengths).y,
            )
        )
    frames = tf.shape(lists["rgb"])[0]
    if audio_size is not None:
        checks.append(
            _check(
                tf.equal(frames, tf.shape(lists["audio"])[0]),
                "YouTube-8M frame-level record: video {} has {} rgb and {} audio frames, "
                "expected one of each per second",
                video_id,
                frames,
                tf.shape(lists["audio"])[0],
            )
        )
    segment_sizes = tf.stack([tf.size(context[key].values) for key in SEGMENT_KEYS])
    checks.append(
        _check(
            tf.reduce_all(segment_sizes == segment_sizes[0]),
            f"YouTube-8M frame-level record: video {{}} has {{}} values of "
            f"{', '.join(SEGMENT_KEYS)}, expected one of each per segment",
            video_id,
            segment_sizes,
        )
    )
    num_frames = tf.minimum(frames, max_frames)
    length = max_frames if pad else num_frames
    # Everything read below waits for the checks, so a bad record fails with their message.
    with tf.control_dependencies([check for check in checks if check is not None]):
        result: dict[str, Any] = {
            "id": tf.identity(video_id),
            "labels": _multi_hot(tf.zeros_like(label_indices), label_indices, 1, num_classes)[0],
            "label_indices": tf.identity(label_indices),
        }
        for name, size in sizes.items():
            # Slice the strings before decoding: the same rows as the starter's decode-then-resize.
            kept = tf.io.decode_raw(lists[name][:max_frames], tf.uint8, fixed_length=size)
            values = tf.reshape(kept, [-1, size])
            if dequantized:
                values = dequantize(values, max_quantized, min_quantized)
            if pad:  # the starter's resize_axis: 0.0 rows after the dequantized frames
                values = tf.pad(values, [[0, max_frames - num_frames], [0, 0]])
            result[name] = tf.ensure_shape(values, [max_frames if pad else None, size])
        result |= {key: tf.identity(context[key].values) for key in SEGMENT_KEYS}
        result["num_frames"] = tf.identity(num_frames)
        result["padding_mask"] = tf.range(length) < num_frames
    return result
