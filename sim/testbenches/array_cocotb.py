# SPDX-License-Identifier: BSD-2-Clause
"""Run an :class:`~sim.testbenches.scenario.ArrayScenario` on the generated ``BufferedArray``
Verilog under cocotb.

The counterpart of :func:`sim.testbenches.array_amaranth.rtl_array_amaranth`: same scenario, same
packed beats, same driving discipline; the bench that runs inside the simulator is
:mod:`sim.testbenches.cocotb_modules.array`.
"""

from __future__ import annotations

import json
from pathlib import Path

from hw.array import BufferedArray
from hw.verilog import convert

from ..runner import run_bench
from .array_amaranth import ArrayRun
from .scenario import ArrayScenario, unpack_results

__all__ = ["array_verilog", "rtl_array_cocotb"]

TOPLEVEL = "buffered_array"


def array_verilog(config) -> str:
    return convert(BufferedArray(config), name=TOPLEVEL)


def rtl_array_cocotb(scenario: ArrayScenario, *, simulator: str, test_dir: Path,
                     p_idle: float = 0.0, p_stall: float = 0.0, seed: int = 0,
                     waves: bool = False, max_cycles: int | None = None) -> ArrayRun:
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    spec, out = test_dir / "spec.json", test_dir / "out.json"
    if max_cycles is None:
        # Generous: every beat may wait out the whole pipeline many times over.
        beats = sum(len(t.acts) + scenario.config.rows for t in scenario.tiles)
        max_cycles = 50 * (beats + scenario.config.array_latency) + 1000
    spec.write_text(scenario.to_json(seed=seed, p_idle=p_idle, p_stall=p_stall,
                                     drain_cycles=8, max_cycles=max_cycles))
    out.unlink(missing_ok=True)
    run_bench(array_verilog(scenario.config), toplevel=TOPLEVEL,
              test_module="sim.testbenches.cocotb_modules.array", simulator=simulator,
              test_dir=test_dir, env={"ARRAY_BENCH_SPEC": str(spec), "ARRAY_BENCH_OUT": str(out)},
              waves=waves)
    data = json.loads(out.read_text())
    return ArrayRun(results=unpack_results(scenario.config, data["results"]),
                    cycles=data["cycles"], first_result_cycle=-1)
