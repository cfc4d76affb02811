"""Embedding maps: a dataset split's videos in 2-D (t-SNE, or UMAP), and one video's frames.

The library behind `python -m vidcls_keras.visualize`:

    maps.write_maps("youtube_videos/frames100", out="maps")                   # maps/tsne.png
    maps.write_maps(..., run="runs/aligned_lstm", video_id="dQw4w9WgXcQ")    # + trajectory.png

- **Video map** (`video_map`, `tsne.png`): one point per video, coloured by label, with a legend.
  The vectors are the videos' unit embeddings: the mean-pooled frames (the search index,
  `retrieval.index`) or, with a run, the aligned head's `video_embedding`
  (`retrieval.video_embeddings`).
- **Trajectory** (`trajectory_map`, `trajectory.png`): the videos **and** one video's frame
  embeddings (each L2-normalised) are embedded together in one t-SNE fit (t-SNE has no transform
  for new points, so the frames cannot be placed in an existing map); the frames are drawn in
  time order as a path over the videos. With a run, the frames are still CLIP frame embeddings
  (a head gives one vector per video); they share the map because the aligned head's embedding
  lives in CLIP's joint space, at the frames' width (refused otherwise).

t-SNE is scikit-learn's `TSNE` (PCA initialisation, `random_state=seed`, perplexity
`min(30, (n - 1) / 3)` so that small splits work, exact gradients below `EXACT_TSNE_BELOW` points
and Barnes-Hut above): the same seed and inputs give the same map.
UMAP (`method="umap"`) needs `umap-learn` (`pip install umap-learn`), imported only when asked.
PNGs are written atomically.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
from typing import Any

import numpy as np

from vidcls_keras import files
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval.index import VideoIndex, l2_normalize

METHODS = ("tsne", "umap")
DEFAULT_METHOD = "tsne"
DEFAULT_SEED = 0
TRAJECTORY_FILENAME = "trajectory.png"
MIN_POINTS = 3
EXACT_TSNE_BELOW = 200  # points: scikit-learn's exact t-SNE below, Barnes-Hut from here


class MapError(VidclsError):
    """A map that cannot be drawn: too few videos, unknown method, umap-learn missing, ..."""


def map_filename(method: str) -> str:
    """The video map's file name: `tsne.png` or `umap.png`."""
    return f"{method}.png"


def reduce_to_2d(
    vectors: np.ndarray, method: str = DEFAULT_METHOD, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """2-D coordinates of `vectors` by t-SNE (scikit-learn) or UMAP (umap-learn).

    Args:
        vectors: float `(n, D)`, n >= 3.
        method: "tsne" or "umap".
        seed: the random state (the same seed and vectors give the same map).

    Returns:
        float32 `(n, 2)`.

    Raises:
        MapError: an unknown method, fewer than 3 points, or umap-learn not installed.
    """
    if method not in METHODS:
        raise MapError(f"method {method!r}: choose one of {', '.join(METHODS)}.")
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or len(vectors) < MIN_POINTS:
        raise MapError(
            f"a map needs at least {MIN_POINTS} embeddings, got shape {vectors.shape}; use a "
            "larger split (e.g. --split all)."
        )
    if method == "umap":
        try:
            import umap
        except ImportError as error:
            raise MapError(
                "method 'umap' needs umap-learn, which is not installed: pip install umap-learn "
                "(or use --method tsne)."
            ) from error
        reducer = umap.UMAP(
            n_components=2, n_neighbors=min(15, len(vectors) - 1), random_state=seed
        )
        return np.asarray(reducer.fit_transform(vectors), np.float32)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(vectors) - 1) / 3.0)
    # Exact gradients for small sets (more accurate, and no OpenMP threads, which can take
    # seconds to start on a busy machine); Barnes-Hut's O(n log n) above.
    tsne_method = "exact" if len(vectors) < EXACT_TSNE_BELOW else "barnes_hut"
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        random_state=seed,
        method=tsne_method,
    )
    return np.asarray(tsne.fit_transform(vectors), np.float32)


