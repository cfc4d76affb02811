"""Tests for vidcls_keras.training.multilabel_metrics: YouTube-8M's official metrics.

Three kinds of check: small cases worked by hand (the arithmetic is in the comments), a brute-force
pure-Python re-telling of the starter code's `eval_util.py` / `average_precision_calculator.py` /
`mean_average_precision_calculator.py` compared on random data (ties included), and an independent
check against scikit-learn's average precision where the definitions coincide (top_k = C, no ties).

Ties, as the starter handles them: a video's top_k is what `numpy.argpartition(row, -k)[-k:]`
picks (so ties at the k-th score are argpartition's choice); each ranked list is pushed onto a
`heapq` heap in list order, the heap's array is shuffled by `random.seed(0); random.sample(...)`,
then stable-sorted by score, descending. The brute force below does exactly that, with
`random.Random(0)` (same sequence as the seeded global generator).
"""

import heapq
import random

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from vidcls_keras.errors import VidclsError
from vidcls_keras.training import multilabel_metrics as mm

# ---------------------------------------------------------------------------------------------
# Brute force: the starter's definitions, loop by loop, in pure Python (plus its argpartition).
# ---------------------------------------------------------------------------------------------


def _starter_top_k_by_class(predictions, labels, k):
    """Per class: lists of (score, label) of the videos that have it in their top k, video order."""
    num_classes = predictions.shape[1]
    k = min(k, num_classes)
    by_class_scores = [[] for _ in range(num_classes)]
    by_class_labels = [[] for _ in range(num_classes)]
    for row in range(predictions.shape[0]):
        for index in np.argpartition(predictions[row], -k)[-k:]:
            by_class_scores[index].append(float(predictions[row][index]))
            by_class_labels[index].append(int(labels[row][index]))
    positives = [int(sum(int(v) for v in labels[:, c])) for c in range(num_classes)]
    return by_class_scores, by_class_labels, positives


def _starter_ap(scores, labels, num_positives, shuffle=True):
    """AveragePrecisionCalculator(): accumulate (heappush each pair), then peek_ap_at_n."""
    heap = []
    for pair in zip(scores, labels, strict=True):
        heapq.heappush(heap, pair)
    if not heap or num_positives == 0:
        return 0.0
    heap_scores = [pair[0] for pair in heap]
    heap_labels = [pair[1] for pair in heap]
    size = len(heap)
    if shuffle:
        shuffled = random.Random(0).sample(range(size), size)
        heap_scores = [heap_scores[i] for i in shuffled]
        heap_labels = [heap_labels[i] for i in shuffled]
    ranked = sorted(range(size), key=lambda i: heap_scores[i], reverse=True)
    ap, hits = 0.0, 0
    for position, index in enumerate(ranked):
        if heap_labels[index] > 0:
            hits += 1
            ap += hits / (position + 1) / num_positives
    return ap


def brute_gap(predictions, labels, top_k=20, shuffle=True):
    scores, class_labels, positives = _starter_top_k_by_class(predictions, labels, top_k)
    flat_scores = [s for per_class in scores for s in per_class]
    flat_labels = [v for per_class in class_labels for v in per_class]
    return _starter_ap(flat_scores, flat_labels, sum(positives), shuffle)


def brute_mean_ap(predictions, labels, top_k=20):
    scores, class_labels, positives = _starter_top_k_by_class(predictions, labels, top_k)
    aps = [
        _starter_ap(scores[c], class_labels[c], positives[c])
        for c in range(predictions.shape[1])
        if positives[c] > 0
    ]
    return sum(aps) / len(aps) if aps else 0.0


def brute_hit_at_one(predictions, labels):
    hits = 0
    for row in range(predictions.shape[0]):
        best = max(range(predictions.shape[1]), key=lambda c: (predictions[row][c], -c))
        hits += int(labels[row][best])
    return hits / predictions.shape[0]


def brute_perr(predictions, labels):
    total = 0.0
    for row in range(predictions.shape[0]):
        num_labels = int(sum(int(v) for v in labels[row]))
        # With num_labels = 0 the starter's [-0:] keeps every class; no label, so 0 either way.
        top = np.argpartition(predictions[row], -num_labels)[-num_labels:]
        precision = sum(int(labels[row][i]) for i in top if predictions[row][i] > 0)
        total += precision / len(top)
    return total / predictions.shape[0]


