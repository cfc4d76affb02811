"""Frames -> CLIP image embeddings: OpenAI's preprocessing and KerasCV's CLIP image encoder.

    center_crop_uint8   frames uint8 (k, H, W, 3)      -> crops uint8 (k, 224, 224, 3)
    normalize           crops uint8 (k, 224, 224, 3)   -> pixels float32 (k, 224, 224, 3)
    preprocess          = normalize(center_crop_uint8(frames)), OpenAI CLIP's image transform
    FrameEmbedder.embed pixels float32 (k, 224, 224, 3) -> embeddings float32 (k, embed_dim)

**Preprocessing** is OpenAI CLIP's `_transform(224)` exactly: torchvision `Resize(224, BICUBIC)`
on a PIL image (shorter side to 224, longer side to `int(224 * long / short)`; PIL's bicubic
filter, which widens its support when it shrinks, i.e. antialiases), `CenterCrop(224)` (offsets
`int(round((size - 224) / 2))`, Python's round-half-to-even), `ToTensor` (divide by 255) and
`Normalize(CLIP_MEAN, CLIP_STD)`. The resize *is* PIL's (`Image.resize`, one frame at a time),
so the crops equal torchvision's bit for bit; `tests/test_clip.py` checks this on real frames
(pixel error bound: 0 levels in uint8, <= 1e-6 after normalization). OpenCV's `INTER_CUBIC` is
faster but does not antialias when shrinking, so it is not used. PIL costs about 1.5 ms per
360p frame and 10 ms per 720p frame on one core, and releases the GIL, so
`vidcls_keras.embed.embed_videos` runs it in a thread beside the encoder.

**The encoder** is KerasCV's `CLIPImageEncoder` (`keras_cv.models.CLIP(...).image_encoder`):
patch embedding, pre-LayerNorm, residual attention blocks with QuickGELU, post-LayerNorm of the
class token, projection. `FrameEmbedder.embed` returns what OpenAI's `model.encode_image` returns:
projected, **not** L2-normalized. The weights come from one of:

- `FrameEmbedder.from_preset("clip-vit-base-patch32")`: KerasCV's Kaggle preset (needs internet),
  or a local preset directory (`from_preset("/path/to/dir")`), see `from_preset`;
- `FrameEmbedder.from_hf(dir)`: a Hugging Face checkpoint (`CLIPModel` or
  `CLIPVisionModelWithProjection`, `save_pretrained` output), converted tensor by tensor;
  `tests/test_clip.py` checks it against the PyTorch model (max relative error <= 1e-4);
- `FrameEmbedder.tiny(seed)`: the same architecture at toy sizes (`TINY_CONFIG`), random weights,
  for tests and demos.

Each embedder has a `spec` string ("preset:clip-vit-base-patch32", "preset:/abs/dir",
"hf:/abs/dir", "tiny:0") that `FrameEmbedder.from_spec` turns back into the same embedder;
datasets record it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import weakref
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras_cv.models.feature_extractor import CLIPImageEncoder  # noqa: E402
from PIL import Image  # noqa: E402

from vidcls_keras.models.frame import SavableCLIPImageEncoder  # noqa: E402

CLIP_IMAGE_SIZE = 224
# OpenAI CLIP's `Normalize` constants (RGB), as float32 like torchvision's.
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)

DEFAULT_PRESET = "clip-vit-base-patch32"
# Frames per encoder call. Every call has this shape (the last batch is zero-padded), so XLA
# compiles the encoder once. `bench/embed_throughput.py` measures 8/16/32/64: on 2 shared CPU
# cores ViT-B/32 used 0.99 / 0.98 / 0.94 / 0.89 of the matmul ceiling per CPU-second (smaller
# batches stay in cache); 16 is the default (a rerun on a quiet machine may move it).
DEFAULT_BATCH_SIZE = 16
PRESET_CONFIG_FILE = "config.json"
PRESET_WEIGHTS_FILE = "model.weights.h5"
PRESET_METADATA_FILE = "metadata.json"


class CheckpointError(ValueError):
    """Weights or a preset cannot be turned into a CLIP image encoder (says why and what to do)."""


# ------------------------------------------------------------------------------------------------
# Preprocessing
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# The encoder
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Sizes of a CLIP ViT image encoder (the defaults are ViT-B/32's).

    Attributes:
        image_size: input height and width in pixels.
        patch_size: side of the square patches.
        width: transformer width (hidden size).
        num_layers: residual attention blocks.
        num_heads: attention heads; `width` must be divisible by it.
        embed_dim: output (projection) size.
    """

    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    num_layers: int = 12
    num_heads: int = 12
    embed_dim: int = 512

    def build(self, name: str = "image_encoder") -> SavableCLIPImageEncoder:
        """A built KerasCV CLIP image encoder of these sizes, with Keras' initial weights.

        Returns:
            `SavableCLIPImageEncoder` (KerasCV's `CLIPImageEncoder` with a config that reloads):
            pixels `(b, image_size, image_size, 3)` -> `(b, embed_dim)`.
        """
        if self.width % self.num_heads or self.image_size % self.patch_size:
            raise ValueError(
                f"{self}: width must be divisible by num_heads and image_size by patch_size"
            )
        encoder = SavableCLIPImageEncoder(
            input_resolution=self.image_size,
            patch_size=self.patch_size,
            width=self.width,
            num_layers=self.num_layers,
            heads=self.num_heads,
            output_dim=self.embed_dim,
            name=name,
        )
        encoder.build((None, self.image_size, self.image_size, 3))
        return encoder


