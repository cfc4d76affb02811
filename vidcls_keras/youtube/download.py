"""Download the videos of a cleaned video list with yt-dlp, and keep a manifest of every id.

``download_videos(entries, videos_dir, ...)`` (entries from
``vidcls_keras.youtube.video_list.read_video_list``) downloads with yt-dlp's Python API, one
``YoutubeDL`` per task in a thread pool, into ``VIDEOS_DIR/<category>/<id>.<ext>`` (the layout the
folder builder reads). Downloads land in ``VIDEOS_DIR/.incomplete/`` (yt-dlp adds its own
``.part`` suffix while writing), are checked with OpenCV (``check_video_file``), and only then
renamed into place, so a killed run never leaves a half file that looks finished; re-runs skip
finished files. ``VIDEOS_DIR/manifest.csv`` (``id,category,status,reason,path``) gets a line for
every id processed and every rejected row (status ``downloaded``, ``skipped_existing``,
``failed`` or ``invalid_id``; ambiguous-category rows are ``invalid_id`` with a reason saying so)
and is rewritten atomically as the run goes. The command line is ``python -m
vidcls_keras.download``.

yt-dlp gets an explicit option set: no postprocessors (so no ``exec``), no fixups, no external
downloaders, only the ``youtube`` and ``generic`` extractors, no cache, and its log routed to the
``vidcls_keras.youtube.download`` logger. Readers of ``VIDEOS_DIR`` should skip entries whose name
starts with ``.`` (the staging folder) and the top-level ``manifest.csv``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import io
import logging
import math
import os
import pathlib
import re
import time
from collections.abc import Iterable, Sequence

from vidcls_keras import files
from vidcls_keras.files import OutputPathError, ensure_dir
from vidcls_keras.youtube.video_list import RejectedRow, VideoEntry

__all__ = [
    "DEFAULT_FORMAT",
    "INCOMPLETE_DIR",
    "MANIFEST_FIELDS",
    "MANIFEST_NAME",
    "STATUSES",
    "DownloadResult",
    "check_video_file",
    "download_one",
    "download_videos",
    "find_existing",
    "format_summary",
    "read_manifest",
    "write_manifest",
    "youtube_dl_options",
]

logger = logging.getLogger(__name__)

DEFAULT_FORMAT = "best[height<=360][ext=mp4]/best[height<=360]/best"
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("id", "category", "status", "reason", "path")
STATUSES = ("downloaded", "skipped_existing", "failed", "invalid_id")
INCOMPLETE_DIR = ".incomplete"
# Files in a category folder with these suffixes are never taken for a finished video.
_UNFINISHED_SUFFIXES = frozenset({".part", ".ytdl", ".tmp", ".temp"})
_MANIFEST_INTERVAL_S = 2.0
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass(frozen=True)
class DownloadResult:
    """One manifest line.

    Attributes:
        video_id: entry id, or the raw ``link`` for a rejected row.
        category: category as in the CSV.
        status: one of ``STATUSES``.
        reason: why it failed or was rejected ("" when downloaded or skipped).
        path: file path relative to the videos directory, POSIX style ("" when none).
        csv_row: 1-based data row number, used to keep the manifest in CSV order.
    """

    video_id: str
    category: str
    status: str
    reason: str = ""
    path: str = ""
    csv_row: int = 0


def check_video_file(path: str | os.PathLike) -> str | None:
    """Cheap check that a downloaded file is a whole, decodable video.

    Decodes the first frame and, when the container states a plausible frame count, the frame at
    90% of it (a file cut short usually fails one of the two: its index is missing or its tail
    data is). Not a full decode, so a file missing only its last few percent can pass.

    Args:
        path: video file.

    Returns:
        ``None`` when it looks whole, else a sentence saying what is wrong.
    """
    import cv2  # Imported here: the CSV cleaning must not need OpenCV.

    path = pathlib.Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return f"{path.name}: file is missing or 0 bytes"
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return f"{path.name}: OpenCV cannot open it (cut short or not a video)"
        ok, frame = capture.read()
        if not ok or frame is None:
            return f"{path.name}: no frame could be decoded"
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        # Containers without a stored duration report garbage counts: only trust plausible ones.
        if math.isfinite(count) and 2 <= count < 10_000_000:
            index = int(count * 0.9)
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if not ok or frame is None:
                return (
                    f"{path.name}: frame {index} of the {int(count)} the container lists cannot "
                    "be decoded (file cut short?)"
                )
    finally:
        capture.release()
    return None


def find_existing(videos_dir: str | os.PathLike, entry: VideoEntry) -> pathlib.Path | None:
    """The finished file ``VIDEOS_DIR/<category>/<id>.<ext>`` of ``entry``, if there is one."""
    folder = pathlib.Path(videos_dir) / entry.category
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"{glob_escape(entry.video_id)}.*")):
        if (
            path.is_file()
            and path.stem == entry.video_id
            and path.suffix.lower() not in _UNFINISHED_SUFFIXES
        ):
            return path
    return None


def glob_escape(name: str) -> str:
    """Escapes glob metacharacters (ids hold only ``[A-Za-z0-9_-]``, but be safe)."""
    return re.sub(r"([*?\[])", r"[\1]", name)


class _YtDlpLogger:
    """Routes yt-dlp's output to our logger. Its errors also come back as exceptions, whose text
    goes to the manifest, so they are logged at INFO rather than shouted once per video."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        logger.info("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        logger.info("yt-dlp: %s", message)


