"""Classify every moment of a video: per-frame predictions, averaged, drawn on the frames.

    classifier = VideoClassifier.load("runs/mean")
    result = annotate_video(classifier, "clip.mp4", "out/annotated.mp4", every=1.0, window=5)
    # out/annotated.mp4 (every frame, with the current top label and score),
    # out/timeline.csv and out/timeline.png (class probabilities over time)

The naive per-frame method: one frame every `every` seconds is classified on its own, as a
one-frame video (its CLIP embedding through the trained head, `frames (1, max_frames, D)` with one
real slot in `padding_mask`), and the label shown at any moment is the top class of the mean of
the last `window` predictions.

Two passes over the file, each decoding it front to back one frame at a time (`FrameReader`), so
memory does not grow with the video's length:

1. classify (`classify_moments`): decode every frame, convert only the sampled ones, crop them for
   CLIP at once (`clip.center_crop_uint8`) and embed them `pipeline.encoder_batch_size(num_frames)`
   at a time (the batch size of the run's dataset): at most one batch of 224 px crops is held.
   This gives the `Timeline`, and the true frame count, before anything is written, so a
   truncated or undecodable file fails with no output at all.
2. render (`render_video`): decode again, draw the current label on each frame, write it.

A second decode costs less than holding the frames between two sampled ones until their batch is
embedded (a 1080p second at 30 fps is 190 MB). Frames come from the capture discipline of
`vidcls_keras.video` (software decoding, rotation metadata applied), so the output is upright as a
player shows the input, with width and height swapped for a 90 degree rotation.

Times are the frames' presentation timestamps from the first frame on, so sampling follows the
clock in variable-frame-rate files; where a container gives no increasing timestamp (AVI's last
frame reads 0) the frame is placed one nominal frame after the previous one. The output is written
at the input's average frame rate (`CAP_PROP_FPS`): a variable-rate input comes out constant-rate
with the same frames and about the same duration.

Codec: OpenCV's `VideoWriter` with `mp4v` (MPEG-4 Part 2) by default: FFmpeg's own encoder, in
every OpenCV wheel, read back by OpenCV, FFmpeg, VLC and QuickTime. `avc1` (H.264, which browsers
also play) needs an OpenCV built with an H.264 encoder; the opencv-python wheels have none (here it
fails to open), so it is an option, with a clear error where it is missing.

The output is written to a temporary file beside `output` and renamed at the end; any failure
removes it, so a half-written video never has the output's name.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
import pathlib
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from vidcls_keras import clip, video
from vidcls_keras.embedding import pipeline
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import OutputPathError, atomic_write_bytes, atomic_write_text, ensure_dir
from vidcls_keras.inference.classifier import VideoClassifier, pad_frames, softmax
from vidcls_keras.models.end_to_end import head_kind

logger = logging.getLogger(__name__)

DEFAULT_EVERY = 1.0
DEFAULT_WINDOW = 5
CODECS = ("mp4v", "avc1")
DEFAULT_CODEC = "mp4v"
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
TIMELINE_CSV = "timeline.csv"
TIMELINE_PNG = "timeline.png"
# What to do with a truncated input: unlike predict (a label for whatever decodes), an annotated
# copy promises the input's frames, so the default fails; "warn" annotates the frames that decode.
DEFAULT_TRUNCATED = "fail"
# Frame time step when a container gives no usable frame rate either.
_FALLBACK_FPS = 25.0
# Lines drawn in timeline.png: the classes that reach the highest averaged probability.
_MAX_PLOTTED_CLASSES = 10


class AnnotateError(VidclsError):
    """Bad arguments or output for `annotate_video` (`every`, `window`, codec, output path)."""


class VideoFrame(NamedTuple):
    """One decoded frame of `FrameReader.frames`.

    Attributes:
        index: position in decoding (= presentation) order, from 0.
        time_s: seconds since the first frame (presentation timestamp).
        bgr: uint8 `(H, W, 3)` BGR, upright; None where the frame was not converted.
    """

    index: int
    time_s: float
    bgr: np.ndarray | None


class FrameReader:
    """Reads a video front to back, one upright frame at a time (never more in memory).

    Uses `vidcls_keras.video`'s capture (software decoding, rotation metadata applied), so a frame
    here is the frame `video.sample_frames` returns for the same index, in BGR.

    Args:
        path: a video file.

    Attributes:
        path: the file, as given.
        fps: the stream's average frame rate (`CAP_PROP_FPS`), or None when the container has
            none.
        expected: the container's frame count when plausible (`video.container_frame_count`),
            else None.
        decoded: frames decoded so far (the whole video's count once `frames()` is exhausted).

    Raises:
        vidcls_keras.video.VideoDecodeError: missing, a directory, empty, or not a video.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        # One capture discipline for the project: the same open as every other frame reader.
        self._capture = video._open(path)
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.fps = fps if math.isfinite(fps) and fps > 0 else None
        self.expected = video.container_frame_count(
            float(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), os.path.getsize(path)
        )
        self.decoded = 0
        self._started = False

    def frames(self, convert: Callable[[int, float], bool] | None = None) -> Iterator[VideoFrame]:
        """Every frame in order; can be iterated once.

        Args:
            convert: called with `(index, time_s)` for each frame, in order; the frame's pixels
                are converted only where it returns True (decoding without converting is
                cheaper). None converts every frame.

        Yields:
            `VideoFrame(index, time_s, bgr)`, `bgr` None where not converted.

        Raises:
            vidcls_keras.video.VideoDecodeError: no frame decodes, or a frame does not convert.
        """
        if self._started:
            raise RuntimeError("FrameReader.frames() reads the video once; open a new reader")
        self._started = True
        capture, step = self._capture, 1.0 / (self.fps or _FALLBACK_FPS)
        first_ms, time_s = None, None
        while capture.grab():
            position_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
            if first_ms is None and math.isfinite(position_ms):
                first_ms = position_ms
            raw = (
                (position_ms - first_ms) / 1000.0
                if first_ms is not None and math.isfinite(position_ms)
                else math.nan
            )
            if time_s is None:
                time_s = 0.0
            elif math.isfinite(raw) and raw > time_s:
                time_s = raw
            else:  # no increasing timestamp: one nominal frame later
                time_s += step
            index = self.decoded
            self.decoded += 1
            bgr = None
            if convert is None or convert(index, time_s):
                ok, bgr = capture.retrieve()
                if not ok or bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
                    raise video.VideoDecodeError(
                        f"{self.path}: frame {index} decoded but could not be converted to BGR"
                    )
            yield VideoFrame(index, time_s, bgr)
        if self.decoded == 0:
            raise video._no_frames_error(self.path, capture)

    @property
    def count(self) -> video.FrameCount:
        """Frames decoded so far against the container's count."""
        return video.FrameCount(self.path, self.decoded, self.expected)

    def close(self) -> None:
        """Releases the decoder."""
        self._capture.release()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _check_every_window(every: float, window: int) -> tuple[float, int]:
    if isinstance(every, bool) or not isinstance(every, int | float) or not every > 0:
        raise AnnotateError(f"every={every!r}: must be a number of seconds > 0 (e.g. 1 or 0.5).")
    if not math.isfinite(every):
        raise AnnotateError(f"every={every!r}: must be a finite number of seconds.")
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise AnnotateError(
            f"window={window!r}: must be a whole number of predictions >= 1 (1: no averaging)."
        )
    return float(every), int(window)


class _Clock:
    """Says which frames to classify: the first frame at or after each multiple of `every`."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.due = 0.0

    def __call__(self, index: int, time_s: float) -> bool:
        # A tolerance of a microsecond: 1000 ms / 1000 is exactly 1.0, 3 * 0.1 is not 0.3.
        if time_s + 1e-6 < self.due:
            return False
        self.due = (math.floor(time_s / self.every + 1e-6) + 1) * self.every
        return True


def moving_average(probabilities: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` rows at each row (fewer at the start): the label shown.

    Args:
        probabilities: float `(n, C)`, one row per classified moment, in time order.
        window: rows averaged, `>= 1`.

    Returns:
        float32 `(n, C)`; row `i` is the mean of rows `max(0, i - window + 1) .. i`.
    """
    probabilities = np.asarray(probabilities, np.float64)
    cumulative = np.cumsum(probabilities, axis=0)
    ends = np.arange(len(probabilities))
    starts = ends - window
    total = cumulative.copy()
    total[window:] -= cumulative[starts[window:]]
    counts = np.minimum(ends + 1, window)[:, None]
    return (total / counts).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Timeline:
    """The classified moments of one video.

    Attributes:
        label_names: the `C` class names.
        times: float64 `(n,)`, seconds since the first frame of each classified frame.
        frame_indices: int64 `(n,)`, their frame indices, increasing (the first is 0).
        probabilities: float32 `(n, C)`, each frame's own class probabilities.
        averaged: float32 `(n, C)`, the mean of the last `window` rows (`moving_average`).
        every: seconds between classified frames asked for.
        window: predictions averaged.
    """

    label_names: tuple[str, ...]
    times: np.ndarray
    frame_indices: np.ndarray
    probabilities: np.ndarray
    averaged: np.ndarray
    every: float
    window: int

    @property
    def top(self) -> np.ndarray:
        """int64 `(n,)`: the top class of `averaged` at each moment (the label drawn)."""
        return np.argmax(self.averaged, axis=1)

    def to_csv(self) -> str:
        """CSV text: `time_s, frame, <label>... (averaged), top_label, top_score, raw:<label>...`.

        One row per classified moment; the per-class columns named after the labels are the
        averaged probabilities (what the video shows and timeline.png plots); `raw:<label>` are
        the frame's own.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "time_s",
                "frame",
                *self.label_names,
                "top_label",
                "top_score",
                *(f"raw:{name}" for name in self.label_names),
            ]
        )
        for row in range(len(self.times)):
            top = int(self.top[row])
            writer.writerow(
                [
                    f"{self.times[row]:.3f}",
                    int(self.frame_indices[row]),
                    *(f"{value:.6f}" for value in self.averaged[row]),
                    self.label_names[top],
                    f"{self.averaged[row, top]:.6f}",
                    *(f"{value:.6f}" for value in self.probabilities[row]),
                ]
            )
        return buffer.getvalue()

    def plot_png(self, title: str = "") -> bytes:
        """timeline.png: averaged class probabilities (lines) and each frame's own (dots).

        With more than 10 classes, the 10 that reach the highest averaged probability are drawn.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(10, 4), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        order = np.argsort(-self.averaged.max(axis=0), kind="stable")[:_MAX_PLOTTED_CLASSES]
        for color_index, class_index in enumerate(order):
            color = f"C{color_index}"
            axes.plot(
                self.times,
                self.averaged[:, class_index],
                color=color,
                label=self.label_names[class_index],
                drawstyle="steps-post",
            )
            axes.plot(self.times, self.probabilities[:, class_index], ".", color=color, alpha=0.35)
        axes.set_xlabel("time (s)")
        axes.set_ylabel(f"probability (mean of last {self.window})")
        axes.set_ylim(0.0, 1.0)
        if len(self.times) and self.times[-1] > 0:
            axes.set_xlim(0.0, float(self.times[-1]))
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        axes.set_title(title or f"one frame every {self.every:g} s, mean of last {self.window}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()


def _check_classifier(classifier: VideoClassifier) -> None:
    """Refuses a model that does not read video frames (a YouTube-8M features head)."""
    if getattr(classifier, "multilabel", False) or (
        classifier.kind == "sequence" and classifier.embedder is None
    ):
        raise AnnotateError(
            f"the model reads precomputed features (rgb/audio, as YouTube-8M's), not video "
            f"frames: annotate needs a model trained on CLIP frame embeddings "
            f"(embedder {classifier.embedder_spec!r} cannot embed a frame)."
        )


def _head_and_encoder(classifier: VideoClassifier) -> tuple[object, str, Callable | None]:
    """`(head, its kind, pixels (n, S, S, 3) -> embeddings (n, D) or None)`."""
    if classifier.kind == "end_to_end":
        model = classifier.model
        head = model.head
        kind = head_kind(head)
        encoder = model.image_encoder

        def embed(pixels: np.ndarray) -> np.ndarray:
            return np.asarray(encoder.predict_on_batch(pixels), np.float32)

        return head, kind, (embed if kind == "sequence" else None)
    if classifier.kind == "sequence":

        def embed(pixels: np.ndarray) -> np.ndarray:
            # The dataset's embedding call, with the run's frames per video setting the batch.
            return pipeline.embed_pixels(classifier.embedder, pixels, classifier.num_frames)

        return classifier.model, "sequence", embed
    return classifier.model, "pixels", None


def classify_crops(classifier: VideoClassifier, crops: np.ndarray) -> np.ndarray:
    """Class probabilities of single frames, each classified as a one-frame video.

    A sequence head gets each frame's CLIP embedding (`pipeline.embed_pixels`, the datasets'
    call) in slot 0 of `max_frames` slots with `padding_mask` True there only (`pad_frames`, as
    `predict` pads a short video); the frame head (and an end-to-end file) read the pixels.

    Args:
        classifier: a loaded `VideoClassifier` (training directory or end-to-end file).
        crops: uint8 `(n, S, S, 3)` RGB, `clip.center_crop_uint8` output at the classifier's
            `image_size`.

    Returns:
        float32 `(n, C)`, rows summing to 1.
    """
    _check_classifier(classifier)
    pixels = clip.normalize(crops)
    head, kind, embed = _head_and_encoder(classifier)
    if kind == "sequence":
        padded = [pad_frames(row[None], classifier.max_frames) for row in embed(pixels)]
        inputs = {
            "frames": np.concatenate([frames for frames, _ in padded]),
            "padding_mask": np.concatenate([mask for _, mask in padded]),
        }
    else:
        inputs = {"pixels": pixels}
    return softmax(head.predict_on_batch(inputs))


def moment_batch_size(classifier: VideoClassifier) -> int:
    """Frames classified per call: `pipeline.encoder_batch_size` of the run's frames per video."""
    return pipeline.encoder_batch_size(classifier.num_frames)


def classify_moments(
    classifier: VideoClassifier,
    video_path: str | os.PathLike,
    every: float = DEFAULT_EVERY,
    window: int = DEFAULT_WINDOW,
    *,
    truncated: str = DEFAULT_TRUNCATED,
    progress: bool = False,
) -> tuple[Timeline, video.FrameCount, float | None]:
    """Pass 1: classifies one frame every `every` seconds, streaming the video.

    Holds at most one batch (`moment_batch_size`) of crops; each batch is padded to that size
    (repeating its last crop) so every call has one shape.

    Args:
        classifier: a loaded `VideoClassifier`.
        video_path: the video.
        every: seconds between classified frames, `> 0`; the first frame is always classified.
        window: predictions averaged for the label shown, `>= 1`.
        truncated: "fail" (default) or "warn" for a video that decodes to far fewer frames than
            its container lists (`pipeline.check_truncated_policy`).
        progress: show a tqdm bar on stderr.

    Returns:
        `(timeline, frame count of the whole video, the input's frame rate or None)`.

    Raises:
        AnnotateError: `every` or `window` out of range.
        vidcls_keras.video.VideoDecodeError: the file cannot be decoded;
            `TruncatedVideoError` under `truncated="fail"`.
    """
    from tqdm.auto import tqdm

    every, window = _check_every_window(every, window)
    pipeline.check_truncated_policy(truncated)
    _check_classifier(classifier)
    batch_size = moment_batch_size(classifier)
    size = classifier.image_size
    times, indices, rows = [], [], []
    crops: list[np.ndarray] = []

    def flush() -> None:
        batch = np.concatenate(crops + crops[-1:] * (batch_size - len(crops)))
        rows.append(classify_crops(classifier, batch)[: len(crops)])
        crops.clear()

    with FrameReader(video_path) as reader:
        bar = tqdm(
            total=reader.expected,
            unit="frame",
            desc="classify",
            disable=not progress,
            leave=False,
        )
        with bar:
            for frame in reader.frames(_Clock(every)):
                bar.update()
                if frame.bgr is None:
                    continue
                rgb = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB)
                crops.append(clip.center_crop_uint8(rgb[None], size))
                times.append(frame.time_s)
                indices.append(frame.index)
                if len(crops) == batch_size:
                    flush()
            if crops:
                flush()
        count, fps = reader.count, reader.fps
    if count.truncated:
        pipeline.apply_truncated_policy(count, truncated)
        logger.warning("%s; annotating the %d frames that decode", count.warning, count.decoded)
    probabilities = np.concatenate(rows).astype(np.float32)
    timeline = Timeline(
        label_names=tuple(classifier.label_names),
        times=np.asarray(times, np.float64),
        frame_indices=np.asarray(indices, np.int64),
        probabilities=probabilities,
        averaged=moving_average(probabilities, window),
        every=every,
        window=window,
    )
    return timeline, count, fps


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: accents dropped, anything else as '?'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        char if char.isascii() else ("" if unicodedata.combining(char) else "?")
        for char in decomposed
    )


