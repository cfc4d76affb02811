"""The floor under the Keras transformer step on this machine: the same layer in plain JAX.

    python bench/transformer_step_floor.py

One encoder layer (d_model 512, 8 heads, feed-forward 2048) on a (16, 100, 512) batch, jitted
forward + backward + SGD update, no Keras. On the 2-core CPU machines it ran at 3.08-3.17 steps/s
while the Keras/keras-hub model did 3.1 (bench/train_throughput.py): Keras adds nothing
measurable; the step is bounded by XLA:CPU itself, which is slower here than PyTorch's oneDNN
(3.8 steps/s for the original's torch head, bench/train_throughput.py).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

BATCH, FRAMES, WIDTH, HEADS, FEED_FORWARD, CLASSES = 16, 100, 512, 8, 2048, 4
TIMED_STEPS = 15


def init_params(seed: int = 0) -> dict[str, jax.Array]:
    """Weights of one encoder layer and the classifier, N(0, 0.02)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    shapes = {
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


def loss(params: dict[str, jax.Array], frames: jax.Array, labels: jax.Array) -> jax.Array:
    """Post-norm encoder layer, mean over frames, softmax cross-entropy. frames: (B, T, D)."""
    query, key, value = jnp.split(frames @ params["qkv"], 3, axis=-1)
    heads = (BATCH, FRAMES, HEADS, WIDTH // HEADS)
    attended = jax.nn.dot_product_attention(
        query.reshape(heads), key.reshape(heads), value.reshape(heads)
    ).reshape(BATCH, FRAMES, WIDTH)
    hidden = jax.nn.standardize(frames + attended @ params["attention_out"], axis=-1)
    feed_forward = jax.nn.gelu(hidden @ params["feed_forward_in"]) @ params["feed_forward_out"]
    hidden = jax.nn.standardize(hidden + feed_forward, axis=-1)
    log_probs = jax.nn.log_softmax(hidden.mean(axis=1) @ params["logits"])
    return -(labels * log_probs).sum(axis=-1).mean()


@jax.jit
def sgd_step(params, frames, labels):
    grads = jax.grad(loss)(params, frames, labels)
    return jax.tree.map(lambda weight, grad: weight - 1e-3 * grad, params, grads)


def main() -> None:
    rng = np.random.default_rng(0)
    frames = jnp.asarray(rng.random((BATCH, FRAMES, WIDTH), dtype=np.float32))
    labels = jax.nn.one_hot(rng.integers(0, CLASSES, BATCH), CLASSES)
    params = init_params()
    for _ in range(3):  # compile and warm up
        params = sgd_step(params, frames, labels)
    jax.block_until_ready(params)
    start = time.perf_counter()
    for _ in range(TIMED_STEPS):
        params = sgd_step(params, frames, labels)
    jax.block_until_ready(params)
    rate = TIMED_STEPS / (time.perf_counter() - start)
    print(f"plain JAX encoder layer, batch {BATCH} x {FRAMES} x {WIDTH}: {rate:.2f} steps/s")


if __name__ == "__main__":
    main()
