"""A Transformer encoder over the frame embeddings: the original's `TransformerEncoder`."""

import keras

from vidcls_keras.models.layers import (
    MaskedMean,
    PositionEmbedding,
    TransformerEncoder,
    check_rate,
    check_sizes,
)


def transformer_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    num_layers: int = 1,
    num_heads: int = 8,
    intermediate_dim: int = 2048,
    dropout: float = 0.1,
    hidden_dim: int | None = None,
) -> keras.Model:
    """Position embedding, Transformer encoder layers, masked mean, then `Dense` to logits.

    The defaults are the original's `nn.TransformerEncoderLayer`: one post-norm layer, width 512,
    8 heads, feed-forward 2048 with ReLU, dropout 0.1, layer-norm epsilon 1e-5. Two differences,
    both on purpose:

    - The padding mask is right. The original marked the first `batch_size` frames of every video
      as padding (and PyTorch's True means "ignore"); here padded frames are masked out as
      attention keys and left out of the mean, so their values cannot change the logits.
    - Positions are a learned `keras_hub.layers.PositionEmbedding`, where the original added fixed
      sinusoids (`max_frames * hidden_dim` more weights: 51,200 at 100 frames and width 512).

    The position embedding and encoder layers are keras_hub's, subclassed (`models.layers`) only
    to compute some gradients in the layouts XLA's CPU backend runs fast: the same weights and
    outputs, a faster training step on the CPU.

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: size of one frame embedding (512 for CLIP ViT-B/32).
        num_layers: number of Transformer encoder layers.
        num_heads: attention heads per layer; must divide `hidden_dim`.
        intermediate_dim: width of each layer's feed-forward block.
        dropout: dropout rate after the position embedding and inside every layer.
        hidden_dim: the Transformer's width (the original's `d_model`). None (the default)
            follows `embed_dim`; another value adds a `Dense` projection from `embed_dim`.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    hidden_dim = embed_dim if hidden_dim is None else hidden_dim
    check_sizes(
        num_classes=num_classes,
        max_frames=max_frames,
        embed_dim=embed_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        hidden_dim=hidden_dim,
    )
    check_rate("dropout", dropout)
    if hidden_dim % num_heads:
        raise ValueError(
            f"num_heads={num_heads} must divide the Transformer width {hidden_dim} "
            "(hidden_dim, which defaults to embed_dim): pick num_heads among its divisors."
        )

    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = frames
    if hidden_dim != embed_dim:
        x = keras.layers.Dense(hidden_dim, name="projection")(x)
    positions = PositionEmbedding(max_frames, name="position_embedding")(x)
    x = keras.layers.Add(name="add_positions")([x, positions])
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for index in range(num_layers):
        x = TransformerEncoder(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            activation="relu",
            layer_norm_epsilon=1e-5,
            name=f"transformer_layer_{index}",
        )(x, padding_mask=padding_mask)
    x = MaskedMean(name="masked_mean")(x, padding_mask)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="transformer_classifier"
    )
