# SPDX-License-Identifier: BSD-2-Clause
"""A functional model of the accelerator: the command set of :mod:`golden.isa`, in numpy.

It executes the same command words as the RTL with the same results: accumulators (wrapping at
``acc_bits`` like the hardware's registers), responses, sticky error flags and the rule that
state-changing commands are skipped while a flag is set. It is the fast backend of the runtime
and the reference that differential tests hold the RTL to.

Timing is not modelled cycle by cycle: READ_COUNTERS reports the counters that do not depend on
stream timing (COMPUTE from :func:`firmware.cycle_model.matmul_cycles`, MACS, ZERO_MACS) and
zeros for the others.
"""

from __future__ import annotations

import numpy as np

from golden.config import WORD_BITS, AcceleratorConfig
from golden.isa import (
    ARG_WORDS,
    CLEAR_MAGIC,
    ILLEGAL_WEIGHT_CODE,
    SYNC,
    ClearFlag,
    Counter,
    ErrorFlag,
    MatmulFlag,
    Opcode,
)

from .cycle_model import matmul_cycles
from .weights import unpack_weight_rows

__all__ = ["FunctionalAccelerator", "TruncatedStream"]

_ARG_LIMIT = 1 << 25      # as in hw/accelerator.py: arguments at or above are out of range


class TruncatedStream(ValueError):
    """The command stream ends inside a command: the hardware would wait for more words."""


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Wrap int64 values to ``bits``-bit two's complement, as a register of that width does."""
    mask = (1 << bits) - 1
    values = values & mask
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


