"""Max of the frame embeddings, then a linear layer: the max-pooling baseline."""

import keras

from vidcls_keras.models.layers import MaskedMax, check_rate, check_sizes


def max_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    hidden_dim: int | None = None,
    dropout: float = 0.0,
) -> keras.Model:
    """Masked max over frames (feature by feature), then a `Dense` layer to logits.

    Where the mean model asks "what does the video look like on average", this one asks "what is
    the strongest evidence for each feature in any frame": one frame that shows a dish can carry a
    video whose other frames show a street. Padded frames never win the maximum.

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: size of one frame embedding (512 for CLIP ViT-B/32).
        hidden_dim: None (the default) pools the embeddings themselves; an int first maps every
            frame through `Dense(hidden_dim, "relu")`, so the maximum is over learned features.
        dropout: dropout rate on the pooled features; 0 adds no layer.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    if hidden_dim is not None:
        check_sizes(hidden_dim=hidden_dim)
    check_rate("dropout", dropout)
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = frames
    if hidden_dim is not None:
        x = keras.layers.Dense(hidden_dim, activation="relu", name="frame_features")(x)
    x = MaskedMax(name="masked_max")(x, padding_mask)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="max_classifier"
    )
