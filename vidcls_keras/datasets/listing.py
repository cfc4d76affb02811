"""What a builder finds in its manual folder: a labelled list of videos and the unusable items.

`list_video_folder` reads `<root>/<class>/<file>`; `list_youtube_videos` reads the cleaned YouTube
CSV (`vidcls_keras.youtube`) and finds each id's downloaded file. Nothing is dropped silently:
skipped files (hidden ones included) and missing videos are returned as `problems` for the build
report. Fewer than 2 classes with videos is refused: a 1-class classifier scores f1 1.0 and
means nothing.

Groups: clips cut from one source video must stay in one split (`splits.assign_splits` assigns
groups, not videos). `video_group` finds a video's group in its file name with a regex of one
capturing group: UCF101's `v_<Class>_g<NN>_c<NN>` names by default (`v_ApplyEyeMakeup_g07_c04.avi`
-> `ApplyEyeMakeup_g07`), or `$VIDCLS_GROUP_PATTERN` at build time; a video whose name does not
match is its own group (its id). UCF101's own split lists (`trainlist0N.txt` / `testlist0N.txt`,
in the manual folder or its `ucfTrainTestlist/`) are read by `find_ucf101_lists`; when present
they define the splits instead.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Sequence
from typing import Any

from vidcls_keras.errors import VidclsError


class VideoListError(VidclsError):
    """The manual data cannot be turned into a labelled list of videos."""


class GroupPatternError(VideoListError):
    """A group pattern that is not a valid regex with exactly one capturing group."""


MIN_CLASSES = 2  # a classifier needs two classes to tell apart
GROUP_PATTERN_ENV = "VIDCLS_GROUP_PATTERN"
# UCF101's `v_<Class>_g<NN>_c<NN>.avi`: the clips of one group are cut from one source video.
UCF101_GROUP_PATTERN = r"^v_(.+_g\d+)_c\d+"
UCF101_SPLIT_ENV = "VIDCLS_UCF101_SPLIT"
UCF101_LIST_FOLDER = "ucfTrainTestlist"  # where UCF101's own archive puts its lists
_UCF101_LIST_NAME = re.compile(r"^(trainlist|testlist)(\d\d)\.txt$")
_UCF101_LIST_FILES = ("classInd.txt",)  # shipped beside the lists; not a video


@dataclasses.dataclass(frozen=True)
class Video:
    """One video to turn into an example.

    Attributes:
        video_id: unique id, also the TFDS key (YouTube id, or `<class>/<file name>`).
        path: absolute path of the file.
        label: class name.
        title: title ("" when unknown).
        group: the source-video group (`video_group`); "" means the video is its own group.
    """

    video_id: str
    path: str
    label: str
    title: str = ""
    group: str = ""

    @property
    def split_group(self) -> str:
        """The unit the splits assign: `group`, or the video's id when it has none."""
        return self.group or self.video_id


@dataclasses.dataclass
class VideoList:
    """What a builder found in its manual folder.

    Attributes:
        videos: the videos to embed.
        class_names: label names, in label-index order.
        problems: one dict per listed-but-unusable item (`video_id`, `label`, `status`, `reason`,
            `path`), e.g. status `missing` for a CSV row whose video is not on disk.
        source: facts about the input for the report (paths, CSV cleaning counts, ...).
        split_lists: `{"train": ids, "test": ids}` from UCF101's lists when the manual folder
            has them (`find_ucf101_lists`), else empty: the splits are then drawn.
    """

    videos: list[Video]
    class_names: list[str]
    problems: list[dict[str, str]] = dataclasses.field(default_factory=list)
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    split_lists: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _problem(video_id: str, label: str, status: str, reason: str, path: str = "") -> dict:
    return {
        "video_id": video_id,
        "label": label,
        "split": "",
        "status": status,
        "reason": reason,
        "path": path,
    }


