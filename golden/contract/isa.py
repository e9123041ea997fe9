# SPDX-License-Identifier: BSD-2-Clause
"""The command set of the accelerator: encodings, limits and rules, defined once.

The gateware (:mod:`hw.accelerator`), the functional model (:mod:`firmware.functional`), the
compiler (:mod:`firmware.compiler`), the generated C header (:mod:`firmware.cheader`) and the
energy model's op counts all read this module; none re-derives what is here. The enums are
Amaranth enums with an explicit shape: in gateware they are signal shapes (and show by name in
waveforms); on the host they are ordinary Python enums. The header layouts are
``amaranth.lib.data`` layouts: the gateware views its words through them, and the host's
:func:`command_header` / :func:`parse_command_header` read their field offsets from them.

Command stream
--------------
The accelerator reads one stream of 32-bit words. A command is a header word, a fixed number of
argument words (:data:`ARG_WORDS`) and, for the load commands, data words::

    header  [31:24] SYNC (0xB5)   [23:8] reserved, 0   [7:4] flags   [3:0] opcode

A word that is not a valid header where a header is expected (another SYNC byte, nonzero
reserved bits, an unknown opcode) is a command of one word that sets
:attr:`ErrorFlag.BAD_HEADER`.

Responses (from DRAIN, READ_COUNTERS and READ_STATUS) leave on one stream of 32-bit words: a
response header, then the payload::

    header  [31:24] SYNC (0xB5)   [23:16] reserved, 0   [15:8] error flags   [7:4] 0
            [3:0] opcode

Memory words (see :class:`golden.contract.config.AcceleratorConfig` for their widths) travel
as ``ceil(width / 32)`` little-endian 32-bit words each, the last one padded with zeros
(:func:`golden.contract.codecs.to_stream_words`). DRAIN sends each accumulator as one 32-bit
word, sign-extended from ``acc_bits``.

Checks
------
Before a command touches a buffer the accelerator checks its extents; :func:`load_error`,
:func:`drain_error` and :func:`matmul_error` state the rules (the gateware implements the same
comparisons in hardware, the functional model and the compiler call these functions).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Shape
from amaranth.lib import data, enum

from .config import MAX_DEPTH, WORD_BITS, AcceleratorConfig

__all__ = [
    "ARG_LIMIT_BITS",
    "ARG_WORDS",
    "CLEAR_MAGIC",
    "COMMAND_HEADER",
    "COUNTER_BITS",
    "COUNTER_WORDS",
    "RESPONSE_HEADER",
    "STATUS_WORDS",
    "SYNC",
    "VERSION",
    "WORD_BITS",
    "ClearFlag",
    "Command",
    "CommandError",
    "Counter",
    "ErrorFlag",
    "MatmulFlag",
    "Opcode",
    "ResponseHeader",
    "TruncatedStream",
    "arg_in_range",
    "check_word",
    "command_header",
    "counter_words",
    "data_words",
    "drain_error",
    "load_error",
    "matmul_error",
    "parse_command_header",
    "parse_counters",
    "parse_response_header",
    "response_header",
    "response_words",
    "split_commands",
    "status_payload",
]


class CommandError(ValueError):
    """A command that the accelerator would refuse, or a response that makes no sense."""


class TruncatedStream(CommandError):
    """The command stream ends inside a command: the hardware would wait for more words."""


#: Marker in the top byte of every command and response header.
SYNC = 0xB5


class Opcode(enum.Enum, shape=4):
    """Commands of the accelerator's command stream."""

    #: Do nothing.
    NOP = 0
    #: args (address, count); then count weight-memory words of data.
    LOAD_WEIGHTS = 1
    #: args (address, count); then count activation-buffer words of data.
    LOAD_ACTS = 2
    #: args (weight address, activation address, accumulator address, m, k_tiles, n_tiles):
    #: the whole tiled product of one layer (:mod:`golden.contract.tileloop`).
    MATMUL = 3
    #: args (address, count): respond with count accumulator-buffer words.
    DRAIN = 4
    #: Respond with every :class:`Counter`, in order, each as two words (low, high).
    READ_COUNTERS = 5
    #: Respond with the error flags, the configuration and the version (:func:`status_payload`).
    READ_STATUS = 6
    #: args (magic): clear what the flags say (:class:`ClearFlag`) if magic == CLEAR_MAGIC.
    CLEAR = 7


