"""A dataset split's video vectors as one table, for indexing the videos elsewhere.

    index = video_embeddings.split_video_index("youtube_videos/frames100", "all")
    write_embedding_table(index, "exports/", "youtube_videos_frames100-all")

writes `exports/youtube_videos_frames100-all.npz` and, when `pyarrow` is importable,
`exports/youtube_videos_frames100-all.parquet`, one row per video:

| column | `.npz` array | Parquet column |
|---|---|---|
| id | `ids` `(N,)` str | `id` string |
| label | `labels` `(N,)` str (class name), `label_index` `(N,)` int64 | `label` string, `label_index` int64 |
| title | `titles` `(N,)` str ("" when unknown) | `title` string |
| vector | `vectors` float32 `(N, D)`, unit rows | `vector` fixed_size_list<float32>[D] |

and what the vectors are: `source` (`"mean-pooled frames"` or the aligned run's folder),
`embedder_spec`, `split`, `label_names` (npz arrays; Parquet schema metadata, `label_names` as
JSON). Load them with `numpy.load(path)` or `pandas.read_parquet(path)` / `pyarrow.parquet`.
Files are written atomically.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import re

import numpy as np

from vidcls_keras import files
from vidcls_keras.retrieval.index import VideoIndex


def table_stem(dataset: str, split: str) -> str:
    """A file name stem for a dataset split: `youtube_videos/frames100`, `all` ->
    `youtube_videos_frames100-all` (anything but letters, digits, `.` and `-` becomes `_`)."""

    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_") or "dataset"

    return f"{slug(dataset)}-{slug(split)}"


def parquet_available() -> bool:
    """Whether `pyarrow` can be imported (the Parquet table is written only then)."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _npz_bytes(index: VideoIndex) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.asarray(index.video_ids, dtype=str),
        labels=np.asarray([index.label_names[int(label)] for label in index.labels], dtype=str),
        label_index=np.asarray(index.labels, np.int64),
        titles=np.asarray(index.titles, dtype=str),
        vectors=np.asarray(index.embeddings, np.float32),
        label_names=np.asarray(index.label_names, dtype=str),
        source=np.str_(index.source),
        embedder_spec=np.str_(index.embedder_spec),
        split=np.str_(index.split),
    )
    return buffer.getvalue()


def _parquet_bytes(index: VideoIndex) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.asarray(index.embeddings, np.float32)
    table = pa.table(
        {
            "id": pa.array([str(value) for value in index.video_ids], pa.string()),
            "label": pa.array(
                [index.label_names[int(label)] for label in index.labels], pa.string()
            ),
            "label_index": pa.array(np.asarray(index.labels, np.int64)),
            "title": pa.array([str(value) for value in index.titles], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1)), vectors.shape[1]
            ),
        }
    ).replace_schema_metadata(
        {
            "source": index.source,
            "embedder_spec": index.embedder_spec,
            "split": index.split,
            "label_names": json.dumps(list(index.label_names)),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_embedding_table(
    index: VideoIndex,
    out_dir: str | os.PathLike,
    stem: str,
    *,
    parquet: bool | None = None,
) -> list[pathlib.Path]:
    """Writes `<out_dir>/<stem>.npz` and, if wanted and possible, `<out_dir>/<stem>.parquet`.

    Args:
        index: the videos (`split_video_index`'s mean-pooled or aligned-run vectors `(N, D)`).
        out_dir: the folder (made if missing).
        stem: the file name without suffix (`table_stem(dataset, split)`).
        parquet: True writes Parquet (pyarrow needed), False does not; None: when pyarrow is
            importable.

    Returns:
        The paths written, `.npz` first.

    Raises:
        vidcls_keras.files.OutputPathError: `out_dir` cannot be a folder.
        ImportError: `parquet=True` without pyarrow.
    """
    out_dir = files.ensure_dir(out_dir, "--out")
    written = [files.atomic_write_bytes(out_dir / f"{stem}.npz", _npz_bytes(index))]
    if parquet is None:
        parquet = parquet_available()
    if parquet:
        written.append(files.atomic_write_bytes(out_dir / f"{stem}.parquet", _parquet_bytes(index)))
    return written
