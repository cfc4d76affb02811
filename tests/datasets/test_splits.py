"""Seeded, stratified splits that depend only on the set of videos."""

import pytest

from vidcls_keras.datasets.listing import Video, VideoListError
from vidcls_keras.datasets.splits import assign_splits


def videos(counts: dict[str, int]) -> list[Video]:
    return [
        Video(f"{label}{i:04d}", "", label) for label, count in counts.items() for i in range(count)
    ]


def test_splits_are_stratified_and_deterministic():
    # The original's 1,726 downloaded videos.
    listed = videos({"travel": 602, "food": 491, "art_music": 317, "history": 316})
    splits, notes = assign_splits(listed)
    assert notes == []
    assert {s: len(v) for s, v in splits.items()} == {"train": 1397, "validation": 156, "test": 173}
    test_counts = {
        label: sum(v.label == label for v in splits["test"]) for label in ("travel", "food")
    }
    assert test_counts == {"travel": 60, "food": 49}  # 10% of each class, rounded
    shuffled, _ = assign_splits(list(reversed(listed)))
    assert shuffled == splits
    assert set().union(*({v.video_id for v in s} for s in splits.values())) == {
        v.video_id for v in listed
    }


def test_tiny_classes_fall_back_to_unstratified_splits():
    splits, notes = assign_splits(videos({"a": 5, "b": 1}))
    assert {s: len(v) for s, v in splits.items()} == {"train": 4, "validation": 1, "test": 1}
    assert notes and "fewer than 2 videos: ['b']" in notes[0]
    with pytest.raises(VideoListError, match="at least 3"):
        assign_splits(videos({"a": 2}))
