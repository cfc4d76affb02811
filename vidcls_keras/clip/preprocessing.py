"""Frames -> CLIP pixels: OpenAI CLIP's image preprocessing, in numpy and PIL (no Keras).

    center_crop_uint8   frames uint8 (k, H, W, 3)      -> crops uint8 (k, 224, 224, 3)
    normalize           crops uint8 (k, 224, 224, 3)   -> pixels float32 (k, 224, 224, 3)
    preprocess          = normalize(center_crop_uint8(frames)), OpenAI CLIP's image transform

This is OpenAI CLIP's `_transform(224)` exactly: torchvision `Resize(224, BICUBIC)` on a PIL image
(shorter side to 224, longer side to `int(224 * long / short)`; PIL's bicubic filter, which widens
its support when it shrinks, i.e. antialiases), `CenterCrop(224)` (offsets
`int(round((size - 224) / 2))`, Python's round-half-to-even), `ToTensor` (divide by 255) and
`Normalize(CLIP_MEAN, CLIP_STD)`. The resize *is* PIL's (`Image.resize`, one frame at a time), so
the crops equal torchvision's bit for bit; `tests/clip/test_preprocessing.py` checks this on real
frames (pixel error bound: 0 levels in uint8, <= 1e-6 after normalization). OpenCV's `INTER_CUBIC`
is faster but does not antialias when shrinking, so it is not used. PIL costs about 1.5 ms per
360p frame and 10 ms per 720p frame on one core, and releases the GIL, so
`vidcls_keras.embedding.pipeline.embed_videos` runs it in a thread beside the encoder.

No Keras or KerasCV import here, so tf.data code (`vidcls_keras.data`) can use the constants.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CLIP_IMAGE_SIZE = 224
# OpenAI CLIP's `Normalize` constants (RGB), as float32 like torchvision's.
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def resized_size(height: int, width: int, size: int = CLIP_IMAGE_SIZE) -> tuple[int, int]:
    """Output `(height, width)` of torchvision's `Resize(size)`: shorter side -> `size`.

    torchvision's rule (`_compute_resized_output_size`): the longer side becomes
    `int(size * long / short)`, truncated, e.g. 640x360 -> 398x224, 426x240 -> 397x224.

    Args:
        height: input height in pixels, >= 1.
        width: input width in pixels, >= 1.
        size: target length of the shorter side.

    Returns:
        `(new_height, new_width)`.
    """
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
    return new_height, new_width


def _check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"{name} must be uint8 RGB frames of shape (k, H, W, 3), got {frames.dtype} "
            f"{frames.shape}: pass `vidcls_keras.video.sample_frames(...)` output (add a leading "
            "axis for a single frame: frames[None])."
        )
    if frames.shape[0] and min(frames.shape[1:3]) < 1:
        raise ValueError(f"{name} have an empty side: shape {frames.shape}")
    return frames


def center_crop_uint8(frames: np.ndarray, size: int = CLIP_IMAGE_SIZE) -> np.ndarray:
    """CLIP's bicubic resize (shorter side -> `size`) and center crop, before any scaling.

    Frames smaller than `size` are upscaled the same way. The result is the displayable image
    the encoder sees (datasets store one such frame per video).

    Args:
        frames: uint8 RGB `(k, H, W, 3)`, all frames the same size; `k` may be 0.
        size: output height and width (224 for CLIP ViT-B/32).

    Returns:
        uint8 `(k, size, size, 3)`.
    """
    frames = _check_frames(frames)
    count, height, width = frames.shape[:3]
    crops = np.empty((count, size, size, 3), np.uint8)
    new_height, new_width = resized_size(height, width, size)
    # torchvision's CenterCrop offsets: Python's round() (half to even), as OpenAI's code runs it.
    top = int(round((new_height - size) / 2.0))
    left = int(round((new_width - size) / 2.0))
    for index in range(count):
        image = Image.fromarray(frames[index])
        if (new_height, new_width) != (height, width):
            image = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
        crops[index] = np.asarray(image)[top : top + size, left : left + size]
    return crops


def normalize(crops: np.ndarray) -> np.ndarray:
    """torchvision's `ToTensor` + `Normalize(CLIP_MEAN, CLIP_STD)`, channels last.

    The same float32 operations in the same order as torchvision (`x / 255`, `- mean`,
    `/ std`), so the result matches it to the last bit on common CPUs.

    Args:
        crops: uint8 `(k, S, S, 3)`, e.g. from `center_crop_uint8`.

    Returns:
        float32 `(k, S, S, 3)`.
    """
    crops = _check_frames(crops, "crops")
    pixels = crops.astype(np.float32)
    pixels /= np.float32(255.0)
    pixels -= CLIP_MEAN
    pixels /= CLIP_STD
    return pixels


def preprocess(frames: np.ndarray, size: int = CLIP_IMAGE_SIZE) -> np.ndarray:
    """OpenAI CLIP's image transform on video frames: resize, center crop, scale, normalize.

    Args:
        frames: uint8 RGB `(k, H, W, 3)`; `k` may be 0.
        size: crop size (224 for CLIP ViT-B/32).

    Returns:
        float32 `(k, size, size, 3)`, CLIP-normalized, the encoder's input.
    """
    return normalize(center_crop_uint8(frames, size))
