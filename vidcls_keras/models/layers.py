"""Layers shared by the sequence models, and the argument checks all model builders share."""

import numbers

import keras
import keras_hub
from keras import ops
from keras_hub.src.layers.modeling import position_embedding as _hub_position_embedding

from vidcls_keras._compat import xla_cpu


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


class _FastGradientDense(keras.layers.Dense):
    """A `Dense` whose kernel and bias gradients take XLA:CPU's fast layouts (`_compat.xla_cpu`).

    Never constructed: `TransformerEncoder.build` gives its two feed-forward `Dense` layers this
    class (same object, weights and config; only `call` differs). Where the fast gradients do
    not apply, or the layer is quantized, LoRA-enabled or has no bias, it is `Dense.call`.
    """

    def call(self, inputs, training=None):
        if (
            self.bias is None
            or self.quantization_mode is not None
            or self.lora_enabled
            or not xla_cpu.use_fast_gradients()
        ):
            return super().call(inputs, training=training)
        outputs = xla_cpu.dense(
            ops.convert_to_tensor(inputs),
            ops.convert_to_tensor(self.kernel),
            ops.convert_to_tensor(self.bias),
        )
        return outputs if self.activation is None else self.activation(outputs)


@keras.saving.register_keras_serializable(package="vidcls_keras")
class TransformerEncoder(keras_hub.layers.TransformerEncoder):
    """`keras_hub.layers.TransformerEncoder`, its feed-forward gradients faster on XLA's CPU.

    The same layer: constructor, config, weights (names, shapes, order) and outputs. On Keras's
    JAX backend with XLA's CPU, the two feed-forward `Dense` layers compute their kernel and
    bias gradients in the layouts XLA:CPU runs fast (`vidcls_keras._compat.xla_cpu`: the same
    values up to the order of float additions); with `PositionEmbedding` below, the
    transformer's training step is 3-6% faster for it. Elsewhere it runs exactly as
    keras_hub's. Files saved with keras_hub's class load as before (as keras_hub's class).

    Call arguments, returns and config: those of `keras_hub.layers.TransformerEncoder`; e.g.
    `inputs` float `(batch, frames, hidden_dim)`, `padding_mask` bool `(batch, frames)` ->
    float `(batch, frames, hidden_dim)`.
    """

    def build(self, inputs_shape):
        super().build(inputs_shape)
        for dense in (self._feedforward_intermediate_dense, self._feedforward_output_dense):
            if type(dense) is keras.layers.Dense:  # as keras_hub builds it; else left alone
                dense.__class__ = _FastGradientDense


@keras.saving.register_keras_serializable(package="vidcls_keras")
class PositionEmbedding(keras_hub.layers.PositionEmbedding):
    """`keras_hub.layers.PositionEmbedding`, the gradient of its table faster on XLA's CPU.

    The same layer: constructor, config, weights and outputs. On Keras's JAX backend with XLA's
    CPU, the table's gradient (a sum over the batch) is computed as a matmul with ones, which
    XLA:CPU runs ~50x faster than its reduction (`vidcls_keras._compat.xla_cpu`); elsewhere, or
    with `start_index` or `positions`, it is keras_hub's `call`.

    Call arguments: those of `keras_hub.layers.PositionEmbedding`; `inputs` float
    `(batch, sequence_length, hidden_dim)`.

    Returns:
        Float `(batch, sequence_length, hidden_dim)`: the table's first `sequence_length` rows,
        repeated over the batch.
    """

    def call(self, inputs, start_index=0, positions=None):
        shape = tuple(ops.shape(inputs))
        if (
            len(shape) != 3
            or positions is not None
            or not isinstance(start_index, int)
            or start_index != 0
            or not all(isinstance(size, int) for size in shape)
            or not xla_cpu.use_fast_gradients()
            or _serving_positions() is not None
        ):
            return super().call(inputs, start_index=start_index, positions=positions)
        table = ops.convert_to_tensor(self.position_embeddings)[: shape[1]]
        return xla_cpu.broadcast_over_batch(table, shape)


def _serving_positions():
    """keras_hub's positions from a vLLM server (None outside one), which its `call` follows."""
    return getattr(_hub_position_embedding, "_vllm_serving_positions", lambda: None)()


def check_sizes(**sizes: int) -> None:
    """Raises `ValueError` naming the first argument that is not a positive int."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")


def check_rate(name: str, value: float) -> None:
    """Raises `ValueError` unless `0 <= value < 1` (a dropout rate)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
