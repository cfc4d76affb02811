"""Tests for the multi-label heads (`logistic`, `moe`, `dbof`) and the YouTube-8M starter's maths.

Tiny sizes: 6 frames of width 8, 5 classes. Each new head is checked on multi-hot labels with
binary cross-entropy: shapes, `.keras` round trip, one fit step, and that padded frames (their
values and their number) do not change the logits. (`mean`, `lstm` and `transformer` have the same
checks in tests/test_models.py, and train on multi-label data in
tests/training/test_trainer_multilabel.py.)
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vidcls_keras import models  # noqa: E402
from vidcls_keras.models import FrameSampler, MixtureOfExperts  # noqa: E402

NUM_CLASSES = 5
MAX_FRAMES = 6
WIDTH = 8
TINY_DBOF = dict(dbof_cluster_size=16, dbof_hidden_size=8, dbof_iterations=4)
HEADS = {
    "logistic": {},
    "moe": {},
    "dbof": TINY_DBOF,
}
# Video 0 has 3 real frames, video 1 all 6, video 2 one.
PADDING_MASK = np.array([[1, 1, 1, 0, 0, 0], [1] * 6, [1, 0, 0, 0, 0, 0]], bool)
MULTI_HOT = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 0, 1]], np.float32)


def head(name: str, max_frames: int = MAX_FRAMES) -> keras.Model:
    keras.utils.set_random_seed(0)
    return models.build_model(
        name, num_classes=NUM_CLASSES, max_frames=max_frames, embed_dim=WIDTH, **HEADS[name]
    )


def inputs(seed: int = 0) -> dict:
    frames = np.random.default_rng(seed).normal(size=(3, MAX_FRAMES, WIDTH)).astype(np.float32)
    frames[~PADDING_MASK] = 0.0
    return {"frames": frames, "padding_mask": PADDING_MASK}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_head_on_multi_hot_labels_round_trips_fits_and_ignores_padding(name, tmp_path):
    model = head(name)
    batch = inputs()
    logits = model.predict(batch, verbose=0)
    assert logits.shape == (3, NUM_CLASSES) and np.isfinite(logits).all()

    # Whatever the padded slots hold, the logits stay.
    noisy = dict(batch, frames=batch["frames"].copy())
    noisy["frames"][~PADDING_MASK] = 1e3
    np.testing.assert_allclose(model.predict(noisy, verbose=0), logits, rtol=1e-5, atol=1e-5)

    # Saved and reloaded (safe mode), the same logits.
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(batch, verbose=0), logits, rtol=1e-6, atol=1e-6)

    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    before = [weight.numpy().copy() for weight in model.trainable_weights]
    history = model.fit(batch, MULTI_HOT, batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.array_equal(old, weight.numpy())
        for old, weight in zip(before, model.trainable_weights, strict=True)
    )


@pytest.mark.parametrize("name", sorted(HEADS))
def test_a_padded_video_gives_the_logits_of_the_unpadded_one(name):
    # The same weights at 3 slots (video 0 unpadded) and at 6 slots (3 of them padded).
    padded, unpadded = head(name), head(name, max_frames=3)
    unpadded.set_weights(padded.get_weights())
    batch = inputs()
    short = {"frames": batch["frames"][:1, :3], "padding_mask": np.ones((1, 3), bool)}
    np.testing.assert_allclose(
        unpadded.predict(short, verbose=0),
        padded.predict(batch, verbose=0)[:1],
        rtol=1e-5,
        atol=1e-5,
    )


def test_mixture_of_experts_sigmoid_is_the_starters_probability():
    layer = MixtureOfExperts(NUM_CLASSES, num_mixtures=2)
    features = 4.0 * np.random.default_rng(2).normal(size=(7, WIDTH)).astype(np.float32)
    logits = keras.ops.convert_to_numpy(layer(features))
    gates = keras.ops.convert_to_numpy(layer.gates(features)).reshape(7, NUM_CLASSES, 3)
    experts = keras.ops.convert_to_numpy(layer.experts(features)).reshape(7, NUM_CLASSES, 2)
    # The starter's MoeModel: softmax gates (last one the dummy expert's), sigmoid experts.
    gates = np.exp(gates - gates.max(-1, keepdims=True))
    gates /= gates.sum(-1, keepdims=True)
    probabilities = (gates[..., :2] / (1.0 + np.exp(-experts))).sum(-1)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), probabilities, atol=1e-6)
    assert layer.gates.bias is None and layer.experts.bias is not None
    assert len(layer.losses) == 2  # the L2 penalties on both kernels


def test_mixture_of_experts_logits_stay_finite_where_the_probability_saturates():
    layer = MixtureOfExperts(NUM_CLASSES, num_mixtures=2)
    logits = keras.ops.convert_to_numpy(layer(np.full((2, WIDTH), 1e4, np.float32)))
    assert np.isfinite(logits).all()


def test_moe_defaults_are_the_starters():
    model = models.moe_classifier(NUM_CLASSES, 1, embed_dim=WIDTH)
    moe = model.get_layer("moe")
    assert (moe.num_mixtures, moe.l2_penalty) == (2, 1e-8)
    assert moe.gates.kernel.shape == (WIDTH, NUM_CLASSES * 3)


def test_dbof_layers_follow_the_starter():
    model = models.dbof_classifier(NUM_CLASSES, MAX_FRAMES, embed_dim=WIDTH, **TINY_DBOF)
    assert model.get_layer("cluster").kernel.shape == (WIDTH, 16)
    assert model.get_layer("hidden").kernel.shape == (16, 8)
    assert model.get_layer("frame_sampler").num_samples == 4
    for name in ("input_bn", "cluster_bn", "hidden_bn"):
        assert model.get_layer(name).momentum == 0.999
    defaults = models.dbof_classifier.__defaults__
    assert defaults[1:4] == (8192, 1024, 30)


def test_frame_sampler_picks_real_frames_only_and_repeats_under_the_seed():
    frames = np.arange(3 * MAX_FRAMES, dtype=np.float32).reshape(3, MAX_FRAMES, 1)
    # Real frames need not come first: video 0's are slots 1, 3 and 4.
    mask = np.array([[0, 1, 0, 1, 1, 0], [1] * 6, [1, 0, 0, 0, 0, 0]], bool)
    real = [set(frames[row, mask[row], 0]) for row in range(3)]

    def draw(seed):
        keras.utils.set_random_seed(seed)
        sampler = FrameSampler(50)
        return keras.ops.convert_to_numpy(sampler(frames, mask, training=True))[..., 0]

    first = draw(1)
    for row in range(3):
        assert set(first[row]) <= real[row]
    assert set(first[1]) == real[1]  # 50 draws among 6 frames: every one comes up
    np.testing.assert_array_equal(draw(1), first)
    assert not np.array_equal(draw(2), first)

    # Not training: evenly spaced among the real frames, the same at every call.
    evenly = keras.ops.convert_to_numpy(FrameSampler(3)(frames, mask))[..., 0]
    np.testing.assert_array_equal(evenly[0], [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(evenly[1], [7.0, 9.0, 11.0])  # floor((2i + 1) * 6 / 6) = 1, 3, 5
    np.testing.assert_array_equal(evenly[2], [12.0, 12.0, 12.0])


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (models.moe_classifier, dict(moe_num_mixtures=0), "num_mixtures"),
        (models.dbof_classifier, dict(dbof_cluster_size=0), "dbof_cluster_size"),
        (models.dbof_classifier, dict(dbof_iterations=-1), "dbof_iterations"),
        (models.logistic_classifier, dict(l2_penalty=-1.0), "l2_penalty"),
    ],
)
def test_bad_arguments_raise_value_error(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(NUM_CLASSES, MAX_FRAMES, embed_dim=WIDTH, **kwargs)
