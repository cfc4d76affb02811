"""Classify video files, folders of videos and URLs with a trained model; export it for serving.

    python -m vidcls_keras.predict runs/mean ../shared/data/videos/mmaction2__demo.mp4
    python -m vidcls_keras.predict runs/mean ../shared/data/videos/ --top-k 2 --json
    python -m vidcls_keras.predict runs/mean https://example.com/clip.mp4 dQw4w9WgXcQ
    python -m vidcls_keras.predict runs/mean --export classifier.keras
    python -m vidcls_keras.predict classifier.keras --export-saved-model serving/

MODEL is either a training output directory (`model.keras`, the head, + `config.json`, written by
`python -m vidcls_keras.train`) or an end-to-end `.keras` file (`EndToEndClassifier`, written by
`--export` / `export_end_to_end`). Each INPUT is a video file, a folder (its files with a suffix in
`video.VIDEO_EXTENSIONS`, sorted by name, not recursive), or an http(s) URL / 11-character YouTube
id, downloaded with the project's yt-dlp code (`download.download_one`) into `--cache-dir`.

A video goes through exactly the training-time code: `video.sample_frames` (evenly spaced frames)
-> `clip.preprocess` (CLIP's resize, crop and normalization) -> the CLIP image encoder
(`FrameEmbedder.embed`, or the same encoder inside the end-to-end file) -> the head -> softmax.
Frames are zero-padded to the head's `max_frames` with `padding_mask` False, as in training.

The Python API mirrors a pipeline:

    classifier = VideoClassifier.load("runs/mean")          # or "classifier.keras"
    classifier.predict("clip.mp4", top_k=3)                 # [{"label": ..., "score": ...}, ...]
    classifier.predict(frames)                              # uint8 (k, H, W, 3) frames

Exit status: 0 when every input was classified, 1 when any input failed (each failure is reported
and the other inputs still run), 2 for a usage error or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import pathlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np

from vidcls_keras import video
from vidcls_keras.clip import image as clip
from vidcls_keras.models.end_to_end import EndToEndClassifier, head_kind

logger = logging.getLogger(__name__)

MODEL_FILENAME = "model.keras"
CONFIG_FILENAME = "config.json"
DEFAULT_TOP_K = 3
DEFAULT_CACHE_DIR = (
    pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    / "vidcls_keras"
    / "downloads"
)
# Sub-folder of the cache dir that downloads land in (download_one writes <dir>/<category>/<id>.*).
_DOWNLOAD_CATEGORY = "videos"


class ModelLoadError(ValueError):
    """MODEL is neither a training output directory nor an end-to-end `.keras` file."""


class InputError(ValueError):
    """An INPUT that names no readable video (missing path, empty folder, failed download)."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """What prediction needs from a training run's `config.json`.

    Attributes:
        label_names: class names in logit order.
        max_frames: frame slots of the head's input (`frames` axis 1).
        embedder_spec: `FrameEmbedder.spec` of the encoder that made the training embeddings.
    """

    label_names: tuple[str, ...]
    max_frames: int
    embedder_spec: str

    @classmethod
    def read(cls, path: str | os.PathLike) -> TrainingConfig:
        """Reads `config.json` of a training output directory.

        Raises:
            ModelLoadError: the file is missing, not JSON, or lacks a field.
        """
        path = pathlib.Path(path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ModelLoadError(
                f"{path}: cannot read the training config ({error}); pass the output directory "
                "of `python -m vidcls_keras.train`, which writes it."
            ) from error
        missing = [key for key in ("label_names", "max_frames") if key not in config]
        if missing:
            raise ModelLoadError(
                f"{path}: lacks {missing}; it must come from `python -m vidcls_keras.train`."
            )
        if not config.get("embedder_spec"):
            raise ModelLoadError(
                f"{path}: records no embedder_spec (the dataset's metadata had none), so frames "
                "cannot be embedded as in training; rebuild the dataset with the project's "
                "builders and train again."
            )
        return cls(
            label_names=tuple(str(name) for name in config["label_names"]),
            max_frames=int(config["max_frames"]),
            embedder_spec=str(config["embedder_spec"]),
        )


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 then cast to float32 (stable for any logits)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def pad_frames(array: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pads per-frame rows to a fixed number of slots and adds the batch axis.

    Args:
        array: `(k, ...)` per-frame rows (pixels or embeddings), `1 <= k <= length`.
        length: number of frame slots (the model's `max_frames`).

    Returns:
        `(padded, padding_mask)`: `(1, length, ...)` with zeros after row `k`, and bool
        `(1, length)`, True for the `k` real frames.
    """
    count = array.shape[0]
    if not 1 <= count <= length:
        raise ValueError(f"got {count} frames for {length} slots: need between 1 and {length}.")
    padded = np.zeros((1, length, *array.shape[1:]), dtype=array.dtype)
    padded[0, :count] = array
    padding_mask = np.zeros((1, length), dtype=bool)
    padding_mask[0, :count] = True
    return padded, padding_mask


