"""Fine-tuning end to end: the CLIP image tower on every frame + the temporal transformer head.

    pixels (B, T, 224, 224, 3) --TunableCLIPImageEncoder per frame--> embeddings (B, T, D)
    embeddings + padding_mask (B, T) --transformer head (models.transformer)--> logits (B, C)

`python -m vidcls_keras.train --model finetune --dataset video_folder/clips16` trains it on a clip
dataset (`data.make_batches(inputs="clips")`: CLIP-normalised, augmented pixels). What trains in
the tower is one of three modes (plus a frozen tower, for comparison):

- **LoRA** (`lora_rank=R > 0`, the default R=8): Keras's `Dense.enable_lora(R)` on every `Dense`
  of the tower's residual blocks (attention q/k/v/out, MLP c_fc/c_proj); only the low-rank
  adapters `lora_kernel_a`/`lora_kernel_b` and the head train (kernels, biases, norms and
  embeddings of the tower are frozen). `merge_lora(model)` folds the adapters into the kernels and
  returns a plain model with the same outputs, for export.
- **last N blocks** (`unfreeze_blocks=N`): the last N residual blocks, the final LayerNorm and
  the projection train; the patch embedding and the earlier blocks stay frozen.
- **full** (`full=True`): every tower weight trains.
- frozen (`lora_rank=0`, no other mode): only the head trains (frozen features, for the bench).

The tower learns at a lower rate than the head: Keras 3 has no per-variable learning rate, and
scaling the tower's gradients instead would do nothing under Adam (its update is invariant to the
gradient's scale), so `FineTuneAdam` multiplies the learning rate itself, per variable, for the
tower's variables (`encoder_learning_rate / learning_rate`); its gradients are clipped to a global
norm first (`clip_norm`, Keras's `global_clipnorm`). The builder compiles the model with it, and
`training.trainer.compile_model` keeps a builder's optimizer.

Saving: Keras's own `Dense` saves a LoRA layer as its *merged* kernel and zeroes the adapters on
load, which would leave a reloaded (or resumed) run with `a = b = 0`, whose gradients are zero:
the adapters could never train again. The tower's LoRA layers here save the kernel, bias and both
adapters as they are, so a `.keras` file (and a run's backup) reloads to the same trainable model,
bit for bit; `merge_lora` gives the plain model for export.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras
import numpy as np

from vidcls_keras._compat.keras_cv import SavableCLIPImageEncoder
from vidcls_keras.errors import VidclsError
from vidcls_keras.models.end_to_end import FrameEncoder
from vidcls_keras.models.layers import check_rate, check_sizes
from vidcls_keras.models.transformer import transformer_classifier

__all__ = [
    "DEFAULT_CLIP_NORM",
    "DEFAULT_ENCODER_LEARNING_RATE",
    "DEFAULT_LORA_RANK",
    "TOWER_NAME",
    "FineTuneAdam",
    "FineTuneError",
    "TunableCLIPImageEncoder",
    "finetune_classifier",
    "finetune_mode",
    "is_clips_model",
    "merge_lora",
]

DEFAULT_LORA_RANK = 8
DEFAULT_ENCODER_LEARNING_RATE = 1e-5
DEFAULT_CLIP_NORM = 1.0
# The tower's name in the model; FineTuneAdam finds the tower's variables by this path segment.
TOWER_NAME = "image_tower"
_ADAPTERS = ("lora_kernel_a", "lora_kernel_b")


class FineTuneError(VidclsError):
    """Fine-tuning settings that do not go together, or a tower that cannot be fine-tuned."""


def finetune_mode(lora_rank: int, unfreeze_blocks: int, full: bool) -> str:
    """The tower's training mode: `"full"`, `"blocks"`, `"lora"` or `"frozen"`.

    `full` and `unfreeze_blocks > 0` win over `lora_rank` (which has a default); asking for both
    of them is refused.
    """
    if full and unfreeze_blocks:
        raise FineTuneError(
            f"--full trains every block, --unfreeze-blocks {unfreeze_blocks} only the last ones: "
            "pass one of them."
        )
    if full:
        return "full"
    if unfreeze_blocks:
        return "blocks"
    return "lora" if lora_rank else "frozen"


def _save_lora_dense(layer: keras.layers.Dense, store) -> None:
    """A LoRA `Dense`'s variables as they are (kernel unmerged, bias, adapter a, adapter b)."""
    for index, variable in enumerate(_lora_dense_variables(layer)):
        store[str(index)] = variable


