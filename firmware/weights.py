# SPDX-License-Identifier: BSD-2-Clause
"""Weight images: ternary weights as the 2-bit codes of :class:`golden.isa.WeightCode`."""

from __future__ import annotations

import numpy as np

from golden.isa import ILLEGAL_WEIGHT_CODE, WEIGHT_CODE_BITS

__all__ = ["decode_weight_codes", "encode_weight_codes"]

_CODE_MASK = (1 << WEIGHT_CODE_BITS) - 1


def _as_int_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, not {arr.dtype}")
    return arr


def encode_weight_codes(w_t) -> np.ndarray:
    """Encode ternary weights (-1, 0, +1) as 2-bit codes (uint8 array of the same shape)."""
    w = _as_int_array(w_t, "weights")
    bad = (w < -1) | (w > 1)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"weights must be ternary (-1, 0, +1); found {int(w[idx])} at index {idx}")
    return (w.astype(np.int64) & _CODE_MASK).astype(np.uint8)


def decode_weight_codes(codes) -> np.ndarray:
    """Decode 2-bit codes back to ternary weights (int8); the illegal code 0b10 is an error."""
    c = _as_int_array(codes, "weight codes")
    bad = (c < 0) | (c > _CODE_MASK) | (c == ILLEGAL_WEIGHT_CODE)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"illegal weight code {int(c[idx])} at index {idx}; "
                         f"valid codes are 0 (zero), 1 (+1) and 3 (-1)")
    w = c.astype(np.int8)
    w[w == _CODE_MASK] = -1
    return w
