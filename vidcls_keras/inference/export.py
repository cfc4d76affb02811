"""A trained model as one file for serving: an end-to-end `.keras`, a TensorFlow SavedModel, ONNX.

    python -m vidcls_keras.predict runs/mean --export classifier.keras
    python -m vidcls_keras.predict classifier.keras --export-saved-model serving/
    python -m vidcls_keras.predict runs/mean --export-onnx head.onnx [--onnx-end-to-end]

The `.keras` file and the SavedModel hold the CLIP image encoder, the trained head and a softmax
(`EndToEndClassifier`): inputs `clip.preprocess` pixels + padding mask, output probabilities. The
ONNX file holds the head + its output activation (frame embeddings + padding mask ->
probabilities), or with `end_to_end=True` the whole `EndToEndClassifier` (see `export_onnx`).
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import tempfile

import keras
import numpy as np

from vidcls_keras._compat import jax2onnx as onnx_compat
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import OutputPathError, atomic_write_bytes, atomic_write_text, ensure_dir
from vidcls_keras.inference.classifier import ModelLoadError, VideoClassifier
from vidcls_keras.models.end_to_end import EndToEndClassifier
from vidcls_keras.training import artifacts

SAVED_MODEL_SIDECAR = "end_to_end_config.json"  # in the SavedModel's assets/

ONNX_INSTALL = 'pip install "jax2onnx==0.17.1" onnx onnxruntime'
ONNX_OUTPUT = "probabilities"
ONNX_METADATA_PREFIX = "vidcls_keras."
# An exported model must give Keras's probabilities to this (absolute) before it is written.
ONNX_TOLERANCE = 1e-4


class OnnxExportError(VidclsError):
    """The model cannot be written as ONNX (exporter missing, a part it cannot convert, a path)."""


def export_end_to_end(
    train_output_dir: str | os.PathLike, out_path: str | os.PathLike
) -> pathlib.Path:
    """Writes one `.keras` file holding the CLIP image encoder, the trained head and a softmax.

    Load it with `import vidcls_keras.models` then `keras.saving.load_model(out_path)`: inputs
    `{"pixels": float32 (B, T, 224, 224, 3), "padding_mask": bool (B, T)}` (`clip.preprocess`
    output, zero-padded to `T = num_frames`), output probabilities `(B, num_classes)`. Its
    `label_names`, `num_frames` and `embedder_spec` attributes (also in its config) say how to read
    and feed it.

    Args:
        train_output_dir: output directory of `python -m vidcls_keras.train`.
        out_path: the `.keras` file to write (parent folders are created).

    Returns:
        `out_path`.

    Raises:
        ModelLoadError: `train_output_dir` is not a training output directory.
        ValueError: `out_path` does not end in `.keras`.
        files.OutputPathError: a file is where `out_path`'s folder must be.
    """
    out_path = pathlib.Path(out_path)
    if out_path.suffix != ".keras":
        raise ValueError(f"{out_path}: the end-to-end model file must end in .keras.")
    train_output_dir = pathlib.Path(train_output_dir)
    if not artifacts.is_run_dir(train_output_dir):
        raise ModelLoadError(
            f"{train_output_dir}: not a training output directory "
            f"({artifacts.MODEL_FILENAME} + {artifacts.CONFIG_FILENAME})."
        )
    model = VideoClassifier.load(train_output_dir).to_end_to_end()
    ensure_dir(out_path.parent, "out_path", given=out_path)
    model.save(out_path)
    return out_path


def export_saved_model(model: keras.Model, out_dir: str | os.PathLike) -> pathlib.Path:
    """Exports an end-to-end model as a TensorFlow SavedModel for serving.

    On the JAX backend Keras converts the model with `jax2tf` (TensorFlow must be installed); the
    batch axis stays dynamic. Reload it without any of this project's code:

        served = tf.saved_model.load(out_dir)  # keep this reference while calling serve():
        probabilities = served.serve({"pixels": pixels, "padding_mask": padding_mask})

    (`tf.saved_model.load(out_dir).serve(...)` in one expression fails with "Called a function
    referencing variables which have been deleted": the loaded object, which owns the variables,
    is garbage-collected first.) Label names are not part of a SavedModel signature: they are
    written next to it, with `num_frames` and `embedder_spec`, in
    `out_dir/assets/end_to_end_config.json`.

    Args:
        model: an `EndToEndClassifier`.
        out_dir: the SavedModel directory to write.

    Returns:
        `out_dir`.

    Raises:
        files.OutputPathError: `out_dir`, or a folder above it, is a file.
    """
    if not isinstance(model, EndToEndClassifier):
        raise ValueError(
            f"export_saved_model takes an EndToEndClassifier, got {type(model).__name__}: use "
            "VideoClassifier.load(path).to_end_to_end()."
        )
    out_dir = ensure_dir(out_dir, "out_dir")
    model.export(str(out_dir), format="tf_saved_model", verbose=False)
    sidecar = {
        "label_names": list(model.label_names),
        "num_frames": model.num_frames,
        "embedder_spec": model.embedder_spec,
    }
    atomic_write_text(
        out_dir / "assets" / SAVED_MODEL_SIDECAR, json.dumps(sidecar, indent=2) + "\n"
    )
    return out_dir


def _onnx_modules():
    """`(onnx, onnxruntime)`, or an OnnxExportError naming the pip install."""
    try:
        import jax2onnx  # noqa: F401 (Keras's exporter imports it on JAX)
        import onnx
        import onnxruntime
    except ImportError as error:
        raise OnnxExportError(
            f"ONNX export needs jax2onnx, onnx and onnxruntime ({error}): {ONNX_INSTALL}"
        ) from error
    return onnx, onnxruntime


def _input_signature(model: keras.Model) -> list:
    """Keras's exporter's `input_signature` for `model`'s inputs: a dynamic batch, their names."""
    return [
        keras.tree.map_structure(
            lambda tensor: keras.InputSpec(
                shape=(None, *tensor.shape[1:]), dtype=tensor.dtype, name=tensor.name
            ),
            model.input,
        )
    ]


