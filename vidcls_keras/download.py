"""`python -m vidcls_keras.download`: clean the Youtube Videos Dataset CSV, download its videos.

    python -m vidcls_keras.download --csv youtube.csv --out VIDEOS_DIR [--limit 20]

Prints the cleaning report (`vidcls_keras.youtube.video_list`), downloads with yt-dlp into
`VIDEOS_DIR/<category>/<id>.<ext>` and records every id in `VIDEOS_DIR/manifest.csv`
(`vidcls_keras.youtube.download`), then prints a per-category summary.
"""

from __future__ import annotations

import argparse
import collections
import logging
import pathlib
import sys
from collections.abc import Sequence

from vidcls_keras.errors import VidclsError
from vidcls_keras.files import ensure_dir
from vidcls_keras.youtube.download import (
    DEFAULT_FORMAT,
    MANIFEST_NAME,
    download_videos,
    format_summary,
)
from vidcls_keras.youtube.video_list import read_video_list


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


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m vidcls_keras.download`."""
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    Returns:
        0 when the run completed (failures of single videos are expected and recorded), 1 when
        there was something to download and every download failed (no network?), 2 when the CSV
        cannot be read or --out cannot be a folder (it, or a folder above it, is a file).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        entries, report = read_video_list(args.csv)
        ensure_dir(args.out, "--out")  # an OutputPathError when it, or a folder above, is a file
    except (VidclsError, OSError) as error:  # a CsvFormatError, or a missing/unreadable file
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