class MatmulFlag(enum.IntFlag):
    #: Add to the accumulators instead of overwriting them on the first K tile.
    ACCUMULATE = 1


class ClearFlag(enum.IntFlag):
    COUNTERS = 1
    ERRORS = 2


#: Number of argument words after each header.
ARG_WORDS = {
    Opcode.NOP: 0,
    Opcode.LOAD_WEIGHTS: 2,
    Opcode.LOAD_ACTS: 2,
    Opcode.MATMUL: 6,
    Opcode.DRAIN: 2,
    Opcode.READ_COUNTERS: 0,
    Opcode.READ_STATUS: 0,
    Opcode.CLEAR: 1,
}
assert set(ARG_WORDS) == set(Opcode)

#: Argument of CLEAR; a corrupted stream is unlikely to clear the error flags by accident.
CLEAR_MAGIC = 0xC1EA_C1EA

#: Arguments are 32-bit words, but any at or above ``2**ARG_LIMIT_BITS`` is out of range for
#: every buffer (no depth exceeds :data:`~golden.contract.config.MAX_DEPTH`): the accelerator
#: refuses them before any arithmetic, which keeps its bounds arithmetic narrow.
ARG_LIMIT_BITS = (MAX_DEPTH - 1).bit_length() + 1


class ErrorFlag(enum.IntFlag):
    """Sticky error flags. While any is set, commands that change state (loads, MATMUL) are
    consumed but not executed, so a malformed stream cannot corrupt the buffers; CLEAR with
    :attr:`ClearFlag.ERRORS` resumes."""

    #: A header without SYNC, with nonzero reserved bits, or with an unknown opcode.
    BAD_HEADER = 1
    #: A command's address range runs past the end of a buffer.
    OVERRUN = 2
    #: A command's sizes are zero or exceed what the configuration allows.
    BAD_SHAPE = 4
    #: LOAD_WEIGHTS carried the illegal weight code 0b10.
    ILLEGAL_WEIGHT = 8
    #: CLEAR with a wrong magic word.
    BAD_MAGIC = 16


class Counter(enum.IntEnum):
    """Performance counters, in READ_COUNTERS order (each :data:`COUNTER_BITS` bits, sent as
    two words, low first)."""

    #: Cycles since the counters were cleared.
    CYCLES = 0
    #: Cycles in which a command was in progress.
    BUSY = 1
    #: Cycles in which a MATMUL was in progress.
    COMPUTE = 2
    #: Cycles in which a command waited for an input word.
    STALL_IN = 3
    #: Cycles in which a response word waited for the consumer.
    STALL_OUT = 4
    #: Multiply-accumulates issued to the array (rows x cols per activation vector).
    MACS = 5
    #: Of those, the ones with a zero weight (operand-isolated: no adder activity).
    ZERO_MACS = 6


#: Width of each performance counter; it wraps at ``2**COUNTER_BITS``.
COUNTER_BITS = 48
COUNTER_WORDS = 2 * len(Counter)
#: The command-set version, the last word of READ_STATUS.
VERSION = 1
#: READ_STATUS payload: error flags, the two configuration words, the version.
STATUS_WORDS = 4


# --- headers ---------------------------------------------------------------------------------

COMMAND_HEADER = data.StructLayout({"opcode": 4, "flags": 4, "reserved": 16, "sync": 8})
RESPONSE_HEADER = data.StructLayout({"opcode": 4, "pad": 4, "errors": 8, "reserved": 8,
                                     "sync": 8})
assert Shape.cast(COMMAND_HEADER).width == Shape.cast(RESPONSE_HEADER).width == WORD_BITS


def _get(layout: data.StructLayout, word: int, name: str) -> int:
    field = layout[name]
    return (word >> field.offset) & ((1 << field.width) - 1)


def _put(layout: data.StructLayout, **values) -> int:
    word = 0
    for name, value in values.items():
        field = layout[name]
        width = field.width
        if not 0 <= value < 1 << width:
            raise CommandError(f"{name} must fit in {width} bits, not {value!r}")
        word |= value << field.offset
    return word


