"""Mean of the frame embeddings, then a linear layer: the original's `LinearClassifier`."""

import keras

from vidcls_keras.models.layers import MaskedMean, check_rate, check_sizes


def mean_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    dropout: float = 0.0,
) -> keras.Model:
    """Masked mean of the frame embeddings, then a `Dense` layer to logits.

    The original averaged each video's embeddings (all of them real) and applied one linear
    layer; the masked mean gives the same average when videos are padded to `max_frames`.

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: size of one frame embedding (512 for CLIP ViT-B/32).
        dropout: dropout rate on the pooled embedding; 0 (the original) adds no layer.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    check_rate("dropout", dropout)
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = MaskedMean(name="masked_mean")(frames, padding_mask)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="mean_classifier"
    )
