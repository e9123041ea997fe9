# SPDX-License-Identifier: BSD-2-Clause
"""Integer reference of one BitLinear layer: the contract the accelerator meets bit for bit.

::

    x_q, s_x = absmax_quantize(x)        # int8, one scale per token (row)
    w_t, s_w = absmean_ternary(W)        # {-1, 0, +1}, one scale per tensor
    acc      = x_q @ w_t.T               # exact integers: only additions and subtractions
    y        = acc / (s_w * s_x)         # one float rescale per output element

Shapes follow ``torch.nn.Linear``: activations are (M, K) (tokens x in_features), weights are
(N, K) (out_features x in_features), accumulators and outputs are (M, N).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .checks import check_finite, check_float, check_int_range, check_matrix, check_ternary
from .quant import absmax_quantize, absmean_ternary

__all__ = ["BitLinearTrace", "int_matmul", "ref_bitlinear", "rescale"]

# Integers up to 2**53 are exact in float64, so the float64 matmul below is an exact integer
# product for any K the accumulators can hold (|acc| <= 2**(act_bits-1) * K).
_EXACT_F64 = 1 << 53


def int_matmul(x_q: torch.Tensor, w_t: torch.Tensor, *, act_bits: int = 8) -> torch.Tensor:
    """Exact integer product ``x_q @ w_t.T`` of activations (M, K) and ternary weights (N, K).

    Returns an int64 tensor of shape (M, N).
    """
    check_matrix(x_q, "activations")
    check_matrix(w_t, "weights")
    check_int_range(x_q, "activations", -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1)
    check_ternary(w_t, "weights")
    m, k = x_q.shape
    n, k_w = w_t.shape
    if k != k_w:
        raise ValueError(f"shape mismatch: activations are (M={m}, K={k}) but weights are "
                         f"(N={n}, K={k_w}); the K dimensions must agree")
    if k * (1 << (act_bits - 1)) >= _EXACT_F64:
        raise ValueError(f"K={k} is too large for an exact reference product")
    acc = x_q.to(torch.float64) @ w_t.to(torch.float64).T
    return acc.to(torch.int64)


def rescale(acc: torch.Tensor, s_w: torch.Tensor, s_x: torch.Tensor) -> torch.Tensor:
    """Float output ``acc / (s_w * s_x)`` (float32) of integer accumulators (M, N).

    ``s_w`` is a scalar (per tensor), ``s_x`` has shape (M, 1) (per token). Exact integer
    accumulators convert to float32 without rounding while ``|acc| < 2**24``.
    """
    check_matrix(acc, "accumulators")
    if acc.is_floating_point():
        raise ValueError(f"accumulators must be an integer tensor, not {acc.dtype}")
    s_x = torch.as_tensor(s_x, dtype=torch.float32)
    s_w = torch.as_tensor(s_w, dtype=torch.float32)
    if s_x.shape != (acc.shape[0], 1):
        raise ValueError(f"activation scales must have shape ({acc.shape[0]}, 1) for "
                         f"{acc.shape[0]} tokens, not {tuple(s_x.shape)}")
    if s_w.dim() != 0:
        raise ValueError(f"the weight scale must be a scalar, not shape {tuple(s_w.shape)}")
    check_finite(s_x, "activation scales")
    check_finite(s_w, "weight scale")
    return acc.to(torch.float32) / (s_w * s_x)


@dataclass(frozen=True)
class BitLinearTrace:
    """Every intermediate of the integer BitLinear forward, for handing to the hardware."""

    x_q: torch.Tensor   # (M, K) int8 activations
    s_x: torch.Tensor   # (M, 1) float32 activation scales
    w_t: torch.Tensor   # (N, K) int8 ternary weights
    s_w: torch.Tensor   # () float32 weight scale
    acc: torch.Tensor   # (M, N) int64 accumulators
    y: torch.Tensor     # (M, N) float32 outputs


def ref_bitlinear(x: torch.Tensor, w: torch.Tensor, *, act_bits: int = 8) -> BitLinearTrace:
    """Run one BitLinear through the golden quantizers and the exact integer path."""
    check_matrix(x, "input")
    check_matrix(w, "weight")
    check_float(x, "input")
    check_float(w, "weight")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"shape mismatch: input is (M={x.shape[0]}, K={x.shape[1]}) but weight "
                         f"is (N={w.shape[0]}, K={w.shape[1]}); the K dimensions must agree")
    x_q, s_x = absmax_quantize(x, bits=act_bits, name="input")
    w_t, s_w = absmean_ternary(w, name="weight")
    acc = int_matmul(x_q, w_t, act_bits=act_bits)
    return BitLinearTrace(x_q=x_q, s_x=s_x, w_t=w_t, s_w=s_w, acc=acc, y=rescale(acc, s_w, s_x))
