"""Text-aligned heads: one video embedding in CLIP's joint space, classes scored as CLIP texts.

    model = aligned_lstm(num_classes=4, max_frames=100, class_text_embeddings=text)  # (4, 512)
    video = keras.Model(model.inputs, model.get_layer("video_embedding").output)

As CLIP4Clip's `seqLSTM` / `seqTransf` heads: a temporal model reads the frame embeddings, the
video becomes one L2-normalised vector in the joint space of CLIP's image and text towers, and the
logits are `exp(t) * cos(video, text_c)`, with `text_c` the frozen CLIP text embedding of class
c's prompt and `t` a learned temperature initialised as CLIP's (`log(1 / 0.07)`) and clamped as
CLIP clamps it (`exp(t) <= 100`). Because a class is a text, the same video embedding scores any
label list (`inference.classifier`'s open-set labels); the class text embeddings are a
non-trainable weight of the `text_logits` layer, so they travel inside the `.keras` file and
predicting the trained labels needs no text tower.

The fusion, in order (frames `(B, T, D)`, mask `(B, T)`, joint width `J`):

1. each frame is L2-normalised (every frame gets the same vote, as in zero-shot's mean);
2. video = masked mean of the unit frames + `Dense(D)` of the temporal trunk's features, where
   the trunk is the project's `lstm` (masked, bidirectional) or `transformer` head without its
   logits layer, reused as it is, and that `Dense` starts at zero (CLIP4Clip adds the temporal
   output to the original frames for the same reason);
3. `Dense(J)` projection, initialised to the identity (CLIP's frame embeddings are already in
   the joint space);
4. L2-normalised: the `video_embedding` layer;
5. `TextLogits` (`text_logits` layer): `exp(t) * video @ text.T`.

So an untrained aligned head *is* CLIP zero-shot on the mean frame embedding (`retrieval.index.
mean_frame_embedding`), at temperature 1 / 0.07; training moves it from there. Padded frames
change nothing: the mean and the trunks mask them.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from vidcls_keras.models.layers import MaskedMean, check_sizes
from vidcls_keras.models.lstm import lstm_classifier
from vidcls_keras.models.transformer import transformer_classifier

VIDEO_EMBEDDING_LAYER = "video_embedding"
TEXT_LOGITS_LAYER = "text_logits"
# CLIP's logit scale: initialised to log(1 / 0.07), clamped to [0, log(100)] (OpenAI CLIP).
LOGIT_SCALE_INIT = math.log(1.0 / 0.07)
LOGIT_SCALE_MAX = math.log(100.0)


@keras.saving.register_keras_serializable(package="vidcls_keras")
class TextLogits(keras.layers.Layer):
    """Logits `exp(t) * cos(video, text_c)` against frozen class text embeddings.

    Weights: `class_text_embeddings` `(num_classes, embed_dim)`, not trainable (set it with
    `set_class_text_embeddings`; saved in the `.keras` file), and `logit_scale` `t`, a trainable
    scalar initialised to `logit_scale_init`. As CLIP, the scale used is `exp(clip(t, 0,
    log 100))`, so it never exceeds 100.

    Args:
        num_classes: C, rows of the text embeddings.
        embed_dim: the joint width J of video and text embeddings.
        logit_scale_init: initial `t` (CLIP's `log(1 / 0.07)`).

    Call arguments:
        inputs: float `(batch, embed_dim)` video embeddings (normalised here too).

    Returns:
        Float logits `(batch, num_classes)`.
    """

    def __init__(
        self,
        num_classes: int,
        embed_dim: int,
        logit_scale_init: float = LOGIT_SCALE_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_sizes(num_classes=num_classes, embed_dim=embed_dim)
        self.num_classes = int(num_classes)
        self.embed_dim = int(embed_dim)
        self.logit_scale_init = float(logit_scale_init)

    def build(self, input_shape):
        self.class_text_embeddings = self.add_weight(
            shape=(self.num_classes, self.embed_dim),
            initializer="zeros",
            trainable=False,
            name="class_text_embeddings",
        )
        self.logit_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.logit_scale_init),
            trainable=True,
            name="logit_scale",
        )

    def set_class_text_embeddings(self, embeddings: np.ndarray) -> None:
        """Stores the class text embeddings, float `(num_classes, embed_dim)` (L2-normalised)."""
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.shape != (self.num_classes, self.embed_dim):
            raise ValueError(
                f"class text embeddings of shape {embeddings.shape}; this layer holds "
                f"({self.num_classes}, {self.embed_dim}): one row per class, the joint width."
            )
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        self.class_text_embeddings.assign(embeddings / np.maximum(norms, 1e-12))

    def scale(self):
        """`exp(t)` with CLIP's clamp: the factor in front of the cosines (a scalar tensor)."""
        return ops.exp(ops.clip(self.logit_scale, 0.0, LOGIT_SCALE_MAX))

    def call(self, inputs):
        videos = ops.normalize(inputs, axis=-1, epsilon=1e-12)
        texts = ops.normalize(self.class_text_embeddings, axis=-1, epsilon=1e-12)
        return self.scale() * ops.matmul(videos, ops.transpose(texts))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            embed_dim=self.embed_dim,
            logit_scale_init=self.logit_scale_init,
        )
        return config


