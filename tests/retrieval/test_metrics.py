"""vidcls_keras.retrieval.metrics: hand-worked matrices, a brute-force check and CLIP4Clip's own code."""

import numpy as np
import pytest

from vidcls_keras.retrieval import metrics


def clip4clip_compute_metrics(x):
    """CLIP4Clip's `metrics.compute_metrics` (ArrowLuo/CLIP4Clip), verbatim but for the dict."""
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)
    d = d[:, np.newaxis]
    ind = sx - d
    ind = np.where(ind == 0)
    ind = ind[1]
    return {
        "R1": float(np.sum(ind == 0)) * 100 / len(ind),
        "R5": float(np.sum(ind < 5)) * 100 / len(ind),
        "R10": float(np.sum(ind < 10)) * 100 / len(ind),
        "MR": np.median(ind) + 1,  # CLIP4Clip: np.floor(np.median(ind)) + 1 (see below)
        "MedianR_floor": np.floor(np.median(ind)) + 1,
        "MeanR": np.mean(ind) + 1,
    }


def brute_force_first_relevant(similarity, relevant, ties):
    """Sort each row with a Python loop; relevant candidates first (optimistic) or last among ties."""
    ranks = []
    for scores, is_relevant in zip(similarity, relevant, strict=True):
        tie_break = ~is_relevant if ties == "optimistic" else is_relevant
        order = sorted(range(len(scores)), key=lambda n: (-scores[n], tie_break[n]))
        ranks.append(1 + next(p for p, n in enumerate(order) if is_relevant[n]))
    return np.asarray(ranks)


def test_hand_worked_single_target():
    similarity = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.4, 0.7, 0.6]])
    ranks = metrics.ranks_of_targets(similarity, np.arange(3))
    np.testing.assert_array_equal(ranks, [1, 2, 2])
    result = metrics.metrics_from_ranks(ranks)
    assert result["R@1"] == pytest.approx(100 / 3)
    assert result["R@5"] == result["R@10"] == 100.0
    assert result["MdR"] == 2.0 and result["MnR"] == pytest.approx(5 / 3)
    assert result["num_queries"] == 3
    # Another target per query: query 0's candidate 2 (0.5) is behind 0.9 -> rank 2.
    np.testing.assert_array_equal(metrics.ranks_of_targets(similarity, [2, 2, 0]), [2, 1, 3])


def test_median_rank_is_floored_like_clip4clip():
    assert metrics.metrics_from_ranks(np.array([1, 2, 3, 4]))["MdR"] == 2.0  # median 2.5
    assert metrics.metrics_from_ranks(np.array([3]), ks=(1, 3))["R@3"] == 100.0


def test_ties():
    similarity = np.array([[0.5, 0.5, 0.1]])
    assert metrics.ranks_of_targets(similarity, [1]).tolist() == [1]
    assert metrics.ranks_of_targets(similarity, [1], ties="pessimistic").tolist() == [2]
    relevant = np.array([[False, True, False]])
    assert metrics.ranks_of_first_relevant(similarity, relevant).tolist() == [1]
    assert metrics.ranks_of_first_relevant(similarity, relevant, ties="pessimistic").tolist() == [2]
    with pytest.raises(metrics.RetrievalMetricsError, match="ties"):
        metrics.ranks_of_targets(similarity, [1], ties="random")


def test_first_relevant_hand_worked():
    similarity = np.array([[0.1, 0.9, 0.3, 0.8], [0.7, 0.2, 0.6, 0.1]])
    relevant = np.array([[True, False, False, True], [False, True, True, False]])
    # Row 0: best relevant 0.8, one irrelevant (0.9) above. Row 1: best relevant 0.6, 0.7 above.
    np.testing.assert_array_equal(metrics.ranks_of_first_relevant(similarity, relevant), [2, 2])


@pytest.mark.parametrize("ties", metrics.TIES)
def test_matches_brute_force_with_ties(ties):
    rng = np.random.default_rng(0)
    similarity = rng.integers(0, 4, size=(30, 12)).astype(np.float32)  # many exact ties
    relevant = rng.random((30, 12)) < 0.25
    relevant[np.arange(30), rng.integers(0, 12, 30)] = True  # at least one per row
    expected = brute_force_first_relevant(similarity, relevant, ties)
    np.testing.assert_array_equal(
        metrics.ranks_of_first_relevant(similarity, relevant, ties=ties), expected
    )
    single = np.eye(30, 12, dtype=bool)[:12]
    np.testing.assert_array_equal(
        metrics.ranks_of_targets(similarity[:12], np.arange(12), ties=ties),
        brute_force_first_relevant(similarity[:12], single, ties),
    )


