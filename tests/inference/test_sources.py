"""Tests for vidcls_keras.inference.sources: files, folders, URLs (a local server), bad inputs.

URLs are served by a local HTTP server on 127.0.0.1 and read by yt-dlp's generic extractor
(nothing touches the internet).
"""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
from inference_runs import (  # noqa: E402, F401 (fixtures)
    CLIP_NAME,
    LABELS,
    clip_server,
    end_to_end_path,
    train_dir,
)

from vidcls_keras.inference.sources import expand_inputs  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402


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


def test_expand_inputs_folders_files_remote_and_missing(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("b.mp4", "a.MKV", ".hidden.mp4", "notes.txt"):
        (folder / name).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    sources = list(
        expand_inputs(
            [str(folder), str(tmp_path / "empty"), "https://example.com/x.mp4", "dQw4w9WgXcQ"]
            + [str(tmp_path / "missing.mp4"), str(folder / "notes.txt")]
        )
    )
    assert [source.path for source in sources[:2]] == [folder / "a.MKV", folder / "b.mp4"]
    assert "no video files" in sources[2].error
    assert [source.url for source in sources[3:5]] == ["https://example.com/x.mp4", "dQw4w9WgXcQ"]
    assert "no such file" in sources[5].error
    assert sources[6].path == folder / "notes.txt"  # a file given by name is tried as a video
