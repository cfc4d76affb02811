"""KerasCV CLIP presets: a preset name (downloaded from Kaggle) or a local preset directory.

A local preset directory holds `config.json` (a serialized Keras object, plus `"weights"`) and
`model.weights.h5`, the layout KerasCV's `from_preset` reads. Two kinds exist:

- a whole KerasCV CLIP (`"registered_name": "keras_cv>CLIP"`), e.g. a copy of kagglehub's cache
  folder `~/.cache/kagglehub/models/keras/clip/keras/<name>/<version>/` made on a machine with
  internet: both towers (the text tower also needs `vocab.json` + `merges.txt`, see
  `vidcls_keras.clip.tokenizer.read_tokenizer_files`);
- an image encoder alone, written by `save_image_encoder` (`FrameEmbedder.save_preset`).

`FrameEmbedder.from_preset` and `TextEmbedder.from_preset` load through here.
"""

from __future__ import annotations

import json
import os
import pathlib

import keras

from vidcls_keras._compat.keras_cv import SavableCLIPImageEncoder
from vidcls_keras.clip import tokenizer
from vidcls_keras.clip.errors import CheckpointError, TextEmbedderError
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import atomic_write_text

PRESET_CONFIG_FILE = "config.json"
PRESET_WEIGHTS_FILE = "model.weights.h5"
PRESET_METADATA_FILE = "metadata.json"
KERAS_CV_CLIP = "keras_cv>CLIP"


def _read_preset_config(directory: pathlib.Path, error: type[VidclsError]) -> dict:
    """`config.json` of a preset directory, with its `registered_name`."""
    config_path = directory / PRESET_CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
        config["registered_name"]
    except (OSError, ValueError, KeyError, TypeError) as problem:
        raise error(
            f"{directory}: not a preset directory ({config_path.name}: {problem}). Expected "
            "config.json + model.weights.h5, as KerasCV's Kaggle presets and "
            "FrameEmbedder.save_preset write them."
        ) from problem
    return config


def _load_clip(target: str, error: type[VidclsError], advice: str):
    """`keras_cv.models.CLIP.from_preset(target)`; any failure becomes `error` with `advice`."""
    import keras_cv

    try:
        return keras_cv.models.CLIP.from_preset(target)
    except Exception as problem:  # kagglehub raises requests, HTTP and OS errors of many kinds
        verb = "load" if pathlib.Path(target).is_dir() else "download"
        raise error(
            f"could not {verb} KerasCV preset {target!r} ({type(problem).__name__}: {problem}). "
            + advice
        ) from problem


def _image_advice(name: str) -> str:
    return (
        "Without internet access, pass a local preset directory instead "
        "(FrameEmbedder.from_preset('/path/to/dir'), `--preset DIR`): a copy of "
        f"kagglehub's cache folder ~/.cache/kagglehub/models/keras/clip/keras/{name}/<version>/ "
        "made where internet works, or a directory written by FrameEmbedder.save_preset; or a "
        "Hugging Face CLIP checkpoint directory (FrameEmbedder.from_hf(dir), `--hf DIR`)."
    )


_TEXT_ADVICE = (
    "Without internet access, pass a local KerasCV CLIP preset directory (a copy of "
    "~/.cache/kagglehub/models/keras/clip/keras/<name>/<version>/ made where internet works, with "
    "vocab.json and merges.txt added) or a Hugging Face CLIP checkpoint ('hf:/path/to/dir')."
)


def load_image_encoder(name_or_dir: str | os.PathLike) -> tuple[keras.Model, str]:
    """The CLIP image encoder of a KerasCV preset name or local preset directory.

    Args:
        name_or_dir: one of `keras_cv.models.CLIP.presets` (or a `kaggle://` handle), or a
            local directory of either kind (module docstring).

    Returns:
        `(encoder, spec)`: a KerasCV `CLIPImageEncoder` and "preset:NAME" or
        "preset:/absolute/dir".

    Raises:
        CheckpointError: unknown name, a download that failed (the message says what to pass
            offline), or a directory that is not a CLIP preset.
    """
    import keras_cv

    path = pathlib.Path(name_or_dir).expanduser()
    if path.is_dir():
        directory = path.resolve()
        return _load_image_directory(directory), f"preset:{directory}"
    name = os.fspath(name_or_dir)
    known = sorted(keras_cv.models.CLIP.presets)
    if name not in known and not name.startswith("kaggle://"):
        raise CheckpointError(
            f"{name!r} is neither an existing preset directory nor a KerasCV CLIP preset "
            f"name ({', '.join(known)})."
        )
    return _load_clip(name, CheckpointError, _image_advice(name)).image_encoder, f"preset:{name}"


