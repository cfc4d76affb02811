"""Shared by the inference tests: a tiny training output directory and its classifiers.

Tiny sizes throughout: the tiny CLIP embedder (`FrameEmbedder.tiny(0)`), heads of width 8, 4 frames
per video. Fixtures are imported by the test modules that use them.
"""

import functools
import http.server
import json
import pathlib

import keras
import numpy as np
import pytest
from support import local_http_server

from vidcls_keras import clip
from vidcls_keras.inference.classifier import VideoClassifier
from vidcls_keras.inference.export import export_end_to_end
from vidcls_keras.models import build_model

LABELS = ("food", "art_music", "travel", "history")
MAX_FRAMES = 4
CLIP_NAME = "mmaction2__demo.mp4"
# Same weights, same inputs; only the order of float32 operations may differ (jit vs. eager,
# XLA vs. TensorFlow kernels), so outputs agree to float32 rounding.
ATOL = 1e-5


def reference_softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def write_train_dir(
    path: pathlib.Path, head: keras.Model, model_name: str, inputs: str, **extra
) -> pathlib.Path:
    """A training output directory as `vidcls_keras.train` writes it (the keys predict reads).

    `extra` adds or replaces keys of config.json (e.g. `num_frames`, which older runs lack).
    """
    path.mkdir(parents=True)
    head.save(path / "model.keras")
    config = {
        "model": model_name,
        "embedder_spec": "tiny:0",
        "label_names": list(LABELS),
        "num_classes": len(LABELS),
        "embed_dim": clip.TINY_CONFIG.embed_dim,
        "max_frames": MAX_FRAMES,
        "inputs": inputs,
        **extra,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    """A transformer head (attention over frames: padding matters), untrained."""
    keras.utils.set_random_seed(0)
    head = build_model(
        "transformer",
        num_classes=len(LABELS),
        max_frames=MAX_FRAMES,
        embed_dim=clip.TINY_CONFIG.embed_dim,
        num_heads=2,
        intermediate_dim=16,
        hidden_dim=8,
    )
    return write_train_dir(
        tmp_path_factory.mktemp("run") / "transformer", head, "transformer", "frames"
    )


@pytest.fixture(scope="module")
def classifier(train_dir):
    """The two-stage classifier: FrameEmbedder.from_spec("tiny:0") + the head."""
    return VideoClassifier.load(train_dir)


@pytest.fixture(scope="module")
def embedder(classifier):
    assert classifier.embedder.spec == "tiny:0"
    return classifier.embedder


@pytest.fixture(scope="module")
def end_to_end_path(train_dir, tmp_path_factory):
    return export_end_to_end(train_dir, tmp_path_factory.mktemp("export") / "classifier.keras")


@pytest.fixture(scope="module")
def end_to_end(end_to_end_path):
    """The end-to-end file, reloaded (safe_mode=True) into a VideoClassifier."""
    return VideoClassifier.load(end_to_end_path)


@pytest.fixture
def clip_server(shared_videos, monkeypatch):
    """Base URL of a local HTTP server for the shared clips (404 for anything else)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
            pass

    handler = functools.partial(Handler, directory=str(shared_videos))
    with local_http_server(handler, monkeypatch) as url:
        yield url
