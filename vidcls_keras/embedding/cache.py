"""The embedding cache: per-video embeddings on disk, keyed by file content, frames and embedder.

A build killed halfway and started again embeds only what is missing; entries are written
atomically (`vidcls_keras.files.atomic_write_bytes`), and an entry or cache folder made by other
weights than the requested embedder's is refused (`EmbedderMismatchError`), never mixed in. An
entry that cannot be read (truncated, a flipped byte: a cache is a cache) is moved aside as
`<entry>.corrupt-<UTC time>-<pid>` in its folder, with a WARNING, and reported to the caller
(`CorruptCacheEntryError`), which embeds the video again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import pathlib
import re
import time
import zipfile
import zlib
from typing import TYPE_CHECKING

import numpy as np

from vidcls_keras.errors import VidclsError
from vidcls_keras.files import CACHE_DIR_ENV, atomic_write_bytes, cache_dir

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

# Bump when what a cache entry holds, or how it is computed, changes: old entries are then unused.
CACHE_FORMAT = 2  # 2: fingerprints no longer hash Keras weight paths (per-process names)
# What reading a damaged `.npz` raises: zipfile (truncated: "File is not a zip file"; a flipped
# byte: "Bad CRC-32"), zlib, NumPy's header parser (ValueError), an absent array (KeyError).
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    ValueError,
    KeyError,
    EOFError,
    OSError,
    NotImplementedError,
)
_ENTRY_ARRAYS = ("embeddings", "frame", "frame_index", "spec", "fingerprint")


class EmbedderMismatchError(VidclsError):
    """A dataset or an embedding cache was made by a different embedder than the one requested."""


class CorruptCacheEntryError(VidclsError):
    """A cache entry could not be read; it was moved aside, so the video can be embedded again.

    Attributes:
        path: the entry's path.
        moved_to: where it now is (`<path>.corrupt-<UTC time>-<pid>`), or "" when another
            process had already moved or replaced it.
    """

    def __init__(self, message: str, path: str = "", moved_to: str = ""):
        super().__init__(message)
        self.path = path
        self.moved_to = moved_to


def default_cache_dir() -> pathlib.Path:
    """`vidcls_keras.files.cache_dir("embeddings")`: `~/.cache/vidcls_keras/embeddings` by default."""
    return cache_dir("embeddings")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, as hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def weights_fingerprint(model: keras.Model) -> str:
    """sha256 over `model.weights` in order: position, shape, dtype and float bytes of each.

    Not the weights' paths: Keras makes layer names unique per process ("residual_attention_2"
    once another encoder was built), and a fingerprint must match across processes (Beam
    workers, later builds reading the cache).
    """
    digest = hashlib.sha256()
    for index, weight in enumerate(model.weights):
        value = np.asarray(weight.value)
        digest.update(repr((index, value.shape, str(value.dtype))).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


@dataclasses.dataclass(frozen=True)
class EmbeddingCache:
    """Per-video embeddings on disk, keyed by file content, frame count and embedder.

    Layout: `<root>/<embedder slug>-<sha256(spec)[:12]>/embedder.json` (the spec, weights
    fingerprint and width that made every entry below it) and
    `.../frames<N>/<sha[:2]>/<sha256 of the video file>.npz` (`frames<N>-keyframes/` for the
    approximate keyframe sampling, so exact and approximate embeddings never mix) holding
    `embeddings` float32
    `(k, D)`, the stored `frame` uint8 `(224, 224, 3)` with its `frame_index`, and the spec and
    fingerprint again (checked on every read).

    Attributes:
        root: the cache folder (see `default_cache_dir`).
        spec: embedder spec.
        fingerprint: `embedder_fingerprint(spec)`.
        embed_dim: embedding width D.
    """

    root: str
    spec: str
    fingerprint: str
    embed_dim: int

    @property
    def folder(self) -> pathlib.Path:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.spec).strip("-")[:48]
        digest = hashlib.sha256(self.spec.encode()).hexdigest()[:12]
        return pathlib.Path(self.root) / f"v{CACHE_FORMAT}" / f"{slug}-{digest}"

    def check(self) -> None:
        """Creates `embedder.json`, or refuses a folder whose entries another embedder made.

        Raises:
            EmbedderMismatchError: same spec, different weights.
        """
        record = {"spec": self.spec, "fingerprint": self.fingerprint, "embed_dim": self.embed_dim}
        path = self.folder / "embedder.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored != record:
                raise EmbedderMismatchError(
                    f"embedding cache {self.folder} was made by embedder {stored}, but this "
                    f"build uses {record}: the weights behind {self.spec!r} changed. Delete "
                    f"{self.folder} or point ${CACHE_DIR_ENV} elsewhere (it holds an embeddings/ folder)."
                )
        else:
            atomic_write_bytes(path, json.dumps(record, indent=1).encode())

    def entry_path(
        self, content_sha256: str, num_frames: int, frame_sampling: str = "exact"
    ) -> pathlib.Path:
        """The entry of one video: keyed by its content, frame count and frame sampling."""
        frames = f"frames{num_frames}" + ("" if frame_sampling == "exact" else f"-{frame_sampling}")
        return self.folder / frames / content_sha256[:2] / f"{content_sha256}.npz"

    def load(
        self, content_sha256: str, num_frames: int, frame_sampling: str = "exact"
    ) -> dict[str, np.ndarray] | None:
        """The entry's arrays, or None when there is none.

        Raises:
            EmbedderMismatchError: the entry was written by another embedder (left in place).
            CorruptCacheEntryError: the entry could not be read, or holds arrays of the wrong
                shape; it has been moved aside (a WARNING names where), so the next `load`
                returns None and the caller embeds the video again.
        """
        path = self.entry_path(content_sha256, num_frames, frame_sampling)
        if not path.is_file():
            return None
        identity = None
        try:
            with open(path, "rb") as handle:
                identity = _identity(os.fstat(handle.fileno()))
                with np.load(handle) as npz:
                    entry = {name: npz[name] for name in _ENTRY_ARRAYS}
            stored_spec, stored_fingerprint = str(entry["spec"]), str(entry["fingerprint"])
        except _UNREADABLE as error:
            raise self._move_aside(path, identity, f"{type(error).__name__}: {error}") from error
        if stored_spec != self.spec or stored_fingerprint != self.fingerprint:
            raise EmbedderMismatchError(
                f"cache entry {path} was written by embedder {stored_spec!r} "
                f"({stored_fingerprint[:12]}), not {self.spec!r} "
                f"({self.fingerprint[:12]}): delete it."
            )
        embeddings, frame = entry["embeddings"], entry["frame"]
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embed_dim or frame.ndim != 3:
            raise self._move_aside(
                path,
                identity,
                f"embeddings of shape {embeddings.shape}, frame of shape {frame.shape}; "
                f"expected (k, {self.embed_dim}) and (224, 224, 3)",
            )
        return entry

    def _move_aside(
        self, path: pathlib.Path, identity: tuple[int, int] | None, why: str
    ) -> CorruptCacheEntryError:
        """Renames an unreadable entry to `<entry>.corrupt-<UTC time>-<pid>`, logs a WARNING.

        Not when another process has already moved or replaced it since it was read (atomic
        writes give a new entry a new inode): then nothing is moved.

        Returns:
            The error to raise, naming the entry, why it is unreadable and where it went.
        """
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
        moved_to = ""
        try:
            if identity is None or _identity(os.stat(path)) == identity:
                os.rename(path, target)
                moved_to = str(target)
        except FileNotFoundError:  # moved aside by another build between our read and now
            pass
        where = f"moved to {moved_to}" if moved_to else "already moved or replaced by another build"
        message = f"embedding cache entry {path} is unreadable ({why}): {where}"
        logger.warning("%s; the video is embedded again.", message)
        return CorruptCacheEntryError(message, str(path), moved_to)

    def save(
        self,
        content_sha256: str,
        num_frames: int,
        embeddings: np.ndarray,
        frame: np.ndarray,
        index: int,
        frame_sampling: str = "exact",
    ) -> None:
        """Stores an entry atomically (a reader sees the whole entry or none)."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            embeddings=embeddings,
            frame=frame,
            frame_index=np.int64(index),
            spec=np.str_(self.spec),
            fingerprint=np.str_(self.fingerprint),
        )
        atomic_write_bytes(
            self.entry_path(content_sha256, num_frames, frame_sampling), buffer.getvalue()
        )
