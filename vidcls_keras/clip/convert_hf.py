"""Hugging Face CLIP checkpoints -> KerasCV's CLIP towers, tensor by tensor (shaped like keras-hub's
`convert_*` files).

    read_config            config.json             -> HFConfig (vision and/or text part)
    convert_vision_config  HFConfig                -> `EncoderConfig` fields of the image tower
    convert_text_config    HFConfig                -> `CausalCLIPTextEncoder` arguments
    read_safetensors       model.safetensors (+ shards) -> {name: numpy array}
    convert_vision_weights / convert_text_weights  -> every tensor assigned to one Keras weight

A checkpoint is what transformers' `save_pretrained` writes for `CLIPModel` (both towers),
`CLIPVisionModelWithProjection` or `CLIPTextModelWithProjection`: `config.json` and
`model.safetensors` (or a sharded `model.safetensors.index.json`), read with the `safetensors`
numpy API (no torch needed). Every tensor of the tower is mapped explicitly onto one KerasCV
weight (shapes checked), and loading fails if a tensor is missing, left over or of the wrong
shape. The other tower of a `CLIPModel` is not read. The tests check both towers against the
PyTorch models (max relative error <= 1e-4).

Every failure is a `CheckpointError` (`TextEmbedder` reports it as a `TextEmbedderError`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib

import keras
import numpy as np

from vidcls_keras.clip.errors import CheckpointError

# transformers' CLIPVisionConfig / CLIPTextConfig defaults, for keys older config.json files lack.
_VISION_DEFAULTS = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
_TEXT_DEFAULTS = {
    "vocab_size": 49408,
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 8,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
_PROJECTION_DIM_DEFAULT = 512
# Tensor names of each tower; `logit_scale` belongs to neither. Buffers are not weights.
VISION_PREFIXES = ("vision_model.", "visual_projection.")
TEXT_PREFIXES = ("text_model.", "text_projection.")
_SHARED_NAMES = ("logit_scale",)
_BUFFER_SUFFIXES = ("position_ids",)
_MODEL_TYPES = {
    "clip": "CLIPModel",
    "clip_vision_model": "CLIPVisionModelWithProjection",
    "clip_text_model": "CLIPTextModelWithProjection",
}


@dataclasses.dataclass(frozen=True)
class HFConfig:
    """The parts of a Hugging Face CLIP `config.json` the towers are built from.

    Attributes:
        path: the `config.json`.
        model_type: "clip", "clip_vision_model" or "clip_text_model".
        vision: the vision tower's config, transformers' defaults filled in; None if absent.
        text: the text tower's config, likewise; None if absent.
        projection_dim: the embedding width both projections map to.
    """

    path: pathlib.Path
    model_type: str
    vision: dict | None
    text: dict | None
    projection_dim: int

    @property
    def full_model(self) -> bool:
        """True for a `CLIPModel` (both towers in one checkpoint)."""
        return self.model_type == "clip"


def read_config(directory: str | os.PathLike) -> HFConfig:
    """Reads a checkpoint's `config.json`.

    Raises:
        CheckpointError: no `config.json`, or not one of a CLIP model.
    """
    config_path = pathlib.Path(directory) / "config.json"
    if not config_path.is_file():
        raise CheckpointError(
            f"{config_path.parent}: no config.json. Expected a Hugging Face CLIP checkpoint "
            "written by transformers' save_pretrained (config.json + model.safetensors)."
        )
    try:
        config = json.loads(config_path.read_text())
    except ValueError as error:
        raise CheckpointError(f"{config_path}: not JSON ({error})") from error
    model_type = config.get("model_type")
    vision = text = None
    if model_type == "clip":  # a CLIPModel's projection size is the top-level one
        vision = {**_VISION_DEFAULTS, **config.get("vision_config", {})}
        text = {**_TEXT_DEFAULTS, **config.get("text_config", {})}
    elif model_type == "clip_vision_model":
        vision = {**_VISION_DEFAULTS, **config}
    elif model_type == "clip_text_model":
        text = {**_TEXT_DEFAULTS, **config}
    else:
        expected = ", ".join(f"{key!r} ({name})" for key, name in _MODEL_TYPES.items())
        raise CheckpointError(
            f"{config_path}: model_type {model_type!r} is not a CLIP checkpoint; expected one of "
            f"{expected}."
        )
    projection_dim = int(config.get("projection_dim", _PROJECTION_DIM_DEFAULT))
    return HFConfig(config_path, model_type, vision, text, projection_dim)


def _tower(config: HFConfig, name: str) -> dict:
    """The vision or text part, checked for what KerasCV's CLIP towers can express."""
    part = config.vision if name == "vision" else config.text
    if part is None:
        raise CheckpointError(
            f"{config.path}: a {_MODEL_TYPES[config.model_type]} checkpoint has no {name} tower; "
            f"save a CLIPModel (both towers) there."
        )
    if part["hidden_act"] != "quick_gelu":
        raise CheckpointError(
            f"{config.path}: the {name} tower's hidden_act is {part['hidden_act']!r}, but "
            "KerasCV's CLIP encoders use QuickGELU (OpenAI CLIP's activation); only "
            "hidden_act='quick_gelu' checkpoints convert exactly."
        )
    width = int(part["hidden_size"])
    if int(part["intermediate_size"]) != 4 * width:
        raise CheckpointError(
            f"{config.path}: the {name} tower's intermediate_size {part['intermediate_size']} != "
            f"4 * hidden_size ({4 * width}); KerasCV's CLIP encoders fix the MLP at 4x the width."
        )
    return part


