"""Video augmentations in tf.data, deterministic under a seed: the clip datasets' training inputs.

The recipe of the Hugging Face video-classification guide (pytorchvideo's transforms), per clip:

    training    uniform temporal subsample to T -> random short-side scale (256..320)
                -> random 224 crop -> horizontal flip (p = 0.5)
    evaluation  uniform temporal subsample to T -> resize short side to 224 -> center crop 224

then CLIP's normalisation (`vidcls_keras.data.normalize_pixels`, after batching). One draw per
clip, never per frame: every frame of a clip gets the same scale, crop and flip, so motion stays
coherent. Temporal subsampling is deterministic (the middle frame of T equal stretches, as
`data.pad_or_trim` picks embedding rows); clips with fewer than T frames are padded with zero
frames, False in `padding_mask`.

Determinism: every random choice is a stateless op (`tf.random.stateless_*`) keyed by a per-clip
seed `(stream key, example key)`: the example key hashes the clip's `video_id`, the stream key
comes from the run's seed and the epoch (`augment_clips`). The same seed gives the same batches,
whatever the parallelism of the maps; another seed gives others. Resizing is bilinear
(`tf.image.resize`; antialiased only when it shrinks by more than 1.5x, `resize_short_side`), so
the pixels differ slightly from PIL's bicubic that the builders and `predict` use
(`clip.preprocessing`); the geometry (torchvision's rounding of sizes and crop offsets) is the
same.

Pure TensorFlow: no Keras, KerasCV or CLIP image code, so `vidcls_keras.data` may import it.
"""

from __future__ import annotations

import tensorflow as tf

CROP_SIZE = 224
SCALE_RANGE = (256, 320)  # shorter side after the random scale, both ends included
FLIP_PROBABILITY = 0.5
ANTIALIAS_BELOW = 2 / 3  # resize antialiased only when it shrinks more than this


def temporal_indices(count: tf.Tensor, num_frames: int) -> tf.Tensor:
    """Indices of `min(count, num_frames)` evenly spaced frames among `count`.

    `floor((2i + 1) * count / (2 * num_frames))` for `i < num_frames` when `count > num_frames`
    (the middle of each of `num_frames` equal stretches), else every frame.

    Args:
        count: int scalar tensor, the clip's frames.
        num_frames: T, frames wanted.

    Returns:
        int64 `(min(count, num_frames),)`, increasing.
    """
    count = tf.cast(count, tf.int64)
    positions = tf.range(num_frames, dtype=tf.int64)
    return tf.cond(
        count > num_frames,
        lambda: (2 * positions + 1) * count // (2 * num_frames),
        lambda: tf.range(count),
    )


def uniform_temporal_subsample(frames: tf.Tensor, num_frames: int) -> tf.Tensor:
    """`min(k, num_frames)` evenly spaced frames of a clip (`temporal_indices`).

    Args:
        frames: `(k, ...)`, decoded frames or their encoded bytes (`tf.string (k,)`).
        num_frames: T.

    Returns:
        `(min(k, T), ...)`, same dtype.
    """
    return tf.gather(frames, temporal_indices(tf.shape(frames)[0], num_frames))