def test_equals_clip4clip_compute_metrics():
    similarity = np.random.default_rng(1).standard_normal((50, 50))  # no ties
    ours = metrics.metrics_from_ranks(metrics.ranks_of_targets(similarity, np.arange(50)))
    theirs = clip4clip_compute_metrics(similarity)
    assert ours["R@1"] == pytest.approx(theirs["R1"])
    assert ours["R@5"] == pytest.approx(theirs["R5"])
    assert ours["R@10"] == pytest.approx(theirs["R10"])
    assert ours["MdR"] == pytest.approx(theirs["MedianR_floor"])
    assert ours["MnR"] == pytest.approx(theirs["MeanR"])


def test_blocks_give_the_same_ranks():
    rng = np.random.default_rng(2)
    queries, candidates = rng.standard_normal((37, 8)), rng.standard_normal((23, 8))
    targets = rng.integers(0, 23, 37)
    whole = metrics.ranks_of_targets(queries @ candidates.T, targets)
    np.testing.assert_array_equal(
        metrics.blocked_ranks_of_targets(queries, candidates, targets, block=5), whole
    )


def test_class_prompt_retrieval_hand_worked():
    videos = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])
    labels = np.array([0, 0, 1, 1])
    classes = np.array([[2.0, 0.0], [0.0, 3.0]])  # any norm: cosines are used
    result = metrics.class_prompt_retrieval(videos, labels, classes)
    # text->video: class 0's best video (v0, 1.0) is first; class 1's best (v2, 0.8) is behind
    # v1 (1.0, class 0): ranks [1, 2].
    t2v = result["text_to_video"]
    assert (t2v["R@1"], t2v["MdR"], t2v["MnR"], t2v["num_queries"]) == (50.0, 1.0, 1.5, 2)
    assert t2v["num_candidates"] == 4
    # video->text: v0 rank 1, v1 rank 2, v2 rank 1, v3 rank 2.
    v2t = result["video_to_text"]
    assert (v2t["R@1"], v2t["R@5"], v2t["MnR"], v2t["num_queries"]) == (50.0, 100.0, 1.5, 4)
    assert v2t["num_candidates"] == 2


def test_class_prompt_retrieval_skips_classes_without_videos():
    videos = np.array([[1.0, 0.0], [0.9, 0.1]])
    result = metrics.class_prompt_retrieval(videos, np.array([1, 1]), np.eye(3, 2))
    assert result["text_to_video"]["num_queries"] == 1
    # Both videos are class 1: the first hit is relevant whatever the scores.
    assert result["text_to_video"]["R@1"] == 100.0


def test_title_retrieval_hand_worked():
    videos = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    titles = np.array([[0.9, 0.1], [0.6, 0.4], [0.6, 0.6]])
    # cos(title, video): t0 -> v0 best (rank 1); t1 = (0.83, 0.55): v0 0.83, v1 0.55, v2 0.98:
    # its video v1 is third; t2 -> v2 (1.0) first. Ranks [1, 3, 1].
    result = metrics.title_retrieval(videos, titles, block=2)
    t2v = result["text_to_video"]
    assert t2v["R@1"] == pytest.approx(200 / 3) and t2v["MdR"] == 1.0
    assert t2v["MnR"] == pytest.approx(5 / 3)
    # video->text: v0: t0 0.99, t1 0.83, t2 0.71 -> 1; v1: t0 0.11, t1 0.55, t2 0.71 -> 2;
    # v2: t0 0.78, t1 0.98, t2 1.0 -> 1.
    assert result["video_to_text"]["MnR"] == pytest.approx(4 / 3)


def test_errors():
    with pytest.raises(metrics.RetrievalMetricsError, match="no relevant"):
        metrics.ranks_of_first_relevant(np.zeros((2, 3)), np.array([[True] * 3, [False] * 3]))
    with pytest.raises(metrics.RetrievalMetricsError, match="targets"):
        metrics.ranks_of_targets(np.zeros((2, 3)), [0, 3])
    with pytest.raises(metrics.RetrievalMetricsError, match="same CLIP joint space"):
        metrics.title_retrieval(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(metrics.RetrievalMetricsError, match="one title per video"):
        metrics.title_retrieval(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(metrics.RetrievalMetricsError, match="class texts"):
        metrics.class_prompt_retrieval(np.ones((2, 3)), [0, 2], np.ones((2, 3)))
    with pytest.raises(metrics.RetrievalMetricsError, match="at least one rank"):
        metrics.metrics_from_ranks(np.array([], np.int64))
