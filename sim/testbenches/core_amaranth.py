# SPDX-License-Identifier: BSD-2-Clause
"""Run tiles through :class:`hw.array.SystolicArray` (any element type) in amaranth.sim.

The free-running core has no backpressure: its activation and result streams are always
ready. Tile t's beats (``weight_rows_per_cycle`` rows each) are written (in order, as
``weights.ready`` allows) right after tile t-1's first vector, and its vectors follow once all
beats are in, with random idle cycles between vectors.
"""

from __future__ import annotations

import random

from amaranth.hdl import Shape

from hw.array import (
    SystolicArray,
    act_layout,
    result_layout,
    weight_beat_layout,
    weight_beat_payloads,
)

from .scenario import pack
from .streams import Clock, collect, put, simulate

__all__ = ["rtl_core_amaranth"]


def rtl_core_amaranth(config, arithmetic, tiles, *, p_idle: float = 0.0, seed: int = 0,
                      max_cycles: int = 100_000) -> tuple[list[list[int]], list[int]]:
    """``tiles`` is a list of ``(weight_rows, vectors)``: ``weight_rows[i][j]`` and
    ``vectors[t][i]`` are the raw bit patterns of weight (i, j) and of activation i of vector
    t in the arithmetic's encoding. Returns the raw (unsigned) bit patterns of the result
    elements, one list of ``cols`` per vector, in order, and the latency of each vector
    (cycles from its acceptance to its result)."""
    dut = SystolicArray(config, arithmetic=arithmetic)
    wl, al = weight_beat_layout(config, arithmetic), act_layout(config, arithmetic)
    width = Shape.cast(result_layout(config, arithmetic).elem_shape).width
    rng = random.Random(seed)
    clock = Clock(max_cycles, "the array core")
    n_vectors = sum(len(vectors) for _, vectors in tiles)
    state = {"loaded": 0, "switched": 0}
    accepted, returned = [], []

    async def weight_writer(ctx):
        for t, (rows, _) in enumerate(tiles):
            while state["switched"] < t:
                await ctx.tick()
            for beat in weight_beat_payloads(config, rows):
                await put(ctx, dut.weights, pack(wl, beat), rng=rng, p_idle=0.0, clock=clock)
            state["loaded"] = t + 1

    async def act_writer(ctx):
        for t, (_, vectors) in enumerate(tiles):
            while state["loaded"] < t + 1:
                await ctx.tick()
            for n, vec in enumerate(vectors):
                accepted.append(await put(ctx, dut.acts, pack(al, {"data": vec,
                                                                   "swap": int(n == 0)}),
                                          rng=rng, p_idle=p_idle, clock=clock))
                state["switched"] = t + 1

    async def result_reader(ctx):
        returned[:] = await collect(ctx, dut.results, n_vectors, rng=rng, p_stall=0.0,
                                    clock=clock, drain_cycles=0)

    simulate(dut, clock=clock, testbenches=[weight_writer, act_writer, result_reader])
    results = [[(payload >> (j * width)) & ((1 << width) - 1) for j in range(config.cols)]
               for _, payload in returned]
    return results, [r - a for a, (r, _) in zip(accepted, returned, strict=True)]
