"""Training steps/s of the YouTube-8M heads at the starter's shapes, as a share of the matmul ceiling.

Shapes (issue 11): 3,862 classes, features 1024 rgb + 128 audio = 1,152 wide;
`logistic` and `moe` on video level (one frame a video), batch 1024; `dbof` and `transformer` on
frame level, 300 frames a video, batch 128. Each model is built and compiled exactly as
`vidcls_keras.train` does for multi-label data (`trainer.compile_model(multilabel=True)`: Adam,
binary cross-entropy on logits) and `fit` on one in-memory batch of random features and multi-hot
labels (about 3 labels a video), repeated: the model's step alone, without the input pipeline
(bench/youtube8m_input.py measures that). A first epoch compiles; a second is timed.

The ceiling is the machine's fp32 matmul rate (a jitted square matmul, best of `--matmul-size`
and half of it, as bench/embed_throughput.py). A step's FLOPs are counted from the matmuls of the
forward pass, times 3 for training (forward, and two matmuls of the same size backward):

    logistic     2 B D C
    moe          2 B D C (2 M + 1)                      M = 2 mixtures (+ the dummy expert's gate)
    dbof         2 B (S D K + K H + H C (2 M + 1))      S = 30 sampled frames, K = 8192, H = 1024
    transformer  2 B T (4 D^2 + 2 T D + 2 D F) + 2 B D C   one layer, F = 2048

Run from the repository root (minutes on a GPU; far longer on 2 CPU cores):

    python bench/youtube8m_train.py
    python bench/youtube8m_train.py --tiny      # a smoke run at tiny sizes (seconds)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.training import trainer  # noqa: E402

FULL = dict(
    classes=3862,
    width=1024 + 128,
    video_batch=1024,
    frame_batch=128,
    frames=300,
    cluster=8192,
    hidden=1024,
    samples=30,
    intermediate=2048,
    steps=20,
)
TINY = dict(
    classes=40,
    width=24,
    video_batch=64,
    frame_batch=8,
    frames=12,
    cluster=64,
    hidden=16,
    samples=4,
    intermediate=32,
    steps=3,
)
MIXTURES = 2


def matmul_gflops(size: int, calls: int = 5) -> float:
    """Best GFLOP/s of a jitted `(size, size) @ (size, size)` float32 matmul."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((size, size), np.float32))
    b = jnp.asarray(rng.standard_normal((size, size), np.float32))
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_gflop(name: str, s: dict) -> float:
    """Training GFLOP of one step (3 x the forward matmuls; see the module docstring)."""
    c, d, mixture_width = s["classes"], s["width"], 2 * MIXTURES + 1
    if name == "logistic":
        forward = 2 * s["video_batch"] * d * c
    elif name == "moe":
        forward = 2 * s["video_batch"] * d * c * mixture_width
    elif name == "dbof":
        k, h = s["cluster"], s["hidden"]
        forward = 2 * s["frame_batch"] * (s["samples"] * d * k + k * h + h * c * mixture_width)
    else:
        t, f = s["frames"], s["intermediate"]
        forward = 2 * s["frame_batch"] * (t * (4 * d * d + 2 * t * d + 2 * d * f) + d * c)
    return 3 * forward / 1e9


def model_and_batch(name: str, s: dict):
    video_level = name in ("logistic", "moe")
    batch, frames = (s["video_batch"], 1) if video_level else (s["frame_batch"], s["frames"])
    arguments = dict(num_classes=s["classes"], max_frames=frames, embed_dim=s["width"])
    if name == "dbof":
        arguments |= dict(
            dbof_cluster_size=s["cluster"],
            dbof_hidden_size=s["hidden"],
            dbof_iterations=s["samples"],
        )
    if name == "transformer":
        arguments |= dict(
            intermediate_dim=s["intermediate"], num_heads=8 if s["width"] % 8 == 0 else 4
        )
    model = trainer.compile_model(build_model(name, **arguments), 1e-3, multilabel=True)
    rng = np.random.default_rng(0)
    inputs = {
        "frames": rng.standard_normal((batch, frames, s["width"]), np.float32),
        "padding_mask": np.ones((batch, frames), bool),
    }
    labels = (rng.random((batch, s["classes"])) < 3.0 / s["classes"]).astype(np.float32)
    return model, inputs, labels


def steps_per_second(name: str, s: dict) -> float:
    model, inputs, labels = model_and_batch(name, s)
    batches = tf.data.Dataset.from_tensors((inputs, labels)).repeat().prefetch(2)
    model.fit(batches, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)  # compile
    start = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=s["steps"], verbose=0, shuffle=False)
    return s["steps"] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["logistic", "moe", "dbof", "transformer"])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: shows the script runs")
    parser.add_argument("--steps", type=int, help="timed steps per model")
    parser.add_argument("--matmul-size", type=int, default=4096)
    args = parser.parse_args(argv)
    sizes = dict(TINY if args.tiny else FULL)
    if args.steps:
        sizes["steps"] = args.steps
    ceiling = max(matmul_gflops(args.matmul_size), matmul_gflops(args.matmul_size // 2))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax "
        f"{jax.__version__} on {jax.devices()[0].platform}; fp32 matmul ceiling {ceiling:.0f} GFLOP/s"
    )
    print(
        f"sizes: {sizes}" + ("  (tiny: a smoke run; the shares mean little)" if args.tiny else "")
    )
    for name in args.models:
        rate = steps_per_second(name, sizes)
        gflop = step_gflop(name, sizes)
        batch = sizes["video_batch"] if name in ("logistic", "moe") else sizes["frame_batch"]
        print(
            f"{name:12s} batch {batch:5d}: {rate:8.2f} steps/s = {rate * batch:9.0f} videos/s; "
            f"{gflop:8.3f} GFLOP a step = {rate * gflop / ceiling:.3f} of the matmul ceiling"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
