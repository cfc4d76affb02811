"""Tests for vidcls_keras.video: the frame indices, the real clips, odd videos made here, bad files.

Videos made here carry a per-frame pattern: frame i shows i in binary as 9 black/white stripes, so
a sampled frame says which frame it is, and even spacing is checked exactly, whatever the codec.
"""

import dataclasses
import hashlib
import pathlib
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import SHARED_CLIP_FRAMES

from vidcls_keras import video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WIDTH, HEIGHT, BITS, STRIPE = 64, 48, 9, 7  # 9 bits: frame numbers up to 511
BAND = 8  # top rows: a red band, so a rotated frame is told from an upright one


def pattern_frame(number: int) -> np.ndarray:
    """uint8 RGB (HEIGHT, WIDTH, 3): red band on top, then `number` in binary, bit b = stripe b."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[:BAND] = (255, 0, 0)
    for bit in range(BITS):
        if (number >> bit) & 1:
            frame[BAND:, bit * STRIPE : (bit + 1) * STRIPE] = 255
    return frame


def read_number(frame: np.ndarray) -> int:
    """The frame number a decoded (lossy) pattern frame shows."""
    gray = frame[BAND:].mean(axis=2)
    return sum(
        1 << bit
        for bit in range(BITS)
        if gray[:, bit * STRIPE + 1 : (bit + 1) * STRIPE - 1].mean() > 127
    )


def numbers(frames: np.ndarray) -> list[int]:
    return [read_number(frame) for frame in frames]


def ffmpeg_encode(
    path: pathlib.Path, count: int, options: list[str], to_pipe=False
) -> pathlib.Path:
    """Encodes pattern frames 0..count-1 at 25 fps with ffmpeg (argument list, no shell)."""
    raw = np.stack([pattern_frame(i) for i in range(count)]).tobytes()
    command = [
        FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{WIDTH}x{HEIGHT}", "-r", "25", "-i", "pipe:0", *options,
    ]  # fmt: skip
    if to_pipe:  # written to a pipe, the muxer cannot go back to store the duration
        path.write_bytes(
            subprocess.run([*command, "pipe:1"], input=raw, capture_output=True, check=True).stdout
        )
    else:
        subprocess.run([*command, str(path)], input=raw, capture_output=True, check=True)
    return path


def ffmpeg_decode(path: pathlib.Path, shape: tuple[int, int], autorotate: bool) -> np.ndarray:
    """All frames as ffmpeg itself decodes them: uint8 RGB (n, height, width, 3)."""
    command = [FFMPEG, "-v", "error", *([] if autorotate else ["-noautorotate"]), "-i", str(path)]
    command += ["-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo"]
    command += ["-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, *shape, 3)


def opencv_decode(path: pathlib.Path) -> list[np.ndarray]:
    """Every frame of a plain OpenCV read loop, as RGB: the oracle for frame positions."""
    capture, frames = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG), []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def digest(frame: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest()


# --- frame_indices -------------------------------------------------------------------------------


def test_frame_indices_are_segment_centres():
    np.testing.assert_array_equal(video.frame_indices(10, 4), [1, 3, 6, 8])
    np.testing.assert_array_equal(video.frame_indices(100, 4), [12, 37, 62, 87])
    # The original's `step = total // n` from 0 would stop at frame 99 of 199.
    np.testing.assert_array_equal(video.frame_indices(199, 100)[[0, -1]], [0, 198])
    np.testing.assert_array_equal(video.frame_indices(5, 5), np.arange(5))
    np.testing.assert_array_equal(video.frame_indices(5, 100), np.arange(5))
    assert video.frame_indices(0, 3).shape == (0,)
    assert video.frame_indices(10, 4).dtype == np.int64


@given(st.integers(1, 10**12), st.integers(1, 600))
def test_frame_indices_cover_the_video_evenly(total, num_frames):
    indices = video.frame_indices(total, num_frames)
    count = min(total, num_frames)
    assert indices.shape == (count,)
    assert np.all(np.diff(indices) >= 1)
    # Index i lies in the i-th of `count` equal stretches: the whole video is covered.
    stretch = np.arange(count, dtype=object)
    assert all(stretch * total // count <= indices.astype(object))
    assert all(indices.astype(object) < (stretch + 1) * total / count)


@pytest.mark.parametrize("num_frames", [0, -3, 2.5, "8", True])
def test_num_frames_must_be_a_positive_integer(num_frames, tmp_path):
    with pytest.raises(ValueError, match="num_frames"):
        video.frame_indices(10, num_frames)
    with pytest.raises(ValueError, match="num_frames"):
        video.sample_frames(tmp_path / "never_opened.mp4", num_frames)


def test_frame_indices_rejects_negative_total():
    with pytest.raises(ValueError, match="total"):
        video.frame_indices(-1, 4)


def test_video_extensions_are_lower_case_suffixes():
    assert isinstance(video.VIDEO_EXTENSIONS, tuple)
    assert {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v"} <= set(video.VIDEO_EXTENSIONS)
    assert all(ext.startswith(".") and ext == ext.lower() for ext in video.VIDEO_EXTENSIONS)


# --- the real clips -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip_digests(shared_videos) -> dict[str, list[str]]:
    """Per shared clip, the digest of every frame of a full sequential OpenCV decode."""
    return {
        name: [digest(f) for f in opencv_decode(shared_videos / name)]
        for name in SHARED_CLIP_FRAMES
    }


@pytest.mark.parametrize("name", sorted(SHARED_CLIP_FRAMES))
def test_count_frames_matches_full_decode(name, shared_videos, clip_digests):
    assert len(clip_digests[name]) == SHARED_CLIP_FRAMES[name]
    assert video.count_frames(shared_videos / name) == SHARED_CLIP_FRAMES[name]


@pytest.mark.parametrize("num_frames", [16, 100])
@pytest.mark.parametrize("name", sorted(SHARED_CLIP_FRAMES))
def test_shared_clip_frames_are_those_at_the_documented_indices(
    name, num_frames, shared_videos, clip_digests
):
    total = SHARED_CLIP_FRAMES[name]
    frames = video.sample_frames(shared_videos / name, num_frames)
    assert frames.dtype == np.uint8
    assert frames.ndim == 4 and frames.shape[0] == min(num_frames, total) and frames.shape[3] == 3
    expected = [clip_digests[name][i] for i in video.frame_indices(total, num_frames)]
    assert [digest(frame) for frame in frames] == expected


def test_lying_frame_counts_are_not_trusted(shared_videos):
    """The README's three clips whose container count is wrong: the probe counts packets."""
    for name, claim in [
        ("decord__flipping_a_pancake.mkv", lambda n: n == 311),
        ("mdn__flower.webm", lambda n: n == 152),
        ("imageio__test.webm", lambda n: n < 0 or n > 10**9),
    ]:
        probe = video.probe_video(shared_videos / name)
        assert claim(probe.reported_frames), (name, probe.reported_frames)
        assert probe.packets == SHARED_CLIP_FRAMES[name]
        assert not probe.seekable and "container reports" in probe.reason


