"""Clean the Youtube Videos Dataset CSV and download its videos with yt-dlp.

    python -m vidcls_keras.download --csv youtube.csv --out VIDEOS_DIR [--limit 20]

Two steps, each usable on its own:

1. ``read_video_list(csv_path)`` reads ``link,title,description,category`` with the csv module and
   returns the downloadable ``VideoEntry`` list plus a ``CleaningReport`` (the TFDS builder reuses
   it). Cleaning policy, applied in this order:

   - exact duplicate rows (all four fields equal) are dropped and counted;
   - a ``link`` must be an 11-character YouTube id (``[A-Za-z0-9_-]{11}``) or an http(s) URL; for a
     URL the id is a stable slug + sha256 prefix of the URL (never 11 characters long, so it cannot
     be mistaken for a YouTube id). Anything else (``#NAME?``, ids the scraper cut short) is
     rejected with a reason, never repaired by guessing;
   - an id listed under two or more categories has no trustworthy label: every row of it is
     rejected as ambiguous and reported (keeping one label would be a guess, keeping both would
     put one video under two labels and possibly on both sides of a train/test split);
   - an id repeated in the same category with a different title or description keeps its first
     row (the label agrees; only scraped text differs) and the repeat is counted.

2. ``download_videos(entries, videos_dir, ...)`` downloads with yt-dlp's Python API, one
   ``YoutubeDL`` per task in a thread pool, into ``VIDEOS_DIR/<category>/<id>.<ext>`` (the layout
   the folder builder reads). Downloads land in ``VIDEOS_DIR/.incomplete/`` (yt-dlp adds its own
   ``.part`` suffix while writing), are checked with OpenCV, and only then renamed into place, so
   a killed run never leaves a half file that looks finished; re-runs skip finished files.
   ``VIDEOS_DIR/manifest.csv`` (``id,category,status,reason,path``) gets a line for every id
   processed and every rejected row (status ``downloaded``, ``skipped_existing``, ``failed`` or
   ``invalid_id``; ambiguous-category rows are ``invalid_id`` with a reason saying so) and is
   rewritten atomically as the run goes.

yt-dlp gets an explicit option set: no postprocessors (so no ``exec``), no fixups, no external
downloaders, only the ``youtube`` and ``generic`` extractors, no cache, and its log routed to the
``vidcls_keras.download`` logger. Readers of ``VIDEOS_DIR`` should skip entries whose name starts
with ``.`` (the staging folder) and the top-level ``manifest.csv``.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import dataclasses
import hashlib
import logging
import math
import os
import pathlib
import re
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Sequence

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("link", "title", "description", "category")
YOUTUBE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{11}")
CATEGORY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
YOUTUBE_WATCH_URL = "https://www.youtube.com/watch?v={}"
NAME_ERROR = (
    "#NAME?"  # what a spreadsheet writes when it reads an id starting with "-" as a formula
)

DEFAULT_FORMAT = "best[height<=360][ext=mp4]/best[height<=360]/best"
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("id", "category", "status", "reason", "path")
STATUSES = ("downloaded", "skipped_existing", "failed", "invalid_id")
INCOMPLETE_DIR = ".incomplete"
# Files in a category folder with these suffixes are never taken for a finished video.
_UNFINISHED_SUFFIXES = frozenset({".part", ".ytdl", ".tmp", ".temp"})
_MANIFEST_INTERVAL_S = 2.0
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class CsvFormatError(ValueError):
    """The video list CSV cannot be read as ``link,title,description,category``."""


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One downloadable video from the dataset CSV.

    Attributes:
        video_id: 11-character YouTube id, or for a direct URL a slug + sha256 prefix of it.
        url: what yt-dlp is given (a YouTube watch URL, or the direct URL as written).
        title: title from the CSV ("" when the column is absent).
        category: label, also the sub-folder name under the videos directory.
        csv_row: 1-based data row number (header excluded) of the row kept for this id.
    """

    video_id: str
    url: str
    title: str
    category: str
    csv_row: int


