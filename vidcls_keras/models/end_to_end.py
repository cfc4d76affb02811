"""One `.keras` file from pixels to class probabilities: CLIP image encoder + trained head + softmax.

Training stores a *head*: a model over precomputed frame embeddings
(`{"frames": (B, max_frames, D), "padding_mask": (B, max_frames)}` -> logits). Serving wants one
artefact that starts from preprocessed frames. `EndToEndClassifier` joins the two:

    pixels (B, T, 224, 224, 3) --FrameEncoder(image_encoder)--> embeddings (B, T, D)
    embeddings + padding_mask (B, T) --head--> logits (B, C) --softmax--> probabilities (B, C)

Its `get_config()` also carries what a user needs to interpret the output and feed the input:
`label_names`, `num_frames` (T) and `embedder_spec` (which CLIP encoder made the training
embeddings). After `import vidcls_keras.models` (which registers the classes; keras_cv must be
importable because the CLIP encoder is a keras_cv class), `keras.saving.load_model(path)` is all
it takes to use the file, with `safe_mode=True`.

Heads that take pixels themselves (the single-frame model, `{"pixels": (B, 224, 224, 3)}` ->
logits) are wrapped the same way without a separate encoder: the head runs on every frame, and the
video's probabilities are the mean of the per-frame softmax over the real frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops
from keras_cv.models.feature_extractor import CLIPImageEncoder

from vidcls_keras.models.frame import SavableCLIPImageEncoder
from vidcls_keras.models.layers import MaskedMean


def _savable(image_encoder: keras.Model) -> keras.Model:
    """A KerasCV CLIP image encoder as a `SavableCLIPImageEncoder` (see there why); else as is."""
    if isinstance(image_encoder, CLIPImageEncoder) and not isinstance(
        image_encoder, SavableCLIPImageEncoder
    ):
        return SavableCLIPImageEncoder.from_encoder(image_encoder)
    return image_encoder


@keras.saving.register_keras_serializable(package="vidcls_keras")
class FrameEncoder(keras.layers.Layer):
    """Applies a per-image model to every frame of a batch of videos.

    Args:
        image_model: maps `(N, H, W, 3)` -> `(N, ...)`, e.g. a CLIP image encoder
            (`(N, 224, 224, 3)` -> `(N, D)`) or a single-frame classifier (-> `(N, C)` logits).
        input_name: when set, the image model takes a dict `{input_name: images}` (functional
            models with named inputs, like the frame classifier's `"pixels"`).

    Call args:
        pixels: float32 `(B, T, H, W, 3)`.

    Returns:
        `(B, T, ...)`: the image model's output for each frame.
    """

    def __init__(
        self, image_model: keras.layers.Layer, input_name: str | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.image_model = image_model
        self.input_name = input_name

    def build(self, input_shape: Sequence[int | None]) -> None:
        if not self.image_model.built:
            self.image_model.build((None, *input_shape[2:]))
        self.built = True

    def call(self, pixels):
        shape = ops.shape(pixels)
        # (B, T, H, W, 3) -> (B * T, H, W, 3): the image model sees one big batch of frames.
        images = ops.reshape(pixels, (-1, *pixels.shape[2:]))
        outputs = self.image_model({self.input_name: images} if self.input_name else images)
        # -1, not shape[0]: under a symbolic batch (ONNX export) `B` is not an axis of the
        # (B * T, ...) outputs, and jax2onnx can only reshape to axes it can read off the input.
        return ops.reshape(outputs, (-1, shape[1], *outputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        images_shape = (None, *input_shape[2:])
        if self.input_name:
            output_shape = self.image_model.compute_output_shape({self.input_name: images_shape})
        else:
            output_shape = self.image_model.compute_output_shape(images_shape)
        return (input_shape[0], input_shape[1], *output_shape[1:])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "image_model": keras.saving.serialize_keras_object(self.image_model),
                "input_name": self.input_name,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> FrameEncoder:
        config = dict(config)
        config["image_model"] = keras.saving.deserialize_keras_object(config["image_model"])
        return cls(**config)


class HeadInterfaceError(ValueError):
    """The trained head does not have one of the model interfaces this project defines."""


def _head_input_names(head: keras.Model) -> list[str]:
    names = getattr(head, "input_names", None)
    if names:
        return list(names)
    inputs = head.inputs if isinstance(head.inputs, (list, tuple)) else [head.inputs]
    return [tensor.name for tensor in inputs]


def head_kind(head: keras.Model) -> str:
    """`"sequence"` for heads over frame embeddings, `"pixels"` for single-frame heads.

    Raises:
        HeadInterfaceError: the head takes neither `{"frames", "padding_mask"}` nor `{"pixels"}`.
    """
    names = set(_head_input_names(head))
    if {"frames", "padding_mask"} <= names:
        return "sequence"
    if names == {"pixels"}:
        return "pixels"
    raise HeadInterfaceError(
        f"head {head.name!r} has inputs {sorted(names)}; expected "
        '{"frames", "padding_mask"} (sequence heads) or {"pixels"} (the frame head). '
        "Pass the `model.keras` written by `python -m vidcls_keras.train`."
    )


@keras.saving.register_keras_serializable(package="vidcls_keras")
class EndToEndClassifier(keras.Model):
    """Preprocessed frames + padding mask -> class probabilities, in one savable model.

    Args:
        head: the trained model. A sequence head maps `{"frames": (B, T, D), "padding_mask":
            (B, T) bool}` -> logits `(B, C)`; a frame head maps `{"pixels": (B, 224, 224, 3)}` ->
            logits `(B, C)`.
        label_names: the `C` class names, in logit order.
        num_frames: `T`, the number of frame slots (the head's `max_frames`).
        embedder_spec: `FrameEmbedder.spec` of the encoder that made the training embeddings
            (e.g. `"preset:clip-vit-base-patch32"`); recorded so that `FrameEmbedder.from_spec`
            can rebuild the same preprocessing/encoder outside this file.
        image_encoder: pixels `(N, image_size, image_size, 3)` -> embeddings `(N, D)`; required
            for sequence heads, must be `None` for the frame head (which holds its own encoder).
        image_size: side of the square CLIP input, 224 for ViT-B/32.

    Inputs:
        `{"pixels": float32 (B, T, image_size, image_size, 3)` (CLIP-normalized, i.e.
        `vidcls_keras.clip.preprocess` output, zeros in padded slots), `"padding_mask": bool
        (B, T)}` (True where a frame is real).

    Returns:
        float32 `(B, C)` class probabilities (softmax; rows sum to 1).
    """

    def __init__(
        self,
        head: keras.Model,
        label_names: Sequence[str],
        num_frames: int,
        embedder_spec: str,
        image_encoder: keras.Model | None = None,
        image_size: int = 224,
        **kwargs,
    ) -> None:
        kind = head_kind(head)
        label_names = [str(name) for name in label_names]
        if kind == "sequence" and image_encoder is None:
            raise HeadInterfaceError(
                f"head {head.name!r} reads frame embeddings, so an image_encoder is required: "
                "pass `FrameEmbedder.from_spec(spec).image_encoder`."
            )
        if kind == "pixels" and image_encoder is not None:
            raise HeadInterfaceError(
                f"head {head.name!r} reads pixels and holds its own encoder: pass image_encoder=None."
            )
        if image_encoder is not None:
            image_encoder = _savable(image_encoder)

        pixels = keras.Input((num_frames, image_size, image_size, 3), name="pixels")
        padding_mask = keras.Input((num_frames,), dtype="bool", name="padding_mask")
        if kind == "sequence":
            embeddings = FrameEncoder(image_encoder, name="frame_encoder")(pixels)
            logits = head({"frames": embeddings, "padding_mask": padding_mask})
            probabilities = keras.layers.Activation("softmax", dtype="float32", name="softmax")(
                logits
            )
        else:
            frame_logits = FrameEncoder(head, input_name="pixels", name="frame_head")(pixels)
            frame_probabilities = keras.layers.Activation(
                "softmax", dtype="float32", name="frame_softmax"
            )(frame_logits)
            # The video's probabilities: the mean over its real frames (rows still sum to 1).
            probabilities = MaskedMean(dtype="float32", name="mean_probabilities")(
                frame_probabilities, padding_mask
            )
        num_classes = probabilities.shape[-1]
        if num_classes != len(label_names):
            raise HeadInterfaceError(
                f"head {head.name!r} has {num_classes} outputs but {len(label_names)} label names "
                f"were given ({label_names}); pass the label names the head was trained with."
            )
        super().__init__(
            inputs={"pixels": pixels, "padding_mask": padding_mask},
            outputs=probabilities,
            **kwargs,
        )
        self.head = head
        self.image_encoder = image_encoder
        self.label_names = label_names
        self.num_frames = int(num_frames)
        self.embedder_spec = str(embedder_spec)
        self.image_size = int(image_size)

    def get_config(self) -> dict:
        # Not chained to Functional.get_config(): its nested graph config cannot be passed back to
        # this constructor (same choice as keras-hub's Task).
        return {
            "name": self.name,
            "trainable": self.trainable,
            "head": keras.saving.serialize_keras_object(self.head),
            "image_encoder": None
            if self.image_encoder is None
            else keras.saving.serialize_keras_object(self.image_encoder),
            "label_names": list(self.label_names),
            "num_frames": self.num_frames,
            "embedder_spec": self.embedder_spec,
            "image_size": self.image_size,
        }

    @classmethod
    def from_config(cls, config: dict) -> EndToEndClassifier:
        config = dict(config)
        config["head"] = keras.saving.deserialize_keras_object(config["head"])
        if config.get("image_encoder") is not None:
            config["image_encoder"] = keras.saving.deserialize_keras_object(config["image_encoder"])
        return cls(**config)