def test_rotated_phone_clip_is_upright(shared_videos):
    """moviepy__fire2.mp4 carries a 180-degree display matrix: frames must match ffmpeg's own
    autorotated decode, and not the stored (upside-down) pixels."""
    path = shared_videos / "moviepy__fire2.mp4"
    upright = ffmpeg_decode(path, (720, 1280), autorotate=True)
    stored = ffmpeg_decode(path, (720, 1280), autorotate=False)
    assert len(upright) == SHARED_CLIP_FRAMES["moviepy__fire2.mp4"]
    indices = video.frame_indices(len(upright), 6)
    frames = video.sample_frames(path, 6).astype(np.int16)
    assert frames.shape == (6, 720, 1280, 3)
    assert np.abs(frames - upright[indices]).mean() < 0.5
    assert np.abs(frames - stored[indices]).mean() > 20  # the stored pixels are upside down
    assert np.abs(frames - stored[indices][:, ::-1, ::-1]).mean() < 0.5  # ... by 180 degrees


# --- videos made here -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def h264_short_gop(made) -> pathlib.Path:
    """300 frames, CFR H.264 with a keyframe every 12 frames: seeking pays off."""
    options = ["-c:v", "libx264", "-g", "12", "-sc_threshold", "0", "-pix_fmt", "yuv420p"]
    options += ["-movflags", "+faststart"]  # index first: a cut file keeps it
    return ffmpeg_encode(made / "gop12.mp4", 300, options)


