"""Tests for vidcls_keras.data on multi-label (YouTube-8M) examples: frames, masks, multi-hot
labels and mixup, video and frame level, from the example dicts the `youtube8m` dataset and
`youtube8m.stream` yield."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from vidcls_keras import data  # noqa: E402
from vidcls_keras._compat.tf_seed import use_fixed_graph_seed  # noqa: E402
from vidcls_keras.youtube8m import records  # noqa: E402

RGB, AUDIO, NUM_CLASSES = 6, 2, 5
LABELS = [[0, 3], [], [1], [4, 2, 0], [3], [1, 2]]  # the second video is unlabelled (test shards)


def ragged_labels() -> tf.RaggedTensor:
    return tf.ragged.constant(LABELS, dtype=tf.int64, ragged_rank=1)


def video_level(seed: int = 0) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    n = len(LABELS)
    return tf.data.Dataset.from_tensor_slices(
        {
            "id": [f"v{index}" for index in range(n)],
            "labels": ragged_labels(),
            "mean_rgb": rng.normal(size=(n, RGB)).astype(np.float32),
            "mean_audio": rng.normal(size=(n, AUDIO)).astype(np.float32),
        }
    ).map(lambda example: example | {"labels": example["labels"]})


def frame_level(lengths=(3, 7, 1, 5, 2, 4)) -> tuple[tf.data.Dataset, list[np.ndarray]]:
    rng = np.random.default_rng(1)
    rgb = [rng.integers(0, 256, (n, RGB), dtype=np.uint8) for n in lengths]
    audio = [rng.integers(0, 256, (n, AUDIO), dtype=np.uint8) for n in lengths]

    def generate():
        for index, n in enumerate(lengths):
            yield {
                "id": f"v{index}",
                "labels": np.asarray(LABELS[index], np.int64),
                "rgb": rgb[index],
                "audio": audio[index],
                "num_frames": np.int32(n),
            }

    signature = {
        "id": tf.TensorSpec((), tf.string),
        "labels": tf.TensorSpec((None,), tf.int64),
        "rgb": tf.TensorSpec((None, RGB), tf.uint8),
        "audio": tf.TensorSpec((None, AUDIO), tf.uint8),
        "num_frames": tf.TensorSpec((), tf.int32),
    }
    return tf.data.Dataset.from_generator(generate, output_signature=signature), [
        np.concatenate(pair, axis=1) for pair in zip(rgb, audio, strict=True)
    ]


def multi_hot() -> np.ndarray:
    expected = np.zeros((len(LABELS), NUM_CLASSES), np.float32)
    for row, labels in enumerate(LABELS):
        expected[row, labels] = 1.0
    return expected


def one_pass(ds, **kwargs):
    batches = data.make_batches(ds, num_classes=NUM_CLASSES, batch_size=4, **kwargs)
    inputs, labels = zip(*batches.as_numpy_iterator(), strict=True)
    frames = np.concatenate([batch["frames"] for batch in inputs])
    masks = np.concatenate([batch["padding_mask"] for batch in inputs])
    return frames, masks, np.concatenate(labels)


def test_video_level_is_one_frame_of_rgb_then_audio_with_multi_hot_labels():
    ds = video_level()
    assert data.is_multilabel(ds.element_spec)
    frames, masks, labels = one_pass(ds, training=False, max_frames=1)
    means = list(ds.as_numpy_iterator())
    expected = np.stack([np.concatenate([e["mean_rgb"], e["mean_audio"]]) for e in means])
    assert frames.shape == (len(LABELS), 1, RGB + AUDIO) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames[:, 0], expected)
    assert masks.all()
    np.testing.assert_array_equal(labels, multi_hot())  # the unlabelled video: all zeros
    assert labels.dtype == bool  # the loss casts them on the device
    # More slots than one: zero rows after the video's frame, marked as padding.
    frames, masks, _ = one_pass(ds, training=False, max_frames=3)
    np.testing.assert_array_equal(frames[:, 1:], 0.0)
    np.testing.assert_array_equal(masks, np.tile([True, False, False], (len(LABELS), 1)))


def test_frame_level_keeps_the_first_seconds_dequantized_and_zero_padding():
    ds, codes = frame_level()
    frames, masks, labels = one_pass(ds, training=False, max_frames=4)
    assert frames.shape == (len(LABELS), 4, RGB + AUDIO) and frames.dtype == np.float32
    for row, video in enumerate(codes):
        kept = min(len(video), 4)
        # The first seconds, as the starter's reader (not evenly spaced as the CLIP datasets).
        np.testing.assert_array_equal(frames[row, :kept], records.dequantize(video[:kept]))
        np.testing.assert_array_equal(frames[row, kept:], 0.0)
        np.testing.assert_array_equal(masks[row], np.arange(4) < kept)
    np.testing.assert_array_equal(labels, multi_hot())
    assert labels.dtype == bool


def test_frame_level_without_audio():
    ds, codes = frame_level()
    ds = ds.map(lambda example: {key: value for key, value in example.items() if key != "audio"})
    frames, _, _ = one_pass(ds, training=False, max_frames=2)
    assert frames.shape[-1] == RGB
    np.testing.assert_array_equal(frames[0, :2], records.dequantize(codes[0][:2, :RGB]))


@pytest.mark.parametrize("level", ["video", "frame"])
def test_mixup_mixes_multi_hot_rows_with_one_weight_per_batch(level):
    ds = video_level() if level == "video" else frame_level()[0]
    max_frames = 1 if level == "video" else 4
    kwargs = dict(training=True, max_frames=max_frames, seed=3, shuffle_buffer=16)
    batches = data.make_batches(
        ds, num_classes=NUM_CLASSES, batch_size=4, mixup_alpha=0.4, **kwargs
    )
    rows = {tuple(row) for row in multi_hot()}
    for _, labels in batches.as_numpy_iterator():
        assert labels.dtype == np.float32 and ((labels >= 0) & (labels <= 1)).all()
        # Every row is w * a + (1 - w) * b for multi-hot a, b and the batch's one weight w.
        values = labels[(labels > 1e-6) & (labels < 1 - 1e-6)]
        if values.size:
            weight = float(values.min())
            assert np.all(np.isclose(values, weight) | np.isclose(values, 1 - weight)), labels
            for row in labels:
                found = any(
                    np.allclose(weight * np.array(a) + (1 - weight) * np.array(b), row, atol=1e-5)
                    or np.allclose(
                        (1 - weight) * np.array(a) + weight * np.array(b), row, atol=1e-5
                    )
                    for a in rows
                    for b in rows
                )
                assert found, (row, weight)
    # Same seed and epoch, same batches.
    first, again = (
        data.make_batches(
            ds, num_classes=NUM_CLASSES, batch_size=4, mixup_alpha=0.4, epochs=range(2, 3), **kwargs
        )
        for _ in range(2)
    )
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())
        np.testing.assert_array_equal(x1["frames"].numpy(), x2["frames"].numpy())


def test_multi_label_errors():
    with pytest.raises(ValueError, match="inputs="):
        data.make_batches(
            video_level(), num_classes=NUM_CLASSES, batch_size=2, training=False, inputs="pixels"
        )
    batches = data.make_batches(
        video_level(), num_classes=3, batch_size=2, training=False, max_frames=1
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="label out of range"):
        list(batches)


def test_shuffle_batched_is_a_seeded_permutation_in_batches_of_batch_size():
    batches = tf.data.Dataset.range(1000).batch(256).map(lambda x: {"x": x, "twice": 2 * x})

    def epochs(dataset, count=2):
        return [np.concatenate([b["x"] for b in dataset.as_numpy_iterator()]) for _ in range(count)]

    shuffled = data.shuffle_batched(batches, batch_size=96, shuffle_buffer=300, seed=5)
    first, second = epochs(shuffled)
    for batch in shuffled.as_numpy_iterator():
        np.testing.assert_array_equal(batch["twice"], 2 * batch["x"])  # rows stay whole
    assert [len(batch["x"]) for batch in shuffled.as_numpy_iterator()] == [96] * 10 + [40]
    for order in (first, second):
        np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    assert not np.array_equal(first, np.arange(1000)) and not np.array_equal(first, second)
    # Rows of one input batch do not stay together: its 256 ids land in several output batches.
    assert len({int(np.flatnonzero(first == x)[0]) // 96 for x in range(256)}) > 3
    # Same seed, same orders; without reshuffling every iteration repeats the first.
    again = data.shuffle_batched(batches, batch_size=96, shuffle_buffer=300, seed=5)
    np.testing.assert_array_equal(np.stack(epochs(again)), np.stack([first, second]))
    fixed = epochs(data.shuffle_batched(batches, 96, 300, seed=5, reshuffle=False))
    np.testing.assert_array_equal(fixed[0], fixed[1])

    # A tensor seed (inside a dataset function, as make_batches' epochs use it, with its
    # workaround for TF's global seed 0, which an earlier test may have set).
    def one_epoch(epoch):
        use_fixed_graph_seed()
        return data.shuffle_batched(batches, 96, 300, seed=epoch + 7, reshuffle=False)

    per_epoch = tf.data.Dataset.range(2).flat_map(one_epoch)
    both = np.concatenate([b["x"] for b in per_epoch.as_numpy_iterator()])
    assert not np.array_equal(both[:1000], both[1000:])
    np.testing.assert_array_equal(np.sort(both[1000:]), np.arange(1000))


def test_video_level_in_batches_or_one_by_one_gives_the_same_batches():
    n = 600  # more than one prepared batch (256)
    rng = np.random.default_rng(2)
    lengths = rng.integers(0, 4, n)
    labels = tf.RaggedTensor.from_row_lengths(rng.integers(0, NUM_CLASSES, lengths.sum()), lengths)
    columns = {
        "id": [f"v{index}" for index in range(n)],
        "labels": labels,
        "mean_rgb": rng.normal(size=(n, RGB)).astype(np.float32),
        "mean_audio": rng.normal(size=(n, AUDIO)).astype(np.float32),
    }
    one_by_one = tf.data.Dataset.from_tensor_slices(columns)
    batched = tf.data.Dataset.from_tensor_slices(columns).batch(256)  # as read_built(batched=True)
    kwargs = dict(num_classes=NUM_CLASSES, batch_size=64, max_frames=1)
    for training in (False, True):
        runs = [
            data.make_batches(ds, training=training, seed=4, cache=cache, **kwargs)
            for ds, cache in ((one_by_one, True), (batched, True), (batched, False))
        ]
        results = [list(run.as_numpy_iterator()) for run in runs]
        for other in results[1:]:
            assert len(other) == len(results[0]) == -(-n // 64)
            for (x1, y1), (x2, y2) in zip(results[0], other, strict=True):
                np.testing.assert_array_equal(x1["frames"], x2["frames"])
                np.testing.assert_array_equal(y1, y2)
        frames = np.concatenate([x["frames"][:, 0, :RGB] for x, _ in results[0]])
        if not training:  # file order
            np.testing.assert_array_equal(frames, columns["mean_rgb"])
        else:  # every video once, shuffled, its labels with it
            order = [int(np.flatnonzero((columns["mean_rgb"] == row).all(1))[0]) for row in frames]
            assert sorted(order) == list(range(n)) and order != list(range(n))
            multi_hot = np.concatenate([y for _, y in results[0]])
            for row, index in zip(multi_hot, order, strict=True):
                expected = np.zeros(NUM_CLASSES, np.float32)
                expected[labels[index].numpy()] = 1.0
                np.testing.assert_array_equal(row, expected)
