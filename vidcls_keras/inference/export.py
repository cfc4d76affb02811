"""A trained model as one file for serving: an end-to-end `.keras`, or a TensorFlow SavedModel.

    python -m vidcls_keras.predict runs/mean --export classifier.keras
    python -m vidcls_keras.predict classifier.keras --export-saved-model serving/

Both hold the CLIP image encoder, the trained head and a softmax (`EndToEndClassifier`): inputs
`clip.preprocess` pixels + padding mask, output probabilities.
"""

from __future__ import annotations

import json
import os
import pathlib

import keras

from vidcls_keras.files import atomic_write_text, ensure_dir
from vidcls_keras.inference.classifier import ModelLoadError, VideoClassifier
from vidcls_keras.models.end_to_end import EndToEndClassifier
from vidcls_keras.training import artifacts

SAVED_MODEL_SIDECAR = "end_to_end_config.json"  # in the SavedModel's assets/


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