def _retry_sleep(n: int) -> float:
    """Seconds to wait before retry ``n + 1``: 1, 2, 4, ... capped at 30."""
    return min(2.0**n, 30.0)


def youtube_dl_options(outtmpl: str, *, format: str, retries: int, socket_timeout: float) -> dict:
    """The complete yt-dlp option set used for one download. Nothing else is passed.

    Args:
        outtmpl: output template, e.g. ``".../.incomplete/travel/abc.%(ext)s"``.
        format: yt-dlp format selector.
        retries: retries for HTTP requests, fragments and extraction.
        socket_timeout: seconds.

    Returns:
        Options for ``yt_dlp.YoutubeDL``.
    """
    return {
        "format": format,
        "outtmpl": {"default": outtmpl},
        "retries": retries,
        "fragment_retries": retries,
        "extractor_retries": retries,
        "retry_sleep_functions": {
            "http": _retry_sleep,
            "fragment": _retry_sleep,
            "extractor": _retry_sleep,
        },
        "socket_timeout": socket_timeout,
        "noplaylist": True,
        "continuedl": True,  # resume a .part left by a killed run
        "updatetime": False,  # keep the local mtime, not the server's Last-Modified
        # No external programs: no postprocessors (hence no `exec`), no ffmpeg fixups, native
        # downloaders for every protocol, and only the two extractors this tool needs.
        "postprocessors": [],
        "fixup": "never",
        "external_downloader": {"default": "native"},
        "allowed_extractors": ["youtube", "generic"],
        "cachedir": False,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "no_color": True,
        "logger": _YtDlpLogger(),
    }


def _clean_message(error: BaseException) -> str:
    """One line of an exception's text, without yt-dlp's "ERROR: " prefix and colours."""
    message = _ANSI_ESCAPE.sub("", str(error)).strip()
    message = re.sub(r"^ERROR:\s*", "", message)
    message = " ".join(message.split())
    return message[:300] or type(error).__name__


