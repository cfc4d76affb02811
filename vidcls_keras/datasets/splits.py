"""Seeded, stratified train / validation / test splits that depend only on the videos themselves."""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

from vidcls_keras.datasets.listing import Video, VideoListError

SPLIT_NAMES = ("train", "validation", "test")
TEST_FRACTION = 0.1  # the original's 90/10 train/test split
VALIDATION_FRACTION = 0.1  # of what is left after the test split
SPLIT_SEED = 0
MIN_VIDEOS = 3  # one per split
SPLIT_RULE = (
    "ids sorted; test = ceil(10%) of all, validation = ceil(10%) of the rest, train = the rest; "
    "sklearn.model_selection.train_test_split(random_state=0), stratified by label, unless a "
    "class has fewer than 2 videos or a split has fewer places than there are classes, in which "
    "case that split is drawn unstratified (same seed) and the report says so. Videos that fail "
    "to decode are dropped from the split they were assigned to; nothing moves between splits."
)


def _split_off(
    videos: list[Video], fraction: float, seed: int, name: str
) -> tuple[list[Video], list[Video], str | None]:
    """`(rest, taken, note)`: ceil(fraction * n) videos taken, stratified when possible."""
    from sklearn.model_selection import train_test_split

    labels = [v.label for v in videos]
    counts = collections.Counter(labels)
    num_taken = math.ceil(fraction * len(videos))  # as sklearn rounds a float test_size
    note = None
    if min(counts.values()) < 2:
        small = sorted(label for label, count in counts.items() if count < 2)
        note = f"{name}: unstratified, classes with fewer than 2 videos: {small}"
    elif num_taken < len(counts) or len(videos) - num_taken < len(counts):
        note = (
            f"{name}: unstratified, {num_taken} of {len(videos)} places for {len(counts)} classes"
        )
    rest, taken = train_test_split(
        videos,
        test_size=num_taken,
        random_state=seed,
        shuffle=True,
        stratify=None if note else labels,
    )
    return rest, taken, note


def assign_splits(
    videos: Sequence[Video],
    *,
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = SPLIT_SEED,
) -> tuple[dict[str, list[Video]], list[str]]:
    """Splits videos into train / validation / test, deterministically (see `SPLIT_RULE`).

    The result depends only on the set of `(video_id, label)` pairs (videos are sorted by id
    first), so the same videos always give the same splits, whatever the listing order.

    Args:
        videos: the videos (unique ids).
        test_fraction: share of all videos in `test` (rounded up).
        validation_fraction: share of the non-test videos in `validation` (rounded up).
        seed: `random_state` for sklearn.

    Returns:
        `({"train": [...], "validation": [...], "test": [...]}, notes)`, each list sorted by id;
        `notes` says which splits could not be stratified.

    Raises:
        VideoListError: fewer than `MIN_VIDEOS` videos, or duplicate ids.
    """
    ordered = sorted(videos, key=lambda v: v.video_id)
    ids = [v.video_id for v in ordered]
    if len(set(ids)) != len(ids):
        duplicates = sorted(i for i, c in collections.Counter(ids).items() if c > 1)
        raise VideoListError(f"duplicate video ids {duplicates[:5]}: ids must be unique.")
    if len(ordered) < MIN_VIDEOS:
        raise VideoListError(
            f"{len(ordered)} video(s) found: at least {MIN_VIDEOS} are needed (one per split)."
        )
    rest, test, test_note = _split_off(ordered, test_fraction, seed, "test")
    train, validation, validation_note = _split_off(rest, validation_fraction, seed, "validation")
    splits = {
        "train": sorted(train, key=lambda v: v.video_id),
        "validation": sorted(validation, key=lambda v: v.video_id),
        "test": sorted(test, key=lambda v: v.video_id),
    }
    return splits, [note for note in (test_note, validation_note) if note]
