# SPDX-License-Identifier: BSD-2-Clause
"""Input checks with error messages that name the bad value.

Every public entry point of the golden model validates its tensors here, so that bad input gives
a ValueError saying what is wrong instead of a traceback from deep inside PyTorch or a silently
wrong result.
"""

from __future__ import annotations

import math

import torch

__all__ = ["check_finite", "check_float", "check_int_range", "check_matrix", "check_ternary"]

_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _first_index(mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0])


def _within(t: torch.Tensor, lo: int, hi: int) -> bool:
    # One pass for the common, valid case (the integer path checks every product's operands);
    # the callers locate the first bad element only when there is one.
    if t.numel() == 0:
        return True
    t_min, t_max = torch.aminmax(t)
    return lo <= int(t_min) and int(t_max) <= hi


def check_float(t, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, not {t.dtype}")


def check_finite(t: torch.Tensor, name: str) -> None:
    # Fast path (every BitLinear checks its input on every forward): NaN and Inf propagate into
    # the sum. A finite sum proves all finite; an overflowing sum falls through to the full check.
    if t.numel() == 0 or math.isfinite(float(t.detach().sum())):
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        idx = _first_index(bad)
        raise ValueError(f"{name} contains {t[idx].item()} at index {idx}; "
                         f"inputs must be finite (no NaN or Inf)")


def check_matrix(t, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
    if t.dim() != 2:
        raise ValueError(f"{name} must be a 2-D matrix, not shape {tuple(t.shape)}")


def check_int_range(t, name: str, lo: int, hi: int) -> None:
    """Check that ``t`` is an integer tensor with every value in ``[lo, hi]``."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
    if t.dtype not in _INT_DTYPES:
        raise ValueError(f"{name} must be an integer tensor, not {t.dtype}")
    if _within(t, lo, hi):
        return
    bad = (t < lo) | (t > hi)
    if bool(bad.any()):
        idx = _first_index(bad)
        raise ValueError(f"{name} must lie in [{lo}, {hi}]; found {int(t[idx])} at index {idx}")


def check_ternary(t, name: str = "weights") -> None:
    """Check that ``t`` is an integer tensor of -1, 0 and +1 only."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
    if t.dtype not in _INT_DTYPES:
        raise ValueError(f"{name} must be an integer tensor of -1, 0, +1, not {t.dtype}")
    if _within(t, -1, 1):
        return
    bad = (t < -1) | (t > 1)
    if bool(bad.any()):
        idx = _first_index(bad)
        raise ValueError(f"{name} must be ternary (-1, 0, +1); found {int(t[idx])} at index {idx}")