def _downloaded_file(info: dict | None, staging: pathlib.Path, video_id: str) -> pathlib.Path:
    """Where yt-dlp put the file (``requested_downloads``), else the one staged file for the id."""
    for download in (info or {}).get("requested_downloads") or ():
        if download.get("filepath"):
            return pathlib.Path(download["filepath"])
    staged = [
        path
        for path in staging.glob(f"{glob_escape(video_id)}.*")
        if path.suffix.lower() not in _UNFINISHED_SUFFIXES
    ]
    if len(staged) != 1:
        raise FileNotFoundError(
            f"yt-dlp reported success but left {len(staged)} files in {staging}"
        )
    return staged[0]


def download_one(
    entry: VideoEntry,
    videos_dir: str | os.PathLike,
    *,
    format: str = DEFAULT_FORMAT,
    retries: int = 3,
    socket_timeout: float = 30.0,
    validate: bool = True,
) -> DownloadResult:
    """Downloads one entry to ``VIDEOS_DIR/<category>/<id>.<ext>`` unless it is already there.

    Args:
        entry: what to download.
        videos_dir: output root.
        format: yt-dlp format selector.
        retries: yt-dlp retries (HTTP, fragments, extraction).
        socket_timeout: seconds.
        validate: check the file with ``check_video_file`` before renaming it into place.

    Returns:
        The manifest line (``downloaded``, ``skipped_existing`` or ``failed``).
    """
    import yt_dlp  # Imported here: reading the CSV must not need yt-dlp.

    videos_dir = pathlib.Path(videos_dir)
    existing = find_existing(videos_dir, entry)
    if existing is not None:
        return DownloadResult(
            entry.video_id,
            entry.category,
            "skipped_existing",
            path=existing.relative_to(videos_dir).as_posix(),
            csv_row=entry.csv_row,
        )

    def failed(reason: str) -> DownloadResult:
        return DownloadResult(entry.video_id, entry.category, "failed", reason, "", entry.csv_row)

    staging = videos_dir / INCOMPLETE_DIR / entry.category
    try:
        ensure_dir(staging, "the download staging folder")
    except OutputPathError as error:  # e.g. a file named like the category: this video fails
        return failed(str(error))
    options = youtube_dl_options(
        str(staging / f"{entry.video_id}.%(ext)s"),
        format=format,
        retries=retries,
        socket_timeout=socket_timeout,
    )
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(entry.url, download=True)
        if info is not None and info.get("_type") in ("playlist", "multi_video"):
            return failed(f"{entry.url} is a playlist, not one video")
        staged = _downloaded_file(info, staging, entry.video_id)
    except (yt_dlp.utils.YoutubeDLError, OSError) as error:
        return failed(_clean_message(error))

    if validate:
        problem = check_video_file(staged)
        if problem is not None:
            staged.unlink(missing_ok=True)
            return failed(f"downloaded file rejected: {problem}")
    final = videos_dir / entry.category / f"{entry.video_id}{staged.suffix.lower()}"
    try:
        ensure_dir(final.parent, "the category folder")
    except OutputPathError as error:
        staged.unlink(missing_ok=True)
        return failed(str(error))
    os.replace(staged, final)  # atomic on one filesystem: the file appears whole or not at all
    return DownloadResult(
        entry.video_id,
        entry.category,
        "downloaded",
        path=final.relative_to(videos_dir).as_posix(),
        csv_row=entry.csv_row,
    )


def write_manifest(
    videos_dir: str | os.PathLike, results: Iterable[DownloadResult]
) -> pathlib.Path:
    """Atomically (``files.atomic_write_text``) writes ``VIDEOS_DIR/manifest.csv`` in CSV row order.

    Returns:
        The manifest path.
    """
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(MANIFEST_FIELDS)
    for result in sorted(results, key=lambda result: result.csv_row):
        writer.writerow(
            (result.video_id, result.category, result.status, result.reason, result.path)
        )
    return files.atomic_write_text(pathlib.Path(videos_dir) / MANIFEST_NAME, text.getvalue())


