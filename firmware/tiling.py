# SPDX-License-Identifier: BSD-2-Clause
"""The tile layout of a BitLinear (M x K activations, N x K ternary weights) on the array.

The array computes one weight tile at a time: ``rows`` input features (a K-slice) by ``cols``
output features (an N-slice). A layer is ``n_tiles x k_tiles`` tiles, N-slice major; each
streams all M activation vectors, and the K-slices of one N-slice sum up. Edges are padded with
zero weights and zero activations, which add nothing. This module is the one place that layout
is written down, with the checks that a layer fits a configuration.
"""

from __future__ import annotations

import numpy as np

from golden.contract.codecs import as_array, as_int_array, encode_weight_codes
from golden.contract.config import AcceleratorConfig

__all__ = ["check_acts", "check_layer", "check_weights", "tile_acts", "tile_weights"]


def tile_weights(config: AcceleratorConfig, w_t: np.ndarray) -> np.ndarray:
    """(n_tiles, k_tiles, rows, cols) int8: tile (nt, kt) cell (i, j) holds weight
    (nt * cols + j, kt * rows + i), zero beyond the edges."""
    n, k = w_t.shape
    rows, cols = config.rows, config.cols
    k_tiles, n_tiles = config.k_tiles(k), config.n_tiles(n)
    padded = np.zeros((n_tiles * cols, k_tiles * rows), dtype=np.int8)
    padded[:n, :k] = w_t
    return padded.reshape(n_tiles, cols, k_tiles, rows).transpose(0, 2, 3, 1)


def tile_acts(config: AcceleratorConfig, x_q: np.ndarray) -> np.ndarray:
    """(m, k_tiles, rows) int32: K-slice kt of token m, zero beyond the edge (int32, not
    int8: activations are up to ``act_bits`` = 16 bits wide)."""
    m, k = x_q.shape
    k_tiles = config.k_tiles(k)
    padded = np.zeros((m, k_tiles * config.rows), dtype=np.int32)
    padded[:, :k] = x_q
    return padded.reshape(m, k_tiles, config.rows)


def check_acts(config: AcceleratorConfig, x_q) -> tuple[int, int]:
    """Check quantized activations (M, K) against ``config``; return (M, K)."""
    x_q = as_array(x_q, "activations")
    if x_q.ndim != 2 or 0 in x_q.shape:
        raise ValueError(f"activations must be a non-empty 2-D matrix (M, K), not shape "
                         f"{x_q.shape}")
    as_int_array(x_q, "activations")       # names a NaN, an infinity or a fraction
    out_of_range = (x_q < config.act_min) | (x_q > config.act_max)
    if out_of_range.any():
        idx = tuple(int(i) for i in np.argwhere(out_of_range)[0])
        raise ValueError(f"activation {int(x_q[idx])} at index {idx} does not fit in "
                         f"{config.act_bits} bits")
    return x_q.shape


def check_weights(config: AcceleratorConfig, w_t) -> tuple[int, int]:
    """Check ternary weights (N, K) against ``config``; return (N, K)."""
    w_t = as_array(w_t, "weights")
    if w_t.ndim != 2 or 0 in w_t.shape:
        raise ValueError(f"weights must be a non-empty 2-D matrix (N, K), not shape "
                         f"{w_t.shape}")
    encode_weight_codes(w_t)      # names a non-ternary weight
    if w_t.shape[1] > config.max_k:
        raise ValueError(f"K={w_t.shape[1]} exceeds max_k={config.max_k} of the "
                         f"configuration: the {config.acc_bits}-bit accumulators could "
                         f"overflow")
    return w_t.shape


def check_layer(config: AcceleratorConfig, x_q, w_t) -> tuple[int, int, int]:
    """Check that activations (M, K) and ternary weights (N, K) make a layer that ``config``
    can run; return (M, K, N). Raises ValueError naming the problem."""
    m, k = check_acts(config, x_q)
    n, k_w = check_weights(config, w_t)
    if k != k_w:
        raise ValueError(f"shape mismatch: activations are (M={m}, K={k}) but weights are "
                         f"(N={n}, K={k_w}); the K dimensions must agree")
    return m, k, n
