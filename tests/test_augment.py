"""Video augmentations (vidcls_keras.augment) and make_batches(inputs="clips")."""

import numpy as np
import pytest
import tensorflow as tf

from vidcls_keras import augment, data
from vidcls_keras.clip.preprocessing import CLIP_MEAN, CLIP_STD


def coordinate_clip(num_frames: int, height: int, width: int) -> tf.Tensor:
    """float32 `(k, H, W, 3)`: channel 0 = row, 1 = column, 2 = frame index, so any crop's
    position and any flip can be read back from its pixels."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    frames = np.stack(
        [np.stack([rows, cols, np.full_like(rows, t)], -1) for t in range(num_frames)]
    )
    return tf.constant(frames, tf.float32)


def random_clip(seed: int, num_frames: int = 5, height: int = 48, width: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), np.uint8)


def test_temporal_subsample_is_uniform_and_keeps_short_clips():
    frames = tf.range(16)
    np.testing.assert_array_equal(
        augment.uniform_temporal_subsample(frames, 4), [2, 6, 10, 14]
    )  # the middle of 4 equal stretches
    np.testing.assert_array_equal(augment.uniform_temporal_subsample(frames[:3], 8), [0, 1, 2])


def test_random_crop_stays_within_bounds_and_is_the_same_for_every_frame():
    clip = coordinate_clip(3, 40, 50)
    tops, lefts = set(), set()
    for seed in range(40):
        cropped = augment.random_crop(clip, tf.constant([seed, 7], tf.int64), size=32).numpy()
        assert cropped.shape == (3, 32, 32, 3)
        top, left = int(cropped[0, 0, 0, 0]), int(cropped[0, 0, 0, 1])
        assert 0 <= top <= 40 - 32 and 0 <= left <= 50 - 32
        np.testing.assert_array_equal(
            cropped[..., :2], clip.numpy()[:, top : top + 32, left : left + 32, :2]
        )
        tops.add(top)
        lefts.add(left)
    assert len(tops) > 3 and len(lefts) > 3  # the offsets do vary with the seed


def test_flip_is_applied_to_every_frame_of_a_clip_alike():
    clip = coordinate_clip(4, 8, 10)
    outcomes = set()
    for seed in range(20):
        flipped = augment.random_flip(clip, tf.constant([seed, 1], tf.int64)).numpy()
        per_frame = {bool(flipped[t, 0, 0, 1] == 9) for t in range(4)}
        assert len(per_frame) == 1  # all frames flipped, or none
        mirrored = per_frame.pop()
        expected = clip.numpy()[:, :, ::-1] if mirrored else clip.numpy()
        np.testing.assert_array_equal(flipped, expected)
        outcomes.add(mirrored)
    assert outcomes == {True, False}


def test_train_transform_gives_one_geometry_per_clip():
    frame = random_clip(0, num_frames=1, height=60, width=80)
    clip = np.repeat(frame, 4, axis=0)  # four identical frames
    for seed in range(5):
        out = augment.train_transform(
            clip, tf.constant([seed, 3], tf.int64), size=32, scale_range=(40, 50)
        )
        out = out.numpy()
        assert out.shape == (4, 32, 32, 3) and out.min() >= 0 and out.max() <= 255
        for t in range(1, 4):
            np.testing.assert_array_equal(out[t], out[0])  # same scale, crop and flip


def test_short_side_scale_draws_within_the_range_and_keeps_aspect():
    clip = tf.zeros([2, 48, 64, 3], tf.uint8)
    sizes = set()
    for seed in range(30):
        scaled = augment.random_short_side_scale(clip, tf.constant([seed, 0], tf.int64), (50, 60))
        height, width = scaled.shape[1:3]
        assert 50 <= height <= 60 and width == int(height * 64 / 48)
        sizes.add(height)
    assert len(sizes) > 3


def test_eval_transform_is_the_center_crop_of_a_known_image():
    # Short side already 224: no resize, so the result is exactly the center window. Offset
    # round((303 - 224) / 2) = round(39.5) = 40 columns: torchvision's round half to even.
    image = random_clip(1, num_frames=2, height=224, width=303)
    out = augment.eval_transform(image).numpy()
    np.testing.assert_array_equal(out, image[:, :, 40:264].astype(np.float32))
    # A larger image: its short side resized to 224 (long side int(224 * 512 / 256) = 448),
    # then the center 224 of the 448 columns, which is the middle half of the original.
    halves = np.zeros((1, 256, 512, 3), np.uint8)
    halves[:, :, 128:384] = 200  # the middle half is bright, the outer quarters dark
    centered = augment.eval_transform(halves).numpy()
    assert centered.shape == (1, 224, 224, 3)
    np.testing.assert_allclose(centered[:, :, 2:-2], 200.0, atol=1e-3)  # edges: antialiasing


def augmented_batches(seed, *, training=True, epochs=None, mixup_alpha=None, max_frames=4):
    clips = [
        random_clip(index, num_frames=3 + index % 3, height=48 + 8 * index, width=64)
        for index in range(5)
    ]
    ds = tf.data.Dataset.from_generator(
        lambda: (
            {"clip_frames": clip, "label": i % 2, "video_id": f"v{i}"}
            for i, clip in enumerate(clips)
        ),
        output_signature={
            "clip_frames": tf.TensorSpec([None, None, None, 3], tf.uint8),
            "label": tf.TensorSpec([], tf.int64),
            "video_id": tf.TensorSpec([], tf.string),
        },
    )
    batches = data.make_batches(
        ds,
        num_classes=2,
        batch_size=2,
        training=training,
        max_frames=max_frames,
        seed=seed,
        inputs="clips",
        epochs=epochs,
        mixup_alpha=mixup_alpha,
    )
    return batches


def as_list(batches, iterations=1):
    return [
        (inputs["pixels"].numpy(), inputs["padding_mask"].numpy(), labels.numpy())
        for _ in range(iterations)
        for inputs, labels in batches
    ]


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_clip_batches_have_the_contract_shapes_and_normalisation():
    (pixels, mask, labels), *_ = as_list(augmented_batches(0, training=False))
    assert pixels.shape == (2, 4, 224, 224, 3) and pixels.dtype == np.float32
    assert mask.dtype == bool and labels.shape == (2, 2)
    np.testing.assert_array_equal(mask, [[True] * 3 + [False], [True] * 4])  # 3 and 4 frames
    assert np.all(pixels[0, 3] == 0.0)  # the padded frame
    low, high = (0 - CLIP_MEAN) / CLIP_STD, (1 - CLIP_MEAN) / CLIP_STD
    assert np.all(pixels[mask] >= low.min() - 1e-5) and np.all(pixels[mask] <= high.max() + 1e-5)


def test_same_seed_same_batches_other_seed_other_batches():
    first = as_list(augmented_batches(3), iterations=2)
    assert_same(first, as_list(augmented_batches(3), iterations=2))
    other = as_list(augmented_batches(4), iterations=2)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True))
    # Epochs differ (new crops, new order), yet each repeats under the seed.
    assert not np.array_equal(first[0][0], first[3][0])


def test_epoch_ranges_repeat_any_epoch_and_evaluation_is_fixed():
    whole = as_list(augmented_batches(5, epochs=range(0, 2), mixup_alpha=0.4))
    resumed = as_list(augmented_batches(5, epochs=range(1, 2), mixup_alpha=0.4))
    assert_same(whole[3:], resumed)  # epoch 1 alone = epoch 1 after epoch 0 (3 batches each)
    assert_same(
        as_list(augmented_batches(0, training=False)), as_list(augmented_batches(9, training=False))
    )


def test_clips_need_max_frames():
    with pytest.raises(ValueError, match='max_frames is required with inputs="clips"'):
        augmented_batches(0, max_frames=None)