def check_word(name: str, value) -> int:
    """``value`` if it is an unsigned 32-bit integer (a stream word), else CommandError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << WORD_BITS:
        raise CommandError(f"{name} must be an unsigned 32-bit integer, not {value!r}")
    return value


def command_header(opcode: Opcode, flags: int = 0) -> int:
    """The header word of a command."""
    if not isinstance(opcode, Opcode):
        raise CommandError(f"opcode must be an Opcode, not {opcode!r}")
    return _put(COMMAND_HEADER, opcode=opcode.value, flags=int(flags), sync=SYNC)


def parse_command_header(word: int) -> tuple[Opcode, int] | None:
    """(opcode, flags) of a valid command header; None for a word that is not one (the
    accelerator takes it as a command of one word and sets :attr:`ErrorFlag.BAD_HEADER`)."""
    word = check_word("command word", word)
    opcode = _get(COMMAND_HEADER, word, "opcode")
    if (_get(COMMAND_HEADER, word, "sync") != SYNC or _get(COMMAND_HEADER, word, "reserved")
            or opcode >= len(Opcode)):
        return None
    return Opcode(opcode), _get(COMMAND_HEADER, word, "flags")


@dataclass(frozen=True)
class ResponseHeader:
    opcode: Opcode
    errors: ErrorFlag

    def raise_on_error(self):
        if self.errors:
            names = ", ".join(f.name for f in ErrorFlag if f in self.errors)
            raise CommandError(f"the accelerator reports errors: {names}")


def response_header(opcode: Opcode, errors: int) -> int:
    """The header word of a response."""
    return _put(RESPONSE_HEADER, opcode=opcode.value, errors=int(errors), sync=SYNC)


def parse_response_header(word: int) -> ResponseHeader:
    word = check_word("response header", word)
    if (_get(RESPONSE_HEADER, word, "sync") != SYNC or _get(RESPONSE_HEADER, word, "reserved")
            or _get(RESPONSE_HEADER, word, "pad")):
        raise CommandError(f"malformed response header {word:#010x}")
    try:
        opcode = Opcode(_get(RESPONSE_HEADER, word, "opcode"))
    except ValueError:
        raise CommandError(f"response header {word:#010x} names no opcode") from None
    return ResponseHeader(opcode, ErrorFlag(_get(RESPONSE_HEADER, word, "errors")))


# --- payloads --------------------------------------------------------------------------------

def status_payload(config: AcceleratorConfig, errors: int) -> list[int]:
    """The READ_STATUS payload: the error flags, the configuration
    (:meth:`~golden.contract.config.AcceleratorConfig.status_words`) and :data:`VERSION`."""
    payload = [int(errors), *config.status_words(), VERSION]
    assert len(payload) == STATUS_WORDS
    return payload


def counter_words(values: dict[Counter, int]) -> list[int]:
    """The READ_COUNTERS payload of counter values (each wrapped to :data:`COUNTER_BITS`)."""
    out = []
    for counter in Counter:
        value = values[counter] & ((1 << COUNTER_BITS) - 1)
        out += [value & ((1 << WORD_BITS) - 1), value >> WORD_BITS]
    return out


def parse_counters(words) -> dict[Counter, int]:
    """READ_COUNTERS payload (two words per counter, low first) -> {Counter: value}."""
    words = list(words)
    if len(words) != COUNTER_WORDS:
        raise CommandError(f"expected {COUNTER_WORDS} counter words, not {len(words)}")
    return {c: words[2 * c] | words[2 * c + 1] << WORD_BITS for c in Counter}


# --- extents and lengths -----------------------------------------------------------------------

def arg_in_range(value: int) -> bool:
    """Whether an argument is below ``2**ARG_LIMIT_BITS`` (see :data:`ARG_LIMIT_BITS`)."""
    return value >> ARG_LIMIT_BITS == 0


def _memory_word_bits(config: AcceleratorConfig, opcode: Opcode) -> int:
    return config.weight_word_bits if opcode == Opcode.LOAD_WEIGHTS else config.act_word_bits


def _range_error(depth: int, addr: int, count: int) -> ErrorFlag:
    ok = arg_in_range(addr) and arg_in_range(count) and addr + count <= depth
    return ErrorFlag(0) if ok else ErrorFlag.OVERRUN


def load_error(config: AcceleratorConfig, opcode: Opcode, addr: int, count: int) -> ErrorFlag:
    """The flag a LOAD_WEIGHTS or LOAD_ACTS of ``count`` words at ``addr`` raises (or 0)."""
    depth = config.weight_depth if opcode == Opcode.LOAD_WEIGHTS else config.act_depth
    return _range_error(depth, addr, count)


def drain_error(config: AcceleratorConfig, addr: int, count: int) -> ErrorFlag:
    """The flag a DRAIN of ``count`` accumulator words at ``addr`` raises (or 0)."""
    return _range_error(config.acc_depth, addr, count)


def matmul_error(config: AcceleratorConfig, *, w_addr: int, a_addr: int, acc_addr: int, m: int,
                 k_tiles: int, n_tiles: int) -> ErrorFlag:
    """The flag a MATMUL raises (or 0): a zero or oversized shape, then a buffer overrun.

    The tiles of the product occupy ``n_tiles * k_tiles * rows`` weight rows from word
    ``w_addr``, ``m * k_tiles`` activation words from ``a_addr`` and ``n_tiles * m``
    accumulator words from ``acc_addr`` (:mod:`golden.contract.tileloop`)."""
    shape = (m, k_tiles, n_tiles)
    if (not all(arg_in_range(v) for v in shape) or 0 in shape
            or k_tiles > config.max_k // config.rows):
        return ErrorFlag.BAD_SHAPE
    weight_rows = n_tiles * k_tiles * config.rows
    if not (all(arg_in_range(v) for v in (w_addr, a_addr, acc_addr))
            and w_addr * config.weight_rows_per_word + weight_rows <= config.weight_rows
            and a_addr + m * k_tiles <= config.act_depth
            and acc_addr + n_tiles * m <= config.acc_depth):
        return ErrorFlag.OVERRUN
    return ErrorFlag(0)


def data_words(config: AcceleratorConfig, opcode: Opcode, count: int) -> int:
    """Stream words of data after the arguments: a load's ``count`` memory words, else 0."""
    if opcode not in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
        return 0
    return count * config.stream_words(_memory_word_bits(config, opcode))