def short_side_size(height: tf.Tensor, width: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """`(new_height, new_width)` int32 with the shorter side `size` (torchvision's `Resize`
    rule: the longer side is `int(size * long / short)`, truncated)."""
    height, width = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    size = tf.cast(size, tf.float64)
    short, long = tf.minimum(height, width), tf.maximum(height, width)
    new_long = tf.floor(size * long / short)
    new_height = tf.where(height <= width, size, new_long)
    new_width = tf.where(height <= width, new_long, size)
    return tf.cast(tf.stack([new_height, new_width]), tf.int32)


def resize_short_side(frames: tf.Tensor, size: tf.Tensor | int) -> tf.Tensor:
    """Resizes every frame so the shorter side is `size` (bilinear), aspect kept.

    Antialiased when it shrinks the frames below `ANTIALIAS_BELOW` (2/3) of their size.

    Args:
        frames: `(k, H, W, 3)`, uint8 or float.
        size: the new shorter side (int or int scalar tensor).

    Returns:
        float32 `(k, H', W', 3)` in the input's value range; the frames unchanged (as float32)
        when they already have that size.
    """
    shape = tf.shape(frames)
    new_size = short_side_size(shape[1], shape[2], size)
    frames = tf.cast(frames, tf.float32)
    # Antialiasing costs 9x (TF's scale_and_translate kernel) and matters only when shrinking a
    # lot; the clip datasets' 256 -> 224..320 never does.
    shrinks = tf.cast(tf.reduce_min(new_size), tf.float32) < ANTIALIAS_BELOW * tf.cast(
        tf.reduce_min(shape[1:3]), tf.float32
    )
    return tf.case(
        [
            (tf.reduce_all(new_size == shape[1:3]), lambda: frames),
            (shrinks, lambda: tf.image.resize(frames, new_size, antialias=True)),
        ],
        default=lambda: tf.image.resize(frames, new_size, method="bilinear"),
    )


def crop(frames: tf.Tensor, top: tf.Tensor, left: tf.Tensor, size: int) -> tf.Tensor:
    """The same `size` x `size` window of every frame: rows `top..top+size`, columns
    `left..left+size` of `(k, H, W, C)`."""
    frames = frames[:, top : top + size, left : left + size, :]
    return tf.ensure_shape(frames, [None, size, size, None])


def center_crop(frames: tf.Tensor, size: int = CROP_SIZE) -> tf.Tensor:
    """Center crop of every frame, torchvision's offsets `round((H - size) / 2)` (half to even).

    Args:
        frames: `(k, H, W, C)` with `H, W >= size`.

    Returns:
        `(k, size, size, C)`.
    """
    shape = tf.shape(frames)
    # tf.round rounds half to even, as Python's round() in torchvision's CenterCrop.
    top = tf.cast(tf.round(tf.cast(shape[1] - size, tf.float64) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(shape[2] - size, tf.float64) / 2.0), tf.int32)
    return crop(frames, top, left, size)


def random_short_side_scale(
    frames: tf.Tensor, seed: tf.Tensor, scale_range: tuple[int, int] = SCALE_RANGE
) -> tf.Tensor:
    """Resizes a clip so its shorter side is a size drawn uniformly in `scale_range` (inclusive).

    Args:
        frames: `(k, H, W, 3)`.
        seed: int `(2,)`, the stateless seed.

    Returns:
        float32 `(k, H', W', 3)`, `min(H', W')` in `scale_range`.
    """
    low, high = scale_range
    size = tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1, dtype=tf.int32)
    return resize_short_side(frames, size)


def random_crop(frames: tf.Tensor, seed: tf.Tensor, size: int = CROP_SIZE) -> tf.Tensor:
    """One random `size` x `size` window, the same for every frame of the clip.

    Args:
        frames: `(k, H, W, C)` with `H, W >= size`.
        seed: int `(2,)`.

    Returns:
        `(k, size, size, C)`: rows `top..top+size`, columns `left..left+size`, with `top` uniform
        in `[0, H - size]` and `left` in `[0, W - size]`.
    """
    shape = tf.shape(frames)
    top_seed, left_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    top = tf.random.stateless_uniform([], top_seed, maxval=shape[1] - size + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], left_seed, maxval=shape[2] - size + 1, dtype=tf.int32)
    return crop(frames, top, left, size)


def random_flip(
    frames: tf.Tensor, seed: tf.Tensor, probability: float = FLIP_PROBABILITY
) -> tf.Tensor:
    """Mirrors every frame of the clip left-right with `probability`, all frames alike.

    Args:
        frames: `(k, H, W, C)`.
        seed: int `(2,)`.
    """
    flip = tf.random.stateless_uniform([], seed) < probability
    return tf.cond(flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)


def train_transform(
    frames: tf.Tensor,
    seed: tf.Tensor,
    *,
    size: int = CROP_SIZE,
    scale_range: tuple[int, int] = SCALE_RANGE,
) -> tf.Tensor:
    """Random short-side scale, random crop, horizontal flip: one draw of each for the clip.

    Args:
        frames: uint8 (or float) `(k, H, W, 3)`.
        seed: int `(2,)`, the clip's stateless seed.
        size: crop side.
        scale_range: shorter side after scaling, drawn uniformly (both ends included).

    Returns:
        float32 `(k, size, size, 3)`, pixel values in [0, 255].
    """
    scale_seed, crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    frames = random_short_side_scale(frames, scale_seed, scale_range)
    frames = random_crop(frames, crop_seed, size)
    frames = random_flip(frames, flip_seed)
    return tf.clip_by_value(frames, 0.0, 255.0)


def eval_transform(frames: tf.Tensor, *, size: int = CROP_SIZE) -> tf.Tensor:
    """Resize the shorter side to `size`, then center crop: the evaluation transform.

    Args:
        frames: uint8 (or float) `(k, H, W, 3)`.

    Returns:
        float32 `(k, size, size, 3)`, pixel values in [0, 255].
    """
    frames = center_crop(resize_short_side(frames, size), size)
    return tf.clip_by_value(frames, 0.0, 255.0)


