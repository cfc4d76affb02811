"""A (bidirectional) LSTM over the frame embeddings: the recurrent baseline."""

import keras

from vidcls_keras.models.layers import check_rate, check_sizes


def lstm_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    units: int = 256,
    bidirectional: bool = True,
    dropout: float = 0.1,
) -> keras.Model:
    """A masked LSTM reads the frames in order; its final state goes through `Dense` to logits.

    The padding mask goes to the LSTM as its Keras `mask`: at a padded step the state is carried
    over unchanged, so the forward direction ends on the last real frame and the backward
    direction (which reads the reversed sequence, padding first) starts from it. Padded frames
    therefore never change the logits, and a padded video gives the same logits as the same
    frames without padding. A video with no real frame keeps the zero initial state.

    With the JAX backend, a mask rules out the cuDNN kernel: the LSTM runs as a `lax.scan` on
    every device (see `keras.src.backend.jax.rnn.lstm`).

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: size of one frame embedding (512 for CLIP ViT-B/32).
        units: LSTM state size (per direction).
        bidirectional: True also reads the frames backwards and concatenates both final states
            (`2 * units` features).
        dropout: dropout rate on the input frames and on the final state.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim, units=units)
    check_rate("dropout", dropout)
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = keras.layers.Dropout(dropout, name="frame_dropout")(frames)
    recurrent = keras.layers.LSTM(units, name="lstm")
    if bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent, name="bidirectional_lstm")
    x = recurrent(x, mask=padding_mask)
    x = keras.layers.Dropout(dropout, name="state_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="lstm_classifier"
    )
