# SPDX-License-Identifier: BSD-2-Clause
"""Command encoders: each function returns the 32-bit words of one command (the formats and
rules are :mod:`golden.contract.isa`'s); a program is their concatenation."""

from __future__ import annotations

from golden.contract.codecs import to_stream_words
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    CLEAR_MAGIC,
    ClearFlag,
    MatmulFlag,
    Opcode,
    check_word,
    command_header,
)

__all__ = ["clear", "drain", "load_acts", "load_weights", "matmul", "nop", "read_counters",
           "read_status"]

def nop() -> list[int]:
    return [command_header(Opcode.NOP)]


def _load(opcode: Opcode, addr: int, words, word_bits: int) -> list[int]:
    words = [int(w) for w in words]
    out = [command_header(opcode), check_word("address", addr), check_word("count", len(words))]
    for w in words:
        out += to_stream_words(w, word_bits)
    return out


def load_weights(config: AcceleratorConfig, addr: int, words) -> list[int]:
    """LOAD_WEIGHTS of weight-memory words (:func:`golden.contract.codecs.pack_weight_rows`)."""
    return _load(Opcode.LOAD_WEIGHTS, addr, words, config.weight_word_bits)


def load_acts(config: AcceleratorConfig, addr: int, words) -> list[int]:
    """LOAD_ACTS of activation-buffer words (:func:`golden.contract.codecs.pack_act_words`)."""
    return _load(Opcode.LOAD_ACTS, addr, words, config.act_word_bits)


def matmul(*, w_addr: int, a_addr: int, acc_addr: int, m: int, k_tiles: int, n_tiles: int,
           accumulate: bool = False) -> list[int]:
    flags = MatmulFlag.ACCUMULATE if accumulate else 0
    return [command_header(Opcode.MATMUL, flags), check_word("w_addr", w_addr),
            check_word("a_addr", a_addr), check_word("acc_addr", acc_addr), check_word("m", m),
            check_word("k_tiles", k_tiles), check_word("n_tiles", n_tiles)]


def drain(addr: int, count: int) -> list[int]:
    return [command_header(Opcode.DRAIN), check_word("address", addr), check_word("count", count)]


def read_counters() -> list[int]:
    return [command_header(Opcode.READ_COUNTERS)]


def read_status() -> list[int]:
    return [command_header(Opcode.READ_STATUS)]


def clear(*, counters: bool = True, errors: bool = True) -> list[int]:
    flags = (ClearFlag.COUNTERS if counters else 0) | (ClearFlag.ERRORS if errors else 0)
    return [command_header(Opcode.CLEAR, flags), CLEAR_MAGIC]
