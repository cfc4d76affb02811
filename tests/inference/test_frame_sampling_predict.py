"""`predict` samples frames as the run's dataset did ("exact" or "keyframes"); a flag overrides."""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from inference_runs import CLIP_NAME, train_dir  # noqa: E402, F401 (fixture)

from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.inference.classifier import VideoClassifier  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402
from vidcls_keras.training import artifacts  # noqa: E402


def test_keyframe_flag_reads_the_keyframe_embeddings(train_dir, shared_videos, capsys):
    pytest.importorskip("av")
    path = shared_videos / CLIP_NAME
    classifier = VideoClassifier.load(train_dir)
    assert classifier.frame_sampling == "exact"  # a run whose dataset recorded nothing
    exact = classifier.embeddings(path)
    np.testing.assert_array_equal(
        exact, pipeline.embed_video(classifier.embedder, path, classifier.num_frames)
    )
    classifier.frame_sampling = "keyframes"
    np.testing.assert_array_equal(
        classifier.embeddings(path),
        pipeline.embed_video(
            classifier.embedder, path, classifier.num_frames, frame_sampling="keyframes"
        ),
    )
    assert main([str(train_dir), str(path), "--frame-sampling", "keyframes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    with pytest.raises(SystemExit):
        main([str(train_dir), str(path), "--frame-sampling", "nearest"])


def test_the_runs_dataset_decides_by_default(train_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(train_dir, run)
    config = json.loads((run / artifacts.CONFIG_FILENAME).read_text())
    config["frame_sampling"] = "keyframes"
    (run / artifacts.CONFIG_FILENAME).write_text(json.dumps(config))
    assert VideoClassifier.load(run).frame_sampling == "keyframes"