def _load_lora_dense(layer: keras.layers.Dense, store) -> None:
    variables = _lora_dense_variables(layer)
    if len(store.keys()) != len(variables):
        raise ValueError(
            f"LoRA layer {layer.path!r} expects {len(variables)} saved variables (kernel, bias, "
            f"both adapters), the file has {len(store.keys())}: it was saved from another model."
        )
    for index, variable in enumerate(variables):
        variable.assign(store[str(index)])


def _lora_dense_variables(layer: keras.layers.Dense) -> list[keras.Variable]:
    bias = [] if layer.bias is None else [layer.bias]
    return [layer._kernel, *bias, layer.lora_kernel_a, layer.lora_kernel_b]


@keras.saving.register_keras_serializable(package="vidcls_keras")
class TunableCLIPImageEncoder(SavableCLIPImageEncoder):
    """KerasCV's CLIP image encoder with LoRA adapters and a choice of trainable weights.

    Same layers, call and outputs as `SavableCLIPImageEncoder` (`(N, S, S, 3)` CLIP-normalised
    pixels -> `(N, output_dim)`), plus, once built:

    Args:
        lora_rank: 0, or the rank of the LoRA adapters put on every `Dense` of the residual
            blocks (`Dense.enable_lora`; alpha = rank, Keras's default, so the scale is 1).
        trainable_blocks: which weights train: None = all of them; N >= 0 = the last N
            residual blocks with the final LayerNorm and projection (none for N = 0), plus the
            adapters. The choice is in the config, so a reloaded model trains the same weights.
        **kwargs: `SavableCLIPImageEncoder` arguments.
    """

    def __init__(self, *args, lora_rank: int = 0, trainable_blocks: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lora_rank = int(lora_rank)
        self.trainable_blocks = None if trainable_blocks is None else int(trainable_blocks)
        if self.lora_rank < 0:
            raise FineTuneError(f"lora_rank must be >= 0, got {lora_rank!r}.")
        if self.trainable_blocks is not None and not 0 <= self.trainable_blocks <= self.num_layers:
            raise FineTuneError(
                f"--unfreeze-blocks {trainable_blocks}: the tower has {self.num_layers} residual "
                f"blocks; pick 1 to {self.num_layers}, or --full."
            )

    def lora_layers(self) -> list[keras.layers.Dense]:
        """The `Dense` layers of the residual blocks (LoRA's targets), in block order."""
        return [
            layer
            for block in self.encoder.resblocks
            for layer in block._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.Dense)
        ]

    def build(self, input_shape) -> None:
        super().build(input_shape)
        if self.lora_rank:
            for layer in self.lora_layers():
                layer.enable_lora(self.lora_rank)
                # Saved as they are (see the module docstring), not merged as Keras's Dense does.
                layer.save_own_variables = functools.partial(_save_lora_dense, layer)
                layer.load_own_variables = functools.partial(_load_lora_dense, layer)
        self.set_trainable_weights()

    def set_trainable_weights(self) -> None:
        """Marks each variable trainable or frozen as `trainable_blocks` and `lora_rank` say.

        Called at build; call it again after setting `trainable` on the tower or its layers
        (Keras's setter marks every variable below the layer).
        """
        if self.trainable_blocks is None:
            trained_layers = [self]
        else:
            blocks = self.encoder.resblocks
            last = blocks[len(blocks) - self.trainable_blocks :] if self.trainable_blocks else []
            after = [self.post_norm, self.image_projector] if self.trainable_blocks else []
            trained_layers = [*last, *after]
        trained = {id(variable) for layer in trained_layers for variable in layer.weights}
        for variable in self.weights:
            variable.trainable = id(variable) in trained or variable.name in _ADAPTERS

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"lora_rank": self.lora_rank, "trainable_blocks": self.trainable_blocks})
        return config

    @classmethod
    def from_encoder(
        cls,
        encoder: keras.Model,
        lora_rank: int = 0,
        trainable_blocks: int | None = None,
        name: str = TOWER_NAME,
    ) -> TunableCLIPImageEncoder:
        """A copy of a built KerasCV CLIP image encoder (sizes, dtype, weights), made tunable."""
        tower = cls(
            input_resolution=encoder.input_resolution,
            patch_size=encoder.patch_size,
            width=encoder.width,
            num_layers=encoder.num_layers,
            heads=encoder.heads,
            output_dim=encoder.output_dim,
            name=name,
            dtype=encoder.dtype_policy,
            lora_rank=lora_rank,
            trainable_blocks=trainable_blocks,
        )
        resolution = encoder.input_resolution
        tower.build((None, resolution, resolution, 3))
        # The same variables in the same order, the adapters aside (they start as LoRA's init).
        targets = [v for v in tower.weights if v.name not in _ADAPTERS]
        for target, source in zip(targets, encoder.weights, strict=True):
            # A copy: JAX training donates the tower's buffers, which must not be the source's.
            target.assign(_to_numpy(source))
        return tower


