# SPDX-License-Identifier: BSD-2-Clause
"""The command set of the accelerator: encodings, limits and rules, defined once.

The gateware (:mod:`hw.accelerator`), the functional model (:mod:`firmware.functional`), the
compiler (:mod:`firmware.compiler`), the generated C header (:mod:`firmware.cheader`), the
protocol document (``python -m firmware.protocol``) and the energy model's op counts all read
this module; none re-derives what is here. The enums are Amaranth enums with an explicit
shape: in gateware they are signal shapes (and show by name in waveforms); on the host they are
ordinary Python enums. The header layouts are ``amaranth.lib.data`` layouts: the gateware views
its words through them, and the host's :func:`command_header` / :func:`parse_command_header`
read their field offsets from them.

Command stream
--------------
The accelerator reads one stream of 32-bit words. A command is a header word, a fixed number of
argument words (:data:`ARG_WORDS`), for the load commands ``count`` memory words of data, and a
CRC word; NOP alone is the header word only::

    header  [31:24] SYNC (0xB5)   [23:8] reserved, 0   [7:4] flags   [3:0] opcode

The CRC word is the CRC-32 of IEEE 802.3 (zlib's ``crc32``) over the little-endian bytes of
every word of the command before it (:func:`crc32_words`). A command runs only once its CRC
word has arrived and matched, so a corrupted, truncated or shifted command never acts: it sets
:attr:`ErrorFlag.BAD_CRC` instead. A word that is not a valid header where a header is
expected (another SYNC byte, nonzero reserved bits, an unknown opcode) is a command of one word
that sets :attr:`ErrorFlag.BAD_HEADER`. A load whose count is 0 or above ``max_load`` sets
:attr:`ErrorFlag.BAD_SHAPE` and ends after its arguments (no data, no CRC word).

Responses (DRAIN, READ_COUNTERS, READ_STATUS, SYNC) leave on one stream of 32-bit words: a
response header, the payload and a CRC word over both::

    header  [31:24] SYNC (0xB5)   [23:16] reserved, 0   [15:8] error flags   [7:4] 0
            [3:0] opcode

A response command that is refused (bad CRC; for DRAIN also a bad shape, an overrun or any
error flag set) answers with its header and CRC word alone.

Memory words (see :class:`golden.contract.config.AcceleratorConfig` for their widths) travel
as ``ceil(width / 32)`` little-endian 32-bit words each, the last one padded with zeros
(:func:`golden.contract.codecs.to_stream_words`). DRAIN sends each accumulator as one 32-bit
word, sign-extended from ``acc_bits``.

Resynchronization
-----------------
No command is longer than :func:`max_command_words` words (the loads are bounded by
``max_load``). So whatever the accelerator was doing when words were lost, duplicated or
corrupted, that many NOP words bring it back to reading headers; then CLEAR resets the flags
and SYNC(token) marks the place in the response stream (the host's encoder
``firmware.commands.resync`` sends that sequence); the host discards response words until it
reads the SYNC response carrying its token. No reset is needed.

Checks
------
Before a command touches a buffer the accelerator checks its extents; :func:`load_error`,
:func:`drain_error`, :func:`matmul_error` and :func:`prefetch_error` state the rules (the
gateware implements the same comparisons in hardware, the functional model and the compiler
call these functions).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data, enum

from .config import MAX_DEPTH, WEIGHT_FORMATS, WEIGHT_MEMORIES, WORD_BITS, AcceleratorConfig

__all__ = [
    "ARG_LIMIT_BITS",
    "ARG_WORDS",
    "CLEAR_MAGIC",
    "COMMAND_HEADER",
    "COUNTER_BITS",
    "COUNTER_WORDS",
    "CRC32_INIT",
    "CRC32_POLY",
    "CRC_WORDS",
    "RESPONSE_HEADER",
    "STATUS_FIELDS",
    "STATUS_WORDS",
    "SYNC",
    "VERSION",
    "WORD_BITS",
    "ClearFlag",
    "Command",
    "CommandError",
    "Counter",
    "Description",
    "ErrorFlag",
    "MatmulFlag",
    "Opcode",
    "ResponseHeader",
    "TruncatedStream",
    "arg_in_range",
    "check_word",
    "command_header",
    "counter_words",
    "crc32_words",
    "data_words",
    "drain_error",
    "load_error",
    "load_shape_ok",
    "matmul_error",
    "max_command_words",
    "next_command",
    "parse_command_header",
    "parse_counters",
    "parse_response",
    "parse_response_header",
    "parse_status",
    "prefetch_error",
    "prefetch_tiles_limit",
    "response_header",
    "response_words",
    "split_commands",
    "split_responses",
    "status_payload",
    "with_crc",
]


class CommandError(ValueError):
    """A command that the accelerator would refuse, or a response that makes no sense."""


class TruncatedStream(CommandError):
    """The command stream ends inside a command: the hardware would wait for more words."""


#: Marker in the top byte of every command and response header.
SYNC = 0xB5


class Opcode(enum.Enum, shape=4):
    """Commands of the accelerator's command stream."""

    #: Do nothing. The only command without a CRC word: a run of NOPs resynchronizes.
    NOP = 0
    #: args (address, count); then count weight-memory words of data (1 <= count <=
    #: ``max_load``), written only when all have arrived, the CRC matches and none holds the
    #: illegal code.
    LOAD_WEIGHTS = 1
    #: args (address, count); then count activation-buffer words of data, as LOAD_WEIGHTS.
    LOAD_ACTS = 2
    #: args (weight address, activation address, accumulator address, m, k_tiles, n_tiles):
    #: the whole tiled product of one layer (:mod:`golden.contract.tileloop`). The weight
    #: address is a weight-memory word, or with ``weight_memory = "axi"`` a byte address in
    #: external memory (:func:`matmul_error`).
    MATMUL = 3
    #: args (address, count): respond with count accumulator-buffer words (count >= 1).
    DRAIN = 4
    #: Respond with every :class:`Counter`, in order, each as two words (low, high).
    READ_COUNTERS = 5
    #: Respond with the error flags, the version and the configuration
    #: (:func:`status_payload`): the device describes itself.
    READ_STATUS = 6
    #: args (magic): clear what the flags say (:class:`ClearFlag`) if magic == CLEAR_MAGIC.
    CLEAR = 7
    #: args (token): respond with the token, marking a place in the response stream.
    SYNC = 8
    #: args (weight address, tiles): ``weight_memory = "axi"`` only. The weights of the
    #: MATMUL after the next one: ``tiles`` (its ``n_tiles * k_tiles``) tiles from byte
    #: ``w_addr``. It is recorded; the next MATMUL command takes the record, and, if it runs
    #: and succeeds, reads these words once it has taken its own, so that they stream in while
    #: it ends and the next commands arrive. A later MATMUL whose ``w_addr`` and tiles are
    #: these takes them without a new read; any other MATMUL first discards them (they are
    #: read, and counted in MEM_BYTES, either way). The results never depend on it
    #: (:func:`prefetch_error`).
    PREFETCH = 9


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
    Opcode.SYNC: 1,
    Opcode.PREFETCH: 2,
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
    consumed but not executed and DRAIN sends no data, so a malformed stream cannot corrupt
    the buffers or be mistaken for results; CLEAR with :attr:`ClearFlag.ERRORS` resumes.
    Reset clears them too."""

    #: A header without SYNC, with nonzero reserved bits, or with an unknown opcode.
    BAD_HEADER = 1
    #: A command's address range runs past the end of a buffer (raised once its CRC matched).
    OVERRUN = 2
    #: A command's sizes are zero or exceed what the configuration allows: a load's count
    #: (raised at once: the load then has no data), DRAIN's count, MATMUL's m, k_tiles and
    #: n_tiles, PREFETCH's tiles (raised once the CRC matched). Also PREFETCH on a
    #: configuration with weights on chip, which has nothing to prefetch.
    BAD_SHAPE = 4
    #: LOAD_WEIGHTS carried the illegal weight code 0b10 (2-bit format); nothing was written.
    ILLEGAL_WEIGHT = 8
    #: CLEAR with a wrong magic word.
    BAD_MAGIC = 16
    #: A command's CRC word did not match: it was corrupted, truncated or shifted, and did
    #: not run.
    BAD_CRC = 32
    #: A MATMUL's sum left the ``acc_bits`` range of its accumulators (possible only when
    #: ACCUMULATE adds to earlier results beyond ``max_k``); the accumulators wrapped.
    ACC_OVERFLOW = 64
    #: (``weight_memory = "axi"``) The external memory answered a MATMUL's weight read with
    #: SLVERR, DECERR or EXOKAY, or a burst whose RLAST was misplaced; for a MATMUL whose
    #: weights were prefetched (:attr:`Opcode.PREFETCH`), the prefetch's read. A prefetched
    #: read that fails and is then discarded by a MATMUL of other weights raises nothing.
    #: The MATMUL ended early
    #: (no word outside its accumulator range was written); its accumulators are undefined
    #: until it runs again (with the MATMULs before it, if it accumulated onto them).
    MEMORY_ERROR = 128


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
    #: (``weight_memory = "axi"``) Bytes of every R beat received over AXI4, discarded ones
    #: included: the weight traffic on the bus. A MATMUL reads its ``tiles x tile_beats``
    #: weight words of ``weight_word_bits / 8`` bytes
    #: (:func:`golden.contract.memory.matmul_traffic`). 0 with on-chip weights.
    MEM_BYTES = 7
    #: (``weight_memory = "axi"``) AXI4 read bursts issued (AR handshakes). A MATMUL's read is
    #: split into INCR bursts of at most ``axi_max_burst`` beats that never cross a 4 KiB
    #: boundary (:func:`golden.contract.memory.axi_bursts`). 0 with on-chip weights.
    MEM_BURSTS = 8


#: Width of each performance counter; it wraps at ``2**COUNTER_BITS``.
COUNTER_BITS = 48
COUNTER_WORDS = 2 * len(Counter)
#: The command-set version, the second word of READ_STATUS. 2: CRC words, staged loads,
#: SYNC, ACC_OVERFLOW and the self-describing status. 3: the status describes
#: ``weight_rows_per_cycle`` too (it sets the weight memory's word and tile layout). 4: weights
#: from external memory (``weight_memory`` and the AXI fields in the status, MATMUL's byte
#: address, MEMORY_ERROR, the counters MEM_BYTES and MEM_BURSTS). 5: PREFETCH.
VERSION = 5
#: Words of CRC after every command but NOP, and after every response.
CRC_WORDS = 1
#: The CRC word is CRC-32 of IEEE 802.3 (:func:`crc32_words`): this reflected polynomial,
#: processed least significant bit first, from the remainder CRC32_INIT, and the result XORed
#: with CRC32_INIT. The gateware (:mod:`hw.crc`) and the C driver compute it from these.
CRC32_POLY = 0xEDB8_8320
CRC32_INIT = 0xFFFF_FFFF


# --- headers ---------------------------------------------------------------------------------

COMMAND_HEADER = data.StructLayout({"opcode": 4, "flags": 4, "reserved": 16, "sync": 8})
RESPONSE_HEADER = data.StructLayout({"opcode": 4, "pad": 4, "errors": 8, "reserved": 8,
                                     "sync": 8})
assert len(ErrorFlag) <= RESPONSE_HEADER["errors"].width
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


def crc32_words(words) -> int:
    """CRC-32 (IEEE 802.3, as :func:`zlib.crc32`) of 32-bit words sent little-endian."""
    return zlib.crc32(np.asarray(list(words), dtype="<u4").tobytes())


def with_crc(words) -> list[int]:
    """``words`` (one whole command or response, header first) followed by their CRC word."""
    words = [check_word("word", w) for w in words]
    return [*words, crc32_words(words)]


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

@dataclass(frozen=True)
class Description:
    """What READ_STATUS says of the device: its flags, version and configuration."""

    errors: ErrorFlag
    version: int
    config: AcceleratorConfig

    def check(self, config: AcceleratorConfig) -> None:
        """Raise CommandError naming every field in which the device differs from
        ``config`` (what a program was built for), or an unknown command-set version."""
        if self.version != VERSION:
            raise CommandError(f"the device speaks command-set version {self.version}; this "
                               f"host speaks version {VERSION}")
        mine, theirs = config.to_dict(), self.config.to_dict()
        diff = [f"{k}={theirs[k]!r} (program: {mine[k]!r})" for k in _DESCRIBED
                if theirs[k] != mine[k]]
        if diff:
            raise CommandError("the device is not the accelerator this program was built for: "
                               + ", ".join(diff))


#: The configuration fields READ_STATUS reports, in order, after the flags and the version.
#: The weight format is its index in :data:`~golden.contract.config.WEIGHT_FORMATS`, the weight
#: memory its index in :data:`~golden.contract.config.WEIGHT_MEMORIES`.
_DESCRIBED = ("rows", "cols", "act_bits", "acc_bits", "weight_format", "weight_depth",
              "act_depth", "acc_depth", "max_k", "max_load", "weight_rows_per_cycle",
              "weight_memory", "axi_addr_width", "axi_max_burst", "axi_outstanding")
#: Fields that are stored in the status as an index into a tuple of names.
_INDEXED = {"weight_format": WEIGHT_FORMATS, "weight_memory": WEIGHT_MEMORIES}
#: READ_STATUS payload words: error flags, version, then the fields of :data:`_DESCRIBED`.
STATUS_WORDS = 2 + len(_DESCRIBED)
STATUS_FIELDS = ("errors", "version", *_DESCRIBED)


def status_payload(config: AcceleratorConfig, errors: int) -> list[int]:
    """The READ_STATUS payload: the error flags, :data:`VERSION` and the configuration
    (one word per field of :data:`STATUS_FIELDS`)."""
    fields = config.to_dict()
    for name, names in _INDEXED.items():
        fields[name] = names.index(fields[name])
    payload = [int(errors), VERSION, *(fields[name] for name in _DESCRIBED)]
    assert len(payload) == STATUS_WORDS
    return payload


def parse_status(words) -> Description:
    """READ_STATUS payload -> :class:`Description` (CommandError if it makes no sense)."""
    words = [check_word("status word", w) for w in words]
    if len(words) != STATUS_WORDS:
        raise CommandError(f"expected {STATUS_WORDS} status words, not {len(words)}")
    errors, version, *values = words
    fields = dict(zip(_DESCRIBED, values, strict=True))
    for name, names in _INDEXED.items():
        if fields[name] >= len(names):
            raise CommandError(f"the device reports {name.replace('_', ' ')} {fields[name]}, "
                               f"which this host does not know")
        fields[name] = names[fields[name]]
    try:
        config = AcceleratorConfig(**fields)
    except ValueError as e:
        raise CommandError(f"the device describes an impossible configuration: {e}") from None
    return Description(ErrorFlag(errors), version, config)


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


def load_shape_ok(config: AcceleratorConfig, count: int) -> bool:
    """Whether a load of ``count`` memory words has a data phase: 1 <= count <= max_load
    (else BAD_SHAPE, raised at once, and the load ends after its arguments)."""
    return 1 <= count <= config.max_load


def load_error(config: AcceleratorConfig, opcode: Opcode, addr: int, count: int) -> ErrorFlag:
    """The flag a LOAD_WEIGHTS or LOAD_ACTS of ``count`` words at ``addr`` raises (or 0)."""
    if not load_shape_ok(config, count):
        return ErrorFlag.BAD_SHAPE
    # With weights in external memory there is no weight memory: every range overruns it.
    depth = ((0 if config.axi else config.weight_depth) if opcode == Opcode.LOAD_WEIGHTS
             else config.act_depth)
    return _range_error(depth, addr, count)


def drain_error(config: AcceleratorConfig, addr: int, count: int) -> ErrorFlag:
    """The flag a DRAIN of ``count`` accumulator words at ``addr`` raises (or 0)."""
    if count == 0:
        return ErrorFlag.BAD_SHAPE
    return _range_error(config.acc_depth, addr, count)


def _weights_ok(config: AcceleratorConfig, w_addr: int, tiles: int) -> bool:
    """Whether ``tiles`` tiles of weights from ``w_addr`` fit where the weights are: weight
    memory (word address) or, with ``weight_memory = "axi"``, the external address space
    (byte address, a multiple of ``weight_word_bytes``)."""
    if config.axi:
        end = w_addr + tiles * config.tile_beats * config.weight_word_bytes
        return w_addr % config.weight_word_bytes == 0 and end <= 1 << config.axi_addr_width
    return (arg_in_range(w_addr) and w_addr * config.weight_rows_per_word
            + tiles * config.tile_rows <= config.weight_rows)


def matmul_error(config: AcceleratorConfig, *, w_addr: int, a_addr: int, acc_addr: int, m: int,
                 k_tiles: int, n_tiles: int) -> ErrorFlag:
    """The flag a MATMUL raises (or 0): a zero or oversized shape, then a buffer overrun.

    The tiles of the product occupy ``n_tiles * k_tiles * tile_rows`` weight-row slots from word
    ``w_addr``, ``m * k_tiles`` activation words from ``a_addr`` and ``n_tiles * m``
    accumulator words from ``acc_addr`` (:mod:`golden.contract.tileloop`).

    With ``weight_memory = "axi"``, ``w_addr`` is a byte address in external memory (any
    32-bit value) and the tiles are ``n_tiles * k_tiles * tile_beats`` weight words of
    ``weight_word_bytes`` from there, laid out as in weight memory: OVERRUN also when
    ``w_addr`` is not a multiple of ``weight_word_bytes`` or the words run past
    ``2**axi_addr_width``."""
    shape = (m, k_tiles, n_tiles)
    if (not all(arg_in_range(v) for v in shape) or 0 in shape
            or k_tiles > config.max_k // config.rows):
        return ErrorFlag.BAD_SHAPE
    if not (_weights_ok(config, w_addr, n_tiles * k_tiles)
            and all(arg_in_range(v) for v in (a_addr, acc_addr))
            and a_addr + m * k_tiles <= config.act_depth
            and acc_addr + n_tiles * m <= config.acc_depth):
        return ErrorFlag.OVERRUN
    return ErrorFlag(0)


def prefetch_tiles_limit(config: AcceleratorConfig) -> int:
    """The most tiles of any MATMUL that can pass :func:`matmul_error`: ``k_tiles`` at most
    ``max_k / rows`` and ``act_depth`` (``m * k_tiles`` activation words), ``n_tiles`` at most
    ``acc_depth`` (``n_tiles * m`` accumulator words)."""
    return min(config.max_k // config.rows, config.act_depth) * config.acc_depth


def prefetch_error(config: AcceleratorConfig, *, w_addr: int, tiles: int) -> ErrorFlag:
    """The flag a PREFETCH raises (or 0); a refused one records nothing.

    BAD_SHAPE on a configuration with weights on chip (there is nothing to prefetch), or
    when ``tiles`` is 0 or more than any MATMUL can have (:func:`prefetch_tiles_limit`);
    then OVERRUN by the weight rule of :func:`matmul_error`: ``w_addr`` not a multiple of
    ``weight_word_bytes``, or the words running past ``2**axi_addr_width``."""
    if not config.axi or not 1 <= tiles <= prefetch_tiles_limit(config):
        return ErrorFlag.BAD_SHAPE
    return ErrorFlag(0) if _weights_ok(config, w_addr, tiles) else ErrorFlag.OVERRUN


def data_words(config: AcceleratorConfig, opcode: Opcode, count: int) -> int:
    """Stream words of data after the arguments: a load's ``count`` memory words (none when
    the count is refused), else 0."""
    if opcode not in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS) or not load_shape_ok(config,
                                                                                  count):
        return 0
    return count * config.stream_words(_memory_word_bits(config, opcode))


def response_words(config: AcceleratorConfig, opcode: Opcode, *, count: int = 0) -> int:
    """Words of the response to one command, header and CRC word included (DRAIN: ``count``
    accumulator words, with no error flag set); 0 for a command that does not respond."""
    payload = {Opcode.DRAIN: count * config.cols, Opcode.READ_COUNTERS: COUNTER_WORDS,
               Opcode.READ_STATUS: STATUS_WORDS, Opcode.SYNC: 1}.get(opcode)
    return 0 if payload is None else 1 + payload + CRC_WORDS


def max_command_words(config: AcceleratorConfig) -> int:
    """Words of the longest command: a load of ``max_load`` words of the wider memory, or
    MATMUL with its six arguments."""
    data = {Opcode.LOAD_WEIGHTS: config.max_load_words, Opcode.LOAD_ACTS: config.max_load_words}
    return max(1 + ARG_WORDS[op] + data.get(op, 0) + CRC_WORDS for op in Opcode)


# --- parsing a stream -------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One command of a stream, as :func:`next_command` finds it.

    ``opcode`` is None for a word that is not a valid header (the hardware takes it as a
    command of one word); ``args`` are the argument words, ``data`` a load's data words and
    ``crc`` the CRC word (None for NOP, a bad header and a load refused for its count).
    """

    start: int
    opcode: Opcode | None
    flags: int
    args: tuple[int, ...]
    data: tuple[int, ...] = ()
    crc: int | None = None
    header: int = 0

    @property
    def length(self) -> int:
        return 1 + len(self.args) + len(self.data) + (self.crc is not None)

    @property
    def crc_ok(self) -> bool:
        """Whether the CRC word matches (True for the commands that have none)."""
        return self.crc is None or self.crc == crc32_words(
            [self.header, *self.args, *self.data])

    def response_words(self, config: AcceleratorConfig) -> int:
        """Words the accelerator sends in answer to this command (no error flag set)."""
        if self.opcode is None:
            return 0
        count = self.args[1] if self.opcode == Opcode.DRAIN else 0
        return response_words(config, self.opcode, count=count)


