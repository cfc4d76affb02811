"""What to classify: INPUT arguments -> local video files, downloading URLs and YouTube ids.

    python -m vidcls_keras.predict runs/mean clip.mp4 videos/ https://example.com/clip.mp4 dQw4w9WgXcQ

Each INPUT is a video file, a folder (its files with a suffix in `video.VIDEO_EXTENSIONS`, sorted by
name, not recursive), or an http(s) URL / 11-character YouTube id, downloaded with the project's
yt-dlp code (`youtube.download.download_one`) into a cache folder (`files.cache_dir("downloads")`).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterator, Sequence

from vidcls_keras import video
from vidcls_keras.errors import VidclsError
from vidcls_keras.files import cache_dir

# Sub-folder of the cache dir that downloads land in (download_one writes <dir>/<category>/<id>.*).
_DOWNLOAD_CATEGORY = "videos"


class InputError(VidclsError):
    """An INPUT that names no readable video (missing path, empty folder, failed download)."""


def default_cache_dir() -> pathlib.Path:
    """Where downloaded inputs are kept: `files.cache_dir("downloads")`."""
    return cache_dir("downloads")


@dataclasses.dataclass(frozen=True)
class Source:
    """One thing to classify: a local file, a URL to download, or an input that already failed.

    Attributes:
        name: the INPUT as given (a folder's videos: each file's path).
        path: the local video file, or None.
        url: the URL or YouTube id to download, or None.
        error: why this input cannot be classified, or None.
    """

    name: str
    path: pathlib.Path | None = None
    url: str | None = None
    error: str | None = None


def is_remote(text: str) -> bool:
    """Whether `text` is an http(s) URL or an 11-character YouTube id."""
    from vidcls_keras.youtube import video_list

    return video_list.is_url(text) or bool(video_list.YOUTUBE_ID_PATTERN.fullmatch(text))


def expand_inputs(inputs: Sequence[str]) -> Iterator[Source]:
    """Turns INPUT arguments into sources: folders into their videos, URLs/ids into downloads.

    A missing path that is not remote, or a folder without videos, becomes a `Source` with
    `error` set, so that the caller reports it beside the other inputs' results.
    """
    for text in inputs:
        path = pathlib.Path(text)
        if path.is_dir():
            videos = sorted(
                child
                for child in path.iterdir()
                if child.is_file()
                and not child.name.startswith(".")
                and child.suffix.lower() in video.VIDEO_EXTENSIONS
            )
            if not videos:
                yield Source(
                    text,
                    error=f"folder has no video files (suffixes {', '.join(video.VIDEO_EXTENSIONS)})",
                )
            for child in videos:
                yield Source(str(child), path=child)
        elif path.exists():
            yield Source(text, path=path)
        elif is_remote(text):
            yield Source(text, url=text)
        else:
            yield Source(
                text, error="no such file or folder, and not an http(s) URL or a YouTube id"
            )


def download_video(url_or_id: str, cache_dir: str | os.PathLike) -> pathlib.Path:
    """Downloads a URL or YouTube id with the project's yt-dlp code, or reuses the cached file.

    Args:
        url_or_id: http(s) URL (any site yt-dlp's generic extractor reads, or YouTube) or an
            11-character YouTube id.
        cache_dir: downloads land in `cache_dir/videos/<id>.<ext>`; a second call reuses them.

    Returns:
        The local video file.

    Raises:
        InputError: yt-dlp failed (its message is kept).
    """
    from vidcls_keras.youtube import download, video_list

    if video_list.is_url(url_or_id):
        video_id, url = video_list.url_video_id(url_or_id), url_or_id
    else:
        video_id, url = url_or_id, video_list.YOUTUBE_WATCH_URL.format(url_or_id)
    entry = video_list.VideoEntry(video_id, url, title="", category=_DOWNLOAD_CATEGORY, csv_row=0)
    result = download.download_one(entry, cache_dir, retries=1, socket_timeout=30.0)
    if result.status not in ("downloaded", "skipped_existing"):
        taken_for = "" if video_list.is_url(url_or_id) else "not a file; taken for a YouTube id: "
        raise InputError(f"{taken_for}download failed: {result.reason}")
    return pathlib.Path(cache_dir) / result.path