VIT_B32_CONFIG = EncoderConfig()
# `FrameEmbedder.tiny`: ViT-B/32's layout (224 px, 32 px patches, 50 tokens) at toy widths, about
# 0.8 M parameters. embed_dim 16 matches `clip_text.TextEmbedder.tiny`.
TINY_CONFIG = EncoderConfig(width=128, num_layers=2, num_heads=2, embed_dim=16)


def _randomize(encoder: keras.Model, seed: int) -> None:
    """Draws every weight from `numpy.random.default_rng(seed)`, in the encoder's weight order.

    Independent of Keras' global RNG and of the backend, so `tiny(seed)` is the same model
    everywhere. Kernels ~ N(0, 1 / fan_in) (LeCun scaling: with CLIP's 0.02 at these tiny widths
    every image embeds to nearly the same vector, and a demo on random features cannot separate
    anything); LayerNorm scales ~ 1 + N(0, 0.1); shifts, biases and embeddings ~ N(0, 0.02)
    (non-trivial biases and norms keep a mapping mistake visible in tests).
    """
    rng = np.random.default_rng(seed)
    for variable in encoder.weights:
        shape = tuple(variable.shape)
        if variable.name == "gamma":
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif variable.name == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            value = rng.standard_normal(shape) / np.sqrt(fan_in)
        else:
            value = 0.02 * rng.standard_normal(shape)
        variable.assign(value.astype(np.float32))


def _encoder_config(encoder: CLIPImageEncoder) -> EncoderConfig:
    return EncoderConfig(
        image_size=encoder.input_resolution,
        patch_size=encoder.patch_size,
        width=encoder.width,
        num_layers=encoder.num_layers,
        num_heads=encoder.heads,
        embed_dim=encoder.output_dim,
    )


# (encoder class, sizes, dtype) -> (weak reference to a template encoder, jitted forward).
_FORWARDS: dict[tuple, tuple[weakref.ref, Callable]] = {}


def _compiled_forward(encoder: keras.Model) -> Callable:
    """A jitted `(trainable, non_trainable, pixels) -> embeddings` for encoders like this one.

    Encoders of the same class and sizes have the same variables in the same order, so one
    traced function serves them all (the weights are arguments): XLA compiles once per process
    and batch shape, not once per `FrameEmbedder`. The template encoder is held weakly; when it
    is gone the next encoder becomes the template (and the function is compiled again).
    """
    import jax

    key = (type(encoder), _encoder_config(encoder), encoder.dtype_policy.name)
    entry = _FORWARDS.get(key)
    if entry is not None and entry[0]() is not None:
        return entry[1]
    template = weakref.ref(encoder)

    def forward(trainable, non_trainable, pixels):
        outputs, _ = template().stateless_call(trainable, non_trainable, pixels)
        return outputs

    compiled = jax.jit(forward)
    _FORWARDS[key] = (template, compiled)
    return compiled