def response_words(config: AcceleratorConfig, opcode: Opcode, *, count: int = 0) -> int:
    """Words of the response to one command (header included; DRAIN: ``count`` words, with no
    error flag set)."""
    payload = {Opcode.DRAIN: count * config.cols, Opcode.READ_COUNTERS: COUNTER_WORDS,
               Opcode.READ_STATUS: STATUS_WORDS}.get(opcode)
    return 0 if payload is None else 1 + payload


# --- parsing a stream -------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One command of a stream, as :func:`split_commands` finds it.

    ``opcode`` is None for a word that is not a valid header (the hardware takes it as a
    command of one word); ``args`` are the argument words and ``data`` a load's data words.
    """

    start: int
    opcode: Opcode | None
    flags: int
    args: tuple[int, ...]
    data: tuple[int, ...] = ()

    @property
    def length(self) -> int:
        return 1 + len(self.args) + len(self.data)

    def response_words(self, config: AcceleratorConfig) -> int:
        """Words the accelerator sends in answer to this command (no error flag set)."""
        if self.opcode is None:
            return 0
        count = self.args[1] if self.opcode == Opcode.DRAIN else 0
        return response_words(config, self.opcode, count=count)


def _take(words: list[int], at: int, n: int, what: str, opcode: Opcode) -> tuple[int, ...]:
    if at + n > len(words):
        raise TruncatedStream(f"the command stream ends inside {what} of {opcode.name}: {n} "
                              f"more word(s) expected at word {at}, the stream has {len(words)}")
    return tuple(words[at:at + n])


def split_commands(config: AcceleratorConfig, words) -> list[Command]:
    """The commands of a stream, in order, as the accelerator reads them. Raises
    :class:`TruncatedStream` if the stream ends inside a command."""
    words = [int(w) for w in words]
    commands, pos = [], 0
    while pos < len(words):
        start, header = pos, parse_command_header(words[pos])
        pos += 1
        if header is None:
            commands.append(Command(start=start, opcode=None, flags=0, args=()))
            continue
        opcode, flags = header
        args = _take(words, pos, ARG_WORDS[opcode], "the arguments", opcode)
        pos += len(args)
        count = args[1] if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS) else 0
        payload = _take(words, pos, data_words(config, opcode, count), "the data", opcode)
        pos += len(payload)
        commands.append(Command(start=start, opcode=opcode, flags=flags, args=args,
                                data=payload))
    return commands
