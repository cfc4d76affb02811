"""models.finetune: which weights each mode trains, LoRA save/reload and merge, the optimizer."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from vidcls_keras.clip.image import FrameEmbedder  # noqa: E402
from vidcls_keras.models import build_model, finetune  # noqa: E402

NUM_CLASSES, FRAMES, CLIPS = 3, 2, 4


@pytest.fixture(scope="module")
def tiny_tower() -> keras.Model:
    return FrameEmbedder.tiny(0).image_encoder


def clip_arrays(num_clips: int = CLIPS) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Clips of the contract's shapes: {"pixels" (N, T, 224, 224, 3), "padding_mask" (N, T)},
    one-hot (N, C); the last clip has one real frame."""
    rng = np.random.default_rng(0)
    pixels = rng.normal(size=(num_clips, FRAMES, 224, 224, 3)).astype("float32")
    padding_mask = np.ones((num_clips, FRAMES), bool)
    padding_mask[-1, 1:] = False
    pixels[~padding_mask] = 0.0
    labels = keras.utils.to_categorical(np.arange(num_clips) % NUM_CLASSES, NUM_CLASSES)
    return {"pixels": pixels, "padding_mask": padding_mask}, labels


def clip_batches(batch_size: int = 2) -> tf.data.Dataset:
    """In-memory batches of the clip contract (what `data.make_batches(inputs="clips")` gives)."""
    return tf.data.Dataset.from_tensor_slices(clip_arrays()).batch(batch_size)


def tiny_model(tower: keras.Model, **mode) -> keras.Model:
    model = build_model(
        "finetune",
        num_classes=NUM_CLASSES,
        max_frames=FRAMES,
        encoder=tower,
        intermediate_dim=32,
        **{"encoder_learning_rate": 1e-3, **mode},  # 1e-3: the tower moves visibly in 4 steps
    )
    model.compile(
        optimizer=model.optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    return model


def snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    return {variable.path: np.array(variable.numpy()) for variable in model.weights}


def changed(before: dict[str, np.ndarray], model: keras.Model) -> set[str]:
    after = snapshot(model)
    return {path for path in before if not np.array_equal(before[path], after[path])}


def is_tower(path: str) -> bool:
    return path.startswith(f"{finetune.TOWER_NAME}/")


@pytest.mark.parametrize(
    "mode",
    [{}, {"unfreeze_blocks": 1}, {"full": True}, {"lora_rank": 0}],
    ids=["lora", "last_block", "full", "frozen"],
)
def test_each_mode_trains_its_weights_only(tiny_tower, mode):
    model = tiny_model(tiny_tower, **mode)
    before = snapshot(model)
    history = model.fit(clip_batches(), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    moved = changed(before, model)
    head = {path for path in before if not is_tower(path)}
    tower = {path for path in before if is_tower(path)}
    assert head - {p for p in head if "seed_generator" in p} <= moved  # the head always trains
    trainable = {variable.path for variable in model.trainable_weights}
    assert moved <= trainable | {p for p in before if "seed_generator" in p}
    moved_tower = moved & tower
    name = finetune.finetune_mode(mode.get("lora_rank", 8), mode.get("unfreeze_blocks", 0), False)
    name = "full" if mode.get("full") else name
    if name == "lora":
        adapters = {p for p in tower if p.rsplit("/", 1)[-1] in ("lora_kernel_a", "lora_kernel_b")}
        assert len(adapters) == 2 * 6 * tiny_tower.num_layers  # q, k, v, out, c_fc, c_proj
        assert moved_tower == adapters  # kernels, biases, norms: bit-identical
    elif name == "blocks":
        last_block = {p for p in tower if "residual_attention" in p}
        blocks = sorted({p.split("/")[2] for p in last_block})
        assert all(blocks[-1] in p or "ln_2" in p or "vision_projector" in p for p in moved_tower)
        assert not any(blocks[0] + "/" in p for p in moved_tower)
        assert not any("patch_embed" in p for p in moved_tower) and moved_tower
    elif name == "full":
        assert any("patch_embed" in p for p in moved_tower) and any(
            "residual_attention" in p for p in moved_tower
        )
    else:
        assert not moved_tower and not any(is_tower(v.path) for v in model.trainable_weights)


def test_lora_saves_reloads_and_merges(tiny_tower, tmp_path):
    model = tiny_model(tiny_tower, lora_rank=4)
    model.fit(clip_batches(), epochs=1, verbose=0)
    inputs, _ = clip_arrays()
    outputs = np.asarray(model.predict_on_batch(inputs))
    assert outputs.shape == (CLIPS, NUM_CLASSES)

    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(reloaded.predict_on_batch(inputs)), outputs)
    # The adapters come back as trained (not merged and zeroed, as Keras's Dense would), and the
    # same weights are trainable, so a reloaded (resumed) run trains on.
    assert [v.name for v in reloaded.weights] == [v.name for v in model.weights]
    for saved, back in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(back.numpy(), saved.numpy())
        assert back.trainable == saved.trainable
        if back.name == "lora_kernel_b":
            assert np.abs(back.numpy()).max() > 0
    assert finetune.is_clips_model(reloaded)

    merged = finetune.merge_lora(model)
    assert not any("lora" in v.path for v in merged.weights)
    np.testing.assert_allclose(np.asarray(merged.predict_on_batch(inputs)), outputs, atol=1e-5)
    merged.save(tmp_path / "merged.keras")
    merged_back = keras.saving.load_model(tmp_path / "merged.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(merged_back.predict_on_batch(inputs)), outputs, atol=1e-5)
    assert finetune.is_clips_model(merged_back)


def test_padded_frames_do_not_change_the_logits(tiny_tower):
    model = tiny_model(tiny_tower)
    inputs, _ = clip_arrays()
    pixels = inputs["pixels"]
    noisy = pixels.copy()
    noisy[-1, 1:] = 5.0  # the last clip's padded slot
    first = model.predict_on_batch({"pixels": pixels, "padding_mask": inputs["padding_mask"]})
    second = model.predict_on_batch({"pixels": noisy, "padding_mask": inputs["padding_mask"]})
    np.testing.assert_allclose(np.asarray(first), np.asarray(second), atol=1e-6)


def test_fine_tune_adam_gives_the_tower_its_own_rate():
    inputs = keras.Input((3,))
    tower = keras.layers.Dense(2, name=finetune.TOWER_NAME)
    head = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, head(tower(inputs)))
    optimizer = finetune.FineTuneAdam(learning_rate=1e-2, tower_learning_rate_multiplier=0.1)
    before = [np.array(v.numpy()) for v in model.trainable_weights]
    grads = [np.ones(v.shape, "float32") for v in model.trainable_weights]
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    for variable, old in zip(model.trainable_weights, before, strict=True):
        step = np.abs(np.array(variable.numpy()) - old)
        expected = 1e-3 if optimizer.in_tower(variable) else 1e-2  # Adam's first step: ~lr
        np.testing.assert_allclose(step, expected, rtol=1e-3)
    config = optimizer.get_config()
    assert (
        keras.optimizers.deserialize(keras.optimizers.serialize(optimizer)).get_config() == config
    )


def test_bad_settings_are_refused(tiny_tower):
    with pytest.raises(finetune.FineTuneError, match="--full"):
        finetune.finetune_mode(8, 2, True)
    with pytest.raises(finetune.FineTuneError, match="residual"):
        tiny_model(tiny_tower, unfreeze_blocks=tiny_tower.num_layers + 1)
    with pytest.raises(finetune.FineTuneError, match="encoder-learning-rate"):
        tiny_model(tiny_tower, encoder_learning_rate=0.0)
