"""Workaround: JAX (0.10 to 0.12 at least) cannot compile Philox random draws over sharded arrays.

Under `keras.distribution.DataParallel` every batch is split across devices, so dropout draws its
random bits over a sharded array. With `jax.default_prng_impl("philox4x32")` that fails to
compile: Philox's multiply-high (`lax.mulhi`) is lowered to the `chlo.mulhi` op, which XLA's SPMD
path cannot legalize over a sharding ("failed to legalize operation 'mhlo.unknown'"). Threefry
(JAX's default) has no `mulhi` and works.

The fix here: when a computation is partitioned over several devices, `lax.mulhi` is lowered as
plain elementwise arithmetic in its own width (`_split_mulhi`: the four half-width partial
products, as JAX's own fallback lowers 64-bit types), which every sharding partitions; on one
device the upstream lowering stays (it is about twice as fast for Philox's draws). The bits are
the same either way (a multiply-high is exact; tested against Python integers for every integer
width, and Philox over two devices against Philox on one). It is installed when this module is
imported (`training.trainer` imports it) and only changes how `mulhi` is compiled.

JAX 0.10 had a private portable `mulhi` this module used to borrow; 0.12 removed it, so the
arithmetic is written out here with public `jax.lax` ops (a double-width product is not an
option: without `jax_enable_x64` a uint64 silently becomes a uint32).

Canary: tests/_compat/test_jax_prng.py draws Philox bits over a two-device CPU mesh in a process
that does not install it, and fails the day JAX compiles that; then this module and its use in
`training.trainer` can go.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from jax import lax

logger = logging.getLogger(__name__)

# JAX PRNG implementations that cannot run over sharded arrays (see the module docstring), when
# the workaround could not be installed.
UNSHARDABLE_PRNG_IMPLS = frozenset({"philox4x32"})


def _split_mulhi(x: Any, y: Any) -> Any:
    """The high half of `x * y` for two integer arrays of one dtype, in that dtype's width.

    Args:
        x, y: integer arrays of the same shape and dtype (any width, signed or unsigned).

    Returns:
        An array of that shape and dtype: `(x * y) >> bits`, the product taken exactly.
    """
    dtype = np.dtype(x.dtype)
    bits = 8 * dtype.itemsize
    unsigned = np.dtype(f"u{dtype.itemsize}")
    half = np.array(bits // 2, unsigned)
    low_mask = np.array((1 << (bits // 2)) - 1, unsigned)
    x_bits = lax.convert_element_type(x, unsigned)
    y_bits = lax.convert_element_type(y, unsigned)
    x_low, x_high = x_bits & low_mask, lax.shift_right_logical(x_bits, half)
    y_low, y_high = y_bits & low_mask, lax.shift_right_logical(y_bits, half)
    low_high, high_low = x_low * y_high, x_high * y_low  # each < 2**bits: no overflow
    carry = (
        lax.shift_right_logical(x_low * y_low, half) + (low_high & low_mask) + (high_low & low_mask)
    )
    high = (
        x_high * y_high
        + lax.shift_right_logical(low_high, half)
        + lax.shift_right_logical(high_low, half)
        + lax.shift_right_logical(carry, half)
    )
    high = lax.convert_element_type(high, dtype)
    if dtype.kind == "i":  # signed: subtract y where x < 0 and x where y < 0 (mod 2**bits)
        top = np.array(bits - 1, dtype)
        high = (
            high + lax.shift_right_arithmetic(x, top) * y + lax.shift_right_arithmetic(y, top) * x
        )
    return high


def _partitioned(axis_context: Any) -> bool:
    """Whether a lowering context compiles for several devices (GSPMD partitions it)."""
    devices = getattr(axis_context, "num_devices", None)  # jit's ShardingContext
    if devices is None:
        mesh = getattr(axis_context, "mesh", None)  # shard_map's SPMDAxisContext
        devices = getattr(mesh, "size", 1) if mesh is not None else 1
    return devices > 1


def _install_portable_mulhi() -> bool:
    """Lowers `lax.mulhi` portably over several devices; False when JAX's internals moved."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.lax import lax as lax_internals

        primitive = lax_internals.mulhi_p
        upstream = mlir._lowerings[primitive].rule
    except (ImportError, AttributeError, KeyError) as error:  # a JAX whose internals moved
        logger.debug("Philox stays unshardable: %s", error)
        return False
    portable = mlir.lower_fun(_split_mulhi, multiple_results=False)

    def lowering(ctx: Any, *args: Any, **params: Any) -> Any:
        if _partitioned(ctx.module_context.axis_context):
            return portable(ctx, *args, **params)
        return upstream(ctx, *args, **params)

    mlir.register_lowering(primitive, lowering)
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
