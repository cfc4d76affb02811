"""Retrieval metrics the standard way (CLIP4Clip's table): R@1, R@5, R@10, median and mean rank.

From a similarity matrix `S` (queries x candidates, higher is more similar), each query's
**rank** is the 1-based position of its relevant candidate when the candidates are sorted by
decreasing similarity. Then, over the queries (as CLIP4Clip's `compute_metrics`):

- `R@k`: the percentage of queries whose rank is <= k (0-100);
- `MdR`: the median rank, `floor(median(rank))` (CLIP4Clip: `floor(median(rank - 1)) + 1`);
- `MnR`: the mean rank.

Ties: by default a candidate tied with the relevant one is ranked **after** it ("optimistic",
what CLIP4Clip's `np.where(sorted - diagonal == 0)` does), so rank = 1 + (number of candidates
scoring strictly higher). `ties="pessimistic"` ranks tied irrelevant candidates first instead; the
two agree unless scores tie exactly (a degenerate model that maps everything to one vector gets
R@1 = 100 optimistically and the worst rank pessimistically).

Two kinds of queries (`class_prompt_retrieval`, `title_retrieval`):

- **class prompts**: one text per class; text->video: every video of that class is relevant and
  the rank is that of the **first** relevant video (the best-ranked one: 1 + videos of other
  classes scoring strictly higher than the class's best video); video->text: each video is a query
  over the C class texts, its own class's text relevant. With C <= 5 classes, R@5 and R@10 of
  video->text are 100 by construction (there are only C candidates): `num_candidates` says so.
- **titles** (youtube_videos): each video's own title is the query for that video, one relevant
  video per query; video->text ranks the titles for each video.

Everything is matrix products and comparisons over blocks of queries (`QUERY_BLOCK` rows at a
time, so 10,000 x 10,000 similarities never sit in memory at once); no Python loop over videos.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from vidcls_keras.errors import VidclsError

Ties = Literal["optimistic", "pessimistic"]
TIES: tuple[str, ...] = ("optimistic", "pessimistic")
DEFAULT_KS = (1, 5, 10)
QUERY_BLOCK = 1024  # queries scored per matrix product (a 1024 x 10,000 float32 block: 40 MB)
METRIC_NAMES = ("R@1", "R@5", "R@10", "MdR", "MnR")


class RetrievalMetricsError(VidclsError):
    """Inputs the retrieval metrics cannot score (bad shapes, a query with nothing relevant)."""


def _check_ties(ties: str) -> None:
    if ties not in TIES:
        raise RetrievalMetricsError(f"ties={ties!r}: choose one of {', '.join(TIES)}.")


def _as_matrix(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise RetrievalMetricsError(f"{name} must be 2-D, got shape {array.shape}.")
    return array


def ranks_of_targets(
    similarity: np.ndarray, targets: np.ndarray, *, ties: Ties = "optimistic"
) -> np.ndarray:
    """1-based rank of each query's one relevant candidate.

    Args:
        similarity: float `(Q, N)`, query q's score for candidate n.
        targets: int `(Q,)`, the index in `[0, N)` of query q's relevant candidate.
        ties: "optimistic" (CLIP4Clip) or "pessimistic"; see the module docstring.

    Returns:
        int64 `(Q,)`, ranks in `[1, N]`.

    Raises:
        RetrievalMetricsError: shapes that do not match, or a target outside `[0, N)`.
    """
    _check_ties(ties)
    similarity = _as_matrix(similarity, "similarity")
    targets = np.asarray(targets, dtype=np.int64)
    if targets.shape != (similarity.shape[0],):
        raise RetrievalMetricsError(
            f"targets has shape {targets.shape}; expected ({similarity.shape[0]},), one "
            "candidate index per query (row of similarity)."
        )
    if targets.size and (targets.min() < 0 or targets.max() >= similarity.shape[1]):
        raise RetrievalMetricsError(
            f"targets must index the {similarity.shape[1]} candidates (0 to "
            f"{similarity.shape[1] - 1}); got values from {targets.min()} to {targets.max()}."
        )
    relevant_score = similarity[np.arange(len(targets)), targets][:, None]
    if ties == "optimistic":
        return 1 + (similarity > relevant_score).sum(axis=1, dtype=np.int64)
    return (similarity >= relevant_score).sum(axis=1, dtype=np.int64)  # counts itself: 1-based


def ranks_of_first_relevant(
    similarity: np.ndarray, relevant: np.ndarray, *, ties: Ties = "optimistic"
) -> np.ndarray:
    """1-based rank of each query's best-ranked relevant candidate (several may be relevant).

    Args:
        similarity: float `(Q, N)`.
        relevant: bool `(Q, N)`, True where candidate n is relevant to query q; every row needs
            at least one True.
        ties: "optimistic" (an irrelevant candidate tied with the best relevant one ranks after
            it) or "pessimistic" (before it).

    Returns:
        int64 `(Q,)`: 1 + the irrelevant candidates scoring strictly higher (optimistic) or at
        least as high (pessimistic) than the query's best relevant candidate.

    Raises:
        RetrievalMetricsError: shapes that differ, or a query with no relevant candidate.
    """
    _check_ties(ties)
    similarity = _as_matrix(similarity, "similarity")
    relevant = np.asarray(relevant, dtype=bool)
    if relevant.shape != similarity.shape:
        raise RetrievalMetricsError(
            f"relevant has shape {relevant.shape}; expected {similarity.shape}, the shape of "
            "similarity."
        )
    empty = np.flatnonzero(~relevant.any(axis=1))
    if empty.size:
        raise RetrievalMetricsError(
            f"queries {empty[:10].tolist()} have no relevant candidate, so they have no rank; "
            "leave them out."
        )
    best_relevant = np.where(relevant, similarity, -np.inf).max(axis=1, keepdims=True)
    if ties == "optimistic":
        ahead = similarity > best_relevant  # only irrelevant candidates can beat the best one
    else:
        ahead = (similarity >= best_relevant) & ~relevant
    return 1 + ahead.sum(axis=1, dtype=np.int64)


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """R@k (percent), median rank and mean rank of 1-based ranks, as CLIP4Clip reports them.

    Args:
        ranks: int `(Q,)`, each >= 1, Q >= 1.
        ks: the k of each R@k.

    Returns:
        `{"R@k": percent of ranks <= k for each k, "MdR": floor(median), "MnR": mean,
        "num_queries": Q}`.

    Raises:
        RetrievalMetricsError: no rank, a rank below 1, or k < 1.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise RetrievalMetricsError(f"need a 1-D array of at least one rank, got {ranks.shape}.")
    if ranks.min() < 1:
        raise RetrievalMetricsError(f"ranks are 1-based; got a rank of {ranks.min()}.")
    if not ks or min(ks) < 1:
        raise RetrievalMetricsError(f"ks={list(ks)}: every k must be >= 1.")
    result = {f"R@{k}": float(100.0 * np.mean(ranks <= k)) for k in ks}
    result["MdR"] = float(np.floor(np.median(ranks)))
    result["MnR"] = float(np.mean(ranks))
    result["num_queries"] = int(ranks.size)
    return result


