"""Fixtures of the retrieval tests: the tiny text tower, a random dataset, a private cache."""

import pytest
from retrieval_datasets import build_random

from vidcls_keras import files
from vidcls_keras.clip.text import TextEmbedder


@pytest.fixture(scope="module")
def text_embedder():
    return TextEmbedder.tiny(0)


@pytest.fixture(scope="module")
def random_dataset(tmp_path_factory):
    return build_random(tmp_path_factory.mktemp("random_tfds"))


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Each test gets its own index cache folder (and never writes to ~/.cache)."""
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "cache"))
