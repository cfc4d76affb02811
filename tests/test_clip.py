"""CLIP preprocessing and the frame embedder: exactness against references, parity with PyTorch.

The parity tests build randomly initialised Hugging Face CLIP models (no download), save them with
`save_pretrained`, load them with `FrameEmbedder.from_hf`, and compare with the PyTorch forward
pass on real frames from ../shared/data/videos.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from vidcls_keras.clip import image as clip  # noqa: E402
from vidcls_keras.clip.image import CheckpointError, FrameEmbedder  # noqa: E402
from vidcls_keras.video import sample_frames  # noqa: E402

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

# Parity bound: max|keras - torch| / max|torch| over all embedding entries, float32.
MAX_RELATIVE_ERROR = 1e-4
# Preprocessing is PIL's own bicubic resize, so the crops equal the reference exactly.
MAX_CROP_LEVEL_ERROR = 0  # uint8 levels
MAX_PIXEL_ERROR = 1e-6  # after ToTensor + Normalize, in normalized units


def reference_crop(frame: np.ndarray) -> np.ndarray:
    """torchvision 0.28's `Resize(224, BICUBIC)` + `CenterCrop(224)` on a PIL image, written out.

    `_compute_resized_output_size` (longer side `int(224 * long / short)`), `PIL.Image.resize`,
    then crop offsets `int(round((size - 224) / 2.0))`. Returns uint8 (224, 224, 3).
    """
    image = Image.fromarray(frame)
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = 224, int(224 * long / short)
    new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_width, new_height) != (width, height):
        image = image.resize((new_width, new_height), Image.BICUBIC)
    top = int(round((new_height - 224) / 2.0))
    left = int(round((new_width - 224) / 2.0))
    return np.array(image.crop((left, top, left + 224, top + 224)))


def reference_transform(frame: np.ndarray) -> np.ndarray:
    """OpenAI CLIP's `_transform(224)`: the crop, `ToTensor` (`float().div(255)`) and
    `Normalize` (`sub(mean).div(std)`) in torch float32. Returns (224, 224, 3) float32 (HWC)."""
    tensor = torch.from_numpy(reference_crop(frame)).permute(2, 0, 1).contiguous()
    tensor = tensor.float().div(255)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
    return tensor.sub(mean).div(std).permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def real_frames(shared_videos) -> dict[str, np.ndarray]:
    """Two frames from each of the 8 real clips (sizes 176x144 up to 1280x720, one rotated)."""
    return {path.name: sample_frames(path, 2) for path in sorted(shared_videos.iterdir())}


@pytest.fixture(scope="module")
def real_pixels(real_frames) -> np.ndarray:
    """`preprocess` of all real frames, (16, 224, 224, 3)."""
    return np.concatenate([clip.preprocess(frames) for frames in real_frames.values()])


def randomize_torch(model, seed: int = 0) -> None:
    """Makes biases and LayerNorm parameters non-trivial (HF initialises them to 0 and 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith(".bias"):
                parameter.copy_(0.02 * noise)
            elif "norm" in name and name.endswith(".weight"):
                parameter.copy_(1.0 + 0.1 * noise)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def torch_embeddings(model, pixels: np.ndarray) -> np.ndarray:
    """Runs an HF vision-with-projection model on NHWC pixels (fed as NCHW)."""
    with torch.no_grad():
        inputs = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
        return model(pixel_values=inputs).image_embeds.numpy()


def tiny_hf_vision_config(**overrides):
    """`clip.TINY_CONFIG`'s sizes (so Keras reuses the tiny encoder's compiled functions)."""
    sizes = dict(
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=224,
        patch_size=32,
        projection_dim=16,
        hidden_act="quick_gelu",
    )
    return transformers.CLIPVisionConfig(**{**sizes, **overrides})


@pytest.fixture(scope="module")
def tiny_hf_dir(tmp_path_factory):
    """A small randomly initialised CLIPVisionModelWithProjection, saved by save_pretrained."""
    torch.manual_seed(0)
    model = transformers.CLIPVisionModelWithProjection(tiny_hf_vision_config()).eval()
    randomize_torch(model)
    directory = tmp_path_factory.mktemp("tiny_hf")
    model.save_pretrained(directory)
    return directory, model


# ----------------------------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "height, width, expected",
    [
        (360, 640, (224, 398)),  # 224 * 640 / 360 = 398.2 -> 398 (truncated)
        (240, 426, (224, 397)),  # 397.6 -> 397: truncation, not rounding
        (720, 1280, (224, 398)),
        (144, 176, (224, 273)),  # smaller than 224: upscaled
        (640, 360, (398, 224)),  # portrait
        (300, 300, (224, 224)),
        (224, 500, (224, 500)),  # already the right short side: no resize
    ],
)
def test_resized_size_follows_torchvision(height, width, expected):
    assert clip.resized_size(height, width) == expected


