"""Workarounds: the forms in which Keras's ONNX exporter (jax2onnx 0.17.1 on JAX) can export our models.

`keras.Model.export(path, format="onnx")` traces the model with a symbolic batch and converts the
jaxpr with jax2onnx. Four things in our models trip it; `onnx_form(model)` returns a model with
the same layers and weights (shared, not copied, except where said) in which each is called in an
equivalent form that exports, and `onnx_export_context(model)` fixes the fourth for the export:

1. `keras_hub.layers.PositionEmbedding` returns `broadcast_to(slice(table), shape(inputs))`.
   jax2onnx lowers a `broadcast_in_dim` of a `dynamic_slice` to a symbolic batch with the
   slice's first extent (the frame count) as the batch: the graph is wrong at every batch (shape
   `(T, T, H)` at batch 1; a failing Reshape/Expand at any other). The export form adds the
   table to a zero tensor shaped like the inputs instead (`zeros_like(inputs) + table[:T]`): the
   same values (`0 + p == p`; only the sign of a zero position weight can differ).
2. `keras.layers.Bidirectional` runs its backward layer as `lax.scan(..., reverse=True)`, which
   jax2onnx refuses ("Reverse scan is not supported in IR pipeline"). Keras's masked reverse scan
   visits the frames last to first, keeps the state at masked steps, and returns the outputs in
   the order visited; a forward scan of the same cell over the time-flipped frames and mask does
   exactly the same steps in the same order. The export form runs the backward layer that way
   (a copy of it with `go_backwards=False` and the same weights, built at export time).
3. Keras's JAX `ops.argmax` on float inputs on the CPU (the majority vote) calls `jnp.signbit`,
   which jax2onnx lowers to ONNX `BitCast`, an opset-26 op, even in the opset-23 model it writes
   by default (onnxruntime then refuses the file: "No Op registered for BitCast with
   domain_version of 23"). `required_opset(onnx_model)` says which opset the graph's operators
   need, so the exporter can write it again at that opset.
4. KerasCV's `CLIPPatchingAndEmbedding.num_patches` is a 0-d array (`ops.power(...)`), not an
   int; under a symbolic batch JAX refuses it in `reshape` ("parameters to jaxpr equations must
   have __hash__"). `onnx_export_context(model)` sets it to the same value as an int for the
   export and puts the original back afterwards.

Canary: tests/_compat/test_jax2onnx.py reduces each to a few lines and fails the day upstream
fixes it (then delete that part here); docs/onnx_upstream.md holds the same reductions for
upstream reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import keras_hub
from keras import ops

# The opset jax2onnx (and so Keras's exporter) writes unless told otherwise.
DEFAULT_OPSET = 23


class PositionsForOnnx(keras.layers.Layer):
    """A `PositionEmbedding`'s output without `broadcast_to`: `zeros_like(inputs) + table[:T]`.

    Only for export (never saved): it reads the wrapped layer's table, so the weights are shared.

    Args:
        source: the `keras_hub.layers.PositionEmbedding` to stand in for.

    Call arguments:
        inputs: float `(batch, T, H)`, as the wrapped layer's.

    Returns:
        Float `(batch, T, H)`: the position embeddings of steps `0..T-1`, repeated over the batch.
    """

    def __init__(self, source: keras.layers.Layer, **kwargs):
        super().__init__(name=f"{source.name}_for_onnx", **kwargs)
        self.source = source

    def call(self, inputs):
        table = ops.convert_to_tensor(self.source.position_embeddings)
        return ops.zeros_like(inputs) + table[: inputs.shape[-2]]

    def compute_output_shape(self, input_shape):
        return input_shape


class BidirectionalForOnnx(keras.layers.Layer):
    """A `Bidirectional` RNN whose backward direction is a forward scan over flipped frames.

    Only for export (never saved). The forward layer is the wrapped one; the backward direction
    is a copy of the wrapped backward layer with `go_backwards=False`, given the same weights when
    built, and run on `flip(inputs, 1)` with `flip(mask, 1)`: the steps Keras's reverse scan
    takes, in the same order (module docstring, point 2). Merge modes as `Bidirectional`.

    Args:
        source: the `keras.layers.Bidirectional` to stand in for (`return_state=False`).

    Call arguments:
        inputs: float `(batch, T, D)`.
        mask: bool `(batch, T)` or None, True where a step is real.

    Returns:
        As the wrapped layer.
    """

    def __init__(self, source: keras.layers.Bidirectional, **kwargs):
        super().__init__(name=f"{source.name}_for_onnx", **kwargs)
        if source.return_state:
            raise ValueError(
                f"{source.name}: a Bidirectional layer with return_state=True has no ONNX form "
                "here; export a model whose recurrent layers return outputs only."
            )
        self.source = source
        self.supports_masking = True
        config = source.backward_layer.get_config()
        config.update(go_backwards=False, name=f"{config['name']}_as_forward")
        self.backward_as_forward = source.backward_layer.__class__.from_config(config)

    def build(self, input_shape):
        self.backward_as_forward.build(input_shape)
        for copy, weight in zip(
            self.backward_as_forward.weights, self.source.backward_layer.weights, strict=True
        ):
            copy.assign(weight.value)

    def call(self, inputs, mask=None):
        forward = self.source.forward_layer(inputs, mask=mask)
        backward = self.backward_as_forward(
            ops.flip(inputs, axis=1), mask=None if mask is None else ops.flip(mask, axis=1)
        )
        if self.source.return_sequences:
            backward = ops.flip(backward, axis=1)  # as Bidirectional: back to frame order
        mode = self.source.merge_mode
        if mode == "concat":
            return ops.concatenate([forward, backward], axis=-1)
        if mode == "sum":
            return forward + backward
        if mode == "ave":
            return (forward + backward) / 2
        if mode == "mul":
            return forward * backward
        raise ValueError(
            f"{self.source.name}: merge_mode={mode!r} has no ONNX form here; use 'concat', "
            "'sum', 'ave' or 'mul'."
        )

    def compute_output_shape(self, input_shape):
        return self.source.compute_output_shape(input_shape)

    def compute_mask(self, inputs, mask=None):
        return self.source.compute_mask(inputs, mask)


def _call_for_onnx(layer: keras.layers.Layer, *args, **kwargs):
    """`clone_model`'s call_function: each layer as itself, or in its exportable form."""
    if isinstance(layer, keras_hub.layers.PositionEmbedding) and not (
        kwargs.get("start_index") or kwargs.get("positions") is not None
    ):
        return PositionsForOnnx(layer)(*args)
    if isinstance(layer, keras.layers.Bidirectional):
        return BidirectionalForOnnx(layer)(*args, **kwargs)
    return layer(*args, **kwargs)


