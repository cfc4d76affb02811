"""Seeded, stratified train / validation / test splits that depend only on the videos themselves.

The splits assign *groups*, not videos: clips cut from one source video (UCF101's
`v_ApplyEyeMakeup_g07_c04.avi` and `..._g07_c06.avi`, group `ApplyEyeMakeup_g07`) share a group
(`listing.video_group`), and a group never straddles two splits, or a test score would measure
how well a model recognises the source video rather than the class. A video without a group is
its own group, so a folder without grouped names splits exactly as video by video.

UCF101's own split lists, when the manual folder has them (`listing.find_ucf101_lists`), give
train and test instead; validation is then carved from train by group with the same rule.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Mapping, Sequence

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
    "to decode are dropped from the split they were assigned to; nothing moves between splits. "
    "Grouped videos (group_pattern, default UCF101's v_<Class>_g<NN>_c<NN>) are assigned by "
    "group: the rule runs on the groups (sorted by group, each labelled by its most common "
    "label, fractions counted in groups); a video whose name does not match is its own group. "
    "UCF101's trainlist0N.txt / testlist0N.txt, when present, give train and test instead, and "
    "validation is drawn from train by the same rule."
)
SPLIT_SOURCES = ("groups", "ucf101_lists")


@dataclasses.dataclass(frozen=True)
class _Group:
    """The unit the splits assign: the videos of one group, labelled by their commonest label."""

    name: str
    label: str
    videos: tuple[Video, ...]


def _groups(videos: Sequence[Video]) -> list[_Group]:
    """Videos gathered by `split_group`, sorted by group name (videos inside sorted by id)."""
    members: dict[str, list[Video]] = collections.defaultdict(list)
    for video in videos:
        members[video.split_group].append(video)
    groups = []
    for name in sorted(members):
        group = sorted(members[name], key=lambda v: v.video_id)
        counts = collections.Counter(v.label for v in group)
        # Commonest label; ties to the first in sorted order, so the result depends on nothing else.
        label = min(counts, key=lambda label: (-counts[label], label))
        groups.append(_Group(name, label, tuple(group)))
    return groups


def _split_off(
    units: list[_Group], fraction: float, seed: int, name: str, unit: str
) -> tuple[list[_Group], list[_Group], str | None]:
    """`(rest, taken, note)`: ceil(fraction * n) units taken, stratified when possible."""
    from sklearn.model_selection import train_test_split

    labels = [u.label for u in units]
    counts = collections.Counter(labels)
    num_taken = math.ceil(fraction * len(units))  # as sklearn rounds a float test_size
    note = None
    if min(counts.values()) < 2:
        small = sorted(label for label, count in counts.items() if count < 2)
        note = f"{name}: unstratified, classes with fewer than 2 {unit}: {small}"
    elif num_taken < len(counts) or len(units) - num_taken < len(counts):
        note = f"{name}: unstratified, {num_taken} of {len(units)} places for {len(counts)} classes"
    rest, taken = train_test_split(
        units,
        test_size=num_taken,
        random_state=seed,
        shuffle=True,
        stratify=None if note else labels,
    )
    return rest, taken, note


def _videos(units: Sequence[_Group]) -> list[Video]:
    return sorted((v for u in units for v in u.videos), key=lambda v: v.video_id)


def _check_ids(videos: Sequence[Video]) -> None:
    ids = [v.video_id for v in videos]
    if len(set(ids)) != len(ids):
        duplicates = sorted(i for i, c in collections.Counter(ids).items() if c > 1)
        raise VideoListError(f"duplicate video ids {duplicates[:5]}: ids must be unique.")


def assign_splits(
    videos: Sequence[Video],
    *,
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = SPLIT_SEED,
    split_lists: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, list[Video]], list[str]]:
    """Splits videos into train / validation / test by group, deterministically (`SPLIT_RULE`).

    The result depends only on the set of `(video_id, label, group)` triples (groups and videos
    are sorted first), so the same videos always give the same splits, whatever the listing
    order. With no grouped video (every `Video.group` empty) it is the video-by-video split.

    Args:
        videos: the videos (unique ids), `group` set by `listing.with_groups` ("" = own group).
        test_fraction: share of all groups in `test` (rounded up).
        validation_fraction: share of the non-test groups in `validation` (rounded up).
        seed: `random_state` for sklearn.
        split_lists: `{"train": ids, "test": ids}` (UCF101's lists, `VideoList.split_lists`):
            train and test as given, validation drawn from train by group; None or empty: draw
            all three.

    Returns:
        `({"train": [...], "validation": [...], "test": [...]}, notes)`, each list sorted by id;
        `notes` says which splits could not be stratified, and which groups the given lists
        put in both train and test.

    Raises:
        VideoListError: fewer than `MIN_VIDEOS` groups (or videos), or duplicate ids.
    """
    _check_ids(videos)
    groups = _groups(videos)
    grouped = len(groups) < len(videos)
    unit = "groups" if grouped else "videos"
    if split_lists:
        return _assign_from_lists(videos, split_lists, validation_fraction, seed, unit)
    if len(groups) < MIN_VIDEOS:
        raise VideoListError(
            f"{len(videos)} video(s) in {len(groups)} group(s) found: at least {MIN_VIDEOS} "
            "groups are needed (one per split; the videos of one group stay together)."
            if grouped
            else f"{len(videos)} video(s) found: at least {MIN_VIDEOS} are needed (one per split)."
        )
    rest, test, test_note = _split_off(groups, test_fraction, seed, "test", unit)
    train, validation, validation_note = _split_off(
        rest, validation_fraction, seed, "validation", unit
    )
    splits = {"train": _videos(train), "validation": _videos(validation), "test": _videos(test)}
    return splits, [note for note in (test_note, validation_note) if note]


def _assign_from_lists(
    videos: Sequence[Video],
    split_lists: Mapping[str, Sequence[str]],
    validation_fraction: float,
    seed: int,
    unit: str,
) -> tuple[dict[str, list[Video]], list[str]]:
    """Train and test from the lists; validation carved from train by group."""
    by_id = {v.video_id: v for v in videos}
    unknown = sorted(set(split_lists.get("train", ())) | set(split_lists.get("test", ())))
    unknown = [i for i in unknown if i not in by_id]
    if unknown:
        raise VideoListError(f"split lists name videos that were not listed: {unknown[:5]}")
    test = [by_id[i] for i in split_lists.get("test", ())]
    listed_train = [by_id[i] for i in split_lists.get("train", ())]
    notes = []
    both = sorted({v.split_group for v in test} & {v.split_group for v in listed_train})
    if both:
        notes.append(f"the split lists put groups in both train and test: {both[:10]}")
    groups = _groups(listed_train)
    if not test or len(groups) < 2:
        raise VideoListError(
            f"the split lists leave {len(test)} test video(s) and {len(groups)} train group(s) "
            "on disk: at least 1 test video and 2 train groups are needed (validation is drawn "
            "from train)."
        )
    train, validation, note = _split_off(groups, validation_fraction, seed, "validation", unit)
    notes += [note] if note else []
    splits = {
        "train": _videos(train),
        "validation": _videos(validation),
        "test": sorted(test, key=lambda v: v.video_id),
    }
    return splits, notes


def groups_per_split(assigned: Mapping[str, Sequence[Video]]) -> dict[str, list[str]]:
    """`{split: sorted group names}` of an assignment (a video without a group: its id)."""
    return {split: sorted({v.split_group for v in videos}) for split, videos in assigned.items()}
