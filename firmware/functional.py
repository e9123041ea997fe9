# SPDX-License-Identifier: BSD-2-Clause
"""A functional model of the accelerator: the command set of :mod:`golden.contract.isa`, in numpy.

It executes the same command words as the RTL with the same results: accumulators (wrapping at
``acc_bits`` like the hardware's registers), responses, sticky error flags and the rule that
state-changing commands are skipped while a flag is set. The stream is parsed, the CRC words and
extents are checked and the responses are built by the contract's own functions; the MATMUL
follows the tile loop of :mod:`golden.contract.tileloop`. It is the fast backend of the runtime
and the reference that differential tests hold the RTL to.

Like the hardware, it keeps a command that has not fully arrived: the words of a :meth:`run`
that end inside a command wait for the next :meth:`run` (:attr:`pending`), so a truncated or
misframed stream behaves as it does on the RTL.

Timing is not modelled cycle by cycle: READ_COUNTERS reports the counters that do not depend on
stream timing (COMPUTE, MACS from :class:`golden.contract.tileloop.MatmulWork`, ZERO_MACS from
the weights, MEM_BYTES and MEM_BURSTS from :func:`golden.contract.memory.matmul_traffic`) and
zeros for the others.

With ``weight_memory = "axi"`` the MATMULs read their weights from :attr:`external`, a byte
image of the external memory the host provides (:meth:`write_external`); a read past its end
is what SLVERR is on the bus: MEMORY_ERROR, and the MATMUL's accumulators are left as they
were (the RTL's are undefined then). COMPUTE is still the tile loop's
:attr:`~golden.contract.tileloop.MatmulWork.cycles`: the schedule without memory stalls (the
RTL adds the cycles it waits for weights, at least the memory's latency before the first tile).
MEM_BYTES and MEM_BURSTS count each MATMUL's whole read as the reader splits it; a MATMUL that
ends in MEMORY_ERROR counts nothing here (on the RTL: the bursts issued before the error and
all their beats, which depends on timing).

PREFETCH (:attr:`~golden.contract.isa.Opcode.PREFETCH`) is modelled as the engine keeps it:
the record (:attr:`prefetch`) is taken by the next MATMUL command; a MATMUL that runs and
succeeds leaves it *armed* (:attr:`armed`: its read was issued). A MATMUL whose weight address
and tiles equal the armed read's takes those words (a read past the external memory is
MEMORY_ERROR, as for its own); any other MATMUL that runs discards them (no flag, even for a
read past the memory: the reader's error is cleared). Each prefetched read's traffic is
counted when a MATMUL takes or discards it (on the RTL, its beats are counted as they
arrive: up to the reader's buffer before that).
"""

from __future__ import annotations

import numpy as np

from golden.contract.codecs import (
    ILLEGAL_WEIGHT_CODE,
    WEIGHT_CODE_BITS,
    from_stream_words,
    unpack_act_words,
    unpack_weight_tiles,
)
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    CLEAR_MAGIC,
    ClearFlag,
    Command,
    Counter,
    ErrorFlag,
    MatmulFlag,
    Opcode,
    check_word,
    counter_words,
    drain_error,
    load_error,
    matmul_error,
    next_command,
    prefetch_error,
    response_header,
    status_payload,
    with_crc,
)
from golden.contract.memory import matmul_traffic, matmul_words
from golden.contract.tileloop import matmul_work

__all__ = ["FunctionalAccelerator"]


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Wrap int64 values to ``bits``-bit two's complement, as a register of that width does."""
    mask = (1 << bits) - 1
    values = values & mask
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


