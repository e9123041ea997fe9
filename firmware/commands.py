# SPDX-License-Identifier: BSD-2-Clause
"""Command-stream encoding and response decoding (formats in :mod:`golden.isa`).

Every function returns the 32-bit words of one command; a program is their concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.config import AcceleratorConfig
from golden.isa import (
    ARG_WORDS,
    CLEAR_MAGIC,
    COUNTER_WORDS,
    STATUS_WORDS,
    SYNC,
    ClearFlag,
    Counter,
    ErrorFlag,
    MatmulFlag,
    Opcode,
)

from .weights import stream_words

__all__ = [
    "Command",
    "CommandError",
    "ResponseHeader",
    "clear",
    "drain",
    "header",
    "load_acts",
    "load_weights",
    "matmul",
    "nop",
    "parse_counters",
    "parse_response_header",
    "read_counters",
    "read_status",
    "response_words",
    "split_commands",
]

_U32 = (1 << 32) - 1


class CommandError(ValueError):
    """A command that the accelerator would refuse (or a response that makes no sense)."""


def _u32(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32:
        raise CommandError(f"{name} must be an unsigned 32-bit integer, not {value!r}")
    return value


def header(opcode: Opcode, flags: int = 0) -> int:
    if not isinstance(opcode, Opcode):
        raise CommandError(f"opcode must be an Opcode, not {opcode!r}")
    if not 0 <= int(flags) < 16:
        raise CommandError(f"flags must fit in 4 bits, not {flags!r}")
    return SYNC << 24 | int(flags) << 4 | opcode.value


def nop() -> list[int]:
    return [header(Opcode.NOP)]


def _load(opcode: Opcode, addr: int, words, word_bits: int) -> list[int]:
    words = [int(w) for w in words]
    out = [header(opcode), _u32("address", addr), _u32("count", len(words))]
    for w in words:
        out += stream_words(w, word_bits)
    return out


def load_weights(config: AcceleratorConfig, addr: int, words) -> list[int]:
    """LOAD_WEIGHTS of weight-memory words (see :func:`firmware.weights.pack_weight_rows`)."""
    return _load(Opcode.LOAD_WEIGHTS, addr, words, config.weight_word_bits)


def load_acts(config: AcceleratorConfig, addr: int, words) -> list[int]:
    """LOAD_ACTS of activation-buffer words (``rows`` activations packed little-endian)."""
    return _load(Opcode.LOAD_ACTS, addr, words, config.act_word_bits)


def matmul(*, w_addr: int, a_addr: int, acc_addr: int, m: int, k_tiles: int, n_tiles: int,
           accumulate: bool = False) -> list[int]:
    flags = MatmulFlag.ACCUMULATE if accumulate else 0
    return [header(Opcode.MATMUL, flags), _u32("w_addr", w_addr), _u32("a_addr", a_addr),
            _u32("acc_addr", acc_addr), _u32("m", m), _u32("k_tiles", k_tiles),
            _u32("n_tiles", n_tiles)]


def drain(addr: int, count: int) -> list[int]:
    return [header(Opcode.DRAIN), _u32("address", addr), _u32("count", count)]


def read_counters() -> list[int]:
    return [header(Opcode.READ_COUNTERS)]


def read_status() -> list[int]:
    return [header(Opcode.READ_STATUS)]


def clear(*, counters: bool = True, errors: bool = True) -> list[int]:
    flags = (ClearFlag.COUNTERS if counters else 0) | (ClearFlag.ERRORS if errors else 0)
    return [header(Opcode.CLEAR, flags), CLEAR_MAGIC]


@dataclass(frozen=True)
class ResponseHeader:
    opcode: Opcode
    errors: ErrorFlag

    def raise_on_error(self):
        if self.errors:
            names = ", ".join(f.name for f in ErrorFlag if f in self.errors)
            raise CommandError(f"the accelerator reports errors: {names}")


def parse_response_header(word: int) -> ResponseHeader:
    word = _u32("response header", word)
    if word >> 24 != SYNC or (word >> 16) & 0xFF or (word >> 4) & 0xF:
        raise CommandError(f"malformed response header {word:#010x}")
    try:
        opcode = Opcode(word & 0xF)
    except ValueError:
        raise CommandError(f"response header {word:#010x} names no opcode") from None
    return ResponseHeader(opcode, ErrorFlag((word >> 8) & 0xFF))


def parse_counters(words) -> dict[Counter, int]:
    """READ_COUNTERS payload (two words per counter, low first) -> {Counter: value}."""
    words = list(words)
    if len(words) != COUNTER_WORDS:
        raise CommandError(f"expected {COUNTER_WORDS} counter words, not {len(words)}")
    return {c: words[2 * c] | words[2 * c + 1] << 32 for c in Counter}


@dataclass(frozen=True)
class Command:
    """One command of a well-formed stream, as :func:`split_commands` finds it.

    ``opcode`` is None for a word that is not a valid header (the hardware takes it as a
    command of one word); ``args`` are the argument words, without a load's data.
    """

    start: int
    length: int
    opcode: Opcode | None
    flags: int
    args: tuple[int, ...]

    def response_words(self, config: AcceleratorConfig) -> int:
        """Words the accelerator sends in answer to this command."""
        if self.opcode is None:
            return 0
        count = self.args[1] if self.opcode == Opcode.DRAIN else 0
        return response_words(config, self.opcode, count=count)


def split_commands(config: AcceleratorConfig, words) -> list[Command]:
    """The commands of a well-formed stream, in order. Raises CommandError if the stream ends
    inside a command."""
    words = list(words)
    commands, pos = [], 0
    while pos < len(words):
        head = words[pos]
        op = head & 0xF
        n, opcode, args = 1, None, ()
        if head >> 24 == SYNC and not (head >> 8) & 0xFFFF and op < len(Opcode):
            opcode = Opcode(op)
            n += ARG_WORDS[opcode]
            args = tuple(words[pos + 1:pos + n])
            if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS) and pos + 2 < len(words):
                bits = (config.weight_word_bits if opcode == Opcode.LOAD_WEIGHTS
                        else config.act_word_bits)
                n += words[pos + 2] * config.stream_words(bits)
        if pos + n > len(words):
            raise CommandError(f"the command stream ends inside a command: the command at "
                               f"word {pos} needs {n} words, {len(words) - pos} remain")
        commands.append(Command(start=pos, length=n, opcode=opcode, flags=(head >> 4) & 0xF,
                                args=args))
        pos += n
    return commands


def command_lengths(config: AcceleratorConfig, words) -> list[int]:
    """Lengths of the commands of a well-formed stream, in order (see :func:`split_commands`)."""
    return [command.length for command in split_commands(config, words)]


def response_words(config: AcceleratorConfig, opcode: Opcode, *, count: int = 0) -> int:
    """Words of the response to one command (header included; DRAIN: ``count`` words)."""
    payload = {Opcode.DRAIN: count * config.cols, Opcode.READ_COUNTERS: COUNTER_WORDS,
               Opcode.READ_STATUS: STATUS_WORDS}.get(opcode)
    return 0 if payload is None else 1 + payload


assert set(ARG_WORDS) == set(Opcode)
