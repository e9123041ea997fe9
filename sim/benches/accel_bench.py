# SPDX-License-Identifier: BSD-2-Clause
"""cocotb bench of the accelerator inside :file:`sim/hdl/accel_harness.v`.

The harness streams each program at simulator speed; this bench only clocks, resets and starts
it, and moves files. ``$ACCEL_BENCH_SPEC`` names a JSON file::

    {"src": path, "sink": path,           # the harness's +src / +sink files
     "runs": [{"program": path, "response": path, "src_len": n, "resp_len": n,
               "p_idle": 0..255, "p_stall": 0..255, "seed": n, "max_cycles": n}, ...],
     "out": path}                          # results: cycles, response count, timeout, errors

No PyTorch or Amaranth here: the simulator process stays light.
"""

import json
import os
import shutil
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge


@cocotb.test()
async def run_programs(dut):
    spec = json.loads(Path(os.environ["ACCEL_BENCH_SPEC"]).read_text())
    src, sink = Path(spec["src"]), Path(spec["sink"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.start.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    results = []
    for run in spec["runs"]:
        shutil.copyfile(run["program"], src)
        sink.unlink(missing_ok=True)
        for name in ("src_len", "resp_len", "p_idle", "p_stall", "seed", "max_cycles"):
            getattr(dut, name).value = run[name]
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        # The harness itself ends the run after max_cycles, so this wait is bounded.
        await RisingEdge(dut.done)
        await RisingEdge(dut.clk)
        if sink.exists():
            shutil.copyfile(sink, run["response"])
        results.append({"cycles": int(dut.cycles.value), "resp_count": int(dut.resp_count.value),
                        "timeout": bool(dut.timeout.value), "errors": int(dut.errors.value)})
    Path(spec["out"]).write_text(json.dumps(results))