class FrameEmbedder:
    """CLIP image embeddings of preprocessed frames, with KerasCV's CLIP image encoder.

    Build one with `from_preset`, `from_hf`, `tiny` or `from_spec`. `embed` runs the encoder in
    batches of exactly `batch_size` frames (the last one zero-padded), jit-compiled once on JAX.

    Args:
        image_encoder: a KerasCV `CLIPImageEncoder`, pixels `(b, S, S, 3)` -> embeddings
            `(b, D)` (copied into a `SavableCLIPImageEncoder` unless it is one, so that models
            holding it save and reload as `.keras`).
        spec: the string `from_spec` rebuilds this embedder from; None for an encoder built in
            memory (then `spec` raises; `save_preset` gives it one).
        batch_size: frames per encoder call.

    Example:

    >>> embedder = FrameEmbedder.tiny(seed=0)
    >>> embedder.embed(preprocess(frames)).shape      # frames uint8 (k, H, W, 3)
    (k, 16)
    """

    def __init__(
        self,
        image_encoder: keras.Model,
        spec: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if isinstance(image_encoder, CLIPImageEncoder) and not isinstance(
            image_encoder, SavableCLIPImageEncoder
        ):
            image_encoder = SavableCLIPImageEncoder.from_encoder(image_encoder)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._image_encoder = image_encoder
        self._spec = spec
        self.batch_size = batch_size

    # -- properties ------------------------------------------------------------------------------

    @property
    def image_encoder(self) -> keras.Model:
        """The Keras model: pixels `(b, image_size, image_size, 3)` -> `(b, embed_dim)`."""
        return self._image_encoder

    @property
    def embed_dim(self) -> int:
        """Width D of the embeddings (512 for ViT-B/32)."""
        return int(self._image_encoder.output_dim)

    @property
    def image_size(self) -> int:
        """Height and width of the encoder's input pixels (224 for ViT-B/32)."""
        return int(self._image_encoder.input_resolution)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """`(image_size, image_size, 3)`."""
        return (self.image_size, self.image_size, 3)

    @property
    def spec(self) -> str:
        """How to rebuild this embedder with `from_spec`, e.g. "preset:clip-vit-base-patch32"."""
        if self._spec is None:
            raise ValueError(
                "this FrameEmbedder was built from an in-memory encoder and has no spec: write it "
                "with save_preset(directory) and use FrameEmbedder.from_preset(directory)."
            )
        return self._spec

    def __repr__(self) -> str:
        return f"FrameEmbedder(spec={self._spec!r}, embed_dim={self.embed_dim})"

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: str) -> FrameEmbedder:
        """The embedder a spec string names (the inverse of `spec`).

        Args:
            spec: "preset:NAME_OR_DIR", "hf:DIR" or "tiny:SEED".

        Returns:
            A `FrameEmbedder` whose `spec` equals `spec` (directories made absolute).
        """
        kind, separator, value = str(spec).partition(":")
        if not separator or not value:
            raise ValueError(
                f"embedder spec {spec!r} must look like 'preset:clip-vit-base-patch32', "
                "'preset:/path/to/preset_dir', 'hf:/path/to/hf_checkpoint' or 'tiny:0'."
            )
        if kind == "preset":
            return cls.from_preset(value)
        if kind == "hf":
            return cls.from_hf(value)
        if kind == "tiny":
            try:
                seed = int(value)
            except ValueError:
                raise ValueError(
                    f"embedder spec {spec!r}: the tiny seed must be an integer"
                ) from None
            return cls.tiny(seed)
        raise ValueError(
            f"embedder spec {spec!r}: unknown kind {kind!r}; use 'preset:', 'hf:' or 'tiny:'."
        )

    @classmethod
    def tiny(cls, seed: int = 0) -> FrameEmbedder:
        """A small random CLIP image encoder for tests and demos (`TINY_CONFIG`).

        ViT-B/32's architecture (224 px input, 32 px patches) at width 128, 2 heads, 2 layers,
        embed_dim 16. The weights are drawn from `numpy.random.default_rng(seed)`, so the same
        seed gives the same model on any backend, without touching Keras' global RNG.

        Args:
            seed: integer seed.

        Returns:
            A `FrameEmbedder` with spec "tiny:SEED".
        """
        encoder = TINY_CONFIG.build()
        _randomize(encoder, int(seed))
        return cls(encoder, spec=f"tiny:{int(seed)}")

    @classmethod
    def from_preset(cls, name_or_dir: str | os.PathLike = DEFAULT_PRESET) -> FrameEmbedder:
        """The CLIP image encoder of a KerasCV preset: a name (downloaded) or a local directory.

        Names are KerasCV's CLIP presets (`keras_cv.models.CLIP.presets`), fetched from Kaggle by
        `keras_cv.models.CLIP.from_preset` (internet needed once; kagglehub caches them under
        `~/.cache/kagglehub/models/keras/clip/keras/<name>/<version>/`).

        A local directory holds `config.json` (a serialized Keras object) and `model.weights.h5`,
        the layout KerasCV's `from_preset` reads. Two kinds are accepted:

        - a KerasCV CLIP preset (`"registered_name": "keras_cv>CLIP"`), e.g. a copy of the
          kagglehub cache folder above, made on a machine with internet: the image tower is
          taken, the text tower dropped;
        - an image-encoder preset written by `FrameEmbedder.save_preset(directory)`.

        Args:
            name_or_dir: a KerasCV CLIP preset name or a local preset directory.

        Returns:
            A `FrameEmbedder` with spec "preset:NAME" or "preset:/absolute/dir".

        Raises:
            CheckpointError: unknown name, a download that failed (offline: the message says
                to pass a local preset directory or a Hugging Face checkpoint), or a directory
                that is not a CLIP preset.
        """
        import keras_cv

        path = pathlib.Path(name_or_dir).expanduser()
        if path.is_dir():
            return cls(_load_preset_directory(path.resolve()), spec=f"preset:{path.resolve()}")
        name = os.fspath(name_or_dir)
        known = sorted(keras_cv.models.CLIP.presets)
        if name not in known and not name.startswith("kaggle://"):
            raise CheckpointError(
                f"{name!r} is neither an existing preset directory nor a KerasCV CLIP preset "
                f"name ({', '.join(known)})."
            )
        try:
            clip = keras_cv.models.CLIP.from_preset(name)
        except Exception as error:  # kagglehub raises requests, HTTP and OS errors of many kinds
            raise CheckpointError(
                f"could not download KerasCV preset {name!r} ({type(error).__name__}: {error}). "
                "Without internet access, pass a local preset directory instead "
                "(FrameEmbedder.from_preset('/path/to/dir'), `--preset DIR`): a copy of "
                "kagglehub's cache folder ~/.cache/kagglehub/models/keras/clip/keras/"
                f"{name}/<version>/ made where internet works, or a directory written by "
                "FrameEmbedder.save_preset; or a Hugging Face CLIP checkpoint directory "
                "(FrameEmbedder.from_hf(dir), `--hf DIR`)."
            ) from error
        return cls(clip.image_encoder, spec=f"preset:{name}")

    def save_preset(self, directory: str | os.PathLike) -> pathlib.Path:
        """Writes the image encoder as a preset directory that `from_preset(directory)` reads.

        Files: `config.json` (the serialized `SavableCLIPImageEncoder` plus
        `"weights": "model.weights.h5"`, KerasCV's preset layout), `model.weights.h5`,
        `metadata.json` (versions, parameter count). After saving, this embedder's spec is
        "preset:/absolute/directory" if it had none.

        Args:
            directory: created if missing; existing preset files are overwritten.

        Returns:
            The absolute directory.
        """
        directory = pathlib.Path(directory).expanduser().resolve()
        directory.mkdir(parents=True, exist_ok=True)
        self._image_encoder.save_weights(directory / PRESET_WEIGHTS_FILE)
        config = keras.saving.serialize_keras_object(self._image_encoder)
        config.pop("build_config", None)
        config.pop("compile_config", None)
        config["weights"] = PRESET_WEIGHTS_FILE
        (directory / PRESET_CONFIG_FILE).write_text(json.dumps(config, indent=4))
        import keras_cv

        metadata = {
            "keras_version": keras.version(),
            "keras_cv_version": keras_cv.__version__,
            "parameter_count": int(self._image_encoder.count_params()),
            "source_spec": self._spec,
        }
        (directory / PRESET_METADATA_FILE).write_text(json.dumps(metadata, indent=4))
        if self._spec is None:
            self._spec = f"preset:{directory}"
        return directory

    @classmethod
    def from_hf(cls, directory: str | os.PathLike) -> FrameEmbedder:
        """Converts a local Hugging Face CLIP checkpoint into KerasCV's image encoder.

        Reads what `transformers`' `save_pretrained` writes for `CLIPModel` or
        `CLIPVisionModelWithProjection`: `config.json` and `model.safetensors` (or a sharded
        `model.safetensors.index.json`), with the `safetensors` numpy API (no torch needed).
        The architecture comes from the config; every vision tensor is mapped explicitly onto
        one KerasCV weight (shapes checked), and loading fails if a tensor is missing, left over
        or of the wrong shape. A `CLIPModel`'s text tower (`text_model.*`, `text_projection`,
        `logit_scale`) is skipped.

        Example, with internet on some machine: `CLIPModel.from_pretrained(
        "openai/clip-vit-base-patch32").save_pretrained("clip-vit-base-patch32-hf")`.

        Args:
            directory: the checkpoint directory.

        Returns:
            A `FrameEmbedder` with spec "hf:/absolute/directory".

        Raises:
            CheckpointError: not a CLIP checkpoint, an activation other than quick_gelu, sizes
                KerasCV's encoder cannot express, or tensors that do not match.
        """
        directory = pathlib.Path(directory).expanduser().resolve()
        config, full_model = _read_hf_config(directory)
        tensors = _read_safetensors(directory)
        encoder = config.build()
        _load_hf_weights(encoder, tensors, full_model, directory)
        return cls(encoder, spec=f"hf:{directory}")

    # -- embedding -------------------------------------------------------------------------------

    def embed_batch(self, pixels: np.ndarray):
        """Runs the encoder on exactly `batch_size` frames, without waiting for the result.

        On JAX the call is jit-compiled (once, for this fixed shape) and dispatched
        asynchronously: it returns a `jax.Array` at once, and `np.asarray(result)` waits for it.
        Other backends run `predict_on_batch`.

        Args:
            pixels: float32 `(batch_size, S, S, 3)`, CLIP-normalized.

        Returns:
            Array-like `(batch_size, embed_dim)` float32.
        """
        if pixels.shape != (self.batch_size, *self.input_shape):
            raise ValueError(
                f"embed_batch takes exactly ({self.batch_size}, {self.image_size}, "
                f"{self.image_size}, 3) pixels, got {pixels.shape}: use embed() for any count."
            )
        if keras.backend.backend() != "jax":
            return self._image_encoder.predict_on_batch(pixels)
        forward = _compiled_forward(self._image_encoder)
        return forward(
            [variable.value for variable in self._image_encoder.trainable_variables],
            [variable.value for variable in self._image_encoder.non_trainable_variables],
            pixels,
        )

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """CLIP image embeddings, as OpenAI's `encode_image` (projected, not L2-normalized).

        Args:
            pixels: float32 `(k, S, S, 3)` from `preprocess`; `k` may be 0.

        Returns:
            float32 `(k, embed_dim)`.
        """
        pixels = np.asarray(pixels)
        if pixels.dtype == np.uint8:
            raise ValueError(
                "pixels are uint8: embed() takes CLIP-normalized float32 pixels; call "
                "preprocess(frames) first."
            )
        if pixels.ndim != 4 or pixels.shape[1:] != self.input_shape:
            raise ValueError(
                f"pixels must have shape (k, {self.image_size}, {self.image_size}, 3), got "
                f"{pixels.shape}: pass preprocess(frames) output."
            )
        pixels = pixels.astype(np.float32, copy=False)
        count = pixels.shape[0]
        outputs = []
        for start in range(0, count, self.batch_size):
            batch = pixels[start : start + self.batch_size]
            if len(batch) < self.batch_size:
                padding = np.zeros((self.batch_size - len(batch), *self.input_shape), np.float32)
                batch = np.concatenate([batch, padding])
            outputs.append(self.embed_batch(batch))  # dispatched; collected below
        embeddings = np.zeros((count, self.embed_dim), np.float32)
        for index, output in enumerate(outputs):
            start = index * self.batch_size
            rows = min(self.batch_size, count - start)
            embeddings[start : start + rows] = np.asarray(output)[:rows]
        return embeddings

    def embed_video(self, path: str | os.PathLike, num_frames: int) -> np.ndarray:
        """Samples `num_frames` evenly spaced frames of a video, preprocesses and embeds them.

        Args:
            path: a video file.
            num_frames: frames wanted; a shorter video gives all of its frames.

        Returns:
            float32 `(k, embed_dim)`, `k <= num_frames`.

        Raises:
            vidcls_keras.video.VideoDecodeError: the video cannot be read.
        """
        from vidcls_keras.video import sample_frames

        return self.embed(preprocess(sample_frames(path, num_frames), self.image_size))


