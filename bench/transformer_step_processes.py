"""The transformer's training step against the original PyTorch head, each in its own process.

    python bench/transformer_step_processes.py                       # 5 rounds, 1 and 2 devices
    python bench/transformer_step_processes.py --rounds 9 --steps 30 --variants torch keras:threefry2x32 keras:philox4x32
    python bench/transformer_step_processes.py --variants torch keras:philox4x32 keras:philox4x32:1:arrays keras:philox4x32:1:step

In one process the idle thread pool of one framework slows the other and moves the ratio by
+-0.4, so here every measurement is a fresh Python process that builds one model, warms it up and
times `--steps` steps on a batch already in memory, then exits. A round runs every variant once,
in an order that rotates from round to round; the ratio of a Keras variant to PyTorch is taken
within each round (same neighbours on a shared machine), and the median over rounds is reported
with its spread (min-max).

Variants:
- `torch`: the original's PyTorch head (bench/train_throughput.py's re-creation: sinusoidal
  positions, `nn.TransformerEncoderLayer(512, 8)`, mean, linear, its padding mask), eager, Adam,
  `--torch-threads` threads, on `--torch-device` (cpu, or cuda on a GPU machine, where Keras
  runs on JAX's default device, the GPU); `torch:tf32` lets CUDA matmuls use TF32, as JAX's
  default precision does on the GPU.
- `keras:<rng>[:<devices>[:<feed>[:plain]]]`: the project's transformer compiled as
  `vidcls_keras.train` compiles it, under `jax.default_prng_impl(<rng>)` (the generator of
  `train --rng`), on `<devices>` CPU devices (2:
  `XLA_FLAGS=--xla_force_host_platform_device_count=2` and `keras.distribution.DataParallel`, as
  `train` runs on several devices), fed by `<feed>`:
  - `dataset` (the default): `fit` on a `tf.data` dataset repeating one in-memory batch, as
    `train` feeds `fit` (from a `tf.data` pipeline, whose autotuning thread
    `data.without_autotune_thread` turns off);
  - `arrays`: `fit` on NumPy arrays holding that batch repeated (Keras's own array adapter, no
    `tf.data` in the loop);
  - `step`: no `fit` loop: Keras's `train_step` jitted as `fit` jits it (state donated), called
    in a Python loop on the batch already on the device; the nearest to the PyTorch variant,
    which also times bare steps on a batch in memory (one device only).
  `plain` at the end computes every gradient as JAX differentiates keras_hub's layers, without
  the faster layouts of `vidcls_keras/_compat/xla_cpu.py` (to time what they give).
  Shapes: batch 16 x 100 frames x 512, 4 classes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BATCH, FRAMES, WIDTH, CLASSES = 16, 100, 512, 4
DEFAULT_VARIANTS = [
    "torch",
    "keras:threefry2x32",
    "keras:philox4x32",
    "keras:threefry2x32:2",
    "keras:philox4x32:2",
]


def run_torch(steps: int, threads: int, device: str = "cpu", tf32: bool = False) -> float:
    import torch
    import train_throughput  # bench/ is on sys.path when this file runs

    # PyTorch's default on CUDA is full float32 matmuls; JAX's lets XLA use TF32 ("torch:tf32").
    torch.backends.cuda.matmul.allow_tf32 = tf32

    def synchronize() -> None:
        if device != "cpu":
            torch.cuda.synchronize()

    step = train_throughput.torch_train_step("transformer", threads, device)
    for _ in range(3):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps / (time.perf_counter() - start)


FEEDS = ("dataset", "arrays", "step")


def run_keras(
    steps: int, rng_impl: str, devices: int, feed: str = "dataset", gradients: str = "fast"
) -> float:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import keras
    import tensorflow as tf

    from vidcls_keras import data
    from vidcls_keras._compat import xla_cpu
    from vidcls_keras.models import build_model
    from vidcls_keras.training import trainer

    if feed not in FEEDS:
        raise SystemExit(f"feed {feed!r} is not one of {FEEDS}")
    if gradients not in ("fast", "plain"):
        raise SystemExit(f"the fifth field is 'plain' or nothing, got {gradients!r}")
    if gradients == "plain":
        xla_cpu.use_fast_gradients = lambda: False
    if feed == "step" and devices > 1:
        raise SystemExit("the 'step' feed runs on one device only")
    if len(jax.devices()) != devices:
        raise SystemExit(f"asked for {devices} devices, JAX sees {jax.devices()}")
    if devices > 1:
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=keras.distribution.list_devices())
        )
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    batch = (
        {
            "frames": rng.standard_normal((BATCH, FRAMES, WIDTH), dtype=np.float32),
            "padding_mask": np.ones((BATCH, FRAMES), bool),
        },
        np.eye(CLASSES, dtype=np.float32)[np.arange(BATCH) % CLASSES],
    )
    # As train's batches (data.make_batches): tf.data's autotuning thread off, else fit returns
    # only when that thread next wakes (up to a minute after the last step).
    repeated = data.without_autotune_thread(tf.data.Dataset.from_tensors(batch).repeat())
    with jax.default_prng_impl(rng_impl):  # as vidcls_keras.train runs, from the start
        model = build_model("transformer", num_classes=CLASSES, max_frames=FRAMES, embed_dim=WIDTH)
        trainer.compile_model(model, trainer.TrainConfig().learning_rate)
        if feed == "dataset":
            model.fit(repeated, steps_per_epoch=3, epochs=1, verbose=0)  # compiles
            start = time.perf_counter()
            model.fit(repeated, steps_per_epoch=steps, epochs=1, verbose=0)
            jax.block_until_ready([variable.value for variable in model.trainable_variables])
            return steps / (time.perf_counter() - start)
        if feed == "arrays":
            inputs, labels = (
                {name: np.concatenate([value] * steps) for name, value in batch[0].items()},
                np.concatenate([batch[1]] * steps),
            )
            options = dict(batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
            model.fit(inputs, labels, steps_per_epoch=3, **options)  # compiles
            start = time.perf_counter()
            model.fit(inputs, labels, steps_per_epoch=steps, **options)
            jax.block_until_ready([variable.value for variable in model.trainable_variables])
            return steps / (time.perf_counter() - start)
        model.fit(repeated, steps_per_epoch=1, epochs=1, verbose=0)  # builds the optimizer
        state = tuple(
            [variable.value for variable in variables]
            for variables in (
                model.trainable_variables,
                model.non_trainable_variables,
                model.optimizer.variables,
                model.metrics_variables,
            )
        )
        train_step = jax.jit(model.train_step, donate_argnums=0)  # as Keras's JAX `fit` jits it
        on_device = jax.device_put(batch)
        for _ in range(3):  # compiles
            _, state = train_step(state, on_device)
        jax.block_until_ready(state)
        start = time.perf_counter()
        for _ in range(steps):
            _, state = train_step(state, on_device)
        jax.block_until_ready(state)
        return steps / (time.perf_counter() - start)


def worker(arguments: argparse.Namespace) -> None:
    kind, *rest = arguments.worker.split(":")
    if kind == "torch":
        rate = run_torch(
            arguments.steps, arguments.torch_threads, arguments.torch_device, rest == ["tf32"]
        )
    else:
        devices = int(rest[1]) if len(rest) > 1 else 1
        rate = run_keras(arguments.steps, rest[0], devices, *rest[2:4])
    print(json.dumps({"variant": arguments.worker, "steps_per_s": rate}))


def measure(variant: str, arguments: argparse.Namespace) -> float:
    environment = dict(os.environ)
    parts = variant.split(":")
    if parts[0] == "keras" and len(parts) > 2 and int(parts[2]) > 1:
        environment["XLA_FLAGS"] = (
            environment.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={parts[2]}"
        ).strip()
    python = arguments.torch_python if parts[0] == "torch" and arguments.torch_python else None
    command = [python or sys.executable, __file__, "--worker", variant]
    command += ["--steps", str(arguments.steps)]
    command += ["--torch-threads", str(arguments.torch_threads)]
    command += ["--torch-device", arguments.torch_device]
    completed = subprocess.run(command, env=environment, capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"{variant} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument(
        "--torch-device", default="cpu", help="cpu, or cuda on a GPU machine (Keras: JAX's default)"
    )
    parser.add_argument(
        "--torch-python",
        help="interpreter for the torch variant (default this one): e.g. Keras on Python 3.12's "
        "newer JAX against the same torch build as on 3.11",
    )
    parser.add_argument("--output", help="also write the figures as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
        return

    variants = arguments.variants
    rates: dict[str, list[float]] = {variant: [] for variant in variants}
    load_start = os.getloadavg()
    for round_index in range(arguments.rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            rates[variant].append(measure(variant, arguments))
        print(
            f"round {round_index + 1}: " + ", ".join(f"{v} {rates[v][-1]:.2f}" for v in variants),
            flush=True,
        )

    print(
        f"\n{arguments.rounds} rounds, {arguments.steps} steps per process, each variant in a "
        f"fresh process; load average {load_start} -> {os.getloadavg()} ({os.cpu_count()} CPUs)"
    )
    header = f"{'variant':24s} {'steps/s median':>15s} {'min-max':>12s} {'x torch median':>15s} {'min-max':>12s}"
    print(header + "\n" + "-" * len(header))
    report = {}
    torch_rates = np.array(rates["torch"]) if "torch" in rates else None
    for variant, values in rates.items():
        values_array = np.array(values)
        row = {"steps_per_s": values}
        line = (
            f"{variant:24s} {np.median(values_array):15.2f} "
            f"{values_array.min():5.2f}-{values_array.max():<6.2f}"
        )
        if torch_rates is not None and variant != "torch":
            ratios = values_array / torch_rates  # within each round
            row["ratio_to_torch"] = ratios.tolist()
            line += f" {np.median(ratios):15.2f} {ratios.min():5.2f}-{ratios.max():<6.2f}"
        report[variant] = row
        print(line)
    if arguments.output:
        with open(arguments.output, "w") as file:
            json.dump({"rounds": arguments.rounds, "steps": arguments.steps, **report}, file)


if __name__ == "__main__":
    main()