def _random_case(seed, kind, num_videos=60, num_classes=13):
    rng = np.random.default_rng(seed)
    labels = (rng.random((num_videos, num_classes)) < 0.2).astype(np.int64)
    labels[rng.integers(0, num_videos, 3)] = 0  # some videos without labels
    if kind == "uniform":
        predictions = rng.random((num_videos, num_classes)).astype(np.float32)
    elif kind == "ties":  # 5 distinct scores: ties everywhere, at every top_k boundary
        predictions = (rng.integers(0, 5, (num_videos, num_classes)) / 4).astype(np.float32)
    else:  # "logits": negative scores, where perr's `> 0` matters, and a few ties
        predictions = np.round(rng.normal(0.0, 2.0, (num_videos, num_classes)), 1)
    return predictions, labels


# ---------------------------------------------------------------------------------------------
# Hand-worked cases.
# ---------------------------------------------------------------------------------------------

HAND_PREDICTIONS = np.array(
    [
        [0.9, 0.8, 0.1, 0.0],
        [0.2, 0.7, 0.6, 0.3],
        [0.5, 0.4, 0.3, 0.95],
    ],
    dtype=np.float32,
)
HAND_LABELS = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]])


def test_gap_by_hand():
    # top_k=2: video 0 keeps (0.9, +) (0.8, -); video 1 (0.7, +) (0.6, -); video 2 (0.95, -)
    # (0.5, -). Pooled and sorted: 0.95-, 0.9+, 0.8-, 0.7+, 0.6-, 0.5-.
    # P = 4 labels in all (video 0's class 3, scored 0.0, is outside its top 2 but still counts).
    # precision at the hits: rank 2 -> 1/2, rank 4 -> 2/4; GAP = (1/2 + 2/4) / 4 = 0.25.
    assert mm.gap(HAND_PREDICTIONS, HAND_LABELS, top_k=2) == pytest.approx(0.25)
    # top_k=4 keeps everything: 0.95-, 0.9+, 0.8-, 0.7+, 0.6-, 0.5-, 0.4-, then two 0.3s
    # (video 1's -, video 2's +), 0.2-, 0.1-, 0.0+. Whether the + 0.3 is 8th or 9th is the
    # starter's tie order (heap, seeded shuffle): (1/2 + 2/4 + 3/8 + 4/12) / 4 = 0.4271 if 8th,
    # (1/2 + 2/4 + 3/9 + 4/12) / 4 = 0.4167 if 9th.
    tied_plus_8th = (1 / 2 + 2 / 4 + 3 / 8 + 4 / 12) / 4
    tied_plus_9th = (1 / 2 + 2 / 4 + 3 / 9 + 4 / 12) / 4
    value = mm.gap(HAND_PREDICTIONS, HAND_LABELS, top_k=4)
    assert value in (pytest.approx(tied_plus_8th), pytest.approx(tied_plus_9th))
    assert value == pytest.approx(brute_gap(HAND_PREDICTIONS, HAND_LABELS, top_k=4))
    assert mm.gap(HAND_PREDICTIONS, HAND_LABELS, top_k=4) == pytest.approx(
        brute_gap(HAND_PREDICTIONS, HAND_LABELS, top_k=4)
    )


def test_hit_at_one_by_hand():
    # argmax: video 0 -> class 0 (label 1), video 1 -> class 1 (1), video 2 -> class 3 (0): 2/3.
    assert mm.hit_at_one(HAND_PREDICTIONS, HAND_LABELS) == pytest.approx(2 / 3)


def test_perr_by_hand():
    # video 0 has 2 labels: its top 2 are classes 0 (+) and 1 (-) -> 1/2.
    # video 1 has 1 label: its top class 1 is + -> 1.  video 2: top class 3 is - -> 0.
    # mean over 3 videos: (1/2 + 1 + 0) / 3 = 0.5.
    assert mm.perr(HAND_PREDICTIONS, HAND_LABELS) == pytest.approx(0.5)


def test_mean_ap_by_hand():
    # top_k=2, per class (video order): class 0: (0.9, +) v0, (0.5, -) v2 -> hit at rank 1: 1/1;
    # one positive -> AP 1.  class 1: (0.8, -) v0, (0.7, +) v1 -> hit at rank 2: 1/2 -> AP 0.5.
    # class 2: (0.6, -) v1 only; its positive (v2, 0.3) is outside v2's top 2 -> AP 0.
    # class 3: (0.95, -) v2 only; its positive (v0, 0.0) missed -> AP 0.
    # All 4 classes have a positive: mean = (1 + 0.5 + 0 + 0) / 4 = 0.375.
    assert mm.mean_ap(HAND_PREDICTIONS, HAND_LABELS, top_k=2) == pytest.approx(0.375)


