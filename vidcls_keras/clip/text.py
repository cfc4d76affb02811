"""Texts -> CLIP text embeddings: the text tower that matches `clip.FrameEmbedder`.

    tokenize   list of str                        -> token ids (n, context_length) int32
    encode     token ids                          -> projected EOS features (n, embed_dim)

`TextEmbedder.embed` returns what OpenAI's `model.encode_text` returns: projected and **not**
L2-normalized, so cosine similarity with `FrameEmbedder.embed` outputs is the CLIP score.

The weights live in KerasCV's `CLIPTextEncoder` (`keras_cv.models.CLIP(...).text_encoder`); this
module changes three things about it, each checked against Hugging Face's `CLIPTextModel` by
`tests/test_clip_text.py` (max relative error <= 1e-4):

1. **Causal attention mask.** KerasCV 0.9 builds `ops.triu(ops.ones(...))` and *adds* it to the
   attention scores: future tokens get a +1 bias instead of being masked, so every token sees the
   whole prompt. OpenAI and Hugging Face mask future tokens (KerasCV's own golden-value test is an
   `xfail` "KerasCV CLIP doesn't match the HF model"). `CausalCLIPTextEncoder` overrides `call()`
   with the OpenAI mask (0 on and below the diagonal, -1e9 above).
2. **Final LayerNorm epsilon.** KerasCV's `ln_final` uses Keras' default epsilon 1e-3; OpenAI and
   Hugging Face use 1e-5 (a real but small difference; it matters for small activations).
3. **EOS pooling.** KerasCV pools at `argmax(token_ids)`, OpenAI's rule, which is the end token only
   when that token has the largest id (true for OpenAI's vocabulary). We pool at the first end
   token, Hugging Face's rule, which is the same position for OpenAI's vocabulary and also right for
   any other vocabulary.

Tokenization uses `keras_hub.models.CLIPTokenizer`, which reads the same `vocab.json`/`merges.txt`
and tokenizes exactly like Hugging Face's `CLIPTokenizer` (NFC, whitespace collapsed, lower-cased,
one token per digit, `</w>` on every word; 0 differences from HF on the 10,797 titles,
descriptions and categories of the real youtube.csv with OpenAI's vocabulary). KerasCV's own
`CLIPTokenizer`/`CLIPProcessor` cannot be used: with the keras-hub this project installs (0.32) they
fail with `'CLIPTokenizer' object has no attribute '_transform_bytes'`, and by their source they
split differently from OpenAI/HF anyway (`</w>` only after letters, digit runs kept whole).
Prompts are packed as `<|startoftext|> tokens[: context_length - 2] <|endoftext|>` (longer prompts
are cut, as `clip.tokenize(..., truncate=True)` and HF's `truncation=True` do) and padded with 0.

Spec strings are FrameEmbedder's, so a dataset's recorded image embedder spec gives its text tower:
"preset:NAME_OR_DIR", "hf:/abs/dir", "tiny:SEED".
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
from collections.abc import Iterable, Sequence

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from keras_cv.models.feature_extractor import CLIPTextEncoder  # noqa: E402

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
DEFAULT_PRESET = "clip-vit-base-patch32"
# Where KerasCV's own CLIP tests download OpenAI's BPE files (used when a preset has none).
KERAS_CV_VOCABULARY_URL = "https://storage.googleapis.com/keras-cv/models/clip/vocab.json"
KERAS_CV_MERGES_URL = "https://storage.googleapis.com/keras-cv/models/clip/merges.txt"
VOCABULARY_FILENAME = "vocab.json"
MERGES_FILENAME = "merges.txt"

# Sizes of `TextEmbedder.tiny`; `embed_dim` must equal `FrameEmbedder.tiny`'s.
TINY_EMBED_DIM = 16
TINY_WIDTH = 32
TINY_LAYERS = 2
TINY_HEADS = 2
TINY_CONTEXT_LENGTH = 16
# Words the tiny vocabulary spells as single tokens (everything else falls back to single bytes).
TINY_WORDS = (
    "a",
    "video",
    "photo",
    "about",
    "of",
    "the",
    "and",
    "food",
    "art",
    "music",
    "travel",
    "history",
    "street",
    "in",
    "bangkok",
)


class TextEmbedderError(ValueError):
    """A text tower or its tokenizer cannot be built from the given files or spec."""


def _bytes_to_unicode() -> dict[int, str]:
    """OpenAI's reversible byte -> printable unicode character table (GPT-2 BPE)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(code) for code in characters], strict=True))


