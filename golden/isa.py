# SPDX-License-Identifier: BSD-2-Clause
"""Encodings shared by the hardware and the host, defined once.

Both hw/ (gateware) and firmware/ (host side: the compiler, the runtime and the generated C
header) import these definitions, so the two cannot disagree. The enums are Amaranth enums with
an explicit shape: in gateware they are signal shapes (and show by name in waveforms); on the
host they are ordinary Python enums.

Command stream
--------------
The accelerator reads one stream of 32-bit words. A command is a header word, a fixed number of
argument words (:data:`ARG_WORDS`) and, for the load commands, data words::

    header  [31:24] SYNC (0xB5)   [23:8] reserved, 0   [7:4] flags   [3:0] opcode

Responses (from DRAIN, READ_COUNTERS and READ_STATUS) leave on one stream of 32-bit words: a
response header, then the payload::

    header  [31:24] SYNC (0xB5)   [23:16] reserved, 0   [15:8] error flags   [3:0] opcode

Memory words (see :class:`golden.config.AcceleratorConfig` for their widths) travel as
``ceil(width / 32)`` little-endian 32-bit words each, the last one padded with zeros.
"""

from amaranth.lib import enum

from .config import WORD_BITS

__all__ = [
    "ARG_WORDS",
    "CLEAR_MAGIC",
    "COUNTER_WORDS",
    "ILLEGAL_WEIGHT_CODE",
    "STATUS_WORDS",
    "SYNC",
    "WEIGHT_CODE_BITS",
    "WORD_BITS",
    "ClearFlag",
    "Counter",
    "ErrorFlag",
    "MatmulFlag",
    "Opcode",
    "WeightCode",
]

WEIGHT_CODE_BITS = 2


class WeightCode(enum.Enum, shape=WEIGHT_CODE_BITS):
    """2-bit code of one ternary weight in weight memory.

    The code is the weight itself in 2-bit two's complement, so ``code = w & 0b11`` encodes and
    sign extension decodes. The fourth pattern, ``0b10`` (-2), is not a weight: the array treats
    it as zero, the accelerator refuses to load it (:attr:`ErrorFlag.ILLEGAL_WEIGHT`) and the
    firmware never produces it.
    """

    ZERO = 0b00
    POS = 0b01
    NEG = 0b11


ILLEGAL_WEIGHT_CODE = 0b10

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
    #: the whole tiled product of one layer (see :class:`golden.config.AcceleratorConfig`).
    MATMUL = 3
    #: args (address, count): respond with count accumulator-buffer words.
    DRAIN = 4
    #: Respond with every :class:`Counter`, in order, each as two words (low, high).
    READ_COUNTERS = 5
    #: Respond with the error flags and the configuration (:data:`STATUS_WORDS` words).
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

#: Argument of CLEAR; a corrupted stream is unlikely to clear the error flags by accident.
CLEAR_MAGIC = 0xC1EA_C1EA


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
    """Performance counters, in READ_COUNTERS order (each 48 bits, sent as two words)."""

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


COUNTER_WORDS = 2 * len(Counter)
#: READ_STATUS payload: error flags, then rows | cols << 16, then the configuration word
#: (see :meth:`golden.config.AcceleratorConfig.status_words`).
STATUS_WORDS = 4
