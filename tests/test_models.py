"""Tests for vidcls_keras.models: shapes, .keras round trips, one fit() step, padding invariance."""

import inspect
import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras_cv.models.feature_extractor import CLIPImageEncoder  # noqa: E402

from vidcls_keras import data, models  # noqa: E402
from vidcls_keras.models import layers  # noqa: E402
from vidcls_keras.models.frame import SavableCLIPImageEncoder  # noqa: E402
from vidcls_keras.models.layers import MaskedMean  # noqa: E402

NUM_CLASSES = 3
MAX_FRAMES = 4
WIDTH = 8
IMAGE_SIZE = 64  # the frame model's input; 224 for CLIP ViT-B/32, smaller here for speed
SEQUENCE_MODELS = {
    "mean": dict(num_classes=NUM_CLASSES, max_frames=MAX_FRAMES, embed_dim=WIDTH),
    "transformer": dict(
        num_classes=NUM_CLASSES,
        max_frames=MAX_FRAMES,
        embed_dim=WIDTH,
        num_heads=2,
        intermediate_dim=16,
    ),
}
# Video 0 has 2 real frames, video 1 has 4.
PADDING_MASK = np.array([[True, True, False, False], [True, True, True, True]])
SOFT_LABELS = np.array([[0.3, 0.7, 0.0], [0.0, 0.0, 1.0]], np.float32)


def sequence_inputs(seed: int = 0) -> dict:
    frames = np.random.default_rng(seed).normal(size=(2, MAX_FRAMES, WIDTH)).astype(np.float32)
    return {"frames": frames, "padding_mask": PADDING_MASK}


def tiny_clip_image_encoder() -> keras.Model:
    """KerasCV's CLIP image encoder (the class `keras_cv.models.CLIP` holds) at a tiny size."""
    keras.utils.set_random_seed(0)
    encoder = CLIPImageEncoder(
        input_resolution=IMAGE_SIZE,
        patch_size=32,
        width=64,
        num_layers=1,
        heads=1,
        output_dim=WIDTH,
    )
    encoder.build((None, IMAGE_SIZE, IMAGE_SIZE, 3))
    return encoder


@pytest.fixture(scope="module")
def image_encoder() -> keras.Model:
    return tiny_clip_image_encoder()


@pytest.fixture(scope="module", params=sorted(SEQUENCE_MODELS))
def sequence_model(request) -> keras.Model:
    """One tiny model per name, shared by the tests below (each compiles once: keeps them fast)."""
    keras.utils.set_random_seed(0)
    return models.build_model(request.param, **SEQUENCE_MODELS[request.param])


def assert_round_trip(model: keras.Model, inputs: dict, path) -> keras.Model:
    expected = model.predict(inputs, verbose=0)
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(inputs, verbose=0), expected, rtol=1e-6, atol=1e-6)
    return reloaded


