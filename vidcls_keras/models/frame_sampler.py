"""Picks a fixed number of each video's real frames: DBoF's frame sampling, seeded."""

import keras
from keras import ops

from vidcls_keras.models.layers import check_sizes


@keras.saving.register_keras_serializable(package="vidcls_keras")
class FrameSampler(keras.layers.Layer):
    """`num_samples` of each video's real frames: random in training, evenly spaced otherwise.

    Training (`training=True`, as in `fit()`): the YouTube-8M starter's `SampleRandomFrames`,
    `num_samples` frames drawn uniformly with replacement among the video's `n` real frames
    (frame `floor(u * n)`, `u ~ U[0, 1)`). The draws come from this layer's
    `keras.random.SeedGenerator`, so they are fixed by `keras.utils.set_random_seed` (the trainer's
    `--seed`) and saved with a resumed run's backup, as dropout's are: the same seed gives the same
    frames, run after run.

    Otherwise (`predict()`, `evaluate()`, a plain call): frames `floor((2i + 1) * n / (2 *
    num_samples))` for `i < num_samples`, the middle of `num_samples` equal stretches of the
    video, repeating frames when `n < num_samples`. (The starter sampled at random at evaluation
    too; fixed frames make a prediction repeatable, and taking as many frames as training keeps
    max pooling's statistics those of training.)

    Either way only real frames are picked, counted in the order they come: what the padded slots
    hold, and how many there are, cannot change the output. A video with no real frame gets its
    first slot, `num_samples` times.

    Args:
        num_samples: frames picked per video (the starter's `iterations`, 30).
        seed: seed of this layer's `SeedGenerator`; None draws it from Keras's global seed.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        frames: float tensor `(batch, max_frames, features)`.
        padding_mask: bool tensor `(batch, max_frames)`, True where a frame is real.
        training: True samples at random.

    Returns:
        Float tensor `(batch, num_samples, features)`.
    """

    def __init__(self, num_samples: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        check_sizes(num_samples=num_samples)
        self.num_samples = num_samples
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, frames, padding_mask, training=None):
        real = ops.cast(padding_mask, "bool")
        count = ops.sum(ops.cast(real, "int32"), axis=1, keepdims=True)  # (batch, 1)
        shape = (ops.shape(frames)[0], self.num_samples)
        if training:
            uniform = keras.random.uniform(shape, seed=self.seed_generator)
            picks = ops.floor(uniform * ops.cast(count, "float32"))
        else:
            stretches = ops.arange(0, self.num_samples, dtype="float32") * 2.0 + 1.0
            picks = ops.floor(
                stretches[None, :] * ops.cast(count, "float32") / (2 * self.num_samples)
            )
        picks = ops.minimum(ops.cast(picks, "int32"), ops.maximum(count - 1, 0))
        # The real frames' slots, in order: sorting by (is padding, slot) puts them first.
        max_frames = ops.shape(frames)[1]
        keys = ops.cast(ops.logical_not(real), "int32") * max_frames + ops.arange(0, max_frames)
        real_slots = ops.argsort(keys, axis=1)
        slots = ops.take_along_axis(real_slots, picks, axis=1)
        return ops.take_along_axis(frames, ops.expand_dims(slots, -1), axis=1)

    def compute_output_shape(self, frames_shape, padding_mask_shape=None):
        return (frames_shape[0], self.num_samples, frames_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(num_samples=self.num_samples, seed=self.seed)
        return config