@dataclasses.dataclass(frozen=True)
class RejectedRow:
    """A CSV row that cannot be downloaded, with why.

    Attributes:
        link: the ``link`` value as written (stripped of surrounding spaces).
        category: the ``category`` value as written.
        title: the title ("" when absent).
        csv_row: 1-based data row number.
        kind: one of ``name_error``, ``bad_id``, ``ambiguous_category``, ``bad_category``,
            ``malformed_row``.
        reason: a sentence for people.
    """

    link: str
    category: str
    title: str
    csv_row: int
    kind: str
    reason: str


@dataclasses.dataclass
class CleaningReport:
    """What ``read_video_list`` found. Counts on all rows read unless stated otherwise.

    Attributes:
        csv_path: the file read.
        rows_read: data rows (a quoted multi-line description is one row).
        eleven_char_links: ``link`` values exactly 11 characters long.
        name_errors: ``link`` values equal to ``#NAME?``.
        url_links: ``link`` values that are http(s) URLs.
        distinct_links: distinct ``link`` values.
        exact_duplicates: rows identical to an earlier row in all four fields (dropped).
        rows_after_dedup: rows left after dropping exact duplicates.
        repeated_ids: rows (after dedup) whose id already appeared in the same category with a
            different title/description; the first row is kept.
        ambiguous_ids: id -> sorted categories, for ids listed under more than one category
            (all their rows are rejected).
        categories_read: category -> rows read.
        categories_kept: category -> entries returned.
        rejected: rejected rows (after dedup), in CSV order.
        num_entries: entries returned.
    """

    csv_path: str
    rows_read: int = 0
    eleven_char_links: int = 0
    name_errors: int = 0
    url_links: int = 0
    distinct_links: int = 0
    exact_duplicates: int = 0
    rows_after_dedup: int = 0
    repeated_ids: int = 0
    ambiguous_ids: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    categories_read: dict[str, int] = dataclasses.field(default_factory=dict)
    categories_kept: dict[str, int] = dataclasses.field(default_factory=dict)
    rejected: list[RejectedRow] = dataclasses.field(default_factory=list)
    num_entries: int = 0

    def rejected_counts(self) -> dict[str, int]:
        """Rejected rows per ``RejectedRow.kind``."""
        return dict(collections.Counter(row.kind for row in self.rejected))

    def format(self) -> str:
        """A multi-line, human-readable report."""
        kinds = collections.Counter(row.kind for row in self.rejected)
        lines = [
            f"{self.csv_path}: {self.rows_read:,} data rows read",
            f"  link values: {self.eleven_char_links:,} are 11 characters long, "
            f"{self.name_errors:,} are {NAME_ERROR!r}, {self.url_links:,} are URLs, "
            f"{self.distinct_links:,} distinct",
            f"  exact duplicate rows dropped: {self.exact_duplicates:,} "
            f"({self.rows_after_dedup:,} rows remain)",
            f"  invalid ids (after dedup): "
            f"{kinds.get('name_error', 0) + kinds.get('bad_id', 0):,} "
            f"({kinds.get('name_error', 0):,} {NAME_ERROR!r}, "
            f"{kinds.get('bad_id', 0):,} neither an 11-character id nor a URL)",
            f"  other rejected rows: {kinds.get('ambiguous_category', 0):,} ambiguous category, "
            f"{kinds.get('bad_category', 0):,} bad category, "
            f"{kinds.get('malformed_row', 0):,} malformed",
            f"  ids in more than one category (ambiguous, excluded): {len(self.ambiguous_ids):,}",
        ]
        for video_id, categories in sorted(self.ambiguous_ids.items()):
            lines.append(f"    {video_id}: {', '.join(categories)}")
        lines += [
            f"  ids repeated in one category with other text (first row kept): "
            f"{self.repeated_ids:,}",
            f"  videos to download: {self.num_entries:,}",
            f"  {'category':<16}{'rows read':>10}{'to download':>13}",
        ]
        for category in sorted(self.categories_read, key=lambda c: -self.categories_read[c]):
            lines.append(
                f"  {category:<16}{self.categories_read[category]:>10,}"
                f"{self.categories_kept.get(category, 0):>13,}"
            )
        return "\n".join(lines)


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


