"""CLIP ViT-B/32: preprocessing, the image and text towers, presets and checkpoint conversion.

    preprocessing   frames -> CLIP pixels (numpy + PIL; no Keras)
    image           FrameEmbedder: pixels -> image embeddings
    text            TextEmbedder: prompts -> text embeddings
    tokenizer       CLIP's BPE files and keras-hub's tokenizer
    specs           the one embedder-spec grammar ("preset:...", "hf:...", "tiny:...")
    presets         KerasCV presets: names and local preset directories
    convert_hf      Hugging Face checkpoints -> KerasCV weights
    tiny            seeded random weights for the tiny test towers
    errors          CheckpointError, TextEmbedderError

Submodules and the public names below are imported on first use (`clip.FrameEmbedder`,
`from vidcls_keras.clip import preprocess`), so `vidcls_keras.clip.preprocessing` can be used by
tf.data code without importing Keras or KerasCV.
"""

import importlib

_SUBMODULES = (
    "convert_hf",
    "errors",
    "image",
    "preprocessing",
    "presets",
    "specs",
    "text",
    "tiny",
    "tokenizer",
)
# Public name -> the submodule that defines it.
_NAMES = {
    "CLIP_IMAGE_SIZE": "preprocessing",
    "CLIP_MEAN": "preprocessing",
    "CLIP_STD": "preprocessing",
    "center_crop_uint8": "preprocessing",
    "normalize": "preprocessing",
    "preprocess": "preprocessing",
    "resized_size": "preprocessing",
    "DEFAULT_BATCH_SIZE": "image",
    "EncoderConfig": "image",
    "FrameEmbedder": "image",
    "TINY_CONFIG": "image",
    "VIT_B32_CONFIG": "image",
    "TextEmbedder": "text",
    "CheckpointError": "errors",
    "TextEmbedderError": "errors",
    "DEFAULT_EMBEDDER": "specs",
    "DEFAULT_PRESET": "specs",
    "EmbedderSpec": "specs",
    "EmbedderSpecError": "specs",
    "parse_embedder_spec": "specs",
    "TINY_EMBED_DIM": "tiny",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"vidcls_keras.clip.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(f"vidcls_keras.clip.{_NAMES[name]}"), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'vidcls_keras.clip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES, *_NAMES})
