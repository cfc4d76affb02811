"""Seeded random weights for the tiny CLIP towers (`FrameEmbedder.tiny`, `TextEmbedder.tiny`).

One loop for both towers: every weight, in the model's weight order, is drawn from
`numpy.random.default_rng(seed)`, independent of Keras' global RNG and of the backend, so
`tiny(seed)` is the same model everywhere. The two towers keep their own scales (datasets and
caches made with `tiny:<seed>` record embeddings that must not change).
"""

from __future__ import annotations

import keras
import numpy as np

# Width of both tiny towers' embeddings (they must agree for zero-shot and search tests).
TINY_EMBED_DIM = 16


def randomize_weights(model: keras.Model, seed: int, *, scale: float, lecun_kernels: bool) -> None:
    """Overwrites every weight of a built model with seeded noise.

    LayerNorm scales (`gamma`) ~ 1 + N(0, 0.1) and all other weights ~ N(0, scale), except that
    with `lecun_kernels` every `kernel` ~ N(0, 1 / fan_in). The image tower uses LeCun kernels
    and scale 0.02 (with CLIP's 0.02 kernels at these tiny widths every image embeds to nearly
    the same vector, and a demo on random features cannot separate anything); the text tower
    uses scale 0.2 everywhere. Non-trivial biases and norms keep a mapping mistake visible.

    Args:
        model: a built Keras model.
        seed: integer seed.
        scale: standard deviation of the weights that are neither `gamma` nor LeCun kernels.
        lecun_kernels: draw `kernel`s with standard deviation `1 / sqrt(fan_in)`.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.name == "gamma":
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif lecun_kernels and variable.name == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            value = rng.standard_normal(shape) / np.sqrt(fan_in)
        else:
            value = scale * rng.standard_normal(shape)
        variable.assign(value.astype(np.float32))
