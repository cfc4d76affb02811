"""Canary for vidcls_keras/_compat/jax_prng.py: Philox over sharded arrays still fails to compile
without the workaround, and draws the same bits over two devices as on one with it.

XLA reads `--xla_force_host_platform_device_count` once, when JAX starts, so the two-device CPU mesh
lives in a subprocess. When `test_philox_over_a_sharded_array_still_fails` fails, JAX has fixed it:
delete `_compat/jax_prng.py`, its use in `training.trainer`, and this file.
"""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from vidcls_keras._compat import jax_prng

_PROBE = textwrap.dedent(
    """
    import sys
    import jax
    if sys.argv[2] == "workaround":
        import vidcls_keras._compat.jax_prng
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    assert len(jax.devices()) == 2, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    activations = jax.device_put(jnp.ones((8, 4)), NamedSharding(mesh, PartitionSpec("batch")))

    @jax.jit
    def dropout(key_data, x):  # what Keras's dropout does under DataParallel
        keep = jax.random.bernoulli(jax.random.wrap_key_data(key_data), 0.5, x.shape)
        return jnp.where(keep, x, 0.0)

    with jax.default_prng_impl(sys.argv[1]):
        key_data = jax.random.key_data(jax.random.key(0))
        try:
            sharded = dropout(key_data, activations)
        except Exception as error:
            print("FAILED", type(error).__name__, str(error)[:200])
        else:
            single = dropout(key_data, jnp.ones((8, 4)))  # one device
            print("OK" if bool((sharded == single).all()) else "OK, OTHER BITS")
    """
)


def _draw_over_two_devices(prng_impl: str, workaround: bool = False) -> str:
    environment = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, prng_impl, "workaround" if workaround else "upstream"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.strip().splitlines()[-1]


def test_philox_over_a_sharded_array_still_fails():
    outcome = _draw_over_two_devices("philox4x32")
    assert outcome.startswith("FAILED"), (
        "JAX now compiles philox4x32 over sharded arrays: remove vidcls_keras/_compat/jax_prng.py "
        "and the refusal of --rng philox4x32 with DataParallel in training.trainer."
    )


def test_with_the_workaround_philox_draws_the_same_bits_over_two_devices():
    assert _draw_over_two_devices("philox4x32", workaround=True) == "OK"
    assert jax_prng.PORTABLE_MULHI
    assert jax_prng.sharding_problem("philox4x32") is None


def test_threefry_over_a_sharded_array_works():
    assert _draw_over_two_devices("threefry2x32") == "OK"
    assert jax_prng.sharding_problem("threefry2x32") is None


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32"])
def test_split_mulhi_is_the_exact_high_half_of_the_product(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    x = rng.integers(info.min, info.max, 512, endpoint=True).astype(dtype)
    y = rng.integers(info.min, info.max, 512, endpoint=True).astype(dtype)
    x[:4], y[:4] = [info.min, info.max, 0, info.max], [info.max, info.max, info.min, info.min]
    bits = 8 * np.dtype(dtype).itemsize
    expected = [(int(a) * int(b)) >> bits for a, b in zip(x, y, strict=True)]  # Python ints: exact
    assert np.asarray(jax.jit(jax_prng._split_mulhi)(x, y)).tolist() == expected


def test_one_device_keeps_the_upstream_lowering():
    """Only a partitioned computation takes the portable arithmetic (twice as slow for Philox)."""
    x = np.arange(4, dtype=np.uint32)
    lowered = jax.jit(jax.lax.mulhi).lower(x, x).as_text()
    assert "mulhi" in lowered and "shift_right_logical" not in lowered
