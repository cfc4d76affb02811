"""Throughput of the embedding pipeline (decode + preprocess + full-size ViT-B/32) on this machine.

    python bench/embed_throughput.py                          # 100 frames per shared clip
    python bench/embed_throughput.py --frames 16 --batch-sizes 32 --repeat 1   # quicker
    python bench/embed_throughput.py --dtype-policy mixed_bfloat16 --workers 1,4,8 --repeat 8  # GPU

Measures, in one run:

1. the matmul ceiling: a jitted JAX matmul of two large square matrices in the encoder's compute
   dtype (float32, or bfloat16 under `--dtype-policy mixed_bfloat16`), best of a few calls ->
   GFLOP/s; the ceiling in frames/s is that divided by the encoder's GFLOP per 224 px frame (8.82
   for ViT-B/32, computed from the sizes below). On a GPU, JAX's default precision lets a float32
   matmul run in TF32, which this ceiling and the encoder share;
2. the encoder alone (`FrameEmbedder.embed_batch`) at each `--batch-sizes`, in frames/s;
3. end to end: `vidcls_keras.embedding.pipeline.embed_videos`, the one path of the CLI, the
   dataset builders and predict (decoding and preprocessing in a thread, overlapped with the
   encoder; each video in `encoder_batch_size(--frames)`-frame calls), over the real
   clips in ../shared/data/videos, in frames/s, with each stage's share of the time and the
   ratio to the ceiling, once per `--workers` value (decoding threads; a comma list).

The weights are random (Keras' initializers): they cost exactly what CLIP's real weights cost.
Nothing here is asserted; it prints figures. The stages overlap, so their times (summed per
stage) add up to more than the wall time when the overlap works.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from vidcls_keras import clip  # noqa: E402
from vidcls_keras.embedding import pipeline  # noqa: E402
from vidcls_keras.video import VIDEO_EXTENSIONS  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = REPO_ROOT.parent / "shared" / "data" / "videos"


def encoder_gflop(config: clip.EncoderConfig) -> float:
    """Floating-point operations (multiply and add counted separately) per frame, in GFLOP.

    Patch embedding, per block the Q/K/V/output projections, attention scores and weighted sum,
    the 4x MLP, then the projection; norms and softmax are left out (under 1%).
    """
    tokens = (config.image_size // config.patch_size) ** 2 + 1
    width = config.width
    patch = (tokens - 1) * 3 * config.patch_size**2 * width
    block = 4 * tokens * width * width + 2 * tokens * tokens * width + 8 * tokens * width * width
    projection = width * config.embed_dim
    return 2 * (patch + config.num_layers * block + projection) / 1e9


class Timer:
    """Wall seconds and process CPU seconds (all threads) of a `with` block.

    On a machine shared with other jobs the wall time depends on the neighbours; the CPU time
    much less. `work / cpu_s * os.cpu_count()` estimates the rate on the same machine when
    quiet, if the work keeps every core busy (XLA's idle threads spin briefly, which counts).
    """

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wall_s = time.perf_counter() - self.wall
        self.cpu_s = time.process_time() - self.cpu


def matmul_gflops(size: int, calls: int = 5, dtype: str = "float32") -> tuple[float, float]:
    """GFLOP/s of a jitted `(size, size) @ (size, size)` matmul in `dtype`.

    Returns:
        (best wall-clock GFLOP/s, GFLOP per CPU-second over all calls).
    """
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((size, size), np.float32), dtype)
    b = jnp.asarray(rng.standard_normal((size, size), np.float32), dtype)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    best, cpu_s = float("inf"), 0.0
    for _ in range(calls):
        with Timer() as timer:
            matmul(a, b).block_until_ready()
        best, cpu_s = min(best, timer.wall_s), cpu_s + timer.cpu_s
    return 2 * size**3 / best / 1e9, calls * 2 * size**3 / cpu_s / 1e9


def encoder_frames_per_s(
    embedder: clip.FrameEmbedder, batch_size: int, calls: int
) -> tuple[float, float]:
    """Sustained (frames/s, frames per CPU-second) of the jitted encoder at one batch size."""
    embedder.batch_size = batch_size
    pixels = np.random.default_rng(0).standard_normal((batch_size, 224, 224, 3), np.float32)
    np.asarray(embedder.embed_batch(pixels))  # compile
    with Timer() as timer:
        outputs = [embedder.embed_batch(pixels) for _ in range(calls)]
        for output in outputs:
            np.asarray(output)
    return calls * batch_size / timer.wall_s, calls * batch_size / timer.cpu_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=pathlib.Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--frames", type=int, default=100, help="frames per video (default 100)")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the videos")
    parser.add_argument(
        "--batch-sizes", default="8,16,32,64", help="encoder-only batch sizes to measure"
    )
    parser.add_argument(
        "--workers", default="1", help="decoding threads, a comma list: one end-to-end run each"
    )
    parser.add_argument(
        "--dtype-policy",
        default="float32",
        help="Keras dtype policy of the encoder: float32 (default) or mixed_bfloat16 (GPU)",
    )
    parser.add_argument("--encoder-frames", type=int, default=128, help="frames per batch size")
    parser.add_argument("--matmul-size", type=int, default=4096)
    args = parser.parse_args(argv)

    paths = (
        sorted(path for path in args.videos.iterdir() if path.suffix.lower() in VIDEO_EXTENSIONS)
        if args.videos.is_dir()
        else []
    )
    if not paths:
        print(f"no videos in {args.videos} (pass --videos DIR)", file=sys.stderr)
        return 2

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    cores = os.cpu_count() or 1
    keras.config.set_dtype_policy(args.dtype_policy)
    compute_dtype = keras.dtype_policies.get(args.dtype_policy).compute_dtype
    gflop = encoder_gflop(clip.VIT_B32_CONFIG)
    gflops, gflop_per_cpu_s = max(
        matmul_gflops(args.matmul_size, dtype=compute_dtype),
        matmul_gflops(args.matmul_size // 2, dtype=compute_dtype),
    )
    ceiling, ceiling_per_cpu_s = gflops / gflop, gflop_per_cpu_s / gflop
    print(
        f"{compute_dtype} matmul ceiling: {gflops:.0f} GFLOP/s (best of {args.matmul_size} and "
        f"{args.matmul_size // 2} square) / {gflop:.2f} GFLOP per frame = {ceiling:.1f} frames/s"
        f"  [CPU time: {gflop_per_cpu_s:.0f} GFLOP per CPU-s x {cores} cores = "
        f"{ceiling_per_cpu_s * cores:.1f} frames/s]"
    )

    embedder = clip.FrameEmbedder(clip.VIT_B32_CONFIG.build())  # ViT-B/32 sizes, random weights
    print(f"encoder only (ViT-B/32, {args.dtype_policy}, jit):")
    for batch_size in [int(value) for value in args.batch_sizes.split(",") if value]:
        calls = max(1, -(-args.encoder_frames // batch_size))
        rate, per_cpu_s = encoder_frames_per_s(embedder, batch_size, calls)
        print(
            f"  batch {batch_size:3d}: {rate:6.1f} frames/s = {rate / ceiling:.2f} of ceiling"
            f"  [CPU time: {per_cpu_s * cores:6.1f} frames/s = "
            f"{per_cpu_s / ceiling_per_cpu_s:.2f} of ceiling]"
        )

    batch_size = pipeline.encoder_batch_size(args.frames)
    pipeline.embed_pixels(embedder, np.zeros((batch_size, 224, 224, 3), np.float32), args.frames)
    for workers in [int(value) for value in args.workers.split(",") if value]:
        stats = pipeline.PipelineStats()
        with Timer() as timer:
            for _ in pipeline.embed_videos(
                embedder, paths * args.repeat, args.frames, workers=workers, stats=stats
            ):
                pass
        rate, per_cpu_s = stats.frames / timer.wall_s, stats.frames / timer.cpu_s
        stages = {"decode + preprocess": stats.load_s, "embed": stats.embed_s}
        total = sum(stages.values())
        shares = ", ".join(
            f"{name} {seconds / total:.0%} ({seconds:.1f} s)" for name, seconds in stages.items()
        )
        print(
            f"end to end (embed_videos, batch {batch_size}, {workers} worker(s)): "
            f"{stats.videos} videos ({stats.failed} failed), {stats.frames} frames in "
            f"{timer.wall_s:.1f} s = {rate:.1f} frames/s = {rate / ceiling:.2f} of ceiling"
            f"  [CPU time: {per_cpu_s * cores:.1f} frames/s = "
            f"{per_cpu_s / ceiling_per_cpu_s:.2f} of ceiling]"
        )
        print(f"  stage time: {shares}; encoder waited {stats.wait_s:.1f} s for decoded videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
