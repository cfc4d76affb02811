"""A dataset split's retrieval table: CLIP4Clip's R@1/5/10, MdR, MnR per video embedding.

    rows = evaluate_retrieval("youtube_videos/frames100", "test", runs=["runs/aligned_lstm"])
    write_retrieval_table(rows, "runs/experiments")   # retrieval.csv + retrieval.md

For each source of video embeddings (the mean-pooled frames, `retrieval.index`, and each
aligned run's `video_embedding`, `retrieval.video_embeddings`), side by side, the metrics of
`retrieval.metrics` in both directions (text->video, video->text) for two kinds of queries:

- `class prompts`: one text per class, the zero-shot prompt ensemble of the class name
  (`zeroshot.class_text_embeddings`, "a video about {label}." ...); text->video ranks the
  class's first relevant video (every video of the class is relevant);
- `titles`: each video's own `title` feature as its query, one relevant video per query, over the
  videos that have a title (all of them in `youtube_videos`; none in `video_folder`, where the
  rows are left out).

Texts are embedded once by the CLIP text tower of the dataset's image embedder, and scored
against every source: an aligned run's embeddings live in the same joint space (its width must
be the text tower's).
"""

from __future__ import annotations

import csv
import io
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from vidcls_keras import files
from vidcls_keras.errors import VidclsError
from vidcls_keras.retrieval import metrics, zeroshot
from vidcls_keras.retrieval.index import (
    VideoIndex,
    class_name_query,
    load_video_index,
    resolve_text_embedder,
)
from vidcls_keras.retrieval.video_embeddings import has_video_embedding, run_video_index

RETRIEVAL_CSV_FILENAME = "retrieval.csv"
RETRIEVAL_MD_FILENAME = "retrieval.md"
CLASS_PROMPTS = "class prompts"
TITLES = "titles"
DIRECTIONS = {"text_to_video": "text→video", "video_to_text": "video→text"}
COLUMNS = (
    "source",
    "queries",
    "direction",
    *metrics.METRIC_NAMES,
    "num_queries",
    "num_candidates",
)


def _titled(index: VideoIndex) -> np.ndarray:
    """Positions of the videos with a non-empty title."""
    return np.flatnonzero(np.char.str_len(np.char.strip(index.titles.astype(str))) > 0)


def source_rows(
    index: VideoIndex,
    class_embeddings: np.ndarray,
    title_embeddings: np.ndarray | None = None,
    *,
    ties: metrics.Ties = "optimistic",
) -> list[dict[str, Any]]:
    """The table rows of one source of video embeddings.

    Args:
        index: the videos (`embeddings` `(N, J)`), from `load_video_index` or `run_video_index`.
        class_embeddings: float `(C, J)`, one text per class in label order.
        title_embeddings: float `(T, J)`, the titles of `index`'s titled videos in index order
            (`title_texts(index)`); None or T < 2 leaves the title rows out.
        ties: as `metrics.ranks_of_targets`.

    Returns:
        Dicts with the keys of `COLUMNS`: `source` (`index.source`), `queries`
        (`CLASS_PROMPTS` or `TITLES`), `direction` ("text→video" / "video→text") and the metrics.
    """
    results = {
        CLASS_PROMPTS: metrics.class_prompt_retrieval(
            index.embeddings, index.labels, class_embeddings, ties=ties
        )
    }
    if title_embeddings is not None and len(title_embeddings) >= 2:
        titled = _titled(index)
        results[TITLES] = metrics.title_retrieval(
            index.embeddings[titled], title_embeddings, ties=ties
        )
    rows = []
    for queries, by_direction in results.items():
        for direction, values in by_direction.items():
            rows.append(
                {
                    "source": index.source,
                    "queries": queries,
                    "direction": DIRECTIONS[direction],
                    **{name: values[name] for name in (*metrics.METRIC_NAMES, "num_queries")},
                    "num_candidates": values["num_candidates"],
                }
            )
    return rows


def title_texts(index: VideoIndex) -> list[str]:
    """The non-empty titles of `index`'s videos, in index order."""
    return [str(index.titles[position]).strip() for position in _titled(index)]