def test_pattern_avi_from_opencv_writer_is_evenly_sampled(tmp_path):
    path = tmp_path / "pattern.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for i in range(97):
        writer.write(cv2.cvtColor(pattern_frame(i), cv2.COLOR_RGB2BGR))
    writer.release()
    assert video.count_frames(path) == 97
    for num_frames in (1, 10, 96):
        frames = video.sample_frames(path, num_frames)
        assert frames.shape == (num_frames, HEIGHT, WIDTH, 3)
        assert numbers(frames) == video.frame_indices(97, num_frames).tolist()
    # Fewer frames than asked: all of them, in order (the caller pads and masks).
    assert numbers(video.sample_frames(path, 500)) == list(range(97))


def test_seeking_is_chosen_for_sparse_frames_and_is_exact(h264_short_gop):
    probe = video.probe_video(h264_short_gop)
    assert probe.seekable, probe.reason
    assert probe.packets == 300 and probe.keyframes.tolist() == list(range(0, 300, 12))
    # 64x48 frames decode in ~40 us: only very sparse sampling repays a seek's ~0.5 ms.
    costs = video.estimate_costs(probe, 2)
    assert costs["seek"] < costs["sequential"] == 300
    assert video.choose_strategy(probe, 2) == "seek"
    assert video.choose_strategy(probe, 150) == "sequential"  # frames 2 apart: decode them all
    reference = opencv_decode(h264_short_gop)
    for num_frames in (2, 8, 40):
        indices = video.frame_indices(300, num_frames)
        by_strategy = {
            s: video.sample_frames(h264_short_gop, num_frames, s)
            for s in ("auto", "seek", "sequential")
        }
        kept = video._read_by_seeking(probe, num_frames)  # the seek path itself, no fallback
        assert kept is not None and sorted(kept) == indices.tolist()
        for frames in by_strategy.values():
            assert numbers(frames) == indices.tolist()
            np.testing.assert_array_equal(frames, np.stack([reference[i] for i in indices]))


def test_seeking_falls_back_when_the_count_is_wrong(h264_short_gop):
    """Had the probe over-counted, the check after the last frame must refuse the seek result."""
    probe = video.probe_video(h264_short_gop)
    assert video._read_by_seeking(probe, 8) is not None
    assert video._read_by_seeking(dataclasses.replace(probe, packets=302), 8) is None


def test_variable_frame_rate_is_not_seeked(made):
    """Irregular timestamps: OpenCV's seek would land on the wrong frames, so decode through."""
    options = ["-vf", "setpts='(N+floor(N/4)*0.5)/(25*TB)'", "-fps_mode", "passthrough"]
    path = ffmpeg_encode(made / "vfr.mp4", 120, [*options, "-c:v", "libx264", "-g", "12"])
    probe = video.probe_video(path)
    assert probe.packets == 120 and not probe.seekable and "variable frame rate" in probe.reason
    for strategy in ("auto", "seek"):
        frames = video.sample_frames(path, 12, strategy)
        assert numbers(frames) == video.frame_indices(120, 12).tolist()


def test_webm_without_duration(made):
    """A WebM written to a pipe stores no duration: OpenCV's frame count is garbage."""
    path = ffmpeg_encode(made / "no_duration.webm", 120, ["-c:v", "libvpx", "-f", "webm"], True)
    reported = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG).get(cv2.CAP_PROP_FRAME_COUNT)
    assert reported != 120
    assert video.count_frames(path) == 120
    assert numbers(video.sample_frames(path, 16)) == video.frame_indices(120, 16).tolist()


