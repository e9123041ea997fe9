# SPDX-License-Identifier: BSD-2-Clause
"""Run the cocotb bench :mod:`sim.testbenches.cocotb_modules.axi_reader` on the generated
``AxiWeightReader`` Verilog, whose AXI ports are named as cocotbext-axi expects
(``m_axi_araddr``...: :func:`hw.verilog.convert` with ``separator="_"``)."""

from __future__ import annotations

import json
from pathlib import Path

from hw.axi import AxiWeightReader
from hw.verilog import convert

from ..runner import run_bench

__all__ = ["reader_verilog", "rtl_axi_reader_cocotb"]

TOPLEVEL = "axi_weight_reader"


def reader_verilog(**params) -> str:
    return convert(AxiWeightReader(**params), name=TOPLEVEL, separator="_")


def rtl_axi_reader_cocotb(mode: str, *, simulator: str, test_dir: Path, seed: int = 0,
                          waves: bool = False, data_width: int, addr_width: int = 32,
                          max_burst: int = 16, max_outstanding: int = 4,
                          mem_bytes: int = 64 * 1024, p_ar: float = 0.0, p_r: float = 0.0,
                          p_stall: float = 0.0, p_idle: float = 0.0, n_requests: int = 20,
                          max_request: int = 6 * 1024, throughput_beats: int = 1024) -> dict:
    """Run one bench mode (random, errors, refuse, throughput); returns its measurements."""
    params = {"data_width": data_width, "addr_width": addr_width, "max_burst": max_burst,
              "max_outstanding": max_outstanding}
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    spec, out = test_dir / "spec.json", test_dir / "out.json"
    spec.write_text(json.dumps({
        **params, "mode": mode, "seed": seed, "mem_bytes": mem_bytes, "p_ar": p_ar,
        "p_r": p_r, "p_stall": p_stall, "p_idle": p_idle, "n_requests": n_requests,
        "max_request": max_request, "throughput_beats": throughput_beats}))
    out.unlink(missing_ok=True)
    run_bench(reader_verilog(**params), toplevel=TOPLEVEL,
              test_module="sim.testbenches.cocotb_modules.axi_reader", simulator=simulator,
              test_dir=test_dir, env={"AXI_BENCH_SPEC": str(spec), "AXI_BENCH_OUT": str(out)},
              waves=waves)
    return json.loads(out.read_text())