def _is_training_dir(path: pathlib.Path) -> bool:
    return path.is_dir() and (path / MODEL_FILENAME).is_file()


class VideoClassifier:
    """A trained video classifier from a path or frames to ranked labels.

    Build it with `VideoClassifier.load(path)`. Two kinds of model are accepted, with the same
    results up to float rounding:

    - a training output directory: the head (`model.keras`) + `config.json`; frame embeddings
      are computed by `FrameEmbedder.from_spec(config["embedder_spec"])`, exactly as in training;
    - an end-to-end `.keras` file (`EndToEndClassifier`): preprocessed frames -> probabilities.

    Args:
        model: the head or the end-to-end model.
        label_names: class names in output order.
        max_frames: frame slots of the model input.
        embedder_spec: `FrameEmbedder.spec` of the encoder the model was trained with.
        embedder: the frame embedder for a sequence head; None for an end-to-end model and for
            the frame head (both hold their own encoder).
        num_frames: frames sampled per video, `1 <= num_frames <= max_frames`; None: `max_frames`.

    Attributes:
        kind: `"sequence"` (embedder + head over embeddings), `"pixels"` (the single-frame head:
            the video's probabilities are the mean over its frames) or `"end_to_end"`.

    An end-to-end model always runs its encoder on all `max_frames` slots (padded slots hold
    zeros and are masked out), so with `num_frames < max_frames` it does more work than the
    training directory, which embeds only the real frames; the probabilities are the same.
    """

    def __init__(
        self,
        model: keras.Model,
        label_names: Sequence[str],
        max_frames: int,
        embedder_spec: str,
        embedder: clip.FrameEmbedder | None = None,
        num_frames: int | None = None,
    ) -> None:
        self.model = model
        self.label_names = tuple(label_names)
        self.max_frames = int(max_frames)
        self.embedder_spec = embedder_spec
        self.embedder = embedder
        self.num_frames = self.max_frames if num_frames is None else int(num_frames)
        if not 1 <= self.num_frames <= self.max_frames:
            raise ValueError(
                f"num_frames={num_frames}: the model has {self.max_frames} frame slots, so pick "
                f"1 <= num_frames <= {self.max_frames} (default: {self.max_frames})."
            )
        if isinstance(model, EndToEndClassifier):
            self.kind = "end_to_end"
        else:
            self.kind = head_kind(model)
            if self.kind == "sequence" and embedder is None:
                raise ValueError(
                    f"head {model.name!r} reads frame embeddings: pass the FrameEmbedder that "
                    "made the training embeddings (`FrameEmbedder.from_spec(spec)`)."
                )

    @classmethod
    def load(cls, path: str | os.PathLike, num_frames: int | None = None) -> VideoClassifier:
        """Loads a training output directory or an end-to-end `.keras` file.

        Args:
            path: directory holding `model.keras` + `config.json`, or an end-to-end `.keras`.
            num_frames: frames sampled per video; None uses the model's `max_frames`.

        Raises:
            ModelLoadError: `path` is neither of the two.
        """
        path = pathlib.Path(path)
        if _is_training_dir(path):
            config = TrainingConfig.read(path / CONFIG_FILENAME)
            # compile=False: inference needs no optimizer, and none is carried into an export.
            head = keras.saving.load_model(path / MODEL_FILENAME, safe_mode=True, compile=False)
            embedder = None
            if head_kind(head) == "sequence":
                embedder = clip.FrameEmbedder.from_spec(config.embedder_spec)
            return cls(
                head,
                config.label_names,
                config.max_frames,
                config.embedder_spec,
                embedder,
                num_frames,
            )
        if path.is_file() and path.suffix == ".keras":
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
            if not isinstance(model, EndToEndClassifier):
                raise ModelLoadError(
                    f"{path}: holds a {type(model).__name__}, not an end-to-end classifier. For a "
                    f"head, pass its training output directory (with {CONFIG_FILENAME}), or make "
                    "one file with `python -m vidcls_keras.predict TRAIN_DIR --export OUT.keras`."
                )
            return cls(
                model, model.label_names, model.num_frames, model.embedder_spec, None, num_frames
            )
        raise ModelLoadError(
            f"{path}: not a training output directory ({MODEL_FILENAME} + {CONFIG_FILENAME}) "
            "nor an end-to-end .keras file."
        )

    @property
    def image_size(self) -> int:
        """Side of the square CLIP input the frames are preprocessed to (224 for ViT-B/32)."""
        if self.kind == "end_to_end":
            return self.model.image_size
        if self.kind == "pixels":
            return int(self.model.inputs[0].shape[1])
        return self.embedder.image_size

    def frames(self, video_path: str | os.PathLike) -> np.ndarray:
        """Samples `num_frames` evenly spaced frames: uint8 `(k, H, W, 3)`, `k <= num_frames`."""
        return video.sample_frames(video_path, self.num_frames)

    def predict_proba(self, video_or_frames: str | os.PathLike | np.ndarray) -> np.ndarray:
        """Class probabilities of one video.

        Args:
            video_or_frames: a video path, or uint8 RGB frames `(k, H, W, 3)` with
                `1 <= k <= max_frames` (used as given, not re-sampled).

        Returns:
            float32 `(num_classes,)`, summing to 1, in `label_names` order.

        Raises:
            video.VideoDecodeError: the file cannot be decoded.
            ValueError: frames of the wrong dtype, rank or count.
        """
        if isinstance(video_or_frames, np.ndarray):
            frames = video_or_frames
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(
                    f"frames must be uint8 RGB (k, H, W, 3), got {frames.dtype} {frames.shape}: "
                    "pass `video.sample_frames(path, num_frames)` output or a path."
                )
        else:
            frames = self.frames(video_or_frames)
        if not 1 <= len(frames) <= self.max_frames:
            raise ValueError(
                f"got {len(frames)} frames; the model takes 1 to {self.max_frames} per video."
            )
        pixels = clip.preprocess(frames, self.image_size)
        if self.kind == "end_to_end":
            padded, padding_mask = pad_frames(pixels, self.max_frames)
            outputs = self.model.predict_on_batch({"pixels": padded, "padding_mask": padding_mask})
            return np.asarray(outputs, dtype=np.float32)[0]
        if self.kind == "pixels":
            # The frame head classifies single frames: a video's probabilities are the mean of its
            # frames' (the end-to-end model does the same).
            # Padded to num_frames rows so that every video has one input shape (one compilation).
            rows = max(len(pixels), self.num_frames)
            padded = np.zeros((rows, *pixels.shape[1:]), pixels.dtype)
            padded[: len(pixels)] = pixels
            logits = self.model.predict_on_batch({"pixels": padded})[: len(pixels)]
            return _softmax(logits).mean(axis=0)
        embeddings = self.embedder.embed(pixels)
        padded, padding_mask = pad_frames(embeddings, self.max_frames)
        logits = self.model.predict_on_batch({"frames": padded, "padding_mask": padding_mask})
        return _softmax(logits)[0]

    def predict(
        self, video_or_frames: str | os.PathLike | np.ndarray, top_k: int = DEFAULT_TOP_K
    ) -> list[dict[str, Any]]:
        """The `top_k` most probable labels of one video.

        Args:
            video_or_frames: a video path or uint8 frames `(k, H, W, 3)`; see `predict_proba`.
            top_k: number of labels returned (at most the number of classes).

        Returns:
            `[{"label": str, "score": float}, ...]`, highest score first.
        """
        if top_k < 1:
            raise ValueError(f"top_k={top_k}: must be at least 1.")
        probabilities = self.predict_proba(video_or_frames)
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        return [
            {"label": self.label_names[index], "score": float(probabilities[index])}
            for index in order
        ]

    __call__ = predict

    def to_end_to_end(self) -> EndToEndClassifier:
        """This classifier as one `EndToEndClassifier` (pixels + mask -> probabilities)."""
        if self.kind == "end_to_end":
            return self.model
        return EndToEndClassifier(
            head=self.model,
            label_names=self.label_names,
            num_frames=self.max_frames,
            embedder_spec=self.embedder_spec,
            image_encoder=self.embedder.image_encoder if self.embedder is not None else None,
            image_size=self.image_size,
            name="end_to_end_classifier",
        )


