"""The embedding cache: per-video embeddings on disk, keyed by file content, frames and embedder.

A build killed halfway and started again embeds only what is missing; entries are written
atomically (`vidcls_keras.files.atomic_write_bytes`), and an entry or cache folder made by other
weights than the requested embedder's is refused (`EmbedderMismatchError`), never mixed in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
from typing import TYPE_CHECKING

import numpy as np

from vidcls_keras.errors import VidclsError
from vidcls_keras.files import CACHE_DIR_ENV, atomic_write_bytes, cache_dir

if TYPE_CHECKING:
    import keras

# Bump when what a cache entry holds, or how it is computed, changes: old entries are then unused.
CACHE_FORMAT = 2  # 2: fingerprints no longer hash Keras weight paths (per-process names)


class EmbedderMismatchError(VidclsError):
    """A dataset or an embedding cache was made by a different embedder than the one requested."""


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


@dataclasses.dataclass(frozen=True)
class EmbeddingCache:
    """Per-video embeddings on disk, keyed by file content, frame count and embedder.

    Layout: `<root>/<embedder slug>-<sha256(spec)[:12]>/embedder.json` (the spec, weights
    fingerprint and width that made every entry below it) and
    `.../frames<N>/<sha[:2]>/<sha256 of the video file>.npz` holding `embeddings` float32
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

    def entry_path(self, content_sha256: str, num_frames: int) -> pathlib.Path:
        return self.folder / f"frames{num_frames}" / content_sha256[:2] / f"{content_sha256}.npz"

    def load(self, content_sha256: str, num_frames: int) -> dict[str, np.ndarray] | None:
        """The entry's arrays, or None when there is none.

        Raises:
            EmbedderMismatchError: the entry was written by another embedder.
        """
        path = self.entry_path(content_sha256, num_frames)
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            with np.load(handle) as npz:
                entry = {name: npz[name] for name in npz.files}
        if str(entry["spec"]) != self.spec or str(entry["fingerprint"]) != self.fingerprint:
            raise EmbedderMismatchError(
                f"cache entry {path} was written by embedder {str(entry['spec'])!r} "
                f"({str(entry['fingerprint'])[:12]}), not {self.spec!r} "
                f"({self.fingerprint[:12]}): delete it."
            )
        return entry

    def save(
        self,
        content_sha256: str,
        num_frames: int,
        embeddings: np.ndarray,
        frame: np.ndarray,
        index: int,
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
        atomic_write_bytes(self.entry_path(content_sha256, num_frames), buffer.getvalue())
