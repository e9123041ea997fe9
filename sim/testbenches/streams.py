# SPDX-License-Identifier: BSD-2-Clause
"""Stream drivers for amaranth.sim testbenches: random idle cycles in, random backpressure out.

Both take a :class:`Clock` (kept by a background process) so they can report when each beat
crossed; every amaranth.sim bench of the project (array, core, accelerator) uses them. Streams
without backpressure (``always_ready``) are driven the same way: their ``ready`` is a constant.
"""

from __future__ import annotations

import random

from amaranth.hdl import Const, Value
from amaranth.sim import Simulator

__all__ = ["Clock", "collect", "put", "simulate"]


class Clock:
    """Cycle count of the sync domain, advanced by the process returned by :meth:`process`,
    which also ends a run that exceeds ``max_cycles``."""

    def __init__(self, max_cycles: int, what: str = "bench"):
        self.cycle = 0
        self.max_cycles = max_cycles
        self.what = what

    def process(self):
        async def count(ctx):
            async for _ in ctx.tick():
                self.cycle += 1
                if self.cycle > self.max_cycles:
                    raise TimeoutError(f"{self.what} did not finish within {self.max_cycles} "
                                       f"cycles")
        return count


async def put(ctx, stream, beat: int, *, rng: random.Random, p_idle: float,
              clock: Clock) -> int:
    """Offer ``beat`` after random idle cycles; return the cycle in which it was taken."""
    while rng.random() < p_idle:
        await ctx.tick()
    ctx.set(stream.valid, 1)
    ctx.set(Value.cast(stream.payload), beat)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)
    return clock.cycle - 1


async def collect(ctx, stream, count: int, *, rng: random.Random, p_stall: float,
                  clock: Clock, drain_cycles: int = 8) -> list[tuple[int, int]]:
    """Take ``count`` beats under random backpressure, then watch ``drain_cycles`` more cycles
    (so that an extra beat shows up as an extra item). Returns (cycle, beat) pairs."""
    beats = []
    extra = 0
    fixed = isinstance(stream.ready, Const)         # an always-ready stream
    while len(beats) < count or extra < drain_cycles:
        ready = fixed or rng.random() >= p_stall
        if not fixed:
            ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, Value.cast(stream.payload))
        if len(beats) >= count:
            extra += 1
        if valid and ready:
            beats.append((clock.cycle - 1, payload))
    return beats


def simulate(dut, *, clock: Clock, testbenches, observers=(), vcd_path=None) -> None:
    """Run ``testbenches`` against ``dut`` with ``clock`` counting, optionally dumping VCD.

    ``observers`` are background testbenches (watching, not driving): the run ends when the
    ``testbenches`` do. The design is elaborated before any of them starts, so they may use
    what elaboration records (for example :attr:`hw.array.SystolicArray.probes`)."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(clock.process())
    for bench in testbenches:
        sim.add_testbench(bench)
    for observer in observers:
        sim.add_testbench(observer, background=True)
    if vcd_path is None:
        sim.run()
    else:
        with sim.write_vcd(str(vcd_path)):
            sim.run()