# ------------------------------------------------------------------------------------------------
# Local presets
# ------------------------------------------------------------------------------------------------


def _load_preset_directory(directory: pathlib.Path) -> keras.Model:
    """The image encoder of a local KerasCV CLIP preset or a `save_preset` directory."""
    import keras_cv

    config_path = directory / PRESET_CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
        registered_name = config["registered_name"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{directory}: not a preset directory ({config_path.name}: {error}). Expected "
            "config.json + model.weights.h5, as KerasCV's Kaggle presets and "
            "FrameEmbedder.save_preset write them."
        ) from error
    preset_class = keras.saving.get_registered_object(registered_name)
    if isinstance(preset_class, type) and issubclass(preset_class, keras_cv.models.CLIP):
        return keras_cv.models.CLIP.from_preset(os.fspath(directory)).image_encoder
    if isinstance(preset_class, type) and issubclass(preset_class, CLIPImageEncoder):
        # KerasCV's own CLIPImageEncoder config spells num_layers "layers"; the subclass reads both.
        encoder = SavableCLIPImageEncoder.from_config(config["config"])
        encoder.build((None, encoder.input_resolution, encoder.input_resolution, 3))
        weights = config.get("weights")
        if not weights:
            raise CheckpointError(f"{config_path}: the preset holds no weights file")
        encoder.load_weights(directory / weights)
        return encoder
    raise CheckpointError(
        f"{config_path}: holds a {registered_name!r}, not a KerasCV CLIP model or CLIP image "
        "encoder."
    )


