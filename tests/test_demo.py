"""Tests for vidcls_keras.synthetic (generated clips) and vidcls_keras.demo (the offline demo).

The demo test runs `python -m vidcls_keras.demo` end to end at a reduced size (4 clips per class,
1 epoch) in a subprocess, as a user would, and checks its artefacts and what it prints.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import hashlib  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vidcls_keras import demo, synthetic, video  # noqa: E402
from vidcls_keras.training import experiments

SMALL = {"num_frames": 12, "width": 64, "height": 48}


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# synthetic.py


def test_render_clip_is_deterministic_per_seed():
    first = synthetic.render_clip("ocean", 1, seed=3, **SMALL)
    assert first.shape == (12, 48, 64, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, synthetic.render_clip("ocean", 1, seed=3, **SMALL))
    assert not np.array_equal(first, synthetic.render_clip("ocean", 1, seed=4, **SMALL))
    assert not np.array_equal(first, synthetic.render_clip("ocean", 2, seed=3, **SMALL))
    # Frames move: consecutive frames differ.
    assert all(not np.array_equal(a, b) for a, b in zip(first[:-1], first[1:], strict=True))


def test_write_dataset_layout_and_same_bytes_for_same_seed(tmp_path):
    written = synthetic.write_dataset(tmp_path / "a", clips_per_class=2, seed=7, **SMALL)
    again = synthetic.write_dataset(tmp_path / "b", clips_per_class=2, seed=7, **SMALL)
    assert list(written) == list(synthetic.CLASS_NAMES)
    for class_name, paths in written.items():
        assert [p.name for p in paths] == [f"{class_name}_00.mp4", f"{class_name}_01.mp4"]
        assert all(p.parent == tmp_path / "a" / class_name for p in paths)
    for paths, other in zip(written.values(), again.values(), strict=True):
        for path, same in zip(paths, other, strict=True):
            assert _sha256(path) == _sha256(same)


def test_written_clips_decode_with_sample_frames(tmp_path):
    written = synthetic.write_dataset(tmp_path, clips_per_class=1, seed=0, **SMALL)
    for class_name, (path,) in written.items():
        frames = video.sample_frames(path, 6)
        assert frames.shape == (6, 48, 64, 3) and frames.dtype == np.uint8
        all_frames = video.sample_frames(path, 100)
        assert len(all_frames) == SMALL["num_frames"], class_name
        # mp4v is lossy, but the decoded frames stay close to what was rendered.
        rendered = synthetic.render_clip(class_name, 0, seed=0, **SMALL)
        error = np.abs(all_frames.astype(int) - rendered.astype(int)).mean()
        assert error < 12, (class_name, error)


def test_classes_are_distinct():
    """Every clip is closer to its own class's mean colour than to any other class's."""
    colours = {
        name: np.stack(
            [synthetic.render_clip(name, i, seed=0, **SMALL).mean(axis=(0, 1, 2)) for i in range(4)]
        )
        for name in synthetic.CLASS_NAMES
    }
    centres = {name: clips.mean(axis=0) for name, clips in colours.items()}
    for name, clips in colours.items():
        for clip_colour in clips:
            distances = {other: np.linalg.norm(clip_colour - c) for other, c in centres.items()}
            assert min(distances, key=distances.get) == name, (name, distances)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"class_names": ["ocean", "volcano"]}, "not a generated class"),
        ({"class_names": ["ocean"]}, "at least 2 classes"),
        ({"clips_per_class": 0}, "clips_per_class must be a positive int"),
        ({"num_frames": -1}, "num_frames must be a positive int"),
    ],
)
def test_write_dataset_rejects_bad_requests(tmp_path, kwargs, match):
    with pytest.raises(synthetic.SyntheticVideoError, match=match):
        synthetic.write_dataset(tmp_path, **kwargs)


def test_write_clip_rejects_wrong_frames(tmp_path):
    with pytest.raises(synthetic.SyntheticVideoError, match="uint8 RGB"):
        synthetic.write_clip(tmp_path / "x.mp4", np.zeros((4, 8, 8, 3), np.float32))


# --------------------------------------------------------------------------------------------
# demo.py, end to end


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """`python -m vidcls_keras.demo` at a reduced size: artefacts, table and prediction line."""
    output_dir = tmp_path / "demo"
    command = [
        sys.executable,
        "-m",
        "vidcls_keras.demo",
        "--output-dir",
        str(output_dir),
        "--epochs",
        "1",
        "--clips-per-class",
        "4",
        "--clip-frames",
        "12",
        "--batch-size",
        "4",  # 12 training videos: full batches only, one compiled shape per model
    ]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    stdout = completed.stdout
    for number, stage in enumerate(demo.STAGES, start=1):
        assert f"[{number}/{len(demo.STAGES)}] {stage}:" in stdout
    assert "these are generated clips, enough to exercise the pipeline, not a benchmark" in stdout
    assert "tiny:0 is a small CLIP-shaped encoder with random weights" in stdout

    # The clips and the TFDS dataset, with the embedder recorded.
    assert len(list((output_dir / "videos").glob("*/*.mp4"))) == 4 * len(synthetic.CLASS_NAMES)
    version_dir = output_dir / "tensorflow_datasets" / "video_folder" / "frames16" / "1.0.0"
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["embedder"] == "tiny:0"

    # One saved model per configuration (the original's six), and a results row each.
    runs_dir = output_dir / "runs"
    rows = [row for row in experiments.EXPERIMENTS if row.name in demo.ORIGINAL_CONFIGURATIONS]
    assert len(rows) == 6
    table = (runs_dir / "results.md").read_text()
    assert table in stdout
    for row in rows:
        run_dir = runs_dir / row.name / "seed_0"
        assert (run_dir / "model.keras").is_file(), run_dir
        assert json.loads((run_dir / "metrics.json").read_text())["test"]["num_examples"] > 0
        assert f"| {row.description} | 1 |" in table
        assert f"{row.original_f1_micro:.3f}" in table

    # The prediction line names a test video, a class and the true label.
    (line,) = [line for line in stdout.splitlines() if "predict: " in line and " -> " in line]
    video_id, rest = line.split("predict: ")[1].split(" -> ")
    assert (output_dir / "videos" / video_id).is_file()
    assert rest.split(" ")[0] in synthetic.CLASS_NAMES
    assert "true label: " in rest


def test_demo_rejects_a_folder_without_classes(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status = demo.main(["--videos", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "out")])
    assert status == 2
    assert "has no class folders" in capsys.readouterr().err


def test_demo_rejects_an_unknown_embedder(tmp_path, capsys):
    status = demo.main(["--embedder", "clip:big", "--output-dir", str(tmp_path / "out")])
    assert status == 2
    assert "unknown kind 'clip'" in capsys.readouterr().err


def test_demo_rejects_an_unknown_configuration(tmp_path, capsys):
    status = demo.main(["--only", "mean", "resnet", "--output-dir", str(tmp_path / "out")])
    assert status == 2
    assert "--only ['mean', 'resnet']: choose among" in capsys.readouterr().err
