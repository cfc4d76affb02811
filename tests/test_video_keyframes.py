"""`vidcls_keras.video`'s cost model (resolution and bits per frame) and the keyframe mode.

The cost-model tests build `VideoProbe`s by hand (a 10-minute 30 fps video, a keyframe every 5 s)
and check the decisions' shape; the keyframe tests run on short videos generated here with
ffmpeg (H.264 and VP9, a keyframe every second), against exact reads of the same files.
"""

import dataclasses
import pathlib
import subprocess
import sys

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from vidcls_keras import video
from vidcls_keras.errors import VidclsError

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def synthetic_probe(width: int, height: int, bytes_per_frame: int) -> video.VideoProbe:
    """A 10-minute 30 fps stream with a keyframe every 150 frames, as `probe_video` reports it."""
    packets = 18_000
    return video.VideoProbe(
        path="synthetic.mp4",
        packets=packets,
        reported_frames=float(packets),
        fps=30.0,
        keyframes=np.arange(0, packets, 150, dtype=np.int64),
        seekable=True,
        reason="",
        width=width,
        height=height,
        file_bytes=packets * bytes_per_frame,
    )


@pytest.fixture
def two_cores(monkeypatch):
    """The seek overhead counts decoder threads (one per core): fix them for these tests."""
    monkeypatch.setattr(cv2, "getNumberOfCPUs", lambda: 2)


def test_decode_cost_grows_with_resolution_and_bits(two_cores):
    smooth_360 = synthetic_probe(640, 360, 200)
    noise_360 = synthetic_probe(640, 360, 50_000)
    smooth_720 = synthetic_probe(1280, 720, 400)
    seconds = video.frame_decode_seconds
    assert seconds(smooth_360) < seconds(smooth_720) < seconds(noise_360)
    # A seek's fixed cost is worth more frames of a light video than of a heavy one.
    assert video.seek_overhead_frames(smooth_360) > video.seek_overhead_frames(noise_360)
    assert video.seek_overhead_frames(noise_360) > 2  # never below the decoder's delay


def test_heavier_frames_never_make_seeking_less_attractive(two_cores):
    """Over every frame count: a textured video seeks whenever a smooth one does, and more."""
    light = synthetic_probe(64, 48, 50)
    heavy = synthetic_probe(1280, 720, 200_000)
    light_choice = [video.choose_strategy(light, n) for n in range(1, 400, 3)]
    heavy_choice = [video.choose_strategy(heavy, n) for n in range(1, 400, 3)]
    for first, second in zip(light_choice, heavy_choice, strict=True):
        assert not (first == "seek" and second == "sequential")
    assert light_choice != heavy_choice  # the content changes some decisions
    assert light_choice[0] == heavy_choice[0] == "seek"  # 1 frame of 10 minutes: always seek
    seconds = video.estimate_seconds(heavy, 100)
    assert seconds["seek"] < seconds["sequential"]
    assert seconds["sequential"] == pytest.approx(18_000 * video.frame_decode_seconds(heavy))


def test_seek_is_chosen_when_estimated_clearly_under_a_full_decode(two_cores):
    """Between 0.75 and 0.9 of a full decode the old rule decoded everything: auto lost >15%."""
    probe = synthetic_probe(640, 360, 2_000)
    for num_frames in range(1, 400, 7):
        costs = video.estimate_costs(probe, num_frames)
        ratio = costs["seek"] / costs["sequential"]
        expected = "seek" if ratio < 0.9 else "sequential"
        assert video.choose_strategy(probe, num_frames) == expected, (num_frames, ratio)
    unseekable = dataclasses.replace(probe, seekable=False, reason="variable frame rate")
    assert video.estimate_costs(unseekable, 4)["seek"] is None
    assert video.choose_strategy(unseekable, 4) == "sequential"


def test_nearest_keyframes():
    probe = dataclasses.replace(
        synthetic_probe(640, 360, 200), packets=100, keyframes=np.array([0, 30, 60, 90])
    )
    targets = video.frame_indices(100, 4)  # 12, 37, 62, 87
    assert targets.tolist() == [12, 37, 62, 87]
    assert video.nearest_keyframes(probe, 4).tolist() == [0, 30, 60, 90]
    assert video.keyframe_offset_seconds(probe, 4) == pytest.approx((12 + 7 + 2 + 3) / 4 / 30)
    tie = dataclasses.replace(probe, packets=20, keyframes=np.array([0, 20]))  # target 10
    assert video.nearest_keyframes(tie, 1).tolist() == [0]  # a tie takes the earlier keyframe
    # Many targets per keyframe: non-decreasing, each a keyframe.
    many = video.nearest_keyframes(probe, 50)
    assert np.all(np.diff(many) >= 0) and set(many.tolist()) == {0, 30, 60, 90}


