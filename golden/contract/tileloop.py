# SPDX-License-Identifier: BSD-2-Clause
"""The tile loop of one MATMUL: the one description of the hardware's timing and work.

The functional model's counters (:mod:`firmware.functional`), the cycle figures of ``make
sim`` and ``make bench``, the energy model's op counts (:mod:`reports.energy`), utilization
and bounds all come from here; the RTL's COMPUTE counter equals :attr:`MatmulWork.cycles` in
every shape the tests try.

A MATMUL (:attr:`golden.contract.isa.Opcode.MATMUL`) of ``m`` tokens runs ``n_tiles x
k_tiles`` weight tiles of ``rows`` (a K-slice) by ``cols`` (an N-slice), N-slices outer,
K-slices inner, tile ``t = nt * k_tiles + kt``:

* the tile's ``rows`` weight rows are read from consecutive weight-row slots starting at word
  ``w_addr``, :attr:`~golden.contract.config.AcceleratorConfig.weight_rows_per_cycle` ``= W``
  rows per cycle (a *beat*), into the array's idle bank while the previous tile computes; a
  tile takes ``B = ceil(R / W)`` beats and occupies ``B * W`` row slots
  (:attr:`~golden.contract.config.AcceleratorConfig.tile_rows`);
* its ``m`` activation vectors issue back to back, vector ``i`` of K-slice ``kt`` from
  activation word ``a_addr + i * k_tiles + kt``;
* ``array_latency`` cycles later each result vector is added into accumulator word
  ``acc_addr + nt * m + i`` (written, not added, on the first K-slice unless ACCUMULATE).

With ``R = rows``, ``C = cols``, ``T = k_tiles * n_tiles`` tiles, ``B = ceil(R / W)`` beats per
tile and the period ``P = max(M, B)``, the engine is a fixed schedule
(:data:`ENGINE_TIMING`, whose fields the RTL reads):

* one cycle after the start derives the loop's bounds from the arguments (``setup``);
* the first tile's ``B`` beats are read in ``B`` cycles;
* each tile then occupies the array for ``P`` cycles: ``M`` vectors back to back, or, when
  ``M < B``, the ``B`` cycles it takes to read the next tile (loading overlaps computing, so
  this is the only cost); down to 1 cycle per tile (``M = 1``, ``W = R``). The accumulator's
  read-modify-write (read, add, write: 4 cycles) sets no floor: a K-slice whose accumulator
  comes back before its previous sum is written takes that sum forwarded (:mod:`hw.engine`);
* the last tile's ``M`` vectors are followed by the memories' registered read (``read``: 2
  cycles), the array's latency ``R + C + 1`` and the accumulator write (``write``: 1 cycle)::

    cycles = setup + B + (T - 1) * P + M + read + (R + C + 1) + write
           = B + (T - 1) * P + M + (R + C + 1) + 4

No schedule on this hardware beats ``T * P`` (:attr:`MatmulWork.bound_cycles`): every tile
needs ``M`` vector slots and ``B`` weight-beat slots, and each resource delivers one per cycle.
Prefill (``M >= B``) is bound by the array, ``R * C`` MACs per cycle; decode (``M < B``) by the
weight memory, ``W * C`` weights per cycle, each used by ``M`` tokens (the whole array at
``W = R``, where ``B = 1``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .config import AcceleratorConfig, check_positive
from .isa import MatmulFlag, Opcode, split_commands

__all__ = ["ENGINE_TIMING", "EngineTiming", "MatmulWork", "ProgramWork", "layer_work",
           "matmul_work", "program_work", "utilization"]


@dataclass(frozen=True)
class EngineTiming:
    """The constants of the MATMUL engine's schedule (module docstring), in cycles."""

    #: From the start to the first weight row read: the bounds of the loop are derived.
    setup: int
    #: From a memory read's address to its data in a register (the block RAM, then a
    #: register on its output).
    read: int
    #: From a result leaving the array to its sum written into the accumulator buffer.
    write: int


ENGINE_TIMING = EngineTiming(setup=1, read=2, write=1)