def evaluate_retrieval(
    dataset: str,
    split: str = "test",
    data_dir: str | None = None,
    *,
    runs: Sequence[str | os.PathLike] = (),
    text_embedder: Any = None,
    templates: Sequence[str] = zeroshot.DEFAULT_TEMPLATES,
    include_mean_pooled: bool = True,
    ties: metrics.Ties = "optimistic",
) -> list[dict[str, Any]]:
    """The retrieval table of a split: mean-pooled frames and each aligned run, side by side.

    Args:
        dataset: TFDS name, `"name"` or `"name/config"`.
        split: split name or TFDS split expression.
        data_dir: TFDS data_dir (None: TFDS' default).
        runs: aligned runs' folders (heads with a "video_embedding" layer).
        text_embedder: a `TextEmbedder`, a spec, or None for the dataset's recorded embedder.
        templates: the class prompt templates (`{label}` = the class name, underscores as
            spaces).
        include_mean_pooled: add the mean-pooled frame embeddings' rows (first).
        ties: as `metrics.ranks_of_targets`.

    Returns:
        `source_rows` of each source, concatenated.

    Raises:
        VidclsError: the dataset cannot be read, the text tower cannot be loaded, a run gives no
            video embedding or one of another width than the texts.
    """
    mean_pooled = load_video_index(dataset, split, data_dir)
    embedder = resolve_text_embedder(text_embedder, mean_pooled)
    labels = [class_name_query(name) for name in mean_pooled.label_names]
    class_embeddings = zeroshot.class_text_embeddings(embedder, labels, templates)
    titles = title_texts(mean_pooled)
    title_embeddings = embedder.embed(titles) if len(titles) >= 2 else None
    sources = [mean_pooled] if include_mean_pooled else []
    for run in runs:
        index = run_video_index(run, dataset, split, data_dir)
        if not np.array_equal(index.video_ids, mean_pooled.video_ids):
            raise VidclsError(f"{run}: the split's videos came in another order; rerun.")
        sources.append(index)
    rows = []
    for index in sources:
        rows += source_rows(index, class_embeddings, title_embeddings, ties=ties)
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def retrieval_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (R@k in percent, ranks 1-based), one line per row."""
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" if name in COLUMNS[:3] else "---:" for name in COLUMNS) + "|"
    lines = [header, rule]
    lines += ["| " + " | ".join(_cell(row[name]) for name in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


EXPLANATION = (
    "CLIP4Clip's retrieval metrics: R@k = % of queries whose relevant item ranks in the top k, "
    "MdR / MnR = median / mean rank (1-based; ties ranked optimistically, as CLIP4Clip). "
    "`class prompts`: one prompt ensemble per class; text→video ranks the class's first relevant "
    "video, video→text ranks the class texts (with ≤ 5 classes R@5 is 100 by construction). "
    "`titles`: each video's own title is the query for that video (one relevant video)."
)


def write_retrieval_table(
    rows: Sequence[dict[str, Any]], output_dir: str | os.PathLike, *, heading: str = ""
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes `retrieval.csv` and `retrieval.md` into `output_dir`, atomically.

    Args:
        rows: `evaluate_retrieval`'s rows.
        output_dir: the folder (made if missing).
        heading: a line put above the table in `retrieval.md` (dataset, split).

    Returns:
        The paths of the two files.
    """
    output_dir = files.ensure_dir(output_dir, "--output-dir")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows({name: row[name] for name in COLUMNS} for row in rows)
    csv_path = files.atomic_write_text(output_dir / RETRIEVAL_CSV_FILENAME, buffer.getvalue())
    text = "\n\n".join(part for part in ("# Retrieval", heading, EXPLANATION) if part)
    md_path = files.atomic_write_text(
        output_dir / RETRIEVAL_MD_FILENAME, f"{text}\n\n{retrieval_markdown(rows)}\n"
    )
    return csv_path, md_path


def _relative(path: str, parent: str | os.PathLike) -> str:
    try:
        return pathlib.Path(path).resolve().relative_to(pathlib.Path(parent).resolve()).as_posix()
    except ValueError:
        return path


def experiments_retrieval(
    dataset: str,
    data_dir: str | None,
    run_dirs: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    results_md: str | os.PathLike | None = None,
    split: str = "test",
) -> list[dict[str, Any]]:
    """The experiments sweep's retrieval table: mean-pooled frames + each aligned run present.

    Keeps the runs of `run_dirs` whose head has a "video_embedding" layer, writes
    `retrieval.csv` / `retrieval.md` into `output_dir` and appends a "Retrieval" section to
    `results_md` (when given and present). A table that cannot be computed (no embedder
    recorded, a text tower that cannot be loaded, ...) does not stop the sweep: the section says
    why and no rows are returned.

    Returns:
        The rows (see `evaluate_retrieval`), [] when it could not be computed.
    """
    aligned = [str(run) for run in run_dirs if has_video_embedding(run)]
    heading = f"Dataset `{dataset}`, split `{split}`."
    try:
        rows = evaluate_retrieval(dataset, split, data_dir, runs=aligned)
        for row in rows:  # a run as "<experiment>/seed_<k>", its folder in the sweep
            if row["source"] in aligned:
                row["source"] = _relative(row["source"], output_dir)
        write_retrieval_table(rows, output_dir, heading=heading)
        section = f"{heading} {EXPLANATION}\n\n{retrieval_markdown(rows)}"
    except VidclsError as error:
        rows = []
        section = f"Not computed: {error}"
    if results_md is not None and pathlib.Path(results_md).is_file():
        path = pathlib.Path(results_md)
        text = path.read_text(encoding="utf-8").rstrip("\n")
        files.atomic_write_text(path, f"{text}\n\n## Retrieval\n\n{section}\n")
    return rows