def _check_inputs(model: keras.Model, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Random inputs for `model` at `batch`: normal floats; masks with row 0 all real, the rest
    real up to a random length (at least one frame)."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for tensor in keras.tree.flatten(model.input):
        shape = (batch, *tensor.shape[1:])
        if tensor.dtype == "bool":
            lengths = rng.integers(1, shape[1] + 1, size=batch)
            lengths[0] = shape[1]
            inputs[tensor.name] = np.arange(shape[1])[None, :] < lengths[:, None]
        else:
            inputs[tensor.name] = rng.standard_normal(shape).astype(tensor.dtype)
    return inputs


def _with_activation(logits_model: keras.Model, activation: str) -> keras.Model:
    """`logits_model` followed by `activation` (softmax or sigmoid), as a new functional model."""
    probabilities = keras.layers.Activation(activation, dtype="float32", name=ONNX_OUTPUT)(
        logits_model.output
    )
    return keras.Model(logits_model.input, probabilities)


def _rename_output(graph, name: str) -> None:
    """Renames the graph's single output (and what produces it) to `name`."""
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [name if value == old else value for value in node.output]
        node.input[:] = [name if value == old else value for value in node.input]
    graph.output[0].name = name


def _write_with_keras(model: keras.Model, signature: list, opset: int, onnx) -> object:
    """`model.export(format="onnx")` into a temporary folder; returns the `onnx.ModelProto`.

    jax2onnx writes weights over 1 MB to a `.data` file beside the model; the model is loaded
    with them (one self-contained `ModelProto`) before the folder is removed.
    """
    # onnx_ir warns about every value whose type it does not know (the vote head's argmax): noise.
    serde_logger = logging.getLogger("onnx_ir.serde")
    level = serde_logger.level
    serde_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="vidcls_onnx_") as folder:
            path = os.path.join(folder, "model.onnx")
            model.export(
                path, format="onnx", verbose=False, input_signature=signature, opset_version=opset
            )
            return onnx.load(path, load_external_data=True)
    finally:
        serde_logger.setLevel(level)


def _check_batches(model: keras.Model) -> tuple[int, int]:
    """1 and the smallest batch above 1 that equals no other axis of the inputs (so a batch
    baked into the graph, or confused with another axis, cannot go unnoticed)."""
    axes = {size for tensor in keras.tree.flatten(model.input) for size in tensor.shape[1:]}
    return 1, next(batch for batch in range(2, 1000) if batch not in axes)


