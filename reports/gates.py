# SPDX-License-Identifier: BSD-2-Clause
"""ASIC-style area: generic Yosys synthesis to simple gates, and the ternary : INT8 : FP16 ratios.

Every design is flattened, synthesized with ``synth``, its flip-flops with enables and resets
unmapped to plain D flip-flops plus gates (``dffunmap``), and mapped by ABC onto two-input gates
and multiplexers (``abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX``). The report counts the gates, the
flip-flops, and Yosys' transistor estimate (``stat -tech cmos``: 4 per NAND/NOR, 6 per
AND/OR, 12 per XOR/XNOR/MUX, 16 per D flip-flop), the closest thing to area a technology-free
flow gives.

The published 45 nm areas beside them (Horowitz, ISSCC 2014: the data file of the energy model,
REFERENCE.md section 7) compose each element from the operators it contains; they are an
order-of-magnitude reference, not the same circuits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from amaranth.hdl import Shape

from golden.contract.config import AcceleratorConfig
from hw.array import SystolicArray
from hw.designs import DESIGNS
from hw.mac import Int8MacPE
from hw.pe import TernaryPE
from hw.verilog import convert
from hw.yosys import SCRIPTS, ReportError, synthesis_stat

from .energy.data import EnergyTable

__all__ = ["GATE_SCRIPT", "GateRecord", "gate_count", "published_ratios", "ratios",
           "render_markdown", "run_gates"]

GATE_SCRIPT = SCRIPTS["gates"]

#: Each element as the published 45 nm operators it contains, (kind, dtype, bits), per
#: accumulator policy. The table has no 20-bit adder: the INT8 element's 16..20-bit sum uses
#: the 32-bit adder in both policies.
_COMPOSITION = {
    "bit growth": {"ternary": (("add", "int", 16),),
                   "int8": (("mul", "int", 8), ("add", "int", 32)),
                   "fp16": (("mul", "fp", 16), ("add", "fp", 16))},
    "32-bit": {"ternary": (("add", "int", 32),),
               "int8": (("mul", "int", 8), ("add", "int", 32)),
               "fp16": (("mul", "fp", 16), ("add", "fp", 16))},
}


def _operators(ops) -> str:
    return " + ".join(f"{bits}b {'FP ' if dtype == 'fp' else ''}"
                      f"{'mult' if kind == 'mul' else kind}" for kind, dtype, bits in ops)


def published_ratios(policy: str, table: EnergyTable | None = None) -> dict[str, float]:
    """Area of each element relative to the ternary one, from the published 45 nm areas of
    the data file (published figures only: no derived width)."""
    table = table or EnergyTable.load()
    area = {}
    for design, ops in _COMPOSITION[policy].items():
        prices = [table.area(*op) for op in ops]
        if any(p.estimate for p in prices):
            raise ReportError(f"the data file lacks a published area of {_operators(ops)}")
        area[design] = sum(p.value for p in prices)
    return {d: area[d] / area["ternary"] for d in area}


@dataclass(frozen=True)
class GateRecord:
    """Gate count of one processing element or array."""

    design: str         # ternary, int8, fp16
    kind: str           # "pe" or "array"
    rows: int
    cols: int
    policy: str         # accumulator policy: "bit growth" or "32-bit"
    psum_bits: int      # widest partial sum
    gates: int          # two-input gates and multiplexers
    ffs: int
    transistors: int

    @property
    def cells(self) -> int:
        return self.gates + self.ffs


def gate_count(component, *, name: str, workdir: Path) -> tuple[int, int, int]:
    """(gates, flip-flops, transistors) of ``component`` after generic synthesis."""
    stat = synthesis_stat(convert(component, name=name), top=name, target="gates",
                          workdir=workdir)
    ffs = stat.count_prefix("$_DFF")
    unexpected = sorted(c for c in stat.cells if c.startswith("$_") and "DFF" in c
                        and c != "$_DFF_P_")
    if unexpected:
        raise ReportError(f"{name}: flip-flops left unmapped by dffunmap: {unexpected}")
    if stat.transistors is None:
        raise ReportError(f"{name}: yosys gave no transistor estimate")
    return stat.total - ffs, ffs, stat.transistors


def _pe_jobs(config: AcceleratorConfig):
    """(design, policy, psum bits, element) of the widest element of each array design, and
    of the ternary and INT8 elements with a fixed 32-bit partial sum (the first sketch)."""
    for design in DESIGNS.values():
        if design.arithmetic is None or not design.sweep:
            continue
        pe = design.pe(config)
        yield design.name, "bit growth", len(pe.psum_out), pe
    yield "ternary", "32-bit", 32, TernaryPE(act_bits=config.act_bits, psum_in_bits=32,
                                            psum_out_bits=32)
    yield "int8", "32-bit", 32, Int8MacPE(act_bits=config.act_bits, psum_in_bits=32,
                                          psum_out_bits=32)


def run_gates(build_dir: Path, *, pe_config: AcceleratorConfig,
              array_sizes: list[tuple[int, int]], log=print) -> list[GateRecord]:
    """Gate counts of every array design's processing element (the bottom row of
    ``pe_config``) and of its arrays at ``array_sizes``."""
    records = []
    for design, policy, bits, pe in _pe_jobs(pe_config):
        tag = f"pe_{design}_{bits}"
        g, f, t = gate_count(pe, name=tag, workdir=build_dir / tag)
        records.append(GateRecord(design, "pe", pe_config.rows, pe_config.cols, policy, bits,
                                  g, f, t))
        log(f"gates: {tag}: {g} gates, {f} FFs, {t} transistors")
    for rows, cols in array_sizes:
        config = AcceleratorConfig(rows=rows, cols=cols)
        for design in DESIGNS.values():
            if design.arithmetic is None or not design.sweep:
                continue
            tag = f"array_{design.name}_{rows}x{cols}"
            array = SystolicArray(config, arithmetic=design.arithmetic)
            g, f, t = gate_count(array, name=tag, workdir=build_dir / tag)
            bits = Shape.cast(design.arithmetic.result_shape(config)).width
            records.append(GateRecord(design.name, "array", rows, cols, "bit growth", bits,
                                      g, f, t))
            log(f"gates: {tag}: {g} gates, {f} FFs, {t} transistors")
    return records


def ratios(records: list[GateRecord], *, kind: str, rows: int, cols: int, policy: str,
           metric: str = "transistors") -> dict[str, float]:
    """``metric`` of each design relative to the ternary design, for one kind, size and
    policy (for the 32-bit policy, FP16 keeps its 16-bit partial sums)."""
    pick = {}
    for r in records:
        if r.kind == kind and r.rows == rows and r.cols == cols and (
                r.policy == policy or (r.design == "fp16" and r.policy == "bit growth")):
            pick[r.design] = getattr(r, metric)
    if "ternary" not in pick:
        raise ReportError(f"no ternary {kind} of {rows}x{cols} ({policy}) to compare with")
    return {d: v / pick["ternary"] for d, v in pick.items()}


def _fmt_ratio(rat: dict[str, float]) -> str:
    return " : ".join(f"{rat[d]:.2f}" if d in rat else "-" for d in ("ternary", "int8", "fp16"))


def render_markdown(records: list[GateRecord]) -> str:
    lines = ["| element | kind | size | accumulator | psum bits | gates | FFs | transistors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r.design} | {r.kind} | {r.rows}x{r.cols} | {r.policy} | {r.psum_bits} "
                     f"| {r.gates} | {r.ffs} | {r.transistors} |")
    lines += ["", "Ratios ternary : INT8 : FP16 (transistors; gates+FFs in brackets), beside the "
              "published 45 nm areas:", "",
              "| what | measured | published 45 nm |", "|---|---|---|"]
    pe = next((r for r in records if r.kind == "pe"), None)
    for policy in ("bit growth", "32-bit"):
        if pe is None:
            break
        try:
            t = ratios(records, kind="pe", rows=pe.rows, cols=pe.cols, policy=policy)
            c = ratios(records, kind="pe", rows=pe.rows, cols=pe.cols, policy=policy,
                       metric="cells")
        except ReportError:
            continue
        ops = {d: _operators(o) for d, o in _COMPOSITION[policy].items()}
        lines.append(f"| element, {policy} partial sums | {_fmt_ratio(t)} ({_fmt_ratio(c)}) | "
                     f"{_fmt_ratio(published_ratios(policy))} ({ops['ternary']} : "
                     f"{ops['int8']} : {ops['fp16']}) |")
    for size in dict.fromkeys((r.rows, r.cols) for r in records if r.kind == "array"):
        t = ratios(records, kind="array", rows=size[0], cols=size[1], policy="bit growth")
        c = ratios(records, kind="array", rows=size[0], cols=size[1], policy="bit growth",
                   metric="cells")
        lines.append(f"| {size[0]}x{size[1]} array | {_fmt_ratio(t)} ({_fmt_ratio(c)}) | |")
    return "\n".join(lines) + "\n"


def write_json(records: list[GateRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"script": GATE_SCRIPT,
                                "records": [asdict(r) for r in records]}, indent=1) + "\n")


def load_gates(path: Path) -> list[GateRecord]:
    if not path.exists():
        return []
    try:
        return [GateRecord(**r) for r in json.loads(path.read_text())["records"]]
    except (KeyError, TypeError) as e:
        raise ReportError(f"{path} is not a gate report written by this version: {e!r}") from None
