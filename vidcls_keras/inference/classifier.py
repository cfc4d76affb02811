"""`VideoClassifier`: a trained model from a video path or frames to ranked labels.

    classifier = VideoClassifier.load("runs/mean")          # or "classifier.keras"
    classifier.predict("clip.mp4", top_k=3)                 # [{"label": ..., "score": ...}, ...]
    classifier.predict(frames)                              # uint8 (k, H, W, 3) frames
    VideoClassifier.load("runs/yt8m_moe").predict(features) # multi-label: float (k, D) features

MODEL is either a training output directory (`model.keras`, the head, + `config.json`, written by
`python -m vidcls_keras.train`; names in `training.artifacts`) or an end-to-end `.keras` file
(`EndToEndClassifier`, written by `inference.export`).

A sequence head's video goes through the dataset's own embedding path,
`embedding.pipeline.embed_video(embedder, path, num_frames)` with the run's `num_frames` (the frames
per video its dataset sampled), so its embeddings are bit for bit the dataset's; they are then
zero-padded (or trimmed to evenly spaced rows, `data.pad_or_trim`) to the head's `max_frames`
with `padding_mask` False on padding, as in training. The frame head and the end-to-end model read
`clip.preprocess` pixels instead.
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np

from vidcls_keras import clip, video
from vidcls_keras.embedding import pipeline
from vidcls_keras.errors import VidclsError
from vidcls_keras.models import aligned
from vidcls_keras.models.end_to_end import EndToEndClassifier, head_kind
from vidcls_keras.models.finetune import is_clips_model
from vidcls_keras.training import artifacts
from vidcls_keras.training.config import PROMPT_ENSEMBLE

DEFAULT_TOP_K = 3


class ModelLoadError(VidclsError):
    """MODEL is neither a training output directory nor an end-to-end `.keras` file."""


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise sigmoid, in float64 then cast to float32 (no overflow for any logit)."""
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
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


