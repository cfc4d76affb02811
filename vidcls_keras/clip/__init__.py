"""CLIP ViT-B/32: preprocessing, the image and text towers, presets and checkpoint conversion.

Submodules are imported on first use, so `vidcls_keras.clip.preprocessing` (numpy + PIL) can be
used by tf.data code without importing KerasCV.
"""

import importlib

_SUBMODULES = ("image", "text", "specs")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"vidcls_keras.clip.{name}")
    raise AttributeError(f"module 'vidcls_keras.clip' has no attribute {name!r}")