def export_end_to_end(
    train_output_dir: str | os.PathLike, out_path: str | os.PathLike
) -> pathlib.Path:
    """Writes one `.keras` file holding the CLIP image encoder, the trained head and a softmax.

    Load it with `import vidcls_keras.models` then `keras.saving.load_model(out_path)`: inputs
    `{"pixels": float32 (B, T, 224, 224, 3), "padding_mask": bool (B, T)}` (`clip.preprocess`
    output, zero-padded to `T = num_frames`), output probabilities `(B, num_classes)`. Its
    `label_names`, `num_frames` and `embedder_spec` attributes (also in its config) say how to read
    and feed it.

    Args:
        train_output_dir: output directory of `python -m vidcls_keras.train`.
        out_path: the `.keras` file to write (parent folders are created).

    Returns:
        `out_path`.
    """
    out_path = pathlib.Path(out_path)
    if out_path.suffix != ".keras":
        raise ValueError(f"{out_path}: the end-to-end model file must end in .keras.")
    train_output_dir = pathlib.Path(train_output_dir)
    if not _is_training_dir(train_output_dir):
        raise ModelLoadError(
            f"{train_output_dir}: not a training output directory "
            f"({MODEL_FILENAME} + {CONFIG_FILENAME})."
        )
    model = VideoClassifier.load(train_output_dir).to_end_to_end()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(out_path)
    return out_path