def _unit_rows(vectors: np.ndarray, name: str) -> np.ndarray:
    vectors = _as_matrix(vectors, name).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _check_widths(first: np.ndarray, second: np.ndarray, names: str) -> None:
    if first.shape[1] != second.shape[1]:
        raise RetrievalMetricsError(
            f"{names}: widths {first.shape[1]} and {second.shape[1]} differ; texts and videos "
            "must be embedded in the same CLIP joint space (a video embedding of the text "
            "tower's width)."
        )


def blocked_ranks_of_targets(
    queries: np.ndarray,
    candidates: np.ndarray,
    targets: np.ndarray,
    *,
    ties: Ties = "optimistic",
    block: int = QUERY_BLOCK,
) -> np.ndarray:
    """`ranks_of_targets(queries @ candidates.T, targets)` computed `block` queries at a time.

    Args:
        queries: float `(Q, D)`.
        candidates: float `(N, D)`.
        targets: int `(Q,)`.
        ties: as `ranks_of_targets`.
        block: queries per matrix product (bounds memory to `block x N` scores).

    Returns:
        int64 `(Q,)`.
    """
    queries, candidates = np.asarray(queries, np.float32), np.asarray(candidates, np.float32)
    targets = np.asarray(targets, np.int64)
    if targets.shape != (len(queries),):
        raise RetrievalMetricsError(
            f"targets has shape {targets.shape}; expected ({len(queries)},), one per query."
        )
    parts = [np.zeros(0, np.int64)]
    for begin in range(0, len(queries), block):
        similarity = queries[begin : begin + block] @ candidates.T
        parts.append(ranks_of_targets(similarity, targets[begin : begin + block], ties=ties))
    return np.concatenate(parts)


