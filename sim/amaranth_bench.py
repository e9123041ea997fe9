# SPDX-License-Identifier: BSD-2-Clause
"""Run an :class:`~sim.scenario.ArrayScenario` on :class:`hw.array.BufferedArray` in amaranth.sim.

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

from amaranth.hdl import Shape
from amaranth.sim import Simulator

from hw.array import BufferedArray

from .amaranth_streams import Clock, collect, put, simulate
from .scenario import ArrayScenario, unpack_results

__all__ = ["ArrayRun", "rtl_array_amaranth"]


@dataclass
class ArrayRun:
    results: object          # (n, cols) int64 array, in output order
    cycles: int              # from the first accepted beat to the last result
    first_result_cycle: int  # cycles from the first accepted vector to the first result


def rtl_array_amaranth(scenario: ArrayScenario, *, p_idle: float = 0.0, p_stall: float = 0.0,
                       seed: int = 0, vcd_path=None, drain_cycles: int = 8,
                       max_cycles: int = 100_000) -> ArrayRun:
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
             vcd_path=vcd_path)

    results = taken["results"]
    first_in = min(taken["weights"][0], taken["acts"][0])
    return ArrayRun(
        results=unpack_results(config, [beat for _, beat in results]),
        cycles=results[-1][0] - first_in + 1,
        first_result_cycle=results[0][0] - taken["acts"][0],
    )


def rtl_core_amaranth(config, arithmetic, tiles, *, p_idle: float = 0.0, seed: int = 0,
                      max_cycles: int = 100_000) -> tuple[list[list[int]], list[int]]:
    """Run tiles through :class:`hw.array.SystolicArray` of any element type in amaranth.sim.

    ``tiles`` is a list of ``(weight_rows, vectors)``: ``weight_rows[i][j]`` and
    ``vectors[t][i]`` are the raw bit patterns of weight (i, j) and of activation i of vector
    t in the arithmetic's encoding. Tile t's rows are written (in order, as ``weights.ready``
    allows) right after tile t-1's first vector, and its vectors follow once all rows are in,
    with random idle cycles between beats. Returns the raw (unsigned) bit patterns of the result
    elements, one list of ``cols`` per vector, in order, and the latency of each vector (cycles
    from its acceptance to its result).
    """
    from hw.array import SystolicArray, act_layout, result_layout, weight_row_layout

    from .scenario import pack

    dut = SystolicArray(config, arithmetic=arithmetic)
    wl, al = weight_row_layout(config, arithmetic), act_layout(config, arithmetic)
    width = Shape.cast(result_layout(config, arithmetic).elem_shape).width
    rng = random.Random(seed)
    n_vectors = sum(len(vectors) for _, vectors in tiles)
    results, accepted, returned = [], [], []
    state = {"loaded": 0, "switched": 0, "cycle": 0}

    async def weight_writer(ctx):
        for t, (rows, _) in enumerate(tiles):
            while state["switched"] < t:
                await ctx.tick()
            for i, codes in enumerate(rows):
                ctx.set(dut.weights.valid, 1)
                ctx.set(dut.weights.payload.as_value(), pack(wl, {"row": i, "codes": codes}))
                await ctx.tick().until(dut.weights.ready)
                ctx.set(dut.weights.valid, 0)
            state["loaded"] = t + 1

    async def act_writer(ctx):
        for t, (_, vectors) in enumerate(tiles):
            while state["loaded"] < t + 1:
                await ctx.tick()
            for n, vec in enumerate(vectors):
                while rng.random() < p_idle:
                    await ctx.tick()
                ctx.set(dut.acts.valid, 1)
                ctx.set(dut.acts.payload.as_value(), pack(al, {"data": vec, "swap": int(n == 0)}))
                accepted.append(state["cycle"])
                await ctx.tick()
                ctx.set(dut.acts.valid, 0)
                state["switched"] = t + 1

    async def result_reader(ctx):
        for _ in range(max_cycles):
            if len(results) == n_vectors:
                return
            _, _, valid, payload = await ctx.tick().sample(dut.results.valid,
                                                           dut.results.payload.as_value())
            if valid:
                returned.append(state["cycle"] - 1)     # sampled at the edge that ended it
                results.append([(payload >> (j * width)) & ((1 << width) - 1)
                                for j in range(config.cols)])
        raise TimeoutError(f"array bench did not finish within {max_cycles} cycles")

    async def clock_counter(ctx):
        async for _ in ctx.tick():
            state["cycle"] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(clock_counter)
    sim.add_testbench(weight_writer)
    sim.add_testbench(act_writer)
    sim.add_testbench(result_reader)
    sim.run()
    return results, [r - a for a, r in zip(accepted, returned, strict=True)]
