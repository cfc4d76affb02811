"""Tests for the lstm, max and vote models: shapes, .keras round trips, fit(), masking, voting."""

import functools
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vidcls_keras import models  # noqa: E402
from vidcls_keras.models.layers import MaskedMax  # noqa: E402
from vidcls_keras.models.vote import MajorityVote  # noqa: E402

NUM_CLASSES = 3
MAX_FRAMES = 4
WIDTH = 8
HEADS = {
    "lstm": dict(units=4),
    "max": dict(hidden_dim=6),
    "vote": dict(),
}
# Video 0 has 2 real frames, video 1 has 4.
PADDING_MASK = np.array([[True, True, False, False], [True, True, True, True]])
SOFT_LABELS = np.array([[0.3, 0.7, 0.0], [0.0, 0.0, 1.0]], np.float32)


def sequence_inputs(seed: int = 0) -> dict:
    frames = np.random.default_rng(seed).normal(size=(2, MAX_FRAMES, WIDTH)).astype(np.float32)
    return {"frames": frames, "padding_mask": PADDING_MASK}


def build(name: str, **kwargs) -> keras.Model:
    keras.utils.set_random_seed(0)
    arguments = dict(num_classes=NUM_CLASSES, max_frames=MAX_FRAMES, embed_dim=WIDTH)
    return models.build_model(name, **arguments, **HEADS[name], **kwargs)


@functools.cache
def shared(name: str) -> keras.Model:
    """One tiny model per name, shared by the tests (the LSTM's compiles are the slow part)."""
    return build(name)


@pytest.fixture(params=sorted(HEADS))
def head(request) -> keras.Model:
    return shared(request.param)


def test_shapes_round_trip_and_fit(head, tmp_path):
    inputs = sequence_inputs()
    logits = head.predict(inputs, verbose=0)
    assert logits.shape == (2, NUM_CLASSES)
    assert np.isfinite(logits).all()

    head.save(tmp_path / f"{head.name}.keras")
    reloaded = keras.saving.load_model(tmp_path / f"{head.name}.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(inputs, verbose=0), logits, rtol=1e-6, atol=1e-6)

    head.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    before = [weight.numpy().copy() for weight in head.trainable_weights]
    history = head.fit(inputs, SOFT_LABELS, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(
        not np.array_equal(old, weight.numpy())
        for old, weight in zip(before, head.trainable_weights, strict=True)
    ), "fit() left a trainable weight unchanged"


def test_padded_frames_do_not_change_the_logits(head):
    inputs = sequence_inputs()
    # The vote model answers differently in training (the others only add dropout there).
    for training in (False, True) if head.name == "vote_classifier" else (False,):
        logits = keras.ops.convert_to_numpy(head(inputs, training=training))
        changed = dict(inputs, frames=inputs["frames"].copy())
        changed["frames"][~PADDING_MASK] = 1e4
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(head(changed, training=training)),
            logits,
            rtol=1e-5,
            atol=1e-5,
        )
        if training:
            continue
        # Marking the same frames as real changes the first video's logits, not the second's.
        all_real = keras.ops.convert_to_numpy(
            head(dict(changed, padding_mask=np.ones_like(PADDING_MASK)), training=False)
        )
        assert not np.allclose(all_real[0], logits[0], atol=1e-4)
        np.testing.assert_allclose(all_real[1], logits[1], rtol=1e-5, atol=1e-5)


def test_lstm_with_mask_equals_lstm_on_the_real_frames_only():
    model = shared("lstm")
    lstm = model.get_layer("bidirectional_lstm")
    frames = sequence_inputs()["frames"]
    masked = keras.ops.convert_to_numpy(lstm(frames, mask=PADDING_MASK))
    assert masked.shape == (2, 2 * HEADS["lstm"]["units"])
    # Video 0 has 2 real frames: the same LSTM reading only those 2 gives the same final states,
    # the backward direction included (it starts on the last real frame, not on padding).
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(lstm(frames[:1, :2]))[0], masked[0], rtol=1e-5, atol=1e-6
    )
    # A video with no real frame keeps the zero initial state: its logits are the Dense bias.
    empty = {"frames": frames[:1], "padding_mask": np.zeros((1, MAX_FRAMES), bool)}
    np.testing.assert_allclose(
        model.predict(empty, verbose=0)[0], model.get_layer("logits").bias.numpy(), atol=1e-6
    )


