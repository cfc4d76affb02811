"""Generated labelled videos: a small `<class>/<clip>.mp4` folder that needs no network.

    python -c "from vidcls_keras import synthetic; synthetic.write_dataset('demo_videos')"

These clips exist to exercise the pipeline (decode -> embed -> TFDS -> train -> predict) on a
machine with no internet and no pretrained weights. They are not a benchmark: the classes differ
in plain low-level statistics that any image encoder, even one with random weights, passes on.

Four classes, each with its own colour palette, moving shape and texture:

- `sunrise`: a warm vertical gradient (red at the bottom to orange/yellow at the top) and a pale
  yellow disc that rises.
- `ocean`: blue horizontal bands that wave and travel, over blue-green noise.
- `forest`: dark green vertical trunks scrolling sideways over a mottled green background.
- `night_city`: a near-black sky over dark grey blocks with small lit windows that blink.

Every clip has its own random hue shift, speed, phase, shape size and pixel noise, drawn from
`numpy.random.default_rng(SeedSequence([seed, class_index, clip_index]))`, so the same seed gives
the same frames (and, with the same OpenCV build, the same file bytes), and no two clips of a
class are the same. Clips are written with `cv2.VideoWriter` (MPEG-4 Part 2, fourcc `mp4v`),
which every OpenCV wheel can write.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from vidcls_keras.errors import VidclsError

CLASS_NAMES = ("sunrise", "ocean", "forest", "night_city")
"""The generated classes, in label order (the TFDS builder sorts folder names anyway)."""

DEFAULT_CLIPS_PER_CLASS = 10
DEFAULT_NUM_FRAMES = 32
DEFAULT_WIDTH = 160
DEFAULT_HEIGHT = 120
DEFAULT_FPS = 12
FOURCC = "mp4v"
NOTICE = (
    "these are generated clips, enough to exercise the pipeline, not a benchmark: the classes "
    "differ in colour, shape and texture, which even a random-weight encoder passes on"
)


class SyntheticVideoError(VidclsError):
    """An invalid request for generated clips (unknown class, size, count) or a failed write."""


def _coordinates(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel grids `(y, x)` in [0, 1], each float32 `(height, width)`."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    return np.broadcast_to(y, (height, width)), np.broadcast_to(x, (height, width))


def _blend(base: np.ndarray, colour: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`base * (1 - weight) + colour * weight`; base `(H, W, 3)`, weight `(H, W)` in [0, 1]."""
    weight = weight[..., None]
    return base * (1.0 - weight) + colour * weight


def _sunrise(rng: np.random.Generator, num_frames: int, height: int, width: int) -> np.ndarray:
    y, x = _coordinates(height, width)
    bottom = np.array([0.85, 0.20, 0.10]) + rng.uniform(-0.08, 0.08, 3)
    top = np.array([1.00, 0.70, 0.25]) + rng.uniform(-0.08, 0.08, 3)
    radius = rng.uniform(0.12, 0.22)
    centre_x = rng.uniform(0.25, 0.75)
    start, end = rng.uniform(0.85, 1.05), rng.uniform(0.25, 0.45)
    sky = top * (1.0 - y[..., None]) + bottom * y[..., None]
    frames = []
    for t in np.linspace(0.0, 1.0, num_frames):
        centre_y = start + (end - start) * t
        distance = np.sqrt(((x - centre_x) * width / height) ** 2 + (y - centre_y) ** 2)
        disc = np.clip((radius - distance) / 0.02, 0.0, 1.0)
        frames.append(_blend(sky, np.array([1.0, 0.95, 0.6]), disc))
    return np.stack(frames)


def _ocean(rng: np.random.Generator, num_frames: int, height: int, width: int) -> np.ndarray:
    y, x = _coordinates(height, width)
    deep = np.array([0.05, 0.15, 0.45]) + rng.uniform(-0.05, 0.05, 3)
    light = np.array([0.35, 0.65, 0.90]) + rng.uniform(-0.05, 0.05, 3)
    bands = rng.uniform(4.0, 8.0)
    amplitude = rng.uniform(0.02, 0.06)
    speed = rng.uniform(0.8, 2.0) * rng.choice([-1.0, 1.0])
    phase = rng.uniform(0.0, 2 * np.pi)
    frames = []
    for t in np.linspace(0.0, 1.0, num_frames):
        shifted = y + amplitude * np.sin(2 * np.pi * (2.0 * x + speed * t) + phase)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * bands * shifted + 2 * np.pi * speed * t)
        frames.append(_blend(np.broadcast_to(deep, (height, width, 3)), light, wave))
    return np.stack(frames)


