"""Model builders, chosen by name: `build_model("transformer", num_classes=4, max_frames=100)`.

Each builder returns a functional `keras.Model` that outputs logits:

- `mean`: masked mean of the frame embeddings + `Dense` (the original's linear model).
- `transformer`: position embedding + Transformer encoder + masked mean + `Dense`.
- `frame`: frozen CLIP image encoder on one frame per video + `Dense`.
- `lstm`: masked (bidirectional) LSTM over the frames, final state + `Dense`.
- `max`: masked max of the frame embeddings + `Dense`.
- `vote`: the mean model in training; a majority vote of its per-frame predictions at inference.
- `aligned_lstm`, `aligned_transformer`: the `lstm` / `transformer` trunk -> one unit video
  embedding in CLIP's joint space (layer `video_embedding`); logits = exp(t) * cosine with the
  frozen CLIP text embeddings of the class prompts (layer `text_logits`). See `models.aligned`.
- `finetune`: the CLIP image tower on every frame of a clip + the transformer head, trained end
  to end (LoRA adapters, the last blocks, or all of it); reads clip datasets' pixels. See
  `models.finetune`.
- `logistic`, `moe`, `dbof`: the YouTube-8M starter's LogisticModel, MoeModel and DbofModel, for
  multi-label data (their logits go through a sigmoid; see `training.trainer`).

Importing this package registers the custom layers, which `keras.saving.load_model` needs:
`import vidcls_keras.models` before loading a `.keras` file.
"""

from collections.abc import Callable

import keras

from vidcls_keras.models.aligned import TextLogits, aligned_lstm, aligned_transformer
from vidcls_keras.models.dbof import dbof_classifier
from vidcls_keras.models.end_to_end import EndToEndClassifier, FrameEncoder
from vidcls_keras.models.finetune import FineTuneAdam, TunableCLIPImageEncoder, finetune_classifier
from vidcls_keras.models.frame import SavableCLIPImageEncoder, frame_classifier
from vidcls_keras.models.frame_sampler import FrameSampler
from vidcls_keras.models.layers import MaskedMax, MaskedMean
from vidcls_keras.models.logistic import logistic_classifier
from vidcls_keras.models.lstm import lstm_classifier
from vidcls_keras.models.mean import mean_classifier
from vidcls_keras.models.mixture_of_experts import MixtureOfExperts
from vidcls_keras.models.moe import moe_classifier
from vidcls_keras.models.pooling import max_classifier
from vidcls_keras.models.transformer import transformer_classifier
from vidcls_keras.models.vote import MajorityVote, vote_classifier

MODELS: dict[str, Callable[..., keras.Model]] = {
    "mean": mean_classifier,
    "transformer": transformer_classifier,
    "frame": frame_classifier,
    "lstm": lstm_classifier,
    "max": max_classifier,
    "vote": vote_classifier,
    "aligned_lstm": aligned_lstm,
    "aligned_transformer": aligned_transformer,
    "logistic": logistic_classifier,
    "moe": moe_classifier,
    "dbof": dbof_classifier,
    "finetune": finetune_classifier,
}


def build_model(name: str, **kwargs) -> keras.Model:
    """Builds the model called `name` (a key of `MODELS`) with the builder's keyword arguments."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {sorted(MODELS)}.")
    return MODELS[name](**kwargs)


__all__ = [
    "MODELS",
    "EndToEndClassifier",
    "FineTuneAdam",
    "FrameEncoder",
    "FrameSampler",
    "MajorityVote",
    "MaskedMax",
    "MaskedMean",
    "MixtureOfExperts",
    "SavableCLIPImageEncoder",
    "TunableCLIPImageEncoder",
    "TextLogits",
    "aligned_lstm",
    "aligned_transformer",
    "build_model",
    "dbof_classifier",
    "finetune_classifier",
    "frame_classifier",
    "logistic_classifier",
    "lstm_classifier",
    "max_classifier",
    "mean_classifier",
    "moe_classifier",
    "transformer_classifier",
    "vote_classifier",
]
