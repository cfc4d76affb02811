"""vidcls_keras/_compat/xla_cpu.py: its gradients equal JAX's own, and a canary for the layouts.

The canary compiles the plain forms on this CPU and checks that XLA still runs them the slow way
(the kernel gradient as an Eigen dot outside YNNPACK, the sum over the batch as a YNNPACK reduce
fusion). When one fails, XLA:CPU changed: time `python bench/transformer_step_processes.py` with
and without the workaround, and if it no longer pays, delete `_compat/xla_cpu.py` and its callers
in `models.layers`.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidcls_keras._compat import xla_cpu

pytestmark = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="the workaround is for XLA's CPU backend"
)


@pytest.mark.parametrize(
    "inputs_shape, units",
    [((2, 5, 3), 7), ((2, 5, 7), 3), ((6, 4), 4)],
    ids=["kernel-gradient-transposes-inputs", "transposes-output-gradient", "2-d"],
)
def test_dense_has_the_value_and_gradients_of_plain_jax(inputs_shape, units):
    keys = jax.random.split(jax.random.key(0), 4)
    inputs = jax.random.normal(keys[0], inputs_shape)
    kernel = jax.random.normal(keys[1], (inputs_shape[-1], units))
    bias = jax.random.normal(keys[2], (units,))
    weights = jax.random.normal(keys[3], inputs_shape[:-1] + (units,))

    def loss(function):
        return lambda x, w, b: jnp.sum(weights * jnp.tanh(function(x, w, b)))

    plain = jax.jit(jax.value_and_grad(loss(lambda x, w, b: x @ w + b), argnums=(0, 1, 2)))
    fast = jax.jit(jax.value_and_grad(loss(xla_cpu.dense), argnums=(0, 1, 2)))
    (plain_value, plain_grads), (fast_value, fast_grads) = (
        plain(inputs, kernel, bias),
        fast(inputs, kernel, bias),
    )
    np.testing.assert_allclose(fast_value, plain_value, rtol=1e-5)
    for fast_grad, plain_grad in zip(fast_grads, plain_grads, strict=True):
        assert fast_grad.shape == plain_grad.shape
        np.testing.assert_allclose(fast_grad, plain_grad, rtol=1e-5, atol=1e-5)


def test_broadcast_over_batch_has_the_value_and_gradient_of_broadcast_to():
    table = jax.random.normal(jax.random.key(0), (5, 3))
    weights = jax.random.normal(jax.random.key(1), (4, 5, 3))

    def loss(broadcast):
        return lambda t: jnp.sum(weights * jnp.sin(broadcast(t, (4, 5, 3))))

    np.testing.assert_array_equal(
        xla_cpu.broadcast_over_batch(table, (4, 5, 3)), jnp.broadcast_to(table, (4, 5, 3))
    )
    np.testing.assert_allclose(
        jax.jit(jax.grad(loss(xla_cpu.broadcast_over_batch)))(table),
        jax.grad(loss(jnp.broadcast_to))(table),
        rtol=1e-5,
        atol=1e-6,
    )


def _compiled(function, *shapes) -> str:
    arguments = [jnp.ones(shape, jnp.float32) for shape in shapes]
    return jax.jit(function).lower(*arguments).compile().as_text()


def test_canary_xla_cpu_still_runs_a_leading_axis_contraction_outside_ynnpack():
    # The feed-forward's kernel gradient at the transformer's shapes: x^T @ dy over 1600 rows.
    plain = _compiled(lambda x, dy: x.T @ dy, (1600, 2048), (1600, 512))
    fast = _compiled(xla_cpu._kernel_gradient, (1600, 2048), (1600, 512))
    assert re.search(r"= f32\[2048,512\]\{1,0\} dot\(", plain), plain  # Eigen's dot, no fusion
    assert "ynn_fusion" not in plain, plain
    assert "ynn_fusion" in fast, fast


def test_canary_xla_cpu_still_sums_over_the_batch_in_a_ynnpack_reduce():
    plain = _compiled(lambda g: g.sum(0), (16, 100, 512))
    fast = _compiled(xla_cpu._sum_leading, (16, 100, 512))
    assert re.search(r"ynn_fusion[.\d]* = f32\[100,512\]", plain), plain
    assert "ynn_fusion" not in fast and " reduce(" not in fast, fast  # a plain dot


def test_used_on_jax_with_the_cpu():
    assert xla_cpu.use_fast_gradients()