@dataclasses.dataclass(frozen=True)
class EmbeddingMap:
    """What a map shows: the vectors that were fitted and their 2-D points.

    Attributes:
        vectors: float32 `(n, D)`: the `num_videos` video embeddings, then (trajectory) the
            video's unit frame embeddings in time order.
        points: float32 `(n, 2)`, the fitted coordinates, row for row.
        num_videos: rows of `vectors` that are videos.
        labels: int64 `(num_videos,)`, class indices into `label_names`.
        label_names: the class names.
        video_ids: `(num_videos,)` str.
        method: "tsne" or "umap".
        source: what the video vectors are (`VideoIndex.source`).
        video_id: the video whose frames follow the videos (trajectory), else None.
    """

    vectors: np.ndarray
    points: np.ndarray
    num_videos: int
    labels: np.ndarray
    label_names: tuple[str, ...]
    video_ids: np.ndarray
    method: str
    source: str
    video_id: str | None = None


def video_map(
    index: VideoIndex, method: str = DEFAULT_METHOD, seed: int = DEFAULT_SEED
) -> EmbeddingMap:
    """The map of a split's videos (`index.embeddings`, `(N, D)` unit rows)."""
    vectors = l2_normalize(index.embeddings)
    return EmbeddingMap(
        vectors=vectors,
        points=reduce_to_2d(vectors, method, seed),
        num_videos=len(index),
        labels=index.labels,
        label_names=index.label_names,
        video_ids=index.video_ids,
        method=method,
        source=index.source,
    )


def trajectory_map(
    index: VideoIndex,
    video_id: str,
    frame_embeddings: np.ndarray,
    method: str = DEFAULT_METHOD,
    seed: int = DEFAULT_SEED,
) -> EmbeddingMap:
    """The videos and one video's frames, fitted together in one map.

    Args:
        index: the videos, `embeddings` `(N, D)`.
        video_id: the video the frames belong to (one of `index.video_ids`).
        frame_embeddings: float `(k, D)`, its frame embeddings in time order (L2-normalised here).
        method, seed: as `reduce_to_2d`.

    Returns:
        An `EmbeddingMap` of `N + k` rows: the videos, then the frames.

    Raises:
        MapError: `video_id` not in the index, or frames of another width than the videos.
    """
    if video_id not in set(index.video_ids.tolist()):
        raise MapError(
            f"video {video_id!r} is not among the {len(index)} videos of split {index.split!r}."
        )
    frames = np.asarray(frame_embeddings, np.float32)
    if frames.ndim != 2 or frames.shape[1] != index.embeddings.shape[1] or not len(frames):
        raise MapError(
            f"frames of shape {frames.shape} cannot share a map with {index.embeddings.shape[1]}-d "
            f"video embeddings ({index.source}): the trajectory needs video embeddings of the "
            "frames' width (CLIP's joint space)."
        )
    vectors = np.concatenate([l2_normalize(index.embeddings), l2_normalize(frames)])
    return EmbeddingMap(
        vectors=vectors,
        points=reduce_to_2d(vectors, method, seed),
        num_videos=len(index),
        labels=index.labels,
        label_names=index.label_names,
        video_ids=index.video_ids,
        method=method,
        source=index.source,
        video_id=video_id,
    )


_METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP"}


def _scatter_videos(axis: Any, embedding_map: EmbeddingMap, alpha: float) -> None:
    """One colour per class (tab10 / tab20), with a legend entry per class."""
    from matplotlib import colormaps

    names = embedding_map.label_names
    colours = colormaps["tab10" if len(names) <= 10 else "tab20"]
    videos = embedding_map.points[: embedding_map.num_videos]
    for label, name in enumerate(names):
        chosen = embedding_map.labels == label
        if chosen.any():
            axis.scatter(
                videos[chosen, 0],
                videos[chosen, 1],
                s=18,
                color=colours(label % colours.N),
                alpha=alpha,
                label=f"{name} ({int(chosen.sum())})",
            )