def _load_count(opcode: Opcode, args) -> int:
    return args[1] if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS) else 0


def _has_crc(config: AcceleratorConfig, opcode: Opcode, args) -> bool:
    """Every command ends with a CRC word but NOP and a load whose count is refused."""
    loads = (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS)
    return opcode != Opcode.NOP and not (opcode in loads and not load_shape_ok(config, args[1]))


def _command_words(config: AcceleratorConfig, opcode: Opcode, args) -> int:
    """Words of a command with these arguments, header and CRC word included."""
    return (1 + ARG_WORDS[opcode] + data_words(config, opcode, _load_count(opcode, args))
            + (CRC_WORDS if _has_crc(config, opcode, args) else 0))


def next_command(config: AcceleratorConfig, words, pos: int = 0) -> Command | None:
    """The command that starts at ``words[pos]``, as the accelerator reads it; None if the
    words end inside it (the hardware would wait for more)."""
    if pos >= len(words):
        return None
    header = check_word("command word", words[pos])
    parsed = parse_command_header(header)
    if parsed is None:
        return Command(start=pos, opcode=None, flags=0, args=(), header=header)
    opcode, flags = parsed
    at = pos + 1 + ARG_WORDS[opcode]
    args = tuple(words[pos + 1:at])
    if at > len(words) or pos + _command_words(config, opcode, args) > len(words):
        return None
    payload = tuple(words[at:at + data_words(config, opcode, _load_count(opcode, args))])
    crc = words[at + len(payload)] if _has_crc(config, opcode, args) else None
    return Command(start=pos, opcode=opcode, flags=flags, args=args, data=payload, crc=crc,
                   header=header)


