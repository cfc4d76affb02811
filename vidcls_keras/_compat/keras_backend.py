"""Workaround: `tfds build` (and Beam workers) import Keras on TensorFlow before we can choose JAX.

`import tensorflow` imports Keras, so under `tfds build` Keras is loaded with its default backend,
TensorFlow, before `vidcls_keras/__init__.py` could set `KERAS_BACKEND=jax`. The embedder would then
run on TensorFlow and its embeddings differ in the last bits from a Python build's, or from the
cache's. `use_project_keras_backend` reloads Keras with the project's backend before any Keras
object of ours exists. Canary: tests/_compat/test_keras_backend.py fails the day TensorFlow stops
importing Keras; then this module and its callers can go.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
# Our modules that define Keras classes or build Keras objects at import time.
_KERAS_MODULES = (
    "vidcls_keras._compat.keras_cv",
    "vidcls_keras.clip.image",
    "vidcls_keras.clip.text",
    "vidcls_keras.clip.presets",
    "vidcls_keras.clip.convert_hf",
    "vidcls_keras.clip.tiny",
    "vidcls_keras.clip.tokenizer",
    "vidcls_keras.models",
)  # the builders' lookahead thread may get here too


def use_project_keras_backend() -> None:
    """Makes Keras run on the backend vidcls_keras chose (`$KERAS_BACKEND`, default jax).

    Raises:
        RuntimeError: vidcls_keras' CLIP code was already imported with the other backend.
    """
    with _LOCK:
        _switch()


def _switch() -> None:
    """Reloads Keras with `$KERAS_BACKEND` (default jax) when it runs on another backend."""
    import keras

    wanted = os.environ.get("KERAS_BACKEND", "jax")
    if keras.backend.backend() == wanted:
        return
    loaded = [name for name in _KERAS_MODULES if name in sys.modules]
    if loaded:  # too late: their classes hold the old Keras
        raise RuntimeError(
            f"Keras runs on {keras.backend.backend()!r}, not {wanted!r}: {loaded} were "
            "imported with it, and something imported "
            "keras (tensorflow does) before vidcls_keras. Import vidcls_keras first, or set "
            f"KERAS_BACKEND={wanted} in the environment."
        )
    logger.warning(
        "Keras was imported with the %r backend before vidcls_keras set KERAS_BACKEND=%s "
        "(tensorflow imports keras); reloading Keras with %r.",
        keras.backend.backend(),
        wanted,
        wanted,
    )
    with warnings.catch_warnings():
        # Keras warns that objects made before the switch are unusable: none exist yet.
        warnings.simplefilter("ignore", UserWarning)
        keras.config.set_backend(wanted)