def is_url(link: str) -> bool:
    """Whether ``link`` is an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(link)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def url_video_id(url: str) -> str:
    """Stable, file-name-safe id for a direct URL: ``<slug of file stem>-<12 hex of sha256>``.

    The result is at least 16 characters long, so it never looks like an 11-character YouTube id.
    """
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    stem = pathlib.PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).stem
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", stem).strip("-")[:40]
    return f"{slug or 'url'}-{digest}"


def _classify_link(link: str) -> tuple[str | None, str, str]:
    """Returns ``(video_id or None, url, rejection kind or "")`` for one stripped link."""
    if link == NAME_ERROR:
        return None, "", "name_error"
    if is_url(link):
        return url_video_id(link), link, ""
    if YOUTUBE_ID_PATTERN.fullmatch(link):
        return link, YOUTUBE_WATCH_URL.format(link), ""
    return None, "", "bad_id"


def _link_reason(link: str, kind: str) -> str:
    if kind == "name_error":
        return f"{NAME_ERROR!r} is a spreadsheet formula error, not a video id"
    return (
        f"{link!r} is not an 11-character YouTube id ([A-Za-z0-9_-]{{11}}) nor an http(s) URL "
        f"({len(link)} characters; the scraper cut the id short)"
    )


def read_video_list(csv_path: str | os.PathLike) -> tuple[list[VideoEntry], CleaningReport]:
    """Reads and cleans the dataset CSV (``link,title,description,category``).

    Pure: reads the file, touches no network. See the module docstring for the policy.

    Args:
        csv_path: UTF-8 CSV with a header holding at least ``link`` and ``category``
            (``title`` and ``description`` are optional).

    Returns:
        ``(entries, report)``: entries in CSV order of their first kept row, one per id.

    Raises:
        CsvFormatError: the file is not UTF-8, a required column is missing, or the csv module
            cannot parse it.
    """
    csv_path = pathlib.Path(csv_path)
    report = CleaningReport(csv_path=str(csv_path))
    categories_read: collections.Counter[str] = collections.Counter()
    links: set[str] = set()
    seen_rows: set[tuple[str, ...]] = set()
    # id -> list of (category, title, csv_row) for rows that passed the link/category checks.
    candidates: dict[str, list[tuple[str, str, int]]] = {}
    urls: dict[str, str] = {}
    rejected: list[RejectedRow] = []
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, restkey="_extra")
            missing = {"link", "category"} - set(reader.fieldnames or ())
            if missing:
                raise CsvFormatError(
                    f"{csv_path}: header {reader.fieldnames} lacks column(s) {sorted(missing)}; "
                    f"the file must start with the header line {','.join(CSV_COLUMNS)}"
                )
            for csv_row, row in enumerate(reader, start=1):
                raw = tuple(row.get(name) or "" for name in CSV_COLUMNS)
                link = (row.get("link") or "").strip()
                category = (row.get("category") or "").strip()
                title = (row.get("title") or "").strip()
                report.rows_read += 1
                categories_read[category] += 1
                links.add(link)
                report.eleven_char_links += len(link) == 11
                report.name_errors += link == NAME_ERROR
                report.url_links += is_url(link)
                if raw in seen_rows:
                    report.exact_duplicates += 1
                    continue
                seen_rows.add(raw)

                num_fields = len(reader.fieldnames)
                if "_extra" in row or any(row.get(name) is None for name in reader.fieldnames):
                    found = num_fields + len(row.get("_extra", []))
                    reason = (
                        f"row has {found} fields, the header {num_fields}"
                        if "_extra" in row
                        else f"row has fewer fields than the header's {num_fields}"
                    )
                    rejected.append(
                        RejectedRow(link, category, title, csv_row, "malformed_row", reason)
                    )
                    continue
                video_id, url, kind = _classify_link(link)
                if video_id is None:
                    reason = _link_reason(link, kind)
                    rejected.append(RejectedRow(link, category, title, csv_row, kind, reason))
                    continue
                if not CATEGORY_PATTERN.fullmatch(category):
                    reason = f"category {category!r} is not a folder-safe name ([A-Za-z0-9_-]+)"
                    rejected.append(
                        RejectedRow(link, category, title, csv_row, "bad_category", reason)
                    )
                    continue
                candidates.setdefault(video_id, []).append((category, title, csv_row))
                urls[video_id] = url
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            f"{csv_path}: not UTF-8 ({error}); re-save the file as UTF-8"
        ) from error
    except csv.Error as error:
        raise CsvFormatError(f"{csv_path}: the csv module cannot parse it: {error}") from error

    entries: list[VideoEntry] = []
    for video_id, rows in candidates.items():
        categories = tuple(sorted({category for category, _, _ in rows}))
        if len(categories) > 1:
            report.ambiguous_ids[video_id] = categories
            for category, title, csv_row in rows:
                others = [other for other in categories if other != category]
                rejected.append(
                    RejectedRow(
                        video_id,
                        category,
                        title,
                        csv_row,
                        "ambiguous_category",
                        f"ambiguous category: {video_id} is also listed under "
                        f"{', '.join(others)}; excluded rather than guessing a label",
                    )
                )
            continue
        category, title, csv_row = rows[0]
        report.repeated_ids += len(rows) - 1
        entries.append(VideoEntry(video_id, urls[video_id], title, category, csv_row))
    entries.sort(key=lambda entry: entry.csv_row)
    rejected.sort(key=lambda row: row.csv_row)

    report.distinct_links = len(links)
    report.rows_after_dedup = report.rows_read - report.exact_duplicates
    report.categories_read = dict(categories_read.most_common())
    report.categories_kept = dict(collections.Counter(entry.category for entry in entries))
    report.rejected = rejected
    report.num_entries = len(entries)
    return entries, report


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
    staging.mkdir(parents=True, exist_ok=True)
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
    final.parent.mkdir(parents=True, exist_ok=True)
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
    """Atomically (temp file + rename) writes ``VIDEOS_DIR/manifest.csv`` in CSV row order.

    Returns:
        The manifest path.
    """
    videos_dir = pathlib.Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    path = videos_dir / MANIFEST_NAME
    descriptor, temp_name = tempfile.mkstemp(prefix=".manifest-", suffix=".csv", dir=videos_dir)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(MANIFEST_FIELDS)
            for result in sorted(results, key=lambda result: result.csv_row):
                writer.writerow(
                    (result.video_id, result.category, result.status, result.reason, result.path)
                )
        os.replace(temp_name, path)
    except BaseException:
        pathlib.Path(temp_name).unlink(missing_ok=True)
        raise
    return path


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
    videos_dir = pathlib.Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    Returns:
        0 when the run completed (failures of single videos are expected and recorded), 1 when
        there was something to download and every download failed (no network?), 2 when the CSV
        cannot be read.
    """
    parser = argparse.ArgumentParser(
        prog="python -m vidcls_keras.download",
        description="Clean the Youtube Videos Dataset CSV and download its videos with yt-dlp "
        "into OUT/<category>/<id>.<ext>, with OUT/manifest.csv recording every id.",
    )
    parser.add_argument(
        "--csv", required=True, type=pathlib.Path, help="link,title,description,category CSV"
    )
    parser.add_argument("--out", required=True, type=pathlib.Path, help="videos directory")
    parser.add_argument(
        "--format", default=DEFAULT_FORMAT, help="yt-dlp format selector (default: %(default)s)"
    )
    parser.add_argument(
        "--retries", type=_non_negative_int, default=3, help="retries per request (default: 3)"
    )
    parser.add_argument(
        "--workers", type=_positive_int, default=4, help="concurrent downloads (default: 4)"
    )
    parser.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        help="only the first N videos of the cleaned list",
    )
    parser.add_argument("--socket-timeout", type=float, default=30.0, help="seconds (default: 30)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the OpenCV check of downloaded files"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log yt-dlp warnings and each failure"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )

    try:
        entries, report = read_video_list(args.csv)
    except (CsvFormatError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.format())
    if args.limit is not None:
        entries = entries[: args.limit]
        print(f"--limit {args.limit}: trying the first {len(entries):,} videos")
    results = download_videos(
        entries,
        args.out,
        rejected=report.rejected,
        format=args.format,
        retries=args.retries,
        workers=args.workers,
        socket_timeout=args.socket_timeout,
        validate=not args.no_check,
        progress=not args.no_progress,
    )
    print(format_summary(results))
    print(f"manifest: {pathlib.Path(args.out) / MANIFEST_NAME}")
    statuses = collections.Counter(result.status for result in results)
    if entries and statuses["downloaded"] + statuses["skipped_existing"] == 0:
        print("error: every download failed; see the manifest's reason column", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
