"""CLIP's BPE files: the tiny vocabulary, reading and writing the files, the tokenizer."""

import pytest

from vidcls_keras.clip import tokenizer
from vidcls_keras.clip.errors import TextEmbedderError
from vidcls_keras.clip.text import TextEmbedder


def test_tiny_vocabulary_layout():
    tiny = TextEmbedder.tiny(0)
    vocabulary, merges = tokenizer.tiny_vocabulary()
    assert vocabulary[tokenizer.END_TOKEN] == max(vocabulary.values())  # as in OpenAI's
    assert len(set(vocabulary.values())) == len(vocabulary)
    for word in tokenizer.TINY_WORDS:
        assert tiny.token_ids([word]) == [[vocabulary[word + "</w>"]]]
    # A word outside the vocabulary falls back to byte tokens.
    assert len(tiny.token_ids(["zebra"])[0]) > 1


def test_tokenizer_files_in_either_layout(tmp_path, hf_text_checkpoint):
    """tokenizer.json (transformers 5) and vocab.json + merges.txt (Hub snapshots) agree."""
    from_json = tokenizer.read_tokenizer_files(hf_text_checkpoint[0])
    vocabulary, merges = tokenizer.tiny_vocabulary()
    tokenizer.write_vocabulary(tmp_path, vocabulary, merges)
    from_files = tokenizer.read_tokenizer_files(tmp_path)
    assert from_json == from_files == (vocabulary, merges)
    assert tokenizer.read_tokenizer_files(tmp_path / "missing") is None


def test_keras_hub_layout_is_read(tmp_path):
    vocabulary, merges = tokenizer.tiny_vocabulary(["food"])
    assets = tmp_path / "assets" / "tokenizer"
    paths = tokenizer.write_vocabulary(assets, vocabulary, merges)
    paths[0].rename(assets / "vocabulary.json")
    assert tokenizer.read_tokenizer_files(tmp_path) == (vocabulary, merges)


def test_make_tokenizer_needs_clip_special_tokens():
    vocabulary, merges = tokenizer.tiny_vocabulary(["food"])
    del vocabulary[tokenizer.START_TOKEN]
    with pytest.raises(TextEmbedderError, match="startoftext"):
        tokenizer.make_tokenizer(vocabulary, merges)
