"""The build report: what became of every listed video, beside the dataset's records.

Each split's generator writes its per-video statuses (`status_path`); `write_report` merges them
into `build_report.json` / `build_report.csv` in TFDS' temporary dataset folder, so a finished
dataset always has its report.

`videos` holds every video's row (split, status, reason, path), with `decoded` (frames that
decode) and `expected` (frames its container lists when plausible, else None); `truncated` lists
the videos that decode to far fewer frames than promised (`vidcls_keras.video.is_truncated`),
kept with a `warning` or failed, by policy (`VIDCLS_TRUNCATED`). Each split lists its source-video
`groups` (`splits`: a group never straddles two splits).
"""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from etils import epath

from vidcls_keras.datasets.listing import Video, VideoList
from vidcls_keras.datasets.splits import SPLIT_RULE
from vidcls_keras.video import is_truncated

REPORT_JSON = "build_report.json"
REPORT_CSV = "build_report.csv"
REPORT_CSV_FIELDS = (
    "video_id",
    "label",
    "split",
    "status",
    "reason",
    "path",
    "decoded",
    "expected",
    "warning",
)
STATUS_FILE = "build_status-{split}.json"  # one per split, merged into the report at the end


def write_status(rows: list[dict[str, Any]], path: str) -> None:
    """Writes one split's status rows (epath: under Beam the data_dir may be a bucket)."""
    rows = sorted(rows, key=lambda row: row["video_id"])
    epath.Path(path).write_text(json.dumps(rows, indent=1))


def _count(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    return dict(sorted(collections.Counter(row[key] for row in rows).items()))


def write_report(
    folder: epath.PathLike,
    *,
    header: Mapping[str, Any],
    listing: VideoList,
    assigned: Mapping[str, Sequence[Video]],
    notes: Sequence[str],
) -> dict[str, Any]:
    """Merges the per-split status files in `folder` into `build_report.json` / `.csv`.

    Returns:
        The report's `summary` (counts only), also stored in the dataset's metadata.
    """
    folder = epath.Path(folder)
    rows, splits = [], {}
    for split, videos in assigned.items():
        path = folder / STATUS_FILE.format(split=split)
        split_rows = json.loads(path.read_text()) if path.exists() else []
        if path.exists():
            path.unlink()
        rows += split_rows
        kept = [row for row in split_rows if row["status"] != "failed"]
        splits[split] = {
            "assigned": len(videos),
            "examples": len(kept),
            "failed": len(split_rows) - len(kept),
            "assigned_per_class": _count([{"label": v.label} for v in videos], "label"),
            "examples_per_class": _count(kept, "label"),
            # source-video groups assigned to the split (a video without a group: its id)
            "num_groups": len({v.split_group for v in videos}),
            "groups": sorted({v.split_group for v in videos}),
        }
    failed = [row for row in rows if row["status"] == "failed"]
    cache_corrupt = [row for row in rows if row["status"] == "cache_corrupt"]
    truncated = [
        row
        for row in rows
        if row.get("decoded") is not None and is_truncated(row["decoded"], row.get("expected"))
    ]
    statuses = _count(rows, "status")
    summary = {
        "listed": len(listing.videos) + sum(p["status"] == "missing" for p in listing.problems),
        "missing": sum(p["status"] == "missing" for p in listing.problems),
        "skipped_files": sum(p["status"] == "skipped" for p in listing.problems),
        "failed": len(failed),
        "examples": sum(s["examples"] for s in splits.values()),
        "embedded": statuses.get("embedded", 0) + len(cache_corrupt),
        "from_cache": statuses.get("cached", 0),
        "decoded": statuses.get("decoded", 0),  # clip configs: frames stored, nothing embedded
        "cache_corrupt": len(cache_corrupt),  # unreadable entries moved aside, re-embedded
        # far fewer frames decode than the container lists: kept ("warn") or failed ("fail")
        "truncated": len(truncated),
        "examples_per_split": {split: s["examples"] for split, s in splits.items()},
    }
    report = {
        **header,
        "summary": summary,
        "split_rule": SPLIT_RULE,
        "split_notes": list(notes),
        "splits": splits,
        "source": listing.source,
        "failed": failed,
        "cache_corrupt": cache_corrupt,
        "truncated": truncated,
        # every listed video that reached a split: status, decoded / expected frame counts
        "videos": sorted(rows, key=lambda row: row["video_id"]),
        "missing": [p for p in listing.problems if p["status"] == "missing"],
        "skipped": [p for p in listing.problems if p["status"] == "skipped"],
    }
    # No temp file needed: this folder is TFDS' temporary one until the dataset is complete.
    (folder / REPORT_JSON).write_text(json.dumps(report, indent=1))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=REPORT_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    kept_truncated = [row for row in truncated if row["status"] not in ("failed", "cache_corrupt")]
    writer.writerows(
        failed + cache_corrupt + kept_truncated + report["missing"] + report["skipped"]
    )
    (folder / REPORT_CSV).write_text(table.getvalue())
    return summary


def format_summary(name: str, summary: Mapping[str, Any], folder: os.PathLike | str) -> str:
    """One line: examples per split, failures, missing videos, cache use, where the report is."""
    per_split = ", ".join(f"{k} {v}" for k, v in summary["examples_per_split"].items())
    corrupt = summary.get("cache_corrupt", 0)
    moved = f" ({corrupt} unreadable cache entries moved aside)" if corrupt else ""
    truncated = summary.get("truncated", 0)
    short = f", {truncated} truncated (far fewer frames decode than listed)" if truncated else ""
    if summary.get("decoded"):  # a clip config: no embedder, no cache
        work = f"{summary['decoded']} clips decoded"
    else:
        work = f"{summary['embedded']} embedded{moved}, {summary['from_cache']} from cache"
    return (
        f"{name}: {summary['examples']} examples ({per_split}); {summary['failed']} failed to "
        f"decode{short}, {summary['missing']} missing, {summary['skipped_files']} files skipped; "
        f"{work}; report: {pathlib.Path(folder) / REPORT_JSON}"
    )
