"""Where the project keeps files, and how it writes them so that nothing half-written is ever read.

One place for both: every cache folder comes from `cache_dir`, every file another process or a
later run may read is written with `atomic_write_bytes` (a unique temp file beside the target,
then `os.replace`, so a reader sees the whole file or none, and a killed run leaves no partial one).
"""

from __future__ import annotations

import os
import pathlib
import uuid

CACHE_DIR_ENV = "VIDCLS_CACHE_DIR"


def cache_root() -> pathlib.Path:
    """`$VIDCLS_CACHE_DIR`, else `$XDG_CACHE_HOME/vidcls_keras`, else `~/.cache/vidcls_keras`."""
    chosen = os.environ.get(CACHE_DIR_ENV, "").strip()
    if chosen:
        return pathlib.Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or "~/.cache"
    return pathlib.Path(base).expanduser() / "vidcls_keras"


def cache_dir(kind: str) -> pathlib.Path:
    """The cache folder for one kind of file: `cache_root() / kind`.

    Args:
        kind: `"embeddings"` (per-video frame embeddings), `"video_index"` (search indexes) or
            `"downloads"` (videos `predict` fetched).
    """
    return cache_root() / kind


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Writes `data` to `path` atomically (temp file beside it + `os.replace`).

    Returns:
        `path`, as a `pathlib.Path`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    """`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))