def _apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly merge the adjacent pair of lowest rank."""
    while len(symbols) > 1:
        pairs = [
            (ranks.get(pair, len(ranks)), index)
            for index, pair in enumerate(itertools.pairwise(symbols))
        ]
        rank, index = min(pairs)
        if rank == len(ranks):
            break
        symbols = symbols[:index] + [symbols[index] + symbols[index + 1]] + symbols[index + 2 :]
    return symbols


def tiny_vocabulary(words: Iterable[str] = TINY_WORDS) -> tuple[dict[str, int], list[str]]:
    """A small CLIP-style BPE vocabulary that spells each of `words` as one token.

    Laid out like OpenAI's: the 256 byte characters, the same with `</w>`, one token per merge, then
    `<|startoftext|>` and `<|endoftext|>` last (so the end token has the largest id, as in OpenAI's
    vocabulary). Any text tokenizes: unknown words fall back to shorter pieces and single bytes.

    Args:
        words: lower-case words. For each, merge rules are appended (lowest priority) until BPE
            with all rules so far turns the word into a single token.

    Returns:
        `(vocabulary, merges)`: token -> id, and merge rules "a b" in priority order.
    """
    byte_to_character = _bytes_to_unicode()
    byte_characters = list(byte_to_character.values())
    tokens = byte_characters + [character + "</w>" for character in byte_characters]
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        encoded = "".join(byte_to_character[byte] for byte in word.lower().encode("utf-8"))
        symbols = list(encoded[:-1]) + [encoded[-1] + "</w>"]
        while len(pieces := _apply_merges(symbols, ranks)) > 1:
            # The new rule ranks last, so BPE reaches `pieces` first and then applies it.
            ranks[(pieces[0], pieces[1])] = len(ranks)
            tokens.append(pieces[0] + pieces[1])
    tokens += [START_TOKEN, END_TOKEN]
    merges = [f"{first} {second}" for first, second in ranks]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_vocabulary(
    directory: str | os.PathLike, vocabulary: dict[str, int], merges: Sequence[str]
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes `vocab.json` and `merges.txt` (OpenAI/HF format, `#version` header) to `directory`.

    Returns:
        The two paths written.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary_path = directory / VOCABULARY_FILENAME
    merges_path = directory / MERGES_FILENAME
    vocabulary_path.write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "".join(f"{m}\n" for m in merges), encoding="utf-8")
    return vocabulary_path, merges_path


def _read_merges(path: pathlib.Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#version")]


def _read_tokenizer_files(directory: pathlib.Path) -> tuple[dict[str, int], list[str]] | None:
    """`vocab.json` + `merges.txt`, else `tokenizer.json` (what transformers 5 saves), else None."""
    # OpenAI/HF names at the top, or keras-hub's tokenizer asset layout.
    for folder, vocabulary_name in (
        (directory, VOCABULARY_FILENAME),
        (directory / "assets" / "tokenizer", VOCABULARY_FILENAME),
        (directory / "assets" / "tokenizer", "vocabulary.json"),
    ):
        vocabulary_path = folder / vocabulary_name
        merges_path = folder / MERGES_FILENAME
        if vocabulary_path.is_file() and merges_path.is_file():
            vocabulary = json.loads(vocabulary_path.read_text(encoding="utf-8"))
            return vocabulary, _read_merges(merges_path)
    tokenizer_path = directory / "tokenizer.json"
    if tokenizer_path.is_file():
        model = json.loads(tokenizer_path.read_text(encoding="utf-8"))["model"]
        if model.get("type") != "BPE":
            raise TextEmbedderError(
                f"{tokenizer_path}: expected a BPE tokenizer, found {model.get('type')!r}; "
                "save a CLIP tokenizer there (CLIPTokenizer.save_pretrained)."
            )
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        return dict(model["vocab"]), merges
    return None


def _make_tokenizer(vocabulary: dict[str, int], merges: Sequence[str]):
    """keras-hub's CLIPTokenizer (same normalization and pre-splitting as HF's)."""
    for token in (START_TOKEN, END_TOKEN):
        if token not in vocabulary:
            raise TextEmbedderError(
                f"the CLIP vocabulary has no {token!r} token; it must be a CLIP vocab.json."
            )
    return keras_hub.models.CLIPTokenizer(vocabulary=dict(vocabulary), merges=list(merges))


@keras.saving.register_keras_serializable(package="vidcls_keras")
class CausalCLIPTextEncoder(CLIPTextEncoder):
    """KerasCV's `CLIPTextEncoder` with OpenAI's causal mask, LayerNorm epsilon and EOS pooling.

    Same layers and weights as the parent, so weights copy over 1:1; the module docstring says what
    `call()` fixes.

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


