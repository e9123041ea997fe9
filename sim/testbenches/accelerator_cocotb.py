# SPDX-License-Identifier: BSD-2-Clause
"""Run command programs on the generated accelerator Verilog under cocotb (Icarus or Verilator).

The counterpart of :func:`sim.testbenches.accelerator_amaranth.rtl_accelerator_amaranth`, on top
of :class:`sim.backends.CocotbBackend`: the programs run one after another in one simulator
process, and the accelerator's memories keep their contents between them.
"""

from __future__ import annotations

from pathlib import Path

from .accelerator_amaranth import AcceleratorRun

__all__ = ["rtl_accelerator_cocotb"]


def rtl_accelerator_cocotb(config, programs, *, simulator: str, test_dir: Path,
                           p_idle: float = 0.0, p_stall: float = 0.0, seed: int = 0,
                           waves: bool = False) -> list[AcceleratorRun]:
    """``programs``: anything with ``words`` and ``response_words``
    (:class:`firmware.compiler.Program`), run in order."""
    from sim.backends import CocotbBackend

    runs = []
    with CocotbBackend(config, simulator=simulator, work_dir=test_dir, p_idle=p_idle,
                       p_stall=p_stall, seed=seed, waves=waves) as backend:
        for program in programs:
            response = backend.execute(program.words, program.response_words)
            runs.append(AcceleratorRun(response=response, cycles=backend.last_cycles))
    return runs
