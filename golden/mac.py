# SPDX-License-Identifier: BSD-2-Clause
"""References of the multiply-accumulate baselines (:mod:`hw.mac`) that the ternary array is
compared with, in the order the hardware computes.

A column of the weight-stationary array sums its rows top to bottom: row 0's product first,
then ``psum = psum + a[i] * w[i]`` for each further row. For integers the order does not
matter; for binary16 it does, and every product and every sum is rounded, like torch does
for two separate float16 operations::

    psum = a[0] * w[0]                  # rounded to float16
    psum = psum + (a[i] * w[i])         # product rounded, then the sum rounded

The FP16 hardware flushes subnormals to zero (see :mod:`hw.fp16`); :func:`ftz_fp16` applies the
same rule to torch's operands and results.
"""

from __future__ import annotations

import torch

from .checks import check_int_range, check_matrix

__all__ = ["FP16_MIN_NORMAL", "fp16_add", "fp16_mac_columns", "fp16_mul", "ftz_fp16",
           "int_mac_columns"]

#: Smallest positive normal binary16 number, 2**-14.
FP16_MIN_NORMAL = 2.0 ** -14


def _check_shapes(acts: torch.Tensor, weights: torch.Tensor) -> None:
    check_matrix(acts, "activations")
    check_matrix(weights, "weights")
    if acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shape mismatch: activations are (T={acts.shape[0]}, "
                         f"rows={acts.shape[1]}) but weights are (rows={weights.shape[0]}, "
                         f"cols={weights.shape[1]})")


def int_mac_columns(acts: torch.Tensor, weights: torch.Tensor, *, bits: int = 8) -> torch.Tensor:
    """Exact column sums ``acts @ weights`` of ``bits``-bit integers: (T, R) x (R, C) -> int64
    (T, C). Activations and weights share the width, as in the INT8 baseline."""
    _check_shapes(acts, weights)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    check_int_range(acts, "activations", lo, hi)
    check_int_range(weights, "weights", lo, hi)
    return acts.to(torch.int64) @ weights.to(torch.int64)


def _check_fp16(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor) or t.dtype != torch.float16:
        raise ValueError(f"{name} must be a torch.float16 tensor, not "
                         f"{getattr(t, 'dtype', type(t).__name__)}")


def ftz_fp16(x: torch.Tensor) -> torch.Tensor:
    """``x`` (float16) with every subnormal replaced by a zero of the same sign."""
    _check_fp16(x, "value")
    tiny = x.abs() < FP16_MIN_NORMAL          # false for NaN, true for zeros (kept as they are)
    return torch.where(tiny, torch.copysign(torch.zeros_like(x), x), x)


def fp16_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The FP16 baseline's product: torch's float16 ``a * b`` with subnormals flushed."""
    return ftz_fp16(ftz_fp16(a) * ftz_fp16(b))


def fp16_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The FP16 baseline's sum: torch's float16 ``a + b`` with subnormals flushed."""
    return ftz_fp16(ftz_fp16(a) + ftz_fp16(b))


def fp16_mac_columns(acts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Column sums of the FP16 array: (T, R) x (R, C) float16 -> (T, C) float16, rows summed
    top to bottom with a rounding after every product and every sum."""
    _check_shapes(acts, weights)
    _check_fp16(acts, "activations")
    _check_fp16(weights, "weights")
    psum = fp16_mul(acts[:, :1], weights[:1, :])
    for i in range(1, acts.shape[1]):
        psum = fp16_add(psum, fp16_mul(acts[:, i:i + 1], weights[i:i + 1, :]))
    return psum