def encode(path: pathlib.Path, codec: list[str], extra: list[str] = ()) -> pathlib.Path:
    """10 s of ffmpeg's test pattern, 160x120 at 25 fps, a keyframe every 25 frames."""
    command = [
        FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=10",
        *codec, "-g", "25", "-keyint_min", "25", "-pix_fmt", "yuv420p", *extra, str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


H264 = ["-c:v", "libx264", "-preset", "veryfast", "-sc_threshold", "0"]
VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("keyframes")
    return {"h264": encode(folder / "k.mp4", H264), "vp9": encode(folder / "k.webm", VP9)}


@pytest.mark.parametrize("codec", ["h264", "vp9"])
@pytest.mark.parametrize("num_frames", [4, 16])
def test_keyframe_mode_gives_the_nearest_keyframes_exactly(clips, codec, num_frames):
    pytest.importorskip("av")
    path = clips[codec]
    probe = video.probe_video(path)
    assert probe.seekable, probe.reason
    assert probe.keyframes.tolist() == list(range(0, 250, 25))
    every_frame = video.sample_frames(path, probe.packets, "sequential")
    chosen = np.unique(video.nearest_keyframes(probe, num_frames))
    result = video.read_frames(path, num_frames, frame_sampling="keyframes")
    # Each distinct nearest keyframe once, the same pixels as an exact decode gives for it.
    np.testing.assert_array_equal(result.frames, every_frame[chosen])
    assert len(result.frames) == min(num_frames, len(probe.keyframes))
    assert result.count == video.FrameCount(str(path), 250, probe.packets)
    # At most half a keyframe interval (0.5 s) from each exact position.
    assert 0 < video.keyframe_offset_seconds(probe, num_frames) <= 0.5


def test_keyframe_mode_reads_only_keyframes(clips, monkeypatch):
    """The keyframe path never reaches OpenCV's decoders, which would decode whole groups."""
    pytest.importorskip("av")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded with OpenCV in keyframe mode")

    monkeypatch.setattr(video, "_read_sequential", no_decoding)
    monkeypatch.setattr(video, "_read_by_seeking", no_decoding)
    frames = video.sample_frames(clips["h264"], 8, frame_sampling="keyframes")
    assert frames.shape == (8, 120, 160, 3)


def test_keyframe_mode_on_a_rotated_video_is_upright(clips, tmp_path):
    pytest.importorskip("av")
    rotated = tmp_path / "rotated.mp4"
    command = [FFMPEG, "-v", "error", "-y", "-display_rotation:v:0", "90"]
    subprocess.run([*command, "-i", str(clips["h264"]), "-c", "copy", str(rotated)], check=True)
    probe = video.probe_video(rotated)
    exact = video.sample_frames(rotated, probe.packets, "sequential")
    frames = video.sample_frames(rotated, 4, frame_sampling="keyframes")
    assert frames.shape == (4, 160, 120, 3)  # portrait, as OpenCV rotates it
    np.testing.assert_array_equal(frames, exact[np.unique(video.nearest_keyframes(probe, 4))])


def test_keyframe_mode_reads_exactly_where_seeking_is_not_exact(tmp_path):
    """A variable-frame-rate stream: no index <-> timestamp rule, so the exact frames come back."""
    pytest.importorskip("av")
    path = encode(
        tmp_path / "vfr.mp4",
        H264,
        ["-vf", "setpts='(N+floor(N/4)*0.5)/(25*TB)'", "-fps_mode", "passthrough"],
    )
    assert not video.probe_video(path).seekable
    np.testing.assert_array_equal(
        video.sample_frames(path, 6, frame_sampling="keyframes"), video.sample_frames(path, 6)
    )


def test_bad_frame_sampling_and_missing_pyav_are_named(clips, monkeypatch):
    with pytest.raises(video.FrameSamplingError, match="'exact', 'keyframes'|exact, keyframes"):
        video.sample_frames(clips["h264"], 4, frame_sampling="nearest")
    assert issubclass(video.FrameSamplingError, VidclsError)
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    with pytest.raises(VidclsError, match="pip install av"):
        video.sample_frames(clips["h264"], 4, frame_sampling="keyframes")
