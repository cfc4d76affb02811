"""A training run's folder: the file names, defined once, and reading back its `config.json`.

`python -m vidcls_keras.train` writes, into `--output-dir`:

    model.keras           the trained head (what `VideoClassifier.load(run_dir)` loads)
    config.json           every TrainConfig field + the dataset's facts (`RunConfig` reads it)
    metrics.json          validation and test reports, the kept epoch
    history.csv           one row per epoch (keras.callbacks.CSVLogger)
    tensorboard/          keras.callbacks.TensorBoard logs
    training_curves.png
    confusion_matrix.png  (test split)
    backup/               while the run is unfinished: the last finished epoch's state

A run is finished when `metrics.json` exists: it is written last, atomically, after every other
file; `backup/` is removed after it. A folder with `backup/state.json` and no `metrics.json` holds
an interrupted run: `state.json` (written atomically at the end of every epoch, and once before the
first) records the run's settings, how many epochs are done and the files in `backup/` that hold
them (weights and optimizer, dropout seed states, model selection's best epoch and its weights).
The same command resumes it after the last finished epoch (`training.trainer`).

Training writes them (`training.trainer`), prediction reads them (`inference`): both use the
names here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

from vidcls_keras.errors import VidclsError
from vidcls_keras.files import atomic_write_text

MODEL_FILENAME = "model.keras"
CONFIG_FILENAME = "config.json"
METRICS_FILENAME = "metrics.json"
HISTORY_FILENAME = "history.csv"
TENSORBOARD_DIRNAME = "tensorboard"
CURVES_FILENAME = "training_curves.png"
CONFUSION_FILENAME = "confusion_matrix.png"
BACKUP_DIRNAME = "backup"
BACKUP_STATE_FILENAME = "state.json"  # in BACKUP_DIRNAME
# The files whose presence means a folder already holds a run (finished: METRICS_FILENAME).
OUTPUT_FILENAMES = (MODEL_FILENAME, CONFIG_FILENAME, METRICS_FILENAME, HISTORY_FILENAME)


class RunConfigError(VidclsError):
    """A run's `config.json` that is missing, unreadable or lacks what prediction needs."""


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder holding a trained head (`model.keras`)."""
    path = pathlib.Path(path)
    return path.is_dir() and (path / MODEL_FILENAME).is_file()


def write_json(path: str | os.PathLike, content: dict[str, Any]) -> pathlib.Path:
    """Writes `content` as indented JSON, atomically (a reader never sees half a file)."""
    return atomic_write_text(path, json.dumps(content, indent=2, sort_keys=False) + "\n")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What prediction needs from a training run's `config.json`.

    Attributes:
        label_names: class names in logit order.
        max_frames: frame slots of the head's input (`frames` axis 1).
        num_frames: frames per video the training dataset sampled and embedded (its metadata's
            `num_frames`); runs written before it was recorded fall back to `max_frames`.
        embedder_spec: `FrameEmbedder.spec` of the encoder that made the training embeddings;
            None for a multi-label (YouTube-8M) run, whose features come precomputed.
        multilabel: the head's outputs are one sigmoid per class (config.json's `multilabel`).
        frame_sampling: how the training dataset picked its frames (`exact`, or `keyframes`:
            the nearest keyframes); runs written before it was recorded are `exact`.
    """

    label_names: tuple[str, ...]
    max_frames: int
    num_frames: int
    embedder_spec: str | None
    multilabel: bool = False
    frame_sampling: str = "exact"

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunConfig:
        """Reads `config.json`, given the file or the run folder holding it.

        Raises:
            RunConfigError: the file is missing, not JSON, or lacks a field.
        """
        path = pathlib.Path(path)
        if path.is_dir():
            path = path / CONFIG_FILENAME
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise RunConfigError(
                f"{path}: cannot read the training config ({error}); pass the output directory "
                "of `python -m vidcls_keras.train`, which writes it."
            ) from error
        missing = [key for key in ("label_names", "max_frames") if key not in config]
        if missing:
            raise RunConfigError(
                f"{path}: lacks {missing}; it must come from `python -m vidcls_keras.train`."
            )
        multilabel = bool(config.get("multilabel", False))
        if not config.get("embedder_spec") and not multilabel:
            raise RunConfigError(
                f"{path}: records no embedder_spec (the dataset's metadata had none), so frames "
                "cannot be embedded as in training; rebuild the dataset with the project's "
                "builders and train again."
            )
        max_frames = int(config["max_frames"])
        num_frames = config.get("num_frames")
        return cls(
            label_names=tuple(str(name) for name in config["label_names"]),
            max_frames=max_frames,
            num_frames=max_frames if num_frames is None else int(num_frames),
            embedder_spec=str(config["embedder_spec"]) if config.get("embedder_spec") else None,
            multilabel=multilabel,
            frame_sampling=str(config.get("frame_sampling") or "exact"),
        )
