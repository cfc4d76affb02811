"""Workaround: JAX 0.10 cannot compile Philox random draws over sharded arrays.

Under `keras.distribution.DataParallel` every batch is split across devices, so dropout draws its
random bits over a sharded array. With `jax.default_prng_impl("philox4x32")` that fails to
compile: Philox's multiply-high (`lax.mulhi`) is lowered to the `chlo.mulhi` op, which XLA's SPMD
path cannot legalize over a sharding ("failed to legalize operation 'mhlo.unknown'"). Threefry
(JAX's default) has no `mulhi` and works.

The fix here: `lax.mulhi` lowered as JAX itself lowers it for jaxlibs without `chlo.mulhi`
(`jax._src.lax.lax._mulhi_impl`: the product in twice the width, its high half), which is plain
elementwise arithmetic that every sharding partitions. The bits are the same (a multiply-high is
exact either way; tested: Philox over two devices equals Philox on one). It is installed when this
module is imported (`training.trainer` imports it) and only changes how `mulhi` is compiled.
Canary: tests/_compat/test_jax_prng.py draws Philox bits over a two-device CPU mesh in a process
that does not install it, and fails the day JAX compiles that; then this module and its use in
`training.trainer` can go.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# JAX PRNG implementations that cannot run over sharded arrays (see the module docstring), when
# the workaround could not be installed.
UNSHARDABLE_PRNG_IMPLS = frozenset({"philox4x32"})


def _install_portable_mulhi() -> bool:
    """Lowers `lax.mulhi` with JAX's portable implementation; False when JAX has none."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.lax import lax as lax_internals

        portable = lax_internals._mulhi_impl
        primitive = lax_internals.mulhi_p
    except (ImportError, AttributeError) as error:  # a JAX whose internals moved
        logger.debug("Philox stays unshardable: %s", error)
        return False
    mlir.register_lowering(primitive, mlir.lower_fun(portable, multiple_results=False))
    return True


PORTABLE_MULHI = _install_portable_mulhi()


def sharding_problem(prng_impl: str) -> str | None:
    """Why `prng_impl` cannot draw over sharded arrays, or None when it can.

    Args:
        prng_impl: a `jax.default_prng_impl` name, e.g. "threefry2x32".

    Returns:
        A sentence for an error message, or None.
    """
    if prng_impl in UNSHARDABLE_PRNG_IMPLS and not PORTABLE_MULHI:
        return (
            f"JAX cannot compile {prng_impl} random draws over sharded arrays (its `mulhi` "
            "fails to lower)"
        )
    return None
