"""Evenly spaced, upright RGB frames from a video file (OpenCV's FFmpeg backend).

`sample_frames(path, num_frames)` returns `num_frames` frames spread over the whole video: frame
`floor((i + 0.5) * total / num_frames)` for `i = 0 .. num_frames - 1`, the centre of each of
`num_frames` equal stretches (see `frame_indices`), where `total` is the number of frames that
actually decode, not the count the container claims. A video with fewer frames than asked gives
all of them (`k < num_frames` rows); the caller pads and masks.

(About 640 lines, on purpose: this is the whole "frames" step, and its parts share one OpenCV
capture discipline: the probe, the choice between seeking and decoding in order, both readers and
the truncation check each need the others' facts; split, a reader would jump between files to
follow one decode.)

What real files do, and what this module does about it:

- The container's frame count (`CAP_PROP_FRAME_COUNT`) is an estimate: a few frames too high in
  Matroska/WebM (duration x frame rate), garbage (negative, huge) when no duration was stored,
  too high in a truncated MP4. It is never used to pick frames. A cheap demux-only pass (no
  decoding, a few milliseconds) counts the video packets instead, and the decode pass checks that
  count: when fewer frames decode, the indices are recomputed from the true count and the frames
  not already kept are read in a second pass.
- A truncated file (an interrupted download or copy) decodes to fewer frames than its
  container lists. `read_frames` returns both numbers (`FrameCount`: `decoded`, and `expected`,
  the container's count when it is plausible) and logs one WARNING per video when fewer than
  3/4 of the promised frames decode (`is_truncated`); the callers choose whether that fails
  (`vidcls_keras.embedding.pipeline`, policy `truncated`).
- Frames carry rotation metadata (phone video). `CAP_PROP_ORIENTATION_AUTO` is switched on
  explicitly, so frames come back as a player shows them (checked against ffmpeg's own
  autorotation in the tests).
- Frame rates vary inside a file. Seeking (`CAP_PROP_POS_FRAMES`) maps a frame index to a
  timestamp with the average frame rate, so it lands on the wrong frame in such files; it is
  used only where every packet timestamp maps back to its own index (see `probe_video`).

Two ways to read the chosen frames, picked per video by `choose_strategy` from a cost in decoded
frames, each frame weighted by its resolution and bits (`frame_decode_seconds`), a seek by its
fixed time and the decoder's delay (`seek_overhead_frames`); `bench/decode_strategies.py` and, at
real lengths, `bench/long_videos.py` measure both:

- "sequential": decode every frame (`grab()`), convert only the chosen ones (`retrieve()`).
  Costs `total` decodes. Always exact. Wins whenever frames are close together compared with
  the keyframe interval, which is every shared test clip at 16 and 100 frames.
- "seek": jump to each chosen frame; a seek decodes again from the keyframe before
  `index - 16` (OpenCV's seek backs off 16 frames). Wins for sparse sampling of long videos
  with frequent keyframes (a 3-minute 640x360 H.264 clip, keyframe every 5 s: 3.7x faster at
  16 frames, no faster at 100). Used only on streams where it is exact, and checked while
  reading: any surprise (a seek landing elsewhere, a frame that does not decode, a frame after
  the supposed last one) falls back to "sequential". What the checks cannot see: a packet in
  the middle of a stream that fails to decode. Sequential decoding skips it, so later frames
  shift down one index; seeking, which goes by timestamp, does not. Pass
  `strategy="sequential"` where that matters more than speed.

An approximate mode, opt-in: `frame_sampling="keyframes"` takes the keyframe nearest each evenly
spaced position (`nearest_keyframes`; `keyframe_offset_seconds` is the mean distance) and decodes
those keyframes alone (PyAV, an optional dependency: OpenCV's seek would decode the group of
pictures before each). On streams where seeking is not exact it reads the exact frames instead.
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import os
from typing import Literal, NamedTuple

import cv2
import numpy as np

from vidcls_keras.errors import VidclsError

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ogv",
    ".ts",
)
"""Lower-case file suffixes treated as videos when a folder is scanned."""

Strategy = Literal["auto", "sequential", "seek"]
FrameSampling = Literal["exact", "keyframes"]
FRAME_SAMPLINGS: tuple[str, ...] = ("exact", "keyframes")
"""`frame_sampling` values: "exact" (default) or "keyframes" (approximate, opt-in)."""

# OpenCV's FFmpeg seek goes to the keyframe before `index - _SEEK_BACKOFF`, then decodes forward.
_SEEK_BACKOFF = 16
# The cost model, in seconds of one core (`estimate_costs`). One frame costs about
# `_DECODE_S_PER_FRAME + _DECODE_S_PER_PIXEL * width * height + _DECODE_S_PER_BYTE * bytes per
# packet`: fitted on the CPU time of full decodes of H.264 clips (libx264 veryfast; 64x48, 360p
# and 720p; smooth gradients, light and heavy noise): 25 us per frame (packet read, decoder
# call) + 1.1 ns per pixel (prediction, deblocking, output) + 70 ns per byte (entropy
# decoding), within 30% on all of them.
_DECODE_S_PER_FRAME = 25e-6
_DECODE_S_PER_PIXEL = 1.1e-9
_DECODE_S_PER_BYTE = 70e-9
# One seek: the demuxer's seek and the decoder's flush (fixed) ...
_SEEK_FIXED_S = 0.5e-3
# ... plus the frames decoded past the target before it comes out: reordering (B-frames) and,
# with frame threads, one frame per extra decoder thread (OpenCV gives FFmpeg one per core, at
# most 16).
_SEEK_DELAY_FRAMES = 2
# Seek when its estimate is under this share of a full decode's. The benchmark's check is "auto
# within 15% of the faster strategy", so the threshold sits between 1/1.15 (a correct estimate
# never loses more than 15%) and 1 (a 13% error either way still keeps auto within 15%).
_SEEK_MAX_COST_RATIO = 0.9


# A video is "truncated" when fewer than this share of the frames its container lists decode...
TRUNCATED_BELOW = 0.75
# ... and at least this many are missing (a count off by one or two on a tiny clip is no sign).
_TRUNCATED_MIN_MISSING = 3


class VideoDecodeError(VidclsError):
    """A file that does not exist, is not a video, or from which no frame could be decoded."""


class FrameSamplingError(VidclsError):
    """A `frame_sampling` that is neither "exact" nor "keyframes"."""


class TruncatedVideoError(VideoDecodeError):
    """A video that decodes to far fewer frames than its container lists, where that must fail.

    Attributes:
        decoded: frames that decode.
        expected: frames the container lists.
    """

    def __init__(self, message: str, decoded: int, expected: int):
        super().__init__(message)
        self.decoded = decoded
        self.expected = expected

    def __reduce__(self):  # picklable (Beam workers, process pools) with its counts
        return type(self), (str(self), self.decoded, self.expected)


def _decode_error(path: str | os.PathLike, reason: str) -> VideoDecodeError:
    return VideoDecodeError(f"{os.fspath(path)}: {reason}")


def _check_num_frames(num_frames: int) -> int:
    try:
        value = operator.index(num_frames)
    except TypeError:
        raise ValueError(
            f"num_frames must be a positive integer, got {num_frames!r} "
            f"({type(num_frames).__name__})"
        ) from None
    if isinstance(num_frames, bool) or value <= 0:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    return value


def frame_indices(total: int, num_frames: int) -> np.ndarray:
    """Indices of `num_frames` evenly spaced frames among `total`: the centre of equal stretches.

    `index[i] = floor((i + 0.5) * total / num_frames)`, computed exactly in integers as
    `((2 * i + 1) * total) // (2 * num_frames)`. Splitting the video into `num_frames` equal
    stretches and taking the middle frame of each covers the whole video symmetrically: the
    first index is about `total / (2 * num_frames)` from the start and the last the same
    distance from the end, and no index reaches `total`. Consecutive indices differ by
    `total / num_frames` rounded down or up, so they are strictly increasing. (The original
    project took `step = total // num_frames` from frame 0, which skips the end of the video:
    for 199 frames and 100 samples, `step` is 1 and frames 100..198 are never seen.)

    When `num_frames >= total` every frame is returned once: `arange(total)`.

    Args:
        total: number of frames in the video, `>= 0`.
        num_frames: number of frames wanted, `>= 1`.

    Returns:
        int64 array of shape `(min(num_frames, total),)`, strictly increasing, in `[0, total)`.
    """
    num_frames = _check_num_frames(num_frames)
    if isinstance(total, bool) or not isinstance(total, int | np.integer):
        raise ValueError(f"total must be an integer number of frames, got {total!r}")
    total = int(total)
    if total < 0:
        raise ValueError(f"total must be >= 0 frames, got {total}")
    if num_frames >= total:
        return np.arange(total, dtype=np.int64)
    # Python integers: exact for any length (no float rounding, no int64 overflow).
    return np.array(
        [((2 * i + 1) * total) // (2 * num_frames) for i in range(num_frames)], dtype=np.int64
    )


@dataclasses.dataclass(frozen=True)
class VideoProbe:
    """What a demux-only pass over a video's packets tells (no frame is decoded).

    Attributes:
        path: the file, as given.
        packets: number of video packets; the decodable frame count except in damaged files.
        reported_frames: the container's frame count (`CAP_PROP_FRAME_COUNT`), often wrong.
        fps: the stream's average frame rate as OpenCV reports it (0 when unknown).
        keyframes: int64 `(num_keyframes,)`, presentation indices of keyframes, increasing.
        seekable: True when seeking by frame index is exact for this stream.
        reason: why `seekable` is False ("" when it is True).
        width: frame width in pixels as stored (0 when unknown).
        height: frame height in pixels as stored (0 when unknown).
        file_bytes: the file's size in bytes; `file_bytes / packets` is the decode-cost proxy
            for the bits each frame carries (textured content carries more and decodes slower).
    """

    path: str
    packets: int
    reported_frames: float
    fps: float
    keyframes: np.ndarray
    seekable: bool
    reason: str
    width: int = 0
    height: int = 0
    file_bytes: int = 0


def container_frame_count(reported: float, file_size: int) -> int | None:
    """The container's frame count when it is plausible, else None.

    Plausible: a finite count of at least one frame and at most one frame per byte of the file.
    What it rules out is what the shared clips show: garbage (about -2.8e17) in files stored
    without a duration, and 0 when a container lists nothing. A count off by a few frames
    (Matroska/WebM: duration x frame rate) is kept; `is_truncated` tolerates it.

    Args:
        reported: `CAP_PROP_FRAME_COUNT` (`VideoProbe.reported_frames`).
        file_size: the file's size in bytes.
    """
    if not np.isfinite(reported) or not 1 <= reported <= max(file_size, 1):
        return None
    return round(reported)


def is_truncated(decoded: int, expected: int | None) -> bool:
    """Whether `decoded` frames are far fewer than the `expected` ones a container lists.

    True when fewer than `TRUNCATED_BELOW` (3/4) of the expected frames decode and at least 3
    are missing. Container counts are estimates: the shared clips' are 0 to 2 frames (under 2%)
    too high, and a Matroska file whose audio outlasts its video can list a little more, so
    small gaps are not reported. A quarter of the video missing is beyond any estimate; it is
    what a cut file shows (30% of `moviepy__fire2.mp4`'s bytes decode to 1 of 25 frames, 70%
    to 13). `expected=None` (no plausible count) is never truncated.
    """
    if expected is None:
        return False
    missing = expected - decoded
    return missing >= _TRUNCATED_MIN_MISSING and decoded < TRUNCATED_BELOW * expected


def truncation_message(path: str | os.PathLike, decoded: int, expected: int | None) -> str:
    """`"<path>: only 1 of the 25 frames its container lists decode (...)"`; "" if not truncated."""
    if not is_truncated(decoded, expected):
        return ""
    return (
        f"{os.fspath(path)}: only {decoded} of the {expected} frames its container lists decode "
        "(a truncated or damaged file, e.g. an interrupted download)"
    )


@dataclasses.dataclass(frozen=True)
class FrameCount:
    """How many frames of a video decode, against how many its container lists.

    Attributes:
        path: the file, as given.
        decoded: frames that actually decode (a full decode, or an exact seek to the last one).
        expected: the container's frame count when plausible (`container_frame_count`), else
            None.
    """

    path: str
    decoded: int
    expected: int | None

    @property
    def truncated(self) -> bool:
        """Far fewer frames decode than the container lists (`is_truncated`)."""
        return is_truncated(self.decoded, self.expected)

    @property
    def warning(self) -> str:
        """The truncation warning (`truncation_message`), "" when the video is not truncated."""
        return truncation_message(self.path, self.decoded, self.expected)


class SampledFrames(NamedTuple):
    """`read_frames`' result: the frames, and how many frames decode against the promise.

    Attributes:
        frames: uint8 `(k, H, W, 3)`, RGB (see `sample_frames`).
        count: `FrameCount` of the whole video.
    """

    frames: np.ndarray
    count: FrameCount


def _open(path: str | os.PathLike) -> cv2.VideoCapture:
    """Opens `path` for decoding on the CPU with rotation metadata applied; raises if it cannot."""
    _check_file(path)
    # Software decoding: hardware decoders reject some streams (4:4:4 chroma) and differ in output.
    capture = cv2.VideoCapture(
        os.fspath(path),
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_HW_ACCELERATION, cv2.VIDEO_ACCELERATION_NONE],
    )
    if not capture.isOpened():
        raise _decode_error(
            path,
            "OpenCV's FFmpeg backend could not open it: not a video, or a container it does not "
            f"read (file is {os.path.getsize(path)} bytes)",
        )
    # On by default in OpenCV >= 4.5, but a player-shaped frame is part of this module's contract.
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _check_file(path: str | os.PathLike) -> None:
    if not os.path.exists(path):
        if os.path.lexists(path):  # the name exists: a link that leads nowhere
            raise _decode_error(path, "is a symbolic link loop or a dangling link")
        raise _decode_error(path, "file does not exist")
    if os.path.isdir(path):
        raise _decode_error(path, "is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise _decode_error(path, "file is not readable (permissions)")
    if os.path.getsize(path) == 0:
        raise _decode_error(path, "no frame could be decoded (file is 0 bytes)")


def _no_frames_error(path: str | os.PathLike, capture: cv2.VideoCapture) -> VideoDecodeError:
    reported = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return _decode_error(
        path,
        f"no frame could be decoded (file is {os.path.getsize(path)} bytes, the container "
        f"reports {reported:g} frames): truncated, damaged, or a codec FFmpeg cannot decode",
    )


def probe_video(path: str | os.PathLike) -> VideoProbe:
    """Counts a video's packets and finds its keyframes without decoding (a few milliseconds).

    Seeking by frame index is declared exact (`seekable`) only when all of these hold:
    packets have timestamps, the container's count equals the packet count (OpenCV's seek clamps
    to the container's count), and every packet's timestamp `t` maps back to its own
    presentation index as `round(t * fps)`, which is how OpenCV's seek turns timestamps into
    frame numbers. Variable-frame-rate streams fail the last test.

    Args:
        path: a video file.

    Returns:
        A `VideoProbe`; `packets == 0` when the demuxer could not read the file (decoding may
        still work, or raise `VideoDecodeError`).

    Raises:
        VideoDecodeError: the path does not exist, is a directory, or is an empty file.
    """
    _check_file(path)
    # CAP_PROP_FORMAT = -1: raw mode, grab() reads one packet and decodes nothing.
    capture = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1])
    try:
        if not capture.isOpened():
            return VideoProbe(
                os.fspath(path), 0, 0.0, 0.0, np.zeros(0, np.int64), False, "unopened"
            )
        reported = float(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        times_ms, is_key = [], []
        while capture.grab():
            times_ms.append(capture.get(cv2.CAP_PROP_POS_MSEC))
            is_key.append(capture.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME) > 0)
    finally:
        capture.release()
    packets = len(times_ms)
    times_ms = np.asarray(times_ms, np.float64)
    # Packets come in decode order; a keyframe's presentation index is the rank of its timestamp.
    order = np.argsort(times_ms, kind="stable")
    rank = np.empty(packets, np.int64)
    rank[order] = np.arange(packets)
    keyframes = np.sort(rank[np.asarray(is_key, bool)]) if packets else np.zeros(0, np.int64)

    reason = ""
    if packets == 0:
        reason = "no video packets"
    elif not np.isfinite(fps) or fps <= 0:
        reason = f"no frame rate ({fps!r})"
    elif reported != packets:
        reason = f"container reports {reported:g} frames but holds {packets} packets"
    elif keyframes.size == 0 or keyframes[0] != 0:
        reason = "first frame is not a keyframe"
    elif np.unique(times_ms).size != packets:
        reason = "packets without distinct timestamps"
    else:
        position = np.sort(times_ms) / 1000.0 * fps
        nearest = np.round(position)
        # Exactly one index per frame, far from a rounding tie, so OpenCV's float maths agrees.
        if np.any(nearest - nearest[0] != np.arange(packets)):
            reason = "timestamps are not one frame apart (variable frame rate)"
        elif np.max(np.abs(position - nearest)) > 0.25:
            reason = "timestamps fall between frame slots (variable frame rate)"
    return VideoProbe(
        path=os.fspath(path),
        packets=packets,
        reported_frames=reported,
        fps=fps,
        keyframes=keyframes,
        seekable=not reason,
        reason=reason,
        width=width,
        height=height,
        file_bytes=os.path.getsize(path),
    )


def frame_decode_seconds(probe: VideoProbe) -> float:
    """Estimated seconds of one core to decode one frame of this video (the cost model's unit).

    `25 us + 1.1 ns x width x height + 70 ns x bytes per packet` (`file_bytes / packets`): resolution
    sets the per-pixel work, the bits per frame the entropy decoding, which is what makes
    textured content 3-10x slower to decode than smooth content of the same size.
    """
    pixels = probe.width * probe.height if probe.width > 0 and probe.height > 0 else 640 * 360
    bytes_per_frame = probe.file_bytes / probe.packets if probe.packets > 0 else 0.0
    return _DECODE_S_PER_FRAME + _DECODE_S_PER_PIXEL * pixels + _DECODE_S_PER_BYTE * bytes_per_frame


def seek_overhead_frames(probe: VideoProbe) -> float:
    """Estimated cost of one seek, in frames of this video (see `frame_decode_seconds`).

    The decoder's delay (reordering, and one frame per extra frame thread: OpenCV gives FFmpeg
    one per core, at most 16), plus the demuxer's seek and the flush, a fixed time that weighs
    more on small, smooth frames than on large, textured ones.
    """
    threads = min(max(cv2.getNumberOfCPUs(), 1), 16)
    return _SEEK_DELAY_FRAMES + (threads - 1) + _SEEK_FIXED_S / frame_decode_seconds(probe)


def _seek_plan(probe: VideoProbe, targets: np.ndarray) -> tuple[list[tuple[int, bool]], float]:
    """For each target (then the last frame, to confirm the count): seek or decode forward.

    Returns:
        `([(index, seek?), ...], estimated cost in decoded-frame equivalents)`.
    """
    overhead = seek_overhead_frames(probe)
    plan, cost, position = [], 0.0, 0  # position: index the next grab() would decode
    for index in [*targets.tolist(), probe.packets - 1]:
        if index < position:  # the last frame was already a target
            continue
        forward = index - position + 1
        start = max(index - _SEEK_BACKOFF, 0)
        keyframe = int(probe.keyframes[np.searchsorted(probe.keyframes, start, side="right") - 1])
        by_seek = index - keyframe + 1 + overhead
        use_seek = by_seek < forward
        plan.append((index, use_seek))
        cost += by_seek if use_seek else forward
        position = index + 1
    return plan, cost


def estimate_costs(probe: VideoProbe, num_frames: int) -> dict[str, int | None]:
    """Estimated decoded-frame equivalents to read `num_frames` frames each way (the cost model).

    "sequential" decodes all `probe.packets` frames. "seek" decodes, per chosen frame, from the
    keyframe before `index - 16` plus the cost of the seek itself (`seek_overhead_frames`), or
    forward from the previous frame when that is cheaper, then the last frame to confirm the
    count. Multiply by `frame_decode_seconds(probe)` for seconds (`estimate_seconds`).

    Args:
        probe: from `probe_video`.
        num_frames: frames wanted, `>= 1`.

    Returns:
        `{"sequential": int, "seek": int or None}`; None when the stream is not `seekable`.
    """
    num_frames = _check_num_frames(num_frames)
    seek = None
    if probe.seekable:
        _, cost = _seek_plan(probe, frame_indices(probe.packets, num_frames))
        seek = round(cost)
    return {"sequential": probe.packets, "seek": seek}


def estimate_seconds(probe: VideoProbe, num_frames: int) -> dict[str, float | None]:
    """`estimate_costs` in seconds of one core: `{"sequential": s, "seek": s or None}`."""
    frame_s = frame_decode_seconds(probe)
    return {
        name: None if cost is None else cost * frame_s
        for name, cost in estimate_costs(probe, num_frames).items()
    }


def choose_strategy(probe: VideoProbe, num_frames: int) -> Literal["sequential", "seek"]:
    """Picks the cheaper exact way to read `num_frames` frames (`estimate_costs`).

    "seek" is chosen only on a `seekable` stream and only when its estimate is under 0.9 of a
    full decode's: with the seek's own cost in the estimate (a fixed time, which counts for more
    frames of a small smooth video than of a large textured one, and the decoder's delay), the
    remaining error is mostly in the per-frame costs, which both strategies share.

    Args:
        probe: from `probe_video`.
        num_frames: frames wanted, `>= 1`.

    Returns:
        "sequential" or "seek".
    """
    costs = estimate_costs(probe, num_frames)
    if costs["seek"] is not None and costs["seek"] < _SEEK_MAX_COST_RATIO * costs["sequential"]:
        return "seek"
    return "sequential"


def nearest_keyframes(probe: VideoProbe, num_frames: int) -> np.ndarray:
    """The keyframe nearest each of `frame_indices(probe.packets, num_frames)` (ties: earlier).

    Args:
        probe: from `probe_video`, with at least one keyframe.
        num_frames: frames wanted, `>= 1`.

    Returns:
        int64 `(min(num_frames, packets),)`, one keyframe index per target, non-decreasing (two
        targets may share a keyframe).
    """
    targets = frame_indices(probe.packets, num_frames)
    keys = np.asarray(probe.keyframes, np.int64)
    if keys.size == 0:
        raise ValueError(f"{probe.path}: the probe found no keyframe")
    after = np.clip(np.searchsorted(keys, targets, side="left"), 0, keys.size - 1)
    before = np.clip(np.searchsorted(keys, targets, side="right") - 1, 0, keys.size - 1)
    use_after = np.abs(keys[after] - targets) < np.abs(targets - keys[before])
    return np.where(use_after, keys[after], keys[before])


def keyframe_offset_seconds(probe: VideoProbe, num_frames: int) -> float:
    """Mean distance in seconds between the exact positions and the keyframes taken instead."""
    targets = frame_indices(probe.packets, num_frames)
    if targets.size == 0 or probe.fps <= 0:
        return 0.0
    return float(np.mean(np.abs(nearest_keyframes(probe, num_frames) - targets)) / probe.fps)


def _retrieve(capture: cv2.VideoCapture, path: str | os.PathLike, index: int) -> np.ndarray:
    ok, bgr = capture.retrieve()
    if not ok or bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise _decode_error(path, f"frame {index} decoded but could not be converted to RGB")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_sequential(
    path: str | os.PathLike, num_frames: int, expected_total: int
) -> tuple[dict[int, np.ndarray], int]:
    """Decodes every frame; keeps the frames at `frame_indices(true total, num_frames)`.

    Returns:
        `({index: frame}, number of frames that decode)`.
    """
    capture = _open(path)
    wanted = set(frame_indices(expected_total, num_frames).tolist())
    kept: dict[int, np.ndarray] = {}
    total = 0
    try:
        while capture.grab():
            if total in wanted:
                kept[total] = _retrieve(capture, path, total)
            total += 1
        if total == 0:
            raise _no_frames_error(path, capture)
    finally:
        capture.release()
    indices = frame_indices(total, num_frames).tolist()
    kept = {index: kept[index] for index in indices if index in kept}
    missing = [index for index in indices if index not in kept]
    if missing:
        # The expected count was wrong: read the frames that the true count asks for.
        logger.debug("%s: expected %d frames, decoded %d", os.fspath(path), expected_total, total)
        capture, wanted, position = _open(path), set(missing), 0
        try:
            while position <= missing[-1]:
                if not capture.grab():
                    raise _decode_error(
                        path, f"frame {position} decoded once but not on a second pass"
                    )
                if position in wanted:
                    kept[position] = _retrieve(capture, path, position)
                position += 1
        finally:
            capture.release()
    return kept, total


def _read_by_seeking(probe: VideoProbe, num_frames: int) -> dict[int, np.ndarray] | None:
    """Reads the chosen frames by seeking; None when anything disagrees with the probe."""
    path = probe.path
    targets = frame_indices(probe.packets, num_frames)
    wanted = set(targets.tolist())
    plan, _ = _seek_plan(probe, targets)
    capture = _open(path)
    kept: dict[int, np.ndarray] = {}
    position = 0
    try:
        for index, use_seek in plan:
            if use_seek:
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != index:
                    return None
            else:
                for _ in range(index - position):
                    if not capture.grab():
                        return None
            if not capture.grab():
                return None
            if index in wanted:
                kept[index] = _retrieve(capture, path, index)
            position = index + 1
        # The last planned index is packets - 1: nothing may decode after it.
        if capture.grab():
            return None
    finally:
        capture.release()
    return kept


def _import_av():
    try:
        import av
    except ImportError as error:  # optional: only the keyframe mode needs it
        raise VidclsError(
            'frame_sampling="keyframes" decodes keyframes alone with PyAV, which is not '
            "installed: pip install av (or use the default exact sampling)"
        ) from error
    return av


_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _read_keyframes(probe: VideoProbe, indices: np.ndarray) -> dict[int, np.ndarray] | None:
    """Decodes only the keyframes at `indices` (PyAV: seek to each, decode one frame).

    OpenCV cannot do this: its seek backs off 16 frames, so seeking to a keyframe decodes the
    whole group of pictures before it. Each frame's timestamp is checked against its index (the
    probe's `round(t * fps)` rule); None when any disagrees, so the caller reads exactly instead.
    Frames are rotated as OpenCV rotates them (the display matrix), RGB uint8.
    """
    av = _import_av()
    kept: dict[int, np.ndarray] = {}
    try:
        with av.open(probe.path) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"  # H.264/HEVC: never decode the rest
            time_base = float(stream.time_base)
            first = next(container.decode(stream))
            if first.pts is None:
                return None
            for index in indices.tolist():
                if index in kept:
                    continue
                # A quarter frame past the keyframe: float rounding of fps cannot land before it.
                pts = first.pts + round((index + 0.25) / probe.fps / time_base)
                container.seek(pts, stream=stream, backward=True, any_frame=False)
                frame = next(container.decode(stream))
                if (
                    frame.pts is None
                    or round((frame.pts - first.pts) * time_base * probe.fps) != index
                ):
                    return None
                rgb = frame.to_ndarray(format="rgb24")
                # PyAV's angle is counter-clockwise, OpenCV's clockwise (the same display matrix).
                angle = -int(getattr(frame, "rotation", 0) or 0) % 360
                if angle in _ROTATE:
                    rgb = cv2.rotate(rgb, _ROTATE[angle])
                kept[index] = rgb
    except (av.error.FFmpegError, StopIteration, IndexError, ValueError) as error:
        logger.debug("%s: keyframe read failed (%s)", probe.path, error)
        return None
    return kept


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames that actually decode (a full decode, no colour conversion).

    Args:
        path: a video file.

    Returns:
        The decodable frame count, `>= 1`.

    Raises:
        VideoDecodeError: missing, not a video, or no frame decodes.
    """
    capture = _open(path)
    try:
        total = 0
        while capture.grab():
            total += 1
        if total == 0:
            raise _no_frames_error(path, capture)
    finally:
        capture.release()
    return total


def sample_frames(
    path: str | os.PathLike,
    num_frames: int,
    strategy: Strategy = "auto",
    frame_sampling: FrameSampling = "exact",
) -> np.ndarray:
    """`num_frames` evenly spaced, upright RGB frames covering the whole video.

    The frames are those at `frame_indices(total, num_frames)`, i.e.
    `floor((i + 0.5) * total / num_frames)` for `i < num_frames`, where `total` is the number of
    frames that decode (not the container's claim). Rotation metadata is applied, so a phone
    video filmed upside down or in portrait comes back as a player shows it, with `H` and `W`
    swapped for 90/270 degree rotations. `read_frames(...).frames`: a truncated video logs a
    WARNING; use `read_frames` to get the counts.

    Args:
        path: a video file.
        num_frames: frames wanted, `>= 1`.
        strategy: "auto" (default) picks the cheaper exact way per video (`choose_strategy`);
            "sequential" always decodes every frame; "seek" seeks whenever the stream allows
            exact seeking, whatever the cost. All three return the same frames.
        frame_sampling: "exact" (default): the frames above. "keyframes" (approximate, opt-in,
            for huge corpora): the keyframe nearest each of those positions
            (`nearest_keyframes`), each distinct keyframe once, decoding keyframes only (needs
            PyAV: pip install av); `strategy` is then unused. Streams where seeking by index is
            not exact (`VideoProbe.seekable` False), or where a keyframe's timestamp disagrees
            with the probe, are read exactly instead.

    Returns:
        uint8 array `(k, H, W, 3)`, RGB, `k = min(num_frames, total)` (keyframes: `k` = the
        number of distinct nearest keyframes, at most that).

    Raises:
        ValueError: `num_frames` is not a positive integer, or an unknown `strategy`.
        VideoDecodeError: the file is missing, a directory, empty, not a video, or no frame
            of it decodes.
    """
    return read_frames(path, num_frames, strategy, frame_sampling).frames


def check_frame_sampling(value: str, source: str = "frame_sampling") -> FrameSampling:
    """Validates a frame sampling mode: "exact" or "keyframes".

    Raises:
        FrameSamplingError: any other value, naming `source` (a flag, an environment variable).
    """
    if value not in FRAME_SAMPLINGS:
        raise FrameSamplingError(
            f"{source}={value!r}: must be one of {', '.join(FRAME_SAMPLINGS)} ('exact': the "
            "evenly spaced frames; 'keyframes': the keyframe nearest each, approximate, faster)"
        )
    return value


def read_frames(
    path: str | os.PathLike,
    num_frames: int,
    strategy: Strategy = "auto",
    frame_sampling: FrameSampling = "exact",
) -> SampledFrames:
    """`sample_frames`' frames, with the number of frames that decode and the number promised.

    When the video is truncated (`is_truncated`: fewer than 3/4 of the frames its container
    lists decode), logs one WARNING naming the file and both numbers, and still returns the
    frames that decode: whether that is a failure is the caller's policy.

    Args:
        path: a video file.
        num_frames: frames wanted, `>= 1`.
        strategy: as in `sample_frames`.
        frame_sampling: "exact" or "keyframes", as in `sample_frames`.

    Returns:
        `SampledFrames(frames (k, H, W, 3) uint8, count FrameCount(path, decoded, expected))`;
        in keyframe mode `decoded` is the probe's packet count (nothing else is decoded).

    Raises:
        ValueError: `num_frames` is not a positive integer, or an unknown `strategy`.
        VideoDecodeError: the file is missing, a directory, empty, not a video, or no frame
            of it decodes.
    """
    num_frames = _check_num_frames(num_frames)
    if strategy not in ("auto", "sequential", "seek"):
        raise ValueError(f"strategy must be 'auto', 'sequential' or 'seek', got {strategy!r}")
    check_frame_sampling(frame_sampling)
    probe = probe_video(path)
    if strategy == "auto":
        strategy = choose_strategy(probe, num_frames)
    kept = None
    if frame_sampling == "keyframes" and probe.seekable:
        kept = _read_keyframes(probe, nearest_keyframes(probe, num_frames))
        if kept is None:
            logger.debug("%s: keyframes disagreed with the probe; reading exactly", probe.path)
        decoded = probe.packets
    elif frame_sampling == "keyframes":
        logger.debug("%s: %s; keyframe mode reads exactly", probe.path, probe.reason)
    if kept is None and strategy == "seek" and probe.seekable:
        kept = _read_by_seeking(probe, num_frames)
        if kept is None:
            logger.debug("%s: seeking disagreed with the probe; decoding sequentially", probe.path)
        decoded = probe.packets  # the seek read confirmed the last frame and nothing after it
    if kept is None:
        kept, decoded = _read_sequential(path, num_frames, expected_total=probe.packets)
    count = FrameCount(
        os.fspath(path),
        decoded,
        container_frame_count(probe.reported_frames, os.path.getsize(path)),
    )
    if count.truncated:
        logger.warning("%s", count.warning)
    frames = [kept[index] for index in sorted(kept)]
    height, width = frames[0].shape[:2]
    # A stream may change size mid-way (rare): bring every frame to the first frame's size.
    frames = [
        frame
        if frame.shape[:2] == (height, width)
        else cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        for frame in frames
    ]
    return SampledFrames(np.stack(frames), count)