def test_truncated_file_is_sampled_over_the_frames_that_decode(h264_short_gop, tmp_path):
    """The container still claims 300 frames; only a prefix decodes, and a packet or two
    more than that can be read: the frames are spaced over the true count, none past it."""
    path = tmp_path / "truncated.mp4"
    data = h264_short_gop.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    total = video.count_frames(path)
    assert total == len(opencv_decode(path))
    assert 0 < total < 300
    assert cv2.VideoCapture(str(path), cv2.CAP_FFMPEG).get(cv2.CAP_PROP_FRAME_COUNT) == 300
    for num_frames in (16, 100):
        frames = video.sample_frames(path, num_frames)
        assert numbers(frames) == video.frame_indices(total, num_frames).tolist()


@pytest.mark.parametrize(
    ("rotation", "quarter_turns", "band"),
    # FFmpeg's display rotation is counter-clockwise: at 90 degrees the top band shows on the left.
    [(90, 1, np.s_[:, :, :BAND]), (-90, 3, np.s_[:, :, -BAND:]), (180, 2, np.s_[:, -BAND:])],
)
def test_rotation_metadata_is_applied(made, rotation, quarter_turns, band):
    source = ffmpeg_encode(made / "upright.mp4", 40, ["-c:v", "libx264", "-g", "10"])
    path = made / f"rotated_{rotation}.mp4"
    command = [FFMPEG, "-v", "error", "-y", "-display_rotation:v:0", str(rotation)]
    subprocess.run([*command, "-i", str(source), "-c", "copy", str(path)], check=True)
    frames = video.sample_frames(path, 5)
    expected = np.rot90(video.sample_frames(source, 5), quarter_turns, axes=(1, 2))
    if quarter_turns % 2:
        assert frames.shape == (5, WIDTH, HEIGHT, 3)  # portrait: height and width swap
    np.testing.assert_array_equal(frames, expected)
    assert numbers(np.rot90(frames, -quarter_turns, axes=(1, 2))) == [4, 12, 20, 28, 36]
    # As a player shows it: ffmpeg's own autorotation agrees, the red band is on that side.
    upright = ffmpeg_decode(path, frames.shape[1:3], autorotate=True)
    assert np.abs(frames.astype(np.int16) - upright[video.frame_indices(40, 5)]).mean() < 0.5
    red = frames[band].astype(np.float64)
    assert red[..., 0].mean() > 200 and red[..., 1:].mean() < 60


# --- files that are not videos --------------------------------------------------------------------


def _missing(tmp_path):
    return tmp_path / "missing.mp4"


def _empty(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


def _header_only(tmp_path):
    """A real MP4 cut right after its header: the index (moov) is whole, no frame data."""
    source = ffmpeg_encode(
        tmp_path / "source.mp4", 20, ["-c:v", "libx264", "-movflags", "+faststart"]
    )
    data = source.read_bytes()
    path = tmp_path / "header_only.mp4"
    path.write_bytes(data[: data.index(b"mdat") + 4])
    return path


def _text(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is a text file with a video suffix\n")
    return path


def _directory(tmp_path):
    path = tmp_path / "folder.mp4"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_missing, "does not exist"),
        (_empty, "file is 0 bytes"),
        (_header_only, "no frame could be decoded"),
        (_text, "could not open"),
        (_directory, "is a directory"),
    ],
)
def test_undecodable_files_raise_video_decode_error(make, reason, tmp_path):
    path = make(tmp_path)
    for function in (lambda: video.sample_frames(path, 4), lambda: video.count_frames(path)):
        with pytest.raises(video.VideoDecodeError, match=reason) as error:
            function()
        assert str(error.value).startswith(f"{path}: ")
        assert isinstance(error.value, ValueError)


# --- truncated videos: decoded against expected frames -------------------------------------------

# The reproduction: the first 30% of a shared clip whose index is at the start.
TRUNCATED_SOURCE, TRUNCATED_BYTES = "moviepy__fire2.mp4", 535162


