"""vidcls_keras: classify videos by topic from CLIP frame embeddings (Keras 3, JAX backend).

The pipeline, one module per step, data flowing one way:

    video.py      video file            -> frames     (k, H, W, 3) uint8
    clip.py       frames                -> embeddings (k, 512) float32
    builders/     embeddings            -> TFDS examples
    data.py       TFDS split            -> tf.data batches (+ mixup)
    models/       batches               -> logits
    train.py      model                 -> .keras file + metrics

Keras reads its backend once, at import time. This package makes JAX the default by setting
``KERAS_BACKEND=jax`` before anything imports keras, unless the user already chose a backend.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# TensorFlow is only used for tf.data / TFDS here: keep it off any accelerator JAX wants and quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
