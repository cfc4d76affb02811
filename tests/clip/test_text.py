"""CLIP text tower: embeddings against Hugging Face, batching, tiny towers, specs, errors.

The reference is a tiny, randomly initialised Hugging Face `CLIPModel` (quick_gelu) saved with
`save_pretrained`, plus a tiny BPE vocabulary saved with `CLIPTokenizer.save_pretrained`
(`hf_text_checkpoint` in conftest.py).
"""

import json

import numpy as np
import pytest
from hf_references import row_relative_error
from support import stock_text_encoder

from vidcls_keras.clip import text as clip_text
from vidcls_keras.clip import tokenizer
from vidcls_keras.clip.specs import EmbedderSpecError
from vidcls_keras.clip.text import TextEmbedder, TextEmbedderError

PROMPTS = [
    "a video about food",
    "A Photo of ART and music.",
    "street food in Bangkok!",
    "top 10 travel destinations 2023",
    "history of the U.S.A. (1776-1865)",
    "café   crème\tbrûlée 🍕",
    "",
    # longer than the tiny context (16): cut to 14 tokens between start and end
    "history " * 20,
]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def hf_embedder(hf_text_checkpoint):
    return TextEmbedder.from_hf(hf_text_checkpoint[0])


@pytest.fixture(scope="module")
def tiny():
    return TextEmbedder.tiny(0)


def reference_embeddings(reference, hf_tokenizer, texts):
    import torch

    inputs = hf_tokenizer(
        texts, padding="max_length", max_length=16, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return reference(**inputs).text_embeds.numpy()


def test_tokenization_matches_hugging_face(tiny, hf_text_checkpoint):
    _, _, hf_tokenizer = hf_text_checkpoint
    token_ids, padding_mask = tiny.tokenize(PROMPTS)
    expected = hf_tokenizer(PROMPTS, max_length=16, truncation=True)["input_ids"]
    for row, ids in enumerate(expected):
        assert token_ids[row][padding_mask[row]].tolist() == ids, PROMPTS[row]
        assert (token_ids[row][~padding_mask[row]] == 0).all()
    # Untruncated ids, without start/end, agree too.
    untruncated = hf_tokenizer(PROMPTS, add_special_tokens=False)["input_ids"]
    assert tiny.token_ids(PROMPTS) == untruncated


def test_from_hf_matches_hugging_face_text_embeds(hf_embedder, hf_text_checkpoint):
    directory, reference, hf_tokenizer = hf_text_checkpoint
    expected = reference_embeddings(reference, hf_tokenizer, PROMPTS)
    actual = hf_embedder.embed(PROMPTS)
    assert actual.shape == (len(PROMPTS), 16) and actual.dtype == np.float32
    error = row_relative_error(actual, expected)
    print(f"from_hf vs HF text_embeds: max relative error {error:.2e}")
    assert error <= TOLERANCE
    assert hf_embedder.spec == f"hf:{directory.resolve()}"


@pytest.mark.slow
def test_keras_cv_text_encoder_alone_does_not_match(hf_embedder, hf_text_checkpoint):
    """Why CausalCLIPTextEncoder exists: KerasCV's own call() (no causal mask, LayerNorm epsilon
    1e-3) gives other embeddings from the same weights. If this starts failing, KerasCV was fixed
    and the workaround in vidcls_keras/_compat/keras_cv.py can go (its canaries say so too)."""
    _, reference, hf_tokenizer = hf_text_checkpoint
    stock = stock_text_encoder(hf_embedder.text_encoder)
    token_ids, padding_mask = hf_embedder.tokenize(PROMPTS[:4])
    expected = reference_embeddings(reference, hf_tokenizer, PROMPTS[:4])
    stock_error = row_relative_error(
        np.asarray(stock(token_ids, attention_mask=padding_mask)), expected
    )
    assert stock_error > 1e-2


def test_embed_batches_are_independent(tiny):
    whole = tiny.embed(PROMPTS)
    in_pieces = tiny.embed(PROMPTS + PROMPTS[::-1], batch_size=8)  # two batches
    np.testing.assert_allclose(in_pieces, np.concatenate([whole, whole[::-1]]), atol=1e-6)
    single = tiny.embed(PROMPTS[1:2])
    np.testing.assert_allclose(single[0], whole[1], rtol=1e-5, atol=1e-6)
    assert tiny.embed([]).shape == (0, clip_text.TINY_EMBED_DIM)


def test_padding_after_the_end_token_does_not_matter(tiny):
    """What lets `embed` cut the columns past the longest prompt: the causal mask."""
    token_ids, padding_mask = tiny.tokenize((PROMPTS[:3] * 3)[:8])  # 8 short prompts
    longest = int(padding_mask.sum(axis=1).max())
    assert longest < tiny.context_length
    full = np.asarray(tiny.text_encoder(token_ids, attention_mask=padding_mask))
    cut = tiny.text_encoder(token_ids[:, :longest], attention_mask=padding_mask[:, :longest])
    # Float32 rounding of a shorter reduction: ~1e-6 on entries of ~0.1 (rtol covers it).
    np.testing.assert_allclose(np.asarray(cut), full, rtol=1e-5, atol=1e-6)


def test_tiny_is_seeded(tiny):
    again = TextEmbedder.tiny(0)
    other = TextEmbedder.tiny(1)
    np.testing.assert_array_equal(again.embed(PROMPTS[:3]), tiny.embed(PROMPTS[:3]))
    assert not np.allclose(other.embed(PROMPTS[:3]), tiny.embed(PROMPTS[:3]))
    assert tiny.spec == "tiny:0" and other.spec == "tiny:1"
    assert tiny.embed_dim == clip_text.TINY_EMBED_DIM


def test_from_spec_round_trips(tiny, hf_embedder):
    np.testing.assert_array_equal(
        TextEmbedder.from_spec(tiny.spec).embed(PROMPTS[:2]), tiny.embed(PROMPTS[:2])
    )
    rebuilt = TextEmbedder.from_spec(hf_embedder.spec)
    assert rebuilt.spec == hf_embedder.spec
    np.testing.assert_allclose(rebuilt.embed(PROMPTS[:2]), hf_embedder.embed(PROMPTS[:2]))
    for bad in ("", "tiny:x", "clip:foo", "hf:"):
        with pytest.raises(EmbedderSpecError, match="spec"):
            TextEmbedder.from_spec(bad)


def test_from_hf_errors(tmp_path, hf_text_checkpoint):
    with pytest.raises(TextEmbedderError, match="config.json"):
        TextEmbedder.from_hf(tmp_path)
    config = json.loads((hf_text_checkpoint[0] / "config.json").read_text())
    config["text_config"]["hidden_act"] = "gelu"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextEmbedderError, match="quick_gelu"):
        TextEmbedder.from_hf(tmp_path)
    config["text_config"]["hidden_act"] = "quick_gelu"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextEmbedderError, match="tokenizer"):
        TextEmbedder.from_hf(tmp_path)
    tokenizer.write_vocabulary(tmp_path, *tokenizer.tiny_vocabulary())
    with pytest.raises(TextEmbedderError, match="safetensors"):
        TextEmbedder.from_hf(tmp_path)


def test_tokenizer_and_encoder_must_belong_together(tiny):
    vocabulary, merges = tokenizer.tiny_vocabulary(["a", "video"])
    with pytest.raises(TextEmbedderError, match="pools at token id"):
        TextEmbedder(tiny.text_encoder, vocabulary, merges, spec="")


def test_token_ids_rejects_a_bare_string(tiny):
    with pytest.raises(TypeError, match="list"):
        tiny.token_ids("a video about food")
