# SPDX-License-Identifier: BSD-2-Clause
"""Workloads: what one product ``x (M, K) @ w.T (K, N)`` does on the accelerator, as element
counts (the array types differ in bits per element, not in counts).

The counts are the tile loop's (:func:`golden.contract.tileloop.program_work`) over the program
the firmware compiles for the shape (:func:`compile_shape`), so the energy model prices the
same commands the runtime sends; the zero-weight MACs and cycles come from the accelerator's
counters where a co-simulation measured them (:func:`record_work`). Which layers' weights
stay resident follows the runtime's rule (:class:`firmware.placement.ResidentPlacement`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from firmware.compiler import Program, compile_matmul, compile_weights
from firmware.placement import ResidentPlacement
from golden.contract.config import AcceleratorConfig
from golden.contract.tileloop import program_work as tile_loop_work

__all__ = ["LayerWork", "compile_shape", "fits_on_chip", "place_weights", "program_work",
           "record_work", "shape_work"]


@dataclass(frozen=True)
class LayerWork:
    """What one product does on the accelerator (element counts, over every MATMUL)."""

    name: str
    m: int
    k: int
    n: int
    rows: int
    cols: int
    array_vectors: int     # activation vectors through a tile, over every MATMUL
    zero_macs: int         # array MACs that meet a zero weight (padding included)
    weight_reads: int      # weights read from weight memory into the array
    act_reads: int         # activations read from the activation buffer
    act_writes: int        # activations loaded into it (LOAD_ACTS)
    acc_reads: int         # accumulator reads of the read-modify-writes
    acc_writes: int
    acc_drains: int        # accumulators read out (DRAIN)
    weight_loads: int      # weights loaded into weight memory by the program itself
    cycles: int | None = None
    count_source: str = "program"

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n

    @property
    def array_macs(self) -> int:
        return self.array_vectors * self.rows * self.cols

    @property
    def zero_fraction(self) -> float:
        return self.zero_macs / self.array_macs

    def scaled(self, times: int, name: str | None = None) -> LayerWork:
        """The same work ``times`` over (identical layers of a model)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for f in ("array_vectors", "zero_macs", "weight_reads", "act_reads", "act_writes",
                  "acc_reads", "acc_writes", "acc_drains", "weight_loads"):
            d[f] *= times
        d["cycles"] = None if self.cycles is None else self.cycles * times
        d["m"] *= times               # m * k * n counts the MACs: fold the repeat into m
        d["name"] = name or self.name
        return LayerWork(**d)


def program_work(program: Program, *, name: str, k: int, zero_macs: int | None = None,
                 nonzero_weights: int | None = None, cycles: int | None = None,
                 count_source: str = "program") -> LayerWork:
    """The work of a compiled program (:mod:`firmware.compiler`), read from its commands.

    The zero-weight MACs are ``zero_macs`` (the ZERO_MACS counter) or, from the number of
    nonzero weights, every array MAC less ``M`` times that (each weight meets each token once).
    """
    config: AcceleratorConfig = program.config
    work = tile_loop_work(config, program.words)
    if zero_macs is None:
        if nonzero_weights is None:
            raise ValueError("give zero_macs (the counter) or nonzero_weights")
        zero_macs = work.array_macs - program.m * nonzero_weights
    if not 0 <= zero_macs <= work.array_macs:
        raise ValueError(f"zero_macs={zero_macs} is outside [0, {work.array_macs}] for {name}")
    return LayerWork(name=name, m=program.m, k=k, n=program.n,
                     rows=config.rows, cols=config.cols, array_vectors=work.vectors,
                     zero_macs=zero_macs, weight_reads=work.weight_reads,
                     act_reads=work.act_reads, act_writes=work.act_writes,
                     acc_reads=work.acc_reads, acc_writes=work.acc_writes,
                     acc_drains=work.acc_drains, weight_loads=work.weight_loads,
                     cycles=cycles, count_source=count_source)


_PROGRAMS: dict = {}


def compile_shape(config: AcceleratorConfig, *, m: int, k: int, n: int) -> Program:
    """The program the runtime would run for an (M, K) x (N, K) product (weight values do
    not change the commands): against a resident image where it fits the weight memory, else
    with the weight loads inline."""
    key = (config, m, k, n)
    if key not in _PROGRAMS:
        image = compile_weights(config, np.zeros((n, k), dtype=np.int8))
        resident = len(image.words) <= config.weight_depth
        _PROGRAMS[key] = compile_matmul(image, np.zeros((m, k), dtype=np.int8),
                                        weight_base=0 if resident else None)
    return _PROGRAMS[key]


def fits_on_chip(config: AcceleratorConfig, weights: int, weight_bits: float) -> bool:
    """Whether ``weights`` weights of ``weight_bits`` bits fit the weight memory (its bytes,
    the same for every array type)."""
    return weights * weight_bits <= config.weight_depth * config.weight_word_bits


def place_weights(config: AcceleratorConfig, works: list[LayerWork], weight_bits: float
                  ) -> list[bool]:
    """Which layers' weights stay resident: placed in order by the runtime's rule
    (:class:`firmware.placement.ResidentPlacement`), in the weight memory's bits (the same for
    every array type), each layer's padded weights at ``weight_bits`` bits. A resident
    layer's one-time load is amortized over later passes and not charged."""
    placement = ResidentPlacement(config.weight_depth * config.weight_word_bits)
    return [placement.place(i, config.k_tiles(w.k) * config.rows * config.n_tiles(w.n)
                            * config.cols * weight_bits) is not None
            for i, w in enumerate(works)]


def shape_work(config: AcceleratorConfig, *, name: str, m: int, k: int, n: int,
               zero_fraction: float | None = None, zero_macs: int | None = None,
               nonzero_weights: int | None = None, cycles: int | None = None,
               count_source: str = "program") -> LayerWork:
    """:func:`program_work` of the program compiled for this shape. The zero-weight MACs:
    ``zero_macs`` (a counter), ``nonzero_weights``, or a ``zero_fraction`` of the weights."""
    for label, v in (("m", m), ("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"layer {name}: {label} must be a positive integer, not {v!r}")
    if zero_fraction is not None:
        if not 0 <= zero_fraction <= 1:
            raise ValueError(f"zero_fraction must be in [0, 1], not {zero_fraction!r}")
        nonzero_weights = round(k * n * (1 - zero_fraction))
    program = compile_shape(config, m=m, k=k, n=n)
    return program_work(program, name=name, k=k, zero_macs=zero_macs,
                        nonzero_weights=nonzero_weights, cycles=cycles,
                        count_source=count_source)


def record_work(config: AcceleratorConfig, record: dict, source: str = "counters"
                ) -> LayerWork:
    """The work of one layer record of a co-simulation report (build/sim/cosim.json, written
    by :func:`sim.cosim.cosimulate`): its shape compiled by the firmware, its zero-weight MACs
    and cycles from the accelerator's counters."""
    work = shape_work(config, name=record["name"], m=record["m"], k=record["k"],
                      n=record["n"], zero_fraction=0.0)
    return dataclasses.replace(work, zero_macs=round(record["zero_weight_fraction"]
                                                     * work.array_macs),
                               cycles=record["cycles"], count_source=source)
