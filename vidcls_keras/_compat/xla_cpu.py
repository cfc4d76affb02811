"""Workaround: XLA's CPU backend computes two kinds of gradient slowly; the same values, faster.

Profiling the transformer's training step (batch 16 x 100 frames x 512, JAX 0.10.2, a 2-core
AMD EPYC; `jax.profiler` trace of the jitted step, 2026-12-01) showed two gradients that XLA:CPU
computes far below the speed it reaches for the same work in another layout:

1. A `Dense` kernel's gradient, `x^T @ dy`, contracts the leading (batch x frames) axis of both
   operands. YNNPACK, the library XLA:CPU hands its matmuls to, does not take that layout, so
   XLA runs it as an Eigen dot: 155-165 GFLOP/s for the feed-forward's 1600 x 2048 x 512,
   against 195-215 for the forward and input-gradient matmuls of the same size (YNNPACK). The
   step has two of them (~21 ms each).
2. A sum over the leading axis, as the gradient of a broadcast over the batch (a position table,
   a bias): YNNPACK's reduce fusion takes 4.0 ms for `(16, 100, 512) -> (100, 512)`, where
   XLA's own loop takes 0.07 ms and a matmul with a row of ones 0.05 ms.

No XLA flag changes either (tried: YNNPACK fusion types, oneDNN and XNNPACK, the scheduler).
What does: state the gradients in the layouts that run fast. `dense` and `broadcast_over_batch`
below compute the same values as `x @ w + b` and `broadcast_to` with JAX's own gradients, except
that (1) transposes the smaller operand first (an `optimization_barrier` keeps XLA from folding
the transpose back into the dot) so the kernel gradient is a YNNPACK matmul, and (2) sums over
the leading axis as a matmul with ones. Only the order of float additions differs from JAX's
autodiff (tests/_compat/test_xla_cpu.py compares them). With both, `train`'s transformer step is
3% faster here on one CPU device and 6% on two (bench/transformer_step_processes.py, `:plain`).

They are used where `use_fast_gradients()` is true: the JAX backend with XLA's CPU as JAX's
default platform. Elsewhere (GPUs, TPUs, other Keras backends) the callers keep the plain ops.

Canary: tests/_compat/test_xla_cpu.py compiles the plain forms and fails the day XLA:CPU no
longer runs them as above (the kernel gradient as an Eigen dot, the sum as a YNNPACK reduce); then
time `bench/transformer_step_processes.py` with and without `:plain`, and if this no longer pays,
delete this module and its callers in `models.layers`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import keras


def use_fast_gradients() -> bool:
    """True where the gradients below pay off: Keras on JAX, with XLA's CPU as JAX's platform."""
    return keras.backend.backend() == "jax" and jax.default_backend() == "cpu"


def _sum_leading(values: jax.Array) -> jax.Array:
    """`values.sum(0)` as a matmul with a row of ones: `(n, ...) -> (...)`."""
    rows = values.reshape(values.shape[0], -1)
    ones = jnp.ones((1, rows.shape[0]), rows.dtype)
    return (ones @ rows).reshape(values.shape[1:])


def _kernel_gradient(inputs: jax.Array, output_gradient: jax.Array) -> jax.Array:
    """`inputs^T @ output_gradient` for `(n, k)` and `(n, m)`: `(k, m)`, as a YNNPACK matmul."""
    barrier = jax.lax.optimization_barrier
    if inputs.shape[1] <= output_gradient.shape[1]:
        return barrier(inputs.T) @ output_gradient
    # The output gradient is the smaller operand: transpose it, then the (m, k) result.
    return barrier(barrier(output_gradient.T) @ inputs).T


@jax.custom_vjp
def dense(inputs: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """`inputs @ kernel + bias`, with the gradients of the module docstring.

    Args:
        inputs: float `(..., k)`.
        kernel: float `(k, m)`.
        bias: float `(m,)`.

    Returns:
        Float `(..., m)`.
    """
    return inputs @ kernel + bias


def _dense_forward(inputs, kernel, bias):
    return inputs @ kernel + bias, (inputs, kernel)


def _dense_backward(residuals, output_gradient):
    inputs, kernel = residuals
    rows = inputs.reshape(-1, inputs.shape[-1])
    gradient_rows = output_gradient.reshape(-1, output_gradient.shape[-1])
    return (
        output_gradient @ kernel.T,
        _kernel_gradient(rows, gradient_rows),
        _sum_leading(gradient_rows),
    )


dense.defvjp(_dense_forward, _dense_backward)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def broadcast_over_batch(values: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """`broadcast_to(values, shape)` for `shape == (batch, *values.shape)`; its gradient a matmul.

    Args:
        values: float `(...)`, e.g. a position table `(frames, width)`.
        shape: the output shape, `values.shape` with a leading batch axis.

    Returns:
        Float `shape`: `values` repeated over the batch.
    """
    return jnp.broadcast_to(values, shape)


def _broadcast_forward(values, shape):
    return jnp.broadcast_to(values, shape), None


def _broadcast_backward(shape, residuals, output_gradient):
    return (_sum_leading(output_gradient),)


broadcast_over_batch.defvjp(_broadcast_forward, _broadcast_backward)
