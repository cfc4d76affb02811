"""The YouTube-8M starter's mixture-of-experts model over the (mean) features."""

import keras

from vidcls_keras.models.layers import MaskedMean, check_sizes
from vidcls_keras.models.mixture_of_experts import MixtureOfExperts


def moe_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 1152,
    moe_num_mixtures: int = 2,
    l2_penalty: float = 1e-8,
) -> keras.Model:
    """Masked mean of the frames, then a `MixtureOfExperts` layer, to logits.

    The starter's `MoeModel` (`video_level_models.py`, 2 mixtures + the dummy expert, L2 1e-8)
    over video-level features, where the input holds one frame and the mean is that frame; over
    frame-level features the real frames are averaged first. Returns logits whose sigmoid is the
    starter's prediction (see `MixtureOfExperts`).

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (1 at video level).
        embed_dim: width of one frame (1024 rgb + 128 audio for YouTube-8M).
        moe_num_mixtures: experts per class, the dummy one not counted (`--moe-num-mixtures`).
        l2_penalty: the starter's L2 penalty on the gate and expert kernels.

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(num_classes=num_classes, max_frames=max_frames, embed_dim=embed_dim)
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = MaskedMean(name="masked_mean")(frames, padding_mask)
    logits = MixtureOfExperts(num_classes, moe_num_mixtures, l2_penalty, name="moe")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="moe_classifier"
    )