def _load_image_directory(directory: pathlib.Path) -> keras.Model:
    """The image encoder of a local KerasCV CLIP preset or a `save_image_encoder` directory."""
    import keras_cv
    from keras_cv.models.feature_extractor import CLIPImageEncoder

    config = _read_preset_config(directory, CheckpointError)
    config_path = directory / PRESET_CONFIG_FILE
    registered_name = config["registered_name"]
    preset_class = keras.saving.get_registered_object(registered_name)
    if isinstance(preset_class, type) and issubclass(preset_class, keras_cv.models.CLIP):
        advice = "Is it a complete copy of a KerasCV CLIP preset?"
        return _load_clip(os.fspath(directory), CheckpointError, advice).image_encoder
    if isinstance(preset_class, type) and issubclass(preset_class, CLIPImageEncoder):
        # KerasCV's own CLIPImageEncoder config spells num_layers "layers"; the subclass reads both.
        encoder = SavableCLIPImageEncoder.from_config(config["config"])
        encoder.build((None, encoder.input_resolution, encoder.input_resolution, 3))
        weights = config.get("weights")
        if not weights:
            raise CheckpointError(f"{config_path}: the preset holds no weights file")
        encoder.load_weights(directory / weights)
        return encoder
    raise CheckpointError(
        f"{config_path}: holds a {registered_name!r}, not a KerasCV CLIP model or CLIP image "
        "encoder."
    )


def save_image_encoder(
    encoder: keras.Model, directory: str | os.PathLike, source_spec: str | None
) -> pathlib.Path:
    """Writes an image encoder as a preset directory that `load_image_encoder` reads.

    Files: `config.json` (the serialized encoder plus `"weights": "model.weights.h5"`, KerasCV's
    preset layout), `model.weights.h5`, `metadata.json` (versions, parameter count, the spec the
    encoder came from).

    Args:
        encoder: a `SavableCLIPImageEncoder`.
        directory: created if missing; existing preset files are overwritten.
        source_spec: recorded in `metadata.json` (None for an encoder built in memory).

    Returns:
        The absolute directory.
    """
    import keras_cv

    directory = pathlib.Path(directory).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    encoder.save_weights(directory / PRESET_WEIGHTS_FILE)
    config = keras.saving.serialize_keras_object(encoder)
    config.pop("build_config", None)
    config.pop("compile_config", None)
    config["weights"] = PRESET_WEIGHTS_FILE
    atomic_write_text(directory / PRESET_CONFIG_FILE, json.dumps(config, indent=4))
    metadata = {
        "keras_version": keras.version(),
        "keras_cv_version": keras_cv.__version__,
        "parameter_count": int(encoder.count_params()),
        "source_spec": source_spec,
    }
    atomic_write_text(directory / PRESET_METADATA_FILE, json.dumps(metadata, indent=4))
    return directory


def load_text_encoder(
    name_or_dir: str | os.PathLike,
) -> tuple[keras.Model, dict[str, int], list[str], str]:
    """The text tower of a KerasCV CLIP preset, with its BPE files.

    The BPE files come from the directory (`vocab.json` + `merges.txt`, also looked for under
    `assets/tokenizer/`), else are downloaded (`tokenizer.download_vocabulary`).

    Args:
        name_or_dir: a KerasCV CLIP preset name or a local KerasCV CLIP preset directory (an
            image-encoder-only `save_image_encoder` folder has no text tower and is refused).

    Returns:
        `(encoder, vocabulary, merges, spec)`: KerasCV's own `CLIPTextEncoder`, the BPE files,
        and "preset:NAME" or "preset:/absolute/dir" (as `load_image_encoder` names the preset).

    Raises:
        TextEmbedderError: the preset cannot be loaded, has no text tower, or its vocabulary can
            be neither found nor downloaded.
    """
    local = pathlib.Path(name_or_dir).expanduser()
    tokenizer_files = None
    if local.is_dir():
        local = local.resolve()
        registered_name = _read_preset_config(local, TextEmbedderError)["registered_name"]
        if registered_name != KERAS_CV_CLIP:
            raise TextEmbedderError(
                f"{local}: holds a {registered_name!r}, not a full KerasCV CLIP, so it has no "
                "text tower (a FrameEmbedder.save_preset folder holds only the image encoder). "
                "Pass the text tower of the same CLIP: --text-embedder preset:<KerasCV CLIP "
                "preset dir> or hf:<checkpoint dir>."
            )
        target = str(local)
        tokenizer_files = tokenizer.read_tokenizer_files(local)
    else:
        target = os.fspath(name_or_dir)
    clip_model = _load_clip(target, TextEmbedderError, _TEXT_ADVICE)
    if tokenizer_files is None:
        tokenizer_files = tokenizer.download_vocabulary(target)
    vocabulary, merges = tokenizer_files
    return clip_model.text_encoder, vocabulary, merges, f"preset:{target}"
