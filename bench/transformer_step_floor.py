"""Where the transformer's training step goes on this machine, and the ceiling above it.

    python bench/transformer_step_floor.py [--rounds 5] [--steps 6]

The step: the original's transformer head at its shapes (batch 16 x 100 frames x 512, one
post-norm encoder layer, 8 heads, feed-forward 2048 with ReLU, dropout 0.1), forward, backward
and an optimizer update. Printed, in one process:

1. FLOP per step, as XLA counts it (`cost_analysis` of the compiled plain-JAX step below).
2. The machine's fp32 matmul ceiling: the best GFLOP/s of a large square matmul in JAX and in
   PyTorch (whichever library is faster on this CPU), and the steps/s it would allow if every
   FLOP of the step ran at that rate. No implementation of this step can go faster than that.
3. Steps/s, measured in interleaved rounds (every variant sees the same neighbours):
   - `torch`: the original's PyTorch head (bench/train_throughput.py), eager, 2 threads: the
     peer the speed target is set against (Keras must reach 1.5x its steps/s);
   - `keras`: `vidcls_keras.models` transformer compiled as `vidcls_keras.train` compiles it,
     its jitted `train_step` (no `fit` loop), with JAX's default PRNG (threefry, the `train`
     default) and with Philox (`python -m vidcls_keras.train --rng philox4x32`);
   - plain JAX, the same layer without Keras: with dropout (Philox, threefry), without dropout,
     and only the layer's matmuls (no softmax, layer norm, dropout or masking: the part of the
     step that the matmul ceiling bounds).

For each: steps/s, ratio to `torch`, and the fraction of the ceiling (FLOP x steps/s / ceiling).
On a shared CPU the absolute figures move with the neighbours; the ratios within one run hold.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import train_throughput  # noqa: E402  (bench/ is on sys.path when this file runs)

from vidcls_keras.models import build_model  # noqa: E402
from vidcls_keras.training import trainer as train  # noqa: E402

BATCH, FRAMES, WIDTH, HEADS, FEED_FORWARD, CLASSES = 16, 100, 512, 8, 2048, 4
DROPOUT = 0.1
TARGET_RATIO = 1.5  # issue 4: the transformer trains >= 1.5x faster per step than the original


def init_params(seed: int = 0) -> dict[str, jax.Array]:
    """Weights of the position embedding, one encoder layer and the classifier."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 6)
    shapes = {
        "positions": (FRAMES, WIDTH),
        "qkv": (WIDTH, 3 * WIDTH),
        "attention_out": (WIDTH, WIDTH),
        "feed_forward_in": (WIDTH, FEED_FORWARD),
        "feed_forward_out": (FEED_FORWARD, WIDTH),
        "logits": (WIDTH, CLASSES),
    }
    return {
        name: 0.02 * jax.random.normal(key, shape)
        for key, (name, shape) in zip(keys, shapes.items(), strict=True)
    }


