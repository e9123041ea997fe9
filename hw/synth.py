# SPDX-License-Identifier: BSD-2-Clause
"""Synthesis with Yosys (the YoWASP WebAssembly build from PyPI) and its cell statistics.

YoWASP tools see the file system through their own mounts, and an absolute path under /tmp
reaches a private /tmp of theirs: every path handed to them here is relative to the working
directory (which the runtime mounts as ".", wherever it is).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DSP_PRIMITIVES",
    "MULTIPLIER_CELLS",
    "SYNTH_TARGETS",
    "CellStats",
    "SynthError",
    "run_yosys",
    "yosys_stat",
    "yowasp_exe",
]

#: Yosys' internal multiply and multiply-accumulate cells.
MULTIPLIER_CELLS = ("$mul", "$macc", "$macc_v2", "$__mul", "$pmux_mul")
#: Hard multiplier / DSP primitives of the FPGA families the project targets.
DSP_PRIMITIVES = ("SB_MAC16", "MULT18X18D", "MULT9X9D", "ALU54B", "ALU24B", "DSP48E1",
                  "DSP48E2", "MULT18X18", "$__MUL16X16", "$__MUL18X18")

#: How far each target synthesizes. "coarse" stops at the word-level netlist just before
#: `alumacc`: every `*` of the design is a $mul cell there and a $macc can only be a real
#: multiply-accumulate. (From `alumacc` on, Yosys folds any tree of three or more additions
#: into a $macc cell, multiplier or not, so a $macc count after it says nothing about
#: multipliers.) The FPGA targets allow DSP inference, so any multiplier would land in a DSP
#: primitive; "generic" maps to simple gates for gate counts.
SYNTH_TARGETS = {
    "coarse": ("hierarchy -top {top}; proc; flatten; opt_expr; opt_clean; opt -nodffe -nosdff; "
               "wreduce; peepopt; opt_clean"),
    "ice40": "synth_ice40 -dsp -top {top}",
    "ecp5": "synth_ecp5 -top {top}",
    "generic": "synth -flatten -top {top}; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean",
}


class SynthError(RuntimeError):
    pass


@dataclass(frozen=True)
class CellStats:
    """Cell counts of one synthesized top module."""

    top: str
    target: str
    cells: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    def count(self, *names: str) -> int:
        return sum(self.cells.get(n, 0) for n in names)


def yowasp_exe(tool: str) -> str:
    """Path of the YoWASP console script ``yowasp-<tool>`` (e.g. ``yosys``, ``nextpnr-ecp5``).

    Raises :class:`SynthError` naming the package to install when it is missing.
    """
    name = f"yowasp-{tool}"
    # The console script sits beside this interpreter (the venv may not be on PATH).
    beside = Path(sys.executable).parent / name
    exe = str(beside) if beside.exists() else shutil.which(name)
    if exe is None:
        raise SynthError(f"{name} is not installed; run `make setup` or `pip install {name}`")
    return exe


def _yosys_exe() -> str:
    return yowasp_exe("yosys")


def run_yosys(script: str, *, workdir: Path, log: str = "yosys.log") -> None:
    """Run a Yosys ``script`` with ``workdir`` as working directory (every path in the script
    must be relative to it). Raises :class:`SynthError` with the end of the log on failure."""
    workdir = Path(workdir)
    (workdir / "synth.ys").write_text(script)
    proc = subprocess.run([_yosys_exe(), "-q", "-l", log, "-s", "synth.ys"],
                          cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SynthError(f"yosys failed in {workdir} (see {workdir / log}):\n"
                         f"{proc.stderr.strip()[-2000:]}")


def yosys_stat(verilog: str, *, top: str, target: str, workdir: Path) -> CellStats:
    """Synthesize ``verilog`` for ``target`` (a key of :data:`SYNTH_TARGETS`) and count cells."""
    if target not in SYNTH_TARGETS:
        raise ValueError(f"unknown synthesis target {target!r}; choose one of "
                         f"{', '.join(SYNTH_TARGETS)}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.v").write_text(verilog)
    script = "\n".join([
        "read_verilog design.v",
        SYNTH_TARGETS[target].format(top=top),
        "tee -q -o stat.json stat -json",
    ])
    run_yosys(script, workdir=workdir)
    stat = json.loads((workdir / "stat.json").read_text())
    modules = stat.get("modules", {})
    key = next((k for k in modules if k.lstrip("\\") == top), None)
    if key is None:
        raise SynthError(f"yosys statistics have no module {top!r}: {sorted(modules)}")
    cells = {str(k): int(v) for k, v in modules[key].get("num_cells_by_type", {}).items()}
    return CellStats(top=top, target=target, cells=cells)