def test_center_crop_rounds_offsets_half_to_even():
    # 299 px wide -> offset round(37.5) = 38; 297 -> round(36.5) = 36 (torchvision's int(round)).
    for width, offset in [(299, 38), (297, 36)]:
        frame = np.tile(np.arange(width, dtype=np.int64) % 251, (224, 1)).astype(np.uint8)
        frame = np.repeat(frame[None, :, :, None], 3, axis=-1)
        crop = clip.center_crop_uint8(frame)  # short side 224 already: crop only
        np.testing.assert_array_equal(crop[0, 0, :, 0], frame[0, 0, offset : offset + 224, 0])


def test_preprocess_matches_reference_on_real_frames(real_frames):
    """Pixel error bound: 0 uint8 levels on the crop, <= 1e-6 after normalization."""
    for name, frames in real_frames.items():
        crops = clip.center_crop_uint8(frames)
        expected_crops = np.stack([reference_crop(frame) for frame in frames])
        assert crops.shape == (len(frames), 224, 224, 3) and crops.dtype == np.uint8, name
        crop_error = np.abs(crops.astype(np.int64) - expected_crops).max()
        assert crop_error <= MAX_CROP_LEVEL_ERROR, name
        pixels = clip.preprocess(frames)
        assert pixels.shape == (len(frames), 224, 224, 3) and pixels.dtype == np.float32, name
        expected = np.stack([reference_transform(frame) for frame in frames])
        assert np.abs(pixels - expected).max() <= MAX_PIXEL_ERROR, name


def test_preprocess_matches_reference_through_the_encoder(real_frames, real_pixels):
    embedder = FrameEmbedder.tiny(seed=0)
    reference = np.stack(
        [reference_transform(frame) for frames in real_frames.values() for frame in frames]
    )
    ours, theirs = embedder.embed(real_pixels), embedder.embed(reference)
    cosine = np.sum(ours * theirs, -1) / (
        np.linalg.norm(ours, axis=-1) * np.linalg.norm(theirs, axis=-1)
    )
    assert cosine.min() >= 0.9999


