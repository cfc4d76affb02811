"""Tests for vidcls_keras.demo, the offline demo command (its generated clips: test_synthetic.py).

The demo test runs `python -m vidcls_keras.demo` end to end at a reduced size (4 clips per class,
1 epoch) in a subprocess, as a user would, and checks its artefacts and what it prints.
"""

import json
import os
import subprocess
import sys

import pytest

from vidcls_keras import demo, synthetic
from vidcls_keras.errors import VidclsError
from vidcls_keras.training import experiments

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
        cwd=tmp_path,  # not the repository: the demo needs the installed package only
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
    assert "tfds build video_folder --imports vidcls_keras.datasets --config frames16" in stdout

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
        assert f"{row.original_f1_micro:.3f}" not in table
    # Generated clips and a random encoder: the original's numbers are left out, and why is said.
    assert "original f1-micro" not in table and "difference" not in table
    assert "the videos are generated clips and the encoder tiny:0 has random weights" in table
    assert "original_f1_micro" not in (runs_dir / "results.csv").read_text()

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


def test_tfds_build_command_names_the_installed_package():
    command = demo.tfds_build_command("/videos", "/tfds", embedder="tiny:0", config="frames16")
    assert command == (
        "VIDCLS_EMBEDDER=tiny:0 tfds build video_folder --imports vidcls_keras.datasets "
        "--config frames16 --manual_dir /videos --data_dir /tfds"
    )


def test_build_dataset_rejects_a_builder_of_another_package(tmp_path):
    assert issubclass(demo.DemoError, VidclsError)
    for builder in ("mnist", "no_such_builder"):
        with pytest.raises(demo.DemoError, match="not a dataset of vidcls_keras.datasets"):
            demo.build_dataset(tmp_path, tmp_path / "tfds", builder=builder)


def test_demo_rejects_a_single_class(tmp_path, capsys):
    (tmp_path / "videos" / "cats").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (tmp_path / "videos" / "cats" / name).write_bytes(b"")
    status = demo.main(["--videos", str(tmp_path / "videos"), "--output-dir", str(tmp_path / "o")])
    assert status == 2
    assert "has 1 class folder (cats): a classifier needs at least 2" in capsys.readouterr().err
