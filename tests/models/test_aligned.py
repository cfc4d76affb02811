"""Tests for vidcls_keras.models.aligned: the text-aligned heads (CLIP joint space, class texts).

Tiny sizes (4 frames, width 16 = the tiny CLIP's, 3 classes, small trunks); the class texts are
embedded by the tiny random CLIP text tower (`tiny:0`).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vidcls_keras.clip.text import TextEmbedder  # noqa: E402
from vidcls_keras.inference.classifier import _load_keras  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.models.aligned import (  # noqa: E402
    LOGIT_SCALE_INIT,
    TEXT_LOGITS_LAYER,
    is_aligned,
    logit_scale,
    video_embedding_model,
)
from vidcls_keras.retrieval.index import mean_frame_embedding  # noqa: E402
from vidcls_keras.retrieval.zeroshot import class_text_embeddings  # noqa: E402

LABELS = ("street food", "museum tour", "mountain hike")
MAX_FRAMES = 4
WIDTH = 16
TRUNKS = {
    "aligned_lstm": dict(units=8),
    "aligned_transformer": dict(num_heads=2, intermediate_dim=16),
}
# Video 0 has 2 real frames, video 1 has 4.
PADDING_MASK = np.array([[True, True, False, False], [True, True, True, True]])


@pytest.fixture(scope="module")
def text():
    """The tiny CLIP text embeddings of the labels, (3, 16) unit rows."""
    return class_text_embeddings(TextEmbedder.tiny(0), LABELS)


def build(name, text, seed=0):
    keras.utils.set_random_seed(seed)
    return build_model(
        name,
        num_classes=len(LABELS),
        max_frames=MAX_FRAMES,
        embed_dim=WIDTH,
        class_text_embeddings=text,
        **TRUNKS[name],
    )


def frames(seed=0):
    return np.random.default_rng(seed).normal(size=(2, MAX_FRAMES, WIDTH)).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(TRUNKS))
def model(request, text):
    return build(request.param, text)


def test_shapes_unit_embedding_and_clip_temperature(model, text):
    inputs = {"frames": frames(), "padding_mask": PADDING_MASK}
    assert is_aligned(model)
    assert model.predict_on_batch(inputs).shape == (2, len(LABELS))
    video = video_embedding_model(model).predict_on_batch(inputs)
    assert video.shape == (2, WIDTH)
    np.testing.assert_allclose(np.linalg.norm(video, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(logit_scale(model), 1 / 0.07, rtol=1e-5)  # CLIP's initial value
    layer = model.get_layer(TEXT_LOGITS_LAYER)
    np.testing.assert_allclose(layer.class_text_embeddings.numpy(), text, atol=1e-6)
    assert [weight.name for weight in layer.trainable_weights] == ["logit_scale"]
    # logits = exp(t) * cos(video, text)
    np.testing.assert_allclose(
        model.predict_on_batch(inputs), logit_scale(model) * video @ text.T, atol=1e-4
    )


def test_untrained_head_is_clip_zero_shot_on_the_mean_frame_embedding(model):
    """Residual branch at zero, identity projection: the video embedding is the unit mean of the
    unit real frames (retrieval.index.mean_frame_embedding), whatever the trunk."""
    batch = 3.0 * frames(1)
    video = video_embedding_model(model).predict_on_batch(
        {"frames": batch, "padding_mask": PADDING_MASK}
    )
    for row, mask, embedding in zip(batch, PADDING_MASK, video, strict=True):
        np.testing.assert_allclose(embedding, mean_frame_embedding(row[mask]), atol=1e-5)


def test_a_video_made_of_a_labels_text_embedding_ranks_that_label_first(model, text):
    """The known answer: frames that *are* label c's text embedding (scaled, noise added, with
    padding) are closest to c in the joint space, so c ranks first, for each c."""
    rng = np.random.default_rng(2)
    for label in range(len(LABELS)):
        batch = np.zeros((2, MAX_FRAMES, WIDTH), np.float32)
        batch[:] = 5.0 * text[label] + 0.05 * rng.normal(size=(MAX_FRAMES, WIDTH))
        batch[0, 2:] = rng.normal(size=(2, WIDTH))  # padding: ignored
        logits = model.predict_on_batch({"frames": batch, "padding_mask": PADDING_MASK})
        assert list(logits.argmax(axis=1)) == [label, label]


def test_padded_frames_do_not_change_the_output(model):
    batch = frames(3)
    noisy = batch.copy()
    noisy[0, 2:] = 1e3 * np.random.default_rng(4).normal(size=(2, WIDTH))
    outputs = [
        model.predict_on_batch({"frames": b, "padding_mask": PADDING_MASK}) for b in (batch, noisy)
    ]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)


def test_save_reload_in_safe_mode_keeps_outputs_and_text_embeddings(model, tmp_path):
    path = tmp_path / "aligned.keras"
    model.save(path)
    loaded = _load_keras(path)  # predict's loader: safe mode, classes checked first
    inputs = {"frames": frames(5), "padding_mask": PADDING_MASK}
    np.testing.assert_allclose(
        loaded.predict_on_batch(inputs), model.predict_on_batch(inputs), atol=1e-6
    )
    np.testing.assert_array_equal(
        loaded.get_layer(TEXT_LOGITS_LAYER).class_text_embeddings.numpy(),
        model.get_layer(TEXT_LOGITS_LAYER).class_text_embeddings.numpy(),
    )
    # Retrieval's extraction, by the layer's name.
    video = keras.Model(loaded.inputs, loaded.get_layer("video_embedding").output)
    assert video.predict_on_batch(inputs).shape == (2, WIDTH)


@pytest.mark.parametrize("name", sorted(TRUNKS))
def test_one_fit_step_trains_the_temperature_but_not_the_texts(name, text):
    model = build(name, text, seed=1)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    labels = np.array([[0.3, 0.7, 0.0], [0.0, 0.0, 1.0]], np.float32)
    loss = model.train_on_batch({"frames": frames(), "padding_mask": PADDING_MASK}, labels)
    assert np.isfinite(loss)
    assert logit_scale(model) != pytest.approx(1 / 0.07)
    np.testing.assert_allclose(
        model.get_layer(TEXT_LOGITS_LAYER).class_text_embeddings.numpy(), text, atol=1e-6
    )


def test_the_temperature_is_clamped_at_100_as_clip(text):
    model = build("aligned_lstm", text)
    layer = model.get_layer(TEXT_LOGITS_LAYER)
    layer.logit_scale.assign(10.0)
    assert logit_scale(model) == pytest.approx(100.0)
    layer.logit_scale.assign(LOGIT_SCALE_INIT)


@pytest.mark.parametrize(
    "bad, match",
    [
        (None, "needs class_text_embeddings"),
        (np.ones((2, WIDTH)), r"expected \(3, joint width\)"),
        (np.zeros((3, WIDTH)), "zero or non-finite"),
    ],
)
def test_bad_class_text_embeddings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        build_model(
            "aligned_lstm",
            num_classes=3,
            max_frames=MAX_FRAMES,
            embed_dim=WIDTH,
            class_text_embeddings=bad,
        )