def export_onnx(
    model: str | os.PathLike | VideoClassifier,
    out_path: str | os.PathLike,
    *,
    end_to_end: bool = False,
    check: bool = True,
) -> pathlib.Path:
    """Writes a trained model as one ONNX file, through Keras's exporter (jax2onnx on JAX).

    The head (default): inputs `frames` float32 `(B, T, D)` (CLIP frame embeddings as
    `embedding.pipeline.embed_video` makes them, zero-padded to `T = max_frames`) and
    `padding_mask` bool `(B, T)` (True where a frame is real); output `probabilities` float32
    `(B, C)`: the softmax of the head's logits (one sigmoid per class for a multi-label head),
    computed in the graph. The single-frame head takes `pixels` float32 `(B, 224, 224, 3)`
    instead. With `end_to_end=True` (or an end-to-end `.keras` as `model`): the
    `EndToEndClassifier`, inputs `pixels` float32 `(B, T, 224, 224, 3)` (`clip.preprocess`
    output, zeros in padded slots) and `padding_mask` bool `(B, T)`, output `probabilities`. `B`
    is dynamic; `T` is fixed (pad shorter videos and mask the padding).

    The file's metadata (`onnx.ModelProto.metadata_props`, keys `vidcls_keras.*`) holds
    `label_names` (JSON, in output order), `num_frames`, `embedder_spec`, `part` (`head` or
    `end_to_end`) and `output` (`softmax` or `sigmoid`). Some layers are exported in an
    equivalent form jax2onnx can convert (`_compat.jax2onnx`); a graph that needs a newer
    operator than opset 23 is written at the opset that defines it (26 for the `vote` head's
    argmax). With `check` (the default) the ONNX model is run in onnxruntime at batch 1 and 3 on
    random inputs and must give Keras's probabilities to `ONNX_TOLERANCE` before it is written.

    Args:
        model: a training output directory, an end-to-end `.keras` file, or a loaded
            `VideoClassifier`.
        out_path: the `.onnx` file to write (atomically; parent folders are created).
        end_to_end: export CLIP image encoder + head + softmax instead of the head alone.
        check: compare onnxruntime's output with Keras's before writing.

    Returns:
        `out_path`.

    Raises:
        OnnxExportError: the exporter is not installed (the message names the pip install), the
            model has a part it cannot convert (the message says which and why), or the check
            failed; nothing is written then.
        files.OutputPathError: `out_path` does not end in `.onnx`, is a folder, or cannot be
            written (a file where a folder must be).
        ModelLoadError: `model` is a path but not a model.
    """
    out_path = pathlib.Path(out_path)
    if out_path.suffix != ".onnx":
        raise OutputPathError(f"{out_path}: the ONNX file must end in .onnx.")
    if out_path.is_dir():
        raise OutputPathError(f"{out_path}: is a folder; give the path of the .onnx file to write.")
    if keras.backend.backend() != "jax":
        raise OnnxExportError(
            f"ONNX export runs on the JAX backend (KERAS_BACKEND={keras.backend.backend()!r}): "
            "unset KERAS_BACKEND or set it to jax."
        )
    onnx, onnxruntime = _onnx_modules()
    ensure_dir(out_path.parent, "out_path", given=out_path)
    classifier = model if isinstance(model, VideoClassifier) else VideoClassifier.load(model)
    multilabel = bool(getattr(classifier, "multilabel", False))
    if classifier.kind == "end_to_end" or end_to_end:
        if multilabel:
            raise OnnxExportError(
                "a multi-label head reads precomputed features, not frames: it has no "
                "end-to-end form; export the head (without end_to_end)."
            )
        reference = classifier.to_end_to_end()  # already ends in the softmax
        part, activation, head_name = "end_to_end", "softmax", reference.head.name
    else:
        part, activation = "head", "sigmoid" if multilabel else "softmax"
        head_name = classifier.model.name
        reference = _with_activation(classifier.model, activation)
    opset = onnx_compat.DEFAULT_OPSET
    try:
        if part == "head":
            exported = _with_activation(onnx_compat.onnx_form(classifier.model), activation)
        else:
            exported = onnx_compat.onnx_form(reference)
        signature = _input_signature(exported)
        with onnx_compat.onnx_export_context(exported):
            onnx_model = _write_with_keras(exported, signature, opset, onnx)
            needed = onnx_compat.required_opset(onnx_model, opset)
            if needed != opset:  # an operator newer than the opset written: write it again
                opset = needed
                onnx_model = _write_with_keras(exported, signature, opset, onnx)
    except (NotImplementedError, TypeError, ValueError) as error:
        if isinstance(error, VidclsError):
            raise
        raise OnnxExportError(
            f"{head_name}: jax2onnx cannot convert this model: "
            f"{type(error).__name__}: {str(error).splitlines()[0]}"
        ) from error

    _rename_output(onnx_model.graph, ONNX_OUTPUT)
    metadata = {
        "label_names": json.dumps(list(classifier.label_names)),
        "num_frames": str(classifier.max_frames),
        "embedder_spec": str(classifier.embedder_spec or ""),
        "part": part,
        "output": activation,
        "head": head_name,
    }
    for key, value in metadata.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_PREFIX + key, value
    data = onnx_model.SerializeToString()
    if check:
        _check_onnx(data, reference, onnxruntime, part)
    try:
        atomic_write_bytes(out_path, data)
    except OSError as error:
        raise OutputPathError(f"{out_path}: cannot write the ONNX file: {error}") from error
    return out_path


def _check_onnx(data: bytes, reference: keras.Model, onnxruntime, part: str) -> None:
    """Raises OnnxExportError unless onnxruntime gives `reference`'s output on random inputs."""
    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own exception types: any failure is a refusal
        raise OnnxExportError(
            f"onnxruntime cannot load the exported {part}: {str(error).splitlines()[0]}"
        ) from error
    for batch in _check_batches(reference):
        inputs = _check_inputs(reference, batch, seed=batch)
        expected = np.asarray(reference.predict_on_batch(inputs))
        try:
            (got,) = session.run([ONNX_OUTPUT], inputs)
        except Exception as error:
            raise OnnxExportError(
                f"the exported {part} fails in onnxruntime at batch {batch}: "
                f"{str(error).splitlines()[0]}"
            ) from error
        if got.shape != expected.shape or not np.allclose(
            got, expected, rtol=0, atol=ONNX_TOLERANCE
        ):
            difference = (
                float(np.abs(got - expected).max()) if got.shape == expected.shape else None
            )
            raise OnnxExportError(
                f"the exported {part} gives other probabilities than Keras at batch {batch} "
                f"(shape {got.shape} vs {expected.shape}, largest difference {difference}): "
                "not written."
            )