def list_video_folder(root: str | os.PathLike, split_number: int | None = None) -> VideoList:
    """Lists `<root>/<class>/<file>`: class names are the sub-folder names, sorted.

    UCF101's split lists (`trainlist0N.txt`, `testlist0N.txt`, `classInd.txt`, in `root` or in
    `root/ucfTrainTestlist/`) are not videos: when present they define the splits
    (`find_ucf101_lists`, `split_number`), and a video in neither list is skipped (reported).

    Only files directly inside a class folder whose suffix is in
    `vidcls_keras.video.VIDEO_EXTENSIONS` are videos. Everything else is listed in the report as
    `skipped`, with its reason: hidden names (beginning with `.`: `.DS_Store`, macOS `._*`
    companions), other suffixes, nested folders, files directly in `root`. Video ids are
    `<class>/<file name>` (a skipped name in `root` is its own id, with no label).

    Raises:
        VideoListError: `root` has fewer than 2 class folders, or a class folder has no video.
    """
    from vidcls_keras.video import VIDEO_EXTENSIONS

    root = pathlib.Path(root)
    if not root.is_dir():
        raise VideoListError(f"manual_dir {root} is not a folder: pass --manual_dir <folder>.")
    class_dirs, problems = [], []
    for path in sorted(root.iterdir()):
        if _is_ucf101_list(path) or (path.is_dir() and path.name == UCF101_LIST_FOLDER):
            continue  # UCF101's split lists: read by find_ucf101_lists, neither class nor video
        if path.name.startswith("."):
            reason = f"hidden {'folder' if path.is_dir() else 'file'}"
        elif not path.is_dir():
            reason = "not in a class folder: videos go in <class>/<video>"
        else:
            class_dirs.append(path)
            continue
        problems.append(_problem(path.name, "", "skipped", reason, str(path.absolute())))
    if not class_dirs:
        raise VideoListError(
            f"manual_dir {root} has no class folders: put videos in <manual_dir>/<class>/<file>."
        )
    if len(class_dirs) < MIN_CLASSES:
        raise VideoListError(
            f"manual_dir {root} has 1 class folder ({class_dirs[0].name}): a classifier needs at "
            f"least {MIN_CLASSES} classes. Put each class's videos in its own folder, "
            "<manual_dir>/<class>/<video>."
        )
    videos, empty = [], []
    for class_dir in class_dirs:
        found = 0
        for path in sorted(class_dir.iterdir()):
            video_id = f"{class_dir.name}/{path.name}"
            if path.name.startswith("."):
                reason = f"hidden {'folder' if path.is_dir() else 'file'}"
                problems.append(
                    _problem(video_id, class_dir.name, "skipped", reason, str(path.absolute()))
                )
            elif path.is_dir():
                reason = "nested folder ignored: only <class>/<file> is read"
                problems.append(
                    _problem(video_id, class_dir.name, "skipped", reason, str(path.absolute()))
                )
            elif path.suffix.lower() not in VIDEO_EXTENSIONS:
                reason = f"suffix {path.suffix!r} is not one of {', '.join(VIDEO_EXTENSIONS)}"
                problems.append(
                    _problem(video_id, class_dir.name, "skipped", reason, str(path.absolute()))
                )
            else:
                videos.append(Video(video_id, str(path.absolute()), class_dir.name))
                found += 1
        if not found:
            empty.append(class_dir.name)
    if empty:
        raise VideoListError(
            f"class folder(s) {', '.join(empty)} in {root} hold no video "
            f"({', '.join(VIDEO_EXTENSIONS)}): add videos or remove the folder(s)."
        )
    listing = VideoList(
        videos=videos,
        class_names=[d.name for d in class_dirs],
        problems=problems,
        source={"manual_dir": str(root.absolute())},
    )
    lists = find_ucf101_lists(root, split_number)
    return listing if lists is None else apply_split_lists(listing, *lists)


