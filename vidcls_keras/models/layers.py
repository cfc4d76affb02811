"""Layers shared by the sequence models, and the argument checks all model builders share."""

import numbers

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vidcls_keras")
class MaskedMean(keras.layers.Layer):
    """Mean over the frame axis of the frames that are real.

    A masked `keras.layers.GlobalAveragePooling1D`: padded frames (where `padding_mask` is False)
    add nothing to the sum and are not counted, whatever values they hold (NaN and inf included).
    A row that is all padding pools to zeros instead of dividing by zero.

    Call arguments:
        inputs: float tensor `(batch, frames, features)`.
        padding_mask: bool tensor `(batch, frames)`, True where a frame is real.

    Returns:
        Float tensor `(batch, features)`.

    Example:

    >>> frames = np.array([[[1.0], [3.0], [100.0]]])
    >>> MaskedMean()(frames, np.array([[True, True, False]]))  # [[2.0]]

    The layer has no constructor arguments of its own, so `Layer.get_config()` is its config.
    """

    def call(self, inputs, padding_mask):
        real = ops.expand_dims(ops.cast(padding_mask, "bool"), axis=-1)
        # `where`, not a multiplication by the mask: 0 * inf would be NaN.
        total = ops.sum(ops.where(real, inputs, ops.zeros_like(inputs)), axis=1)
        count = ops.sum(ops.cast(real, inputs.dtype), axis=1)
        return total / ops.maximum(count, ops.ones_like(count))


@keras.saving.register_keras_serializable(package="vidcls_keras")
class MaskedMax(keras.layers.Layer):
    """Maximum over the frame axis of the frames that are real, feature by feature.

    A masked `keras.layers.GlobalMaxPooling1D`: padded frames (where `padding_mask` is False) are
    replaced by -inf before the maximum, so they never win, whatever values they hold. A row that
    is all padding pools to zeros instead of -inf (and passes no gradient).

    Call arguments:
        inputs: float tensor `(batch, frames, features)`.
        padding_mask: bool tensor `(batch, frames)`, True where a frame is real.

    Returns:
        Float tensor `(batch, features)`.

    Example:

    >>> frames = np.array([[[1.0], [3.0], [100.0]]])
    >>> MaskedMax()(frames, np.array([[True, True, False]]))  # [[3.0]]

    The layer has no constructor arguments of its own, so `Layer.get_config()` is its config.
    """

    def call(self, inputs, padding_mask):
        real = ops.expand_dims(ops.cast(padding_mask, "bool"), axis=-1)
        lowest = ops.full_like(inputs, -float("inf"))
        largest = ops.max(ops.where(real, inputs, lowest), axis=1)
        any_real = ops.any(real, axis=1)
        return ops.where(any_real, largest, ops.zeros_like(largest))


def check_sizes(**sizes: int) -> None:
    """Raises `ValueError` naming the first argument that is not a positive int."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")


def check_rate(name: str, value: float) -> None:
    """Raises `ValueError` unless `0 <= value < 1` (a dropout rate)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
