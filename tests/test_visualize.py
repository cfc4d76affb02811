"""`python -m vidcls_keras.visualize`: tsne.png / trajectory.png from a built dataset."""

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent / "retrieval"))  # the retrieval test data

from aligned_runs import write_run  # noqa: E402
from retrieval_datasets import CLASS_NAMES, DATASET, build_random  # noqa: E402

from vidcls_keras import visualize  # noqa: E402
from vidcls_keras.clip.tiny import TINY_EMBED_DIM  # noqa: E402
from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.retrieval import maps  # noqa: E402
from vidcls_keras.retrieval.index import load_video_index  # noqa: E402


def test_visualize_writes_the_map_and_the_trajectory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = build_random(tmp_path / "tfds")
    fitted = []
    reduce = maps.reduce_to_2d
    monkeypatch.setattr(maps, "reduce_to_2d", lambda v, *a: fitted.append(v) or reduce(v, *a))
    out = tmp_path / "maps"
    arguments = ["--dataset", DATASET, "--data-dir", data_dir, "--out", str(out)]
    assert visualize.main([*arguments, "--video", "video2_1", "--seed", "1"]) == 0
    assert (out / "tsne.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "trajectory.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert f"wrote {out / 'tsne.png'} (12 points, mean-pooled frames)" in printed
    # What was fitted: the split's mean-pooled videos, then (trajectory) those + the frames.
    index = load_video_index(DATASET, "test", data_dir)
    np.testing.assert_allclose(fitted[0], index.embeddings, atol=1e-6)
    np.testing.assert_allclose(fitted[1][:12], index.embeddings, atol=1e-6)
    assert len(fitted[1]) > 12


def test_visualize_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDCLS_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = build_random(tmp_path / "tfds")
    arguments = ["--dataset", DATASET, "--data-dir", data_dir, "--out", str(tmp_path / "out")]
    head = build_model("mean", num_classes=3, max_frames=3, embed_dim=TINY_EMBED_DIM)
    run_dir = write_run(tmp_path / "mean", head, CLASS_NAMES, 3)
    assert visualize.main([*arguments, "--run", str(run_dir)]) == 2
    assert "no layer named 'video_embedding'" in capsys.readouterr().err
    assert visualize.main([*arguments, "--video", "nope"]) == 2
    assert "no video 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tsne.png").exists()
    assert visualize.main(["--dataset", "vidcls_no_such_dataset", "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