class FunctionalAccelerator:
    """One accelerator instance; its memories persist from one :meth:`run` to the next."""

    def __init__(self, config: AcceleratorConfig, *, external_bytes: int = 1 << 20):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"config must be an AcceleratorConfig, not {type(config).__name__}")
        self.config = config
        self.weights = [] if config.axi else [0] * config.weight_depth
        #: The external memory (``weight_memory = "axi"``): bytes, read by the MATMULs.
        self.external = bytearray(external_bytes if config.axi else 0)
        self.acts = np.zeros((config.act_depth, config.rows), dtype=np.int64)
        self.acc = np.zeros((config.acc_depth, config.cols), dtype=np.int64)
        self.errors = ErrorFlag(0)
        self.counters = dict.fromkeys(Counter, 0)
        #: Words of a command that has not fully arrived.
        self.pending: list[int] = []
        #: The last PREFETCH's (w_addr, tiles), until the next MATMUL command takes it.
        self.prefetch: tuple[int, int] | None = None
        #: The prefetched read that the last MATMUL to run issued: (w_addr, tiles).
        self.armed: tuple[int, int] | None = None

    def write_external(self, addr: int, data: bytes) -> None:
        """Write ``data`` into the external memory at byte ``addr``."""
        data = bytes(data)
        if not self.config.axi:
            raise ValueError("this accelerator has no external memory (weight_memory is "
                             f"{self.config.weight_memory!r})")
        if not 0 <= addr <= len(self.external) - len(data):
            raise ValueError(f"{len(data)} bytes at {addr:#x} do not fit the external memory "
                             f"of {len(self.external)} bytes")
        self.external[addr:addr + len(data)] = data

    def _weight_words(self, w_addr: int, count: int) -> list[int] | None:
        """``count`` weight words from ``w_addr`` (a word address on chip, a byte address in
        external memory); None for a read past the external memory (SLVERR)."""
        cfg = self.config
        if not cfg.axi:
            return self.weights[w_addr:w_addr + count]
        size = cfg.weight_word_bytes
        if w_addr + count * size > len(self.external):
            return None
        raw = self.external[w_addr:w_addr + count * size]
        return [int.from_bytes(raw[i:i + size], "little") for i in range(0, len(raw), size)]

    def reset(self) -> None:
        """What the reset input does: flags, counters, a partly received command and the
        prefetch state are cleared; the memories keep their contents."""
        self.errors = ErrorFlag(0)
        self.counters = dict.fromkeys(Counter, 0)
        self.pending = []
        self.prefetch = self.armed = None

    def run(self, words) -> list[int]:
        """Execute a command stream; return the response words. Words that end inside a
        command wait in :attr:`pending` for the next call, as the hardware waits for them."""
        words = self.pending + [check_word("command word", int(w) if isinstance(w, np.integer)
                                           else w) for w in words]
        response: list[int] = []
        pos = 0
        while (command := next_command(self.config, words, pos)) is not None:
            self._command(command, response)
            pos += command.length
        self.pending = words[pos:]
        return response

    def _respond(self, response: list[int], opcode: Opcode, payload=()) -> None:
        response += with_crc([response_header(opcode, self.errors), *payload])

    def _command(self, command: Command, response: list[int]) -> None:
        opcode, args = command.opcode, command.args
        if opcode is None:
            self.errors |= ErrorFlag.BAD_HEADER
            return
        if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS) and command.crc is None:
            self.errors |= ErrorFlag.BAD_SHAPE           # a count refused: no data, no CRC
            return
        if not command.crc_ok:
            self.errors |= ErrorFlag.BAD_CRC
            if command.response_words(self.config):
                self._respond(response, opcode)          # refused: header and CRC alone
            return
        if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
            self._load(opcode, *args, command.data)
        elif opcode == Opcode.MATMUL:
            prefetch, self.prefetch = self.prefetch, None
            self._matmul(command.flags, *args, prefetch=prefetch)
        elif opcode == Opcode.PREFETCH:
            self._prefetch(*args)
        elif opcode == Opcode.DRAIN:
            self._drain(*args, response)
        elif opcode == Opcode.READ_COUNTERS:
            self._respond(response, opcode, counter_words(self.counters))
        elif opcode == Opcode.READ_STATUS:
            self._respond(response, opcode, status_payload(self.config, self.errors))
        elif opcode == Opcode.SYNC:
            self._respond(response, opcode, args)
        elif opcode == Opcode.CLEAR:
            if args[0] != CLEAR_MAGIC:
                self.errors |= ErrorFlag.BAD_MAGIC
            else:
                if command.flags & ClearFlag.ERRORS:
                    self.errors = ErrorFlag(0)
                if command.flags & ClearFlag.COUNTERS:
                    self.counters = dict.fromkeys(Counter, 0)

    def _load(self, opcode, addr, count, data) -> None:
        """All or nothing: the words are written only if the range fits, no word holds the
        illegal code and no flag is set."""
        cfg = self.config
        weights = opcode == Opcode.LOAD_WEIGHTS
        bits = cfg.weight_word_bits if weights else cfg.act_word_bits
        sub = cfg.stream_words(bits)
        error = load_error(cfg, opcode, addr, count)
        words = [from_stream_words(data[i * sub:(i + 1) * sub], bits) for i in range(count)]
        if not error and weights and cfg.weight_format == "2bit":
            for word in words:
                codes = [(word >> (WEIGHT_CODE_BITS * j)) & 3     # every lane's columns
                         for j in range(cfg.cols * cfg.weight_rows_per_cycle)]
                if ILLEGAL_WEIGHT_CODE in codes:
                    error = ErrorFlag.ILLEGAL_WEIGHT
                    break
        self.errors |= error
        if error or self.errors:
            return
        if weights:
            self.weights[addr:addr + count] = words
        else:
            self.acts[addr:addr + count] = unpack_act_words(cfg, words)

    def _prefetch(self, w_addr, tiles) -> None:
        """Record a prefetch unless it is refused or a flag is set."""
        error = prefetch_error(self.config, w_addr=w_addr, tiles=tiles)
        self.errors |= error
        if not self.errors:
            self.prefetch = (w_addr, tiles)

    def _prefetch_traffic(self, w_addr: int, tiles: int) -> None:
        cfg = self.config
        traffic = matmul_traffic(cfg, matmul_work(cfg, m=1, k_tiles=1, n_tiles=tiles),
                                 w_addr=w_addr)
        self.counters[Counter.MEM_BYTES] += traffic.bytes
        self.counters[Counter.MEM_BURSTS] += traffic.bursts

    def _matmul(self, flags, w_addr, a_addr, acc_addr, m, k_tiles, n_tiles, *,
                prefetch=None) -> None:
        cfg = self.config
        error = matmul_error(cfg, w_addr=w_addr, a_addr=a_addr, acc_addr=acc_addr, m=m,
                             k_tiles=k_tiles, n_tiles=n_tiles)
        self.errors |= error
        if error or self.errors:
            return
        work = matmul_work(cfg, m=m, k_tiles=k_tiles, n_tiles=n_tiles,
                           accumulate=bool(flags & MatmulFlag.ACCUMULATE))
        armed, self.armed = self.armed, None
        prefetched = armed == (w_addr, work.tiles)
        if armed is not None:           # taken or discarded: its words were read
            self._prefetch_traffic(*armed)
        words = self._weight_words(w_addr, matmul_words(cfg, work))
        if words is None:
            self.errors |= ErrorFlag.MEMORY_ERROR
            return
        weights = unpack_weight_tiles(cfg, words, work.tiles, strict=False).astype(np.int64)
        weights = weights.reshape(n_tiles, k_tiles, cfg.rows, cfg.cols)
        acts = self.acts[a_addr:a_addr + m * k_tiles].reshape(m, k_tiles, cfg.rows)
        limit = 1 << (cfg.acc_bits - 1)
        for nt in range(n_tiles):
            block = slice(acc_addr + nt * m, acc_addr + (nt + 1) * m)
            total = self.acc[block] if work.accumulate else np.zeros((m, cfg.cols), np.int64)
            for kt in range(k_tiles):
                exact = total + acts[:, kt] @ weights[nt, kt]
                if ((exact < -limit) | (exact >= limit)).any():
                    self.errors |= ErrorFlag.ACC_OVERFLOW
                total = _signed(exact, cfg.acc_bits)
            self.acc[block] = total
        self.counters[Counter.COMPUTE] += work.cycles
        self.counters[Counter.MACS] += work.array_macs
        self.counters[Counter.ZERO_MACS] += m * int((weights == 0).sum())
        if cfg.axi and not prefetched:
            traffic = matmul_traffic(cfg, work, w_addr=w_addr)
            self.counters[Counter.MEM_BYTES] += traffic.bytes
            self.counters[Counter.MEM_BURSTS] += traffic.bursts
        self.armed = prefetch

    def _drain(self, addr, count, response) -> None:
        cfg = self.config
        self.errors |= drain_error(cfg, addr, count)
        values = () if self.errors else self.acc[addr:addr + count].reshape(-1)
        self._respond(response, Opcode.DRAIN, [int(v) & 0xFFFF_FFFF for v in values])
