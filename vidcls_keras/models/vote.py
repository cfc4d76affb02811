"""Majority vote of per-frame predictions: the mean model, trained as is, voting at inference."""

import keras
from keras import ops

from vidcls_keras.models.layers import MaskedMean, check_rate, check_sizes


@keras.saving.register_keras_serializable(package="vidcls_keras")
class MajorityVote(keras.layers.Layer):
    """Passes the mean model's logits through in training; votes frame by frame otherwise.

    In training (`training=True`, as in `fit()`) the output is `mean_logits`, so the model trains
    exactly as the mean model. Otherwise (`predict()`, `evaluate()`, a plain call) every real frame
    votes for the argmax of its own logits (a tie inside one frame goes to the lowest class index),
    and the output is the log of a probability vector:

        log((1 - tie_break_weight) * vote_fraction + tie_break_weight * softmax(mean_logits))

    where `vote_fraction[c]` is the share of the real frames that voted for class `c`. Its argmax
    is the majority vote, and a tie between classes with the same number of votes goes to the
    class the mean model finds more probable: one vote more is worth `(1 - w) / n` (n real
    frames), more than the whole mean-probability term `w` can add while `w < 1 / (n + 1)`. Its
    softmax is that mixture itself, so cross-entropy stays finite (at most `-log(w * p)`) where a
    plain `log(fraction + eps)` would charge `-log(eps)` for every lost vote. A video with no real
    frame gets the mean model's log-probabilities.

    Args:
        tie_break_weight: `w` above, in (0, 1); keep it below `1 / (max_frames + 1)` so it only
            breaks ties.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        mean_logits: float tensor `(batch, num_classes)`, the mean model's logits.
        frame_logits: float tensor `(batch, frames, num_classes)`, each frame's logits.
        padding_mask: bool tensor `(batch, frames)`, True where a frame is real.
        training: True returns `mean_logits`; False or None votes.

    Returns:
        Float tensor `(batch, num_classes)` of logits.
    """

    def __init__(self, tie_break_weight: float, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < tie_break_weight < 1.0:
            raise ValueError(f"tie_break_weight must be in (0, 1), got {tie_break_weight!r}.")
        self.tie_break_weight = float(tie_break_weight)

    def call(self, mean_logits, frame_logits, padding_mask, training=None):
        if training:
            return mean_logits
        num_classes = frame_logits.shape[-1]
        real = ops.expand_dims(ops.cast(padding_mask, frame_logits.dtype), axis=-1)
        votes = ops.one_hot(ops.argmax(frame_logits, axis=-1), num_classes, dtype=real.dtype)
        counts = ops.sum(votes * real, axis=1)  # one-hot rows are finite: no NaN from padding
        frame_count = ops.sum(real, axis=1)
        fractions = counts / ops.maximum(frame_count, ops.ones_like(frame_count))
        weight = self.tie_break_weight
        # logaddexp keeps log(0) = -inf of a class with no vote out of the result.
        return ops.logaddexp(
            ops.log((1.0 - weight) * fractions),
            ops.log(weight) + ops.log_softmax(mean_logits, axis=-1),
        )

    def compute_output_shape(self, mean_logits_shape, frame_logits_shape, padding_mask_shape):
        return mean_logits_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"tie_break_weight": self.tie_break_weight})
        return config


def vote_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 512,
    dropout: float = 0.0,
    tie_break_weight: float | None = None,
) -> keras.Model:
    """The mean model in training; a majority vote of its per-frame predictions at inference.

    One `Dense` layer (named "logits") is applied twice: to the masked mean of the frames, which
    is the mean model (`mean_classifier`, same weights, same training), and to every frame on its
    own, giving one prediction per frame. `MajorityVote` returns the first in training and the
    vote of the second otherwise (see its docstring for the logits it returns and the tie-break).
    Because the `Dense` layer is affine, the mean model's logits are also the mean of the frame
    logits: the two answers differ only when a few frames with confident logits outweigh a
    majority of frames with weak ones.

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (the `frames` input's second axis).
        embed_dim: size of one frame embedding (512 for CLIP ViT-B/32).
        dropout: dropout rate on the pooled embedding in training; 0 adds no layer.
        tie_break_weight: weight of the mean model's probabilities in the output, which only
            breaks ties between classes with the same number of votes. None (the default) is
            `1 / (2 * (max_frames + 1))`; a given value must be below `1 / (max_frames + 1)`.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    check_rate("dropout", dropout)
    if tie_break_weight is None:
        tie_break_weight = 1.0 / (2 * (max_frames + 1))
    if not 0.0 < tie_break_weight < 1.0 / (max_frames + 1):
        raise ValueError(
            f"tie_break_weight must be in (0, 1 / (max_frames + 1)) = (0, "
            f"{1.0 / (max_frames + 1):.3g}) so that it only breaks ties, got "
            f"{tie_break_weight!r}: pass a smaller value, or None for the default."
        )
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    dense = keras.layers.Dense(num_classes, name="logits")
    x = MaskedMean(name="masked_mean")(frames, padding_mask)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    mean_logits = dense(x)
    frame_logits = dense(frames)
    logits = MajorityVote(tie_break_weight, name="majority_vote")(
        mean_logits, frame_logits, padding_mask
    )
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="vote_classifier"
    )