# ------------------------------------------------------------------------------------------------
# Hugging Face checkpoints
# ------------------------------------------------------------------------------------------------

# transformers' CLIPVisionConfig / CLIPConfig defaults, for keys an older config.json leaves out.
_HF_VISION_DEFAULTS = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 512,
}
# Tensors of a full CLIPModel that belong to the text tower (skipped), and non-weight buffers.
_HF_TEXT_PREFIXES = ("text_model.", "text_projection.", "logit_scale")
_HF_BUFFER_SUFFIXES = ("position_ids",)


def _read_hf_config(directory: pathlib.Path) -> tuple[EncoderConfig, bool]:
    """The image encoder's sizes from a HF config.json, and whether it is a full `CLIPModel`."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise CheckpointError(
            f"{directory}: no config.json. Expected a Hugging Face CLIP checkpoint written by "
            "transformers' save_pretrained (config.json + model.safetensors)."
        )
    config = json.loads(config_path.read_text())
    model_type = config.get("model_type")
    if model_type == "clip":
        vision = {**_HF_VISION_DEFAULTS, **config.get("vision_config", {})}
        # A CLIPModel's projection size is the top-level one (vision_config's is unused).
        vision["projection_dim"] = config.get(
            "projection_dim", _HF_VISION_DEFAULTS["projection_dim"]
        )
    elif model_type == "clip_vision_model":
        vision = {**_HF_VISION_DEFAULTS, **config}
    else:
        raise CheckpointError(
            f"{config_path}: model_type {model_type!r} is not a CLIP checkpoint; expected 'clip' "
            "(CLIPModel) or 'clip_vision_model' (CLIPVisionModelWithProjection)."
        )
    if vision["hidden_act"] != "quick_gelu":
        raise CheckpointError(
            f"{config_path}: hidden_act is {vision['hidden_act']!r}, but KerasCV's CLIP encoder "
            "uses QuickGELU (OpenAI CLIP's activation); only hidden_act='quick_gelu' "
            "checkpoints convert exactly."
        )
    width = int(vision["hidden_size"])
    if int(vision["intermediate_size"]) != 4 * width:
        raise CheckpointError(
            f"{config_path}: intermediate_size {vision['intermediate_size']} != 4 * hidden_size "
            f"({4 * width}); KerasCV's CLIP encoder fixes the MLP at 4x the width."
        )
    if not math.isclose(float(vision["layer_norm_eps"]), 1e-5):
        raise CheckpointError(
            f"{config_path}: layer_norm_eps {vision['layer_norm_eps']} != 1e-5, the epsilon "
            "KerasCV's CLIP encoder uses."
        )
    if int(vision["num_channels"]) != 3:
        raise CheckpointError(f"{config_path}: num_channels must be 3 (RGB)")
    encoder_config = EncoderConfig(
        image_size=int(vision["image_size"]),
        patch_size=int(vision["patch_size"]),
        width=width,
        num_layers=int(vision["num_hidden_layers"]),
        num_heads=int(vision["num_attention_heads"]),
        embed_dim=int(vision["projection_dim"]),
    )
    return encoder_config, model_type == "clip"


def _read_safetensors(directory: pathlib.Path) -> dict[str, np.ndarray]:
    """All tensors of `model.safetensors` (or of the shards an index lists), as numpy arrays."""
    from safetensors.numpy import load_file

    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = [directory / name for name in sorted(set(weight_map.values()))]
    else:
        raise CheckpointError(
            f"{directory}: no model.safetensors (nor model.safetensors.index.json). Re-save the "
            "checkpoint with transformers: CLIPModel.from_pretrained(dir).save_pretrained(new_dir) "
            "writes safetensors."
        )
    tensors: dict[str, np.ndarray] = {}
    for file in files:
        try:
            tensors.update(load_file(os.fspath(file)))
        except Exception as error:  # safetensors raises its own error types, and TypeError (bf16)
            raise CheckpointError(
                f"{file}: cannot read ({type(error).__name__}: {error})"
            ) from error
    return tensors


def _hf_weight_map(encoder: CLIPImageEncoder) -> list[tuple[keras.Variable, str, str]]:
    """`(KerasCV variable, HF tensor name, layout)` for every weight of the image encoder.

    Layouts: "same"; "linear" (torch `Linear.weight` is `(out, in)`, a Keras `Dense` kernel is
    `(in, out)`: transpose); "conv" (torch `(out, in, kh, kw)` -> Keras `(kh, kw, in, out)`).
    """
    vision = "vision_model."
    pairs = [
        (encoder.embeddings.class_embedding, vision + "embeddings.class_embedding", "same"),
        (
            encoder.embeddings.positional_embedding,
            vision + "embeddings.position_embedding.weight",
            "same",
        ),
        (encoder.embeddings.conv1.kernel, vision + "embeddings.patch_embedding.weight", "conv"),
        (encoder.pre_norm.gamma, vision + "pre_layrnorm.weight", "same"),  # sic: HF's spelling
        (encoder.pre_norm.beta, vision + "pre_layrnorm.bias", "same"),
    ]

    def dense(layer: keras.layers.Dense, name: str) -> list:
        return [(layer.kernel, name + ".weight", "linear"), (layer.bias, name + ".bias", "same")]

    def norm(layer: keras.layers.LayerNormalization, name: str) -> list:
        return [(layer.gamma, name + ".weight", "same"), (layer.beta, name + ".bias", "same")]

    for index, block in enumerate(encoder.encoder.resblocks):
        prefix = f"{vision}encoder.layers.{index}."
        pairs += norm(block.ln_1, prefix + "layer_norm1")
        pairs += dense(block.attn.q_proj, prefix + "self_attn.q_proj")
        pairs += dense(block.attn.k_proj, prefix + "self_attn.k_proj")
        pairs += dense(block.attn.v_proj, prefix + "self_attn.v_proj")
        pairs += dense(block.attn.out_proj, prefix + "self_attn.out_proj")
        pairs += norm(block.ln_2, prefix + "layer_norm2")
        pairs += dense(block.mlp_dense_1, prefix + "mlp.fc1")
        pairs += dense(block.mlp_dense_2, prefix + "mlp.fc2")
    pairs += norm(encoder.post_norm, vision + "post_layernorm")
    pairs.append((encoder.image_projector.kernel, "visual_projection.weight", "linear"))
    return pairs


def _load_hf_weights(
    encoder: CLIPImageEncoder,
    tensors: dict[str, np.ndarray],
    full_model: bool,
    directory: pathlib.Path,
) -> None:
    """Assigns every HF vision tensor to its KerasCV weight; fails on anything unmatched."""
    pairs = _hf_weight_map(encoder)
    mapped = {id(variable) for variable, _, _ in pairs}
    unmapped = [variable.path for variable in encoder.weights if id(variable) not in mapped]
    if unmapped or len(mapped) != len(pairs):
        raise CheckpointError(  # KerasCV's encoder changed: the map above must follow it
            f"the Hugging Face -> KerasCV weight map does not cover this KerasCV version's CLIP "
            f"image encoder (unmapped: {unmapped})"
        )
    remaining = dict(tensors)
    missing, wrong_shape = [], []
    for variable, name, layout in pairs:
        if name not in remaining:
            missing.append(name)
            continue
        value = remaining.pop(name)
        if layout == "linear":
            value = value.T
        elif layout == "conv":
            value = value.transpose(2, 3, 1, 0)
        if tuple(value.shape) != tuple(variable.shape):
            wrong_shape.append(f"{name}: {value.shape} vs KerasCV {tuple(variable.shape)}")
            continue
        variable.assign(value.astype(np.float32))
    ignored = _HF_TEXT_PREFIXES if full_model else ()
    unused = sorted(
        name
        for name in remaining
        if not (ignored and name.startswith(ignored)) and not name.endswith(_HF_BUFFER_SUFFIXES)
    )
    problems = []
    if missing:
        hint = ""
        if "visual_projection.weight" in missing:
            hint = (
                " (no visual_projection: a CLIPVisionModel has no projection head; save a "
                "CLIPModel or CLIPVisionModelWithProjection)"
            )
        problems.append(f"missing tensors{hint}: {missing}")
    if wrong_shape:
        problems.append(f"tensors whose shape does not match config.json: {wrong_shape}")
    if unused:
        problems.append(f"tensors that match no KerasCV weight: {unused}")
    if problems:
        raise CheckpointError(
            f"{directory}: cannot convert this checkpoint to KerasCV's CLIP image encoder; "
            + "; ".join(problems)
        )