def _checked_text(class_text_embeddings: np.ndarray | None, num_classes: int) -> np.ndarray:
    """The class text embeddings as float32 `(num_classes, J)`, or a ValueError saying why not."""
    if class_text_embeddings is None:
        raise ValueError(
            "an aligned head needs class_text_embeddings, float (num_classes, joint width): the "
            "CLIP text embeddings of the class prompts (training computes them from the "
            "dataset's embedder, see training.open_set.label_text_embeddings)."
        )
    text = np.asarray(class_text_embeddings, np.float32)
    if text.ndim != 2 or text.shape[0] != num_classes or text.shape[1] < 1:
        raise ValueError(
            f"class_text_embeddings has shape {text.shape}; expected ({num_classes}, joint "
            "width): one text embedding per class, in label order."
        )
    if not np.all(np.isfinite(text)) or np.any(np.linalg.norm(text, axis=1) == 0):
        raise ValueError("class_text_embeddings holds a zero or non-finite row.")
    return text


def _aligned_model(
    trunk: keras.Model,
    max_frames: int,
    embed_dim: int,
    text: np.ndarray,
    name: str,
) -> keras.Model:
    """Steps 1-5 of the module docstring around a temporal `trunk` (frames, mask -> features)."""
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    unit_frames = keras.layers.UnitNormalization(name="unit_frames")(frames)
    pooled = MaskedMean(name="masked_mean")(unit_frames, padding_mask)
    temporal = trunk({"frames": unit_frames, "padding_mask": padding_mask})
    # Zero at the start: the untrained head is the mean of the unit frames (CLIP zero-shot).
    temporal = keras.layers.Dense(embed_dim, kernel_initializer="zeros", name="temporal_residual")(
        temporal
    )
    fused = keras.layers.Add(name="fuse")([pooled, temporal])
    projected = keras.layers.Dense(text.shape[1], kernel_initializer="identity", name="projection")(
        fused
    )
    video = keras.layers.UnitNormalization(name=VIDEO_EMBEDDING_LAYER)(projected)
    text_logits = TextLogits(text.shape[0], text.shape[1], name=TEXT_LOGITS_LAYER)
    logits = text_logits(video)
    text_logits.set_class_text_embeddings(text)
    return keras.Model({"frames": frames, "padding_mask": padding_mask}, logits, name=name)


def _trunk(head: keras.Model, name: str) -> keras.Model:
    """A head over frames without its `logits` layer: frames, mask -> the features it classifies."""
    return keras.Model(head.input, head.get_layer("logits").input, name=name)


def aligned_lstm(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    class_text_embeddings: np.ndarray | None = None,
    units: int = 256,
    bidirectional: bool = True,
    dropout: float = 0.1,
) -> keras.Model:
    """The `lstm` head's masked LSTM as the temporal trunk of a text-aligned head.

    Args:
        num_classes: C, classes (rows of `class_text_embeddings`).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: D, size of one frame embedding (512 for CLIP ViT-B/32).
        class_text_embeddings: float `(C, J)`, the CLIP text embedding of each class's prompt,
            in label order; J is the joint width (= D for CLIP's own embeddings).
        units: LSTM state size (per direction), as `lstm_classifier`.
        bidirectional: also read the frames backwards, as `lstm_classifier`.
        dropout: dropout on the trunk's input frames and final state.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, D), "padding_mask":
        bool (batch, max_frames)}` -> logits `(batch, C)`; its `video_embedding` layer outputs
        the unit video embeddings `(batch, J)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    text = _checked_text(class_text_embeddings, num_classes)
    head = lstm_classifier(
        num_classes,
        max_frames,
        embed_dim,
        units=units,
        bidirectional=bidirectional,
        dropout=dropout,
    )
    return _aligned_model(
        _trunk(head, "temporal_lstm"), max_frames, embed_dim, text, "aligned_lstm"
    )


def aligned_transformer(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    class_text_embeddings: np.ndarray | None = None,
    num_layers: int = 1,
    num_heads: int = 8,
    intermediate_dim: int = 2048,
    dropout: float = 0.1,
    hidden_dim: int | None = None,
) -> keras.Model:
    """The `transformer` head's encoder (+ masked mean) as the trunk of a text-aligned head.

    Args:
        num_classes: C, classes (rows of `class_text_embeddings`).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: D, size of one frame embedding (512 for CLIP ViT-B/32).
        class_text_embeddings: float `(C, J)`, the CLIP text embedding of each class's prompt,
            in label order; J is the joint width.
        num_layers, num_heads, intermediate_dim, dropout, hidden_dim: as
            `transformer_classifier` (one post-norm layer, 8 heads, 2048, 0.1, width D).

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, D), "padding_mask":
        bool (batch, max_frames)}` -> logits `(batch, C)`; its `video_embedding` layer outputs
        the unit video embeddings `(batch, J)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    text = _checked_text(class_text_embeddings, num_classes)
    head = transformer_classifier(
        num_classes,
        max_frames,
        embed_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
        hidden_dim=hidden_dim,
    )
    return _aligned_model(
        _trunk(head, "temporal_transformer"), max_frames, embed_dim, text, "aligned_transformer"
    )


def is_aligned(model: keras.Model) -> bool:
    """Whether `model` is a text-aligned head (it has the `text_logits` and `video_embedding`
    layers)."""
    names = {layer.name for layer in model.layers}
    return {TEXT_LOGITS_LAYER, VIDEO_EMBEDDING_LAYER} <= names


def video_embedding_model(model: keras.Model) -> keras.Model:
    """An aligned head cut at its `video_embedding` layer: same inputs -> unit `(batch, J)`."""
    return keras.Model(model.input, model.get_layer(VIDEO_EMBEDDING_LAYER).output)


def logit_scale(model: keras.Model) -> float:
    """An aligned head's learned `exp(t)` (clamped as in its logits)."""
    return float(ops.convert_to_numpy(model.get_layer(TEXT_LOGITS_LAYER).scale()))
