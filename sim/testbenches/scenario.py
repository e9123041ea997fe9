# SPDX-License-Identifier: BSD-2-Clause
"""Stimulus for the array benches, computed once on the host and shared by every simulator.

A scenario is a list of weight tiles, each with the activation vectors that use it. It knows
its golden results (via :func:`golden.bitlinear.int_matmul`) and how to pack every stream beat
into the flat integer that the hardware port carries, so that the amaranth.sim bench and the
cocotb bench (which runs in another process, without PyTorch) drive exactly the same bits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from golden.bitlinear import int_matmul
from golden.contract.codecs import encode_weight_codes
from golden.contract.config import AcceleratorConfig
from hw.array import act_layout, result_layout, weight_beat_layout, weight_beat_payloads

__all__ = ["ArrayScenario", "ArrayTile", "pack", "random_scenario", "unpack_results"]


def pack(layout, value) -> int:
    """The flat integer of a payload, as it appears on the Verilog port."""
    return layout.const(value).as_value().value


def unpack_results(config: AcceleratorConfig, beats) -> np.ndarray:
    """Result beats (flat integers) -> (len(beats), cols) int64 array."""
    layout = result_layout(config)
    return np.array([[int(layout.from_bits(b)[j]) for j in range(config.cols)] for b in beats],
                    dtype=np.int64).reshape(len(beats), config.cols)


@dataclass(frozen=True)
class ArrayTile:
    """One weight tile and the activation vectors that stream through it.

    ``weights[i, j]`` sits in cell (row i, column j): K index i, N index j.
    ``acts[t, i]`` is activation i of vector t.
    """

    weights: np.ndarray    # (rows, cols) int8 ternary
    acts: np.ndarray       # (tokens, rows) int8

    def expected(self) -> np.ndarray:
        """(tokens, cols) golden column sums."""
        acc = int_matmul(torch.from_numpy(self.acts), torch.from_numpy(self.weights.T.copy()))
        return acc.numpy()


@dataclass
class ArrayScenario:
    config: AcceleratorConfig
    tiles: list[ArrayTile]
    #: Order in which each tile's beats (``weight_rows_per_cycle`` rows each) are written
    #: (any order is legal).
    beat_orders: list[list[int]] = field(default_factory=list)

    def weight_beats(self, t: int) -> list[int]:
        layout = weight_beat_layout(self.config)
        codes = encode_weight_codes(self.tiles[t].weights)
        beats = weight_beat_payloads(self.config, [[int(c) for c in row] for row in codes])
        return [pack(layout, beats[k]) for k in self.beat_orders[t]]

    def act_beats(self, t: int) -> list[int]:
        layout = act_layout(self.config)
        return [pack(layout, {"data": [int(a) for a in vec], "swap": int(n == 0)})
                for n, vec in enumerate(self.tiles[t].acts)]

    def expected(self) -> np.ndarray:
        return np.concatenate([tile.expected() for tile in self.tiles])

    @property
    def n_results(self) -> int:
        return sum(len(tile.acts) for tile in self.tiles)

    def to_json(self, **extra) -> str:
        """Packed beats for a bench in another process, plus ``extra`` settings."""
        return json.dumps({
            "tiles": [{"weights": self.weight_beats(t), "acts": self.act_beats(t)}
                      for t in range(len(self.tiles))],
            "n_results": self.n_results,
            **extra,
        })


def random_scenario(config: AcceleratorConfig, rng: np.random.Generator, *, n_tiles: int = 4,
                    max_tokens: int = 6, extremes: bool = True) -> ArrayScenario:
    """Random ternary tiles and int8 vectors, with the extremes of the datapath included.

    With ``extremes``, the first tiles are all +1 weights with every activation at the most
    negative value and at the most positive value, and all -1 weights with the most negative
    value: the largest sums of either sign that the array can produce.
    """
    rows, cols = config.rows, config.cols
    lo, hi = config.act_min, config.act_max
    tiles = []
    if extremes:
        ones = np.ones((rows, cols), dtype=np.int8)
        tiles += [
            ArrayTile(ones, np.full((2, rows), lo, dtype=np.int8)),
            ArrayTile(ones, np.full((2, rows), hi, dtype=np.int8)),
            ArrayTile(-ones, np.full((1, rows), lo, dtype=np.int8)),
        ]
    for _ in range(n_tiles):
        p_zero = rng.uniform(0.0, 0.6)
        weights = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(rows, cols),
                             p=[(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2])
        tokens = int(rng.integers(1, max_tokens + 1))
        acts = rng.integers(lo, hi + 1, size=(tokens, rows)).astype(np.int8)
        tiles.append(ArrayTile(weights, acts))
    orders = [list(rng.permutation(config.tile_beats)) for _ in tiles]
    return ArrayScenario(config, tiles, [[int(i) for i in o] for o in orders])

