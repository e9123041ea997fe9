# SPDX-License-Identifier: BSD-2-Clause
"""Run command programs on the generated accelerator Verilog under cocotb (Icarus or Verilator).

The counterpart of :func:`sim.accel_amaranth.rtl_accel_amaranth`, on top of
:class:`sim.backends.CocotbBackend`: the programs run one after another in one simulator
process, and the accelerator's memories keep their contents between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .accel_amaranth import AccelRun
from .backends import CocotbBackend

__all__ = ["Program", "rtl_accel_cocotb"]


@dataclass(frozen=True)
class Program:
    words: list[int]
    n_response: int


def rtl_accel_cocotb(config, programs: list[Program], *, simulator: str, test_dir: Path,
                     p_idle: float = 0.0, p_stall: float = 0.0, seed: int = 0,
                     waves: bool = False) -> list[AccelRun]:
    runs = []
    with CocotbBackend(config, simulator=simulator, work_dir=test_dir, p_idle=p_idle,
                       p_stall=p_stall, seed=seed, waves=waves) as backend:
        for program in programs:
            response = backend.execute(program.words, program.n_response)
            runs.append(AccelRun(response=response, cycles=backend.last_cycles))
    return runs
