"""CLIP text tower: tokenization and embeddings against Hugging Face, constructors, specs.

The reference is a tiny, randomly initialised Hugging Face `CLIPModel` (quick_gelu) saved with
`save_pretrained`, plus a tiny BPE vocabulary saved with `CLIPTokenizer.save_pretrained`.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vidcls_keras.clip import text as clip_text  # noqa: E402
from vidcls_keras.clip.text import TextEmbedder, TextEmbedderError  # noqa: E402

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

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


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest per-row `max |actual - expected| / max |expected|`."""
    difference = np.abs(actual - expected).max(axis=1)
    return float((difference / np.abs(expected).max(axis=1)).max())


def hf_tokenizer(vocabulary, merges):
    return transformers.CLIPTokenizer(
        vocab=vocabulary, merges=[tuple(rule.split()) for rule in merges]
    )


def randomize_(module, seed: int) -> None:
    """Overwrites every parameter with seeded noise large enough for LayerNorm epsilon to show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "layer_norm" in name and name.endswith("weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            else:
                parameter.copy_(0.2 * noise)


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    """`(directory, reference text model, HF tokenizer)`: a tiny CLIPModel saved like the Hub's."""
    vocabulary, merges = clip_text.tiny_vocabulary()
    text_config = dict(
        vocab_size=len(vocabulary),
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        hidden_act="quick_gelu",
        bos_token_id=vocabulary[clip_text.START_TOKEN],
        eos_token_id=vocabulary[clip_text.END_TOKEN],
        pad_token_id=vocabulary[clip_text.END_TOKEN],
    )
    vision_config = dict(
        hidden_size=16,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
        hidden_act="quick_gelu",
    )
    config = transformers.CLIPConfig(
        text_config=text_config, vision_config=vision_config, projection_dim=16
    )
    model = transformers.CLIPModel(config).eval()
    randomize_(model, seed=0)
    directory = tmp_path_factory.mktemp("hf_clip")
    model.save_pretrained(directory)
    tokenizer = hf_tokenizer(vocabulary, merges)
    tokenizer.save_pretrained(directory)
    reference = transformers.CLIPTextModelWithProjection(
        transformers.CLIPTextConfig(**text_config, projection_dim=16)
    ).eval()
    reference.text_model.load_state_dict(model.text_model.state_dict())
    reference.text_projection.load_state_dict(model.text_projection.state_dict())
    return directory, reference, tokenizer


@pytest.fixture(scope="module")
def hf_embedder(hf_checkpoint):
    return TextEmbedder.from_hf(hf_checkpoint[0])


@pytest.fixture(scope="module")
def tiny():
    return TextEmbedder.tiny(0)


