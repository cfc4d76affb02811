"""youtube8m.records: quantization, encoding, parsing (tf.data and NumPy), and bad records."""

import numpy as np
import pytest
import tensorflow as tf

from vidcls_keras.youtube8m import records, synthetic


def _read(paths) -> list[bytes]:
    return [record.numpy() for record in tf.data.TFRecordDataset([str(path) for path in paths])]


def _starter_frame_matrix(serialized: bytes, max_frames: int) -> tuple[np.ndarray, int]:
    """A plain re-creation of the starter's YT8MFrameFeatureReader for rgb + audio (reference)."""
    _, lists = tf.io.parse_single_sequence_example(
        serialized,
        context_features={"id": tf.io.FixedLenFeature([], tf.string)},
        sequence_features={
            name: tf.io.FixedLenSequenceFeature([], tf.string) for name in ("rgb", "audio")
        },
    )
    matrices = []
    for name, size in (("rgb", 1024), ("audio", 128)):
        decoded = tf.reshape(
            tf.cast(tf.io.decode_raw(lists[name], tf.uint8), tf.float32), [-1, size]
        )
        num_frames = tf.minimum(tf.shape(decoded)[0], max_frames)
        matrix = decoded * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)  # utils.Dequantize(x, 2, -2)
        kept = matrix[:max_frames]  # resize_axis: truncate, then pad with 0 at the end
        matrices.append(tf.pad(kept, [[0, max_frames - tf.shape(kept)[0]], [0, 0]]))
    return tf.concat(matrices, 1).numpy(), int(num_frames)


# --- quantization ---------------------------------------------------------------------------


@pytest.mark.parametrize(("top", "bottom"), [(2.0, -2.0), (1.0, -1.0), (5.0, 0.0)])
def test_quantize_dequantize_round_trip_within_half_a_step(top, bottom):
    values = np.random.default_rng(0).uniform(bottom, top, 10_000)
    values = np.concatenate([values, [bottom, top, (top + bottom) / 2]])
    codes = records.quantize(values, max=top, min=bottom)
    assert codes.dtype == np.uint8
    error = np.abs(records.dequantize(codes, max=top, min=bottom) - values)
    assert error.max() <= (top - bottom) / 510 + 1e-6


def test_dequantize_is_the_starter_formula_and_quantize_inverts_every_code():
    codes = np.arange(256, dtype=np.uint8)
    expected = codes.astype(np.float32) * np.float32(4 / 255) + np.float32(4 / 512 - 2)
    np.testing.assert_array_equal(records.dequantize(codes), expected)
    np.testing.assert_array_equal(records.quantize(records.dequantize(codes)), codes)
    # The tensor path gives the same float32 values as the NumPy one.
    np.testing.assert_array_equal(records.dequantize(tf.constant(codes)).numpy(), expected)


def test_quantize_clips_out_of_range_values():
    np.testing.assert_array_equal(records.quantize([-7.0, 9.0]), [0, 255])


def test_quantize_refuses_a_bad_range_and_nan():
    with pytest.raises(records.RecordError, match="greater than min"):
        records.quantize([0.0], max=1, min=1)
    with pytest.raises(records.RecordError, match="NaN"):
        records.quantize([np.nan])


# --- video level -----------------------------------------------------------------------------