def _forest(rng: np.random.Generator, num_frames: int, height: int, width: int) -> np.ndarray:
    y, x = _coordinates(height, width)
    # A fixed mottled background: coarse random cells, upsampled.
    cells = rng.uniform(0.0, 1.0, (max(height // 12, 2), max(width // 12, 2))).astype(np.float32)
    mottle = cv2.resize(cells, (width, height), interpolation=cv2.INTER_LINEAR)
    leaves = np.array([0.15, 0.55, 0.15]) + rng.uniform(-0.06, 0.06, 3)
    shade = np.array([0.05, 0.30, 0.05]) + rng.uniform(-0.03, 0.03, 3)
    background = _blend(np.broadcast_to(shade, (height, width, 3)), leaves, mottle)
    trunk = np.array([0.20, 0.25, 0.08]) + rng.uniform(-0.04, 0.04, 3)
    num_trunks = int(rng.integers(3, 6))
    positions = rng.uniform(0.0, 1.0, num_trunks)
    widths = rng.uniform(0.03, 0.07, num_trunks)
    speed = rng.uniform(0.15, 0.4) * rng.choice([-1.0, 1.0])
    frames = []
    for t in np.linspace(0.0, 1.0, num_frames):
        cover = np.zeros((height, width), np.float32)
        for position, trunk_width in zip(positions, widths, strict=True):
            centre = (position + speed * t) % 1.0
            distance = np.abs((x - centre + 0.5) % 1.0 - 0.5)  # wraps around the edges
            cover = np.maximum(cover, np.clip((trunk_width - distance) / 0.01, 0.0, 1.0))
        frames.append(_blend(background, trunk, cover))
    return np.stack(frames)


def _night_city(rng: np.random.Generator, num_frames: int, height: int, width: int) -> np.ndarray:
    y, x = _coordinates(height, width)
    sky = np.array([0.02, 0.02, 0.08]) + rng.uniform(0.0, 0.04, 3)
    block = np.array([0.12, 0.12, 0.14]) + rng.uniform(-0.03, 0.03, 3)
    lit = np.array([1.0, 0.85, 0.40]) + rng.uniform(-0.1, 0.0, 3)
    # Building heights per column strip: the skyline.
    num_buildings = int(rng.integers(4, 8))
    edges = np.sort(rng.uniform(0.0, 1.0, num_buildings - 1))
    roofs = rng.uniform(0.25, 0.7, num_buildings)
    roof = roofs[np.searchsorted(edges, x[0])][None, :]
    building = (y >= roof).astype(np.float32)
    frame = _blend(np.broadcast_to(sky, (height, width, 3)), block, building)
    # Windows: a grid of small cells inside buildings, each blinking with its own period.
    cell = int(rng.integers(6, 9))
    rows, columns = height // cell, width // cell
    window_mask = np.zeros((height, width), bool)
    grid_y, grid_x = np.meshgrid(np.arange(height) % cell, np.arange(width) % cell, indexing="ij")
    window_mask[(grid_y >= 2) & (grid_y < cell - 1) & (grid_x >= 2) & (grid_x < cell - 1)] = True
    window_mask &= building > 0
    periods = rng.uniform(0.2, 1.0, (rows + 1, columns + 1))
    phases = rng.uniform(0.0, 1.0, (rows + 1, columns + 1))
    cell_y, cell_x = np.arange(height) // cell, np.arange(width) // cell
    frames = []
    for t in np.linspace(0.0, 1.0, num_frames):
        on = (((t / periods + phases) % 1.0) < 0.6)[cell_y][:, cell_x]
        frames.append(_blend(frame, lit, (window_mask & on).astype(np.float32)))
    return np.stack(frames)


_RENDERERS: dict[str, Callable[[np.random.Generator, int, int, int], np.ndarray]] = {
    "sunrise": _sunrise,
    "ocean": _ocean,
    "forest": _forest,
    "night_city": _night_city,
}


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SyntheticVideoError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def _class_index(class_name: str) -> int:
    if class_name not in CLASS_NAMES:
        raise SyntheticVideoError(
            f"class_name {class_name!r} is not a generated class: choose from {CLASS_NAMES}."
        )
    return CLASS_NAMES.index(class_name)


def render_clip(
    class_name: str,
    clip_index: int = 0,
    *,
    seed: int = 0,
    num_frames: int = DEFAULT_NUM_FRAMES,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> np.ndarray:
    """The frames of one generated clip, without writing a file.

    Args:
        class_name: one of `CLASS_NAMES`.
        clip_index: which clip of the class (each index draws its own hue, speed, shapes).
        seed: the dataset seed; with `class_name` and `clip_index` it fixes every pixel.
        num_frames: frames in the clip.
        width: frame width in pixels.
        height: frame height in pixels.

    Returns:
        uint8 RGB `(num_frames, height, width, 3)`.

    Raises:
        SyntheticVideoError: unknown class or a size that is not a positive int.
    """
    class_index = _class_index(class_name)
    num_frames = _check_positive("num_frames", num_frames)
    width = _check_positive("width", width)
    height = _check_positive("height", height)
    rng = np.random.default_rng(np.random.SeedSequence([seed, class_index, clip_index]))
    frames = _RENDERERS[class_name](rng, num_frames, height, width)
    # Per-pixel noise, fresh every frame: texture the codec must keep, and no two frames equal.
    frames = frames + rng.normal(0.0, 0.03, frames.shape)
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def write_clip(
    path: str | os.PathLike, frames: np.ndarray, fps: float = DEFAULT_FPS
) -> pathlib.Path:
    """Writes uint8 RGB frames `(T, H, W, 3)` to an MPEG-4 (`mp4v`) file with OpenCV.

    Args:
        path: the file to write (parent folders are created); `.mp4` suggested.
        frames: uint8 RGB `(T, H, W, 3)`, `T >= 1`.
        fps: frames per second stored in the file.

    Returns:
        `path` as a `pathlib.Path`.

    Raises:
        SyntheticVideoError: frames of the wrong dtype or shape, or OpenCV could not write.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise SyntheticVideoError(
            f"frames must be uint8 RGB (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}."
        )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(
        os.fspath(path), cv2.VideoWriter_fourcc(*FOURCC), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise SyntheticVideoError(
            f"{path}: OpenCV could not open a {FOURCC!r} video writer; check that the folder is "
            "writable and that this OpenCV build has its FFmpeg backend (opencv-python-headless)."
        )
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        raise SyntheticVideoError(f"{path}: OpenCV wrote no data.")
    return path


def write_dataset(
    root: str | os.PathLike,
    *,
    clips_per_class: int = DEFAULT_CLIPS_PER_CLASS,
    num_frames: int = DEFAULT_NUM_FRAMES,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    fps: float = DEFAULT_FPS,
    seed: int = 0,
    class_names: Sequence[str] = CLASS_NAMES,
    progress: Callable[[pathlib.Path], None] | None = None,
) -> dict[str, list[pathlib.Path]]:
    """Writes `<root>/<class>/<class>_<index>.mp4` for every class: a `video_folder` input.

    Existing files with the same names are overwritten (with identical frames for the same
    arguments). Nothing else in `root` is touched.

    Args:
        root: the folder to fill.
        clips_per_class: clips per class.
        num_frames: frames per clip.
        width: frame width in pixels.
        height: frame height in pixels.
        fps: frames per second stored in each file.
        seed: fixes every pixel of every clip.
        class_names: which of `CLASS_NAMES` to generate, at least 2.
        progress: called with each file's path after it is written (e.g. a tqdm update).

    Returns:
        `{class_name: [paths]}`, in the order written.

    Raises:
        SyntheticVideoError: unknown or too few classes, or a size that is not a positive int.
    """
    clips_per_class = _check_positive("clips_per_class", clips_per_class)
    class_names = list(dict.fromkeys(class_names))
    for class_name in class_names:
        _class_index(class_name)
    if len(class_names) < 2:
        raise SyntheticVideoError(
            f"class_names {class_names}: a classification demo needs at least 2 classes."
        )
    root = pathlib.Path(root)
    written: dict[str, list[pathlib.Path]] = {}
    for class_name in class_names:
        written[class_name] = []
        for clip_index in range(clips_per_class):
            frames = render_clip(
                class_name, clip_index, seed=seed, num_frames=num_frames, width=width, height=height
            )
            path = write_clip(root / class_name / f"{class_name}_{clip_index:02d}.mp4", frames, fps)
            written[class_name].append(path)
            if progress is not None:
                progress(path)
    return written
