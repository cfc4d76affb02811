"""The YouTube-8M starter's Deep Bag of Frames (DBoF) model."""

import math

import keras

from vidcls_keras.models.frame_sampler import FrameSampler
from vidcls_keras.models.layers import check_sizes
from vidcls_keras.models.mixture_of_experts import MixtureOfExperts

# slim.batch_norm's defaults, which the starter used: decay 0.999, epsilon 0.001.
_BATCH_NORM = dict(momentum=0.999, epsilon=1e-3)


def dbof_classifier(
    num_classes: int,
    max_frames: int,
    embed_dim: int = 1152,
    dbof_cluster_size: int = 8192,
    dbof_hidden_size: int = 1024,
    dbof_iterations: int = 30,
    moe_num_mixtures: int = 2,
    l2_penalty: float = 1e-8,
) -> keras.Model:
    """Sample frames, project each to a large cluster layer, max-pool, hidden layer, MoE.

    The starter's `DbofModel` (google/youtube-8m `frame_level_models.py`) with its defaults
    (`sample_random_frames`, `dbof_add_batch_norm`, `dbof_pooling_method=max`,
    `video_level_classifier_model=MoeModel`):

    1. `FrameSampler`: `dbof_iterations` of the video's real frames, drawn at random (seeded) in
       training as the starter's `SampleRandomFrames`, evenly spaced otherwise (repeatable
       predictions; the starter drew at random there too).
    2. Batch norm of every sampled frame (`input_bn`).
    3. `Dense(dbof_cluster_size)`, no bias, initialised `N(0, 1 / embed_dim)`, batch norm,
       ReLU6: each frame in a large "cluster" space.
    4. Max over the sampled frames (all real, so no mask is needed after step 1).
    5. `Dense(dbof_hidden_size)`, no bias, `N(0, 1 / dbof_cluster_size)`, batch norm, ReLU6.
    6. `MixtureOfExperts` (`moe_num_mixtures` + the dummy expert), to logits.

    Batch norms use slim's decay 0.999 and epsilon 1e-3 (as the starter): their moving averages
    need a few thousand steps to settle, so a run of a few steps evaluates poorly.

    Args:
        num_classes: number of classes (logits per video).
        max_frames: frames per padded video (300 for YouTube-8M frame level).
        embed_dim: width of one frame (1024 rgb + 128 audio for YouTube-8M).
        dbof_cluster_size: units of the cluster layer (`--dbof-cluster-size`, starter 8192).
        dbof_hidden_size: units of the hidden layer (`--dbof-hidden-size`, starter 1024).
        dbof_iterations: frames sampled per video (`--dbof-iterations`, the starter's
            `iterations`, 30).
        moe_num_mixtures: experts per class of the classifier (`--moe-num-mixtures`, 2).
        l2_penalty: the classifier's L2 penalty (the starter's 1e-8).

    Returns:
        A functional `keras.Model`: `{"frames": float (batch, max_frames, embed_dim),
        "padding_mask": bool (batch, max_frames)}` -> logits `(batch, num_classes)`.
    """
    check_sizes(
        num_classes=num_classes,
        max_frames=max_frames,
        embed_dim=embed_dim,
        dbof_cluster_size=dbof_cluster_size,
        dbof_hidden_size=dbof_hidden_size,
        dbof_iterations=dbof_iterations,
    )
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    x = FrameSampler(dbof_iterations, name="frame_sampler")(frames, padding_mask)
    x = keras.layers.BatchNormalization(name="input_bn", **_BATCH_NORM)(x)
    x = keras.layers.Dense(
        dbof_cluster_size,
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1 / math.sqrt(embed_dim)),
        name="cluster",
    )(x)
    x = keras.layers.BatchNormalization(name="cluster_bn", **_BATCH_NORM)(x)
    x = keras.layers.ReLU(max_value=6.0, name="cluster_relu6")(x)
    x = keras.layers.GlobalMaxPooling1D(name="max_pool")(x)
    x = keras.layers.Dense(
        dbof_hidden_size,
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1 / math.sqrt(dbof_cluster_size)),
        name="hidden",
    )(x)
    x = keras.layers.BatchNormalization(name="hidden_bn", **_BATCH_NORM)(x)
    x = keras.layers.ReLU(max_value=6.0, name="hidden_relu6")(x)
    logits = MixtureOfExperts(num_classes, moe_num_mixtures, l2_penalty, name="moe")(x)
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="dbof_classifier"
    )