@pytest.mark.parametrize("id_key", ["id", "video_id"])
def test_parse_video_example_reads_written_shards(tmp_path, id_key):
    paths = synthetic.write_shards(
        tmp_path, split="test", num_shards=1, videos_per_shard=12, num_classes=20, id_key=id_key
    )
    serialized = _read(paths)
    decoded = [records.decode_video_example(record) for record in serialized]
    assert any(not video["labels"].size for video in decoded), "test shards have empty labels"
    assert any(video["labels"].size for video in decoded)
    dataset = tf.data.TFRecordDataset([str(path) for path in paths]).map(
        lambda record: records.parse_video_example(record, num_classes=20),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    for parsed, video in zip(dataset, decoded, strict=True):
        assert parsed["id"].numpy().decode() == video["id"]
        assert parsed["labels"].shape == (20,)
        np.testing.assert_array_equal(np.flatnonzero(parsed["labels"].numpy()), video["labels"])
        np.testing.assert_array_equal(parsed["label_indices"].numpy(), video["labels"])
        np.testing.assert_array_equal(parsed["mean_rgb"].numpy(), video["mean_rgb"])
        assert parsed["mean_rgb"].shape == (1024,) and parsed["mean_audio"].shape == (128,)


def test_parse_video_example_on_a_batch_equals_one_at_a_time(tmp_path):
    paths = synthetic.write_shards(tmp_path, num_shards=1, videos_per_shard=5, num_classes=30)
    serialized = _read(paths)
    batch = records.parse_video_example(tf.constant(serialized), num_classes=30)
    assert batch["mean_rgb"].shape == (5, 1024) and batch["labels"].shape == (5, 30)
    for index, record in enumerate(serialized):
        single = records.parse_video_example(record, num_classes=30)
        for key in ("id", "labels", "mean_rgb", "mean_audio"):
            np.testing.assert_array_equal(batch[key][index].numpy(), single[key].numpy())
        np.testing.assert_array_equal(
            batch["label_indices"][index].numpy(), single["label_indices"].numpy()
        )


def test_duplicate_labels_stay_one_hot():
    record = records.encode_video_example("dup", [2, 2, 0], np.zeros(1024), np.zeros(128))
    labels = records.parse_video_example(record, num_classes=4)["labels"].numpy()
    np.testing.assert_array_equal(labels, [1, 0, 1, 0])


def test_other_widths_and_no_audio_as_our_clip_exports_write_them():
    record = records.encode_video_example("clip", [1], np.full(512, 0.25), None)
    parsed = records.parse_video_example(record, num_classes=3, rgb_size=512, audio_size=None)
    assert set(parsed) == {"id", "labels", "label_indices", "mean_rgb"}
    np.testing.assert_allclose(parsed["mean_rgb"].numpy(), 0.25)
    frames = records.quantize(np.zeros((4, 512)))
    parsed = records.parse_frame_example(
        records.encode_frame_example("clip", [0], frames, None),
        num_classes=3,
        rgb_size=512,
        audio_size=None,
    )
    assert parsed["rgb"].shape == (4, 512) and "audio" not in parsed


# --- frame level -----------------------------------------------------------------------------


@pytest.mark.parametrize(("id_key", "segments"), [("id", True), ("video_id", False)])
def test_parse_frame_example_reads_written_shards(tmp_path, id_key, segments):
    paths = synthetic.write_shards(
        tmp_path,
        num_shards=1,
        videos_per_shard=6,
        level="frame",
        num_classes=15,
        frames=(5, 40),
        id_key=id_key,
        segments=segments,
    )
    serialized = _read(paths)
    dataset = tf.data.TFRecordDataset([str(path) for path in paths]).map(
        lambda record: records.parse_frame_example(record, max_frames=30, num_classes=15),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    for parsed, record in zip(dataset, serialized, strict=True):
        video = records.decode_frame_example(record)
        frames = min(len(video["rgb"]), 30)
        assert parsed["id"].numpy().decode() == video["id"]
        assert int(parsed["num_frames"]) == frames
        assert parsed["rgb"].shape == (frames, 1024) and parsed["audio"].shape == (frames, 128)
        np.testing.assert_array_equal(parsed["rgb"].numpy(), records.dequantize(video["rgb"][:30]))
        np.testing.assert_array_equal(
            parsed["audio"].numpy(), records.dequantize(video["audio"][:30])
        )
        np.testing.assert_array_equal(np.flatnonzero(parsed["labels"].numpy()), video["labels"])
        assert parsed["padding_mask"].numpy().all()
        for key in records.SEGMENT_KEYS:
            np.testing.assert_array_equal(parsed[key].numpy(), video[key])
            assert (parsed[key].shape[0] > 0) == (segments and video["labels"].size > 0)
        if segments:
            assert set(parsed["segment_labels"].numpy()) <= set(video["labels"])
            assert (parsed["segment_start_times"].numpy() % 5 == 0).all()


def test_frame_example_with_empty_labels_and_no_segments():
    record = records.encode_frame_example(
        "none", [], records.quantize(np.zeros((3, 1024))), records.quantize(np.zeros((3, 128)))
    )
    parsed = records.parse_frame_example(record, num_classes=10)
    assert parsed["labels"].numpy().sum() == 0 and parsed["label_indices"].shape == (0,)
    assert all(parsed[key].shape == (0,) for key in records.SEGMENT_KEYS)


def _numbered_video(frames: int) -> bytes:
    """A frame-level record whose frame i has every byte equal to i % 256."""
    rgb = np.repeat((np.arange(frames) % 256).astype(np.uint8)[:, None], 1024, axis=1)
    audio = np.repeat((np.arange(frames) % 256).astype(np.uint8)[:, None], 128, axis=1)
    return records.encode_frame_example("long", [1], rgb, audio)


def test_truncation_keeps_the_first_max_frames_as_the_starter():
    record = _numbered_video(350)
    parsed = records.parse_frame_example(record, max_frames=300, num_classes=3)
    assert int(parsed["num_frames"]) == 300 and parsed["rgb"].shape == (300, 1024)
    np.testing.assert_array_equal(
        parsed["rgb"].numpy()[:, 0], records.dequantize(np.arange(300) % 256)
    )
    padded = records.parse_frame_example(record, max_frames=300, num_classes=3, pad=True)
    starter, starter_frames = _starter_frame_matrix(record, 300)
    assert starter_frames == int(padded["num_frames"])
    np.testing.assert_array_equal(
        np.concatenate([padded["rgb"].numpy(), padded["audio"].numpy()], 1), starter
    )


def test_padding_short_videos_as_the_starter():
    record = _numbered_video(7)
    parsed = records.parse_frame_example(record, max_frames=10, num_classes=3, pad=True)
    assert parsed["rgb"].shape == (10, 1024) and int(parsed["num_frames"]) == 7
    np.testing.assert_array_equal(parsed["padding_mask"].numpy(), [True] * 7 + [False] * 3)
    assert (parsed["rgb"].numpy()[7:] == 0.0).all()
    starter, _ = _starter_frame_matrix(record, 10)
    np.testing.assert_array_equal(
        np.concatenate([parsed["rgb"].numpy(), parsed["audio"].numpy()], 1), starter
    )


def test_frame_level_padded_batch_keeps_shapes(tmp_path):
    paths = synthetic.write_shards(
        tmp_path, num_shards=1, videos_per_shard=4, level="frame", num_classes=5, frames=(2, 9)
    )
    dataset = tf.data.TFRecordDataset([str(path) for path in paths]).map(
        lambda record: records.parse_frame_example(record, max_frames=6, num_classes=5)
    )
    batch = next(
        iter(
            dataset.padded_batch(
                4,
                padded_shapes={
                    key: [6, 1024]
                    if key == "rgb"
                    else [6, 128]
                    if key == "audio"
                    else [6]
                    if key == "padding_mask"
                    else [None]
                    if key in ("label_indices", *records.SEGMENT_KEYS)
                    else dataset.element_spec[key].shape
                    for key in dataset.element_spec
                },
            )
        )
    )
    assert batch["rgb"].shape == (4, 6, 1024)
    np.testing.assert_array_equal(batch["padding_mask"].numpy().sum(1), batch["num_frames"])


# --- bad records -----------------------------------------------------------------------------


def _sequence_example(rgb_rows, audio_rows, context_extra=None) -> bytes:
    example = tf.train.SequenceExample()
    example.context.feature["id"].bytes_list.value.append(b"bad")
    example.context.feature["labels"].int64_list.value.extend([1])
    for key, values in (context_extra or {}).items():
        feature = example.context.feature[key]
        if key == "segment_scores":
            feature.float_list.value.extend(values)
        else:
            feature.int64_list.value.extend(values)
    for name, rows in (("rgb", rgb_rows), ("audio", audio_rows)):
        for row in rows:
            example.feature_lists.feature_list[name].feature.add().bytes_list.value.append(row)
    return example.SerializeToString()


_GOOD_RGB = [bytes(1024)] * 3
_GOOD_AUDIO = [bytes(128)] * 3
BAD_FRAME_RECORDS = {
    "rgb 1000 bytes": (
        _sequence_example([bytes(1024), bytes(1000)], _GOOD_AUDIO[:2]),
        "rgb frames of",
    ),
    "audio 1024 bytes": (_sequence_example(_GOOD_RGB, [bytes(1024)] * 3), "audio frames of"),
    "unequal frames": (_sequence_example(_GOOD_RGB, _GOOD_AUDIO[:2]), "3 rgb and 2 audio"),
    "segments unequal": (
        _sequence_example(
            _GOOD_RGB, _GOOD_AUDIO, {"segment_labels": [1, 1], "segment_scores": [1.0]}
        ),
        "segment_labels",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAME_RECORDS))
def test_bad_frame_records_fail_with_a_clear_error(case):
    record, words = BAD_FRAME_RECORDS[case]
    with pytest.raises(records.RecordError, match=r"video .*bad") as error:
        records.parse_frame_example(record, num_classes=5)
    assert words in str(error.value)
    with pytest.raises(records.RecordError, match="bad"):
        records.decode_frame_example(record)
    dataset = tf.data.Dataset.from_tensors(record).map(
        lambda serialized: records.parse_frame_example(serialized, num_classes=5)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="YouTube-8M frame-level record"):
        list(dataset)


def test_truncated_frames_beyond_max_frames_are_still_checked():
    record = _sequence_example([bytes(1024)] * 4 + [bytes(10)], [bytes(128)] * 5)
    with pytest.raises(records.RecordError, match="rgb frames of"):
        records.parse_frame_example(record, max_frames=2, num_classes=5)


@pytest.mark.parametrize(
    ("rgb", "audio", "words"), [(512, 128, "mean_rgb"), (1024, 64, "mean_audio")]
)
def test_bad_video_records_fail_with_a_clear_error(rgb, audio, words):
    record = records.encode_video_example("bad", [0], np.zeros(rgb), np.zeros(audio))
    with pytest.raises(records.RecordError, match=r"\[512\]|\[64\]") as error:
        records.parse_video_example(record, num_classes=5)
    assert words in str(error.value) and "bad" in str(error.value)
    with pytest.raises(records.RecordError, match=words):
        records.decode_video_example(record)
    dataset = tf.data.Dataset.from_tensors(record).map(
        lambda serialized: records.parse_video_example(serialized, num_classes=5)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{words} values, expected"):
        list(dataset)


def test_a_label_outside_the_vocabulary_fails():
    record = records.encode_video_example("big", [3, 7], np.zeros(1024), np.zeros(128))
    with pytest.raises(records.RecordError, match=r"outside the vocabulary \[0, 5\)"):
        records.parse_video_example(record, num_classes=5)
    frame_record = records.encode_frame_example(
        "big", [9], records.quantize(np.zeros((2, 1024))), records.quantize(np.zeros((2, 128)))
    )
    with pytest.raises(records.RecordError, match="outside the vocabulary"):
        records.parse_frame_example(frame_record, num_classes=5)


def test_a_frame_record_read_as_video_level_fails_clearly():
    record = _numbered_video(3)
    with pytest.raises(records.RecordError, match="mean_rgb"):
        records.parse_video_example(record, num_classes=5)
    with pytest.raises(records.RecordError, match="is this a video-level shard"):
        records.decode_video_example(record)


def test_decode_refuses_bytes_that_are_not_a_record():
    with pytest.raises(records.RecordError, match="not a serialized"):
        records.decode_frame_example(b"\xff\x00garbage")


def test_encoders_refuse_float_frames_and_partial_segments():
    with pytest.raises(records.RecordError, match="quantize"):
        records.encode_frame_example("x", [], np.zeros((2, 1024), np.float32))
    with pytest.raises(records.RecordError, match="together"):
        records.encode_frame_example(
            "x", [1], records.quantize(np.zeros((2, 1024))), segment_labels=[1]
        )
    with pytest.raises(records.RecordError, match="id_key"):
        records.encode_video_example("x", [], np.zeros(1024), id_key="vid")
