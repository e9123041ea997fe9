# SPDX-License-Identifier: BSD-2-Clause
"""Run an :class:`~sim.testbenches.scenario.ArrayScenario` on :class:`hw.array.BufferedArray` in
amaranth.sim.

Three concurrent testbenches drive the design the way a controller would:

* the weight writer loads tile t only after tile t-1 has been switched in (its first vector,
  carrying ``swap``, was accepted), so tile t loads while tile t-1 computes;
* the activation writer starts tile t once all of its rows are loaded;
* the result reader applies random backpressure and collects every result.

Both writers insert random idle cycles. The same seed gives the same run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hw.array import BufferedArray

from .scenario import ArrayScenario, unpack_results
from .streams import Clock, collect, put, simulate

__all__ = ["ArrayRun", "rtl_array_amaranth"]


@dataclass
class ArrayRun:
    results: object          # (n, cols) int64 array, in output order
    cycles: int              # from the first accepted beat to the last result
    first_result_cycle: int  # cycles from the first accepted vector to the first result


def rtl_array_amaranth(scenario: ArrayScenario, *, p_idle: float = 0.0, p_stall: float = 0.0,
                       seed: int = 0, vcd_path=None, observers=(), drain_cycles: int = 8,
                       max_cycles: int = 100_000) -> ArrayRun:
    """Run ``scenario``; with ``vcd_path``, dump a VCD there. ``observers``: functions of the
    design that return background testbenches, to watch it (see
    :func:`~sim.testbenches.streams.simulate`)."""
    config = scenario.config
    dut = BufferedArray(config)
    rng = random.Random(seed)
    clock = Clock(max_cycles, "the array bench")
    n_tiles = len(scenario.tiles)
    state = {"loaded": 0, "switched": 0}
    taken = {"weights": [], "acts": [], "results": []}

    async def weight_writer(ctx):
        for t in range(n_tiles):
            while state["switched"] < t:
                await ctx.tick()
            for beat in scenario.weight_beats(t):
                taken["weights"].append(await put(ctx, dut.weights, beat, rng=rng,
                                                  p_idle=p_idle, clock=clock))
            state["loaded"] = t + 1

    async def act_writer(ctx):
        for t in range(n_tiles):
            while state["loaded"] < t + 1:
                await ctx.tick()
            for n, beat in enumerate(scenario.act_beats(t)):
                taken["acts"].append(await put(ctx, dut.acts, beat, rng=rng, p_idle=p_idle,
                                               clock=clock))
                if n == 0:
                    state["switched"] = t + 1

    async def result_reader(ctx):
        taken["results"] = await collect(ctx, dut.results, scenario.n_results, rng=rng,
                                         p_stall=p_stall, clock=clock,
                                         drain_cycles=drain_cycles)

    simulate(dut, clock=clock, testbenches=[weight_writer, act_writer, result_reader],
             observers=[observer(dut) for observer in observers], vcd_path=vcd_path)

    results = taken["results"]
    first_in = min(taken["weights"][0], taken["acts"][0])
    return ArrayRun(
        results=unpack_results(config, [beat for _, beat in results]),
        cycles=results[-1][0] - first_in + 1,
        first_result_cycle=results[0][0] - taken["acts"][0],
    )