def fit_one_step(model: keras.Model, inputs: dict) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    trainable_before = [weight.numpy().copy() for weight in model.trainable_weights]
    frozen_before = [weight.numpy().copy() for weight in model.non_trainable_weights]
    history = model.fit(inputs, SOFT_LABELS, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.array_equal(before, weight.numpy())
        for before, weight in zip(trainable_before, model.trainable_weights, strict=True)
    ), "fit() changed no trainable weight"
    for before, weight in zip(frozen_before, model.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(weight.numpy(), before)


def test_sequence_model_shapes_round_trip_and_fit(sequence_model, tmp_path):
    model = sequence_model
    inputs = sequence_inputs()
    logits = model.predict(inputs, verbose=0)
    assert logits.shape == (2, NUM_CLASSES)
    assert np.isfinite(logits).all()
    assert_round_trip(model, inputs, tmp_path / f"{model.name}.keras")
    fit_one_step(model, inputs)


def test_padded_frames_do_not_change_the_logits(sequence_model):
    model = sequence_model
    inputs = sequence_inputs()
    logits = model.predict(inputs, verbose=0)
    changed = dict(inputs, frames=inputs["frames"].copy())
    changed["frames"][~PADDING_MASK] = 1e4 * np.random.default_rng(1).normal(
        size=changed["frames"][~PADDING_MASK].shape
    )
    np.testing.assert_allclose(model.predict(changed, verbose=0), logits, rtol=1e-5, atol=1e-5)
    # Marking the same frames as real changes the first video's logits, not the second's.
    all_real = dict(inputs, padding_mask=np.ones_like(PADDING_MASK))
    all_real_logits = model.predict(all_real, verbose=0)
    assert not np.allclose(all_real_logits[0], logits[0], atol=1e-4)
    np.testing.assert_allclose(all_real_logits[1], logits[1], rtol=1e-5, atol=1e-5)


def test_mean_model_fits_the_batches_of_make_batches():
    # The interface between vidcls_keras.data and the models: names, dtypes and shapes agree.
    examples = tf.data.Dataset.from_tensor_slices(
        {
            "embeddings": np.random.default_rng(0).normal(size=(10, 6, WIDTH)).astype("float32"),
            "num_frames": np.full(10, 6, np.int32),
            "label": np.arange(10, dtype=np.int64) % NUM_CLASSES,
        }
    )
    model = models.mean_classifier(NUM_CLASSES, MAX_FRAMES, embed_dim=WIDTH)
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    kwargs = dict(num_classes=NUM_CLASSES, max_frames=MAX_FRAMES, batch_size=4)
    train = data.make_batches(examples, training=True, mixup_alpha=0.4, **kwargs)
    history = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    logits = model.predict(data.make_batches(examples, training=False, **kwargs), verbose=0)
    assert logits.shape == (10, NUM_CLASSES)


def test_mean_model_is_masked_mean_then_dense():
    model = models.mean_classifier(NUM_CLASSES, MAX_FRAMES, embed_dim=WIDTH)
    inputs = sequence_inputs()
    dense = model.get_layer("logits")
    means = np.stack(
        [
            inputs["frames"][0, :2].mean(axis=0),
            inputs["frames"][1].mean(axis=0),
        ]
    )
    expected = means @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_masked_mean_ignores_nan_padding_and_all_padding_rows():
    frames = np.array([[[1.0], [3.0], [np.nan]], [[5.0], [7.0], [np.inf]]], np.float32)
    mask = np.array([[True, True, False], [False, False, False]])
    pooled = keras.ops.convert_to_numpy(MaskedMean()(frames, mask))
    np.testing.assert_array_equal(pooled, [[2.0], [0.0]])


def test_transformer_hidden_dim_adds_a_projection():
    # Embeddings of width 16 projected to the fixture's width 8: the other weights keep the
    # fixture's shapes, so JAX compiles no new initializers for them (the slow part here).
    model = models.transformer_classifier(
        NUM_CLASSES,
        MAX_FRAMES,
        embed_dim=2 * WIDTH,
        hidden_dim=WIDTH,
        num_heads=2,
        intermediate_dim=16,
    )
    assert model.get_layer("projection").kernel.shape == (2 * WIDTH, WIDTH)
    assert model.input["frames"].shape == (None, MAX_FRAMES, 2 * WIDTH)
    assert model.get_layer("transformer_layer_0").output.shape == (None, MAX_FRAMES, WIDTH)
    assert model.output.shape == (None, NUM_CLASSES)


def test_transformer_defaults_follow_the_original():
    # The original: one nn.TransformerEncoderLayer, d_model 512 (= CLIP's width), 8 heads,
    # feed-forward 2048, dropout 0.1 (ReLU and post-norm, keras-hub's defaults too).
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(models.transformer_classifier).parameters.items()
    }
    assert defaults["embed_dim"] == 512 and defaults["hidden_dim"] is None
    assert (defaults["num_layers"], defaults["num_heads"]) == (1, 8)
    assert (defaults["intermediate_dim"], defaults["dropout"]) == (2048, 0.1)


