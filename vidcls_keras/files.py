"""Where the project keeps files, and how it writes them so that nothing half-written is ever read.

One place for both: every cache folder comes from `cache_dir`, every file another process or a
later run may read is written with `atomic_write_bytes` (a unique temp file beside the target,
then `os.replace`, so a reader sees the whole file or none, and a killed run leaves no partial one).
Every output folder a command is given (`--out`, `--output-dir`, `--export`) is made with
`ensure_dir`, which turns a path that cannot be a folder into an `OutputPathError` naming the flag.
"""

from __future__ import annotations

import os
import pathlib
import uuid

from vidcls_keras.errors import VidclsError

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


class OutputPathError(VidclsError):
    """An output folder that cannot be made: it, or a folder above it, is a file (or unwritable)."""


def ensure_dir(
    path: str | os.PathLike, what: str = "--out", *, given: str | os.PathLike | None = None
) -> pathlib.Path:
    """Makes the folder `path` (and its parents) unless it exists; nothing else is touched.

    Args:
        path: the folder to make.
        what: the flag (or argument) the user gave it with, named in the error.
        given: the value the user typed, when `path` was derived from it (the folder of
            `--export OUT.keras`); default `path`.

    Returns:
        `path`, as a `pathlib.Path`.

    Raises:
        OutputPathError: `path` or one of the folders above it is a file (or a broken link), or
            the folder cannot be created (permissions, read-only file system); the message names
            `what`, the path and the component in the way.
    """
    path = pathlib.Path(path)
    shown = f"{what} {path if given is None else given}"
    try:
        # mkdir first, then diagnose: checking before creating races with another thread or
        # process creating the same folder (a download's staging folder, say).
        path.mkdir(parents=True, exist_ok=True)
        return path
    except (FileExistsError, NotADirectoryError) as error:
        in_the_way = _file_in_the_way(path)
        if in_the_way is None:  # gone again: report what mkdir said
            raise OutputPathError(
                f"{shown}: cannot create the folder ({error.strerror or error}); choose another "
                "path."
            ) from error
    except OSError as error:  # permissions, a read-only file system, a symlink loop
        raise OutputPathError(
            f"{shown}: cannot create the folder ({error.strerror or error}); choose a path "
            "you can write to."
        ) from error
    if in_the_way.is_symlink() and not in_the_way.exists():
        problem = f"{in_the_way} is a broken symbolic link (to {os.readlink(in_the_way)})"
    else:
        problem = f"{in_the_way} is a file"
    if in_the_way == path:
        problem += ", not a folder"
    else:
        problem += f", so the folder {path} cannot be made in it"
    raise OutputPathError(f"{shown}: {problem}; choose another path, or move {in_the_way} away.")


def _file_in_the_way(path: pathlib.Path) -> pathlib.Path | None:
    """The first of `path`'s folders, from the top, that exists but is not a folder; else None."""
    for component in [*reversed(path.parents), path]:
        if component.is_dir():
            continue
        if component.exists() or component.is_symlink():
            return component
        return None  # from here down nothing exists yet: mkdir makes it
    return None


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
