"""Workarounds for KerasCV 0.9 (with keras-hub 0.32), each guarded by a canary test.

Every class or function here exists only because of an upstream bug, and
`tests/_compat/test_keras_cv.py` asserts that the bug is still there: the day a canary fails,
upstream fixed it, and the workaround (and its canary) can be deleted.

1. **`SavableCLIPImageEncoder`**: KerasCV's `CLIPImageEncoder.get_config()` writes the number of
   layers under `"layers"` while its constructor takes `num_layers`, so a model holding one saves
   to `.keras` but does not load back.
   Canary: `test_clip_image_encoder_config_still_does_not_reload`.
2. **`CausalCLIPTextEncoder`, the mask**: KerasCV's `CLIPTextEncoder` builds
   `ops.triu(ops.ones(...))` and *adds* it to the attention scores: future tokens get a +1 bias
   instead of being masked, so every token sees the whole prompt. OpenAI and Hugging Face mask
   future tokens (KerasCV's own golden-value test is an `xfail` "KerasCV CLIP doesn't match the
   HF model"). The subclass overrides `call()` with OpenAI's mask (0 on and below the diagonal,
   -1e9 above). Canary: `test_clip_text_encoder_still_attends_to_future_tokens`.
3. **`CausalCLIPTextEncoder`, the epsilon**: KerasCV's `ln_final` uses Keras' default epsilon 1e-3;
   OpenAI and Hugging Face use 1e-5. Canary: `test_clip_text_encoder_final_norm_epsilon_still_1e_3`.
   (Also a choice, not a bug: KerasCV pools at `argmax(token_ids)`, OpenAI's rule, which is the end
   token only when that token has the largest id; the subclass pools at the first end token,
   Hugging Face's rule, the same position for OpenAI's vocabulary and right for any other.)
4. **`clip_tokenizer`**: KerasCV's own `CLIPTokenizer` (and `CLIPProcessor`) crash with the
   keras-hub this project installs ("'CLIPTokenizer' object has no attribute
   '_transform_bytes'"), and by their source split differently from OpenAI/HF anyway (`</w>` only
   after letters, digit runs kept whole). keras-hub's `CLIPTokenizer` tokenizes exactly like
   Hugging Face's. Canary: `test_keras_cv_clip_tokenizer_still_crashes`.

Registered Keras names (`vidcls_keras>SavableCLIPImageEncoder`,
`vidcls_keras>CausalCLIPTextEncoder`) must not change: `.keras` files name them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
from keras import ops  # noqa: E402
from keras_cv.models.feature_extractor import CLIPImageEncoder, CLIPTextEncoder  # noqa: E402


@keras.saving.register_keras_serializable(package="vidcls_keras")
class SavableCLIPImageEncoder(CLIPImageEncoder):
    """KerasCV's `CLIPImageEncoder` with a config that `from_config` can read back.

    KerasCV 0.9's `CLIPImageEncoder.get_config()` writes the number of layers under the key
    `"layers"` while its constructor takes `num_layers`, so a model holding it saves to `.keras`
    but fails to load ("Unable to revive model from config"). This subclass writes `num_layers`
    and reads either key; weights, call and outputs are KerasCV's, unchanged.

    It also keeps a frozen encoder frozen when reloaded: KerasCV creates the sublayers after
    `keras.Model.__init__` has applied `trainable=False` from the config, which left every
    reloaded weight trainable; `__init__` applies it again to the sublayers.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The `trainable` setter reaches the sublayers KerasCV has created by now.
        self.trainable = self.trainable

    def get_config(self):
        config = super().get_config()
        config["num_layers"] = config.pop("layers")
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "layers" in config:
            config["num_layers"] = config.pop("layers")
        return cls(**config)

    @classmethod
    def from_encoder(cls, encoder: CLIPImageEncoder) -> SavableCLIPImageEncoder:
        """A copy of a KerasCV `CLIPImageEncoder` (same sizes, name, dtype and weights)."""
        copy = cls(
            input_resolution=encoder.input_resolution,
            patch_size=encoder.patch_size,
            width=encoder.width,
            num_layers=encoder.num_layers,
            heads=encoder.heads,
            output_dim=encoder.output_dim,
            name=encoder.name,
            dtype=encoder.dtype_policy,
        )
        resolution = encoder.input_resolution
        copy.build((None, resolution, resolution, 3))
        copy.set_weights(encoder.get_weights())
        return copy


