# SPDX-License-Identifier: BSD-2-Clause
"""cocotb bench of a free-running ``SystolicArray`` core (any element type), in particular of
its post-synthesis netlist.

Like :mod:`sim.testbenches.cocotb_modules.array` it imports neither PyTorch nor Amaranth:
packed beats come in as JSON (``$CORE_BENCH_SPEC``), raw result beats go out as JSON
(``$CORE_BENCH_OUT``). Each tile's rows are written as ``weights.ready`` allows, then its
vectors follow back to back; the
core never stalls its results, so every valid result is recorded.
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from .drivers import Stream, put, reset


@cocotb.test()
async def core_stream(dut):
    spec = json.loads(Path(os.environ["CORE_BENCH_SPEC"]).read_text())
    clk = dut.clk
    dut.weights__valid.value = 0
    dut.acts__valid.value = 0
    await reset(dut)

    results = []

    async def reader():
        for _ in range(spec["max_cycles"]):
            await ReadOnly()
            if dut.results__valid.value:
                results.append(int(dut.results__payload.value))
            await RisingEdge(clk)

    cocotb.start_soon(reader())
    weights, no_idle = Stream(dut, "weights"), random.Random(0)
    for tile in spec["tiles"]:
        for beat in tile["weights"]:
            await put(clk, weights, beat, no_idle, 0.0)
        for beat in tile["acts"]:
            dut.acts__valid.value = 1
            dut.acts__payload.value = beat
            await RisingEdge(clk)
        dut.acts__valid.value = 0
    for _ in range(spec["max_cycles"]):
        if len(results) >= spec["n_results"]:
            break
        await RisingEdge(clk)
    Path(os.environ["CORE_BENCH_OUT"]).write_text(json.dumps({"results": results}))