def reference_embeddings(reference, tokenizer, texts):
    inputs = tokenizer(
        texts, padding="max_length", max_length=16, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return reference(**inputs).text_embeds.numpy()


def test_tokenization_matches_hugging_face(tiny, hf_checkpoint):
    _, _, tokenizer = hf_checkpoint
    token_ids, padding_mask = tiny.tokenize(PROMPTS)
    expected = tokenizer(PROMPTS, max_length=16, truncation=True)["input_ids"]
    for row, ids in enumerate(expected):
        assert token_ids[row][padding_mask[row]].tolist() == ids, PROMPTS[row]
        assert (token_ids[row][~padding_mask[row]] == 0).all()
    # Untruncated ids, without start/end, agree too.
    untruncated = tokenizer(PROMPTS, add_special_tokens=False)["input_ids"]
    assert tiny.token_ids(PROMPTS) == untruncated


def test_from_hf_matches_hugging_face_text_embeds(hf_embedder, hf_checkpoint):
    _, reference, tokenizer = hf_checkpoint
    expected = reference_embeddings(reference, tokenizer, PROMPTS)
    actual = hf_embedder.embed(PROMPTS)
    assert actual.shape == (len(PROMPTS), 16) and actual.dtype == np.float32
    error = relative_error(actual, expected)
    print(f"from_hf vs HF text_embeds: max relative error {error:.2e}")
    assert error <= TOLERANCE
    assert hf_embedder.spec == f"hf:{hf_checkpoint[0].resolve()}"


@pytest.mark.slow
def test_keras_cv_text_encoder_alone_does_not_match(hf_embedder, hf_checkpoint):
    """Why CausalCLIPTextEncoder exists: KerasCV's own call() (no causal mask, LayerNorm epsilon
    1e-3) gives other embeddings from the same weights. If this starts failing, KerasCV was fixed
    and the override can go."""
    _, reference, tokenizer = hf_checkpoint
    ours = hf_embedder.text_encoder
    stock = keras_cv_encoder(ours)
    token_ids, padding_mask = hf_embedder.tokenize(PROMPTS[:4])
    expected = reference_embeddings(reference, tokenizer, PROMPTS[:4])
    stock_error = relative_error(
        np.asarray(stock(token_ids, attention_mask=padding_mask)), expected
    )
    assert stock_error > 1e-2


def keras_cv_encoder(source):
    from keras_cv.models.feature_extractor import CLIPTextEncoder

    stock = CLIPTextEncoder(
        transformer_width=source.transformer_width,
        transformer_layers=source.transformer_layers,
        transformer_heads=source.transformer_heads,
        vocab_size=source.vocab_size,
        embed_dim=source.embed_dim,
        context_length=source.context_length,
    )
    for layer in stock._flatten_layers(include_self=False):  # skip slow random initialisation
        for attribute in clip_text._INITIALIZER_ATTRIBUTES:
            if hasattr(layer, attribute):
                setattr(layer, attribute, keras.initializers.Zeros())
    stock.build((None, source.context_length))
    stock.set_weights(source.get_weights())
    return stock


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
    np.testing.assert_allclose(np.asarray(cut), full, atol=1e-6)


def test_tiny_is_seeded(tiny):
    again = TextEmbedder.tiny(0)
    other = TextEmbedder.tiny(1)
    np.testing.assert_array_equal(again.embed(PROMPTS[:3]), tiny.embed(PROMPTS[:3]))
    assert not np.allclose(other.embed(PROMPTS[:3]), tiny.embed(PROMPTS[:3]))
    assert tiny.spec == "tiny:0" and other.spec == "tiny:1"
    assert tiny.embed_dim == clip_text.TINY_EMBED_DIM


def test_tiny_vocabulary_layout(tiny):
    vocabulary, merges = clip_text.tiny_vocabulary()
    assert vocabulary[clip_text.END_TOKEN] == max(vocabulary.values())  # as in OpenAI's
    assert len(set(vocabulary.values())) == len(vocabulary)
    for word in clip_text.TINY_WORDS:
        assert tiny.token_ids([word]) == [[vocabulary[word + "</w>"]]]
    # A word outside the vocabulary falls back to byte tokens.
    assert len(tiny.token_ids(["zebra"])[0]) > 1


def test_from_spec_round_trips(tiny, hf_embedder):
    np.testing.assert_array_equal(
        TextEmbedder.from_spec(tiny.spec).embed(PROMPTS[:2]), tiny.embed(PROMPTS[:2])
    )
    rebuilt = TextEmbedder.from_spec(hf_embedder.spec)
    assert rebuilt.spec == hf_embedder.spec
    np.testing.assert_allclose(rebuilt.embed(PROMPTS[:2]), hf_embedder.embed(PROMPTS[:2]))
    for bad in ("", "tiny:x", "clip:foo", "hf:"):
        with pytest.raises(TextEmbedderError, match="spec"):
            TextEmbedder.from_spec(bad)


@pytest.mark.slow
def test_from_preset_reads_a_local_keras_cv_preset(tmp_path, tiny):
    """A KerasCV preset folder (config.json + model.weights.h5) with the BPE files beside it."""
    import keras_cv
    from keras_cv.src.utils.preset_utils import save_to_preset

    vocabulary, merges = clip_text.tiny_vocabulary()
    model = keras_cv.models.CLIP(
        embed_dim=16,
        image_resolution=32,
        vision_layers=1,
        vision_width=64,
        vision_patch_size=16,
        context_length=16,
        vocab_size=len(vocabulary),
        transformer_width=32,
        transformer_heads=2,
        transformer_layers=2,
    )
    model.text_encoder.set_weights(tiny.text_encoder.get_weights())
    save_to_preset(model, tmp_path / "preset")
    clip_text.write_vocabulary(tmp_path / "preset", vocabulary, merges)
    embedder = TextEmbedder.from_preset(str(tmp_path / "preset"))
    assert embedder.spec == f"preset:{(tmp_path / 'preset').resolve()}"
    np.testing.assert_allclose(embedder.embed(PROMPTS[:3]), tiny.embed(PROMPTS[:3]), atol=1e-6)


def test_from_preset_refuses_an_image_only_preset(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "vidcls_keras>X"}))
    with pytest.raises(TextEmbedderError, match="no text tower"):
        TextEmbedder.from_preset(tmp_path)


def test_tokenizer_files_in_either_layout(tmp_path, hf_checkpoint):
    """tokenizer.json (transformers 5) and vocab.json + merges.txt (Hub snapshots) agree."""
    from_json = clip_text._read_tokenizer_files(hf_checkpoint[0])
    vocabulary, merges = clip_text.tiny_vocabulary()
    clip_text.write_vocabulary(tmp_path, vocabulary, merges)
    from_files = clip_text._read_tokenizer_files(tmp_path)
    assert from_json == from_files == (vocabulary, merges)
    assert clip_text._read_tokenizer_files(tmp_path / "missing") is None


def test_from_hf_errors(tmp_path, hf_checkpoint):
    with pytest.raises(TextEmbedderError, match="config.json"):
        TextEmbedder.from_hf(tmp_path)
    config = json.loads((hf_checkpoint[0] / "config.json").read_text())
    config["text_config"]["hidden_act"] = "gelu"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextEmbedderError, match="quick_gelu"):
        TextEmbedder.from_hf(tmp_path)
    config["text_config"]["hidden_act"] = "quick_gelu"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextEmbedderError, match="tokenizer"):
        TextEmbedder.from_hf(tmp_path)
    clip_text.write_vocabulary(tmp_path, *clip_text.tiny_vocabulary())
    with pytest.raises(TextEmbedderError, match="safetensors"):
        TextEmbedder.from_hf(tmp_path)


def test_text_only_checkpoint_config(tmp_path):
    """CLIPTextModelWithProjection's flat config.json is read too."""
    config = transformers.CLIPTextConfig(hidden_size=32, intermediate_size=128, projection_dim=8)
    config.save_pretrained(tmp_path)
    text_config, projection_dim = clip_text._hf_text_config(tmp_path)
    assert projection_dim == 8 and text_config["hidden_size"] == 32


def test_token_ids_rejects_a_bare_string(tiny):
    with pytest.raises(TypeError, match="list"):
        tiny.token_ids("a video about food")