class FunctionalAccelerator:
    """One accelerator instance; its memories persist from one :meth:`run` to the next."""

    def __init__(self, config: AcceleratorConfig):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"config must be an AcceleratorConfig, not {type(config).__name__}")
        self.config = config
        self.weights = [0] * config.weight_depth
        self.acts = np.zeros((config.act_depth, config.rows), dtype=np.int64)
        self.acc = np.zeros((config.acc_depth, config.cols), dtype=np.int64)
        self.errors = ErrorFlag(0)
        self.counters = dict.fromkeys(Counter, 0)

    # --- the stream --------------------------------------------------------------------------

    def run(self, words) -> list[int]:
        """Execute a whole command stream; return the response words."""
        words = [int(w) for w in words]
        response: list[int] = []
        pos = 0
        while pos < len(words):
            pos = self._command(words, pos, response)
        return response

    def _take(self, words, pos, n, what):
        if pos + n > len(words):
            raise TruncatedStream(f"the command stream ends inside {what}: {n} more word(s) "
                                  f"expected at word {pos}, the stream has {len(words)}")
        return words[pos:pos + n]

    def _command(self, words, pos, response) -> int:
        header = words[pos]
        pos += 1
        opcode_value = header & 0xF
        if header >> 24 != SYNC or (header >> 8) & 0xFFFF or opcode_value >= len(Opcode):
            self.errors |= ErrorFlag.BAD_HEADER
            return pos
        opcode, flags = Opcode(opcode_value), (header >> 4) & 0xF
        args = self._take(words, pos, ARG_WORDS[opcode], f"the arguments of {opcode.name}")
        pos += len(args)
        if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
            return self._load(opcode, args, words, pos)
        if opcode == Opcode.MATMUL:
            self._matmul(flags, *args)
        elif opcode == Opcode.DRAIN:
            self._drain(*args, response)
        elif opcode == Opcode.READ_COUNTERS:
            response.append(self._response_header(opcode))
            for counter in Counter:
                value = self.counters[counter] & ((1 << 48) - 1)
                response += [value & 0xFFFF_FFFF, value >> 32]
        elif opcode == Opcode.READ_STATUS:
            response += [self._response_header(opcode), int(self.errors),
                         *self.config.status_words(), 1]
        elif opcode == Opcode.CLEAR:
            if args[0] != CLEAR_MAGIC:
                self.errors |= ErrorFlag.BAD_MAGIC
            else:
                if flags & ClearFlag.ERRORS:
                    self.errors = ErrorFlag(0)
                if flags & ClearFlag.COUNTERS:
                    self.counters = dict.fromkeys(Counter, 0)
        return pos

    def _response_header(self, opcode: Opcode) -> int:
        return SYNC << 24 | int(self.errors) << 8 | opcode.value

    # --- commands ----------------------------------------------------------------------------

    def _load(self, opcode, args, words, pos) -> int:
        cfg = self.config
        addr, count = args
        weights = opcode == Opcode.LOAD_WEIGHTS
        depth = cfg.weight_depth if weights else cfg.act_depth
        bits = cfg.weight_word_bits if weights else cfg.act_word_bits
        sub = cfg.stream_words(bits)
        ok = addr < _ARG_LIMIT and count < _ARG_LIMIT and addr + count <= depth
        if not ok:
            self.errors |= ErrorFlag.OVERRUN
        discard = not ok or bool(self.errors)
        data = self._take(words, pos, count * sub, f"the data of {opcode.name}")
        for i in range(count):
            word = sum(w << (WORD_BITS * j) for j, w in enumerate(data[i * sub:(i + 1) * sub]))
            word &= (1 << bits) - 1
            if discard or self.errors:
                continue
            if weights:
                codes = [(word >> (2 * j)) & 3 for j in range(cfg.cols)]
                if cfg.weight_format == "2bit" and ILLEGAL_WEIGHT_CODE in codes:
                    self.errors |= ErrorFlag.ILLEGAL_WEIGHT
                    continue
                self.weights[addr + i] = word
            else:
                lanes = [(word >> (cfg.act_bits * j)) & ((1 << cfg.act_bits) - 1)
                         for j in range(cfg.rows)]
                self.acts[addr + i] = _signed(np.array(lanes, dtype=np.int64), cfg.act_bits)
        return pos + count * sub

    def _matmul(self, flags, w_addr, a_addr, acc_addr, m, k_tiles, n_tiles) -> None:
        cfg = self.config
        fits = all(v < _ARG_LIMIT for v in (m, k_tiles, n_tiles))
        if not fits or 0 in (m, k_tiles, n_tiles) or k_tiles > cfg.max_k // cfg.rows:
            self.errors |= ErrorFlag.BAD_SHAPE
            return
        tiles = n_tiles * k_tiles
        rows = tiles * cfg.rows
        in_bounds = (all(v < _ARG_LIMIT for v in (w_addr, a_addr, acc_addr))
                     and w_addr * cfg.weight_rows_per_word + rows <= cfg.weight_rows
                     and a_addr + m * k_tiles <= cfg.act_depth
                     and acc_addr + n_tiles * m <= cfg.acc_depth)
        if not in_bounds:
            self.errors |= ErrorFlag.OVERRUN
            return
        if self.errors:
            return
        n_words = -(-rows // cfg.weight_rows_per_word)
        weights = unpack_weight_rows(cfg, self.weights[w_addr:w_addr + n_words], rows,
                                     strict=False).astype(np.int64)
        weights = weights.reshape(n_tiles, k_tiles, cfg.rows, cfg.cols)
        acts = self.acts[a_addr:a_addr + m * k_tiles].reshape(m, k_tiles, cfg.rows)
        accumulate = bool(flags & MatmulFlag.ACCUMULATE)
        for nt in range(n_tiles):
            block = slice(acc_addr + nt * m, acc_addr + (nt + 1) * m)
            total = self.acc[block] if accumulate else np.zeros((m, cfg.cols), np.int64)
            for kt in range(k_tiles):
                total = _signed(total + acts[:, kt] @ weights[nt, kt], cfg.acc_bits)
            self.acc[block] = total
        est = matmul_cycles(cfg, m=m, k=k_tiles * cfg.rows, n=n_tiles * cfg.cols)
        self.counters[Counter.COMPUTE] += est.cycles
        self.counters[Counter.MACS] += est.array_macs
        self.counters[Counter.ZERO_MACS] += m * int((weights == 0).sum())

    def _drain(self, addr, count, response) -> None:
        cfg = self.config
        ok = addr < _ARG_LIMIT and count < _ARG_LIMIT and addr + count <= cfg.acc_depth
        if not ok:
            self.errors |= ErrorFlag.OVERRUN
        response.append(self._response_header(Opcode.DRAIN))
        if ok and not self.errors:
            values = self.acc[addr:addr + count].reshape(-1)
            response += [int(v) & 0xFFFF_FFFF for v in values]