def split_commands(config: AcceleratorConfig, words) -> list[Command]:
    """The commands of a stream, in order, as the accelerator reads them. Raises
    :class:`TruncatedStream` if the stream ends inside a command."""
    words = [int(w) for w in words]
    commands, pos = [], 0
    while pos < len(words):
        command = next_command(config, words, pos)
        if command is None:
            opcode = parse_command_header(words[pos])[0]
            args = words[pos + 1:pos + 1 + ARG_WORDS[opcode]]
            need = (_command_words(config, opcode, args) if len(args) == ARG_WORDS[opcode]
                    else 1 + ARG_WORDS[opcode])
            raise TruncatedStream(f"the command stream ends inside {opcode.name}: it starts "
                                  f"at word {pos} and needs {need} words, the stream has "
                                  f"{len(words) - pos} from there")
        commands.append(command)
        pos += command.length
    return commands


def parse_response(words, opcode: Opcode) -> tuple[ResponseHeader, list[int]]:
    """One whole response (header, payload, CRC word) to a command ``opcode`` -> (header,
    payload). CommandError if the CRC does not match or the header names another opcode."""
    words = [check_word("response word", w) for w in words]
    if len(words) < 1 + CRC_WORDS:
        raise CommandError(f"a response has at least {1 + CRC_WORDS} words, not {len(words)}")
    header = parse_response_header(words[0])
    if crc32_words(words[:-1]) != words[-1]:
        raise CommandError(f"the CRC of a {header.opcode.name} response does not match: "
                           f"{words[-1]:#010x}, expected {crc32_words(words[:-1]):#010x}")
    if header.opcode != opcode:
        raise CommandError(f"expected a {opcode.name} response, got {header.opcode.name}")
    return header, words[1:-1]


def split_responses(words) -> list[tuple[ResponseHeader, list[int]]]:
    """Cut a response stream into (header, payload) pairs without knowing the commands that
    caused it (a soak, a debugger): each response ends at the first word, among the lengths its
    opcode allows, that is the CRC of the words before it. CommandError if none is."""
    words = [check_word("response word", w) for w in words]
    out, pos = [], 0
    while pos < len(words):
        header = parse_response_header(words[pos])
        fixed = {Opcode.READ_COUNTERS: COUNTER_WORDS, Opcode.READ_STATUS: STATUS_WORDS,
                 Opcode.SYNC: 1}.get(header.opcode)
        lengths = (0, fixed) if fixed is not None else range(len(words) - pos - 1)
        for n in lengths:
            end = pos + 1 + n
            if end < len(words) and crc32_words(words[pos:end]) == words[end]:
                out.append((header, words[pos + 1:end]))
                pos = end + CRC_WORDS
                break
        else:
            raise CommandError(f"no CRC word closes the {header.opcode.name} response at "
                               f"word {pos}")
    return out
