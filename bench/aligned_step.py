"""Training-step time of the text-aligned heads beside the heads they build on (issue 12).

    python bench/aligned_step.py                        # the original's shapes (a few minutes)
    python bench/aligned_step.py --max-frames 16 --embed-dim 64 --steps 3 --rounds 2  # quick

Shapes by default: batch 16 x 100 frames x 512 (CLIP ViT-B/32 frame embeddings), 4 classes, the
builders' default sizes, Adam 1e-3 and soft-target cross-entropy exactly as `vidcls_keras.train`
compiles them (`trainer.compile_model`). The aligned heads get 4 random unit class text
embeddings (their values do not change the cost). Each model is compiled and warmed up first;
then `--rounds` rounds each time `--steps` consecutive `train_on_batch` calls of every model in
turn (interleaved, so a busy neighbour on a shared machine slows all models alike), on the same
in-memory batch. Reported: the median milliseconds per step over the rounds, the aligned head's
ratio to its base head (the issue asks for at most 1.0), and the analytic training GFLOP/s (3 x
the forward pass's multiply-adds x 2, matmuls only) as a share of the machine's fp32 matmul
ceiling (a jitted square matmul, `bench/embed_throughput.py`).

The aligned heads *contain* their base head's trunk (the `lstm` / `transformer` head without its
logits layer) and add, per video, a D x D residual `Dense`, a masked mean, a D x J projection, two
L2 normalisations and a (J x C) cosine: a few hundred kFLOP against the trunk's GFLOPs, so they
should tie; what is measured is whether anything else (the nested model, the extra outputs)
costs time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from embed_throughput import matmul_gflops  # noqa: E402 (bench/ helper: the fp32 ceiling)

from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.training.trainer import compile_model  # noqa: E402

PAIRS = (("lstm", "aligned_lstm"), ("transformer", "aligned_transformer"))
NUM_CLASSES = 4


def forward_gflop(name: str, batch: int, frames: int, width: int) -> float:
    """Matmul FLOPs of one forward pass (multiply and add counted), builders' default sizes."""
    if name.endswith("lstm"):
        units = 256
        trunk = 2 * frames * 4 * units * (width + units) * 2  # two directions, 4 gates
        head = 2 * (2 * units) * (width if name.startswith("aligned") else NUM_CLASSES)
    else:
        intermediate = 2048
        per_frame = 2 * (4 * width * width + 2 * width * intermediate)  # QKVO + feed-forward
        attention = 2 * 2 * frames * width  # scores and weighted values, per frame
        trunk = frames * (per_frame + attention)
        head = 2 * width * (width if name.startswith("aligned") else NUM_CLASSES)
    if name.startswith("aligned"):
        head += 2 * width * width + 2 * width * NUM_CLASSES  # projection + cosines
    return batch * (trunk + head) / 1e9


def build(name: str, frames: int, width: int) -> keras.Model:
    arguments = dict(num_classes=NUM_CLASSES, max_frames=frames, embed_dim=width)
    if name == "transformer" or name == "aligned_transformer":
        arguments["num_heads"] = 8 if width % 8 == 0 else 1
    if name.startswith("aligned"):
        text = np.random.default_rng(1).normal(size=(NUM_CLASSES, width))
        arguments["class_text_embeddings"] = text / np.linalg.norm(text, axis=1, keepdims=True)
    keras.utils.set_random_seed(0)
    return compile_model(build_model(name, **arguments), learning_rate=1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-frames", type=int, default=100)
    parser.add_argument("--embed-dim", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10, help="steps per model per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--matmul-size", type=int, default=2048, help="for the fp32 ceiling")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    frames = rng.normal(size=(args.batch_size, args.max_frames, args.embed_dim)).astype("float32")
    lengths = rng.integers(args.max_frames // 2, args.max_frames + 1, size=args.batch_size)
    inputs = {"frames": frames, "padding_mask": np.arange(args.max_frames)[None] < lengths[:, None]}
    labels = np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, args.batch_size)]

    names = [name for pair in PAIRS for name in pair]
    models, compile_seconds = {}, {}
    for name in names:
        start = time.perf_counter()
        models[name] = build(name, args.max_frames, args.embed_dim)
        models[name].train_on_batch(inputs, labels)  # compiles
        models[name].train_on_batch(inputs, labels)
        compile_seconds[name] = time.perf_counter() - start

    per_step: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = models[name].train_on_batch(inputs, labels)
            np.asarray(loss)  # waits for the last step
            per_step[name].append((time.perf_counter() - start) / args.steps)
    ceiling, _ = matmul_gflops(args.matmul_size)

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"JAX {jax.__version__} on {jax.devices()[0].platform}, Keras {keras.__version__}; "
        f"batch {args.batch_size} x {args.max_frames} frames x {args.embed_dim}, "
        f"{args.rounds} rounds x {args.steps} steps; fp32 matmul ceiling {ceiling:.0f} GFLOP/s"
    )
    print(
        f"{'model':<22}{'ms/step':>9}{'min':>9}{'max':>9}{'vs base':>9}{'GFLOP/s':>9}"
        f"{'ceiling':>9}{'build+2':>9}"
    )
    for base, aligned in PAIRS:
        base_ms = statistics.median(per_step[base]) * 1e3
        for name in (base, aligned):
            times = [t * 1e3 for t in per_step[name]]
            median = statistics.median(times)
            gflops = 3 * forward_gflop(name, args.batch_size, args.max_frames, args.embed_dim)
            rate = gflops / (median / 1e3)
            print(
                f"{name:<22}{median:>9.1f}{min(times):>9.1f}{max(times):>9.1f}"
                f"{median / base_ms:>9.3f}{rate:>9.1f}{rate / ceiling:>9.3f}"
                f"{compile_seconds[name]:>8.1f}s"
            )


if __name__ == "__main__":
    main()
