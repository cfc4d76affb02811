"""The Youtube Videos Dataset CSV, cleaned: which rows are downloadable videos, and why not.

``read_video_list(csv_path)`` reads ``link,title,description,category`` with the csv module and
returns the downloadable ``VideoEntry`` list plus a ``CleaningReport`` (``python -m
vidcls_keras.download`` and the ``youtube_videos`` TFDS builder both use it). Pure: it reads the
file and touches no network. Cleaning policy, applied in this order:

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
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import os
import pathlib
import re
import urllib.parse

from vidcls_keras.errors import VidclsError

CSV_COLUMNS = ("link", "title", "description", "category")
YOUTUBE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{11}")
CATEGORY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
YOUTUBE_WATCH_URL = "https://www.youtube.com/watch?v={}"
NAME_ERROR = (
    "#NAME?"  # what a spreadsheet writes when it reads an id starting with "-" as a formula
)


class CsvFormatError(VidclsError):
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
