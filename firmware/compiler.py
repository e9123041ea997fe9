# SPDX-License-Identifier: BSD-2-Clause
"""Lowering of one integer BitLinear product onto the accelerator.

A layer with activations ``x_q`` (M, K) and ternary weights ``w_t`` (N, K) becomes:

* a weight image: ``n_tiles * k_tiles`` tiles of ``rows`` rows, N-slice major, each row the
  ``cols`` weights (n0 + j, k0 + i) of one K index, zero-padded at the edges, packed in the
  configured weight format (:func:`firmware.weights.pack_weight_rows`);
* an activation image: word ``m * k_tiles + kt`` holds activations (m, kt * rows + i);
* the commands LOAD_WEIGHTS, LOAD_ACTS, MATMUL, DRAIN (accumulator word ``nt * M + m`` holds
  outputs (m, nt * cols + j)); with ``measure``, CLEAR (counters) before the MATMUL and
  READ_COUNTERS after it, so the counters describe exactly this MATMUL.

The program records the configuration it was built for; :meth:`LayerProgram.check_config`
refuses another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.config import AcceleratorConfig
from golden.isa import COUNTER_WORDS, Counter, Opcode

from . import commands
from .commands import CommandError
from .tiling import check_layer, tile_acts, tile_weights
from .weights import pack_weight_rows

__all__ = ["LayerProgram", "compile_layer"]


@dataclass(frozen=True)
class LayerProgram:
    """Everything needed to run one layer's integer product on the accelerator."""

    config: AcceleratorConfig
    m: int
    k: int
    n: int
    k_tiles: int
    n_tiles: int
    weight_words: list[int]        # weight memory image
    act_words: list[int]           # activation buffer image
    words: list[int]               # the command stream (loads, MATMUL, DRAIN)
    response_words: int            # words the accelerator sends back
    measure: bool = False          # the response starts with the MATMUL's counters

    @property
    def tiles(self) -> int:
        return self.k_tiles * self.n_tiles

    def check_config(self, config: AcceleratorConfig) -> None:
        if config != self.config:
            diff = ", ".join(f"{k}={v!r} (program: {self.config.to_dict()[k]!r})"
                             for k, v in config.to_dict().items()
                             if self.config.to_dict()[k] != v)
            raise CommandError(f"this program was built for another accelerator "
                               f"configuration: {diff}")

    def _check_length(self, response: list[int]) -> None:
        if len(response) != self.response_words:
            raise CommandError(f"expected {self.response_words} response words, "
                               f"got {len(response)}")

    def counters(self, response: list[int]) -> dict[Counter, int]:
        """The MATMUL's performance counters (programs compiled with ``measure``)."""
        if not self.measure:
            raise CommandError("this program was compiled without measure=True")
        self._check_length(response)
        commands.parse_response_header(response[0]).raise_on_error()
        return commands.parse_counters(response[1:1 + COUNTER_WORDS])

    def decode(self, response: list[int]) -> np.ndarray:
        """The response -> (M, N) int64 accumulators."""
        self._check_length(response)
        if self.measure:
            response = response[1 + COUNTER_WORDS:]
        commands.parse_response_header(response[0]).raise_on_error()
        cols, acc_bits = self.config.cols, self.config.acc_bits
        raw = np.array(response[1:], dtype=np.int64).reshape(self.n_tiles, self.m, cols)
        # Accumulators arrive sign-extended to 32 bits.
        raw = np.where(raw >= 1 << 31, raw - (1 << 32), raw)
        limit = 1 << (acc_bits - 1)
        if (raw < -limit).any() or (raw >= limit).any():
            raise CommandError(f"an accumulator exceeds the configured {acc_bits} bits")
        acc = raw.transpose(1, 0, 2).reshape(self.m, self.n_tiles * cols)
        return acc[:, :self.n]


def _act_words(config: AcceleratorConfig, x_q: np.ndarray) -> list[int]:
    """Activation-buffer words, word m * k_tiles + kt = K-slice kt of token m, lane i in bits
    [act_bits * i, act_bits * (i + 1))."""
    bits = config.act_bits
    lanes = tile_acts(config, x_q).astype(np.int64) & ((1 << bits) - 1)
    shifts = [bits * i for i in range(config.rows)]
    return [sum(int(v) << s for v, s in zip(word, shifts, strict=True))
            for word in lanes.reshape(-1, config.rows)]


def compile_layer(config: AcceleratorConfig, x_q, w_t, *, measure: bool = False) -> LayerProgram:
    """Lower ``x_q @ w_t.T`` (x_q int8 (M, K), w_t ternary (N, K)) for ``config``."""
    if not isinstance(config, AcceleratorConfig):
        raise CommandError(f"config must be an AcceleratorConfig, not {type(config).__name__}")
    x_q, w_t = np.asarray(x_q), np.asarray(w_t)
    m, k, n = check_layer(config, x_q, w_t)

    k_tiles, n_tiles = config.k_tiles(k), config.n_tiles(n)
    weight_words = pack_weight_rows(config, tile_weights(config, w_t).reshape(-1, config.cols))
    act_words = _act_words(config, x_q)
    for what, used, depth in (("weight memory", len(weight_words), config.weight_depth),
                              ("activation buffer", len(act_words), config.act_depth),
                              ("accumulator buffer", m * n_tiles, config.acc_depth)):
        if used > depth:
            raise CommandError(f"layer M={m}, K={k}, N={n} needs {used} words of {what}; "
                               f"the configuration has {depth}")
    matmul = commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=m, k_tiles=k_tiles,
                             n_tiles=n_tiles)
    if measure:
        matmul = [*commands.clear(errors=False), *matmul, *commands.read_counters()]
    words = [
        *commands.load_weights(config, 0, weight_words),
        *commands.load_acts(config, 0, act_words),
        *matmul,
        *commands.drain(0, m * n_tiles),
    ]
    response = commands.response_words(config, Opcode.DRAIN, count=m * n_tiles)
    if measure:
        response += commands.response_words(config, Opcode.READ_COUNTERS)
    return LayerProgram(config=config, m=m, k=k, n=n, k_tiles=k_tiles, n_tiles=n_tiles,
                        weight_words=weight_words, act_words=act_words, words=words,
                        response_words=response, measure=measure)
