"""The YouTube-8M starter's logistic model: one linear layer with L2, sigmoid on top."""

import keras

from vidcls_keras.models.layers import MaskedMean, check_sizes


def logistic_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 1152,
    l2_penalty: float = 1e-8,
) -> keras.Model:
    """Masked mean of the frames, then one `Dense` layer with an L2 penalty, to logits.

    The starter's `LogisticModel` (google/youtube-8m `video_level_models.py`) over video-level
    features: at video level the input holds one frame, `concat(mean_rgb, mean_audio)`, and the
    mean is that frame. Over frame-level features it is the starter's `FrameLevelLogisticModel`
    (mean of the real frames, then the same layer). The starter applied the sigmoid itself; here
    the model returns logits and the trainer's binary cross-entropy takes them (`from_logits`), so
    `sigmoid(logits)` is the starter's prediction. slim's `l2_regularizer(l2_penalty)` is
    `l2_penalty * sum(w ** 2) / 2`, hence `keras.regularizers.L2(l2_penalty / 2)`.

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (1 at video level).
        embed_dim: width of one frame (1024 rgb + 128 audio for YouTube-8M).
        l2_penalty: the starter's L2 penalty on the kernel (1e-8); 0 adds none.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    if not l2_penalty >= 0:
        raise ValueError(f"l2_penalty must be >= 0, got {l2_penalty!r}.")
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = MaskedMean(name="masked_mean")(frames, padding_mask)
    regularizer = keras.regularizers.L2(l2_penalty / 2) if l2_penalty else None
    logits = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="logistic_classifier"
    )
