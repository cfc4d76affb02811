"""A tiny hand-made "aligned" run for the retrieval tests: a head with a `video_embedding` layer.

Until (and besides) `models.aligned`, the tests need a head whose video embedding is known in
closed form: masked mean of the frames -> `Dense` projection -> `UnitNormalization` named
"video_embedding" -> `Dense` logits. `expected_video_embeddings` computes it in NumPy, padding or
trimming each video to `max_frames` as training does (`data.pad_or_trim`'s evenly spaced rows).
"""

import json
import pathlib

import keras
import numpy as np

from vidcls_keras.models.layers import MaskedMean


def tiny_aligned_head(max_frames, embed_dim, num_classes, joint_dim=None, seed=0):
    joint_dim = joint_dim or embed_dim
    rng = np.random.default_rng(seed)
    frames = keras.Input((max_frames, embed_dim), name="frames")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    pooled = MaskedMean(name="masked_mean")(frames, padding_mask)
    projection = keras.layers.Dense(joint_dim, name="projection")
    video = keras.layers.UnitNormalization(name="video_embedding")(projection(pooled))
    logits = keras.layers.Dense(num_classes, name="logits")(video)
    projection.set_weights(
        [rng.standard_normal((embed_dim, joint_dim)), 0.1 * rng.standard_normal(joint_dim)]
    )
    return keras.Model(
        {"frames": frames, "padding_mask": padding_mask}, logits, name="tiny_aligned"
    )


def write_run(path, head, label_names, max_frames, embedder_spec="tiny:0", num_frames=None):
    """A training output directory with the keys `RunConfig.read` needs."""
    path = pathlib.Path(path)
    path.mkdir(parents=True)
    head.save(path / "model.keras")
    config = {
        "model": "tiny_aligned",
        "embedder_spec": embedder_spec,
        "label_names": list(label_names),
        "num_classes": len(label_names),
        "max_frames": max_frames,
        "num_frames": num_frames or max_frames,
        "inputs": "frames",
    }
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def expected_video_embeddings(head, videos, max_frames):
    """NumPy reference of the head's video embedding for each `(k, D)` frame array."""
    kernel, bias = head.get_layer("projection").get_weights()
    rows = []
    for frames in videos:
        count = len(frames)
        if count > max_frames:  # data.pad_or_trim: evenly spaced rows
            frames = frames[(2 * np.arange(max_frames) + 1) * count // (2 * max_frames)]
        vector = frames.mean(axis=0) @ kernel + bias
        rows.append(vector / np.linalg.norm(vector))
    return np.stack(rows)
