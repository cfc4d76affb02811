"""What a builder finds in its manual folder: a labelled list of videos and the unusable items.

`list_video_folder` reads `<root>/<class>/<file>`; `list_youtube_videos` reads the cleaned YouTube
CSV (`vidcls_keras.youtube`) and finds each id's downloaded file. Nothing is dropped silently:
skipped files (hidden ones included) and missing videos are returned as `problems` for the build
report. Fewer than 2 classes with videos is refused: a 1-class classifier scores f1 1.0 and
means nothing.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence
from typing import Any

from vidcls_keras.errors import VidclsError


class VideoListError(VidclsError):
    """The manual data cannot be turned into a labelled list of videos."""


MIN_CLASSES = 2  # a classifier needs two classes to tell apart


@dataclasses.dataclass(frozen=True)
class Video:
    """One video to turn into an example.

    Attributes:
        video_id: unique id, also the TFDS key (YouTube id, or `<class>/<file name>`).
        path: absolute path of the file.
        label: class name.
        title: title ("" when unknown).
    """

    video_id: str
    path: str
    label: str
    title: str = ""


@dataclasses.dataclass
class VideoList:
    """What a builder found in its manual folder.

    Attributes:
        videos: the videos to embed.
        class_names: label names, in label-index order.
        problems: one dict per listed-but-unusable item (`video_id`, `label`, `status`, `reason`,
            `path`), e.g. status `missing` for a CSV row whose video is not on disk.
        source: facts about the input for the report (paths, CSV cleaning counts, ...).
    """

    videos: list[Video]
    class_names: list[str]
    problems: list[dict[str, str]] = dataclasses.field(default_factory=list)
    source: dict[str, Any] = dataclasses.field(default_factory=dict)


def _problem(video_id: str, label: str, status: str, reason: str, path: str = "") -> dict:
    return {
        "video_id": video_id,
        "label": label,
        "split": "",
        "status": status,
        "reason": reason,
        "path": path,
    }


def list_video_folder(root: str | os.PathLike) -> VideoList:
    """Lists `<root>/<class>/<file>`: class names are the sub-folder names, sorted.

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
    return VideoList(
        videos=videos,
        class_names=[d.name for d in class_dirs],
        problems=problems,
        source={"manual_dir": str(root.absolute())},
    )


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