def onnx_form(model: keras.Model) -> keras.Model:
    """`model` rebuilt with the same layers, each called in a form jax2onnx 0.17.1 can export.

    Args:
        model: a functional model (nested functional models are rebuilt too).

    Returns:
        A functional `keras.Model` with `model`'s inputs (names, shapes, dtypes) and outputs, for
        `export(format="onnx")` only: it shares `model`'s layers, so do not train, save or
        `predict()` it (a jitted `predict` refuses the variables it sees twice); calling it is
        fine.
    """
    return keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=_call_for_onnx, recursive=True
    )


@contextlib.contextmanager
def onnx_export_context(model: keras.Model) -> Iterator[None]:
    """Inside it, KerasCV CLIP image encoders in `model` hold `num_patches` as an int.

    Module docstring, point 4. The value is the same; the original object is put back on exit.
    """
    patched = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if type(layer).__name__ == "CLIPPatchingAndEmbedding" and not isinstance(
            layer.num_patches, int
        ):
            patched.append((layer, layer.num_patches))
            layer.num_patches = int(ops.convert_to_numpy(layer.num_patches))
    try:
        yield
    finally:
        for layer, original in patched:
            layer.num_patches = original


def required_opset(onnx_model, opset: int = DEFAULT_OPSET) -> int:
    """The lowest opset that defines every standard-domain operator of `onnx_model` (>= `opset`).

    Module docstring, point 3: jax2onnx can emit an operator newer than the opset it declares.

    Args:
        onnx_model: an `onnx.ModelProto`.
        opset: the opset it was written at.
    """
    import onnx

    needed = opset
    nodes = list(onnx_model.graph.node)
    while nodes:
        node = nodes.pop()
        for attribute in node.attribute:  # Loop / Scan / If bodies
            if attribute.type == onnx.AttributeProto.GRAPH:
                nodes.extend(attribute.g.node)
            nodes.extend(node for graph in attribute.graphs for node in graph.node)
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            onnx.defs.get_schema(node.op_type, opset, node.domain)
        except onnx.defs.SchemaError:
            needed = max(needed, onnx.defs.get_schema(node.op_type, node.domain).since_version)
    return needed