def cut_clip(shared_videos: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    """The first 535162 bytes of moviepy__fire2.mp4 (1 of its 25 frames decodes), in `folder`."""
    path = folder / "fire2_cut.mp4"
    path.write_bytes((shared_videos / TRUNCATED_SOURCE).read_bytes()[:TRUNCATED_BYTES])
    return path


def test_truncated_clip_gives_both_counts_and_one_warning(shared_videos, tmp_path, caplog):
    path = cut_clip(shared_videos, tmp_path)
    with caplog.at_level("WARNING", logger="vidcls_keras.video"):
        frames, count = video.read_frames(path, 16)
    assert frames.shape[0] == 1
    assert count == video.FrameCount(str(path), decoded=1, expected=25)
    assert count.truncated
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == count.warning
    assert count.warning.startswith(f"{path}: only 1 of the 25 frames its container lists decode")
    caplog.clear()
    with caplog.at_level("WARNING", logger="vidcls_keras.video"):
        assert video.sample_frames(path, 16).shape[0] == 1  # the plain API warns too
    assert [r.getMessage() for r in caplog.records] == [count.warning]


# What the README says OpenCV reports before decoding: exact, a few frames high, or garbage (None).
SHARED_CLIP_EXPECTED = {
    **SHARED_CLIP_FRAMES,
    "decord__flipping_a_pancake.mkv": 311,
    "mdn__flower.webm": 152,
    "imageio__test.webm": None,
}


@pytest.mark.parametrize("name", sorted(SHARED_CLIP_FRAMES))
def test_whole_shared_clips_are_not_truncated(name, shared_videos, caplog):
    """Over-reported counts (311 for 310, 152 for 150) and garbage ones must stay silent."""
    with caplog.at_level("WARNING", logger="vidcls_keras.video"):
        count = video.read_frames(shared_videos / name, 16).count
    assert (count.decoded, count.expected) == (SHARED_CLIP_FRAMES[name], SHARED_CLIP_EXPECTED[name])
    assert not count.truncated and count.warning == ""
    assert caplog.records == []


def test_seeking_counts_the_frames_too(h264_short_gop, tmp_path):
    """The seek path decodes few frames but confirms the last one: `decoded` is exact."""
    probe = video.probe_video(h264_short_gop)
    assert video.choose_strategy(probe, 2) == "seek"
    assert video.read_frames(h264_short_gop, 2).count == video.FrameCount(
        str(h264_short_gop), 300, 300
    )
    cut = tmp_path / "gop12_cut.mp4"
    cut.write_bytes(h264_short_gop.read_bytes()[: h264_short_gop.stat().st_size // 2])
    count = video.read_frames(cut, 8, "seek").count  # not seekable (count != packets): decoded
    assert count.expected == 300 and count.decoded == video.count_frames(cut) < 150
    assert count.truncated


@pytest.mark.parametrize(
    ("decoded", "expected", "truncated"),
    [
        (1, 25, True),  # the clip
        (13, 25, True),  # 70% of its bytes
        (20, 25, False),  # 90% of its bytes: 80% of the frames, within the tolerance
        (310, 311, False),  # Matroska over-reports
        (150, 152, False),
        (94, None, False),  # no plausible count: nothing to compare with
        (2, 4, False),  # 2 missing: too few to tell from a miscount
        (1, 4, True),
        (300, 250, False),  # more frames than listed is not truncation
    ],
)
def test_truncation_rule(decoded, expected, truncated):
    assert video.is_truncated(decoded, expected) is truncated
    assert bool(video.truncation_message("v.mp4", decoded, expected)) is truncated


@pytest.mark.parametrize(
    ("reported", "size", "expected"),
    [
        (25.0, 535162, 25),
        (-2.794961223289326e17, 1074316, None),  # imageio__test.webm: no stored duration
        (0.0, 1000, None),
        (float("nan"), 1000, None),
        (float("inf"), 1000, None),
        (5e6, 1000, None),  # more frames than bytes
    ],
)
def test_container_frame_count_keeps_only_plausible_counts(reported, size, expected):
    assert video.container_frame_count(reported, size) == expected
