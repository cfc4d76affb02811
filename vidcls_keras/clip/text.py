"""Texts -> CLIP text embeddings: the text tower that matches `clip.FrameEmbedder`.

    tokenize   list of str                        -> token ids (n, context_length) int32
    encode     token ids                          -> projected EOS features (n, embed_dim)

`TextEmbedder.embed` returns what OpenAI's `model.encode_text` returns: projected and **not**
L2-normalized, so cosine similarity with `FrameEmbedder.embed` outputs is the CLIP score.

The weights live in `CausalCLIPTextEncoder`, KerasCV's `CLIPTextEncoder` with OpenAI's causal
mask, LayerNorm epsilon and Hugging Face's EOS pooling (`vidcls_keras._compat.keras_cv` says why
each is needed); `tests/clip/test_text.py` checks it against Hugging Face's `CLIPTextModel` (max
relative error <= 1e-4). Tokenization is keras-hub's `CLIPTokenizer`
(`vidcls_keras.clip.tokenizer`), identical to Hugging Face's. Prompts are packed as
`<|startoftext|> tokens[: context_length - 2] <|endoftext|>` (longer prompts are cut, as
`clip.tokenize(..., truncate=True)` and HF's `truncation=True` do) and padded with 0.

Spec strings are FrameEmbedder's (`vidcls_keras.clip.specs`), so a dataset's recorded image
embedder spec gives its text tower: "preset:NAME_OR_DIR", "hf:/abs/dir", "tiny:SEED".
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterable, Iterator, Sequence

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from vidcls_keras._compat.keras_cv import CausalCLIPTextEncoder  # noqa: E402
from vidcls_keras.clip import convert_hf, presets  # noqa: E402
from vidcls_keras.clip.errors import CheckpointError, TextEmbedderError  # noqa: E402
from vidcls_keras.clip.specs import DEFAULT_PRESET, parse_embedder_spec  # noqa: E402
from vidcls_keras.clip.tiny import TINY_EMBED_DIM, randomize_weights  # noqa: E402
from vidcls_keras.clip.tokenizer import (  # noqa: E402  (re-exported: __all__)
    END_TOKEN,
    START_TOKEN,
    TINY_WORDS,
    make_tokenizer,
    read_tokenizer_files,
    tiny_vocabulary,
    write_vocabulary,
)

__all__ = [
    "DEFAULT_PRESET",
    "END_TOKEN",
    "START_TOKEN",
    "TINY_EMBED_DIM",
    "TINY_WORDS",
    "CausalCLIPTextEncoder",
    "TextEmbedder",
    "TextEmbedderError",
    "tiny_vocabulary",
    "write_vocabulary",
]

# Sizes of `TextEmbedder.tiny`; its embed_dim (TINY_EMBED_DIM) is `FrameEmbedder.tiny`'s.
TINY_WIDTH = 32
TINY_LAYERS = 2
TINY_HEADS = 2
TINY_CONTEXT_LENGTH = 16


@contextlib.contextmanager
def _as_text_error() -> Iterator[None]:
    """Reports a checkpoint or preset problem as the text tower's error."""
    try:
        yield
    except CheckpointError as error:
        raise TextEmbedderError(str(error)) from error


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
        self._tokenizer = make_tokenizer(vocabulary, merges)
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
        name, else the files KerasCV's own CLIP tests use (`vidcls_keras.clip.presets`).

        Args:
            name_or_dir: a KerasCV CLIP preset name or a local preset directory.

        Returns:
            A `TextEmbedder` with spec "preset:NAME" or "preset:/absolute/dir" (as
            `FrameEmbedder.from_preset` names the same preset).

        Raises:
            TextEmbedderError: the preset cannot be loaded, has no text tower, or its vocabulary
                can be neither found nor downloaded.
        """
        source, vocabulary, merges, spec = presets.load_text_encoder(name_or_dir)
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
        return cls(encoder, vocabulary, merges, spec=spec)

    @classmethod
    def from_hf(cls, directory: str | os.PathLike) -> TextEmbedder:
        """Hugging Face checkpoint directory (`CLIPModel.save_pretrained` or the Hub snapshot).

        Reads `config.json`, the text tensors of `model.safetensors` (sharded too;
        `vidcls_keras.clip.convert_hf`) and the tokenizer: `vocab.json` + `merges.txt` when
        present, else `tokenizer.json` (transformers 5 `CLIPTokenizer.save_pretrained` writes only
        that).

        Raises:
            TextEmbedderError: on a missing file, a non-quick_gelu model, or mismatched tensors.
        """
        directory = pathlib.Path(directory).expanduser().resolve()
        with _as_text_error():
            config = convert_hf.read_config(directory)
            sizes = convert_hf.convert_text_config(config)
        tokenizer_files = read_tokenizer_files(directory)
        if tokenizer_files is None:
            raise TextEmbedderError(
                f"{directory}: no tokenizer (vocab.json + merges.txt, or tokenizer.json); save "
                "it there with CLIPTokenizer.save_pretrained (or CLIPProcessor.save_pretrained)."
            )
        vocabulary, merges = tokenizer_files
        encoder = _build_encoder(**sizes, end_token_id=vocabulary.get(END_TOKEN))
        with _as_text_error():
            convert_hf.convert_text_weights(encoder, directory, config)
        return cls(encoder, vocabulary, merges, spec=f"hf:{directory}")

    @classmethod
    def tiny(
        cls,
        seed: int = 0,
        words: Iterable[str] = TINY_WORDS,
        embed_dim: int = TINY_EMBED_DIM,
    ) -> TextEmbedder:
        """A tiny random text tower with a tiny vocabulary (`tiny_vocabulary(words)`), for tests.

        Weights are drawn from `numpy.random.default_rng(seed)` (see
        `vidcls_keras.clip.tiny.randomize_weights`): the same seed gives the same embedder,
        whatever Keras' global seed is.
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
        randomize_weights(encoder, seed, scale=0.2, lecun_kernels=False)
        spec = f"tiny:{seed}" if tuple(words) == TINY_WORDS and embed_dim == TINY_EMBED_DIM else ""
        return cls(encoder, vocabulary, merges, spec=spec)

    @classmethod
    def from_spec(cls, spec: str) -> TextEmbedder:
        """Rebuilds the text tower named by an embedder spec (FrameEmbedder's spec strings).

        Args:
            spec: "preset:NAME_OR_DIR", "hf:/abs/dir" or "tiny:SEED".

        Raises:
            vidcls_keras.clip.specs.EmbedderSpecError: for any other form.
            TextEmbedderError: the text tower it names cannot be loaded.
        """
        parsed = parse_embedder_spec(spec)
        if parsed.kind == "preset":
            return cls.from_preset(parsed.value)
        if parsed.kind == "hf":
            return cls.from_hf(parsed.value)
        return cls.tiny(parsed.seed)

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