def export_saved_model(model: keras.Model, out_dir: str | os.PathLike) -> pathlib.Path:
    """Exports an end-to-end model as a TensorFlow SavedModel for serving.

    On the JAX backend Keras converts the model with `jax2tf` (TensorFlow must be installed); the
    batch axis stays dynamic. Reload it without any of this project's code:

        served = tf.saved_model.load(out_dir)  # keep this reference while calling serve():
        probabilities = served.serve({"pixels": pixels, "padding_mask": padding_mask})

    (`tf.saved_model.load(out_dir).serve(...)` in one expression fails with "Called a function
    referencing variables which have been deleted": the loaded object, which owns the variables,
    is garbage-collected first.) Label names are not part of a SavedModel signature: they are
    written next to it, with `num_frames` and `embedder_spec`, in
    `out_dir/assets/end_to_end_config.json`.

    Args:
        model: an `EndToEndClassifier`.
        out_dir: the SavedModel directory to write.

    Returns:
        `out_dir`.
    """
    if not isinstance(model, EndToEndClassifier):
        raise ValueError(
            f"export_saved_model takes an EndToEndClassifier, got {type(model).__name__}: use "
            "VideoClassifier.load(path).to_end_to_end()."
        )
    out_dir = pathlib.Path(out_dir)
    model.export(str(out_dir), format="tf_saved_model", verbose=False)
    assets = out_dir / "assets"
    assets.mkdir(exist_ok=True)
    (assets / "end_to_end_config.json").write_text(
        json.dumps(
            {
                "label_names": list(model.label_names),
                "num_frames": model.num_frames,
                "embedder_spec": model.embedder_spec,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return out_dir


@dataclasses.dataclass(frozen=True)
class _Source:
    """One thing to classify: a local file, a URL to download, or an input that already failed."""

    name: str
    path: pathlib.Path | None = None
    url: str | None = None
    error: str | None = None


def _is_remote(text: str) -> bool:
    from vidcls_keras.youtube import download

    return download.is_url(text) or bool(download.YOUTUBE_ID_PATTERN.fullmatch(text))


def expand_inputs(inputs: Sequence[str]) -> Iterator[_Source]:
    """Turns INPUT arguments into sources: folders into their videos, URLs/ids into downloads."""
    for text in inputs:
        path = pathlib.Path(text)
        if path.is_dir():
            videos = sorted(
                child
                for child in path.iterdir()
                if child.is_file()
                and not child.name.startswith(".")
                and child.suffix.lower() in video.VIDEO_EXTENSIONS
            )
            if not videos:
                yield _Source(
                    text,
                    error=f"folder has no video files (suffixes {', '.join(video.VIDEO_EXTENSIONS)})",
                )
            for child in videos:
                yield _Source(str(child), path=child)
        elif path.exists():
            yield _Source(text, path=path)
        elif _is_remote(text):
            yield _Source(text, url=text)
        else:
            yield _Source(
                text, error="no such file or folder, and not an http(s) URL or a YouTube id"
            )


def download_video(url_or_id: str, cache_dir: str | os.PathLike) -> pathlib.Path:
    """Downloads a URL or YouTube id with the project's yt-dlp code, or reuses the cached file.

    Args:
        url_or_id: http(s) URL (any site yt-dlp's generic extractor reads, or YouTube) or an
            11-character YouTube id.
        cache_dir: downloads land in `cache_dir/videos/<id>.<ext>`; a second call reuses them.

    Returns:
        The local video file.

    Raises:
        InputError: yt-dlp failed (its message is kept).
    """
    from vidcls_keras.youtube import download

    if download.is_url(url_or_id):
        video_id, url = download.url_video_id(url_or_id), url_or_id
    else:
        video_id, url = url_or_id, download.YOUTUBE_WATCH_URL.format(url_or_id)
    entry = download.VideoEntry(video_id, url, title="", category=_DOWNLOAD_CATEGORY, csv_row=0)
    result = download.download_one(entry, cache_dir, retries=1, socket_timeout=30.0)
    if result.status not in ("downloaded", "skipped_existing"):
        taken_for = "" if download.is_url(url_or_id) else "not a file; taken for a YouTube id: "
        raise InputError(f"{taken_for}download failed: {result.reason}")
    return pathlib.Path(cache_dir) / result.path


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _print_text(record: dict[str, Any]) -> None:
    if record["ok"]:
        print(record["input"])
        width = max(len(prediction["label"]) for prediction in record["predictions"])
        for rank, prediction in enumerate(record["predictions"], start=1):
            print(f"  {rank}. {prediction['label']:<{width}}  {prediction['score']:.4f}")
    else:
        print(f"error: {record['input']}: {record['error']}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.predict",
        description="Classify videos, folders of videos, URLs or YouTube ids with a trained model, "
        "or export the model as one end-to-end .keras file / a TensorFlow SavedModel.",
    )
    parser.add_argument(
        "model",
        type=pathlib.Path,
        help="training output dir (model.keras + config.json) or an end-to-end .keras file",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="video file, folder of videos, URL or YouTube id"
    )
    parser.add_argument(
        "--top-k",
        type=_positive_int,
        default=DEFAULT_TOP_K,
        help="labels shown per video (default: %(default)s)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per input and line "
        '({"input", "ok", "predictions"} or {"input", "ok", "error"})',
    )
    parser.add_argument(
        "--frames",
        type=_positive_int,
        default=None,
        help="frames sampled per video (default: the model's max_frames)",
    )
    parser.add_argument(
        "--cache-dir",
        type=pathlib.Path,
        default=DEFAULT_CACHE_DIR,
        help="where URLs and YouTube ids are downloaded (default: %(default)s)",
    )
    parser.add_argument(
        "--export",
        type=pathlib.Path,
        metavar="OUT.keras",
        help="write the end-to-end model (CLIP encoder + head + softmax) to this .keras file",
    )
    parser.add_argument(
        "--export-saved-model",
        type=pathlib.Path,
        metavar="DIR",
        help="write the end-to-end model as a TensorFlow SavedModel (for serving) to DIR",
    )
    args = parser.parse_args(argv)
    if not args.inputs and args.export is None and args.export_saved_model is None:
        parser.error("give at least one INPUT, or --export / --export-saved-model")

    try:
        classifier = VideoClassifier.load(args.model, num_frames=args.frames)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.export is not None or args.export_saved_model is not None:
        end_to_end = classifier.to_end_to_end()
        if args.export is not None:
            if args.export.suffix != ".keras":
                print(
                    f"error: --export {args.export}: the file must end in .keras", file=sys.stderr
                )
                return 2
            args.export.parent.mkdir(parents=True, exist_ok=True)
            end_to_end.save(args.export)
            print(f"wrote {args.export}", file=sys.stderr)
        if args.export_saved_model is not None:
            export_saved_model(end_to_end, args.export_saved_model)
            print(f"wrote {args.export_saved_model}", file=sys.stderr)

    failures = 0
    for source in expand_inputs(args.inputs):
        record: dict[str, Any] = {"input": source.name, "ok": False}
        try:
            if source.error is not None:
                raise InputError(source.error)
            path = source.path
            if source.url is not None:
                path = download_video(source.url, args.cache_dir)
                record["file"] = str(path)
            record["predictions"] = classifier.predict(path, top_k=args.top_k)
            record["ok"] = True
        except Exception as error:  # One bad input must not stop the others: report, go on.
            logger.debug("failed on %s", source.name, exc_info=True)
            record.pop("predictions", None)
            record["error"] = f"{type(error).__name__}: {error}"
            failures += 1
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            _print_text(record)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
