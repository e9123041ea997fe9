# SPDX-License-Identifier: BSD-2-Clause
"""BitNet b1.58 quantizers (Ma et al. 2024, arXiv 2402.17764, and its Training Tips FAQ).

Weights, per tensor ("absmean")::

    s_w = 1 / max(mean(|W|), 1e-5);   W_t = clamp(round(W * s_w), -1, 1)

Activations, per token ("absmax", 8 bits)::

    s_x = 127 / max(max_j |x_j|, 1e-5);   x_q = clamp(round(x * s_x), -128, 127)

``round`` is :func:`torch.round`, which rounds half to even. Scales are float32 tensors; the
quantized values are integer tensors (int8), the dtype the hardware consumes.
"""

from __future__ import annotations

import torch

from .checks import check_finite, check_float

__all__ = ["EPS", "absmax_quantize", "absmean_ternary"]

#: Lower clamp of the absmean and absmax statistics, as in the reference code.
EPS = 1e-5


def absmean_ternary(w: torch.Tensor, *, name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a float weight tensor to ternary codes with one per-tensor scale.

    Returns
    -------
    (w_t, s_w)
        ``w_t``: int8 tensor with values in {-1, 0, +1}, same shape as ``w``.
        ``s_w``: 0-dim float32 tensor; ``w ~= w_t / s_w``.
    """
    check_float(w, name)
    check_finite(w, name)
    w = w.float()
    s_w = 1.0 / w.abs().mean().clamp(min=EPS)
    w_t = (w * s_w).round().clamp(-1, 1).to(torch.int8)
    return w_t, s_w


def absmax_quantize(x: torch.Tensor, *, bits: int = 8,
                    name: str = "activation") -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize activations per token (per row of the last dimension) to signed ``bits``-bit ints.

    Returns
    -------
    (x_q, s_x)
        ``x_q``: integer tensor (int8 for ``bits <= 8``, else int16), same shape as ``x``.
        ``s_x``: float32 tensor of shape ``x.shape[:-1] + (1,)``; ``x ~= x_q / s_x``.
    """
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer between 2 and 16, not {bits!r}")
    check_float(x, name)
    check_finite(x, name)
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last dimension, not shape {tuple(x.shape)}")
    qmax = (1 << (bits - 1)) - 1
    x = x.float()
    s_x = qmax / x.abs().amax(dim=-1, keepdim=True).clamp(min=EPS)
    dtype = torch.int8 if bits <= 8 else torch.int16
    x_q = (x * s_x).round().clamp(-qmax - 1, qmax).to(dtype)
    return x_q, s_x