def layer_loss(
    params: dict[str, jax.Array],
    frames: jax.Array,
    labels: jax.Array,
    key: jax.Array,
    dropout: float,
    matmuls_only: bool,
) -> jax.Array:
    """Cross-entropy of the head on `frames` (B, T, D) and one-hot `labels` (B, C).

    `matmuls_only` keeps the matmuls (projections, attention scores and mix, feed-forward,
    classifier) and drops everything between them, to time the part the ceiling bounds.
    """
    keys = jax.random.split(key, 5)

    def drop(index: int, x: jax.Array) -> jax.Array:
        if matmuls_only or dropout == 0:
            return x
        keep = jax.random.bernoulli(keys[index], 1 - dropout, x.shape)
        return jnp.where(keep, x / (1 - dropout), 0)

    def norm(x: jax.Array) -> jax.Array:
        return x if matmuls_only else jax.nn.standardize(x, axis=-1, epsilon=1e-5)

    x = drop(0, frames + params["positions"])
    heads = (BATCH, FRAMES, HEADS, WIDTH // HEADS)
    query, key_, value = (part.reshape(heads) for part in jnp.split(x @ params["qkv"], 3, -1))
    scores = jnp.einsum("bqhd,bkhd->bhqk", query, key_) / np.sqrt(WIDTH // HEADS)
    weights = scores if matmuls_only else drop(1, jax.nn.softmax(scores, axis=-1))
    attended = jnp.einsum("bhqk,bkhd->bqhd", weights, value).reshape(BATCH, FRAMES, WIDTH)
    hidden = norm(x + drop(2, attended @ params["attention_out"]))
    inner = drop(3, jax.nn.relu(hidden @ params["feed_forward_in"]))
    hidden = norm(hidden + drop(4, inner @ params["feed_forward_out"]))
    log_probs = jax.nn.log_softmax(hidden.mean(axis=1) @ params["logits"])
    return -(labels * log_probs).sum(axis=-1).mean()


def plain_jax_step(
    rng_impl: str, dropout: float = DROPOUT, matmuls_only: bool = False
) -> tuple[Callable[[], None], Callable[[], float]]:
    """(one SGD step on a fixed batch, XLA's FLOP count of that step)."""
    rng = np.random.default_rng(0)
    frames = jnp.asarray(rng.random((BATCH, FRAMES, WIDTH), dtype=np.float32))
    labels = jax.nn.one_hot(rng.integers(0, CLASSES, BATCH), CLASSES)

    @jax.jit
    def sgd_step(params, key):
        key, subkey = jax.random.split(key)
        grads = jax.grad(layer_loss)(params, frames, labels, subkey, dropout, matmuls_only)
        return jax.tree.map(lambda weight, grad: weight - 1e-3 * grad, params, grads), key

    state = [init_params(), jax.random.key(0, impl=rng_impl)]

    def step() -> None:
        state[:] = sgd_step(*state)
        jax.block_until_ready(state)

    def flop() -> float:
        return float(sgd_step.lower(*state).compile().cost_analysis()["flops"])

    return step, flop


def keras_step(rng_impl: str) -> Callable[[], None]:
    """The project's transformer, compiled as `vidcls_keras.train` does: one jitted train_step."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build_model("transformer", num_classes=CLASSES, max_frames=FRAMES, embed_dim=WIDTH)
    train.compile_model(model, train.TrainConfig().learning_rate)
    rng = np.random.default_rng(0)
    inputs = {
        "frames": jnp.asarray(rng.standard_normal((BATCH, FRAMES, WIDTH), dtype=np.float32)),
        "padding_mask": jnp.ones((BATCH, FRAMES), bool),
    }
    labels = jax.nn.one_hot(np.arange(BATCH) % CLASSES, CLASSES)
    # jit's trace cache does not key on the PRNG implementation: trace under it from the start.
    with jax.default_prng_impl(rng_impl):
        model.fit(inputs, labels, batch_size=BATCH, epochs=1, verbose=0)  # builds the optimizer
    state = [
        (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables],
            [v.value for v in model.metrics_variables],
        )
    ]
    train_step = jax.jit(model.train_step)  # Keras' JAX trainer: a pure function of the state

    def step() -> None:
        with jax.default_prng_impl(rng_impl):
            _, state[0] = train_step(state[0], (inputs, labels))
        jax.block_until_ready(state[0])

    return step


def torch_matmul_gflops(size: int, threads: int) -> float | None:
    """Best GFLOP/s of a float32 `(size, size) @ (size, size)` in PyTorch; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(train_throughput.timed(torch.matmul, a, b)[0] for _ in range(5))
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=6, help="steps per variant per round")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--matmul-size", type=int, default=2048)
    arguments = parser.parse_args()

    import embed_throughput  # the same ceiling measurement as the embedding benchmark

    jax_gflops = max(embed_throughput.matmul_gflops(arguments.matmul_size)[0] for _ in range(2))
    torch_gflops = torch_matmul_gflops(arguments.matmul_size, arguments.torch_threads)
    ceiling = max(jax_gflops, torch_gflops or 0.0)

    variants: dict[str, Callable[[], None]] = {}
    torch_step = train_throughput.torch_train_step("transformer", arguments.torch_threads)
    if torch_step is not None:
        variants["torch (original head)"] = torch_step
    variants["keras, threefry"] = keras_step("threefry2x32")
    variants["keras, philox"] = keras_step("philox4x32")
    step, flop_count = plain_jax_step("philox4x32")
    variants["jax, philox"] = step
    variants["jax, threefry"] = plain_jax_step("threefry2x32")[0]
    variants["jax, no dropout"] = plain_jax_step("philox4x32", dropout=0.0)[0]
    variants["jax, matmuls only"] = plain_jax_step("philox4x32", matmuls_only=True)[0]
    flop = flop_count()

    for run in variants.values():  # compile and warm up
        run()
        run()
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(arguments.rounds):
        for name, run in variants.items():
            seconds, _ = train_throughput.timed(
                lambda step=run: [step() for _ in range(arguments.steps)]
            )
            rates[name].append(arguments.steps / seconds)

    bound = ceiling * 1e9 / flop
    print(
        f"machine: {os.cpu_count()} CPUs, jax {jax.__version__}, keras {keras.__version__}; "
        f"step = batch {BATCH} x {FRAMES} x {WIDTH}, 1 layer, {HEADS} heads, ff {FEED_FORWARD}"
    )
    print(f"FLOP per training step (XLA cost analysis): {flop / 1e9:.1f} GFLOP")
    print(
        f"fp32 matmul ceiling ({arguments.matmul_size} square): JAX {jax_gflops:.0f} GFLOP/s, "
        + (f"PyTorch {torch_gflops:.0f} GFLOP/s" if torch_gflops else "PyTorch not installed")
        + f" -> {ceiling:.0f} GFLOP/s = at most {bound:.2f} steps/s for this step"
    )
    torch_rates = np.array(rates.get("torch (original head)", [np.nan] * arguments.rounds))
    header = (
        f"{'variant':24s} {'steps/s (median)':>17s} {'x torch':>8s} {'of ceiling':>11s}  rounds"
    )
    print(f"\n{arguments.rounds} interleaved rounds of {arguments.steps} steps\n{header}")
    print("-" * len(header))
    for name, values in rates.items():
        median = float(np.median(values))
        ratio = float(np.median(np.array(values) / torch_rates))
        print(
            f"{name:24s} {median:17.2f} {ratio:8.2f} {median / bound:11.2f}  "
            + " ".join(f"{value:.2f}" for value in values)
        )
    if torch_step is not None:
        target = TARGET_RATIO * float(np.median(torch_rates))
        print(
            f"\ntarget {TARGET_RATIO}x torch = {target:.2f} steps/s = {target / bound:.2f} of the "
            f"ceiling-bound {bound:.2f} steps/s"
            + (" (above the ceiling: out of reach in fp32 here)" if target > bound else "")
        )


if __name__ == "__main__":
    main()