def class_prompt_retrieval(
    video_embeddings: np.ndarray,
    labels: np.ndarray,
    class_embeddings: np.ndarray,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    ties: Ties = "optimistic",
) -> dict[str, dict[str, float]]:
    """Text->video and video->text metrics with one text (prompt) per class.

    Similarities are cosines (both sides L2-normalised here). Text->video: one query per class
    that has a video (classes without one are skipped: no rank), rank of the class's first
    relevant video among all N videos. Video->text: each video ranks the C class texts.

    Args:
        video_embeddings: float `(N, D)`.
        labels: int `(N,)`, class indices into `class_embeddings`.
        class_embeddings: float `(C, D)`, one text embedding per class (a prompt or a prompt
            ensemble, `zeroshot.class_text_embeddings`).
        ks: the k of each R@k.
        ties: as `ranks_of_targets`.

    Returns:
        `{"text_to_video": metrics, "video_to_text": metrics}`, each `metrics_from_ranks`'s dict
        plus `num_candidates` (N videos, C texts).

    Raises:
        RetrievalMetricsError: mismatched shapes or widths, or labels outside `[0, C)`.
    """
    videos = _unit_rows(video_embeddings, "video_embeddings")
    classes = _unit_rows(class_embeddings, "class_embeddings")
    _check_widths(videos, classes, "video_embeddings and class_embeddings")
    labels = np.asarray(labels, np.int64)
    if labels.shape != (len(videos),):
        raise RetrievalMetricsError(
            f"labels has shape {labels.shape}; expected ({len(videos)},), one per video."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise RetrievalMetricsError(
            f"labels must index the {len(classes)} class texts; got values from {labels.min()} "
            f"to {labels.max()}."
        )
    similarity = videos @ classes.T  # (N, C)
    present = np.unique(labels)
    relevant = labels[None, :] == present[:, None]  # (C', N)
    text_to_video = metrics_from_ranks(
        ranks_of_first_relevant(similarity.T[present], relevant, ties=ties), ks
    )
    video_to_text = metrics_from_ranks(ranks_of_targets(similarity, labels, ties=ties), ks)
    text_to_video["num_candidates"] = len(videos)
    video_to_text["num_candidates"] = len(classes)
    return {"text_to_video": text_to_video, "video_to_text": video_to_text}


def title_retrieval(
    video_embeddings: np.ndarray,
    title_embeddings: np.ndarray,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    ties: Ties = "optimistic",
    block: int = QUERY_BLOCK,
) -> dict[str, dict[str, float]]:
    """Text->video and video->text metrics with each video's own title as its text.

    Row i of `title_embeddings` is video i's title: text->video ranks video i among the N videos
    for title i, video->text ranks title i among the N titles for video i (cosines; one relevant
    item per query).

    Args:
        video_embeddings: float `(N, D)`.
        title_embeddings: float `(N, D)`, aligned with the videos.
        ks: the k of each R@k.
        ties: as `ranks_of_targets`.
        block: queries per matrix product.

    Returns:
        `{"text_to_video": metrics, "video_to_text": metrics}` (`metrics_from_ranks` +
        `num_candidates` = N).

    Raises:
        RetrievalMetricsError: different numbers of rows, or different widths.
    """
    videos = _unit_rows(video_embeddings, "video_embeddings")
    titles = _unit_rows(title_embeddings, "title_embeddings")
    _check_widths(videos, titles, "video_embeddings and title_embeddings")
    if len(videos) != len(titles):
        raise RetrievalMetricsError(
            f"{len(titles)} title embeddings for {len(videos)} videos: give one title per video, "
            "in the videos' order."
        )
    targets = np.arange(len(videos))
    result = {
        "text_to_video": metrics_from_ranks(
            blocked_ranks_of_targets(titles, videos, targets, ties=ties, block=block), ks
        ),
        "video_to_text": metrics_from_ranks(
            blocked_ranks_of_targets(videos, titles, targets, ties=ties, block=block), ks
        ),
    }
    for metrics in result.values():
        metrics["num_candidates"] = len(videos)
    return result
