# SPDX-License-Identifier: BSD-2-Clause
"""cocotb bench of the generated ``BufferedArray`` Verilog.

It runs inside the simulator process and deliberately imports neither PyTorch nor Amaranth:
the stimulus arrives pre-packed as JSON (path in ``$ARRAY_BENCH_SPEC``, written by
:meth:`sim.testbenches.scenario.ArrayScenario.to_json`) and the raw result beats go back as JSON
(``$ARRAY_BENCH_OUT``); the pytest process unpacks and compares them with golden.

The drivers mirror :mod:`sim.testbenches.array_amaranth`: tile t loads while tile t-1 computes,
random idle cycles on both inputs, random backpressure on the output, and a watchdog so that a
design that stops answering fails the test instead of hanging it.
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from .drivers import Stream, put, reset


@cocotb.test()
async def array_stream(dut):
    spec = json.loads(Path(os.environ["ARRAY_BENCH_SPEC"]).read_text())
    out_path = Path(os.environ["ARRAY_BENCH_OUT"])
    rng = random.Random(spec["seed"])
    p_idle, p_stall = spec["p_idle"], spec["p_stall"]
    tiles = spec["tiles"]
    n_results = spec["n_results"]
    clk = dut.clk

    weights, acts, results = (Stream(dut, p) for p in ("weights", "acts", "results"))
    weights.valid.value = 0
    acts.valid.value = 0
    results.ready.value = 0
    await reset(dut)

    state = {"loaded": 0, "switched": 0, "cycle": 0}
    beats = []

    async def weight_writer():
        for t, tile in enumerate(tiles):
            while state["switched"] < t:
                await RisingEdge(clk)
            for beat in tile["weights"]:
                await put(clk, weights, beat, rng, p_idle)
            state["loaded"] = t + 1

    async def act_writer():
        for t, tile in enumerate(tiles):
            while state["loaded"] < t + 1:
                await RisingEdge(clk)
            for n, beat in enumerate(tile["acts"]):
                await put(clk, acts, beat, rng, p_idle)
                if n == 0:
                    state["switched"] = t + 1

    async def result_reader():
        extra = 0
        while len(beats) < n_results or extra < spec["drain_cycles"]:
            ready = rng.random() >= p_stall
            results.ready.value = int(ready)
            await ReadOnly()
            if ready and results.valid.value:
                beats.append(int(results.payload.value))
            if len(beats) >= n_results:
                extra += 1
            await RisingEdge(clk)
            state["cycle"] += 1
            assert state["cycle"] < spec["max_cycles"], (
                f"timeout: {len(beats)} of {n_results} results after {spec['max_cycles']} cycles")

    cocotb.start_soon(weight_writer())
    cocotb.start_soon(act_writer())
    await cocotb.start_soon(result_reader())
    out_path.write_text(json.dumps({"results": beats, "cycles": state["cycle"]}))