@keras.saving.register_keras_serializable(package="vidcls_keras")
class CausalCLIPTextEncoder(CLIPTextEncoder):
    """KerasCV's `CLIPTextEncoder` with OpenAI's causal mask, LayerNorm epsilon and EOS pooling.

    Same layers and weights as the parent, so weights copy over 1:1; the module docstring says what
    `call()` fixes (workarounds 2 and 3) and what it chooses (EOS pooling).

    Args:
        end_token_id: id of `<|endoftext|>`; features are pooled at its first occurrence. None
            pools at `argmax(token_ids)` (OpenAI's rule).
        layer_norm_epsilon: epsilon of every LayerNorm (OpenAI and HF: 1e-5).
        **kwargs: `CLIPTextEncoder` arguments (`transformer_width`, `transformer_layers`,
            `transformer_heads`, `vocab_size`, `embed_dim`, `context_length`) and `keras.Model`
            ones.
    """

    def __init__(self, end_token_id=None, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.end_token_id = end_token_id
        self.layer_norm_epsilon = layer_norm_epsilon
        self.ln_final.epsilon = layer_norm_epsilon
        for block in self.encoder.resblocks:
            block.ln_1.epsilon = layer_norm_epsilon
            block.ln_2.epsilon = layer_norm_epsilon

    def call(self, inputs, attention_mask=None):
        """Token ids `(batch, length)`, `length <= context_length` -> `(batch, embed_dim)`.

        `attention_mask` (`(batch, length)`, True on real tokens) is optional: under the causal
        mask, padding after the end token cannot change the pooled features.
        """
        length = ops.shape(inputs)[1]
        positions = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
        hidden = self.token_embedding(inputs) + self.positional_embedding(positions)
        # Additive masks: 0 where attention is allowed, -1e9 where it is not.
        future = ops.triu(ops.ones((length, length), dtype=hidden.dtype), k=1)
        causal_mask = future * -1e9
        padding_mask = None
        if attention_mask is not None:
            real = ops.cast(attention_mask, hidden.dtype)[:, None, None, :]
            padding_mask = (1.0 - real) * -1e9
        hidden = self.encoder(
            hidden, causal_attention_mask=causal_mask, attention_mask=padding_mask
        )
        hidden = self.ln_final(hidden)
        if self.end_token_id is None:
            pool_at = ops.argmax(inputs, axis=-1)
        else:
            is_end = ops.cast(ops.equal(inputs, self.end_token_id), "int32")
            pool_at = ops.argmax(is_end, axis=-1)  # the first end token
        pool_at = ops.cast(pool_at, "int32")[:, None, None]
        pooled = ops.take_along_axis(hidden, pool_at, axis=1)[:, 0, :]
        return self.text_projector(pooled)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"end_token_id": self.end_token_id, "layer_norm_epsilon": self.layer_norm_epsilon}
        )
        return config


def clip_tokenizer(vocabulary: dict[str, int], merges: Sequence[str]):
    """keras-hub's `CLIPTokenizer` for a CLIP BPE vocabulary (KerasCV's crashes: workaround 4).

    Args:
        vocabulary: BPE token -> id (`vocab.json`).
        merges: BPE merge rules "a b" in priority order (`merges.txt`, without its header).

    Returns:
        A `keras_hub.models.CLIPTokenizer`: `tokenizer(list_of_str)` -> token ids per text.
    """
    import keras_hub

    return keras_hub.models.CLIPTokenizer(vocabulary=dict(vocabulary), merges=list(merges))
