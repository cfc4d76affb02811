"""Model builders, chosen by name: `build_model("transformer", num_classes=4, max_frames=100)`.

Each builder returns a functional `keras.Model` that outputs logits:

- `mean`: masked mean of the frame embeddings + `Dense` (the original's linear model).
- `transformer`: position embedding + Transformer encoder + masked mean + `Dense`.
- `frame`: frozen CLIP image encoder on one frame per video + `Dense`.

Importing this package registers the custom layers, which `keras.saving.load_model` needs:
`import vidcls_keras.models` before loading a `.keras` file.
"""

from collections.abc import Callable

import keras

from vidcls_keras.models.frame import SavableCLIPImageEncoder, frame_classifier
from vidcls_keras.models.layers import MaskedMean
from vidcls_keras.models.mean import mean_classifier
from vidcls_keras.models.transformer import transformer_classifier

MODELS: dict[str, Callable[..., keras.Model]] = {
    "mean": mean_classifier,
    "transformer": transformer_classifier,
    "frame": frame_classifier,
}


def build_model(name: str, **kwargs) -> keras.Model:
    """Builds the model called `name` (a key of `MODELS`) with the builder's keyword arguments."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {sorted(MODELS)}.")
    return MODELS[name](**kwargs)


__all__ = [
    "MODELS",
    "MaskedMean",
    "SavableCLIPImageEncoder",
    "build_model",
    "frame_classifier",
    "mean_classifier",
    "transformer_classifier",
]
