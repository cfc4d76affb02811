"""Canaries for vidcls_keras/_compat/keras_cv.py: each KerasCV bug it works around is still there.

Each `..._still_...` test asserts the upstream bug. The day one fails, KerasCV (or keras-hub) fixed
it: delete that workaround from `vidcls_keras/_compat/keras_cv.py` (and its use), then this test.
The other tests check that the workarounds keep their registered names and do their job.
"""

import keras
import numpy as np
import pytest
from keras_cv.models.feature_extractor import CLIPImageEncoder, CLIPTextEncoder
from support import stock_text_encoder

from vidcls_keras._compat.keras_cv import (
    CausalCLIPTextEncoder,
    SavableCLIPImageEncoder,
    clip_tokenizer,
)
from vidcls_keras.clip import text, tokenizer

FIXED = "upstream fixed: delete the workaround in vidcls_keras/_compat/keras_cv.py"
IMAGE_SIZES = dict(
    input_resolution=64, patch_size=32, width=32, num_layers=1, heads=2, output_dim=8
)


def test_clip_image_encoder_config_still_does_not_reload():
    config = CLIPImageEncoder(**IMAGE_SIZES).get_config()
    try:
        CLIPImageEncoder.from_config(config)
    except Exception:  # Keras: "Unable to revive model from config" (num_layers is missing)
        assert "layers" in config and "num_layers" not in config
        return
    pytest.fail(
        f"{FIXED} (SavableCLIPImageEncoder): KerasCV's CLIPImageEncoder config now reloads. Keep "
        "the registered class (old .keras files name it) as a plain alias of CLIPImageEncoder."
    )


def test_savable_clip_image_encoder_reloads_either_spelling():
    stock_config = CLIPImageEncoder(**IMAGE_SIZES).get_config()
    from_stock = SavableCLIPImageEncoder.from_config(stock_config)  # "layers", KerasCV's key
    assert from_stock.num_layers == 1
    config = from_stock.get_config()
    assert config["num_layers"] == 1 and "layers" not in config
    assert SavableCLIPImageEncoder.from_config(config).num_layers == 1
    assert keras.saving.get_registered_name(SavableCLIPImageEncoder) == (
        "vidcls_keras>SavableCLIPImageEncoder"
    )


def test_clip_text_encoder_still_attends_to_future_tokens():
    causal = text.TextEmbedder.tiny(0).text_encoder
    stock = stock_text_encoder(causal)
    end = causal.end_token_id  # the largest id, so KerasCV pools at it too
    token_ids = np.zeros((2, causal.context_length), np.int32)
    token_ids[:, :4] = [end - 1, 300, 301, end]
    token_ids[1, 4] = 302  # row 1: one more token after the end token, visible to no mask
    everything = np.ones_like(token_ids, bool)  # no padding mask: only the causal mask can hide it
    stock_out = np.asarray(stock(token_ids, attention_mask=everything))
    causal_out = np.asarray(causal(token_ids, attention_mask=everything))
    np.testing.assert_allclose(causal_out[0], causal_out[1], rtol=1e-5, atol=1e-6)
    assert np.abs(stock_out[0] - stock_out[1]).max() > 1e-4, (
        f"{FIXED} (CausalCLIPTextEncoder.call): KerasCV's CLIPTextEncoder now masks future "
        "tokens. Check the epsilon canary too before deleting the subclass."
    )


def test_clip_text_encoder_final_norm_epsilon_still_1e_3():
    stock = CLIPTextEncoder(
        transformer_width=32,
        transformer_layers=1,
        transformer_heads=2,
        vocab_size=64,
        embed_dim=8,
        context_length=8,
    )
    assert stock.ln_final.epsilon == pytest.approx(1e-3), (
        f"{FIXED} (CausalCLIPTextEncoder's layer_norm_epsilon): KerasCV's ln_final now uses "
        f"epsilon {stock.ln_final.epsilon}."
    )


def test_causal_clip_text_encoder_keeps_its_name_and_config():
    causal = text.TextEmbedder.tiny(0).text_encoder
    config = causal.get_config()
    assert config["end_token_id"] == causal.end_token_id
    assert config["layer_norm_epsilon"] == 1e-5
    assert keras.saving.get_registered_name(CausalCLIPTextEncoder) == (
        "vidcls_keras>CausalCLIPTextEncoder"
    )


def test_keras_cv_clip_tokenizer_still_crashes():
    try:
        from keras_cv.src.models.feature_extractor.clip.clip_tokenizer import CLIPTokenizer
    except ImportError:
        pytest.fail(f"{FIXED} (clip_tokenizer)? KerasCV's CLIPTokenizer moved: look again.")
    vocabulary, merges = tokenizer.tiny_vocabulary()
    try:
        CLIPTokenizer(vocabulary=vocabulary, merges=merges)(["a video about food"])
    except AttributeError as error:
        assert "_transform_bytes" in str(error)
        return
    pytest.fail(
        f"{FIXED} (clip_tokenizer) only if KerasCV's CLIPTokenizer now tokenizes like Hugging "
        "Face's (tests/clip/test_text.py::test_tokenization_matches_hugging_face); it no longer "
        "crashes with keras-hub."
    )


def test_clip_tokenizer_is_keras_hubs():
    import keras_hub

    vocabulary, merges = tokenizer.tiny_vocabulary()
    tokens = clip_tokenizer(vocabulary, merges)
    assert isinstance(tokens, keras_hub.models.CLIPTokenizer)
    assert [int(t) for t in tokens(["food"])[0]] == [vocabulary["food</w>"]]
