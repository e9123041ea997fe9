# SPDX-License-Identifier: BSD-2-Clause
"""Run a command stream on :class:`hw.accelerator.Accelerator` in amaranth.sim.

One testbench writes the command words (random idle cycles), one reads the expected number of
response words (random backpressure) and then watches for unexpected extra words; a watchdog
ends a run that stops making progress. With ``n_response=None`` the reader takes every word
until the command words are all in and the accelerator has been idle, with no response
pending, for 16 cycles (for a client that does not know what its stream
will provoke).
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


def rtl_accelerator_amaranth(config, words, n_response: int | None, *, p_idle: float = 0.0,
                       p_stall: float = 0.0, seed: int = 0, max_cycles: int = 200_000,
                       vcd_path=None) -> AcceleratorRun:
    dut = Accelerator(config)
    rng = random.Random(seed)
    clock = Clock(max_cycles, "the accelerator")
    last = {"in": None, "out": []}

    async def writer(ctx):
        taken = 0
        for word in words:
            taken = await put(ctx, dut.cmd, word, rng=rng, p_idle=p_idle, clock=clock)
        last["in"] = taken

    async def reader(ctx):
        if n_response is not None:
            last["out"] = await collect(ctx, dut.resp, n_response, rng=rng, p_stall=p_stall,
                                        clock=clock, drain_cycles=16)
            return
        quiet = 0
        while quiet < 16:
            ready = rng.random() >= p_stall
            ctx.set(dut.resp.ready, ready)
            _, _, valid, payload, busy = await ctx.tick().sample(
                dut.resp.valid, dut.resp.payload, dut.busy)
            if valid and ready:
                last["out"].append((clock.cycle - 1, payload))
            # A command left waiting for words that will not come keeps busy high: the
            # watchdog ends that run, as the native harness does.
            done = last["in"] is not None and not valid and not busy
            quiet = quiet + 1 if done else 0

    simulate(dut, clock=clock, testbenches=[writer, reader], vcd_path=vcd_path)
    out = last["out"]
    return AcceleratorRun(response=[beat for _, beat in out],
                    cycles=max([last["in"] or 0, *(c for c, _ in out)]) + 1)
