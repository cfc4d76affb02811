"""`_compat.jax2onnx`: canaries for the jax2onnx / KerasCV bugs it works around, and proofs that
each export form computes what the layer it stands in for computes.

The canaries fail the day upstream fixes a bug: then delete that part of `_compat/jax2onnx.py`
(and its row in docs/onnx_upstream.md).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax import lax  # noqa: E402

from vidcls_keras._compat import jax2onnx as onnx_compat  # noqa: E402

FIXED = "upstream fixed: delete this workaround from vidcls_keras/_compat/jax2onnx.py"


def _to_onnx(function, shape):
    jax2onnx = pytest.importorskip("jax2onnx")
    return jax2onnx.to_onnx(
        function, inputs=[jax.ShapeDtypeStruct(shape, np.float32)], return_mode="proto"
    )


def _session(onnx_model):
    onnxruntime = pytest.importorskip("onnxruntime")
    return onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def test_canary_broadcast_of_a_dynamic_slice_takes_the_slice_length_as_batch():
    table = np.arange(40, dtype=np.float32).reshape(5, 8)

    def add_positions(x):  # keras_hub.layers.PositionEmbedding, reduced
        return x + jnp.broadcast_to(lax.dynamic_slice(jnp.asarray(table), (0, 0), (5, 8)), x.shape)

    session = _session(_to_onnx(add_positions, ("B", 5, 8)))
    x = np.ones((2, 5, 8), np.float32)
    try:
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
    except Exception as error:  # onnxruntime's Fail / InvalidArgument
        assert "Expand" in str(error) or "Reshape" in str(error), str(error)
    else:
        if out.shape == (2, 5, 8) and np.array_equal(out, x + table):
            pytest.fail(FIXED + " (PositionsForOnnx)")


def test_canary_reverse_scan_is_not_supported():
    def reverse_sum(x):
        step = lambda carry, value: (carry + value, carry)  # noqa: E731
        return lax.scan(step, jnp.zeros_like(x[:, 0]), jnp.swapaxes(x, 0, 1), reverse=True)[0]

    with pytest.raises(NotImplementedError, match="Reverse scan"):
        _to_onnx(reverse_sum, ("B", 4))


def test_canary_signbit_emits_an_opset_26_operator_at_opset_23():
    onnx_model = _to_onnx(jnp.signbit, ("B", 4))  # Keras's CPU argmax calls it
    if onnx_compat.required_opset(onnx_model) == onnx_compat.DEFAULT_OPSET:
        pytest.fail(FIXED + " (required_opset: the vote head could stay at opset 23)")
    assert onnx_compat.required_opset(onnx_model) == 26  # BitCast


def test_canary_keras_cv_num_patches_is_not_an_int():
    from keras_cv.src.models.feature_extractor.clip.clip_image_model import (
        CLIPPatchingAndEmbedding,
    )

    layer = CLIPPatchingAndEmbedding(width=8, patch_size=32, input_resolution=224, output_dim=4)
    if isinstance(layer.num_patches, int):
        pytest.fail(FIXED + " (onnx_export_context)")
    assert int(np.asarray(layer.num_patches)) == 49
    model = keras.Sequential([keras.Input((224, 224, 3)), layer])
    with onnx_compat.onnx_export_context(model):
        assert layer.num_patches == 49 and isinstance(layer.num_patches, int)
    assert not isinstance(layer.num_patches, int)  # put back


def test_positions_form_equals_position_embedding():
    keras.utils.set_random_seed(0)
    layer = keras_hub.layers.PositionEmbedding(5)
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    expected = np.asarray(layer(x))
    np.testing.assert_array_equal(np.asarray(onnx_compat.PositionsForOnnx(layer)(x)), expected)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_form_equals_bidirectional(merge_mode, return_sequences):
    """A forward scan over flipped frames and mask = Keras's masked reverse scan, bit for bit."""
    keras.utils.set_random_seed(0)
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(6, return_sequences=return_sequences), merge_mode=merge_mode
    )
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    mask = np.arange(5)[None, :] < np.array([[5], [2], [3]])
    expected = np.asarray(layer(x, mask=mask))
    form = onnx_compat.BidirectionalForOnnx(layer)
    np.testing.assert_array_equal(np.asarray(form(x, mask=mask)), expected)
    np.testing.assert_array_equal(np.asarray(form(x)), np.asarray(layer(x)))  # no mask


def test_onnx_form_keeps_the_weights_and_the_outputs():
    from vidcls_keras.models import build_model

    keras.utils.set_random_seed(0)
    head = build_model("lstm", num_classes=3, max_frames=4, embed_dim=8, units=4)
    inputs = {
        "frames": np.random.default_rng(2).standard_normal((2, 4, 8)).astype(np.float32),
        "padding_mask": np.array([[True] * 4, [True, True, False, False]]),
    }
    form = onnx_compat.onnx_form(head)
    assert {layer.name for layer in form.layers} >= {"bidirectional_lstm_for_onnx", "logits"}
    # Called, not predict(): the form is for tracing by the exporter only (module docstring).
    np.testing.assert_array_equal(
        np.asarray(form(inputs, training=False)), np.asarray(head(inputs, training=False))
    )