def draw_label(bgr: np.ndarray, text: str) -> np.ndarray:
    """Draws `text` in white on a dark box at the top left of `bgr`, in place.

    The text height is about 1/18 of the frame's shorter side (at least 10 px).

    Args:
        bgr: uint8 `(H, W, 3)`.
        text: what to write (non-ASCII characters are replaced: see `_ascii`).

    Returns:
        `bgr`.
    """
    height, width = bgr.shape[:2]
    text = _ascii(text)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(min(height, width) / 18.0, 10.0) / 22.0  # Hershey simplex: ~22 px at scale 1
    thickness = max(1, round(scale * 1.6))
    (text_width, text_height), baseline = cv2.getTextSize(text, font, scale, thickness)
    margin = max(2, text_height // 3)
    box_right = min(width - 1, 2 * margin + text_width)
    box_bottom = min(height - 1, 2 * margin + text_height + baseline)
    cv2.rectangle(bgr, (0, 0), (box_right, box_bottom), (0, 0, 0), thickness=cv2.FILLED)
    cv2.putText(
        bgr,
        text,
        (margin, margin + text_height),
        font,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return bgr


def label_text(timeline: Timeline, moment: int) -> str:
    """`"<top label> 0.87"`: the averaged top class and its probability at `moment`."""
    top = int(timeline.top[moment])
    return f"{timeline.label_names[top]} {timeline.averaged[moment, top]:.2f}"


def _check_output(output: pathlib.Path, codec: str) -> None:
    if codec not in CODECS:
        raise AnnotateError(f"codec {codec!r}: must be one of {', '.join(CODECS)}.")
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise AnnotateError(
            f"--out {output}: the annotated video must be a {' / '.join(OUTPUT_SUFFIXES)} file "
            "(the container is chosen from the name), e.g. annotated.mp4."
        )
    if output.is_dir():
        raise AnnotateError(f"--out {output}: is a folder; give the .mp4 file to write in it.")
    ensure_dir(output.parent, "--out", given=output)
    if not os.access(output.parent, os.W_OK):
        raise OutputPathError(
            f"--out {output}: the folder {output.parent} is not writable; choose another path."
        )


def _open_writer(
    path: pathlib.Path, codec: str, fps: float, size: tuple[int, int], shown: pathlib.Path
) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    if writer.isOpened():
        return writer
    writer.release()
    hint = (
        " This OpenCV has no H.264 encoder (the opencv-python wheels ship none): use --codec "
        f"mp4v, or re-encode the mp4v file with `ffmpeg -i {shown.name} -c:v libx264 out.mp4`."
        if codec == "avc1"
        else " Check that the folder is writable and has free space."
    )
    raise AnnotateError(
        f"--out {shown}: OpenCV could not open a {codec!r} video writer for {size[0]}x{size[1]} at "
        f"{fps:g} fps.{hint}"
    )


def render_video(
    video_path: str | os.PathLike,
    timeline: Timeline,
    destination: str | os.PathLike,
    fps: float,
    *,
    codec: str = DEFAULT_CODEC,
    shown: str | os.PathLike | None = None,
    progress: bool = False,
) -> tuple[int, tuple[int, int]]:
    """Pass 2: decodes `video_path` again and writes every frame with its label to `destination`.

    Frame `i` shows `label_text` of the last classified moment at or before `i`. A frame of
    another size than the first (a stream that changes size) is resized to the first's, as
    `video.read_frames` does, since a writer takes one size.

    Args:
        video_path: the video `timeline` was made from.
        timeline: from `classify_moments`.
        destination: the file to write (the caller's temporary name).
        fps: frame rate written.
        codec: a `CODECS` fourcc.
        shown: the path named in errors (the user's `--out`); default `destination`.
        progress: show a tqdm bar on stderr.

    Returns:
        `(frames written, (width, height))`.
    """
    from tqdm.auto import tqdm

    destination = pathlib.Path(destination)
    shown = pathlib.Path(shown) if shown is not None else destination
    moments = timeline.frame_indices
    writer, size, written = None, None, 0
    try:
        with FrameReader(video_path) as reader:
            bar = tqdm(
                total=reader.expected, unit="frame", desc="write", disable=not progress, leave=False
            )
            with bar:
                for frame in reader.frames():
                    bgr = frame.bgr
                    if writer is None:
                        size = (bgr.shape[1], bgr.shape[0])
                        writer = _open_writer(destination, codec, fps, size, shown)
                    elif (bgr.shape[1], bgr.shape[0]) != size:
                        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
                    moment = int(np.searchsorted(moments, frame.index, side="right")) - 1
                    writer.write(draw_label(bgr, label_text(timeline, moment)))
                    written += 1
                    bar.update()
    finally:
        if writer is not None:
            writer.release()
    return written, size


@dataclasses.dataclass(frozen=True)
class AnnotatedVideo:
    """What `annotate_video` wrote.

    Attributes:
        output: the annotated video.
        timeline_csv: `timeline.csv` beside it.
        timeline_png: `timeline.png` beside it.
        frames: frames written (= frames of the input that decode).
        width: frame width written (upright).
        height: frame height written (upright).
        fps: frame rate written (the input's average).
        codec: the fourcc used.
        count: the input's decoded / container frame counts.
        timeline: the classified moments.
    """

    output: pathlib.Path
    timeline_csv: pathlib.Path
    timeline_png: pathlib.Path
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    count: video.FrameCount
    timeline: Timeline


def annotate_video(
    classifier: VideoClassifier,
    video_path: str | os.PathLike,
    output: str | os.PathLike,
    every: float = DEFAULT_EVERY,
    window: int = DEFAULT_WINDOW,
    *,
    codec: str = DEFAULT_CODEC,
    truncated: str = DEFAULT_TRUNCATED,
    progress: bool = False,
) -> AnnotatedVideo:
    """Classifies every moment of a video and writes the annotated copy, timeline.csv/png.

    `output` gets every frame of the input (same size, upright, at its average frame rate) with
    the current top label and score drawn on it; `timeline.csv` and `timeline.png` go beside it.
    The video is written to a temporary file in the same folder and renamed at the end; on any
    failure that file is removed, and an existing `output` is left as it was.

    Args:
        classifier: a loaded `VideoClassifier` (`VideoClassifier.load(run_dir)`).
        video_path: the video to annotate.
        output: the annotated video to write (`.mp4`, `.m4v` or `.mov`).
        every: seconds between classified frames, `> 0`.
        window: predictions averaged for the label shown, `>= 1`.
        codec: "mp4v" (default) or "avc1" (needs an OpenCV with an H.264 encoder).
        truncated: "fail" (default) or "warn" for a truncated input.
        progress: tqdm bars on stderr.

    Returns:
        `AnnotatedVideo`.

    Raises:
        AnnotateError: bad `every`, `window`, codec or output name, no writer for the codec, or
            a model that does not read frames (a YouTube-8M features head).
        vidcls_keras.files.OutputPathError: the output folder cannot be made or written.
        vidcls_keras.video.VideoDecodeError: the input cannot be decoded (or is truncated, under
            `truncated="fail"`).
    """
    output = pathlib.Path(output)
    _check_every_window(every, window)
    _check_classifier(classifier)
    _check_output(output, codec)
    timeline, count, fps = classify_moments(
        classifier, video_path, every, window, truncated=truncated, progress=progress
    )
    if fps is None:  # no container rate: the mean rate of the timestamps, else 25
        span = timeline.times[-1] if len(timeline.times) > 1 else 0.0
        last = timeline.frame_indices[-1] if len(timeline.frame_indices) > 1 else 0
        fps = last / span if span > 0 else _FALLBACK_FPS
    # The temporary name keeps the suffix: OpenCV picks the container from it.
    temp = output.with_name(f".{output.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{output.suffix}")
    try:
        written, (width, height) = render_video(
            video_path, timeline, temp, fps, codec=codec, shown=output, progress=progress
        )
        if written != count.decoded:
            raise video.VideoDecodeError(
                f"{os.fspath(video_path)}: decoded {count.decoded} frames, then {written} on a "
                "second pass; the file changed or its decoder is not deterministic"
            )
        _check_written(temp, written, (width, height), output)
        csv_path = atomic_write_text(output.with_name(TIMELINE_CSV), timeline.to_csv())
        png_path = atomic_write_bytes(
            output.with_name(TIMELINE_PNG),
            timeline.plot_png(
                f"{pathlib.Path(video_path).name}: one frame every {timeline.every:g} s, "
                f"mean of last {timeline.window}"
            ),
        )
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
    return AnnotatedVideo(
        output=output,
        timeline_csv=csv_path,
        timeline_png=png_path,
        frames=written,
        width=width,
        height=height,
        fps=float(fps),
        codec=codec,
        count=count,
        timeline=timeline,
    )


def _check_written(path: pathlib.Path, frames: int, size: tuple[int, int], shown: pathlib.Path):
    """Reads the written file's header back: a writer that silently dropped frames fails here."""
    capture = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG)
    try:
        found = (
            int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            (
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            ),
        )
    finally:
        capture.release()
    if found != (frames, size):
        raise AnnotateError(
            f"--out {shown}: the video writer stored {found[0]} frames of {found[1][0]}x"
            f"{found[1][1]}, not the {frames} frames of {size[0]}x{size[1]} given (disk full?)."
        )


__all__: Sequence[str] = (
    "AnnotateError",
    "AnnotatedVideo",
    "FrameReader",
    "Timeline",
    "VideoFrame",
    "annotate_video",
    "classify_crops",
    "classify_moments",
    "draw_label",
    "moving_average",
    "render_video",
)
