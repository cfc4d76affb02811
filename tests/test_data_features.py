"""Tests for vidcls_keras.data's `inputs="features"` (attach_features): same batches as pixels."""

import numpy as np
import pytest
import tensorflow as tf

from vidcls_keras import data


def examples(count: int = 10) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    return tf.data.Dataset.from_tensor_slices(
        {
            "label": np.arange(count) % 3,
            "frame": rng.integers(0, 256, (count, 4, 4, 3), dtype=np.uint8),
        }
    )


@pytest.mark.parametrize("mixup_alpha", [None, 0.4])
def test_feature_batches_hold_the_examples_the_pixel_batches_hold(mixup_alpha):
    """The shuffles and mixup weights do not depend on what an example holds."""
    # One feature per example: its index; the pixel batch's first pixel tells its example too.
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    ds = examples().map(lambda example: example)  # cardinality known
    ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(frames)).map(
        lambda example, frame: {**example, "frame": frame}
    )
    settings = dict(num_classes=3, batch_size=4, training=True, seed=5, mixup_alpha=mixup_alpha)
    settings["epochs"] = range(0, 2)
    pixels = data.make_batches(ds, inputs="pixels", **settings)
    features = data.make_batches(
        data.attach_features(ds, np.arange(10, dtype=np.float32)[:, None]),
        inputs="features",
        **settings,
    )
    batches = list(zip(pixels.as_numpy_iterator(), features.as_numpy_iterator(), strict=True))
    assert len(batches) == 6  # 3 batches per epoch (4 + 4 + 2), 2 epochs
    for (pixel_inputs, pixel_labels), (feature_inputs, feature_labels) in batches:
        assert feature_inputs["features"].shape == (len(pixel_labels), 1)
        np.testing.assert_array_equal(feature_labels, pixel_labels)
        # The pixel value, un-normalized, is the (mixed) example index.
        mean, std = data.CLIP_MEAN[0], data.CLIP_STD[0]
        index = (pixel_inputs["pixels"][:, 0, 0, 0] * std + mean) * 255.0
        np.testing.assert_allclose(feature_inputs["features"][:, 0], index, atol=1e-3)


def test_attach_features_refuses_a_row_count_or_shape_that_does_not_fit():
    with pytest.raises(ValueError, match="9 rows but the dataset holds 10"):
        data.attach_features(examples(), np.zeros((9, 2)))
    with pytest.raises(ValueError, match=r"\(num_examples, F\)"):
        data.attach_features(examples(), np.zeros(10))