def _with_keras_hub_layers(model: keras.Model) -> keras.Model:
    """`model` rebuilt with keras_hub's own encoder and position layers, and the same weights."""

    def clone(layer):
        for ours in (layers.TransformerEncoder, layers.PositionEmbedding):
            if isinstance(layer, ours):
                return ours.__bases__[0].from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def test_transformer_layers_are_keras_hubs_with_faster_gradients(tmp_path):
    # Our subclasses only change how two gradients are computed on XLA's CPU
    # (_compat/xla_cpu.py): the weights, outputs and gradients are keras_hub's.
    import jax

    keras.utils.set_random_seed(0)
    model = models.transformer_classifier(**SEQUENCE_MODELS["transformer"], dropout=0.0)
    twin = _with_keras_hub_layers(model)
    encoder = model.get_layer("transformer_layer_0")
    assert type(encoder) is layers.TransformerEncoder
    assert type(twin.get_layer("transformer_layer_0")) is keras_hub.layers.TransformerEncoder
    assert type(encoder._feedforward_output_dense).__name__ == "_FastGradientDense"
    assert [w.path for w in model.weights] == [w.path for w in twin.weights]
    inputs, labels = sequence_inputs(), SOFT_LABELS
    np.testing.assert_allclose(model(inputs), twin(inputs), rtol=1e-6, atol=1e-6)

    def gradients(of: keras.Model) -> list:
        def loss(trainable):
            logits, _ = of.stateless_call(trainable, of.non_trainable_variables, inputs)
            return keras.losses.categorical_crossentropy(labels, logits, from_logits=True).sum()

        return jax.grad(loss)([v.value for v in of.trainable_variables])

    for ours, theirs in zip(gradients(model), gradients(twin), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)

    # Files saved with keras_hub's layers (before these subclasses) still load, as keras_hub's.
    twin.save(tmp_path / "keras_hub.keras")
    loaded = keras.saving.load_model(tmp_path / "keras_hub.keras", safe_mode=True)
    assert type(loaded.get_layer("transformer_layer_0")) is keras_hub.layers.TransformerEncoder
    np.testing.assert_allclose(loaded(inputs), model(inputs), rtol=1e-6, atol=1e-6)


def test_frame_model_shapes_round_trip_fit_and_frozen_encoder(image_encoder, tmp_path):
    model = models.build_model(
        "frame", num_classes=NUM_CLASSES, image_encoder=image_encoder, image_size=IMAGE_SIZE
    )
    pixels = np.random.default_rng(0).normal(size=(2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    inputs = {"pixels": pixels}
    logits = model.predict(inputs, verbose=0)
    assert logits.shape == (2, NUM_CLASSES)
    # The model's encoder is a savable copy of the caller's (same weights); the caller's is
    # left as it was.
    copied = model.get_layer(image_encoder.name)
    assert isinstance(copied, SavableCLIPImageEncoder) and not copied.trainable
    assert image_encoder.trainable
    assert len(copied.weights) == len(image_encoder.weights) > 0
    for copy, original in zip(copied.weights, image_encoder.weights, strict=True):
        # Same layer paths up to Keras' unique-name suffixes ("residual_attention_1").
        assert re.sub(r"_\d+/", "/", copy.path) == re.sub(r"_\d+/", "/", original.path)
        np.testing.assert_array_equal(copy.numpy(), original.numpy())
    # logits = Dense(encoder(pixels)), the encoder's output untouched.
    dense = model.get_layer("logits")
    embeddings = keras.ops.convert_to_numpy(image_encoder(pixels))
    expected = embeddings @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert [weight.name for weight in model.trainable_weights] == ["kernel", "bias"]
    # The frozen encoder is inside the .keras file: reloading needs nothing but the file.
    reloaded = assert_round_trip(model, inputs, tmp_path / "frame.keras")
    assert not reloaded.get_layer(image_encoder.name).trainable
    assert len(reloaded.trainable_weights) == 2
    fit_one_step(model, inputs)


def test_plain_keras_cv_encoder_does_not_reload_which_is_why_the_copy_exists(
    image_encoder, tmp_path
):
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    model = keras.Model(pixels, image_encoder(pixels))
    model.save(tmp_path / "plain.keras")
    with pytest.raises(TypeError, match="CLIPImageEncoder"):
        keras.saving.load_model(tmp_path / "plain.keras", safe_mode=True)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("nope", {}, "unknown model"),
        ("mean", dict(num_classes=0, max_frames=4), "num_classes must be a positive int"),
        ("mean", dict(num_classes=3, max_frames=4, dropout=1.0), "dropout must be in"),
        (
            "transformer",
            dict(num_classes=3, max_frames=4, embed_dim=8, num_heads=3),
            "num_heads=3 must divide",
        ),
        ("frame", dict(num_classes=3, image_encoder="clip"), "image_encoder must be a keras.Model"),
    ],
)
def test_bad_arguments_raise_value_error(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.build_model(name, **kwargs)