def list_youtube_videos(
    csv_path: str | os.PathLike, videos_dir: str | os.PathLike, class_names: Sequence[str]
) -> VideoList:
    """Lists the CSV's downloadable videos found as `<videos_dir>/<category>/<id>.<ext>`.

    The CSV is cleaned by `vidcls_keras.youtube.video_list.read_video_list`; a cleaned entry whose file is
    absent is reported as `missing` (with the downloader's reason from `manifest.csv` if it has
    one), never silently dropped.

    Raises:
        VideoListError: the CSV is absent, names a category outside `class_names`, or fewer
            than 2 categories have videos on disk.
    """
    from vidcls_keras.youtube import download
    from vidcls_keras.youtube.video_list import read_video_list

    csv_path, videos_dir = pathlib.Path(csv_path), pathlib.Path(videos_dir)
    if not csv_path.is_file():
        raise VideoListError(
            f"{csv_path} not found: put the dataset's youtube.csv in the manual_dir (see the "
            "builder's MANUAL_DOWNLOAD_INSTRUCTIONS)."
        )
    entries, cleaning = read_video_list(csv_path)
    unknown = sorted({e.category for e in entries} - set(class_names))
    if unknown:
        raise VideoListError(
            f"{csv_path}: categories {unknown} are not among {list(class_names)}; "
            "use the video_folder dataset for other classes."
        )
    manifest = {}
    if (videos_dir / download.MANIFEST_NAME).is_file():
        manifest = {row["id"]: row for row in download.read_manifest(videos_dir)}
    videos, problems = [], []
    for entry in entries:
        path = download.find_existing(videos_dir, entry)
        if path is None:
            row = manifest.get(entry.video_id)
            if row and row["status"] == "failed":
                reason = f"not on disk; download failed: {row['reason']}"
            else:
                reason = f"not on disk: no file {entry.category}/{entry.video_id}.* in {videos_dir}"
            problems.append(_problem(entry.video_id, entry.category, "missing", reason))
        else:
            videos.append(Video(entry.video_id, str(path.absolute()), entry.category, entry.title))
    found = sorted({video.label for video in videos})
    if len(found) < MIN_CLASSES:
        raise VideoListError(
            f"{csv_path}: the videos on disk are of {len(found)} "
            f"categor{'y' if len(found) == 1 else 'ies'} ({', '.join(found) or 'none'}) and "
            f"{len(problems)} of its entries are missing; a classifier needs at least "
            f"{MIN_CLASSES} categories. "
            f"Download them as {videos_dir}/<category>/<id>.<ext> (python -m "
            f"vidcls_keras.download --csv {csv_path} --out {videos_dir})."
        )
    return VideoList(
        videos=videos,
        class_names=list(class_names),
        problems=problems,
        source={
            "csv": str(csv_path.absolute()),
            "videos_dir": str(videos_dir.absolute()),
            "csv_rows_read": cleaning.rows_read,
            "csv_rows_rejected": cleaning.rejected_counts(),
            "csv_exact_duplicates": cleaning.exact_duplicates,
            "csv_entries": cleaning.num_entries,
        },
    )


# -- groups -----------------------------------------------------------------------------------


def check_group_pattern(pattern: str, source: str = "group_pattern") -> re.Pattern:
    """Compiles a group pattern: a regex with exactly one capturing group, searched in file names.

    Args:
        pattern: the regex, e.g. `UCF101_GROUP_PATTERN` or `r"^(.+)_part\\d+"`.
        source: where it came from, named in the error (`$VIDCLS_GROUP_PATTERN`).

    Raises:
        GroupPatternError: not a valid regex, or not exactly one capturing group.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise GroupPatternError(
            f"{source}={pattern!r} is not a valid regular expression ({error}); give a regex "
            r"with one capturing group, e.g. '^(.+)_clip\d+' for <source>_clip<N>.mp4."
        ) from None
    if compiled.groups != 1:
        raise GroupPatternError(
            f"{source}={pattern!r} has {compiled.groups} capturing groups; it needs exactly one "
            "capturing group, the part of the file name shared by clips of one source video, "
            r"e.g. '^(.+)_clip\d+' (use (?:...) for the other parentheses)."
        )
    return compiled


def video_group(video: Video, pattern: re.Pattern) -> str:
    """The group of `video`: `pattern`'s group in its file name, "" when it does not match.

    The file name is the last part of `video.path` (of `video.video_id` when there is no path):
    `v_ApplyEyeMakeup_g07_c04.avi` -> `ApplyEyeMakeup_g07` with `UCF101_GROUP_PATTERN`.
    """
    name = os.path.basename(video.path or video.video_id)
    match = pattern.search(name)
    return (match.group(1) or "") if match else ""


def with_groups(listing: VideoList, pattern: re.Pattern) -> VideoList:
    """`listing` with every video's `group` set by `video_group` (unmatched: its own group)."""
    videos = [
        dataclasses.replace(video, group=video_group(video, pattern)) for video in listing.videos
    ]
    return dataclasses.replace(listing, videos=videos)