def test_report_has_the_four_metrics_as_python_floats():
    report = mm.multilabel_report(HAND_PREDICTIONS, HAND_LABELS, top_k=2)
    assert report == pytest.approx(
        {"gap": 0.25, "hit_at_one": 2 / 3, "perr": 0.5, "mean_ap": 0.375}
    )
    assert all(type(value) is float for value in report.values())


def test_perr_counts_only_positive_scores_as_hits():
    # Logits: video 0's only label (class 0) is its top class, but scored -1.0 <= 0 -> a miss (0),
    # as in the starter; hit_at_one has no such condition -> 1.  video 1: label class 1 at 2.0 -> 1.
    predictions = np.array([[-1.0, -2.0], [0.5, 2.0]])
    labels = np.array([[1, 0], [0, 1]])
    assert mm.perr(predictions, labels) == pytest.approx(0.5)  # (0 + 1) / 2
    assert mm.hit_at_one(predictions, labels) == pytest.approx(1.0)  # (1 + 1) / 2


# ---------------------------------------------------------------------------------------------
# Edge cases.
# ---------------------------------------------------------------------------------------------


def test_a_video_without_labels_counts_zero_in_perr_and_hit_at_one():
    predictions = np.array([[0.9, 0.1], [0.8, 0.2]], dtype=np.float32)
    labels = np.array([[1, 0], [0, 0]])
    assert mm.perr(predictions, labels) == pytest.approx(0.5)  # (1 + 0) / 2 videos
    assert mm.hit_at_one(predictions, labels) == pytest.approx(0.5)
    # GAP: pooled top 2 of both: 0.9+, 0.8-, 0.2-, 0.1-; P = 1 -> 1/1 / 1 = 1.
    assert mm.gap(predictions, labels, top_k=2) == pytest.approx(1.0)
    # class 1 has no positive: left out; class 0: 0.9+, 0.8- -> AP 1.
    assert mm.mean_ap(predictions, labels, top_k=2) == pytest.approx(1.0)


def test_no_positive_label_at_all():
    predictions = np.array([[0.3, 0.7], [0.6, 0.4]], dtype=np.float32)
    labels = np.zeros((2, 2), dtype=bool)
    assert mm.multilabel_report(predictions, labels) == {
        "gap": 0.0,
        "hit_at_one": 0.0,
        "perr": 0.0,
        "mean_ap": 0.0,
    }


def test_mean_ap_leaves_out_classes_without_positives():
    # Class 2 has no positive: the mean is over classes 0 and 1 only.
    # top_k=1: video 0 keeps class 0 (0.9, +), video 1 keeps class 1 (0.8, +): both APs 1.
    predictions = np.array([[0.9, 0.0, 0.5], [0.1, 0.8, 0.6]], dtype=np.float32)
    labels = np.array([[1, 0, 0], [0, 1, 0]])
    assert mm.mean_ap(predictions, labels, top_k=1) == pytest.approx(1.0)  # not 2/3


def test_top_k_larger_than_the_number_of_classes_is_clipped():
    predictions, labels = _random_case(3, "uniform", num_classes=5)
    assert mm.gap(predictions, labels, top_k=50) == mm.gap(predictions, labels, top_k=5)
    assert mm.mean_ap(predictions, labels, top_k=50) == mm.mean_ap(predictions, labels, top_k=5)


def test_bool_int_and_float_labels_agree():
    predictions, labels = _random_case(4, "uniform")
    expected = mm.multilabel_report(predictions, labels)
    for dtype in (bool, np.uint8, np.float32):
        assert mm.multilabel_report(predictions, labels.astype(dtype)) == expected


