"""CLIP preprocessing: exactness against OpenAI's transform (torchvision + PIL) on real frames."""

import subprocess
import sys

import numpy as np
import pytest
from hf_references import reference_crop, reference_transform

from vidcls_keras.clip import preprocessing
from vidcls_keras.clip.image import FrameEmbedder

# Preprocessing is PIL's own bicubic resize, so the crops equal the reference exactly.
MAX_CROP_LEVEL_ERROR = 0  # uint8 levels
MAX_PIXEL_ERROR = 1e-6  # after ToTensor + Normalize, in normalized units


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
    assert preprocessing.resized_size(height, width) == expected


def test_center_crop_rounds_offsets_half_to_even():
    # 299 px wide -> offset round(37.5) = 38; 297 -> round(36.5) = 36 (torchvision's int(round)).
    for width, offset in [(299, 38), (297, 36)]:
        frame = np.tile(np.arange(width, dtype=np.int64) % 251, (224, 1)).astype(np.uint8)
        frame = np.repeat(frame[None, :, :, None], 3, axis=-1)
        crop = preprocessing.center_crop_uint8(frame)  # short side 224 already: crop only
        np.testing.assert_array_equal(crop[0, 0, :, 0], frame[0, 0, offset : offset + 224, 0])


def test_preprocess_matches_reference_on_real_frames(real_frames):
    """Pixel error bound: 0 uint8 levels on the crop, <= 1e-6 after normalization."""
    pytest.importorskip("torch")
    for name, frames in real_frames.items():
        crops = preprocessing.center_crop_uint8(frames)
        expected_crops = np.stack([reference_crop(frame) for frame in frames])
        assert crops.shape == (len(frames), 224, 224, 3) and crops.dtype == np.uint8, name
        crop_error = np.abs(crops.astype(np.int64) - expected_crops).max()
        assert crop_error <= MAX_CROP_LEVEL_ERROR, name
        pixels = preprocessing.preprocess(frames)
        assert pixels.shape == (len(frames), 224, 224, 3) and pixels.dtype == np.float32, name
        expected = np.stack([reference_transform(frame) for frame in frames])
        assert np.abs(pixels - expected).max() <= MAX_PIXEL_ERROR, name


def test_preprocess_matches_reference_through_the_encoder(real_frames, real_pixels):
    pytest.importorskip("torch")
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
    preprocess = preprocessing.preprocess
    assert preprocess(np.zeros((0, 50, 80, 3), np.uint8)).shape == (0, 224, 224, 3)
    portrait = preprocess(np.full((2, 100, 50, 3), 128, np.uint8))
    assert portrait.shape == (2, 224, 224, 3)
    np.testing.assert_allclose(
        portrait[0, 0, 0], (128 / 255 - preprocessing.CLIP_MEAN) / preprocessing.CLIP_STD, 1e-6
    )
    with pytest.raises(ValueError, match="uint8 RGB frames"):
        preprocess(np.zeros((2, 10, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        preprocess(np.zeros((10, 10, 3), np.uint8))


def test_preprocessing_imports_neither_keras_nor_keras_cv():
    """tf.data code reads CLIP_MEAN / CLIP_STD from here without loading the encoder's stack."""
    code = (
        "import sys; from vidcls_keras import clip; from vidcls_keras.clip import preprocessing; "
        "clip.CLIP_MEAN; clip.preprocess; "
        "print(sorted(m for m in ('keras', 'keras_cv', 'keras_hub') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_image_module_re_exports_the_preprocessing_names():
    """Import sites that do `from vidcls_keras.clip import image as clip` keep working."""
    from vidcls_keras.clip import image

    for name in ("CLIP_IMAGE_SIZE", "CLIP_MEAN", "CLIP_STD", "center_crop_uint8", "normalize"):
        assert getattr(image, name) is getattr(preprocessing, name)
    assert image.preprocess is preprocessing.preprocess