@keras.saving.register_keras_serializable(package="vidcls_keras")
class FineTuneAdam(keras.optimizers.Adam):
    """Adam with a smaller learning rate for the image tower's variables than for the head's.

    Keras 3 optimizers have one learning rate; this one multiplies it by
    `tower_learning_rate_multiplier` in `update_step` for every variable whose path has the
    segment `tower_name` (`FrameEncoder/<tower_name>/...`). Scaling gradients instead would not
    work: Adam's step does not depend on the gradient's scale. Schedules scale both groups alike.

    Args:
        tower_name: the tower's layer name (`TOWER_NAME`).
        tower_learning_rate_multiplier: tower rate / head rate, e.g. 1e-5 / 1e-3 = 0.01.
        **kwargs: `keras.optimizers.Adam` arguments (`learning_rate` is the head's;
            `global_clipnorm` clips all gradients together, before the update).
    """

    def __init__(
        self,
        tower_name: str = TOWER_NAME,
        tower_learning_rate_multiplier: float = 1.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.tower_name = str(tower_name)
        self.tower_learning_rate_multiplier = float(tower_learning_rate_multiplier)

    def in_tower(self, variable: keras.Variable) -> bool:
        """Whether `variable` belongs to the tower (by its path)."""
        return self.tower_name in variable.path.split("/")

    def update_step(self, gradient, variable, learning_rate):
        if self.in_tower(variable):
            learning_rate = learning_rate * self.tower_learning_rate_multiplier
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "tower_name": self.tower_name,
                "tower_learning_rate_multiplier": self.tower_learning_rate_multiplier,
            }
        )
        return config


def _tower_from(encoder: str | keras.Model) -> keras.Model:
    if isinstance(encoder, keras.Model):
        return encoder
    from vidcls_keras.clip.image import FrameEmbedder  # the weights: only when building

    return FrameEmbedder.from_spec(encoder).image_encoder


def finetune_classifier(
    num_classes: int,
    max_frames: int,
    encoder: str | keras.Model | None = None,
    embedder_spec: str | None = None,
    lora_rank: int = DEFAULT_LORA_RANK,
    unfreeze_blocks: int = 0,
    full: bool = False,
    learning_rate: float = 1e-3,
    encoder_learning_rate: float = DEFAULT_ENCODER_LEARNING_RATE,
    clip_norm: float | None = DEFAULT_CLIP_NORM,
    num_layers: int = 1,
    num_heads: int = 8,
    intermediate_dim: int = 2048,
    dropout: float = 0.1,
) -> keras.Model:
    """CLIP image tower per frame + masked transformer head, compiled with `FineTuneAdam`.

    Args:
        num_classes: number of classes.
        max_frames: `T`, frames per clip (the `pixels` input's second axis).
        encoder: the tower's weights: an embedder spec (`"preset:clip-vit-base-patch32"`,
            `"hf:DIR"`, `"tiny:0"`) or a built KerasCV CLIP image encoder (copied, not changed).
            None: `embedder_spec`, else `clip.specs.DEFAULT_EMBEDDER`.
        embedder_spec: the dataset's recorded spec (clip datasets record none).
        lora_rank: LoRA rank (the default mode); 0 with no other mode freezes the tower.
        unfreeze_blocks: train the last N residual blocks (+ final norm and projection) instead.
        full: train the whole tower instead.
        learning_rate: the head's Adam learning rate.
        encoder_learning_rate: the tower's (adapters' in LoRA mode).
        clip_norm: clip all gradients to this global norm; 0 or None: no clipping.
        num_layers, num_heads, intermediate_dim, dropout: the head's, as `transformer_classifier`.

    Returns:
        A functional `keras.Model` named `finetune_classifier`, compiled with its optimizer
        only: `{"pixels": float32 (B, max_frames, S, S, 3)` CLIP-normalised, `"padding_mask":
        bool (B, max_frames)}` -> logits `(B, num_classes)`. The tower is the layer
        `TOWER_NAME` inside the `FrameEncoder` layer `frame_encoder`.
    """
    from vidcls_keras.clip.specs import DEFAULT_EMBEDDER

    check_sizes(num_classes=num_classes, max_frames=max_frames)
    check_rate("dropout", dropout)
    for name, value in (
        ("learning-rate", learning_rate),
        ("encoder-learning-rate", encoder_learning_rate),
    ):
        if not value > 0:
            raise FineTuneError(f"--{name} must be > 0, got {value!r}.")
    if clip_norm is not None and not clip_norm >= 0:
        raise FineTuneError(f"--clip-norm must be >= 0 (0: no clipping), got {clip_norm!r}.")
    mode = finetune_mode(lora_rank, unfreeze_blocks, full)
    source = _tower_from(encoder if encoder is not None else embedder_spec or DEFAULT_EMBEDDER)
    tower = TunableCLIPImageEncoder.from_encoder(
        source,
        lora_rank=lora_rank if mode == "lora" else 0,
        trainable_blocks={"full": None, "blocks": unfreeze_blocks}.get(mode, 0),
    )
    size = tower.input_resolution
    pixels = keras.Input((max_frames, size, size, 3), name="pixels")
    padding_mask = keras.Input((max_frames,), dtype="bool", name="padding_mask")
    embeddings = FrameEncoder(tower, name="frame_encoder")(pixels)
    head = transformer_classifier(
        num_classes,
        max_frames,
        embed_dim=tower.output_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
    )
    logits = head({"frames": embeddings, "padding_mask": padding_mask})
    model = keras.Model(
        {"pixels": pixels, "padding_mask": padding_mask}, logits, name="finetune_classifier"
    )
    model.compile(
        optimizer=FineTuneAdam(
            learning_rate=learning_rate,
            tower_learning_rate_multiplier=encoder_learning_rate / learning_rate,
            global_clipnorm=clip_norm or None,
        )
    )
    return model


