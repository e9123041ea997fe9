# SPDX-License-Identifier: BSD-2-Clause
"""Tiling of a BitLinear (M x K activations, N x K ternary weights) onto a rows x cols array.

The array computes one weight tile at a time: ``rows`` input features (a K-slice) by ``cols``
output features (an N-slice). A layer becomes ceil(N/cols) x ceil(K/rows) tiles, N-slice major,
each streaming all M activation vectors; the K-slices of one N-slice are summed afterwards.
Edges are padded with zero weights and zero activations, which add nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.config import AcceleratorConfig

__all__ = ["TilePlan", "plan_tiles"]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class TilePlan:
    """Where each tile of a layer comes from, and how to put the results back together."""

    config: AcceleratorConfig
    m: int
    k: int
    n: int

    @property
    def k_tiles(self) -> int:
        return _ceil_div(self.k, self.config.rows)

    @property
    def n_tiles(self) -> int:
        return _ceil_div(self.n, self.config.cols)

    def tiles(self) -> list[tuple[int, int]]:
        """(n0, k0) of every tile, in issue order."""
        r, c = self.config.rows, self.config.cols
        return [(nt * c, kt * r) for nt in range(self.n_tiles) for kt in range(self.k_tiles)]

    def weight_tile(self, w_t: np.ndarray, n0: int, k0: int) -> np.ndarray:
        """(rows, cols) int8: cell (i, j) holds weight (n0 + j, k0 + i), zero beyond the edges."""
        r, c = self.config.rows, self.config.cols
        tile = np.zeros((r, c), dtype=np.int8)
        block = w_t[n0:n0 + c, k0:k0 + r]
        tile[:block.shape[1], :block.shape[0]] = block.T
        return tile

    def act_tile(self, x_q: np.ndarray, k0: int) -> np.ndarray:
        """(m, rows) int8: the K-slice of every token, zero beyond the edge."""
        r = self.config.rows
        tile = np.zeros((self.m, r), dtype=np.int8)
        block = x_q[:, k0:k0 + r]
        tile[:, :block.shape[1]] = block
        return tile

    def gather(self, results: np.ndarray) -> np.ndarray:
        """Sum the per-tile results ((tiles * m, cols), in issue order) into (m, n) int64."""
        c = self.config.cols
        expect = (len(self.tiles()) * self.m, c)
        if results.shape != expect:
            raise ValueError(f"expected results of shape {expect} for {len(self.tiles())} tiles "
                             f"of {self.m} tokens, not {results.shape}")
        acc = np.zeros((self.m, self.n_tiles * c), dtype=np.int64)
        for t, (n0, _) in enumerate(self.tiles()):
            acc[:, n0:n0 + c] += results[t * self.m:(t + 1) * self.m]
        return acc[:, :self.n]


def plan_tiles(config: AcceleratorConfig, x_q: np.ndarray, w_t: np.ndarray) -> TilePlan:
    """Check the shapes of a layer and plan its tiles."""
    x_q, w_t = np.asarray(x_q), np.asarray(w_t)
    if x_q.ndim != 2 or w_t.ndim != 2:
        raise ValueError(f"activations and weights must be 2-D, not {x_q.shape} and {w_t.shape}")
    (m, k), (n, k_w) = x_q.shape, w_t.shape
    if k != k_w:
        raise ValueError(f"shape mismatch: activations are (M={m}, K={k}) but weights are "
                         f"(N={n}, K={k_w}); the K dimensions must agree")
    if 0 in (m, k, n):
        raise ValueError(f"empty layer: M={m}, K={k}, N={n}")
    if k > config.max_k:
        raise ValueError(f"K={k} exceeds max_k={config.max_k} of the configuration: the "
                         f"accumulators could overflow")
    return TilePlan(config, m, k, n)