# -- UCF101's split lists ---------------------------------------------------------------------


def _is_ucf101_list(path: pathlib.Path) -> bool:
    return path.is_file() and (
        bool(_UCF101_LIST_NAME.match(path.name)) or path.name in _UCF101_LIST_FILES
    )


def find_ucf101_lists(
    root: str | os.PathLike, number: int | None = None
) -> tuple[dict[str, list[str]], str] | None:
    """UCF101's `trainlist0N.txt` / `testlist0N.txt` in `root` or `root/ucfTrainTestlist/`.

    A line is `<Class>/<file> [label index]`; only the path is read (the labels are the folder
    names, as for any folder).

    Args:
        root: the manual folder.
        number: which of UCF101's three splits (1, 2 or 3); None: the lowest one with both lists.

    Returns:
        `({"train": paths, "test": paths}, "trainlist0N.txt + testlist0N.txt")`, or None when
        `root` has no list.

    Raises:
        VideoListError: the asked-for split, or any complete train/test pair, is not there.
    """
    root = pathlib.Path(root)
    found: dict[int, dict[str, pathlib.Path]] = {}
    for folder in (root, root / UCF101_LIST_FOLDER):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            match = _UCF101_LIST_NAME.match(path.name)
            if match and path.is_file():
                found.setdefault(int(match.group(2)), {})[match.group(1)] = path
    if not found:
        return None
    complete = sorted(n for n, kinds in found.items() if len(kinds) == 2)
    names = sorted(path.name for kinds in found.values() for path in kinds.values())
    if number is None and not complete:
        raise VideoListError(
            f"{root} has UCF101 split lists {names} but no trainlist0N.txt with its "
            "testlist0N.txt: add the missing one, or remove the lists to draw the splits."
        )
    number = complete[0] if number is None else number
    if number not in complete:
        raise VideoListError(
            f"UCF101 split {number} asked for (${UCF101_SPLIT_ENV}), but {root} has only "
            f"{names}: choose one of {complete or 'none'}."
        )
    lists = {}
    for kind, split in (("trainlist", "train"), ("testlist", "test")):
        lines = found[number][kind].read_text(encoding="utf-8").splitlines()
        lists[split] = [line.split()[0].replace("\\", "/") for line in lines if line.strip()]
    return lists, f"trainlist{number:02d}.txt + testlist{number:02d}.txt"


def apply_split_lists(listing: VideoList, lists: dict[str, list[str]], name: str) -> VideoList:
    """Keeps the videos that `lists` name (`<class>/<file>`, case-insensitive), in their split.

    Videos in neither list are skipped (listed as problems with the reason); list entries with
    no file are counted in `source` (a UCF101 subset leaves most of them out).

    Raises:
        VideoListError: a video is in both lists, or no listed video is on disk.
    """
    on_disk = {video.video_id.lower(): video for video in listing.videos}
    split_of: dict[str, str] = {}
    absent = 0
    for split, paths in lists.items():
        for path in paths:
            video = on_disk.get(path.lower())
            if video is None:
                absent += 1
            elif split_of.setdefault(video.video_id, split) != split:
                raise VideoListError(
                    f"{video.video_id} is in both the train and the test list ({name}): a "
                    "video belongs to one split."
                )
    kept, problems = [], list(listing.problems)
    for video in listing.videos:
        if video.video_id in split_of:
            kept.append(video)
        else:
            reason = f"in neither of UCF101's lists {name}"
            problems.append(_problem(video.video_id, video.label, "skipped", reason, video.path))
    if not kept:
        raise VideoListError(
            f"none of the videos in {listing.source.get('manual_dir', 'the manual folder')} is "
            f"named in {name}: the lists' <Class>/<file> must match <manual_dir>/<class>/<file>."
        )
    split_lists = {
        split: sorted(v.video_id for v in kept if split_of[v.video_id] == split) for split in lists
    }
    source = {**listing.source, "split_lists": name, "split_list_entries_not_on_disk": absent}
    return dataclasses.replace(
        listing, videos=kept, problems=problems, source=source, split_lists=split_lists
    )