def read_manifest(videos_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of ``VIDEOS_DIR/manifest.csv`` as dicts keyed by ``MANIFEST_FIELDS``."""
    with open(pathlib.Path(videos_dir) / MANIFEST_NAME, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def download_videos(
    entries: Sequence[VideoEntry],
    videos_dir: str | os.PathLike,
    *,
    rejected: Iterable[RejectedRow] = (),
    format: str = DEFAULT_FORMAT,
    retries: int = 3,
    workers: int = 4,
    socket_timeout: float = 30.0,
    validate: bool = True,
    progress: bool = True,
) -> list[DownloadResult]:
    """Downloads ``entries`` concurrently and keeps ``VIDEOS_DIR/manifest.csv`` up to date.

    Rejected rows are recorded as ``invalid_id`` without any network call. Entries whose file is
    already there are ``skipped_existing`` without any network call either.

    Args:
        entries: from ``read_video_list`` (ids must be unique).
        videos_dir: output root.
        rejected: ``CleaningReport.rejected``, recorded in the manifest.
        format: yt-dlp format selector.
        retries: yt-dlp retries per request.
        workers: concurrent downloads (threads; one ``YoutubeDL`` per download).
        socket_timeout: seconds.
        validate: check each file with ``check_video_file`` before accepting it.
        progress: show a tqdm progress bar.

    Returns:
        One result per rejected row and per entry, in CSV row order.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if workers < 1:
        raise ValueError(f"workers={workers}: need at least 1 concurrent download")
    if retries < 0:
        raise ValueError(f"retries={retries}: must be 0 or more")
    videos_dir = ensure_dir(videos_dir, "--out")
    results = [
        DownloadResult(row.link, row.category, "invalid_id", row.reason, "", row.csv_row)
        for row in rejected
    ]
    to_fetch = []
    for entry in entries:
        existing = find_existing(videos_dir, entry)
        if existing is None:
            to_fetch.append(entry)
        else:
            path = existing.relative_to(videos_dir).as_posix()
            results.append(
                DownloadResult(
                    entry.video_id, entry.category, "skipped_existing", "", path, entry.csv_row
                )
            )
    write_manifest(videos_dir, results)
    last_write = time.monotonic()

    with (
        logging_redirect_tqdm(),
        tqdm(total=len(to_fetch), desc="download", unit="video", disable=not progress) as bar,
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor,
    ):
        futures = [
            executor.submit(
                download_one,
                entry,
                videos_dir,
                format=format,
                retries=retries,
                socket_timeout=socket_timeout,
                validate=validate,
            )
            for entry in to_fetch
        ]
        try:
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results.append(result)
                if result.status == "failed":
                    logger.info(
                        "failed %s (%s): %s", result.video_id, result.category, result.reason
                    )
                bar.update(1)
                if time.monotonic() - last_write >= _MANIFEST_INTERVAL_S:
                    write_manifest(videos_dir, results)
                    last_write = time.monotonic()
        finally:
            # On Ctrl-C or an unexpected error: drop queued work, keep what finished on record.
            executor.shutdown(wait=False, cancel_futures=True)
            write_manifest(videos_dir, results)
    return sorted(results, key=lambda result: result.csv_row)


def format_summary(results: Iterable[DownloadResult]) -> str:
    """Per-category table of statuses, plus totals (what the original printed at the end)."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for result in results:
        counts[result.category][result.status] += 1
    header = f"{'category':<16}" + "".join(f"{status:>18}" for status in STATUSES)
    lines = [header]
    total: collections.Counter[str] = collections.Counter()
    for category in sorted(counts):
        total.update(counts[category])
        lines.append(f"{category:<16}" + "".join(f"{counts[category][s]:>18,}" for s in STATUSES))
    lines.append(f"{'total':<16}" + "".join(f"{total[s]:>18,}" for s in STATUSES))
    available = total["downloaded"] + total["skipped_existing"]
    lines.append(f"videos on disk: {available:,} (downloaded now {total['downloaded']:,})")
    return "\n".join(lines)