def _fit_embeddings(embeddings: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """`pad_frames`, or for more rows than slots the training trim (`data.pad_or_trim`)."""
    if len(embeddings) <= max_frames:
        return pad_frames(embeddings, max_frames)
    from vidcls_keras import data  # TensorFlow: only for videos longer than the head

    frames, padding_mask = data.pad_or_trim(embeddings, max_frames)
    return np.asarray(frames)[None], np.asarray(padding_mask)[None]


# The packages whose classes a vidcls_keras model's config.json names: Keras, KerasHub (the
# transformer head's layers), KerasCV and ours. A config naming any other is not one of our models.
KNOWN_PACKAGES = ("keras", "keras_hub", "keras_cv", "vidcls_keras")
_KERAS_CONFIG = "config.json"  # inside a .keras zip archive, beside the weights


def _read_keras_config(path: pathlib.Path) -> Any:
    """The `config.json` of a `.keras` file, or a ModelLoadError saying what the file is instead.

    (Keras itself answers "File not found" for an empty file, random bytes or a cut-short zip.)
    """
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(
            f"{path}: is empty (0 bytes), not a .keras model: it was cut short while being "
            "written or copied; write or copy it again."
        )
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{path}: is not a .keras model: a .keras file is a zip archive and these {size:,} "
            "bytes are not one (a damaged or cut-short copy, or another kind of file)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if _KERAS_CONFIG not in names:
                raise ModelLoadError(
                    f"{path}: is a zip archive without {_KERAS_CONFIG} (it holds "
                    f"{names[:5]}{' ...' if len(names) > 5 else ''}), not a .keras model."
                )
            return json.loads(archive.read(_KERAS_CONFIG))
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(
            f"{path}: its {_KERAS_CONFIG} cannot be read ({error}): the file is damaged; write or "
            "copy it again."
        ) from error


def _foreign_references(config: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """`("class module.Name" or "function module.name", place in the config)` of each class or
    function the config names outside `KNOWN_PACKAGES`.

    Keras serializes an object as `{"module", "class_name", "config", "registered_name"}`, a
    function as `{"module", "class_name": "function", "config": <its name>, ...}`.
    """
    if isinstance(config, dict):
        module, class_name = config.get("module"), config.get("class_name")
        if isinstance(module, str) and isinstance(class_name, str):
            if class_name == "function":
                kind, name = "function", config.get("config")
            else:
                kind, name = "class", class_name
            registered = config.get("registered_name")  # "package>Name" for registered ones
            registered_package = (
                registered.split(">")[0]
                if isinstance(registered, str) and ">" in registered
                else None
            )
            if module.split(".")[0] not in KNOWN_PACKAGES or registered_package not in (
                None,
                *KNOWN_PACKAGES,
            ):
                yield f"{kind} {module}.{name}", where or "the top level"
        for key, value in config.items():
            yield from _foreign_references(value, f"{where}.{key}" if where else key)
    elif isinstance(config, list):
        for index, value in enumerate(config):
            yield from _foreign_references(value, f"{where}[{index}]")


def _keras_reason(error: Exception) -> str:
    """The innermost reason in a Keras loading error, without the object config it quotes."""
    text = str(error)
    # Keras wraps a failing layer's error as "... could not be deserialized properly ...
    # config={...} Exception encountered: <reason>", once per enclosing model.
    text = text.rsplit("Exception encountered:", 1)[-1]
    for tail in (" Make sure custom classes", " Full object config:"):
        text = text.split(tail, 1)[0]
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _recorded_prompt_template(run_dir: pathlib.Path) -> str:
    """The `prompt_template` a run's `config.json` records (runs before it: the default)."""
    try:
        config = json.loads((run_dir / artifacts.CONFIG_FILENAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return PROMPT_ENSEMBLE  # RunConfig.read has read it already: not reached in practice
    return str(config.get("prompt_template") or PROMPT_ENSEMBLE)


def _load_keras(path: pathlib.Path) -> keras.Model:
    """Loads a `.keras` file in safe mode, or raises a ModelLoadError saying what is wrong.

    The file is checked first: a zip archive with a readable `config.json` naming only classes of
    `KNOWN_PACKAGES` (a tampered file naming `os.system` or `evil_module.EvilLayer` is refused
    before Keras resolves anything). Keras's safe mode then refuses Python code (a `Lambda`
    layer's bytecode). Any error Keras raises while rebuilding the file is the file's: our own
    layers' save/reload round trip is tested in tests/test_models.py.
    """
    config = _read_keras_config(path)
    foreign = list(_foreign_references(config))
    if foreign:
        name, where = foreign[0]
        raise ModelLoadError(
            f"{path}: unknown {name} (at {where}): not a vidcls_keras model (a model of "
            f"this project names classes of {', '.join(KNOWN_PACKAGES)} only), so it was refused "
            "without loading; was the file edited? Use a model written by "
            "`python -m vidcls_keras.train` or `python -m vidcls_keras.predict RUN --export`."
        )
    try:
        # compile=False: inference needs no optimizer, and none is carried into an export.
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        reason = _keras_reason(error)
        if "safe_mode" in reason:
            raise ModelLoadError(
                f"{path}: Keras's safe mode refused it: it carries Python code (a Lambda layer) "
                f"that loading would run ({reason.split('. ')[0]}). A vidcls_keras model holds "
                "none; do not load this file with safe_mode=False unless you wrote it."
            ) from error
        raise ModelLoadError(
            f"{path}: cannot be loaded as a Keras model ({type(error).__name__}: {reason}); was "
            "it edited, or written by another version of vidcls_keras or Keras? Write it again "
            "with this version."
        ) from error


class VideoClassifier:
    """A trained video classifier from a path or frames to ranked labels.

    Build it with `VideoClassifier.load(path)`. Two kinds of model are accepted, with the same
    results up to float rounding:

    - a training output directory: the head (`model.keras`) + `config.json`; frame embeddings
      are computed by `FrameEmbedder.from_spec(config["embedder_spec"])` through the datasets'
      embedding path (`embedding.pipeline`), bit for bit as the dataset's;
    - an end-to-end `.keras` file (`EndToEndClassifier`): preprocessed frames -> probabilities.

    Args:
        model: the head or the end-to-end model.
        label_names: class names in output order.
        max_frames: frame slots of the model input.
        embedder_spec: `FrameEmbedder.spec` of the encoder the model was trained with.
        embedder: the frame embedder for a sequence head; None for an end-to-end model and for
            the frame head (both hold their own encoder).
        num_frames: frames sampled per video; None: `dataset_num_frames`. At most
            `max(max_frames, dataset_num_frames)` for a head (more rows than slots are trimmed as
            in training), `max_frames` for an end-to-end model.
        dataset_num_frames: frames per video of the training dataset (`config.json`'s
            `num_frames`); None: `max_frames`.
        multilabel: a multi-label (YouTube-8M) head: it reads precomputed features, float
            `(k, D)` (per second `concat(rgb, audio)`, dequantized; one row of `concat(mean_rgb,
            mean_audio)` at video level), the first `max_frames` rows kept as in training, and
            its probabilities are one sigmoid per class (they need not sum to 1).

    Attributes:
        kind: `"sequence"` (embedder + head over embeddings), `"pixels"` (the single-frame head:
            the video's probabilities are the mean over its frames), `"end_to_end"` or
            `"clips"` (a fine-tuned model, `models.finetune`: frames in, logits out; it samples
            up to `max_frames` frames as the end-to-end model does).

    An end-to-end model always runs its encoder on all `max_frames` slots (padded slots hold
    zeros and are masked out), so with `num_frames < max_frames` it does more work than the
    training directory, which embeds only the real frames; the probabilities are the same. (It
    samples at most `max_frames` frames: for a run whose dataset has more frames per video than
    the head has slots, the two kinds see different frames.)
    """

    def __init__(
        self,
        model: keras.Model,
        label_names: Sequence[str],
        max_frames: int,
        embedder_spec: str,
        embedder: clip.FrameEmbedder | None = None,
        num_frames: int | None = None,
        *,
        dataset_num_frames: int | None = None,
        multilabel: bool = False,
    ) -> None:
        self.model = model
        self.multilabel = multilabel
        self.label_names = tuple(label_names)
        self.max_frames = int(max_frames)
        self.embedder_spec = embedder_spec
        self.embedder = embedder
        if isinstance(model, EndToEndClassifier):
            self.kind = "end_to_end"
        elif is_clips_model(model):  # fine-tuned (models.finetune): frames in, logits out
            self.kind = "clips"
        else:
            self.kind = head_kind(model)
            if self.kind == "sequence" and embedder is None and not multilabel:
                raise ValueError(
                    f"head {model.name!r} reads frame embeddings: pass the FrameEmbedder that "
                    "made the training embeddings (`FrameEmbedder.from_spec(spec)`)."
                )
        self.dataset_num_frames = (
            self.max_frames if dataset_num_frames is None else int(dataset_num_frames)
        )
        # The most frames one video may bring: a head trims extra rows as training did.
        self.frame_limit = (
            self.max_frames
            if self.kind in ("end_to_end", "clips")
            else max(self.max_frames, self.dataset_num_frames)
        )
        default = min(self.dataset_num_frames, self.frame_limit)
        self.num_frames = default if num_frames is None else int(num_frames)
        if not 1 <= self.num_frames <= self.frame_limit:
            raise ValueError(
                f"num_frames={num_frames}: the model takes up to {self.frame_limit} frames per "
                f"video, so pick 1 <= num_frames <= {self.frame_limit} (default: {default})."
            )

    @classmethod
    def load(cls, path: str | os.PathLike, num_frames: int | None = None) -> VideoClassifier:
        """Loads a training output directory or an end-to-end `.keras` file.

        Args:
            path: directory holding `model.keras` + `config.json`, or an end-to-end `.keras`.
            num_frames: frames sampled per video; None uses the training dataset's.

        Raises:
            ModelLoadError: `path` is neither of the two, or cannot be loaded.
        """
        path = pathlib.Path(path)
        if artifacts.is_run_dir(path):
            try:
                config = artifacts.RunConfig.read(path)
            except artifacts.RunConfigError as error:
                raise ModelLoadError(str(error)) from error
            head = _load_keras(path / artifacts.MODEL_FILENAME)
            embedder = None
            if not is_clips_model(head) and head_kind(head) == "sequence" and not config.multilabel:
                try:
                    embedder = clip.FrameEmbedder.from_spec(config.embedder_spec)
                except (OSError, ValueError) as error:
                    raise ModelLoadError(
                        f"{path}: cannot load the embedder {config.embedder_spec!r} the run was "
                        f"trained with: {error}"
                    ) from error
            classifier = cls(
                head,
                config.label_names,
                config.max_frames,
                config.embedder_spec,
                embedder,
                num_frames,
                dataset_num_frames=config.num_frames,
                multilabel=config.multilabel,
            )
            # Frames as the training dataset sampled them: "exact", or approximate "keyframes".
            classifier.frame_sampling = getattr(config, "frame_sampling", "exact")
            # The prompt an aligned head's classes were embedded in, for new labels (--labels).
            classifier.prompt_template = _recorded_prompt_template(path)
            return classifier
        if path.is_file() and path.suffix == ".keras":
            model = _load_keras(path)
            if not isinstance(model, EndToEndClassifier):
                raise ModelLoadError(
                    f"{path}: holds a {type(model).__name__}, not an end-to-end classifier. For a "
                    f"head, pass its training output directory (with {artifacts.CONFIG_FILENAME}), "
                    "or make one file with `python -m vidcls_keras.predict TRAIN_DIR --export "
                    "OUT.keras`."
                )
            return cls(
                model, model.label_names, model.num_frames, model.embedder_spec, None, num_frames
            )
        raise ModelLoadError(
            f"{path}: "
            + ("" if path.exists() else "does not exist, so it is ")
            + f"not a training output directory ({artifacts.MODEL_FILENAME} + "
            f"{artifacts.CONFIG_FILENAME}) nor an end-to-end .keras file."
        )

    @property
    def image_size(self) -> int:
        """Side of the square CLIP input the frames are preprocessed to (224 for ViT-B/32)."""
        if self.kind == "end_to_end":
            return self.model.image_size
        if self.kind == "pixels":
            return int(self.model.inputs[0].shape[1])
        if self.kind == "clips":
            return int(self.model.input["pixels"].shape[2])
        return self.embedder.image_size

    def frames(self, video_path: str | os.PathLike) -> np.ndarray:
        """Samples `num_frames` evenly spaced frames: uint8 `(k, H, W, 3)`, `k <= num_frames`."""
        return video.sample_frames(video_path, self.num_frames, frame_sampling=self.frame_sampling)

    def _checked_frames(self, frames: np.ndarray) -> np.ndarray:
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"frames must be uint8 RGB (k, H, W, 3), got {frames.dtype} {frames.shape}: "
                "pass `video.sample_frames(path, num_frames)` output or a path."
            )
        if not 1 <= len(frames) <= self.frame_limit:
            raise ValueError(
                f"got {len(frames)} frames; the model takes 1 to {self.frame_limit} per video."
            )
        return frames

    def embeddings(self, video_or_frames: str | os.PathLike | np.ndarray) -> np.ndarray:
        """A sequence head's input rows for one video, as its dataset stored them.

        Args:
            video_or_frames: a video path (`num_frames` frames are sampled), or uint8 RGB frames
                `(k, H, W, 3)`, used as given.

        Returns:
            float32 `(k, D)`: `embedding.pipeline.embed_video` / `embed_frames` with this
            classifier's `num_frames`.
        """
        if self.kind != "sequence":
            raise ValueError(f"a {self.kind} model reads pixels, not frame embeddings.")
        if isinstance(video_or_frames, np.ndarray):
            frames = self._checked_frames(video_or_frames)
            return pipeline.embed_frames(self.embedder, frames, self.num_frames)
        # = pipeline.embed_video, keeping the frame counts (self.image_size is the embedder's)
        pixels = self._load_video(video_or_frames).pixels
        return pipeline.embed_pixels(self.embedder, pixels, self.num_frames)

    # What to do with a truncated video ("warn" or "fail": `pipeline.check_truncated_policy`),
    # and the frame counts of the last video read from a file (None after frames or a failure).
    truncated: str = pipeline.DEFAULT_TRUNCATED
    last_count: video.FrameCount | None = None
    # How frames are sampled from a file ("exact" or "keyframes": `video.read_frames`); a
    # training directory sets its dataset's (`metadata.json`'s `frame_sampling`, via config.json).
    frame_sampling: str = pipeline.DEFAULT_FRAME_SAMPLING

    def _load_video(self, path: str | os.PathLike) -> pipeline.LoadedVideo:
        """`pipeline.load_video` under `truncated`; keeps the video's frame counts in `last_count`."""
        loaded = pipeline.load_video(
            path,
            self.num_frames,
            self.image_size,
            truncated=self.truncated,
            frame_sampling=self.frame_sampling,
        )
        self.last_count = video.FrameCount(loaded.path, loaded.decoded, loaded.expected)
        return loaded

    def predict_proba(self, video_or_frames: str | os.PathLike | np.ndarray) -> np.ndarray:
        """Class probabilities of one video.

        Args:
            video_or_frames: a video path, or uint8 RGB frames `(k, H, W, 3)` with
                `1 <= k <= frame_limit` (used as given, not re-sampled).

        Returns:
            float32 `(num_classes,)`, summing to 1, in `label_names` order.

        Raises:
            video.VideoDecodeError: the file cannot be decoded.
            ValueError: frames of the wrong dtype, rank or count.
        """
        self.last_count = None
        if self.multilabel:
            return sigmoid(self.model.predict_on_batch(self._features(video_or_frames)))[0]
        if self.kind == "sequence":
            frames, padding_mask = _fit_embeddings(
                self.embeddings(video_or_frames), self.max_frames
            )
            logits = self.model.predict_on_batch({"frames": frames, "padding_mask": padding_mask})
            return softmax(logits)[0]
        if isinstance(video_or_frames, np.ndarray):
            pixels = clip.preprocess(self._checked_frames(video_or_frames), self.image_size)
        else:  # decoded and preprocessed by the one path the datasets use
            pixels = self._load_video(video_or_frames).pixels
        if self.kind == "end_to_end":
            padded, padding_mask = pad_frames(pixels, self.max_frames)
            outputs = self.model.predict_on_batch({"pixels": padded, "padding_mask": padding_mask})
            return np.asarray(outputs, dtype=np.float32)[0]
        if self.kind == "clips":  # the fine-tuned model's logits for the whole clip
            padded, padding_mask = pad_frames(pixels, self.max_frames)
            logits = self.model.predict_on_batch({"pixels": padded, "padding_mask": padding_mask})
            return softmax(logits)[0]
        # The frame head classifies single frames: a video's probabilities are the mean of its
        # frames' (the end-to-end model does the same).
        # Padded to num_frames rows so that every video has one input shape (one compilation).
        rows = max(len(pixels), self.num_frames)
        padded = np.zeros((rows, *pixels.shape[1:]), pixels.dtype)
        padded[: len(pixels)] = pixels
        logits = self.model.predict_on_batch({"pixels": padded})[: len(pixels)]
        return softmax(logits).mean(axis=0)

    def _features(self, features: Any) -> dict[str, np.ndarray]:
        """A multi-label head's input: float `(k, D)` features, the first `max_frames` rows."""
        array = np.asarray(features) if isinstance(features, np.ndarray) else None
        width = int(self.model.inputs[0].shape[-1])
        if array is None or array.ndim != 2 or array.shape[1] != width or not len(array):
            shape = None if array is None else array.shape
            raise ValueError(
                f"this multi-label (YouTube-8M) model reads precomputed features, float (k, "
                f"{width}) with k >= 1 (per second concat(rgb, audio), dequantized; or one row of "
                f"concat(mean_rgb, mean_audio)), not {type(features).__name__} {shape}."
            )
        frames, padding_mask = pad_frames(
            array[: self.max_frames].astype(np.float32), self.max_frames
        )
        return {"frames": frames, "padding_mask": padding_mask}

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

    # Open-set labels (`predict_labels`): the prompt template of an aligned head's training run
    # (`--prompt-template`, recorded in config.json), and what is built once and reused.
    prompt_template: str = PROMPT_ENSEMBLE
    _text_embedder: Any = None
    _label_frame_embedder: clip.FrameEmbedder | None = None
    _video_embedding_model: keras.Model | None = None

    @property
    def label_method(self) -> str:
        """How `predict_labels` scores a label list: `"aligned"` (a text-aligned head's video
        embedding and temperature) or `"clip_zero_shot"` (CLIP's mean frame embedding)."""
        if self.kind == "sequence" and aligned.is_aligned(self.model):
            return "aligned"
        return "clip_zero_shot"

    def label_embeddings(self, labels: Sequence[str]) -> np.ndarray:
        """The CLIP text embeddings of `labels`, float32 `(L, J)` unit rows, by the text tower of
        the run's embedder, in the run's prompt template (aligned) or the zero-shot templates."""
        from vidcls_keras.training import open_set  # the text tower: only for new labels

        if self._text_embedder is None:
            from vidcls_keras.clip.text import TextEmbedder

            self._text_embedder = TextEmbedder.from_spec(self.embedder_spec)
        template = self.prompt_template if self.label_method == "aligned" else PROMPT_ENSEMBLE
        return open_set.label_text_embeddings(self._text_embedder, labels, template)

    def _label_frames(self, video_or_frames: str | os.PathLike | np.ndarray) -> np.ndarray:
        """Frame embeddings `(k, D)` for `predict_labels`, whatever the model reads."""
        if self.kind == "sequence" and self.embedder is not None:
            return self.embeddings(video_or_frames)
        if getattr(self, "multilabel", False):
            raise ValueError(
                "a multi-label model reads precomputed features, not CLIP frames: it cannot "
                "score label texts."
            )
        if self._label_frame_embedder is None:  # pixel heads hold no (separate) embedder
            self._label_frame_embedder = clip.FrameEmbedder.from_spec(self.embedder_spec)
        if isinstance(video_or_frames, np.ndarray):
            frames = self._checked_frames(video_or_frames)
            return pipeline.embed_frames(self._label_frame_embedder, frames, self.num_frames)
        pixels = self._load_video(video_or_frames).pixels
        return pipeline.embed_pixels(self._label_frame_embedder, pixels, self.num_frames)

    def predict_labels(
        self,
        video_or_frames: str | os.PathLike | np.ndarray,
        labels: Sequence[str],
        top_k: int = DEFAULT_TOP_K,
    ) -> list[dict[str, Any]]:
        """Ranks any label list for one video (open-set labels, `predict --labels`).

        A text-aligned head (`label_method == "aligned"`) scores `exp(t) * cos(video, text)` with
        its video embedding and learned temperature; any other model falls back to plain CLIP
        zero-shot (`retrieval.zeroshot`: the mean frame embedding, logit scale 100). The scores
        are a softmax over `labels`.

        Args:
            video_or_frames: a video path or uint8 frames `(k, H, W, 3)`; see `predict_proba`.
            labels: L label texts, e.g. `["street food", "museum tour"]`.
            top_k: number of labels returned (at most L).

        Returns:
            `[{"label": str, "score": float}, ...]`, highest score first.
        """
        from vidcls_keras.retrieval import index, zeroshot

        if top_k < 1:
            raise ValueError(f"top_k={top_k}: must be at least 1.")
        labels = list(labels)
        texts = self.label_embeddings(labels)
        self.last_count = None
        embeddings = self._label_frames(video_or_frames)
        if self.label_method == "aligned":
            if self._video_embedding_model is None:
                self._video_embedding_model = aligned.video_embedding_model(self.model)
            frames, padding_mask = _fit_embeddings(embeddings, self.max_frames)
            video = self._video_embedding_model.predict_on_batch(
                {"frames": frames, "padding_mask": padding_mask}
            )
            logits = aligned.logit_scale(self.model) * index.l2_normalize(video)[0] @ texts.T
        else:
            video = index.mean_frame_embedding(embeddings)
            logits = zeroshot.zero_shot_logits(video[None], texts)[0]
        probabilities = softmax(logits)
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        return [{"label": labels[i], "score": float(probabilities[i])} for i in order]

    def to_end_to_end(self) -> EndToEndClassifier:
        """This classifier as one `EndToEndClassifier` (pixels + mask -> probabilities)."""
        if self.kind == "end_to_end":
            return self.model
        if self.kind == "clips":
            raise ModelLoadError(
                "a fine-tuned model is end to end already: ship its run folder (model.keras + "
                "config.json), after vidcls_keras.models.finetune.merge_lora for a LoRA run."
            )
        return EndToEndClassifier(
            head=self.model,
            label_names=self.label_names,
            num_frames=self.max_frames,
            embedder_spec=self.embedder_spec,
            image_encoder=self.embedder.image_encoder if self.embedder is not None else None,
            image_size=self.image_size,
            name="end_to_end_classifier",
        )
