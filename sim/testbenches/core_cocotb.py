# SPDX-License-Identifier: BSD-2-Clause
"""Run tiles through the Verilog of a :class:`hw.array.SystolicArray` core under cocotb: the RTL
of any element type, or a synthesized netlist with its cell models.

The counterpart of :func:`sim.testbenches.core_amaranth.rtl_core_amaranth`; the bench that runs
inside the simulator is :mod:`sim.testbenches.cocotb_modules.core`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..runner import run_bench

__all__ = ["rtl_core_cocotb"]


def rtl_core_cocotb(verilog: str, *, toplevel: str, tiles, n_results: int, simulator: str,
                    test_dir: Path, max_cycles: int = 10_000) -> list[int]:
    """Run ``tiles`` (a list of ``(weight_beats, act_beats)``, packed as for the ports) through
    the Verilog of a :class:`hw.array.SystolicArray` core (RTL or a synthesized netlist with
    its cell models) under cocotb; returns the raw result beats in order."""
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    spec, out = test_dir / "spec.json", test_dir / "out.json"
    spec.write_text(json.dumps({"tiles": [{"weights": w, "acts": a} for w, a in tiles],
                                "n_results": n_results, "max_cycles": max_cycles}))
    out.unlink(missing_ok=True)
    run_bench(verilog, toplevel=toplevel, test_module="sim.testbenches.cocotb_modules.core",
              simulator=simulator, test_dir=test_dir,
              env={"CORE_BENCH_SPEC": str(spec), "CORE_BENCH_OUT": str(out)})
    return json.loads(out.read_text())["results"]