def decode_frames(frames: tf.Tensor) -> tf.Tensor:
    """uint8 `(k, H, W, 3)`: the frames, decoded when TFDS left them as JPEG bytes `(k,)`
    (`decoders={"clip_frames": tfds.decode.SkipDecoding()}`, which keeps caches small)."""
    if frames.dtype == tf.string:
        frames = tf.map_fn(
            lambda data: tf.io.decode_jpeg(data, channels=3),
            frames,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )
    return tf.ensure_shape(frames, [None, None, None, 3])


def example_key(video_id: tf.Tensor) -> tf.Tensor:
    """A stable int64 key of one example, from its `video_id` (FarmHash; the same on every run
    and machine), so an example's augmentation does not depend on its position in the data."""
    return tf.strings.to_hash_bucket_fast(video_id, tf.int64.max)


def augment_clip(
    frames: tf.Tensor,
    num_frames: int,
    *,
    seed: tf.Tensor | None,
    size: int = CROP_SIZE,
    scale_range: tuple[int, int] = SCALE_RANGE,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One clip -> model pixels (before normalisation) and padding mask.

    Args:
        frames: uint8 `(k, H, W, 3)` or JPEG bytes `(k,)`, `k <= num_frames` (already
            subsampled by `uniform_temporal_subsample`; more are subsampled here).
        num_frames: T.
        seed: int64 `(2,)`: training (`train_transform`); None: evaluation (`eval_transform`).
        size: output side.
        scale_range: training's shorter-side range.

    Returns:
        `(pixels, padding_mask)`: float32 `(T, size, size, 3)` in [0, 255], zero frames after the
        `min(k, T)` real ones; bool `(T,)`, True on the real frames.
    """
    frames = decode_frames(uniform_temporal_subsample(frames, num_frames))
    if seed is None:
        pixels = eval_transform(frames, size=size)
    else:
        pixels = train_transform(frames, seed, size=size, scale_range=scale_range)
    count = tf.shape(pixels)[0]
    pixels = tf.pad(pixels, [[0, num_frames - count], [0, 0], [0, 0], [0, 0]])
    pixels = tf.ensure_shape(pixels, [num_frames, size, size, 3])
    return pixels, tf.range(num_frames) < count


def augment_clips(
    ds: tf.data.Dataset,
    num_frames: int,
    *,
    seed: int | tf.Tensor | None,
    size: int = CROP_SIZE,
    scale_range: tuple[int, int] = SCALE_RANGE,
) -> tf.data.Dataset:
    """Maps `({"clip_frames", "example_key"}, labels)` to `({"pixels", "padding_mask"}, labels)`.

    Each clip's seed is `(stream key, example key)`:

    - `seed=None`: evaluation, nothing random.
    - `seed` an int64 scalar tensor (one epoch's seed, e.g. from `(run seed, epoch)`): the
      stream key is that seed, so the epoch's augmentations depend on `(seed, epoch, example)`
      alone (resumed training sees what an uninterrupted run saw).
    - `seed` a Python int: the stream key is drawn per element from
      `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`, new at every iteration
      (epoch), the same for the same seed (and TF global seed).

    Args:
        ds: examples `(inputs, labels)` with `inputs["clip_frames"]` as `augment_clip` takes
            and `inputs["example_key"]` int64 (`example_key`).
        num_frames: T.
        seed: as above.

    Returns:
        The examples with `pixels` float32 `(T, size, size, 3)` in [0, 255] and
        `padding_mask` bool `(T,)`.
    """

    def evaluate(inputs, labels):
        pixels, mask = augment_clip(inputs["clip_frames"], num_frames, seed=None, size=size)
        return {"pixels": pixels, "padding_mask": mask}, labels

    def train(inputs, labels, stream_key):
        clip_seed = tf.stack([tf.cast(stream_key, tf.int64), inputs["example_key"]])
        pixels, mask = augment_clip(
            inputs["clip_frames"], num_frames, seed=clip_seed, size=size, scale_range=scale_range
        )
        return {"pixels": pixels, "padding_mask": mask}, labels

    if seed is None:
        return ds.map(evaluate, num_parallel_calls=tf.data.AUTOTUNE)
    if isinstance(seed, int):
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        pairs = tf.data.Dataset.zip(ds, keys)
        return pairs.map(
            lambda example, key: train(*example, key), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.map(
        lambda inputs, labels: train(inputs, labels, seed), num_parallel_calls=tf.data.AUTOTUNE
    )
