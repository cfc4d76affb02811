"""One vector per video of a dataset split: the mean-pooled frames, or an aligned run's embedding.

    index = split_video_index("youtube_videos/frames100", "test")                 # mean-pooled
    index = split_video_index("youtube_videos/frames100", "test", run="runs/al")  # aligned head

Both give a `retrieval.index.VideoIndex` (ids, titles, labels and unit vectors, in the split's file
order), so search, the retrieval metrics, the embedding maps and `embed`'s table export take
either. Mean-pooled vectors are the cached search index (`index.load_video_index`). An aligned
run's vectors are the output of its layer named `VIDEO_EMBEDDING_LAYER` ("video_embedding",
L2-normalised, CLIP's joint width; `models.aligned`): the `.keras` head is loaded in safe mode
(`inference.classifier._load_keras`), cut at that layer with
`keras.Model(model.inputs, model.get_layer("video_embedding").output)`, and fed each video's frame
embeddings padded or trimmed to the run's `max_frames` exactly as in training (`data.pad_or_trim`).
A run without that layer (the `mean`, `lstm`, ... heads) is refused with `VideoEmbeddingError`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from vidcls_keras.retrieval.index import (
    SearchError,
    VideoIndex,
    l2_normalize,
    load_video_index,
)

VIDEO_EMBEDDING_LAYER = "video_embedding"
DEFAULT_BATCH_SIZE = 64


class VideoEmbeddingError(SearchError):
    """A run that gives no video embedding, or one that does not fit the dataset."""


def _model_path(run_dir: str | os.PathLike) -> pathlib.Path:
    from vidcls_keras.training import artifacts

    run_dir = pathlib.Path(run_dir)
    if not artifacts.is_run_dir(run_dir):
        raise VideoEmbeddingError(
            f"{run_dir}: not a training output directory ({artifacts.MODEL_FILENAME} + "
            f"{artifacts.CONFIG_FILENAME}); pass the --output-dir of `python -m vidcls_keras.train`."
        )
    return run_dir / artifacts.MODEL_FILENAME


def has_video_embedding(run_dir: str | os.PathLike) -> bool:
    """Whether a run's head has a top-level layer named "video_embedding" (no model is built).

    Reads the layer names from the `.keras` file's `config.json`, so a sweep can tell its
    aligned runs apart cheaply; an unreadable file counts as False.
    """
    try:
        with zipfile.ZipFile(_model_path(run_dir)) as archive:
            config = json.loads(archive.read("config.json"))
    except (VideoEmbeddingError, OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    layers = (config.get("config") or {}).get("layers") or []
    return any(
        isinstance(layer, dict) and (layer.get("config") or {}).get("name") == VIDEO_EMBEDDING_LAYER
        for layer in layers
    )


def video_embedding_model(model: Any, source: str = "the model") -> Any:
    """`model` cut at its "video_embedding" layer: the same inputs -> `(batch, J)` embeddings.

    Args:
        model: a functional `keras.Model` (an aligned head).
        source: where it came from, for the error message.

    Returns:
        `keras.Model(model.inputs, model.get_layer("video_embedding").output)`.

    Raises:
        VideoEmbeddingError: the model has no layer of that name.
    """
    import keras

    names = [layer.name for layer in model.layers]
    if VIDEO_EMBEDDING_LAYER not in names:
        raise VideoEmbeddingError(
            f"{source}: its model {model.name!r} has no layer named {VIDEO_EMBEDDING_LAYER!r} "
            f"(its layers: {', '.join(names)}), so it gives no video embedding in CLIP's joint "
            "space. Train a text-aligned head (--model aligned_lstm or aligned_transformer), or "
            "leave the run out to use the mean-pooled frame embeddings."
        )
    return keras.Model(
        model.inputs, model.get_layer(VIDEO_EMBEDDING_LAYER).output, name="video_embedding_model"
    )


@dataclasses.dataclass(frozen=True)
class RunVideoEmbedder:
    """A run's head cut at its video embedding, and what the run was trained on.

    Attributes:
        model: `{"frames": (B, max_frames, D), "padding_mask": (B, max_frames)}` -> `(B, J)`.
        run_dir: the run folder.
        max_frames: frame slots of the head (the run's config).
        embedder_spec: the frame embedder the run trained on; a dataset must match it.
    """

    model: Any
    run_dir: str
    max_frames: int
    embedder_spec: str

    @property
    def embed_dim(self) -> int:
        """J, the width of one video embedding."""
        return int(self.model.output.shape[-1])

    @property
    def frame_width(self) -> int:
        """D, the width of one frame embedding the head reads (its `frames` input)."""
        frames = [tensor for tensor in self.model.inputs if len(tensor.shape) == 3]
        return int(frames[0].shape[-1])

    def embed_frames(self, frames: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
        """Video embeddings of padded frame embeddings.

        Args:
            frames: float32 `(B, max_frames, D)`.
            padding_mask: bool `(B, max_frames)`, True on real frames.

        Returns:
            float32 `(B, J)`, rows of unit norm.
        """
        outputs = self.model.predict_on_batch(
            {"frames": np.asarray(frames, np.float32), "padding_mask": np.asarray(padding_mask)}
        )
        return l2_normalize(np.asarray(outputs))


def load_run_video_embedder(run_dir: str | os.PathLike) -> RunVideoEmbedder:
    """Loads a run's head (safe mode) and cuts it at its "video_embedding" layer.

    Raises:
        VideoEmbeddingError: not a run folder, or a head without that layer.
        inference.classifier.ModelLoadError: a `model.keras` that cannot be loaded.
        training.artifacts.RunConfigError: a `config.json` that cannot be read.
    """
    from vidcls_keras.inference.classifier import _load_keras
    from vidcls_keras.training import artifacts

    model_path = _model_path(run_dir)
    config = artifacts.RunConfig.read(run_dir)
    model = video_embedding_model(_load_keras(model_path), source=str(run_dir))
    return RunVideoEmbedder(
        model=model,
        run_dir=str(run_dir),
        max_frames=config.max_frames,
        embedder_spec=config.embedder_spec,
    )


def run_video_index(
    run: str | os.PathLike | RunVideoEmbedder,
    dataset: str,
    split: str = "test",
    data_dir: str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> VideoIndex:
    """A split's videos as an aligned run's video embeddings.

    Each video's stored frame embeddings are padded (or trimmed to evenly spaced rows) to the
    run's `max_frames` by `data.pad_or_trim`, as in training, and go through the head in batches
    of `batch_size` (the last one zero-padded, so the head compiles once).

    Args:
        run: a run folder, or a `RunVideoEmbedder` already loaded.
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir (None: TFDS' default).
        batch_size: videos per forward pass.

    Returns:
        A `VideoIndex` whose `embeddings` are float32 `(N, J)` unit rows and whose `source` is the
        run folder.

    Raises:
        VideoEmbeddingError: a run without a video embedding, a dataset embedded by another
            encoder than the run's, or frame embeddings of another width.
        SearchError: the dataset is not built, or the split is empty.
    """
    import tensorflow as tf

    from vidcls_keras import data

    embedder = run if isinstance(run, RunVideoEmbedder) else load_run_video_embedder(run)
    try:
        examples, info = data.load_split(dataset, split, data_dir)
    except ValueError as error:
        raise SearchError(str(error)) from error
    spec = str((info.metadata or {}).get("embedder", ""))
    if spec and spec != embedder.embedder_spec:
        raise VideoEmbeddingError(
            f"run {embedder.run_dir} was trained on frames embedded by "
            f"{embedder.embedder_spec!r}, but dataset {dataset!r} was embedded by {spec!r}; use "
            "a dataset built with the run's embedder."
        )
    width = int(info.features["embeddings"].shape[-1])
    expected = embedder.frame_width
    if width != expected:
        raise VideoEmbeddingError(
            f"dataset {dataset!r} holds {width}-d frame embeddings; run {embedder.run_dir} reads "
            f"{expected}-d ones."
        )
    max_frames = embedder.max_frames

    def prepare(features):
        frames, padding_mask = data.pad_or_trim(features["embeddings"], max_frames)
        keep = {key: features[key] for key in ("video_id", "title", "label")}
        return {"frames": frames, "padding_mask": padding_mask, **keep}

    batches = examples.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    batches = data.without_autotune_thread(batches)  # its teardown would wait for the thread
    vectors, video_ids, titles, labels = [], [], [], []
    for batch in batches.as_numpy_iterator():
        count = len(batch["video_id"])
        frames = np.zeros((batch_size, max_frames, width), np.float32)
        padding_mask = np.zeros((batch_size, max_frames), bool)
        frames[:count], padding_mask[:count] = batch["frames"], batch["padding_mask"]
        vectors.append(embedder.embed_frames(frames, padding_mask)[:count])
        video_ids += [value.decode("utf-8") for value in batch["video_id"]]
        titles += [value.decode("utf-8") for value in batch["title"]]
        labels += [int(value) for value in batch["label"]]
    if not video_ids:
        raise SearchError(f"dataset {dataset!r} split {split!r} has no video.")
    return VideoIndex(
        embeddings=np.concatenate(vectors).astype(np.float32),
        video_ids=np.asarray(video_ids, dtype=str),
        titles=np.asarray(titles, dtype=str),
        labels=np.asarray(labels, np.int64),
        label_names=tuple(info.features["label"].names),
        embedder_spec=spec,
        dataset_path=str(pathlib.Path(os.fspath(info.data_dir)).resolve()),
        split=split,
        source=str(embedder.run_dir),
    )


def split_video_index(
    dataset: str,
    split: str = "test",
    data_dir: str | None = None,
    *,
    run: str | os.PathLike | None = None,
) -> VideoIndex:
    """A split's videos as unit vectors: mean-pooled frames, or with `run` the run's embeddings.

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir (None: TFDS' default).
        run: an aligned run's folder; None for the mean-pooled frame embeddings (the cached
            search index).

    Returns:
        A `VideoIndex`, `embeddings` float32 `(N, D)` (mean-pooled) or `(N, J)` (run).
    """
    if run is None:
        return load_video_index(dataset, split, data_dir)
    return run_video_index(run, dataset, split, data_dir)


def split_frame_embeddings(
    dataset: str, split: str, data_dir: str | None, video_id: str
) -> np.ndarray:
    """One video's stored frame embeddings, float32 `(k, D)` in time order.

    Raises:
        SearchError: no video with that id in the split (the message lists a few that exist).
    """
    import tensorflow as tf

    from vidcls_keras import data

    try:
        examples, _ = data.load_split(dataset, split, data_dir)
    except ValueError as error:
        raise SearchError(str(error)) from error
    matching = examples.filter(lambda features: tf.equal(features["video_id"], video_id))
    for features in matching.take(1).as_numpy_iterator():
        return np.asarray(features["embeddings"], np.float32)
    known = [
        value.decode("utf-8")
        for value in examples.map(lambda features: features["video_id"]).take(5).as_numpy_iterator()
    ]
    raise SearchError(
        f"no video {video_id!r} in dataset {dataset!r} split {split!r}; its ids look like "
        f"{known} (use --split to look in another split)."
    )
