"""One fine-tuning training step (issue 15): clips/s, memory and share of the matmul ceiling.

    python bench/finetune_step.py                      # ViT-B/32 widths, batch 4 x 16 frames
    python bench/finetune_step.py --bf16               # on a GPU: mixed bfloat16
    python bench/finetune_step.py --tower tiny --batch 2 --frames 2 --steps 2   # smoke run

For each way of training (`models.finetune`), one jitted training step as Keras's JAX trainer
runs it (`stateless_call` forward, `jax.value_and_grad`, `FineTuneAdam.stateless_apply`, global
norm clipping), on random clips of CLIP-normalised pixels and a tower with random weights at the
full ViT-B/32 widths (no download):

- `features`: the transformer head alone on precomputed frame embeddings (B, T, 512), what
  training on a frozen tower's features costs once the features are cached;
- `frozen`: the tower's forward pass on every step, only the head trains;
- `lora`: rank-8 adapters on the tower's Dense layers + the head;
- `last2`: the last 2 residual blocks (+ final norm, projection) + the head;
- `full`: everything.

Printed per row: trainable parameters, step time (median of `--steps` after one warm-up call),
clips/s, the step's FLOPs as XLA counts them for the compiled step
(`jax.jit(step).lower(...).compile().cost_analysis()["flops"]`: forward + backward + update),
their rate as a share of the fp32 (or bf16) matmul ceiling (a jitted square matmul, best of a few
calls, as bench/embed_throughput.py measures it), XLA's memory estimate for the step
(`memory_analysis()`: arguments + outputs + temporaries - aliased) and, on a GPU, the device's
peak bytes in use so far. LoRA's step time is also given against the `frozen` step.

The machine is shared while the project is developed: figures are rough, rerun on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from vidcls_keras.clip import image as clip  # noqa: E402
from vidcls_keras.models import finetune  # noqa: E402
from vidcls_keras.models.transformer import transformer_classifier  # noqa: E402

NUM_CLASSES = 10  # the guide's UCF101 subset
MODES = {
    "features": None,
    "frozen": {"lora_rank": 0},
    "lora": {"lora_rank": 8},
    "last2": {"unfreeze_blocks": 2},
    "full": {"full": True},
}


def matmul_gflops(size: int, dtype, calls: int = 5) -> float:
    """Best GFLOP/s of a jitted `(size, size) @ (size, size)` matmul in `dtype`."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((size, size)), dtype)
    b = jnp.asarray(rng.standard_normal((size, size)), dtype)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def build(mode: str, tower: keras.Model, frames: int) -> keras.Model:
    """The model a mode trains (`features`: the head alone, on embeddings)."""
    if MODES[mode] is None:
        return transformer_classifier(NUM_CLASSES, frames, embed_dim=tower.output_dim)
    return finetune.finetune_classifier(NUM_CLASSES, frames, encoder=tower, **MODES[mode])


def train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """Keras's JAX training step, written out so that it can be lowered and costed."""
    loss_object = keras.losses.CategoricalCrossentropy(from_logits=True)

    def loss_fn(trainable, non_trainable, inputs, labels):
        logits, non_trainable = model.stateless_call(
            trainable, non_trainable, inputs, training=True
        )
        return loss_object(labels, logits), non_trainable

    gradient_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(trainable, non_trainable, optimizer_variables, inputs, labels):
        (loss, non_trainable), gradients = gradient_fn(trainable, non_trainable, inputs, labels)
        trainable, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, gradients, trainable
        )
        return trainable, non_trainable, optimizer_variables, loss

    return jax.jit(step, donate_argnums=(0, 1, 2))


