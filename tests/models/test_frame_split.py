"""Tests for vidcls_keras.models.frame.split_frozen_encoder: a frozen encoder and its head."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.models.frame import split_frozen_encoder  # noqa: E402

IMAGE_SIZE = 32
FEATURES = 8


def tiny_encoder() -> keras.Model:
    """A small frozen-able image encoder: pixels (B, 32, 32, 3) -> (B, 8)."""
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    x = keras.layers.Conv2D(4, 8, strides=8)(pixels)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(pixels, keras.layers.Dense(FEATURES)(x), name="tiny_encoder")


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_split_shares_the_models_layers_and_gives_its_outputs(dropout, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(
        "frame", num_classes=3, image_encoder=tiny_encoder(), image_size=IMAGE_SIZE, dropout=dropout
    )
    encoder, head = split_frozen_encoder(model)
    pixels = {"pixels": np.random.default_rng(0).normal(size=(5, IMAGE_SIZE, IMAGE_SIZE, 3))}
    features = encoder.predict(pixels, verbose=0)
    assert features.shape == (5, FEATURES)
    np.testing.assert_allclose(
        head.predict({"features": features}, verbose=0), model.predict(pixels, verbose=0), atol=1e-6
    )
    # The head's weights are the model's: training the head trains the model.
    assert [v.path for v in head.trainable_variables] == [v.path for v in model.trainable_variables]
    head.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    head.fit({"features": features}, np.eye(3)[[0, 1, 2, 0, 1]], epochs=1, verbose=0)
    np.testing.assert_allclose(
        head.predict({"features": features}, verbose=0), model.predict(pixels, verbose=0), atol=1e-6
    )
    model.save(tmp_path / "model.keras")  # still the pixel model, with the trained head
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        reloaded.predict(pixels, verbose=0), model.predict(pixels, verbose=0), atol=1e-6
    )


def test_models_without_a_frozen_encoder_do_not_split():
    assert (
        split_frozen_encoder(build_model("mean", num_classes=3, max_frames=4, embed_dim=8)) is None
    )
    trainable = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    assert split_frozen_encoder(trainable) is None
    # A branch after the encoder: not a chain.
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    encoder = tiny_encoder()
    encoder.trainable = False
    features = encoder(inputs)
    branched = keras.layers.Add()([keras.layers.Dense(FEATURES)(features), features])
    assert split_frozen_encoder(keras.Model(inputs, keras.layers.Dense(2)(branched))) is None