def convert_vision_config(config: HFConfig) -> dict:
    """The image tower's sizes, as `vidcls_keras.clip.image.EncoderConfig` fields.

    Raises:
        CheckpointError: no vision tower, an activation other than quick_gelu, or sizes KerasCV's
            image encoder cannot express.
    """
    vision = _tower(config, "vision")
    if not math.isclose(float(vision["layer_norm_eps"]), 1e-5):
        raise CheckpointError(
            f"{config.path}: layer_norm_eps {vision['layer_norm_eps']} != 1e-5, the epsilon "
            "KerasCV's CLIP image encoder uses."
        )
    if int(vision["num_channels"]) != 3:
        raise CheckpointError(f"{config.path}: num_channels must be 3 (RGB)")
    return {
        "image_size": int(vision["image_size"]),
        "patch_size": int(vision["patch_size"]),
        "width": int(vision["hidden_size"]),
        "num_layers": int(vision["num_hidden_layers"]),
        "num_heads": int(vision["num_attention_heads"]),
        "embed_dim": config.projection_dim,
    }


def convert_text_config(config: HFConfig) -> dict:
    """The text tower's sizes, as `CausalCLIPTextEncoder` arguments (all but `end_token_id`).

    Raises:
        CheckpointError: no text tower, an activation other than quick_gelu, or sizes KerasCV's
            text encoder cannot express.
    """
    text = _tower(config, "text")
    return {
        "transformer_width": int(text["hidden_size"]),
        "transformer_layers": int(text["num_hidden_layers"]),
        "transformer_heads": int(text["num_attention_heads"]),
        "vocab_size": int(text["vocab_size"]),
        "embed_dim": config.projection_dim,
        "context_length": int(text["max_position_embeddings"]),
        "layer_norm_epsilon": float(text["layer_norm_eps"]),
    }


