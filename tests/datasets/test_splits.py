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


def ucf_videos(classes: int, groups: int, clips: int) -> list[Video]:
    """UCF101-named videos, grouped by `listing.with_groups` with the default pattern."""
    from vidcls_keras.datasets.listing import (
        UCF101_GROUP_PATTERN,
        VideoList,
        check_group_pattern,
        with_groups,
    )

    names = [f"Class{c}" for c in range(classes)]
    listed = [
        Video(f"{n}/v_{n}_g{g:02d}_c{k:02d}.avi", f"/x/{n}/v_{n}_g{g:02d}_c{k:02d}.avi", n)
        for n in names
        for g in range(1, groups + 1)
        for k in range(1, clips + 1)
    ]
    return with_groups(VideoList(listed, names), check_group_pattern(UCF101_GROUP_PATTERN)).videos


def test_groups_never_straddle_splits_and_the_rule_runs_on_groups():
    listed = ucf_videos(classes=5, groups=7, clips=4)  # 35 groups, 140 videos
    assert listed[0].group == "Class0_g01"
    splits, notes = assign_splits(listed)
    split_of = {}
    for split, members in splits.items():
        for video in members:
            assert split_of.setdefault(video.group, split) == split, video.group
    # The counts are in groups: test = ceil(3.5) = 4 groups, validation = ceil(3.1) = 4.
    assert {s: len({v.group for v in m}) for s, m in splits.items()} == {
        "train": 27,
        "validation": 4,
        "test": 4,
    }
    assert all(len(m) == 4 * len({v.group for v in m}) for m in splits.values())
    assert notes == ["test: unstratified, 4 of 35 places for 5 classes", notes[1]]
    assert assign_splits(list(reversed(listed)))[0] == splits


def test_ungrouped_videos_split_as_before():
    """Names that match no pattern: each video its own group, the video-by-video rule as it was
    (sklearn on the videos sorted by id), so existing datasets keep their splits."""
    import math

    from sklearn.model_selection import train_test_split

    listed = sorted(videos({"a": 30, "b": 20}), key=lambda v: v.video_id)
    rest, test = train_test_split(
        listed, test_size=5, random_state=0, stratify=[v.label for v in listed]
    )
    train, validation = train_test_split(
        rest, test_size=math.ceil(0.1 * 45), random_state=0, stratify=[v.label for v in rest]
    )
    splits, _ = assign_splits(listed)
    expected = {"train": train, "validation": validation, "test": test}
    for split, members in expected.items():
        assert [v.video_id for v in splits[split]] == sorted(v.video_id for v in members)


def test_too_few_groups_are_refused_naming_groups():
    with pytest.raises(VideoListError, match="in 2 group.*at least 3 groups"):
        assign_splits(ucf_videos(classes=2, groups=1, clips=3))


def test_split_lists_give_train_and_test_and_validation_is_carved_by_group():
    listed = ucf_videos(classes=2, groups=6, clips=2)
    test_ids = [v.video_id for v in listed if v.group.endswith(("_g01", "_g02"))]
    train_ids = [v.video_id for v in listed if v.video_id not in test_ids]
    splits, notes = assign_splits(listed, split_lists={"train": train_ids, "test": test_ids})
    assert sorted(v.video_id for v in splits["test"]) == sorted(test_ids)
    rest = splits["train"] + splits["validation"]
    assert sorted(v.video_id for v in rest) == sorted(train_ids)
    assert {v.group for v in splits["validation"]}.isdisjoint({v.group for v in splits["train"]})
    assert len({v.group for v in splits["validation"]}) == 1  # ceil(10% of 8 groups)
    assert not any("both train and test" in note for note in notes)
