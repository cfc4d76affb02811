"""Frame embedders by spec, loaded once per process (and per Beam worker), with their fingerprint.

The datasets name their embedder by spec (`vidcls_keras.clip.specs`); a build and its workers load
it here, once, and check its weights by fingerprint (`cache.weights_fingerprint`), so that caches
and datasets never mix embeddings of different weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidcls_keras._compat.keras_backend import use_project_keras_backend
from vidcls_keras.clip.specs import EMBEDDER_ENV
from vidcls_keras.embedding.cache import weights_fingerprint
from vidcls_keras.errors import VidclsError

if TYPE_CHECKING:
    from vidcls_keras.clip.image import FrameEmbedder

_EMBEDDERS: dict[str, FrameEmbedder] = {}  # spec -> embedder, one per process
_FINGERPRINTS: dict[str, str] = {}


class EmbedderLoadError(VidclsError):
    """The embedder a spec names cannot be loaded (missing folder, bad checkpoint, no network)."""


def load_embedder(spec: str) -> FrameEmbedder:
    """The `FrameEmbedder` for `spec`, loaded on first use and kept for the process's lifetime.

    Keras is switched to the project's backend first (`tfds build` imports it on TensorFlow).

    Raises:
        EmbedderLoadError: it cannot be loaded (the message names the spec and how to choose
            another).
    """
    if spec not in _EMBEDDERS:
        use_project_keras_backend()
        from vidcls_keras.clip.image import FrameEmbedder

        try:
            embedder = FrameEmbedder.from_spec(spec)
        except (OSError, ValueError) as error:
            raise EmbedderLoadError(
                f"embedder {spec!r} could not be loaded: {str(error).rstrip('.')}. Choose the embedder with "
                f"${EMBEDDER_ENV} (or the builder's `embedder=` argument), e.g. "
                f"{EMBEDDER_ENV}=tiny:0 for a quick test or "
                f"{EMBEDDER_ENV}=preset:/path/to/preset_dir."
            ) from error
        # Also under its canonical spec (relative directories made absolute), which the
        # dataset records and the per-video jobs ask for.
        _EMBEDDERS[spec] = _EMBEDDERS[embedder.spec] = embedder
    return _EMBEDDERS[spec]


def embedder_fingerprint(spec: str) -> str:
    """sha256 over the image encoder's weights (shapes and float32 bytes), cached per process.

    Two embedders with the same spec but different weights (a preset folder that was
    re-converted, say) get different fingerprints, so caches and datasets cannot mix them.
    """
    if spec not in _FINGERPRINTS:
        _FINGERPRINTS[spec] = weights_fingerprint(load_embedder(spec).image_encoder)
    return _FINGERPRINTS[spec]