@dataclass(frozen=True)
class MatmulWork:
    """What one MATMUL does, counted from its arguments (module docstring). Element counts:
    weights, activations and accumulators, not bits."""

    rows: int
    cols: int
    beats: int           # weight beats per tile: ceil(rows / weight_rows_per_cycle)
    tile_rows: int       # weight-row slots per tile: beats * weight_rows_per_cycle
    m: int
    k_tiles: int
    n_tiles: int
    accumulate: bool
    latency: int

    @property
    def tiles(self) -> int:
        return self.k_tiles * self.n_tiles

    @property
    def period(self) -> int:
        """Cycles each tile occupies the array: ``max(m, beats)``."""
        return max(self.m, self.beats)

    @property
    def cycles(self) -> int:
        """The COMPUTE cycles of the MATMUL (exact against the RTL)."""
        t = ENGINE_TIMING
        return (t.setup + self.beats + (self.tiles - 1) * self.period + self.m + t.read
                + self.latency + t.write)

    @property
    def bound_cycles(self) -> int:
        """The cycles no schedule on this hardware can beat: ``tiles * period``."""
        return self.tiles * self.period

    @property
    def bound_macs_per_cycle(self) -> float:
        """MACs per cycle the binding resource allows (padding included): ``rows * cols *
        m / period``, the array's ``rows * cols`` when ``m >= period``; else a tile's ``m``
        vectors per period, the period set by the weight memory (``beats``)."""
        return self.rows * self.cols * min(self.m, self.period) / self.period

    @property
    def vectors(self) -> int:
        """Activation vectors that enter the array."""
        return self.m * self.tiles

    @property
    def weight_rows(self) -> int:
        """Weight-row slots read from weight memory (``tile_rows`` per tile: the rows of the
        tiles and the padding of their last beats)."""
        return self.tiles * self.tile_rows

    @property
    def weight_reads(self) -> int:
        return self.weight_rows * self.cols

    @property
    def act_reads(self) -> int:
        return self.vectors * self.rows

    @property
    def acc_reads(self) -> int:
        """Accumulators read for the read-modify-write (not on a first K-slice that
        overwrites)."""
        first = 0 if self.accumulate else 1
        return self.m * self.n_tiles * (self.k_tiles - first) * self.cols

    @property
    def acc_writes(self) -> int:
        return self.vectors * self.cols

    @property
    def array_macs(self) -> int:
        """MACs issued to the array, zero padding included (the MACS counter)."""
        return self.vectors * self.rows * self.cols


def matmul_work(config: AcceleratorConfig, *, m: int, k_tiles: int, n_tiles: int,
                accumulate: bool = False) -> MatmulWork:
    """The work of ``MATMUL(m, k_tiles, n_tiles)`` on ``config``'s array."""
    check_positive(m=m, k_tiles=k_tiles, n_tiles=n_tiles)
    return MatmulWork(rows=config.rows, cols=config.cols, beats=config.tile_beats,
                      tile_rows=config.tile_rows, m=m, k_tiles=k_tiles,
                      n_tiles=n_tiles, accumulate=bool(accumulate),
                      latency=config.array_latency)


def layer_work(config: AcceleratorConfig, *, m: int, k: int, n: int) -> MatmulWork:
    """The work of one MATMUL that computes a whole (M, K) x (K, N) product."""
    check_positive(m=m, k=k, n=n)
    return matmul_work(config, m=m, k_tiles=config.k_tiles(k), n_tiles=config.n_tiles(n))


def utilization(config: AcceleratorConfig, *, macs: int, cycles: int) -> float:
    """Useful MACs per cycle over the array's ``rows * cols``."""
    check_positive(cycles=cycles)
    return macs / (cycles * config.rows * config.cols)


@dataclass(frozen=True)
class ProgramWork:
    """The work of a whole command stream: its MATMULs' (:class:`MatmulWork`) summed, and
    what its loads and drains move. Element counts."""

    vectors: int = 0
    weight_reads: int = 0
    act_reads: int = 0
    act_writes: int = 0         # activations loaded (LOAD_ACTS)
    acc_reads: int = 0
    acc_writes: int = 0
    acc_drains: int = 0         # accumulators sent (DRAIN)
    weight_loads: int = 0       # weights loaded into weight memory (LOAD_WEIGHTS)
    array_macs: int = 0
    cycles: int = 0             # COMPUTE cycles

    def __add__(self, other: ProgramWork) -> ProgramWork:
        return ProgramWork(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                              for f in fields(self)})


def program_work(config: AcceleratorConfig, words) -> ProgramWork:
    """The work of a well-formed command stream, command by command."""
    total = ProgramWork()
    for command in split_commands(config, words):
        op, args = command.opcode, command.args
        if op == Opcode.MATMUL:
            w = matmul_work(config, m=args[3], k_tiles=args[4], n_tiles=args[5],
                            accumulate=bool(command.flags & MatmulFlag.ACCUMULATE))
            total += ProgramWork(vectors=w.vectors, weight_reads=w.weight_reads,
                                 act_reads=w.act_reads, acc_reads=w.acc_reads,
                                 acc_writes=w.acc_writes, array_macs=w.array_macs,
                                 cycles=w.cycles)
        elif op == Opcode.LOAD_ACTS:
            total += ProgramWork(act_writes=args[1] * config.rows)
        elif op == Opcode.LOAD_WEIGHTS:
            total += ProgramWork(weight_loads=args[1] * config.weight_rows_per_word
                                 * config.cols)
        elif op == Opcode.DRAIN:
            total += ProgramWork(acc_drains=args[1] * config.cols)
    return total