def test_masked_max_ignores_nan_and_inf_padding_and_all_padding_rows():
    frames = np.array(
        [[[-5.0, 1.0], [-7.0, 3.0], [np.nan, np.inf]], [[5.0, 1.0], [7.0, 2.0], [np.inf, 0.0]]],
        np.float32,
    )
    mask = np.array([[True, True, False], [False, False, False]])
    pooled = keras.ops.convert_to_numpy(MaskedMax()(frames, mask))
    np.testing.assert_array_equal(pooled, [[-5.0, 3.0], [0.0, 0.0]])
    # The gradient goes to the winning real frame only, and is finite for the all-padding row.
    gradient = jax.grad(lambda x: MaskedMax()(x, mask).sum())(np.nan_to_num(frames))
    np.testing.assert_array_equal(gradient[0], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(gradient[1], np.zeros((3, 2)))


def _vote_model_with_identity_dense() -> keras.Model:
    """A vote model whose frame logits are the first NUM_CLASSES features of each frame."""
    model = build("vote")
    kernel = np.zeros((WIDTH, NUM_CLASSES), np.float32)
    kernel[:NUM_CLASSES, :NUM_CLASSES] = np.eye(NUM_CLASSES)
    model.get_layer("logits").set_weights([kernel, np.zeros(NUM_CLASSES, np.float32)])
    return model


def _frames(*rows: list[float]) -> np.ndarray:
    frames = np.zeros((MAX_FRAMES, WIDTH), np.float32)
    frames[: len(rows), :NUM_CLASSES] = rows
    return frames


def test_vote_beats_the_mean_when_one_confident_frame_outvotes_a_weak_majority():
    model = _vote_model_with_identity_dense()
    frames = np.stack(
        [
            # 3 frames lean weakly to class 0, 1 frame strongly to class 1: the mean says 1.
            _frames([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 10.0, 0.0]),
            # 2 real frames: one vote for class 0, one for class 2 (a tie); the padding (a
            # strong class 1 frame) does not vote. The mean model prefers class 2: it wins.
            _frames([1.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 9.0, 0.0]),
        ]
    )
    inputs = {"frames": frames, "padding_mask": PADDING_MASK[::-1]}
    mean_logits = keras.ops.convert_to_numpy(model(inputs, training=True))
    np.testing.assert_allclose(mean_logits, [[0.75, 2.5, 0.0], [0.5, 0.0, 1.5]], atol=1e-6)
    vote_logits = model.predict(inputs, verbose=0)
    assert np.argmax(mean_logits, axis=-1).tolist() == [1, 2]
    assert np.argmax(vote_logits, axis=-1).tolist() == [0, 2]
    # The output is log((1 - w) * vote fractions + w * mean probabilities), a distribution.
    weight = model.get_layer("majority_vote").tie_break_weight
    assert weight == pytest.approx(1 / (2 * (MAX_FRAMES + 1)))
    fractions = np.array([[0.75, 0.25, 0.0], [0.5, 0.0, 0.5]])
    expected = (1 - weight) * fractions + weight * keras.ops.convert_to_numpy(
        keras.ops.softmax(mean_logits)
    )
    np.testing.assert_allclose(np.exp(vote_logits), expected, rtol=1e-5)
    # With label 0, the vote's cross-entropy is lower than the mean model's.
    labels = np.array([[1.0, 0.0, 0.0]], np.float32)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    assert float(loss(labels, vote_logits[:1])) < float(loss(labels, mean_logits[:1]))


def test_vote_model_trains_as_the_mean_model():
    vote = build("vote")
    mean = models.mean_classifier(NUM_CLASSES, MAX_FRAMES, embed_dim=WIDTH)
    mean.get_layer("logits").set_weights(vote.get_layer("logits").get_weights())
    inputs = sequence_inputs()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(vote(inputs, training=True)),
        keras.ops.convert_to_numpy(mean(inputs, training=True)),
        rtol=1e-6,
        atol=1e-6,
    )
    # All-padding videos: the mean model's answer, as log-probabilities.
    empty = dict(inputs, padding_mask=np.zeros_like(PADDING_MASK))
    np.testing.assert_allclose(
        vote.predict(empty, verbose=0),
        keras.ops.convert_to_numpy(keras.ops.log_softmax(mean(empty)))
        + np.log(vote.get_layer("majority_vote").tie_break_weight),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("lstm", dict(units=0), "units must be a positive int"),
        ("lstm", dict(dropout=1.0), "dropout must be in"),
        ("max", dict(hidden_dim=0), "hidden_dim must be a positive int"),
        ("vote", dict(tie_break_weight=0.5), "tie_break_weight must be in"),
    ],
)
def test_bad_arguments_raise_value_error(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.build_model(
            name, num_classes=NUM_CLASSES, max_frames=MAX_FRAMES, embed_dim=WIDTH, **kwargs
        )


def test_majority_vote_rejects_a_weight_outside_zero_one():
    with pytest.raises(ValueError, match="tie_break_weight must be in"):
        MajorityVote(tie_break_weight=0.0)