_INITIALIZER_ATTRIBUTES = (
    "kernel_initializer",
    "bias_initializer",
    "embeddings_initializer",
    "gamma_initializer",
    "beta_initializer",
)


def _build_encoder(**kwargs) -> CausalCLIPTextEncoder:
    """A built `CausalCLIPTextEncoder` with zero weights, for the caller to overwrite.

    Zeros instead of KerasCV's random initializers: under JAX every random initializer compiles
    once per weight shape (seconds), and every constructor here replaces all weights anyway.
    """
    encoder = CausalCLIPTextEncoder(**kwargs)
    for layer in encoder._flatten_layers(include_self=False):
        for attribute in _INITIALIZER_ATTRIBUTES:
            if hasattr(layer, attribute):
                setattr(layer, attribute, keras.initializers.Zeros())
    encoder.build((None, kwargs["context_length"]))
    return encoder


def _length_bucket(longest: int, context_length: int) -> int:
    """Token columns a batch keeps: the longest prompt rounded up to 16, at most the context."""
    return min(context_length, -(-longest // 16) * 16)


def _row_bucket(rows: int, batch_size: int) -> int:
    """Rows a batch is padded to: a power of two >= 8, at most `batch_size` (few jit shapes)."""
    return min(batch_size, max(8, 1 << max(rows - 1, 0).bit_length()))


def _assign(layer: keras.layers.Layer, arrays: Sequence[np.ndarray], source: str) -> None:
    """`layer.set_weights(arrays)`, with an error naming the checkpoint tensor on a mismatch."""
    expected = [tuple(weight.shape) for weight in layer.weights]
    received = [tuple(array.shape) for array in arrays]
    if expected != received:
        raise TextEmbedderError(
            f"checkpoint tensor {source}: shapes {received} do not fit layer {layer.name} "
            f"{expected}; is config.json the one saved with these weights?"
        )
    layer.set_weights(list(arrays))


def _read_safetensors(directory: pathlib.Path, prefixes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Tensors whose names start with one of `prefixes`, from (possibly sharded) safetensors."""
    from safetensors import safe_open

    index_path = directory / "model.safetensors.index.json"
    if index_path.is_file():
        weight_map = json.loads(index_path.read_text())["weight_map"]
        files = sorted({directory / name for name in weight_map.values()})
    else:
        files = [directory / "model.safetensors"]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise TextEmbedderError(
            f"{directory}: no safetensors weights ({', '.join(missing)} missing); save the "
            "checkpoint with CLIPModel.save_pretrained(..., safe_serialization=True)."
        )
    tensors = {}
    for path in files:
        with safe_open(str(path), framework="np") as weights:
            for name in weights.keys():
                if name.startswith(prefixes):
                    tensors[name] = np.asarray(weights.get_tensor(name), dtype=np.float32)
    return tensors


def _load_hf_text_weights(encoder: CausalCLIPTextEncoder, tensors: dict[str, np.ndarray]) -> None:
    """Copies HF `CLIPModel`/`CLIPTextModelWithProjection` text weights into `encoder`.

    torch `Linear` stores `(out, in)`; Keras `Dense` kernels are `(in, out)`: transposed.
    """
    remaining = dict(tensors)
    remaining.pop("text_model.embeddings.position_ids", None)  # a buffer in older checkpoints

    def take(name: str) -> np.ndarray:
        if name not in remaining:
            raise TextEmbedderError(
                f"checkpoint has no tensor {name}; expected a CLIPModel or "
                "CLIPTextModelWithProjection saved with save_pretrained."
            )
        return remaining.pop(name)

    def dense(layer: keras.layers.Layer, name: str) -> None:
        _assign(layer, [take(f"{name}.weight").T, take(f"{name}.bias")], name)

    def norm(layer: keras.layers.Layer, name: str) -> None:
        _assign(layer, [take(f"{name}.weight"), take(f"{name}.bias")], name)

    prefix = "text_model"
    name = f"{prefix}.embeddings.token_embedding.weight"
    _assign(encoder.token_embedding, [take(name)], name)
    name = f"{prefix}.embeddings.position_embedding.weight"
    _assign(encoder.positional_embedding, [take(name)], name)
    for index, block in enumerate(encoder.encoder.resblocks):
        layer = f"{prefix}.encoder.layers.{index}"
        for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
            dense(getattr(block.attn, projection), f"{layer}.self_attn.{projection}")
        norm(block.ln_1, f"{layer}.layer_norm1")
        dense(block.mlp_dense_1, f"{layer}.mlp.fc1")
        dense(block.mlp_dense_2, f"{layer}.mlp.fc2")
        norm(block.ln_2, f"{layer}.layer_norm2")
    norm(encoder.ln_final, f"{prefix}.final_layer_norm")
    name = "text_projection.weight"
    _assign(encoder.text_projector, [take(name).T], name)
    if remaining:
        raise TextEmbedderError(
            f"checkpoint text tensors not converted: {sorted(remaining)[:5]}; the text tower "
            "has more layers than config.json says."
        )


def _hf_text_config(directory: pathlib.Path) -> tuple[dict, int]:
    """`(text_config, projection_dim)` from a CLIPModel or CLIPTextModelWithProjection config."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise TextEmbedderError(
            f"{directory}: no config.json; pass a directory written by "
            "CLIPModel.save_pretrained (or CLIPTextModelWithProjection.save_pretrained)."
        )
    config = json.loads(config_path.read_text())
    if "text_config" in config:  # CLIPModel
        text_config = config["text_config"]
        projection_dim = config.get("projection_dim", text_config.get("projection_dim", 512))
    else:  # CLIPTextModelWithProjection
        text_config = config
        projection_dim = config.get("projection_dim", 512)
    defaults = {
        "vocab_size": 49408,
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }
    text_config = {**defaults, **text_config}
    if text_config["hidden_act"] != "quick_gelu":
        raise TextEmbedderError(
            f"{config_path}: hidden_act={text_config['hidden_act']!r}, but KerasCV's CLIP text "
            "encoder only implements quick_gelu (OpenAI's CLIP models use it)."
        )
    if text_config["intermediate_size"] != 4 * text_config["hidden_size"]:
        raise TextEmbedderError(
            f"{config_path}: intermediate_size={text_config['intermediate_size']} is not "
            f"4 * hidden_size ({4 * text_config['hidden_size']}), the only MLP width KerasCV's "
            "CLIP text encoder builds."
        )
    return text_config, int(projection_dim)


class TextEmbedder:
    """CLIP text tower: prompts -> projected text embeddings (OpenAI `encode_text`).

    Build it with `from_preset`, `from_hf`, `tiny` or `from_spec`, like `clip.FrameEmbedder`.

    Args:
        text_encoder: a built `CausalCLIPTextEncoder`.
        vocabulary: BPE token -> id (`vocab.json`).
        merges: BPE merge rules "a b" in priority order (`merges.txt`).
        spec: the string `from_spec` rebuilds this embedder from ("" when there is none, e.g. a
            `tiny` embedder with a custom vocabulary).

    Raises:
        TextEmbedderError: when the tokenizer and the encoder do not belong together.
    """

    def __init__(
        self,
        text_encoder: CausalCLIPTextEncoder,
        vocabulary: dict[str, int],
        merges: Sequence[str],
        spec: str,
    ) -> None:
        self._text_encoder = text_encoder
        self._tokenizer = _make_tokenizer(vocabulary, merges)
        self._spec = spec
        if text_encoder.end_token_id != self._tokenizer.end_token_id:
            raise TextEmbedderError(
                f"text encoder pools at token id {text_encoder.end_token_id} but the tokenizer's "
                f"{END_TOKEN} is {self._tokenizer.end_token_id}; build both from one checkpoint."
            )
        if max(vocabulary.values()) >= text_encoder.vocab_size:
            # An id past the embedding table would be clamped silently by JAX, not rejected.
            raise TextEmbedderError(
                f"the vocabulary has ids up to {max(vocabulary.values())} but the text encoder "
                f"embeds only {text_encoder.vocab_size} tokens; build both from one checkpoint."
            )

    @classmethod
    def from_preset(cls, name_or_dir: str | os.PathLike = DEFAULT_PRESET) -> TextEmbedder:
        """The text tower of a KerasCV CLIP preset: a name (downloaded) or a local directory.

        A name is one of `keras_cv.models.CLIP.presets`, fetched from Kaggle by
        `keras_cv.models.CLIP.from_preset` (internet needed once). A local directory is a KerasCV
        CLIP preset (`config.json` with `"registered_name": "keras_cv>CLIP"` +
        `model.weights.h5`), e.g. a copy of kagglehub's cache folder; an image-encoder-only
        folder written by `FrameEmbedder.save_preset` has no text tower and is refused.

        The BPE files come from the directory (`vocab.json` + `merges.txt`, also looked for under
        `assets/tokenizer/`), else are downloaded: keras-hub's CLIP tokenizer preset of the same
        name, else the files KerasCV's own CLIP tests use.

        Args:
            name_or_dir: a KerasCV CLIP preset name or a local preset directory.

        Returns:
            A `TextEmbedder` with spec "preset:NAME" or "preset:/absolute/dir" (as
            `FrameEmbedder.from_preset` names the same preset).

        Raises:
            TextEmbedderError: the preset cannot be loaded, has no text tower, or its vocabulary
                can be neither found nor downloaded.
        """
        import keras_cv

        local = pathlib.Path(name_or_dir).expanduser()
        if local.is_dir():
            local = local.resolve()
            _check_clip_preset_directory(local)
            target = str(local)
        else:
            target = os.fspath(name_or_dir)
        try:
            clip_model = keras_cv.models.CLIP.from_preset(target)
        except Exception as error:  # kagglehub and Keras raise many kinds; the advice is the same
            raise TextEmbedderError(
                f"could not load KerasCV CLIP preset {target!r} ({type(error).__name__}: "
                f"{error}). Without internet access, pass a local KerasCV CLIP preset directory "
                "(a copy of ~/.cache/kagglehub/models/keras/clip/keras/<name>/<version>/ made "
                "where internet works, with vocab.json and merges.txt added) or a Hugging Face "
                "CLIP checkpoint ('hf:/path/to/dir')."
            ) from error
        source = clip_model.text_encoder
        tokenizer_files = _read_tokenizer_files(local) if local.is_dir() else None
        if tokenizer_files is None:
            tokenizer_files = _fetch_keras_cv_vocabulary(target)
        vocabulary, merges = tokenizer_files
        encoder = _build_encoder(
            transformer_width=source.transformer_width,
            transformer_layers=source.transformer_layers,
            transformer_heads=source.transformer_heads,
            vocab_size=source.vocab_size,
            embed_dim=source.embed_dim,
            context_length=source.context_length,
            end_token_id=vocabulary[END_TOKEN],
        )
        for name in ("token_embedding", "positional_embedding", "encoder", "ln_final"):
            _assign(getattr(encoder, name), getattr(source, name).get_weights(), name)
        _assign(encoder.text_projector, source.text_projector.get_weights(), "text_projector")
        return cls(encoder, vocabulary, merges, spec=f"preset:{target}")

    @classmethod
    def from_hf(cls, directory: str | os.PathLike) -> TextEmbedder:
        """Hugging Face checkpoint directory (`CLIPModel.save_pretrained` or the Hub snapshot).

        Reads `config.json`, the text tensors of `model.safetensors` (sharded too) and the
        tokenizer: `vocab.json` + `merges.txt` when present, else `tokenizer.json` (transformers 5
        `CLIPTokenizer.save_pretrained` writes only that).

        Raises:
            TextEmbedderError: on a missing file, a non-quick_gelu model, or mismatched tensors.
        """
        directory = pathlib.Path(directory).resolve()
        text_config, projection_dim = _hf_text_config(directory)
        tokenizer_files = _read_tokenizer_files(directory)
        if tokenizer_files is None:
            raise TextEmbedderError(
                f"{directory}: no tokenizer (vocab.json + merges.txt, or tokenizer.json); save "
                "it there with CLIPTokenizer.save_pretrained (or CLIPProcessor.save_pretrained)."
            )
        vocabulary, merges = tokenizer_files
        encoder = _build_encoder(
            transformer_width=text_config["hidden_size"],
            transformer_layers=text_config["num_hidden_layers"],
            transformer_heads=text_config["num_attention_heads"],
            vocab_size=text_config["vocab_size"],
            embed_dim=projection_dim,
            context_length=text_config["max_position_embeddings"],
            end_token_id=vocabulary.get(END_TOKEN),
            layer_norm_epsilon=text_config["layer_norm_eps"],
        )
        tensors = _read_safetensors(directory, ("text_model.", "text_projection."))
        _load_hf_text_weights(encoder, tensors)
        return cls(encoder, vocabulary, merges, spec=f"hf:{directory}")

    @classmethod
    def tiny(
        cls,
        seed: int = 0,
        words: Iterable[str] = TINY_WORDS,
        embed_dim: int = TINY_EMBED_DIM,
    ) -> TextEmbedder:
        """A tiny random text tower with a tiny vocabulary (`tiny_vocabulary(words)`), for tests.

        Weights are drawn from `numpy.random.default_rng(seed)`: the same seed gives the same
        embedder, whatever Keras' global seed is.
        """
        vocabulary, merges = tiny_vocabulary(words)
        encoder = _build_encoder(
            transformer_width=TINY_WIDTH,
            transformer_layers=TINY_LAYERS,
            transformer_heads=TINY_HEADS,
            vocab_size=len(vocabulary),
            embed_dim=embed_dim,
            context_length=TINY_CONTEXT_LENGTH,
            end_token_id=vocabulary[END_TOKEN],
        )
        rng = np.random.default_rng(seed)
        weights = []
        for weight in encoder.weights:
            shape = tuple(weight.shape)
            if weight.path.endswith("gamma"):
                weights.append(1.0 + 0.1 * rng.standard_normal(shape))
            else:
                weights.append(0.2 * rng.standard_normal(shape))
        encoder.set_weights([array.astype(np.float32) for array in weights])
        spec = f"tiny:{seed}" if tuple(words) == TINY_WORDS and embed_dim == TINY_EMBED_DIM else ""
        return cls(encoder, vocabulary, merges, spec=spec)

    @classmethod
    def from_spec(cls, spec: str) -> TextEmbedder:
        """Rebuilds the text tower named by an embedder spec (FrameEmbedder's spec strings).

        Args:
            spec: "preset:NAME_OR_DIR", "hf:/abs/dir" or "tiny:SEED".

        Raises:
            TextEmbedderError: for any other form.
        """
        kind, _, argument = spec.partition(":")
        if kind == "preset" and argument:
            return cls.from_preset(argument)
        if kind == "hf" and argument:
            return cls.from_hf(argument)
        if kind == "tiny" and argument.lstrip("-").isdigit():
            return cls.tiny(int(argument))
        raise TextEmbedderError(
            f"embedder spec {spec!r}: expected 'preset:NAME_OR_DIR', 'hf:/abs/dir' or 'tiny:SEED'."
        )

    @property
    def spec(self) -> str:
        """The string `from_spec` rebuilds this embedder from ("" for a custom tiny one)."""
        return self._spec

    @property
    def embed_dim(self) -> int:
        return int(self._text_encoder.embed_dim)

    @property
    def context_length(self) -> int:
        return int(self._text_encoder.context_length)

    @property
    def text_encoder(self) -> CausalCLIPTextEncoder:
        """Token ids `(batch, context_length)` int32 -> `(batch, embed_dim)` float32."""
        return self._text_encoder

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """BPE ids of each text, without start/end tokens and untruncated (HF's tokenization)."""
        if isinstance(texts, str):
            raise TypeError("token_ids takes a list of strings; wrap a single text in a list.")
        if not texts:
            return []
        return [[int(token) for token in ids] for ids in self._tokenizer(list(texts))]

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Packs texts as `<|startoftext|> ids[: context_length - 2] <|endoftext|>`, 0-padded.

        Returns:
            `(token_ids, padding_mask)`: int32 and bool `(len(texts), context_length)`; the mask is
            True on real tokens.
        """
        rows = self.token_ids(texts)
        start, end = self._tokenizer.start_token_id, self._tokenizer.end_token_id
        token_ids = np.zeros((len(rows), self.context_length), np.int32)
        padding_mask = np.zeros((len(rows), self.context_length), bool)
        for row, ids in enumerate(rows):
            packed = [start, *ids[: self.context_length - 2], end]
            token_ids[row, : len(packed)] = packed
            padding_mask[row, : len(packed)] = True
        return token_ids, padding_mask

    def embed(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Projected, un-normalized text embeddings, as OpenAI's `encode_text`.

        Args:
            texts: n strings.
            batch_size: prompts per forward pass.

        Returns:
            float32 `(n, embed_dim)`.
        """
        token_ids, padding_mask = self.tokenize(texts)
        outputs = [np.zeros((0, self.embed_dim), np.float32)]
        for begin in range(0, len(token_ids), batch_size):
            ids = token_ids[begin : begin + batch_size]
            mask = padding_mask[begin : begin + batch_size]
            rows = len(ids)
            # Under the causal mask, padding after the end token cannot change the pooled
            # features, so columns past the longest prompt are cut (prompts are ~10 of 77 tokens).
            # Eager calls with rows and columns padded to a few fixed sizes: JAX compiles each
            # operation once per shape and reuses it across calls and models, where a jitted
            # predict function would recompile for every new model.
            length = _length_bucket(int(mask.sum(axis=1).max()), self.context_length)
            row_padding = [(0, _row_bucket(rows, batch_size) - rows), (0, 0)]
            features = self._text_encoder(
                np.pad(ids[:, :length], row_padding),
                attention_mask=np.pad(mask[:, :length], row_padding, constant_values=True),
            )
            outputs.append(np.asarray(ops.convert_to_numpy(features), np.float32)[:rows])
        return np.concatenate(outputs)


def _check_clip_preset_directory(directory: pathlib.Path) -> None:
    """Refuses a preset folder that holds no KerasCV CLIP (so no text tower)."""
    try:
        registered_name = json.loads((directory / "config.json").read_text())["registered_name"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TextEmbedderError(
            f"{directory}: not a KerasCV preset directory (config.json: {error}); expected "
            "config.json + model.weights.h5 of a keras_cv.models.CLIP."
        ) from error
    if registered_name != "keras_cv>CLIP":
        raise TextEmbedderError(
            f"{directory}: holds a {registered_name!r}, not a full KerasCV CLIP, so it has no "
            "text tower (a FrameEmbedder.save_preset folder holds only the image encoder). Pass "
            "the text tower of the same CLIP: --text-embedder preset:<KerasCV CLIP preset dir> "
            "or hf:<checkpoint dir>."
        )


def _fetch_keras_cv_vocabulary(name: str) -> tuple[dict[str, int], list[str]]:
    """OpenAI's BPE files for a named preset, downloaded once.

    First keras-hub's CLIP tokenizer preset of the same name (Kaggle, "clip-vit-base-patch32" ->
    "clip_vit_base_patch32"), then the files KerasCV's own CLIP tests download.
    """
    problems = []
    try:
        tokenizer = keras_hub.models.CLIPTokenizer.from_preset(name.replace("-", "_"))
        merges = [rule for rule in tokenizer.merges if rule.strip() and "#version" not in rule]
        return dict(tokenizer.vocabulary), merges
    except Exception as error:  # any download or lookup failure: try the next source
        problems.append(f"keras-hub preset: {type(error).__name__}: {error}")
    try:
        vocabulary_path = keras.utils.get_file(None, KERAS_CV_VOCABULARY_URL)
        merges_path = keras.utils.get_file(None, KERAS_CV_MERGES_URL)
    except Exception as error:  # any download failure gets the same advice
        problems.append(f"{KERAS_CV_VOCABULARY_URL}: {type(error).__name__}: {error}")
        raise TextEmbedderError(
            f"preset {name!r}: the CLIP vocabulary is not in the preset and could not be "
            f"downloaded ({'; '.join(problems)}). Put vocab.json and merges.txt (from any "
            "Hugging Face CLIP checkpoint, or the URLs above) into a local preset directory and "
            "pass that directory, or use an 'hf:' spec."
        ) from error
    vocabulary = json.loads(pathlib.Path(vocabulary_path).read_text(encoding="utf-8"))
    return vocabulary, _read_merges(pathlib.Path(merges_path))
