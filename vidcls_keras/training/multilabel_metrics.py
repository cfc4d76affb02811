"""YouTube-8M's official multi-label metrics, in vectorised numpy.

    gap                global average precision over each video's top_k predictions
    hit_at_one         share of videos whose highest-scoring class is a true label
    perr               precision at equal recall rate, averaged over all videos
    mean_ap            per-class average precision over the top_k predictions, averaged
    multilabel_report  all four in one JSON-ready dict, sharing one top_k pass

All take `predictions (N, C)` (any float scores: probabilities or logits) and `labels (N, C)` (0/1,
bool, int or float) and give the same numbers as the YouTube-8M starter code's `eval_util.py`,
`average_precision_calculator.py` and `mean_average_precision_calculator.py` (google/youtube-8m),
ties included:

- A video's top_k is the set `numpy.argpartition(row, -top_k)[-top_k:]` picks, as the starter's
  `top_k_triplets` does (top_k is clipped to C). When the k-th and (k+1)-th scores of a row tie,
  which tied classes are kept is argpartition's choice; it is the same call here, so the same set.
- The starter ranks each list of (score, label) pairs by pushing them onto a `heapq` heap, reading
  the heap's array, shuffling it with `random.seed(0); random.sample(...)` and stable-sorting by
  score, descending: tied scores end up in a pseudo-random but fixed order. Here the list is sorted
  by score first; only when a tie group mixes positives and negatives (the only case where the order
  inside it changes the AP) is the starter's exact heap-and-shuffle order rebuilt, with a private
  `random.Random(0)` (the same sequence, without touching the global generator).
- `perr` counts a top class as a hit only when its score is `> 0`, as the starter does (so with
  logits, a true class scored <= 0 is a miss); a video without labels contributes 0 and still counts
  in the mean over all N videos.
- `mean_ap` averages over the classes with at least one positive label, as the issue asks: what the
  later `MeanAveragePrecisionCalculator` returns with its default `filter_empty_classes=True`,
  averaged. Versions differ here: the 2017 starter (no filter, `numpy.mean(aps)` in eval.py) and
  the TF Model Garden port (`filter_empty_classes=False`, `sum(aps) / num_class`) average over all
  C classes, empty ones counting 0; multiply by `classes with a positive / C` to compare.

Speed (measured on 2 CPU cores, numpy 2.4, ~3 labels a video): `multilabel_report` on (10000, 3862)
float32 predictions takes about 0.8-0.9 s, on (100000, 3862) about 9-10 s, most of it in the one
`argpartition` pass (plus a second one for just the rows where perr's boundary is tied). Heavily
saturated float32 sigmoids, where positives and negatives share scores and the starter's tie order
must be rebuilt for the pooled list and nearly every class, cost about the same (10.3 s at 100000).
Work runs in row chunks of about 64 MB; memory beyond the inputs peaked at 0.9 GB at 100000 videos
(a bool copy of the labels, N * C bytes, plus chunk buffers and O(N * top_k) pooled pairs).
"""

from __future__ import annotations

import heapq
import operator
import random
from typing import Any

import numpy as np

from vidcls_keras.errors import VidclsError

# Row chunks hold about this many matrix entries (an int64 argpartition result: 64 MB).
_CHUNK_ENTRIES = 8_000_000


class MultilabelMetricsError(VidclsError):
    """Predictions, labels or top_k that the multi-label metrics cannot use."""


