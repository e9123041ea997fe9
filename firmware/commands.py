# SPDX-License-Identifier: BSD-2-Clause
"""Command encoders: each function returns the 32-bit words of one command, its CRC word
included (the formats and rules are :mod:`golden.contract.isa`'s); a program is their
concatenation. The load encoders cut a load into commands of at most ``max_load`` memory words.
"""

from __future__ import annotations

import numpy as np

from golden.contract.codecs import to_stream_words
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    CLEAR_MAGIC,
    ClearFlag,
    CommandError,
    MatmulFlag,
    Opcode,
    check_word,
    command_header,
    max_command_words,
    with_crc,
)

__all__ = ["clear", "drain", "load_acts", "load_weights", "matmul", "nop", "prefetch",
           "read_counters", "read_status", "resync", "sync"]


def nop() -> list[int]:
    return [command_header(Opcode.NOP)]


def _integer(name: str, value) -> int:
    """``value`` as an int if it is an integer (a numpy one too), else CommandError: a float
    is not silently truncated."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandError(f"{name} must be an integer, not {value!r}")
    return value


def _load(config: AcceleratorConfig, opcode: Opcode, addr: int, words,
          word_bits: int) -> list[int]:
    words = [_integer("memory word", w) for w in words]
    check_word("address", addr)
    out = []
    for start in range(0, len(words), config.max_load):
        chunk = words[start:start + config.max_load]
        data = [s for w in chunk for s in to_stream_words(w, word_bits)]
        out += with_crc([command_header(opcode), check_word("address", addr + start),
                         len(chunk), *data])
    return out


def load_weights(config: AcceleratorConfig, addr: int, words) -> list[int]:
    """LOAD_WEIGHTS of weight-memory words (:func:`golden.contract.codecs.pack_weight_rows`),
    as many commands as ``max_load`` requires."""
    return _load(config, Opcode.LOAD_WEIGHTS, addr, words, config.weight_word_bits)


def load_acts(config: AcceleratorConfig, addr: int, words) -> list[int]:
    """LOAD_ACTS of activation-buffer words (:func:`golden.contract.codecs.pack_act_words`),
    as many commands as ``max_load`` requires."""
    return _load(config, Opcode.LOAD_ACTS, addr, words, config.act_word_bits)


def matmul(*, w_addr: int, a_addr: int, acc_addr: int, m: int, k_tiles: int, n_tiles: int,
           accumulate: bool = False) -> list[int]:
    flags = MatmulFlag.ACCUMULATE if accumulate else 0
    return with_crc([command_header(Opcode.MATMUL, flags), check_word("w_addr", w_addr),
                     check_word("a_addr", a_addr), check_word("acc_addr", acc_addr),
                     check_word("m", m), check_word("k_tiles", k_tiles),
                     check_word("n_tiles", n_tiles)])


def prefetch(*, w_addr: int, tiles: int) -> list[int]:
    """PREFETCH of the weights of the MATMUL after the next one: ``tiles`` (its ``n_tiles *
    k_tiles``) tiles at byte ``w_addr`` (``weight_memory = "axi"``)."""
    return with_crc([command_header(Opcode.PREFETCH), check_word("w_addr", w_addr),
                     check_word("tiles", tiles)])


def drain(addr: int, count: int) -> list[int]:
    return with_crc([command_header(Opcode.DRAIN), check_word("address", addr),
                     check_word("count", count)])


def read_counters() -> list[int]:
    return with_crc([command_header(Opcode.READ_COUNTERS)])


def read_status() -> list[int]:
    return with_crc([command_header(Opcode.READ_STATUS)])


def sync(token: int) -> list[int]:
    return with_crc([command_header(Opcode.SYNC), check_word("token", token)])


def clear(*, counters: bool = True, errors: bool = True) -> list[int]:
    flags = (ClearFlag.COUNTERS if counters else 0) | (ClearFlag.ERRORS if errors else 0)
    return with_crc([command_header(Opcode.CLEAR, flags), CLEAR_MAGIC])


def resync(config: AcceleratorConfig, token: int, *, clear_counters: bool = False) -> list[int]:
    """The words that bring the accelerator back to a known place from anywhere
    (:mod:`golden.contract.isa`, *Resynchronization*): :func:`max_command_words` NOPs, CLEAR of
    the error flags (and, if asked, the counters), and SYNC(``token``). The host then discards
    response words up to the SYNC response that carries ``token``."""
    return (nop() * max_command_words(config) + clear(counters=clear_counters, errors=True)
            + sync(token))