def test_preprocess_shapes_and_errors():
    assert clip.preprocess(np.zeros((0, 50, 80, 3), np.uint8)).shape == (0, 224, 224, 3)
    portrait = clip.preprocess(np.full((2, 100, 50, 3), 128, np.uint8))
    assert portrait.shape == (2, 224, 224, 3)
    np.testing.assert_allclose(
        portrait[0, 0, 0], (128 / 255 - clip.CLIP_MEAN) / clip.CLIP_STD, 1e-6
    )
    with pytest.raises(ValueError, match="uint8 RGB frames"):
        clip.preprocess(np.zeros((2, 10, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        clip.preprocess(np.zeros((10, 10, 3), np.uint8))


# ----------------------------------------------------------------------------------------------
# FrameEmbedder
# ----------------------------------------------------------------------------------------------


def test_tiny_is_deterministic_and_seeded(real_pixels):
    pixels = real_pixels[:3]
    first = FrameEmbedder.tiny(0)
    assert (first.embed_dim, first.spec, first.image_size) == (16, "tiny:0", 224)
    np.testing.assert_array_equal(first.embed(pixels), FrameEmbedder.tiny(0).embed(pixels))
    assert np.max(np.abs(first.embed(pixels) - FrameEmbedder.tiny(1).embed(pixels))) > 1e-3


def test_embed_batches_pad_and_compile_once(real_pixels):
    embedder = FrameEmbedder.tiny(0)
    embedder.batch_size = 4
    single = np.concatenate([embedder.embed(real_pixels[i : i + 1]) for i in range(10)])
    batched = embedder.embed(real_pixels[:10])  # 4 + 4 + 2 (padded)
    assert batched.shape == (10, 16) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    assert embedder.embed(real_pixels[:0]).shape == (0, 16)
    if keras.backend.backend() == "jax":  # every call above had the shape (4, 224, 224, 3)
        compiled = clip._compiled_forward(embedder.image_encoder)
        before = compiled._cache_size()
        embedder.embed(real_pixels[:7])
        assert compiled._cache_size() == before
    with pytest.raises(ValueError, match="preprocess"):
        embedder.embed(np.zeros((1, 224, 224, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        embedder.embed(np.zeros((1, 200, 200, 3), np.float32))


def test_embed_video_is_sample_preprocess_embed(shared_videos):
    embedder = FrameEmbedder.tiny(0)
    path = shared_videos / "mmaction2__demo.mp4"
    expected = embedder.embed(clip.preprocess(sample_frames(path, 3)))
    np.testing.assert_array_equal(embedder.embed_video(path, 3), expected)


def test_spec_round_trips(tmp_path, real_pixels, tiny_hf_dir):
    pixels = real_pixels[:2]
    hf_dir, _ = tiny_hf_dir
    for embedder in [
        FrameEmbedder.tiny(3),
        FrameEmbedder.from_hf(hf_dir),
        FrameEmbedder.from_preset(FrameEmbedder.tiny(4).save_preset(tmp_path / "preset")),
    ]:
        again = FrameEmbedder.from_spec(embedder.spec)
        assert again.spec == embedder.spec
        np.testing.assert_array_equal(again.embed(pixels), embedder.embed(pixels))
    assert FrameEmbedder.from_hf(hf_dir).spec == f"hf:{hf_dir.resolve()}"
    for bad in ["tiny", "tiny:x", "onnx:/model", ""]:
        with pytest.raises(ValueError, match="spec"):
            FrameEmbedder.from_spec(bad)


def test_save_preset_round_trips_and_keras_file(tmp_path, real_pixels):
    embedder = FrameEmbedder.tiny(5)
    directory = embedder.save_preset(tmp_path / "tiny_preset")
    assert sorted(os.listdir(directory)) == ["config.json", "metadata.json", "model.weights.h5"]
    loaded = FrameEmbedder.from_preset(directory)
    assert loaded.spec == f"preset:{directory}" and loaded.embed_dim == 16
    np.testing.assert_array_equal(loaded.embed(real_pixels[:3]), embedder.embed(real_pixels[:3]))
    # The encoder inside a functional model survives a .keras round trip.
    inputs = keras.Input((224, 224, 3))
    model = keras.Model(inputs, loaded.image_encoder(inputs))
    model.save(tmp_path / "encoder.keras")
    reloaded = keras.saving.load_model(tmp_path / "encoder.keras")
    np.testing.assert_allclose(
        np.asarray(reloaded(real_pixels[:2])), embedder.embed(real_pixels[:2]), atol=1e-5
    )


def test_from_preset_reads_a_keras_cv_clip_preset_directory(tmp_path, real_pixels):
    """The layout of KerasCV's Kaggle presets (a whole CLIP), written by KerasCV's own saver."""
    import keras_cv
    from keras_cv.src.utils.preset_utils import save_to_preset

    keras.utils.set_random_seed(0)
    clip_model = keras_cv.models.CLIP(  # the image tower has TINY_CONFIG's sizes
        embed_dim=16,
        vision_layers=2,
        vision_width=128,
        vocab_size=64,
        transformer_width=32,
        transformer_heads=2,
        transformer_layers=1,
    )
    save_to_preset(clip_model, tmp_path / "kerascv_clip")
    config = json.loads((tmp_path / "kerascv_clip" / "config.json").read_text())
    assert config["registered_name"] == "keras_cv>CLIP"
    embedder = FrameEmbedder.from_preset(tmp_path / "kerascv_clip")
    assert embedder.spec == f"preset:{(tmp_path / 'kerascv_clip').resolve()}"
    for loaded, saved in zip(
        embedder.image_encoder.weights, clip_model.image_encoder.weights, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(loaded), np.asarray(saved))
    expected = FrameEmbedder(clip_model.image_encoder).embed(real_pixels[:2])
    np.testing.assert_array_equal(embedder.embed(real_pixels[:2]), expected)


def test_from_preset_offline_names_the_alternatives(monkeypatch):
    import keras_cv
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_cv.models.CLIP, "from_preset", offline)
    with pytest.raises(CheckpointError, match="could not download") as error:
        FrameEmbedder.from_preset("clip-vit-base-patch32")
    assert "--preset DIR" in str(error.value) and "--hf DIR" in str(error.value)
    with pytest.raises(CheckpointError, match="clip-vit-base-patch16"):
        FrameEmbedder.from_preset("no-such-preset")


def test_from_preset_refuses_other_directories(tmp_path):
    with pytest.raises(CheckpointError, match="not a preset directory"):
        FrameEmbedder.from_preset(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "keras>Dense"}))
    with pytest.raises(CheckpointError, match="not a KerasCV CLIP"):
        FrameEmbedder.from_preset(tmp_path)


# ----------------------------------------------------------------------------------------------
# Hugging Face checkpoints: parity with PyTorch
# ----------------------------------------------------------------------------------------------


def test_from_hf_matches_pytorch_vit_b32_structure(tmp_path, real_pixels):
    """ViT-B/32's widths (768 / 12 heads / 3072 MLP / 512 projection), 2 layers, real frames."""
    config = transformers.CLIPVisionConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=2,
        num_attention_heads=12,
        image_size=224,
        patch_size=32,
        projection_dim=512,
        hidden_act="quick_gelu",
    )
    torch.manual_seed(0)
    model = transformers.CLIPVisionModelWithProjection(config).eval()
    randomize_torch(model)
    model.save_pretrained(tmp_path / "hf")
    embedder = FrameEmbedder.from_hf(tmp_path / "hf")
    embedder.batch_size = len(real_pixels)  # one encoder call, no padding
    assert embedder.embed_dim == 512 and len(embedder.image_encoder.encoder.resblocks) == 2

    ours = embedder.embed(real_pixels)
    theirs = torch_embeddings(model, real_pixels)
    error = relative_error(ours, theirs)
    print(f"ViT-B/32-width parity, {len(real_pixels)} real frames: max relative error {error:.2e}")
    assert error <= MAX_RELATIVE_ERROR


def test_from_hf_loads_the_vision_tower_of_a_full_clip_model(tmp_path, real_pixels):
    config = transformers.CLIPConfig(
        text_config=dict(
            hidden_size=32,
            intermediate_size=128,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=64,
            max_position_embeddings=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        ),
        vision_config=tiny_hf_vision_config(projection_dim=512).to_dict(),
        projection_dim=16,  # CLIPModel uses the top-level size, not vision_config's 512
    )
    torch.manual_seed(1)
    model = transformers.CLIPModel(config).eval()
    randomize_torch(model, seed=1)
    model.save_pretrained(tmp_path / "full")
    embedder = FrameEmbedder.from_hf(tmp_path / "full")
    assert embedder.embed_dim == 16

    pixels = real_pixels[:4]
    with torch.no_grad():
        inputs = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
        pooled = model.vision_model(pixel_values=inputs).pooler_output
        expected = model.visual_projection(pooled).numpy()
    assert relative_error(embedder.embed(pixels), expected) <= MAX_RELATIVE_ERROR


def test_from_hf_refuses_non_quick_gelu(tmp_path):
    model = transformers.CLIPVisionModelWithProjection(tiny_hf_vision_config(hidden_act="gelu"))
    model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="quick_gelu"):
        FrameEmbedder.from_hf(tmp_path)


def test_from_hf_refuses_missing_extra_and_misshapen_tensors(tmp_path, tiny_hf_dir):
    source, _ = tiny_hf_dir
    tensors = safetensors_numpy.load_file(os.fspath(source / "model.safetensors"))

    def write(name: str, changed: dict) -> os.PathLike:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "config.json").write_text((source / "config.json").read_text())
        safetensors_numpy.save_file(changed, os.fspath(directory / "model.safetensors"))
        return directory

    missing = {k: v for k, v in tensors.items() if k != "vision_model.post_layernorm.bias"}
    with pytest.raises(CheckpointError, match="missing tensors.*post_layernorm.bias"):
        FrameEmbedder.from_hf(write("missing", missing))
    no_projection = {k: v for k, v in tensors.items() if k != "visual_projection.weight"}
    with pytest.raises(CheckpointError, match="CLIPVisionModel has no projection"):
        FrameEmbedder.from_hf(write("no_projection", no_projection))
    extra = {**tensors, "vision_model.encoder.layers.2.mlp.fc1.weight": np.zeros((512, 128))}
    with pytest.raises(CheckpointError, match="match no KerasCV weight.*layers.2.mlp.fc1"):
        FrameEmbedder.from_hf(write("extra", extra))
    # Text tensors are only expected in a full CLIPModel checkpoint.
    text = {**tensors, "text_projection.weight": np.zeros((16, 32), np.float32)}
    with pytest.raises(CheckpointError, match="text_projection"):
        FrameEmbedder.from_hf(write("text", text))
    misshapen = {**tensors, "visual_projection.weight": np.zeros((8, 128), np.float32)}
    with pytest.raises(CheckpointError, match="shape does not match"):
        FrameEmbedder.from_hf(write("misshapen", misshapen))
    with pytest.raises(CheckpointError, match="no config.json"):
        FrameEmbedder.from_hf(tmp_path / "missing_dir")


def test_tiny_hf_checkpoint_matches_pytorch(tiny_hf_dir, real_pixels):
    directory, model = tiny_hf_dir
    embedder = FrameEmbedder.from_hf(directory)
    assert relative_error(embedder.embed(real_pixels), torch_embeddings(model, real_pixels)) <= (
        MAX_RELATIVE_ERROR
    )
