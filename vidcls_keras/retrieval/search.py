"""Text -> video search: rank a dataset split's videos by CLIP similarity to a query.

The library behind `python -m vidcls_keras.search` (the command line is in that module):

    search.search("street food in bangkok", "youtube_videos/frames100", top_k=10)
    search.evaluate_class_name_queries("youtube_videos/frames100", ks=(1, 5, 10))

Videos are the unit mean frame embeddings of a `vidcls_keras.retrieval.index.VideoIndex`
(computed once per dataset split, then cached); the query is embedded by the CLIP text tower that
matches the dataset's image embedder, and the score is the cosine similarity.

`evaluate_class_name_queries` uses each class name as a query ("art_music" -> "art music") and
reports, averaged over the classes, recall@k (the share of the class's videos in the top k) and
average precision (scikit-learn `average_precision_score`, whose mean over the classes is the mAP).

`more_like_this` is video -> video: the query is a video of the index (by id; it is left out of
its own results) or a video file, embedded by the dataset's own frame embedder through
`embedding.pipeline` with the dataset's frames per video (so a file of the dataset gets exactly
its stored embedding), and the videos are ranked by cosine similarity of the mean frame
embeddings.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from vidcls_keras.retrieval.index import (
    SearchError,
    VideoIndex,
    class_name_query,
    l2_normalize,
    load_video_index,
    mean_frame_embedding,
    resolve_text_embedder,
)

__all__ = [
    "DEFAULT_RECALL_KS",
    "DEFAULT_TOP_K",
    "SearchError",
    "VideoIndex",
    "class_name_query",
    "evaluate_class_name_queries",
    "load_video_index",
    "more_like_this",
    "rank_videos",
    "search",
    "top_k_order",
]

DEFAULT_TOP_K = 10
DEFAULT_RECALL_KS = (1, 5, 10)


def _check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise SearchError(f"query {query!r} is empty; pass some words, e.g. 'street food'.")
    return query.strip()


def rank_videos(query_embedding: np.ndarray, video_embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of one query to every video.

    Args:
        query_embedding: float `(D,)` (any norm).
        video_embeddings: float `(N, D)` unit rows (a `VideoIndex.embeddings`).

    Returns:
        float32 `(N,)` scores in [-1, 1].
    """
    return (np.asarray(video_embeddings, np.float32) @ l2_normalize(query_embedding)).astype(
        np.float32
    )


