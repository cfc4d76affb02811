"""A dataset split's videos as unit vectors: the index that search and zero-shot both score.

A video is represented by its **mean frame embedding**: each stored frame embedding is
L2-normalized, the unit vectors are averaged, and the average is L2-normalized again. Normalizing
each frame first gives every frame the same vote (CLIP image embeddings differ in norm from frame
to frame); normalizing the mean makes the dot product with a unit text embedding the cosine
similarity. Texts are embedded by the CLIP text tower that matches the dataset's image embedder
(`vidcls_keras.clip.text.TextEmbedder.from_spec` of the spec in the dataset's metadata):
`resolve_text_embedder`.

The video index (mean embeddings, ids, titles, labels) is computed once per dataset split and
cached as an `.npz` (see `index_cache_path`): in `vidcls_keras.files.cache_dir("video_index")`
when `$VIDCLS_CACHE_DIR` is set, else next to the dataset (in its version folder,
`video_index-<split>.npz`) when that folder is writable, else in the same
`cache_dir("video_index")` (`~/.cache/vidcls_keras/video_index/` by default). The file name is
keyed by the dataset path and split, and the file records a fingerprint of the dataset's files
(names, sizes, modification times): a rebuilt dataset gets a fresh index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pathlib
import re
import sys
import warnings
from typing import Any

import numpy as np

from vidcls_keras import files
from vidcls_keras.errors import VidclsError

INDEX_SUBDIR = "video_index"  # the `files.cache_dir` kind
# Bump when what the index holds, or how it is computed, changes: old files are then recomputed.
INDEX_FORMAT = 1
EPSILON = 1e-12
MEAN_POOLED = "mean-pooled frames"  # `VideoIndex.source` of the index itself


class SearchError(VidclsError):
    """A search request that cannot be served (empty query, bad k, no embedder recorded, ...)."""


@dataclasses.dataclass(frozen=True)
class VideoIndex:
    """A dataset split's videos, as unit mean frame embeddings.

    Attributes:
        embeddings: float32 `(N, D)`, rows of unit norm (`mean_frame_embedding` of each video).
        video_ids: `(N,)` str.
        titles: `(N,)` str ("" when unknown).
        labels: int64 `(N,)` class indices into `label_names`.
        label_names: the dataset's class names, in label order.
        embedder_spec: the image embedder recorded in the dataset's metadata ("" if none).
        dataset_path: the dataset's version folder.
        split: the split expression the index was built from.
        source: what the embeddings are: `MEAN_POOLED` here; an aligned run's video embeddings
            (`retrieval.video_embeddings.run_video_index`) name the run.
    """

    embeddings: np.ndarray
    video_ids: np.ndarray
    titles: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    embedder_spec: str
    dataset_path: str
    split: str
    source: str = MEAN_POOLED

    def __len__(self) -> int:
        return len(self.video_ids)


def l2_normalize(vectors: np.ndarray, axis: int = -1) -> np.ndarray:
    """`vectors / ||vectors||` along `axis` (zero vectors stay zero), as float32.

    Args:
        vectors: float array of any shape, e.g. `(N, D)`.
        axis: the axis to normalize along.

    Returns:
        float32, the shape of `vectors`.
    """
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=axis, keepdims=True)
    return (vectors / np.maximum(norms, EPSILON)).astype(np.float32)


def mean_frame_embedding(frame_embeddings: np.ndarray) -> np.ndarray:
    """One video's embedding: L2-normalize each frame, average, L2-normalize the average.

    Args:
        frame_embeddings: float `(k, D)`, k >= 1.

    Returns:
        float32 `(D,)` of unit norm (zero if every frame embedding is zero).

    Raises:
        SearchError: when there is no frame.
    """
    frame_embeddings = np.asarray(frame_embeddings, np.float32)
    if frame_embeddings.ndim != 2 or frame_embeddings.shape[0] == 0:
        raise SearchError(
            f"mean_frame_embedding: expected frame embeddings (k >= 1, D), got shape "
            f"{frame_embeddings.shape}; the video has no embedded frame."
        )
    return l2_normalize(l2_normalize(frame_embeddings).mean(axis=0))


def class_name_query(name: str) -> str:
    """A class name as text: underscores become spaces ("art_music" -> "art music")."""
    return name.replace("_", " ").strip()


# --------------------------------------------------------------------------------------------
# The video index and its cache.


def dataset_fingerprint(dataset_path: str | os.PathLike) -> str:
    """sha256 over the names, sizes and modification times of a dataset folder's files.

    Our own index files are left out, so writing the cache does not change the fingerprint.
    """
    folder = pathlib.Path(dataset_path)
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file() and not path.name.startswith(("video_index-", ".video_index-")):
            status = path.stat()
            digest.update(f"{path.name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _split_slug(split: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", split).strip("_") or "split"
    return f"{slug}-{hashlib.sha256(split.encode()).hexdigest()[:8]}"


def index_cache_path(dataset_path: str | os.PathLike, split: str) -> pathlib.Path:
    """Where the video index of `split` of the dataset in `dataset_path` is cached.

    `cache_dir("video_index")/<sha256(dataset path)[:16]>-<split>.npz` when `$VIDCLS_CACHE_DIR`
    is set (that folder is then `$VIDCLS_CACHE_DIR/video_index`); else
    `<dataset_path>/video_index-<split>.npz` when that folder is writable; else the same name as
    the first under `vidcls_keras.files.cache_dir("video_index")` (by default
    `~/.cache/vidcls_keras/video_index/`).
    """
    dataset_path = pathlib.Path(dataset_path).resolve()
    keyed_name = (
        f"{hashlib.sha256(str(dataset_path).encode()).hexdigest()[:16]}-{_split_slug(split)}.npz"
    )
    if os.environ.get(files.CACHE_DIR_ENV, "").strip():
        return files.cache_dir(INDEX_SUBDIR) / keyed_name
    if dataset_path.is_dir() and os.access(dataset_path, os.W_OK):
        return dataset_path / f"video_index-{_split_slug(split)}.npz"
    return files.cache_dir(INDEX_SUBDIR) / keyed_name


def compute_video_index(dataset: str, split: str, data_dir: str | None) -> VideoIndex:
    """Reads a split and computes every video's mean frame embedding (no cache).

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir the dataset was built in (None: TFDS' default).

    Returns:
        The `VideoIndex`: N videos, `embeddings` float32 `(N, D)` of unit rows.

    Raises:
        SearchError: when the split has no video.
    """
    from vidcls_keras import data

    examples, info = data.load_split(dataset, split, data_dir)
    keep = ("embeddings", "video_id", "title", "label")
    missing = [key for key in keep if key not in info.features.keys()]
    if missing:
        raise SearchError(
            f"dataset {dataset!r} has no {missing} feature(s) (it has "
            f"{sorted(info.features.keys())}): search, retrieval and embedding maps read the "
            "project's video datasets (video_folder, youtube_videos: one label, an id, a title "
            "and frame embeddings per video), not multi-label YouTube-8M features."
        )
    embeddings, video_ids, titles, labels = [], [], [], []
    for example in examples.map(lambda features: {key: features[key] for key in keep}):
        embeddings.append(mean_frame_embedding(example["embeddings"].numpy()))
        video_ids.append(example["video_id"].numpy().decode("utf-8"))
        titles.append(example["title"].numpy().decode("utf-8"))
        labels.append(int(example["label"].numpy()))
    if not video_ids:
        raise SearchError(f"dataset {dataset!r} split {split!r} has no video.")
    return VideoIndex(
        embeddings=np.stack(embeddings).astype(np.float32),
        video_ids=np.asarray(video_ids, dtype=str),
        titles=np.asarray(titles, dtype=str),
        labels=np.asarray(labels, np.int64),
        label_names=tuple(info.features["label"].names),
        embedder_spec=str(info.metadata.get("embedder", "")) if info.metadata else "",
        dataset_path=str(pathlib.Path(os.fspath(info.data_dir)).resolve()),
        split=split,
    )


def _dataset_path(dataset: str, data_dir: str | None) -> pathlib.Path:
    """The version folder TFDS reads `dataset` from (cheap: reads metadata, not examples)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(dataset, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        said = str(error).strip().splitlines()[0]  # the rest lists every TFDS dataset
        raise SearchError(
            f"dataset {dataset!r} was not found in data_dir={data_dir!r}: build it first "
            f"(tfds build <name> --imports vidcls_keras.datasets --data_dir <dir>) and pass the "
            f"same --data-dir. TFDS said: {said}"
        ) from error
    return pathlib.Path(os.fspath(builder.data_dir)).resolve()


def _save_index(index: VideoIndex, path: pathlib.Path, fingerprint: str) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.int64(INDEX_FORMAT),
        fingerprint=np.str_(fingerprint),
        embeddings=index.embeddings,
        video_ids=index.video_ids,
        titles=index.titles,
        labels=index.labels,
        label_names=np.asarray(index.label_names, dtype=str),
        embedder_spec=np.str_(index.embedder_spec),
        dataset_path=np.str_(index.dataset_path),
        split=np.str_(index.split),
    )
    files.atomic_write_bytes(path, buffer.getvalue())  # a reader sees the whole file or none


def _load_index(
    path: pathlib.Path, fingerprint: str, dataset_path: str, split: str
) -> VideoIndex | None:
    """The cached index, or None when absent, stale or for another dataset/split."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            if (
                int(stored["format"]) != INDEX_FORMAT
                or str(stored["fingerprint"]) != fingerprint
                or str(stored["dataset_path"]) != dataset_path
                or str(stored["split"]) != split
            ):
                return None
            return VideoIndex(
                embeddings=stored["embeddings"].astype(np.float32),
                video_ids=stored["video_ids"],
                titles=stored["titles"],
                labels=stored["labels"].astype(np.int64),
                label_names=tuple(str(name) for name in stored["label_names"]),
                embedder_spec=str(stored["embedder_spec"]),
                dataset_path=dataset_path,
                split=split,
            )
    except (OSError, KeyError, ValueError):  # unreadable or older layout: recompute
        return None


def load_video_index(
    dataset: str, split: str = "test", data_dir: str | None = None, *, use_cache: bool = True
) -> VideoIndex:
    """The video index of a dataset split, from the cache when it is current.

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir (None: TFDS' default).
        use_cache: False recomputes and does not write the cache.

    Returns:
        The `VideoIndex` (computed by `compute_video_index` on a cache miss, then cached).

    Raises:
        SearchError: the dataset is not found in `data_dir`, or the split has no video.
    """
    if not use_cache:
        return compute_video_index(dataset, split, data_dir)
    dataset_path = _dataset_path(dataset, data_dir)
    fingerprint = dataset_fingerprint(dataset_path)
    path = index_cache_path(dataset_path, split)
    index = _load_index(path, fingerprint, str(dataset_path), split)
    if index is None:
        index = compute_video_index(dataset, split, data_dir)
        try:
            _save_index(index, path, fingerprint)
        except OSError as error:  # a read-only place: serve uncached, say so
            print(f"search: could not cache the video index at {path}: {error}", file=sys.stderr)
    return index


# --------------------------------------------------------------------------------------------
# The text side.


def resolve_text_embedder(text_embedder: Any, index: VideoIndex) -> Any:
    """A `TextEmbedder` from an instance, a spec string, or (None) the dataset's recorded spec.

    Warns (UserWarning) when the embedder is not the one the dataset records.

    Args:
        text_embedder: a `vidcls_keras.clip.text.TextEmbedder` (anything with `spec`,
            `embed_dim` and `embed(list[str]) -> (n, D)`), a spec string for
            `TextEmbedder.from_spec`, or None for `index.embedder_spec`.
        index: the videos the texts will be scored against (`embeddings` `(N, D)`).

    Returns:
        The text embedder, whose `embed_dim` is the index's D.

    Raises:
        SearchError: no embedder given and none recorded, or widths that do not match.
    """
    from vidcls_keras.clip.text import TextEmbedder

    if text_embedder is None:
        if not index.embedder_spec:
            raise SearchError(
                f"the dataset at {index.dataset_path} records no embedder spec in its metadata; "
                "pass --text-embedder (e.g. preset:clip-vit-base-patch32) matching the image "
                "embedder it was built with."
            )
        text_embedder = index.embedder_spec
    if isinstance(text_embedder, str):
        text_embedder = TextEmbedder.from_spec(text_embedder)
    if text_embedder.embed_dim != index.embeddings.shape[1]:
        raise SearchError(
            f"text embedder {text_embedder.spec!r} gives {text_embedder.embed_dim}-d embeddings "
            f"but the dataset's are {index.embeddings.shape[1]}-d; use the text tower of the "
            f"CLIP the dataset was embedded with ({index.embedder_spec!r})."
        )
    if index.embedder_spec and text_embedder.spec != index.embedder_spec:
        warnings.warn(
            f"text embedder {text_embedder.spec!r} is not the image embedder the dataset was "
            f"built with ({index.embedder_spec!r}); CLIP scores only mean something when both "
            "towers come from the same model.",
            stacklevel=2,
        )
    return text_embedder
