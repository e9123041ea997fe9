# SPDX-License-Identifier: BSD-2-Clause
"""Run a command stream on :class:`hw.accelerator.Accelerator` in amaranth.sim.

One testbench writes the command words (random idle cycles), one reads the expected number of
response words (random backpressure) and then watches for unexpected extra words; a watchdog
ends a run that stops making progress.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hw.accelerator import Accelerator

from .streams import Clock, collect, put, simulate

__all__ = ["AcceleratorRun", "rtl_accelerator_amaranth"]


@dataclass
class AcceleratorRun:
    response: list[int]
    cycles: int          # from reset release to the last word transferred in either direction


def rtl_accelerator_amaranth(config, words, n_response: int, *, p_idle: float = 0.0,
                       p_stall: float = 0.0, seed: int = 0, max_cycles: int = 200_000,
                       vcd_path=None) -> AcceleratorRun:
    dut = Accelerator(config)
    rng = random.Random(seed)
    clock = Clock(max_cycles, "the accelerator")
    last = {"in": 0, "out": []}

    async def writer(ctx):
        for word in words:
            last["in"] = await put(ctx, dut.cmd, word, rng=rng, p_idle=p_idle, clock=clock)

    async def reader(ctx):
        last["out"] = await collect(ctx, dut.resp, n_response, rng=rng, p_stall=p_stall,
                                    clock=clock, drain_cycles=16)

    simulate(dut, clock=clock, testbenches=[writer, reader], vcd_path=vcd_path)
    out = last["out"]
    return AcceleratorRun(response=[beat for _, beat in out],
                    cycles=max([last["in"], *(c for c, _ in out)]) + 1)
