"""`_compat.keras_backend`: Keras reloaded on JAX when TensorFlow imported it first (tfds build)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from vidcls_keras.embedding import embedders

EMBEDDER = "tiny:0"


def test_canary_tensorflow_still_imports_keras():
    """The day this fails, `import tensorflow` no longer loads Keras on TensorFlow before us:
    delete vidcls_keras/_compat/keras_backend.py and its call in embedding/embedders.py."""
    script = "import sys, tensorflow\nprint('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "True", "upstream changed: the workaround may go"


@pytest.mark.slow
def test_embedder_runs_on_jax_when_tensorflow_imported_keras_first():
    """Under `tfds build`, `import tensorflow` loads Keras with its default backend (tensorflow)
    before any vidcls_keras code runs; the embedder must still run on JAX, bit for bit as here."""
    script = (
        "import tensorflow\n"  # as the tfds CLI does, before importing the builder
        "import numpy as np\n"
        "from vidcls_keras.embedding import embedders\n"
        "embedder = embedders.load_embedder('tiny:0')\n"
        "import keras\n"  # the module now in sys.modules
        "pixels = np.random.default_rng(1).normal(size=(2, 224, 224, 3)).astype(np.float32)\n"
        "print(keras.backend.backend(), embedder.embed(pixels).tobytes().hex())\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    backend, embeddings = result.stdout.split()[-2:]
    pixels = np.random.default_rng(1).normal(size=(2, 224, 224, 3)).astype(np.float32)
    assert backend == "jax"
    assert embeddings == embedders.load_embedder(EMBEDDER).embed(pixels).tobytes().hex()