def map_figure(embedding_map: EmbeddingMap, title: str = "") -> Any:
    """The video map: a point per video coloured by label, with a legend (a matplotlib Figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    _scatter_videos(axis, embedding_map, alpha=0.85)
    axis.set_title(
        title
        or f"{_METHOD_NAMES[embedding_map.method]} of {embedding_map.num_videos} videos "
        f"({embedding_map.source})",
        fontsize="medium",
    )
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(title="label", fontsize="small", loc="best")
    return figure


def trajectory_figure(embedding_map: EmbeddingMap, title: str = "") -> Any:
    """The videos (faint, by label) and the video's frames as a path coloured by time."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if embedding_map.video_id is None:
        raise MapError("this map has no frames: build it with trajectory_map.")
    figure = Figure(figsize=(7.5, 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    _scatter_videos(axis, embedding_map, alpha=0.3)
    frames = embedding_map.points[embedding_map.num_videos :]
    axis.plot(frames[:, 0], frames[:, 1], color="0.3", linewidth=0.8, zorder=2)
    path = axis.scatter(
        frames[:, 0],
        frames[:, 1],
        c=np.arange(len(frames)),
        cmap="viridis",
        s=22,
        zorder=3,
        label=f"frames of {embedding_map.video_id} ({len(frames)})",
    )
    axis.annotate("first frame", frames[0], fontsize="small")
    axis.annotate("last frame", frames[-1], fontsize="small")
    position = int(np.flatnonzero(embedding_map.video_ids == embedding_map.video_id)[0])
    axis.scatter(
        *embedding_map.points[position],
        marker="*",
        s=220,
        color="black",
        zorder=4,
        label="the video's embedding",
    )
    figure.colorbar(path, ax=axis, label="frame (time order)")
    axis.set_title(
        title
        or f"{_METHOD_NAMES[embedding_map.method]}: the frames of {embedding_map.video_id} "
        f"among {embedding_map.num_videos} videos ({embedding_map.source})",
        fontsize="medium",
    )
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(fontsize="small", loc="best")
    return figure


def save_figure(figure: Any, path: str | os.PathLike) -> pathlib.Path:
    """Writes a figure as PNG, atomically (a reader sees the whole file or none)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return files.atomic_write_bytes(path, buffer.getvalue())


def write_maps(
    dataset: str,
    *,
    split: str = "test",
    data_dir: str | None = None,
    run: str | os.PathLike | None = None,
    video_id: str | None = None,
    method: str = DEFAULT_METHOD,
    seed: int = DEFAULT_SEED,
    out: str | os.PathLike = "embedding_maps",
) -> dict[str, tuple[pathlib.Path, EmbeddingMap]]:
    """Writes `<out>/<method>.png` (and with `video_id`, `<out>/trajectory.png`).

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir (None: TFDS' default).
        run: an aligned run's folder: map its video embeddings; None maps the mean-pooled frames.
        video_id: a video of the split whose frames to draw as a path.
        method: "tsne" or "umap".
        seed: the map's random state.
        out: the output folder (made if missing).

    Returns:
        `{"map": (path, EmbeddingMap)}`, plus `"trajectory"` with `video_id`.

    Raises:
        MapError, VidclsError: see `reduce_to_2d`, `trajectory_map` and
            `video_embeddings.split_video_index`.
    """
    from vidcls_keras.retrieval.video_embeddings import (
        split_frame_embeddings,
        split_video_index,
    )

    if method not in METHODS:  # before any work
        raise MapError(f"method {method!r}: choose one of {', '.join(METHODS)}.")
    out = files.ensure_dir(out, "--out")
    index = split_video_index(dataset, split, data_dir, run=run)
    # A bad video id is refused before anything is written.
    frames = None
    if video_id is not None:
        frames = split_frame_embeddings(dataset, split, data_dir, video_id)
    written = {}
    videos = video_map(index, method, seed)
    written["map"] = (save_figure(map_figure(videos), out / map_filename(method)), videos)
    if frames is not None:
        trajectory = trajectory_map(index, video_id, frames, method, seed)
        path = save_figure(trajectory_figure(trajectory), out / TRAJECTORY_FILENAME)
        written["trajectory"] = (path, trajectory)
    return written