def top_k_order(scores: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the `top_k` highest scores, best first (ties: lower index first)."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return order[:top_k]


def search(
    query: str,
    dataset: str,
    *,
    split: str = "test",
    data_dir: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    text_embedder: Any = None,
    index: VideoIndex | None = None,
) -> list[dict[str, Any]]:
    """Ranks a split's videos by cosine similarity to a text query.

    Args:
        query: the text, e.g. "street food in bangkok".
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir.
        top_k: how many results (at most the number of videos).
        text_embedder: a `TextEmbedder`, a spec string, or None for the dataset's own.
        index: a `VideoIndex` already loaded (skips `load_video_index`).

    Returns:
        Up to `top_k` dicts `{rank, video_id, title, label, score}`, best first.

    Raises:
        SearchError: for an empty query or `top_k < 1`.
    """
    query = _check_query(query)
    if top_k < 1:
        raise SearchError(f"top_k={top_k}: ask for at least one result.")
    index = index if index is not None else load_video_index(dataset, split, data_dir)
    embedder = resolve_text_embedder(text_embedder, index)
    scores = rank_videos(embedder.embed([query])[0], index.embeddings)
    return [
        {
            "rank": rank + 1,
            "video_id": str(index.video_ids[position]),
            "title": str(index.titles[position]),
            "label": index.label_names[int(index.labels[position])],
            "score": float(scores[position]),
        }
        for rank, position in enumerate(top_k_order(scores, top_k))
    ]


def evaluate_class_name_queries(
    dataset: str,
    *,
    split: str = "test",
    data_dir: str | None = None,
    ks: Sequence[int] = DEFAULT_RECALL_KS,
    text_embedder: Any = None,
    queries: Sequence[str] | None = None,
    index: VideoIndex | None = None,
) -> dict[str, Any]:
    """Retrieval quality with one query per class: recall@k and mAP over the split.

    For class c with n_c videos in the split, recall@k = (videos of class c among the top k) /
    n_c, and AP = `sklearn.metrics.average_precision_score(labels == c, scores)`. Classes with no
    video in the split are skipped (their AP is undefined) and listed.

    Args:
        dataset, split, data_dir, text_embedder, index: as for `search`.
        ks: the k values of recall@k.
        queries: one query per class, in label order; None uses `class_name_query(name)`.

    Returns:
        `{num_videos, queries, recall_at_k: {k: mean}, mean_average_precision, per_class:
        {name: {query, num_videos, average_precision, recall_at_k}}, skipped_classes}`.

    Raises:
        SearchError: wrong number of queries, an empty query, or k < 1.
    """
    from sklearn.metrics import average_precision_score

    index = index if index is not None else load_video_index(dataset, split, data_dir)
    if queries is None:
        queries = [class_name_query(name) for name in index.label_names]
    if len(queries) != len(index.label_names):
        raise SearchError(
            f"{len(queries)} queries for {len(index.label_names)} classes "
            f"{list(index.label_names)}: give one query per class, in this order."
        )
    queries = [_check_query(query) for query in queries]
    if not ks or min(ks) < 1:
        raise SearchError(f"ks={list(ks)}: every k must be >= 1.")
    embedder = resolve_text_embedder(text_embedder, index)
    query_embeddings = embedder.embed(queries)
    per_class: dict[str, Any] = {}
    skipped = []
    for label, (name, query) in enumerate(zip(index.label_names, queries, strict=True)):
        relevant = index.labels == label
        if not relevant.any():
            skipped.append(name)
            continue
        scores = rank_videos(query_embeddings[label], index.embeddings)
        order = top_k_order(scores, len(scores))
        per_class[name] = {
            "query": query,
            "num_videos": int(relevant.sum()),
            "average_precision": float(average_precision_score(relevant, scores)),
            "recall_at_k": {str(k): float(relevant[order[:k]].sum() / relevant.sum()) for k in ks},
        }
    if not per_class:
        raise SearchError(f"dataset {dataset!r} split {split!r} has no labelled video.")
    return {
        "num_videos": len(index),
        "queries": dict(zip(index.label_names, queries, strict=True)),
        "recall_at_k": {
            str(k): float(np.mean([c["recall_at_k"][str(k)] for c in per_class.values()]))
            for k in ks
        },
        "mean_average_precision": float(
            np.mean([c["average_precision"] for c in per_class.values()])
        ),
        "per_class": per_class,
        "skipped_classes": skipped,
    }


def dataset_num_frames(index: VideoIndex) -> int:
    """Frames per video the index's dataset sampled (its `metadata.json`'s `num_frames`).

    Falls back to `embedding.pipeline.DEFAULT_NUM_FRAMES` for a dataset that does not record it.
    """
    from vidcls_keras.embedding.pipeline import DEFAULT_NUM_FRAMES

    try:
        metadata = json.loads((pathlib.Path(index.dataset_path) / "metadata.json").read_text())
        return int(metadata["num_frames"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_NUM_FRAMES


def like_query(
    like: str | os.PathLike, index: VideoIndex, *, frame_embedder: Any = None
) -> tuple[np.ndarray, str | None]:
    """The video embedding a "more like this" query stands for.

    Args:
        like: a video id of the index, or a video file (tried in that order).
        index: the videos searched.
        frame_embedder: the `clip.FrameEmbedder` for a file; None loads the dataset's own
            (`embedding.embedders.load_embedder(index.embedder_spec)`).

    Returns:
        `(embedding, video_id)`: float32 `(D,)` of unit norm, and the id when `like` is one of
        the index's videos (to leave out of its own results), else None.

    Raises:
        SearchError: neither an id of the split nor a file; a file with no embedder recorded.
        vidcls_keras.video.VideoDecodeError: the file cannot be decoded.
    """
    like = os.fspath(like)
    matches = np.flatnonzero(index.video_ids == like)
    if matches.size:
        return index.embeddings[matches[0]], like
    path = pathlib.Path(like)
    if not path.is_file():
        raise SearchError(
            f"--like {like!r} is neither a video id of split {index.split!r} (its ids look like "
            f"{[str(video_id) for video_id in index.video_ids[:3]]}) nor a video file; pass one "
            "of those ids, another --split, or a file path."
        )
    if frame_embedder is None:
        if not index.embedder_spec:
            raise SearchError(
                f"the dataset at {index.dataset_path} records no embedder, so {like} cannot be "
                "embedded like its videos; query by video id instead."
            )
        from vidcls_keras.embedding.embedders import load_embedder

        frame_embedder = load_embedder(index.embedder_spec)
    from vidcls_keras.embedding import pipeline

    frames = pipeline.embed_video(frame_embedder, path, dataset_num_frames(index))
    return mean_frame_embedding(frames), None


def more_like_this(
    like: str | os.PathLike,
    dataset: str,
    *,
    split: str = "test",
    data_dir: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    index: VideoIndex | None = None,
    frame_embedder: Any = None,
) -> list[dict[str, Any]]:
    """Video -> video: the split's videos most similar to a video of it or to a video file.

    Args:
        like: a video id of the split (left out of the results), or a video file.
        dataset, split, data_dir, top_k, index: as for `search`.
        frame_embedder: as for `like_query`.

    Returns:
        Up to `top_k` dicts `{rank, video_id, title, label, score}`, best first (`score`: the
        cosine similarity of the mean frame embeddings).

    Raises:
        SearchError: `top_k < 1`, or a `like` that is neither an id nor a file.
    """
    if top_k < 1:
        raise SearchError(f"top_k={top_k}: ask for at least one result.")
    index = index if index is not None else load_video_index(dataset, split, data_dir)
    query, video_id = like_query(like, index, frame_embedder=frame_embedder)
    scores = rank_videos(query, index.embeddings)
    order = top_k_order(scores, len(scores))
    if video_id is not None:
        order = order[index.video_ids[order] != video_id]
    return [
        {
            "rank": rank + 1,
            "video_id": str(index.video_ids[position]),
            "title": str(index.titles[position]),
            "label": index.label_names[int(index.labels[position])],
            "score": float(scores[position]),
        }
        for rank, position in enumerate(order[:top_k])
    ]