# The trainer reads a builder's input kind here: clip datasets' augmented pixels + padding mask.
finetune_classifier.inputs = "clips"


def is_clips_model(model: keras.Model) -> bool:
    """Whether `model` reads whole clips, `{"pixels": (B, T, S, S, 3), "padding_mask"}`, and
    returns logits (a fine-tuned model, reloaded or not)."""
    names = getattr(model, "input_names", None) or [
        tensor.name for tensor in keras.tree.flatten(model.inputs)
    ]
    return set(names) == {"pixels", "padding_mask"} and any(
        isinstance(layer, FrameEncoder) and isinstance(layer.image_model, TunableCLIPImageEncoder)
        for layer in model.layers
    )


def _tower_configs_without_lora(config):
    """`config` with every `TunableCLIPImageEncoder`'s `lora_rank` set to 0 (a copy)."""
    if isinstance(config, dict):
        copy = {key: _tower_configs_without_lora(value) for key, value in config.items()}
        if copy.get("class_name") == "TunableCLIPImageEncoder":
            copy["config"] = {**copy["config"], "lora_rank": 0}
        return copy
    if isinstance(config, list):
        return [_tower_configs_without_lora(value) for value in config]
    return config


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, keras.Variable):
        value = value.value
    return np.array(keras.ops.convert_to_numpy(value))


def merge_lora(model: keras.Model) -> keras.Model:
    """The same model with each LoRA adapter folded into its kernel: `W + (alpha / r) A B`.

    Args:
        model: e.g. `finetune_classifier(..., lora_rank=8)` after training.

    Returns:
        A new, uncompiled model of the same architecture without adapters (its towers have
        `lora_rank=0`), whose outputs equal `model`'s within float rounding; `model` is left as
        it is. A model without adapters comes back as a plain copy.
    """
    config = _tower_configs_without_lora(keras.saving.serialize_keras_object(model))
    merged = keras.saving.deserialize_keras_object(config)
    sources = list(model._flatten_layers(include_self=False))
    targets = list(merged._flatten_layers(include_self=False))
    if [type(layer) for layer in sources] != [type(layer) for layer in targets]:
        raise FineTuneError(f"model {model.name!r} did not rebuild to the same layers.")
    for source, target in zip(sources, targets, strict=True):
        store: dict = {}
        if isinstance(source, keras.layers.Dense) and source.lora_enabled:
            # Keras's own Dense.save_own_variables writes the merged kernel (and the bias).
            keras.layers.Dense.save_own_variables(source, store)
        else:
            source.save_own_variables(store)
        # Copies: JAX steps donate a model's buffers, so the two models must not share any.
        target.load_own_variables({key: _to_numpy(value) for key, value in store.items()})
    return merged


def trainable_parameter_count(model: keras.Model) -> int:
    """Parameters that training updates (`model.trainable_weights`)."""
    return int(sum(int(keras.ops.size(v)) for v in model.trainable_weights))


def tower_variables(model: keras.Model) -> Sequence[keras.Variable]:
    """The tower's variables (those `FineTuneAdam` gives the tower's learning rate)."""
    return [v for v in model.weights if TOWER_NAME in v.path.split("/")]
