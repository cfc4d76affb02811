"""Pixels -> CLIP image embeddings, with KerasCV's CLIP image encoder.

    preprocess          frames uint8 (k, H, W, 3)       -> pixels float32 (k, 224, 224, 3)
                        (`vidcls_keras.clip.preprocessing`, re-exported here)
    FrameEmbedder.embed pixels float32 (k, 224, 224, 3) -> embeddings float32 (k, embed_dim)

**The encoder** is KerasCV's `CLIPImageEncoder` (`keras_cv.models.CLIP(...).image_encoder`):
patch embedding, pre-LayerNorm, residual attention blocks with QuickGELU, post-LayerNorm of the
class token, projection. `FrameEmbedder.embed` returns what OpenAI's `model.encode_image` returns:
projected, **not** L2-normalized. The weights come from one of:

- `FrameEmbedder.from_preset("clip-vit-base-patch32")`: KerasCV's Kaggle preset (needs internet),
  or a local preset directory (`from_preset("/path/to/dir")`), see `vidcls_keras.clip.presets`;
- `FrameEmbedder.from_hf(dir)`: a Hugging Face checkpoint (`CLIPModel` or
  `CLIPVisionModelWithProjection`, `save_pretrained` output), converted tensor by tensor by
  `vidcls_keras.clip.convert_hf`; `tests/clip/test_convert_hf.py` checks it against the PyTorch
  model (max relative error <= 1e-4);
- `FrameEmbedder.tiny(seed)`: the same architecture at toy sizes (`TINY_CONFIG`), random weights,
  for tests and demos.

Each embedder has a `spec` string ("preset:clip-vit-base-patch32", "preset:/abs/dir",
"hf:/abs/dir", "tiny:0") that `FrameEmbedder.from_spec` turns back into the same embedder
(`vidcls_keras.clip.specs` parses it); datasets record it. A video becomes embeddings in
`vidcls_keras.embedding.pipeline`, which calls `embed`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import weakref
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras_cv.models.feature_extractor import CLIPImageEncoder  # noqa: E402

from vidcls_keras._compat.keras_cv import SavableCLIPImageEncoder  # noqa: E402
from vidcls_keras.clip import convert_hf, presets  # noqa: E402
from vidcls_keras.clip.errors import CheckpointError  # noqa: E402
from vidcls_keras.clip.preprocessing import (  # noqa: E402  (re-exported: __all__)
    CLIP_IMAGE_SIZE,
    CLIP_MEAN,
    CLIP_STD,
    center_crop_uint8,
    normalize,
    preprocess,
    resized_size,
)
from vidcls_keras.clip.specs import DEFAULT_PRESET, parse_embedder_spec  # noqa: E402
from vidcls_keras.clip.tiny import TINY_EMBED_DIM, randomize_weights  # noqa: E402

__all__ = [
    "CLIP_IMAGE_SIZE",
    "CLIP_MEAN",
    "CLIP_STD",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_PRESET",
    "TINY_CONFIG",
    "VIT_B32_CONFIG",
    "CheckpointError",
    "EncoderConfig",
    "FrameEmbedder",
    "center_crop_uint8",
    "normalize",
    "preprocess",
    "resized_size",
]

# Frames per encoder call. Every call has this shape (the last batch is zero-padded), so XLA
# compiles the encoder once. `bench/embed_throughput.py` measures 8/16/32/64: on 2 shared CPU
# cores ViT-B/32 used 0.99 / 0.98 / 0.94 / 0.89 of the matmul ceiling per CPU-second (smaller
# batches stay in cache); 16 is the default (a rerun on a quiet machine may move it).
DEFAULT_BATCH_SIZE = 16


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
# 0.8 M parameters. embed_dim matches `TextEmbedder.tiny`'s.
TINY_CONFIG = EncoderConfig(width=128, num_layers=2, num_heads=2, embed_dim=TINY_EMBED_DIM)


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


def _variable_split(encoder: keras.Model) -> tuple[int, int]:
    return len(encoder.trainable_variables), len(encoder.non_trainable_variables)


def _compiled_forward(encoder: keras.Model) -> Callable:
    """A jitted `(trainable, non_trainable, pixels) -> embeddings` for encoders like this one.

    Encoders of the same class and sizes have the same variables in the same order, so one
    traced function serves them all (the weights are arguments): XLA compiles once per process
    and batch shape, not once per `FrameEmbedder`. The template encoder is held weakly; when it
    is gone the next encoder becomes the template (and the function is compiled again).
    """
    import jax

    # The trainable / non-trainable split is part of the key: `stateless_call` takes the weights
    # as two lists, and a frozen encoder (the frame model freezes the one it is given) has another.
    split = _variable_split(encoder)
    key = (type(encoder), _encoder_config(encoder), encoder.dtype_policy.name, split)
    entry = _FORWARDS.get(key)
    if entry is not None:
        template_encoder = entry[0]()
        if template_encoder is not None and _variable_split(template_encoder) == split:
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
    batches of exactly `batch_size` frames (the last one zero-padded), jit-compiled once per
    batch size on JAX.

    Args:
        image_encoder: a KerasCV `CLIPImageEncoder`, pixels `(b, S, S, 3)` -> embeddings
            `(b, D)` (copied into a `SavableCLIPImageEncoder` unless it is one, so that models
            holding it save and reload as `.keras`).
        spec: the string `from_spec` rebuilds this embedder from; None for an encoder built in
            memory (then `spec` raises; `save_preset` gives it one).
        batch_size: frames per encoder call (`embed` may be given another).

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

        Raises:
            vidcls_keras.clip.specs.EmbedderSpecError: not a spec.
            CheckpointError: the weights it names cannot be loaded.
        """
        parsed = parse_embedder_spec(spec)
        if parsed.kind == "preset":
            return cls.from_preset(parsed.value)
        if parsed.kind == "hf":
            return cls.from_hf(parsed.value)
        return cls.tiny(parsed.seed)

    @classmethod
    def tiny(cls, seed: int = 0) -> FrameEmbedder:
        """A small random CLIP image encoder for tests and demos (`TINY_CONFIG`).

        ViT-B/32's architecture (224 px input, 32 px patches) at width 128, 2 heads, 2 layers,
        embed_dim 16. The weights are drawn from `numpy.random.default_rng(seed)` (see
        `vidcls_keras.clip.tiny.randomize_weights`), so the same seed gives the same model on any
        backend, without touching Keras' global RNG.

        Args:
            seed: integer seed.

        Returns:
            A `FrameEmbedder` with spec "tiny:SEED".
        """
        encoder = TINY_CONFIG.build()
        randomize_weights(encoder, int(seed), scale=0.02, lecun_kernels=True)
        return cls(encoder, spec=f"tiny:{int(seed)}")

    @classmethod
    def from_preset(cls, name_or_dir: str | os.PathLike = DEFAULT_PRESET) -> FrameEmbedder:
        """The CLIP image encoder of a KerasCV preset: a name (downloaded) or a local directory.

        Names are KerasCV's CLIP presets (`keras_cv.models.CLIP.presets`), fetched from Kaggle by
        `keras_cv.models.CLIP.from_preset` (internet needed once). A local directory is a whole
        KerasCV CLIP preset (the image tower is taken) or one written by `save_preset`; see
        `vidcls_keras.clip.presets`.

        Args:
            name_or_dir: a KerasCV CLIP preset name or a local preset directory.

        Returns:
            A `FrameEmbedder` with spec "preset:NAME" or "preset:/absolute/dir".

        Raises:
            CheckpointError: unknown name, a download that failed (offline: the message says
                to pass a local preset directory or a Hugging Face checkpoint), or a directory
                that is not a CLIP preset.
        """
        encoder, spec = presets.load_image_encoder(name_or_dir)
        return cls(encoder, spec=spec)

    def save_preset(self, directory: str | os.PathLike) -> pathlib.Path:
        """Writes the image encoder as a preset directory that `from_preset(directory)` reads.

        Files: `config.json`, `model.weights.h5`, `metadata.json` (see
        `vidcls_keras.clip.presets.save_image_encoder`). After saving, this embedder's spec is
        "preset:/absolute/directory" if it had none.

        Args:
            directory: created if missing; existing preset files are overwritten.

        Returns:
            The absolute directory.
        """
        directory = presets.save_image_encoder(self._image_encoder, directory, self._spec)
        if self._spec is None:
            self._spec = f"preset:{directory}"
        return directory

    @classmethod
    def from_hf(cls, directory: str | os.PathLike) -> FrameEmbedder:
        """Converts a local Hugging Face CLIP checkpoint into KerasCV's image encoder.

        Reads what `transformers`' `save_pretrained` writes for `CLIPModel` or
        `CLIPVisionModelWithProjection` (`vidcls_keras.clip.convert_hf`). A `CLIPModel`'s text
        tower is skipped.

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
        config = convert_hf.read_config(directory)
        encoder = EncoderConfig(**convert_hf.convert_vision_config(config)).build()
        convert_hf.convert_vision_weights(encoder, directory, config)
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
        return self._dispatch(pixels)

    def _dispatch(self, pixels: np.ndarray):
        """The encoder on float32 `(b, S, S, 3)` pixels, any `b`; jitted once per `b` on JAX."""
        if keras.backend.backend() != "jax":
            return self._image_encoder.predict_on_batch(pixels)
        forward = _compiled_forward(self._image_encoder)
        return forward(
            [variable.value for variable in self._image_encoder.trainable_variables],
            [variable.value for variable in self._image_encoder.non_trainable_variables],
            pixels,
        )

    def embed(self, pixels: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """CLIP image embeddings, as OpenAI's `encode_image` (projected, not L2-normalized).

        Args:
            pixels: float32 `(k, S, S, 3)` from `preprocess`; `k` may be 0.
            batch_size: rows per encoder call (default `self.batch_size`). Every call has this
                shape (the last batch is zero-padded), so the encoder compiles once per distinct
                batch size.

        Returns:
            float32 `(k, embed_dim)`.
        """
        batch_size = self.batch_size if batch_size is None else batch_size
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
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
        for start in range(0, count, batch_size):
            batch = pixels[start : start + batch_size]
            if len(batch) < batch_size:
                padding = np.zeros((batch_size - len(batch), *self.input_shape), np.float32)
                batch = np.concatenate([batch, padding])
            outputs.append(self._dispatch(batch))  # dispatched; collected below
        embeddings = np.zeros((count, self.embed_dim), np.float32)
        for index, output in enumerate(outputs):
            start = index * batch_size
            rows = min(batch_size, count - start)
            embeddings[start : start + rows] = np.asarray(output)[:rows]
        return embeddings
