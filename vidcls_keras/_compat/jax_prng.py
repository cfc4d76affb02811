"""Workaround: JAX 0.10 cannot compile Philox random draws over sharded arrays.

Under `keras.distribution.DataParallel` every batch is split across devices, so dropout draws its
random bits over a sharded array. With `jax.default_prng_impl("philox4x32")` that fails to
compile: XLA cannot lower Philox's `mulhi` with a sharding ("failed to legalize operation
'mhlo.unknown'"). Threefry (JAX's default) works. Until JAX fixes it, training refuses Philox with
DataParallel before anything is written. Canary: tests/_compat/test_jax_prng.py draws Philox bits
over a two-device CPU mesh and fails the day it compiles; then this module and its caller
(`training.trainer`) can go.
"""

from __future__ import annotations

# JAX PRNG implementations that cannot run over sharded arrays (see the module docstring).
UNSHARDABLE_PRNG_IMPLS = frozenset({"philox4x32"})


def sharding_problem(prng_impl: str) -> str | None:
    """Why `prng_impl` cannot draw over sharded arrays, or None when it can.

    Args:
        prng_impl: a `jax.default_prng_impl` name, e.g. "threefry2x32".

    Returns:
        A sentence for an error message, or None.
    """
    if prng_impl in UNSHARDABLE_PRNG_IMPLS:
        return (
            f"JAX cannot compile {prng_impl} random draws over sharded arrays (its `mulhi` "
            "fails to lower)"
        )
    return None