def read_safetensors(
    directory: str | os.PathLike, skip_prefixes: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The tensors of `model.safetensors` (or of the shards an index lists), as numpy arrays.

    Args:
        directory: the checkpoint directory.
        skip_prefixes: tensors whose names start with one of these are not read (the other tower
            of a `CLIPModel`).

    Returns:
        `{tensor name: array}`, in the stored dtype.

    Raises:
        CheckpointError: no safetensors file, a shard missing, or a file that cannot be read.
    """
    from safetensors import safe_open

    directory = pathlib.Path(directory)
    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = [directory / name for name in sorted(set(weight_map.values()))]
    elif single.is_file():
        files = [single]
    else:
        files = []
    missing = [file.name for file in files if not file.is_file()]
    if not files or missing:
        raise CheckpointError(
            f"{directory}: no model.safetensors (nor model.safetensors.index.json with its "
            f"shards{': missing ' + ', '.join(missing) if missing else ''}). Re-save the "
            "checkpoint with transformers: CLIPModel.from_pretrained(dir).save_pretrained(new_dir) "
            "writes safetensors."
        )
    tensors: dict[str, np.ndarray] = {}
    for file in files:
        try:
            with safe_open(os.fspath(file), framework="np") as weights:
                for name in weights.keys():
                    if not name.startswith(skip_prefixes):
                        tensors[name] = weights.get_tensor(name)
        except Exception as error:  # safetensors raises its own error types, and TypeError (bf16)
            raise CheckpointError(
                f"{file}: cannot read ({type(error).__name__}: {error})"
            ) from error
    return tensors


# ------------------------------------------------------------------------------------------------
# Weight maps: (Keras variable, HF tensor name, layout). Layouts: "same"; "linear" (torch
# `Linear.weight` is `(out, in)`, a Keras `Dense` kernel `(in, out)`: transpose); "conv" (torch
# `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`).
# ------------------------------------------------------------------------------------------------


def _dense(layer: keras.layers.Dense, name: str) -> list:
    return [(layer.kernel, name + ".weight", "linear"), (layer.bias, name + ".bias", "same")]


def _norm(layer: keras.layers.LayerNormalization, name: str) -> list:
    return [(layer.gamma, name + ".weight", "same"), (layer.beta, name + ".bias", "same")]


def _blocks(encoder: keras.layers.Layer, prefix: str) -> list:
    """The residual attention blocks (KerasCV's `CLIPEncoder`), the same in both towers."""
    pairs = []
    for index, block in enumerate(encoder.resblocks):
        layer = f"{prefix}encoder.layers.{index}."
        pairs += _norm(block.ln_1, layer + "layer_norm1")
        for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
            pairs += _dense(getattr(block.attn, projection), layer + "self_attn." + projection)
        pairs += _norm(block.ln_2, layer + "layer_norm2")
        pairs += _dense(block.mlp_dense_1, layer + "mlp.fc1")
        pairs += _dense(block.mlp_dense_2, layer + "mlp.fc2")
    return pairs


def vision_weight_map(encoder: keras.Model) -> list[tuple[keras.Variable, str, str]]:
    """`(KerasCV variable, HF tensor name, layout)` for every weight of a `CLIPImageEncoder`."""
    vision = "vision_model."
    embeddings = encoder.embeddings
    return [
        (embeddings.class_embedding, vision + "embeddings.class_embedding", "same"),
        (embeddings.positional_embedding, vision + "embeddings.position_embedding.weight", "same"),
        (embeddings.conv1.kernel, vision + "embeddings.patch_embedding.weight", "conv"),
        *_norm(encoder.pre_norm, vision + "pre_layrnorm"),  # sic: HF's spelling
        *_blocks(encoder.encoder, vision),
        *_norm(encoder.post_norm, vision + "post_layernorm"),
        (encoder.image_projector.kernel, "visual_projection.weight", "linear"),
    ]


def text_weight_map(encoder: keras.Model) -> list[tuple[keras.Variable, str, str]]:
    """`(KerasCV variable, HF tensor name, layout)` for every weight of a `CLIPTextEncoder`."""
    text = "text_model."
    return [
        (encoder.token_embedding.embeddings, text + "embeddings.token_embedding.weight", "same"),
        (
            encoder.positional_embedding.embeddings,
            text + "embeddings.position_embedding.weight",
            "same",
        ),
        *_blocks(encoder.encoder, text),
        *_norm(encoder.ln_final, text + "final_layer_norm"),
        (encoder.text_projector.kernel, "text_projection.weight", "linear"),
    ]


def convert_vision_weights(encoder: keras.Model, directory: str | os.PathLike, config: HFConfig):
    """Assigns every vision tensor of the checkpoint to its `CLIPImageEncoder` weight.

    Raises:
        CheckpointError: tensors missing, left over or of the wrong shape.
    """
    skip = TEXT_PREFIXES + _SHARED_NAMES if config.full_model else ()
    tensors = read_safetensors(directory, skip)
    _load(encoder, vision_weight_map(encoder), tensors, directory, "image")


def convert_text_weights(encoder: keras.Model, directory: str | os.PathLike, config: HFConfig):
    """Assigns every text tensor of the checkpoint to its `CLIPTextEncoder` weight.

    Raises:
        CheckpointError: tensors missing, left over or of the wrong shape.
    """
    skip = VISION_PREFIXES + _SHARED_NAMES if config.full_model else ()
    tensors = read_safetensors(directory, skip)
    _load(encoder, text_weight_map(encoder), tensors, directory, "text")


def _load(
    encoder: keras.Model,
    pairs: list[tuple[keras.Variable, str, str]],
    tensors: dict[str, np.ndarray],
    directory: str | os.PathLike,
    tower: str,
) -> None:
    """Assigns each mapped tensor to its weight; fails on anything unmatched."""
    mapped = {id(variable) for variable, _, _ in pairs}
    unmapped = [variable.path for variable in encoder.weights if id(variable) not in mapped]
    if unmapped or len(mapped) != len(pairs):
        raise CheckpointError(  # KerasCV's encoder changed: the map above must follow it
            f"the Hugging Face -> KerasCV weight map does not cover this KerasCV version's CLIP "
            f"{tower} encoder (unmapped: {unmapped})"
        )
    remaining = dict(tensors)
    missing, wrong_shape = [], []
    for variable, name, layout in pairs:
        if name not in remaining:
            missing.append(name)
            continue
        value = remaining.pop(name)
        if layout == "linear":
            value = value.T
        elif layout == "conv":
            value = value.transpose(2, 3, 1, 0)
        if tuple(value.shape) != tuple(variable.shape):
            wrong_shape.append(f"{name}: {value.shape} vs KerasCV {tuple(variable.shape)}")
            continue
        variable.assign(value.astype(np.float32))
    unused = sorted(name for name in remaining if not name.endswith(_BUFFER_SUFFIXES))
    problems = []
    if missing:
        hint = ""
        if "visual_projection.weight" in missing:
            hint = (
                " (no visual_projection: a CLIPVisionModel has no projection head; save a "
                "CLIPModel or CLIPVisionModelWithProjection)"
            )
        elif "text_projection.weight" in missing:
            hint = (
                " (no text_projection: a CLIPTextModel has no projection head; save a "
                "CLIPModel or CLIPTextModelWithProjection)"
            )
        problems.append(f"missing tensors{hint}: {missing}")
    if wrong_shape:
        problems.append(f"tensors whose shape does not match config.json: {wrong_shape}")
    if unused:
        problems.append(f"tensors that match no KerasCV weight: {unused}")
    if problems:
        raise CheckpointError(
            f"{directory}: cannot convert this checkpoint to KerasCV's CLIP {tower} encoder; "
            + "; ".join(problems)
        )