def _chunks(num_rows: int, num_classes: int) -> range:
    """Start rows of chunks holding about `_CHUNK_ENTRIES` entries each."""
    return range(0, num_rows, max(1, _CHUNK_ENTRIES // num_classes))


def _chunk_size(num_classes: int) -> int:
    return max(1, _CHUNK_ENTRIES // num_classes)


def _validate(predictions: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checks the inputs; returns predictions as given (float) and labels as bool (N, C)."""
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    if predictions.ndim != 2 or labels.ndim != 2:
        raise MultilabelMetricsError(
            f"predictions and labels must be 2-D (videos, classes); got shapes "
            f"{predictions.shape} and {labels.shape}"
        )
    if predictions.shape != labels.shape:
        raise MultilabelMetricsError(
            f"predictions {predictions.shape} and labels {labels.shape} must have the same shape "
            "(videos, classes)"
        )
    if predictions.shape[0] == 0 or predictions.shape[1] == 0:
        raise MultilabelMetricsError(
            f"need at least one video and one class; got shape {predictions.shape}"
        )
    if not np.issubdtype(predictions.dtype, np.floating):
        raise MultilabelMetricsError(
            f"predictions must be float scores (probabilities or logits); got dtype "
            f"{predictions.dtype} (use predictions.astype(np.float32) if they are numbers)"
        )
    if not (labels.dtype == np.bool_ or np.issubdtype(labels.dtype, np.number)):
        raise MultilabelMetricsError(
            f"labels must be 0/1 numbers or bool; got dtype {labels.dtype}"
        )
    if np.issubdtype(labels.dtype, np.complexfloating):
        raise MultilabelMetricsError(
            f"labels must be 0/1 numbers or bool; got dtype {labels.dtype}"
        )
    num_rows, num_classes = predictions.shape
    positive = np.empty(labels.shape, dtype=np.bool_)
    step = _chunk_size(num_classes)
    for start in _chunks(num_rows, num_classes):
        rows = slice(start, start + step)
        if np.isnan(predictions[rows]).any():
            bad = start + int(np.flatnonzero(np.isnan(predictions[rows]).any(axis=1))[0])
            raise MultilabelMetricsError(f"predictions contain NaN (first in video {bad})")
        chunk = labels[rows]
        if labels.dtype == np.bool_:
            positive[rows] = chunk
            continue
        is_one = chunk == 1
        if not (is_one | (chunk == 0)).all():
            bad = start + int(np.flatnonzero(~(is_one | (chunk == 0)).all(axis=1))[0])
            raise MultilabelMetricsError(
                f"labels must be 0 or 1 (multi-hot); video {bad} has other values "
                f"{np.unique(labels[bad][(labels[bad] != 0) & (labels[bad] != 1)])[:5].tolist()}"
            )
        positive[rows] = is_one
    return predictions, positive


def _validate_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool):
        raise MultilabelMetricsError(f"top_k must be a positive integer; got {top_k!r}")
    try:
        value = operator.index(top_k)
    except TypeError:
        raise MultilabelMetricsError(f"top_k must be a positive integer; got {top_k!r}") from None
    if value <= 0:
        raise MultilabelMetricsError(f"top_k must be a positive integer; got {value}")
    return value


class _TopK:
    """Each video's top_k (class, score, is_positive), chosen by argpartition as the starter does.

    Attributes:
        k: top_k clipped to C.
        classes, scores, hits: `(N, k)` int64 class indices, float64 scores and bool labels of each
            video's kept predictions, in argpartition's order within a row.
    """

    def __init__(self, predictions: np.ndarray, positive: np.ndarray, top_k: int) -> None:
        num_rows, num_classes = predictions.shape
        self.k = min(top_k, num_classes)
        kth = num_classes - self.k
        self.classes = np.empty((num_rows, self.k), dtype=np.int64)
        step = _chunk_size(num_classes)
        for start in _chunks(num_rows, num_classes):
            rows = slice(start, start + step)
            # The starter's `argpartition(row, -k)[-k:]`; on a 2-D chunk along axis 1 it runs the
            # same selection on every row (the tests check the tie choices agree).
            self.classes[rows] = np.argpartition(predictions[rows], kth, axis=1)[:, kth:]
        row_index = np.arange(num_rows)[:, None]
        self.scores = predictions[row_index, self.classes].astype(np.float64)
        self.hits = positive[row_index, self.classes]

    def pooled_by_class(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat (classes, scores, hits) in the starter's order: by class, then by video."""
        order = np.argsort(self.classes.ravel(), kind="stable")
        return self.classes.ravel()[order], self.scores.ravel()[order], self.hits.ravel()[order]


def _starter_rank_order(scores: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """The order in which the starter's `AveragePrecisionCalculator` ranks a list, ties included.

    Mirrors `accumulate` (one `heapq.heappush` per pair, in list order) then `peek_ap_at_n` and
    `ap_at_n` (the heap's array, shuffled by `random.seed(0); random.sample(range(n), n)`, then a
    stable sort by score, descending). The insertion index added to each heap tuple never changes
    the heap: a pushed item is only compared with items pushed before it, so on equal
    (score, label) it is the larger and stays put, exactly like the starter's equal tuples.

    Args:
        scores: `(n,)` scores in the list's insertion order.
        hits: `(n,)` bool labels, same order.

    Returns:
        `(n,)` int64 indices into `scores`, best ranked first.
    """
    size = len(scores)
    heap: list[tuple[float, int, int]] = []
    push = heapq.heappush
    for item in zip(scores.tolist(), hits.astype(np.int64).tolist(), range(size), strict=True):
        push(heap, item)
    heap_order = np.fromiter((item[2] for item in heap), dtype=np.int64, count=size)
    shuffled = heap_order[np.asarray(random.Random(0).sample(range(size), size), dtype=np.int64)]
    return shuffled[np.argsort(-scores[shuffled], kind="stable")]


def _ap_of_ranked_hits(ranked_hits: np.ndarray, num_positives: float) -> float:
    """Sum over ranks i of precision@i * hit_i, divided by `num_positives` (0 when it is 0)."""
    if num_positives <= 0:
        return 0.0
    hit_ranks = np.flatnonzero(ranked_hits) + 1
    precision_at_hits = np.arange(1, len(hit_ranks) + 1) / hit_ranks
    return float(precision_at_hits.sum() / num_positives)


def _list_ap(scores: np.ndarray, hits: np.ndarray, num_positives: float) -> float:
    """AP of one list (insertion order) as the starter computes it, with its tie order."""
    if num_positives <= 0 or len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_hits = scores[order], hits[order]
    mixed_tie = (sorted_scores[1:] == sorted_scores[:-1]) & (sorted_hits[1:] != sorted_hits[:-1])
    if mixed_tie.any():
        order = _starter_rank_order(scores, hits)
    return _ap_of_ranked_hits(hits[order], num_positives)


def _gap(top: _TopK, positive: np.ndarray) -> float:
    _, scores, hits = top.pooled_by_class()
    return _list_ap(scores, hits, float(np.count_nonzero(positive)))


def _mean_ap(top: _TopK, positive: np.ndarray) -> float:
    num_classes = positive.shape[1]
    class_positives = np.count_nonzero(positive, axis=0).astype(np.float64)
    classes, scores, hits = top.pooled_by_class()
    # Within each class, best score first; equal scores keep video order (fixed below if it matters).
    order = np.lexsort((-scores, classes))
    ranked_classes, ranked_scores, ranked_hits = classes[order], scores[order], hits[order]
    counts = np.bincount(ranked_classes, minlength=num_classes)
    class_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    start = class_start[ranked_classes]
    rank = np.arange(len(ranked_classes)) - start + 1
    cumulative_hits = np.cumsum(ranked_hits)
    hits_in_class = cumulative_hits - (cumulative_hits[start] - ranked_hits[start])
    contribution = np.where(ranked_hits, hits_in_class / rank, 0.0)
    aps = np.zeros(num_classes)
    has_positive = class_positives > 0
    sums = np.bincount(ranked_classes, weights=contribution, minlength=num_classes)
    aps[has_positive] = sums[has_positive] / class_positives[has_positive]
    # Classes where a positive and a negative share a score: the starter's own tie order.
    same_group = (ranked_classes[1:] == ranked_classes[:-1]) & (
        ranked_scores[1:] == ranked_scores[:-1]
    )
    mixed = np.unique(ranked_classes[1:][same_group & (ranked_hits[1:] != ranked_hits[:-1])])
    for class_index in mixed.tolist():
        if class_positives[class_index] > 0:
            in_class = slice(
                class_start[class_index], class_start[class_index] + counts[class_index]
            )
            aps[class_index] = _list_ap(
                scores[in_class], hits[in_class], class_positives[class_index]
            )
    if not has_positive.any():
        return 0.0
    return float(aps[has_positive].mean())


def _hit_at_one(predictions: np.ndarray, positive: np.ndarray) -> float:
    top_class = np.argmax(predictions, axis=1)  # first index on ties, as numpy.argmax
    return float(positive[np.arange(len(positive)), top_class].mean())


def _perr(predictions: np.ndarray, positive: np.ndarray, top: _TopK) -> float:
    num_rows, num_classes = predictions.shape
    num_labels = np.count_nonzero(positive, axis=1)
    # Hits as the starter counts them: a true class whose score is > 0.
    # Fast path from the top_k already chosen: a row's k highest are determined when its k-th and
    # (k+1)-th scores differ; otherwise (a tie across the boundary, or k >= top_k) the starter's
    # own `argpartition(row, -k)` decides, called below for just those rows.
    order = np.argsort(-top.scores, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(top.scores, order, axis=1)
    sorted_hits = np.take_along_axis(top.hits & (top.scores > 0), order, axis=1)
    cumulative = np.concatenate(
        [np.zeros((num_rows, 1), dtype=np.int64), np.cumsum(sorted_hits, axis=1)], axis=1
    )
    rows = np.arange(num_rows)
    k = np.minimum(num_labels, top.k)
    precision = np.zeros(num_rows)
    labelled = num_labels > 0
    precision[labelled] = cumulative[rows[labelled], k[labelled]] / num_labels[labelled]
    if top.k < num_classes:
        undecided = labelled & (num_labels >= top.k)
    else:
        undecided = np.zeros(num_rows, dtype=np.bool_)
    inside = labelled & (num_labels < top.k)
    boundary_tie = np.zeros(num_rows, dtype=np.bool_)
    boundary_tie[inside] = (
        sorted_scores[rows[inside], k[inside] - 1] == sorted_scores[rows[inside], k[inside]]
    )
    undecided |= boundary_tie
    for count in np.unique(num_labels[undecided]).tolist():
        group = np.flatnonzero(undecided & (num_labels == count))
        kth = num_classes - count
        for start in range(0, len(group), _chunk_size(num_classes)):
            chunk = group[start : start + _chunk_size(num_classes)]
            chosen = np.argpartition(predictions[chunk], kth, axis=1)[:, kth:]
            chosen_scores = np.take_along_axis(predictions[chunk], chosen, axis=1)
            chosen_hits = np.take_along_axis(positive[chunk], chosen, axis=1) & (chosen_scores > 0)
            precision[chunk] = np.count_nonzero(chosen_hits, axis=1) / count
    return float(precision.sum() / num_rows)


def gap(predictions: Any, labels: Any, top_k: int = 20) -> float:
    """Global average precision (GAP) over each video's top_k predictions.

    Each video's top_k (score, is_positive) pairs are pooled over all videos and sorted by score,
    descending; `GAP = sum over ranks i of precision@i * is_positive_i / P`, with P the number of
    positive labels over all videos, including those outside a top_k (so a missed label lowers
    GAP). 0 when there is no positive label. The starter's `calculate_gap`.

    Args:
        predictions: `(N, C)` float scores.
        labels: `(N, C)` 0/1 (or bool) labels.
        top_k: predictions kept per video; clipped to C.

    Returns:
        GAP in [0, 1].

    Raises:
        MultilabelMetricsError: bad shapes, dtypes, values or top_k.
    """
    top_k = _validate_top_k(top_k)
    predictions, positive = _validate(predictions, labels)
    return _gap(_TopK(predictions, positive, top_k), positive)


def hit_at_one(predictions: Any, labels: Any) -> float:
    """Share of videos whose highest-scoring class (first on ties) is a true label.

    Args:
        predictions: `(N, C)` float scores.
        labels: `(N, C)` 0/1 (or bool) labels.

    Returns:
        Hit@1 in [0, 1]; the starter's `calculate_hit_at_one`.

    Raises:
        MultilabelMetricsError: bad shapes, dtypes or values.
    """
    predictions, positive = _validate(predictions, labels)
    return _hit_at_one(predictions, positive)


def perr(predictions: Any, labels: Any) -> float:
    """Precision at equal recall rate, averaged over all videos.

    A video with k labels scores the share of its k highest-scoring classes that are true labels
    with a score > 0 (the starter's condition); a video with no labels scores 0 and still counts in
    the mean over all N videos. The starter's `calculate_precision_at_equal_recall_rate`.

    Args:
        predictions: `(N, C)` float scores.
        labels: `(N, C)` 0/1 (or bool) labels.

    Returns:
        PERR in [0, 1].

    Raises:
        MultilabelMetricsError: bad shapes, dtypes or values.
    """
    predictions, positive = _validate(predictions, labels)
    num_labels_max = int(np.count_nonzero(positive, axis=1).max())
    return _perr(predictions, positive, _TopK(predictions, positive, max(1, num_labels_max)))


def mean_ap(predictions: Any, labels: Any, top_k: int = 20) -> float:
    """Mean over classes (with at least one positive) of the per-class AP over top_k predictions.

    Class c's AP ranks the (score, is_positive) pairs of the videos that have c in their top_k and
    divides `sum of precision@i * is_positive_i` by all of c's positive labels, so positives outside
    the top_k count as misses; a class with positives but never in a top_k has AP 0. Classes without
    any positive label are left out of the mean (0 when no class has one). See the module docstring
    for how this compares with the 2017 starter, which averaged over all C classes.

    Args:
        predictions: `(N, C)` float scores.
        labels: `(N, C)` 0/1 (or bool) labels.
        top_k: predictions kept per video; clipped to C.

    Returns:
        Mean AP in [0, 1].

    Raises:
        MultilabelMetricsError: bad shapes, dtypes, values or top_k.
    """
    top_k = _validate_top_k(top_k)
    predictions, positive = _validate(predictions, labels)
    return _mean_ap(_TopK(predictions, positive, top_k), positive)


def multilabel_report(predictions: Any, labels: Any, top_k: int = 20) -> dict[str, float]:
    """All four official metrics at once, validating and choosing each top_k only once.

    Args:
        predictions: `(N, C)` float scores.
        labels: `(N, C)` 0/1 (or bool) labels.
        top_k: predictions kept per video for `gap` and `mean_ap`; clipped to C.

    Returns:
        `{"gap", "hit_at_one", "perr", "mean_ap"}` as Python floats (JSON-ready).

    Raises:
        MultilabelMetricsError: bad shapes, dtypes, values or top_k.
    """
    top_k = _validate_top_k(top_k)
    predictions, positive = _validate(predictions, labels)
    top = _TopK(predictions, positive, top_k)
    return {
        "gap": _gap(top, positive),
        "hit_at_one": _hit_at_one(predictions, positive),
        "perr": _perr(predictions, positive, top),
        "mean_ap": _mean_ap(top, positive),
    }