# ---------------------------------------------------------------------------------------------
# Against the brute force (the starter's definitions, ties included) and scikit-learn.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uniform", "ties", "logits"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("top_k", [1, 3, 20])
def test_matches_the_starter_brute_force(seed, kind, top_k):
    predictions, labels = _random_case(seed, kind)
    report = mm.multilabel_report(predictions, labels, top_k=top_k)
    expected = {
        "gap": brute_gap(predictions, labels, top_k),
        "hit_at_one": brute_hit_at_one(predictions, labels),
        "perr": brute_perr(predictions, labels),
        "mean_ap": brute_mean_ap(predictions, labels, top_k),
    }
    assert report == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert mm.gap(predictions, labels, top_k) == report["gap"]
    assert mm.mean_ap(predictions, labels, top_k) == report["mean_ap"]
    assert mm.perr(predictions, labels) == pytest.approx(report["perr"], rel=1e-12)
    assert mm.hit_at_one(predictions, labels) == report["hit_at_one"]


def test_tie_order_matters_and_follows_the_starter_shuffle():
    # On tie-heavy data, ranking tied pairs in plain class-then-video order (no heap, no shuffle)
    # gives a different GAP for some seed: the starter's tie order is really being reproduced.
    differs = []
    for seed in range(6):
        predictions, labels = _random_case(seed, "ties")
        starter = brute_gap(predictions, labels, 3)
        assert mm.gap(predictions, labels, 3) == pytest.approx(starter, rel=1e-9)
        differs.append(brute_gap(predictions, labels, 3, shuffle=False) != pytest.approx(starter))
    assert any(differs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_top_k_filtering_and_ties_it_is_scikit_learn_average_precision(seed):
    # With top_k = C every pair is kept and P is the positives in the list, so GAP is sklearn's
    # micro AP of the whole matrix and each class's AP is sklearn's AP of its column.
    predictions, labels = _random_case(seed, "uniform")
    num_classes = labels.shape[1]
    assert mm.gap(predictions, labels, top_k=num_classes) == pytest.approx(
        average_precision_score(labels.ravel(), predictions.ravel())
    )
    with_positives = [c for c in range(num_classes) if labels[:, c].any()]
    expected = np.mean(
        [average_precision_score(labels[:, c], predictions[:, c]) for c in with_positives]
    )
    assert mm.mean_ap(predictions, labels, top_k=num_classes) == pytest.approx(expected)


def test_chunked_top_k_matches_one_chunk(monkeypatch):
    predictions, labels = _random_case(5, "ties", num_videos=50)
    expected = mm.multilabel_report(predictions, labels, top_k=4)
    monkeypatch.setattr(mm, "_CHUNK_ENTRIES", 3 * predictions.shape[1])  # chunks of 3 rows
    assert mm.multilabel_report(predictions, labels, top_k=4) == expected


# ---------------------------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------------------------

GOOD_PREDICTIONS = np.array([[0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
GOOD_LABELS = np.array([[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("predictions", "labels", "message"),
    [
        (GOOD_PREDICTIONS[0], GOOD_LABELS[0], "must be 2-D"),
        (GOOD_PREDICTIONS, GOOD_LABELS[:, :1], "same shape"),
        (np.zeros((0, 3), np.float32), np.zeros((0, 3)), "at least one video"),
        (GOOD_PREDICTIONS.astype(np.int64), GOOD_LABELS, "must be float scores"),
        (np.array([[0.2, np.nan], [0.6, 0.4]]), GOOD_LABELS, "NaN .*video 0"),
        (GOOD_PREDICTIONS, np.array([[0, 2], [1, 0]]), "0 or 1 .*video 0 .*\\[2\\]"),
        (GOOD_PREDICTIONS, np.array([[0.0, 1.0], [0.5, 0.0]]), "0 or 1 .*video 1"),
        (GOOD_PREDICTIONS, np.array([["a", "b"], ["c", "d"]]), "labels must be 0/1"),
    ],
)
def test_bad_arrays_raise_a_clear_error(predictions, labels, message):
    for metric in (mm.gap, mm.hit_at_one, mm.perr, mm.mean_ap, mm.multilabel_report):
        with pytest.raises(mm.MultilabelMetricsError, match=message):
            metric(predictions, labels)


@pytest.mark.parametrize("top_k", [0, -3, 1.5, True, "20", None])
def test_bad_top_k_raises_a_clear_error(top_k):
    for metric in (mm.gap, mm.mean_ap, mm.multilabel_report):
        with pytest.raises(mm.MultilabelMetricsError, match="top_k must be a positive integer"):
            metric(GOOD_PREDICTIONS, GOOD_LABELS, top_k=top_k)


def test_errors_are_user_errors():
    assert issubclass(mm.MultilabelMetricsError, VidclsError)
    assert issubclass(mm.MultilabelMetricsError, ValueError)