def bench_mode(mode: str, tower: keras.Model, args, rng) -> dict:
    model = build(mode, tower, args.frames)
    optimizer = finetune.FineTuneAdam(
        learning_rate=1e-3, tower_learning_rate_multiplier=1e-2, global_clipnorm=1.0
    )
    optimizer.build(model.trainable_variables)
    labels = jax.nn.one_hot(rng.integers(0, NUM_CLASSES, args.batch), NUM_CLASSES)
    if MODES[mode] is None:
        inputs = {"frames": rng.standard_normal((args.batch, args.frames, tower.output_dim))}
    else:
        size = tower.input_resolution
        inputs = {"pixels": rng.standard_normal((args.batch, args.frames, size, size, 3))}
    inputs["padding_mask"] = np.ones((args.batch, args.frames), bool)
    inputs = {
        key: jnp.asarray(value, "float32" if value.dtype != bool else bool)
        for key, value in inputs.items()
    }
    state = [
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    ]
    step = train_step(model, optimizer)
    compiled = step.lower(*state, inputs, labels).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost.get("flops", float("nan")))
    memory = compiled.memory_analysis()
    step_bytes = None
    if memory is not None:
        step_bytes = (
            memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            + memory.temp_size_in_bytes
            - memory.alias_size_in_bytes
        )
    times = []
    for index in range(args.steps + 1):  # the first call is the warm-up
        start = time.perf_counter()
        *state, loss = compiled(*state, inputs, labels)
        loss.block_until_ready()
        if index:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "mode": mode,
        "trainable": finetune.trainable_parameter_count(model),
        "seconds": seconds,
        "clips_per_s": args.batch / seconds,
        "gflop": flops / 1e9,
        "step_gb": None if step_bytes is None else step_bytes / 1e9,
        "peak_gb": stats.get("peak_bytes_in_use", 0) / 1e9 or None,
        "loss": float(loss),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4, help="clips per step")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode")
    parser.add_argument("--tower", choices=("vit-b32", "tiny"), default="vit-b32")
    parser.add_argument("--modes", nargs="+", choices=tuple(MODES), default=list(MODES))
    parser.add_argument("--bf16", action="store_true", help="mixed_bfloat16 (a GPU's choice)")
    parser.add_argument("--matmul-size", type=int, default=2048)
    args = parser.parse_args(argv)

    if args.bf16:
        keras.config.set_dtype_policy("mixed_bfloat16")
    config = clip.VIT_B32_CONFIG if args.tower == "vit-b32" else clip.TINY_CONFIG
    tower = config.build()  # Keras's initial weights: random, no download
    dtype = jnp.bfloat16 if args.bf16 else jnp.float32
    ceiling = matmul_gflops(args.matmul_size, dtype)
    device = jax.devices()[0]
    print(
        f"device {device.platform} ({device.device_kind}), {os.cpu_count()} CPUs; tower "
        f"{args.tower} {config}; batch {args.batch} x {args.frames} frames; "
        f"{'mixed_bfloat16' if args.bf16 else 'float32'}; matmul ceiling {ceiling:.0f} GFLOP/s"
    )
    print("(shared machine: figures are rough)")
    rng = np.random.default_rng(0)
    rows = []
    header = (
        f"{'mode':9s} {'trainable':>11s} {'step s':>8s} {'clips/s':>8s} {'GFLOP':>9s} "
        f"{'ceiling':>8s} {'step GB':>8s} {'peak GB':>8s}"
    )
    print(header)
    for mode in args.modes:
        row = bench_mode(mode, tower, args, rng)
        rows.append(row)
        share = row["gflop"] / row["seconds"] / ceiling
        step_gb = "-" if row["step_gb"] is None else f"{row['step_gb']:.2f}"
        peak_gb = "-" if row["peak_gb"] is None else f"{row['peak_gb']:.2f}"
        print(
            f"{mode:9s} {row['trainable']:11,d} {row['seconds']:8.3f} {row['clips_per_s']:8.2f} "
            f"{row['gflop']:9.1f} {share:8.2f} {step_gb:>8s} {peak_gb:>8s}",
            flush=True,
        )
    by_mode = {row["mode"]: row for row in rows}
    if "lora" in by_mode and "frozen" in by_mode:
        lora, frozen = by_mode["lora"], by_mode["frozen"]
        print(
            f"LoRA rank 8: {lora['trainable']:,d} trainable parameters "
            f"({lora['trainable'] - frozen['trainable']:,d} in adapters); step "
            f"{lora['seconds'] / frozen['seconds']:.2f}x the frozen tower's"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
