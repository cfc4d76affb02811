"""Tests for vidcls_keras.data: padding, normalization, seeding and mixup of the tf.data pipeline."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from etils import epath  # noqa: E402

from vidcls_keras import (
    clip,
    data,  # noqa: E402
)
from vidcls_keras.datasets.features import video_features

EMBED_DIM = 8
NUM_CLASSES = 3
SIGNATURE = {
    "video_id": tf.TensorSpec((), tf.string),
    "title": tf.TensorSpec((), tf.string),
    "label": tf.TensorSpec((), tf.int64),
    "embeddings": tf.TensorSpec((None, EMBED_DIM), tf.float32),
    "num_frames": tf.TensorSpec((), tf.int32),
    "frame": tf.TensorSpec((224, 224, 3), tf.uint8),
}


def make_example(index: int, num_frames: int, label: int, frame_value: int = 0) -> dict:
    """One example with the TFDS features; embedding row r of video i holds 100 * i + r."""
    rows = 100.0 * index + np.arange(num_frames, dtype=np.float32)
    return {
        "video_id": f"video{index}",
        "title": f"title {index}",
        "label": np.int64(label),
        "embeddings": np.repeat(rows[:, None], EMBED_DIM, axis=1).astype(np.float32),
        "num_frames": np.int32(num_frames),
        "frame": np.full((224, 224, 3), frame_value, np.uint8),
    }


def examples_dataset(examples: list[dict]) -> tf.data.Dataset:
    return tf.data.Dataset.from_generator(lambda: iter(examples), output_signature=SIGNATURE)


def varied_examples(count: int = 20) -> list[dict]:
    return [make_example(i, 3 + i % 5, i % NUM_CLASSES, frame_value=i) for i in range(count)]


def as_numpy(ds: tf.data.Dataset) -> list:
    return list(tfds.as_numpy(ds))


def assert_same_batches(first: list, second: list) -> None:
    assert len(first) == len(second)
    for (inputs_a, labels_a), (inputs_b, labels_b) in zip(first, second, strict=True):
        np.testing.assert_array_equal(labels_a, labels_b)
        for key in inputs_a:
            np.testing.assert_array_equal(inputs_a[key], inputs_b[key])


def test_pad_short_and_trim_long_videos_evenly():
    examples = [make_example(0, 2, 0), make_example(1, 10, 1), make_example(2, 4, 2)]
    ds = data.make_batches(
        examples_dataset(examples),
        num_classes=NUM_CLASSES,
        max_frames=4,
        batch_size=3,
        training=False,
    )
    ((inputs, labels),) = as_numpy(ds)
    assert inputs["frames"].shape == (3, 4, EMBED_DIM)
    assert inputs["frames"].dtype == np.float32
    assert inputs["padding_mask"].dtype == bool
    np.testing.assert_array_equal(
        inputs["padding_mask"], [[True, True, False, False], [True] * 4, [True] * 4]
    )
    # Short video: its 2 rows, then zero rows.
    np.testing.assert_array_equal(inputs["frames"][0, :, 0], [0, 1, 0, 0])
    # 10 rows -> 4: rows floor((2i + 1) * 10 / 8) = 1, 3, 6, 8, spanning the whole video.
    np.testing.assert_array_equal(inputs["frames"][1, :, 0], [101, 103, 106, 108])
    # Exactly max_frames rows: unchanged.
    np.testing.assert_array_equal(inputs["frames"][2, :, 0], [200, 201, 202, 203])
    np.testing.assert_array_equal(labels, np.eye(NUM_CLASSES, dtype=np.float32))
    assert labels.dtype == np.float32


def test_pad_or_trim_keeps_one_row_from_the_middle_and_handles_empty():
    frames, mask = data.pad_or_trim(tf.reshape(tf.range(5.0), (5, 1)), 1)
    np.testing.assert_array_equal(frames.numpy(), [[2.0]])
    np.testing.assert_array_equal(mask.numpy(), [True])
    frames, mask = data.pad_or_trim(tf.zeros((0, 3)), 2)
    np.testing.assert_array_equal(frames.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(mask.numpy(), [False, False])


def test_evaluation_keeps_order_and_last_partial_batch():
    examples = varied_examples(7)
    ds = data.make_batches(
        examples_dataset(examples),
        num_classes=NUM_CLASSES,
        max_frames=4,
        batch_size=3,
        training=False,
    )
    batches = as_numpy(ds)
    assert [labels.shape[0] for _, labels in batches] == [3, 3, 1]
    first_rows = np.concatenate([inputs["frames"][:, 0, 0] for inputs, _ in batches])
    np.testing.assert_array_equal(first_rows, 100.0 * np.arange(7))
    assert_same_batches(batches, as_numpy(ds))


def test_pixels_are_clip_normalized():
    frame = np.zeros((224, 224, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 255, 0, 128
    example = make_example(0, 3, 1)
    example["frame"] = frame
    ds = data.make_batches(
        examples_dataset([example]),
        num_classes=NUM_CLASSES,
        batch_size=2,
        training=False,
        inputs="pixels",
    )
    ((inputs, labels),) = as_numpy(ds)
    assert list(inputs) == ["pixels"]
    assert inputs["pixels"].shape == (1, 224, 224, 3)
    assert inputs["pixels"].dtype == np.float32
    expected = [
        (1.0 - 0.48145466) / 0.26862954,
        (0.0 - 0.4578275) / 0.26130258,
        (128 / 255 - 0.40821073) / 0.27577711,
    ]
    np.testing.assert_allclose(inputs["pixels"][0, 100, 7], expected, rtol=1e-6)
    # Every pixel of the uniform frame normalizes to the same values.
    np.testing.assert_array_equal(
        inputs["pixels"].min(axis=(0, 1, 2)), inputs["pixels"].max(axis=(0, 1, 2))
    )
    np.testing.assert_array_equal(labels, [[0.0, 1.0, 0.0]])


def test_normalized_stored_frame_equals_clip_preprocess():
    # The builder stores clip.center_crop_uint8(frame); the pipeline normalizes it. Together
    # they must give what clip.preprocess gives the encoder for the same frame.
    frames = np.random.default_rng(0).integers(0, 256, (2, 240, 320, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        data.normalize_pixels(clip.center_crop_uint8(frames)).numpy(),
        clip.preprocess(frames),
        atol=1e-5,
    )


def test_encoded_frame_bytes_are_decoded():
    frame = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    encoded = tf.data.Dataset.from_tensors(
        {"frame": tf.io.encode_png(frame), "label": tf.constant(2, tf.int64)}
    )
    ((inputs, _),) = as_numpy(
        data.make_batches(
            encoded, num_classes=NUM_CLASSES, batch_size=1, training=False, inputs="pixels"
        )
    )
    np.testing.assert_allclose(inputs["pixels"][0], data.normalize_pixels(frame).numpy(), rtol=1e-6)


def test_label_out_of_range_fails():
    ds = data.make_batches(
        examples_dataset([make_example(0, 2, NUM_CLASSES)]),
        num_classes=NUM_CLASSES,
        max_frames=2,
        batch_size=1,
        training=False,
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="label out of range"):
        as_numpy(ds)


def training_batches(seed: int, mixup_alpha: float | None = 0.4, inputs: str = "frames"):
    return data.make_batches(
        examples_dataset(varied_examples()),
        num_classes=NUM_CLASSES,
        max_frames=4,
        batch_size=6,
        training=True,
        mixup_alpha=mixup_alpha,
        seed=seed,
        inputs=inputs,
    )


def test_mixup_gives_soft_labels_summing_to_one_and_union_masks():
    batches = as_numpy(training_batches(seed=1))
    assert [labels.shape for _, labels in batches] == [(6, 3), (6, 3), (6, 3), (2, 3)]
    labels = np.concatenate([labels for _, labels in batches])
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-6)
    assert labels.min() >= 0.0
    assert ((labels > 0.01) & (labels < 0.99)).any(), "no label was mixed"
    for inputs, _ in batches:
        assert inputs["frames"].shape[1:] == (4, EMBED_DIM)
        # A union of masks: real frames come first, and every video has at least 3 of 4 real.
        assert inputs["padding_mask"][:, :3].all()
        # Padded rows of both videos stay zero.
        np.testing.assert_array_equal(inputs["frames"][~inputs["padding_mask"]], 0.0)


def test_mixup_of_a_stream_with_an_identical_copy_changes_nothing():
    same = [make_example(0, 3, 2, frame_value=50)] * 8
    for inputs_kind in ("frames", "pixels"):
        kwargs = dict(num_classes=NUM_CLASSES, max_frames=4, batch_size=4, inputs=inputs_kind)
        plain = as_numpy(data.make_batches(examples_dataset(same), training=False, **kwargs))
        mixed = as_numpy(
            data.make_batches(examples_dataset(same), training=True, mixup_alpha=0.4, **kwargs)
        )
        for (inputs_a, labels_a), (inputs_b, labels_b) in zip(plain, mixed, strict=True):
            np.testing.assert_allclose(labels_b, labels_a, rtol=1e-6)
            for key in inputs_a:
                np.testing.assert_allclose(inputs_b[key], inputs_a[key], rtol=1e-5, atol=1e-6)


def test_mixup_function_mixes_with_the_weight():
    first = (
        {"frames": tf.ones((2, 3, 1)), "padding_mask": tf.constant([[True, False, False]] * 2)},
        tf.constant([[1.0, 0.0]] * 2),
    )
    second = (
        {"frames": tf.zeros((2, 3, 1)), "padding_mask": tf.constant([[True, True, False]] * 2)},
        tf.constant([[0.0, 1.0]] * 2),
    )
    inputs, labels = data.mixup(first, second, tf.constant(0.25))
    np.testing.assert_allclose(inputs["frames"].numpy(), 0.25)
    np.testing.assert_array_equal(inputs["padding_mask"].numpy(), [[True, True, False]] * 2)
    np.testing.assert_allclose(labels.numpy(), [[0.25, 0.75]] * 2)
    inputs, labels = data.mixup(first, first, tf.constant(0.7))
    np.testing.assert_allclose(inputs["frames"].numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(labels.numpy(), first[1].numpy(), rtol=1e-6)


def test_stateless_beta_is_beta_distributed_in_unit_interval():
    alpha = 0.4
    keys = tf.data.Dataset.range(2000)
    draws = keys.map(
        lambda key: data.stateless_beta(alpha, tf.stack([key, tf.constant(0, tf.int64)]))
    )
    weights = np.array(list(draws.as_numpy_iterator()))
    assert weights.dtype == np.float32
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    # Kolmogorov-Smirnov against Beta(0.4, 0.4); a wrong law (uniform, ...) fails. Fixed keys,
    # so not flaky (p = 0.04 here; over 30 other key sets the p-values were uniform, and with
    # 50,000 draws p = 0.85).
    assert scipy.stats.kstest(weights, scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(weights, scipy.stats.uniform().cdf).pvalue < 1e-3


def test_mixup_weights_repeat_for_a_seed_and_change_every_epoch():
    stream = data.mixup_weights(0.4, seed=5).take(50)
    first, second = list(stream.as_numpy_iterator()), list(stream.as_numpy_iterator())
    again = list(data.mixup_weights(0.4, seed=5).take(50).as_numpy_iterator())
    other = list(data.mixup_weights(0.4, seed=6).take(50).as_numpy_iterator())
    assert all(0.0 <= weight <= 1.0 for weight in first + second + other)
    assert first == again
    assert first != second and first != other


@pytest.mark.parametrize("mixup_alpha", [None, 0.4])
def test_same_seed_same_batches_other_seed_other_batches(mixup_alpha):
    ds = training_batches(seed=7, mixup_alpha=mixup_alpha)
    twin = training_batches(seed=7, mixup_alpha=mixup_alpha)
    first_epoch, second_epoch = as_numpy(ds), as_numpy(ds)
    assert_same_batches(first_epoch, as_numpy(twin))
    assert_same_batches(second_epoch, as_numpy(twin))
    # Each epoch reshuffles.
    with pytest.raises(AssertionError):
        assert_same_batches(first_epoch, second_epoch)
    with pytest.raises(AssertionError):
        assert_same_batches(
            first_epoch, as_numpy(training_batches(seed=8, mixup_alpha=mixup_alpha))
        )


@pytest.mark.parametrize("training", [True, False])
def test_batches_run_without_the_autotune_thread_and_the_same_as_with_it(training):
    # The thread's wake-ups, not the batches, are what `without_autotune_thread` changes: an
    # iterator's teardown waits for the thread's next wake-up (up to a minute), so fit,
    # evaluate and predict over these batches would end late.
    def batches():
        if training:
            return training_batches(seed=3, mixup_alpha=0.4)
        return data.make_batches(
            examples_dataset(varied_examples()),
            num_classes=NUM_CLASSES,
            batch_size=4,
            training=False,
            max_frames=6,
        )

    ds = batches()
    assert ds.options().autotune.enabled is False
    with_thread = tf.data.Options()
    with_thread.autotune.enabled = True
    autotuned = batches().with_options(with_thread)
    assert autotuned.options().autotune.enabled is True
    assert_same_batches(as_numpy(ds), as_numpy(autotuned))


def test_training_without_mixup_yields_every_example_once():
    batches = as_numpy(training_batches(seed=0, mixup_alpha=None))
    first_rows = np.concatenate([inputs["frames"][:, 0, 0] for inputs, _ in batches])
    np.testing.assert_array_equal(np.sort(first_rows), 100.0 * np.arange(20))
    assert not np.array_equal(first_rows, 100.0 * np.arange(20)), "not shuffled"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(inputs="video"), "inputs must be one of"),
        (dict(mixup_alpha=0.0), "mixup_alpha must be > 0"),
        (dict(mixup_alpha=-1.0), "mixup_alpha must be > 0"),
        (dict(max_frames=0), "max_frames must be a positive int"),
        (dict(max_frames=None), "max_frames is required"),
        (dict(batch_size=0), "batch_size must be a positive int"),
        (dict(num_classes=0), "num_classes must be a positive int"),
        (dict(shuffle_buffer=0), "shuffle_buffer must be a positive int"),
        (dict(seed=-1), "seed must be a non-negative int"),
        (dict(training=False, mixup_alpha=0.4), "mixup_alpha is for training only"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    arguments = dict(num_classes=NUM_CLASSES, max_frames=4, batch_size=2, training=True)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        data.make_batches(examples_dataset(varied_examples(2)), **arguments)


# Defined without registering it: load_split must find the dataset from its files alone.
with tfds.core.registered.skip_registration():

    class UnregisteredTinyVideos(tfds.core.GeneratorBasedBuilder):
        """A dataset with the project's features, built on disk by the test below."""

        VERSION = tfds.core.Version("1.0.0")
        # TFDS looks for README/CITATIONS beside the builder's package; tests/ is no package.
        pkg_dir_path = epath.Path(__file__).parent
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="tiny")]

        def _info(self):
            return self.dataset_info_from_configs(
                features=video_features(["food", "art_music", "travel"], EMBED_DIM),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for index in range(5):
                yield f"video{index}", make_example(index, 2 + index, index % NUM_CLASSES, index)


def test_load_split_reads_a_built_dataset_whose_code_is_not_registered(tmp_path):
    UnregisteredTinyVideos(data_dir=str(tmp_path), config="tiny").download_and_prepare()
    with pytest.raises(ValueError, match="not registered|not found"):
        tfds.builder_cls("unregistered_tiny_videos")

    for name in ("unregistered_tiny_videos", "unregistered_tiny_videos/tiny"):
        examples, info = data.load_split(name, "train", data_dir=str(tmp_path))
        assert info.features["label"].names == ["food", "art_music", "travel"]
        assert info.splits["train"].num_examples == 5
        batches = as_numpy(
            data.make_batches(
                examples, num_classes=NUM_CLASSES, max_frames=4, batch_size=5, training=False
            )
        )
        ((inputs, labels),) = batches
        assert inputs["frames"].shape == (5, 4, EMBED_DIM)
        np.testing.assert_array_equal(inputs["padding_mask"].sum(axis=1), [2, 3, 4, 4, 4])
        assert labels.shape == (5, NUM_CLASSES)
        # The stored frame comes back decoded, as uint8 pixels.
        ((pixels, _),) = as_numpy(
            data.make_batches(
                examples, num_classes=NUM_CLASSES, batch_size=5, training=False, inputs="pixels"
            )
        )
        assert pixels["pixels"].shape == (5, 224, 224, 3)

    with pytest.raises(ValueError, match="was not found in data_dir"):
        data.load_split("no_such_dataset_here", "train", data_dir=str(tmp_path))
