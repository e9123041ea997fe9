# SPDX-License-Identifier: BSD-2-Clause
"""FPGA builds of every registered design on every device, and their report.

For each (design, device, size) :func:`run_build` synthesizes the design alone (resource
counts), each of its parts alone (:attr:`hw.designs.Design.parts`: where the logic goes), and
the design inside the IO harness (placed and routed for the totals and Fmax), then
:func:`render_markdown`, :func:`render_parts_markdown`, :func:`write_json` and :func:`plot`
turn the records into ``build/reports/fpga.md``, ``fpga.json`` and ``fpga.png``.

Multipliers go into DSP blocks when the device has enough of them for the whole design, and
into logic otherwise (the record says which, and why).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from golden.contract.config import AcceleratorConfig, check_positive
from hw.designs import DESIGNS, Design, get_design
from hw.fpga import (
    DEVICES,
    Device,
    build_files,
    get_device,
    parse_nextpnr_report,
    place_and_route,
    synthesize,
    write_design,
)
from hw.yosys import ReportError, ToolError, YosysStat, parse_yosys_stat

__all__ = ["REMAINDER", "BuildRequest", "FpgaRecord", "Resources", "load_records", "load_tools",
           "measure_parts", "merge_records", "parse_size", "parts_with_remainder", "plot",
           "render_markdown", "render_parts_markdown", "resources", "run_build", "sort_records",
           "write_json"]


@dataclass(frozen=True)
class Resources:
    """FPGA resources of a synthesized netlist.

    ``luts`` counts LUT4 function generators: ``SB_LUT4`` on iCE40 (its carry logic is
    ``SB_CARRY``, in the same logic cell), ``LUT4`` plus two per ``CCU2C`` on ECP5 (a CCU2C is
    a pair of LUT4s with their carry logic). ``carry`` counts ``SB_CARRY`` or ``CCU2C`` cells.
    """

    luts: int
    ffs: int
    carry: int
    brams: int
    dsps: int


def resources(stat: YosysStat, family: str) -> Resources:
    if family == "ice40":
        return Resources(luts=stat.count("SB_LUT4"), ffs=stat.count_prefix("SB_DFF"),
                         carry=stat.count("SB_CARRY"), brams=stat.count("SB_RAM40_4K"),
                         dsps=stat.count("SB_MAC16"))
    if family == "ecp5":
        return Resources(luts=stat.count("LUT4") + 2 * stat.count("CCU2C")
                         + 2 * stat.count("TRELLIS_DPR16X4"),
                         ffs=stat.count("TRELLIS_FF"), carry=stat.count("CCU2C"),
                         brams=stat.count("DP16KD", "PDPW16KD"),
                         dsps=stat.count("MULT18X18D", "ALU54B"))
    raise ReportError(f"unknown device family {family!r}")


#: nextpnr's name for the logic cells (LUT slots) of each family.
_LOGIC_BELS = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}


@dataclass(frozen=True)
class BuildRequest:
    design: str
    device: str
    rows: int
    cols: int

    @property
    def key(self) -> str:
        return f"{self.design}-{self.device}-{self.rows}x{self.cols}"


@dataclass
class FpgaRecord:
    """One design on one device.

    ``luts``, ``ffs``, ``carry``, ``brams`` and ``dsps`` are the design alone (synthesized out
    of context); ``total_*`` and ``logic_cells`` include the IO harness (``logic_cells`` is
    nextpnr's count of used logic cells: ICESTORM_LC on iCE40, TRELLIS_COMB on ECP5).
    ``status`` is ``ok``, ``does not fit`` or ``failed``; ``note`` says why, or how the
    multipliers were mapped, or which part failed to synthesize.

    ``parts`` (designs with :attr:`~hw.designs.Design.parts`) maps each part's name to its
    counts (``luts``, ``ffs``, ``carry``, ``brams``, ``dsps``), in the design's order: the part
    synthesized alone, less the parts it contains (its ``less``); None for a part that could
    not be measured (the note says why). None: no parts measured.
    """

    design: str
    device: str
    rows: int
    cols: int
    status: str
    note: str = ""
    luts: int | None = None
    ffs: int | None = None
    carry: int | None = None
    brams: int | None = None
    dsps: int | None = None
    total_luts: int | None = None
    total_ffs: int | None = None
    total_dsps: int | None = None
    logic_cells: int | None = None
    logic_cells_available: int | None = None
    fmax_mhz: float | None = None
    #: Fmax of each placement seed 1, 2, ... when more than nextpnr's default one was run
    #: (``fmax_mhz`` is always seed 1's).
    fmax_by_seed: list[float] | None = None
    critical_path: str = ""
    harness_ffs: int | None = None
    seconds: float | None = None
    parts: dict[str, dict[str, int] | None] | None = None

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def luts_per_pe(self) -> float | None:
        return None if self.luts is None else self.luts / self.pes

    @property
    def key(self) -> str:
        return BuildRequest(self.design, self.device, self.rows, self.cols).key


def parse_size(text: str) -> tuple[int, int]:
    """``"8x8"`` -> (8, 8); a clear error otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"size must look like ROWSxCOLS (e.g. 8x8), not {text!r}")
    return int(parts[0]), int(parts[1])


def _fit_problem(res: Resources, device: Device) -> str:
    for what, need, have in (("LUT4s", res.luts, device.luts), ("flip-flops", res.ffs, device.ffs),
                             ("block RAMs", res.brams, device.brams),
                             ("DSP blocks", res.dsps, device.dsps)):
        if need > have:
            return f"needs {need} {what}, {device.name} has {have}"
    return ""


def placement_overflow(log: Path) -> str:
    """The over-full resources of a nextpnr log that ended in a placement failure ("Unable to
    place cell", or the analytic placer's "Failed to expand region"), as "needs 7658
    ICESTORM_LCs, the device has 5280", or "" (no log, or another failure)."""
    if not log.is_file():
        return ""
    text = log.read_text(errors="replace")
    if "Unable to place cell" not in text and "Failed to expand region" not in text:
        return ""
    over = []
    for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", text):
        bel, used, have = m.group(1), int(m.group(2)), int(m.group(3))
        if used > have:
            over.append(f"needs {used} {bel}s, the device has {have}")
    return "; ".join(dict.fromkeys(over)) or "placement failed for lack of cells"


def _known_too_big(request: BuildRequest, device: Device,
                   earlier: list[FpgaRecord]) -> str:
    """Why ``request`` cannot fit ``device``, judged from earlier builds, or "".

    Only for designs whose multipliers would go into logic on this device: another build of
    the same design with its multipliers in logic (any LUT4 family, any size) gives LUT4s per
    processing element, harness included; if that many for this size exceed the device, the
    synthesis (of an FP16 array in logic: a quarter of an hour per 4x4 here) is not run, and
    the record says it is an estimate. The same size on the same family is the same netlist.
    """
    design = get_design(request.design)
    pes = request.rows * request.cols
    if design.arithmetic is None or not design.arithmetic.multiplies:
        return ""
    if device.infer_dsp and pes <= device.dsps:
        return ""
    for r in earlier:
        if r.design != request.design or r.total_luts is None or r.total_dsps != 0:
            continue
        estimate = r.total_luts * pes // r.pes
        if estimate <= device.luts:
            continue
        same = (get_device(r.device).family == device.family
                and (r.rows, r.cols) == (request.rows, request.cols))
        if same:
            return (f"needs {r.total_luts} LUT4s, {device.name} has {device.luts} (with the "
                    f"harness; the same netlist as {r.key})")
        return (f"estimated: {r.key} needs {r.total_luts / r.pes:.0f} LUT4s per PE with the "
                f"harness, so about {estimate} for {pes} PEs; {device.name} has {device.luts}")
    return ""


#: Row name of what the parts leave of the whole (:func:`parts_with_remainder`).
REMAINDER = "memories and wiring"

_COUNTS = ("luts", "ffs", "carry", "brams", "dsps")


def measure_parts(design: Design, config: AcceleratorConfig, device: Device, workdir: Path, *,
                  dsp: bool) -> tuple[dict[str, dict[str, int] | None], list[str]]:
    """Synthesize each of ``design``'s parts alone (built with the design's FPGA
    configuration, flattened, every port kept, the script of the design-alone synthesis), each
    in ``workdir/parts/<name>``; the counts of :attr:`FpgaRecord.parts` and a note for each
    part that could not be measured. A tool failure is a note, not an exception."""
    fpga_config = design.config_for_fpga(config)
    raw: dict[str, Resources] = {}
    notes = []
    for part in design.parts:
        where = workdir / "parts" / part.name
        try:
            write_design(part.build(fpga_config), where)
            raw[part.name] = resources(parse_yosys_stat(synthesize(
                device, where, source="design.v", top="dut", dsp=dsp, netlist=False)),
                device.family)
        except (ToolError, ReportError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            notes.append(f"part {part.name} not measured: {first}")
    counts: dict[str, dict[str, int] | None] = {}
    for part in design.parts:
        missing = [n for n in (part.name, *part.less) if n not in raw]
        if missing:
            if part.name in raw:
                notes.append(f"part {part.name} not measured: needs {', '.join(missing)}")
            counts[part.name] = None
            continue
        counts[part.name] = {c: getattr(raw[part.name], c)
                             - sum(getattr(raw[n], c) for n in part.less) for c in _COUNTS}
    return counts, notes


def run_build(request: BuildRequest, build_dir: Path, *, earlier: list[FpgaRecord] = (),
              seeds: int = 1, log: Callable[[str], None] = print) -> FpgaRecord:
    """Synthesize, place and route one design on one device; never raises for a tool failure
    (the record says what failed), only for a bad request. ``earlier`` records may show that
    the build cannot fit (see :func:`_known_too_big`). With ``seeds`` > 1 the netlist is also
    placed and routed with seeds 2 .. ``seeds`` (the spread of Fmax over placements)."""
    check_positive(seeds=seeds)
    device = get_device(request.device)
    design = get_design(request.design)
    config = AcceleratorConfig(rows=request.rows, cols=request.cols)
    workdir = (build_dir / request.key).resolve()
    start = time.monotonic()
    record = FpgaRecord(request.design, request.device, request.rows, request.cols, status="ok")

    def done(status: str, note: str) -> FpgaRecord:
        record.status, record.note = status, note
        record.seconds = round(time.monotonic() - start, 1)
        log(f"{request.key}: {status}{': ' + note if note else ''} ({record.seconds} s)")
        return record

    too_big = _known_too_big(request, device, list(earlier))
    if too_big:
        return done("does not fit", too_big)
    try:
        harness = build_files(request.design, config, workdir)
        record.harness_ffs = harness.flip_flops
        dsp = device.dsps > 0 and device.infer_dsp
        total = resources(parse_yosys_stat(synthesize(device, workdir, source="top.v", top="top",
                                                      dsp=dsp, netlist=True)), device.family)
        notes = []
        if total.dsps > device.dsps:
            notes.append(f"multipliers in logic ({total.dsps} would need DSP blocks, "
                         f"{device.name} has {device.dsps})")
            dsp = False
            total = resources(parse_yosys_stat(synthesize(
                device, workdir, source="top.v", top="top", dsp=False, netlist=True)),
                device.family)
        elif total.dsps:
            notes.append("multipliers in DSP blocks")
        ebr = workdir / "top.ebr.json"
        if ebr.exists() and json.loads(ebr.read_text()).get("flip_flops"):
            moved = json.loads(ebr.read_text())
            notes.append(f"{moved['flip_flops']} flip-flops moved into the output registers of "
                         f"{moved['rams']} block RAM ports")
        record.total_luts, record.total_ffs, record.total_dsps = total.luts, total.ffs, total.dsps
        problem = _fit_problem(total, device)
        if problem:
            # No design-alone run for a build that cannot be placed: the harness is a few
            # hundred cells beside the thousands that do not fit.
            return done("does not fit", "; ".join([problem + " (with the harness)", *notes]))
        alone = resources(parse_yosys_stat(synthesize(device, workdir, source="design.v",
                                                      top="dut", dsp=dsp, netlist=False)),
                          device.family)
        record.luts, record.ffs, record.carry = alone.luts, alone.ffs, alone.carry
        record.brams, record.dsps = alone.brams, alone.dsps
        if design.parts:
            record.parts, problems = measure_parts(design, config, device, workdir, dsp=dsp)
            notes += problems
        report = parse_nextpnr_report(place_and_route(device, workdir))
        if seeds > 1:
            record.fmax_by_seed = [round(report.min_fmax_mhz, 1)] + [
                round(parse_nextpnr_report(place_and_route(device, workdir, seed=s))
                      .min_fmax_mhz, 1) for s in range(2, seeds + 1)]
    except (ToolError, ReportError) as e:
        overflow = placement_overflow(workdir / "top.nextpnr.log")
        if overflow:
            return done("does not fit", f"{overflow} (placed with the harness: nextpnr ran out "
                                        f"of logic cells)")
        return done("failed", str(e).splitlines()[0])
    logic = report.utilization.get(_LOGIC_BELS[device.family], (None, None))
    record.logic_cells, record.logic_cells_available = logic
    record.fmax_mhz = round(report.min_fmax_mhz, 1)
    if report.critical_paths:
        worst = max(report.critical_paths, key=lambda p: p.delay_ns)
        record.critical_path = (f"{worst.start} -> {worst.end}: {worst.delay_ns:.2f} ns "
                                f"({worst.logic_ns:.2f} logic, {worst.routing_ns:.2f} routing)")
    return done("ok", "; ".join(notes))


# --- records on disk ---------------------------------------------------------------------------

def load_records(path: Path) -> list[FpgaRecord]:
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    names = {f.name for f in fields(FpgaRecord)}
    try:
        return [FpgaRecord(**{k: v for k, v in r.items() if k in names})
                for r in data["records"]]
    except (KeyError, TypeError) as e:
        raise ReportError(f"{path} is not an FPGA report written by this version: {e!r}") from None


def merge_records(old: list[FpgaRecord], new: list[FpgaRecord]) -> list[FpgaRecord]:
    """``old`` with every build in ``new`` replaced or added, in a stable order."""
    merged = {r.key: r for r in old}
    merged.update({r.key: r for r in new})
    return sort_records(merged.values())


def sort_records(records) -> list[FpgaRecord]:
    """By device (in the order of hw.fpga.DEVICES), size, then design (registry order)."""
    devices, designs = list(DEVICES), list(DESIGNS)

    def rank(names, name):
        return names.index(name) if name in names else len(names)
    return sorted(records, key=lambda r: (rank(devices, r.device), r.device, r.rows * r.cols,
                                          r.rows, rank(designs, r.design), r.design))


def write_json(records: list[FpgaRecord], path: Path, *, tools: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(r), "luts_per_pe": None if r.luts_per_pe is None
             else round(r.luts_per_pe, 1)} for r in records]
    path.write_text(json.dumps({"tools": tools, "records": rows}, indent=1) + "\n")


def load_tools(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()).get("tools", {}) if path.exists() else {}


# --- rendering ---------------------------------------------------------------------------------

def _cell(value, fmt="{}") -> str:
    return "-" if value is None else fmt.format(value)


def _fmax_cell(r: FpgaRecord) -> str:
    """Seed 1's Fmax, with the range over all seeds when more than one was placed."""
    if not r.fmax_by_seed or len(r.fmax_by_seed) < 2:
        return _cell(r.fmax_mhz, "{:.1f}")
    return (f"{r.fmax_mhz:.1f} (seeds 1-{len(r.fmax_by_seed)}: "
            f"{min(r.fmax_by_seed):.1f}-{max(r.fmax_by_seed):.1f})")


def render_markdown(records: list[FpgaRecord]) -> str:
    header = ("design", "device", "size", "LUT4", "LUT4/PE", "FF", "carry", "BRAM", "DSP",
              "Fmax MHz", "placed cells (with harness)", "note")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in sort_records(records):
        placed = (f"{r.logic_cells} / {r.logic_cells_available}" if r.status == "ok"
                  else r.status)
        luts = r.luts if r.luts is not None else r.total_luts
        lines.append("| " + " | ".join([
            r.design, r.device, f"{r.rows}x{r.cols}", _cell(luts), _cell(r.luts_per_pe, "{:.1f}"),
            _cell(r.ffs), _cell(r.carry), _cell(r.brams), _cell(r.dsps),
            _fmax_cell(r), placed, r.note.replace("|", "/")]) + " |")
    return "\n".join(lines) + "\n"


def parts_with_remainder(record: FpgaRecord) -> dict[str, dict[str, int | None]]:
    """``record.parts`` (every count None for a part not measured) and, under
    :data:`REMAINDER`, the design alone less the sum of the parts (None where a count of the
    whole or of a part is missing)."""
    rows = {name: counts or dict.fromkeys(_COUNTS) for name, counts in (record.parts or {}).items()}
    rows[REMAINDER] = {
        c: None if getattr(record, c) is None or any(p.get(c) is None for p in rows.values())
        else getattr(record, c) - sum(p[c] for p in rows.values()) for c in _COUNTS}
    return rows


def render_parts_markdown(records: list[FpgaRecord]) -> str:
    """Where the logic goes: a table of parts for each build with :attr:`FpgaRecord.parts`
    (the accelerator's), or "" when there is none."""
    built = [r for r in sort_records(records) if r.parts]
    if not built:
        return ""
    lines = ["Each part is synthesized out of context, on its own (flattened, all its ports "
             "kept, the same script and FPGA configuration as the whole design alone). A part "
             "that contains others is counted less them (a difference of two syntheses), and "
             f"'{REMAINDER}' is the whole design alone less the sum of the parts: what the top "
             "level holds itself (the accelerator's weight, activation and accumulator "
             "memories) and the logic between the parts. Out-of-context counts do not add "
             "exactly to the whole: inside it, Yosys optimizes across the boundaries (logic "
             "whose result no other part uses, or whose inputs are constant there, goes), so "
             "small or negative remainders are possible.", ""]
    for r in built:
        spec = DESIGNS.get(r.design)
        described = {p.name: p.description for p in spec.parts} if spec else {}
        rows = parts_with_remainder(r)
        dsps = any(row.get("dsps") for row in rows.values()) or bool(r.dsps)
        header = ("part", "LUT4", "% of LUT4", "FF", "carry", "BRAM", *(("DSP",) if dsps else ()),
                  "what")
        lines += [f"**{r.design} {r.rows}x{r.cols} on {r.device}**", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        whole = {c: getattr(r, c) for c in _COUNTS}
        for name, row in [*rows.items(), ("whole", whole)]:
            share = (None if row.get("luts") is None or not r.luts
                     else 100 * row["luts"] / r.luts)
            what = ("the design alone" if name == "whole"
                    else "the whole less the sum of the parts" if name == REMAINDER
                    else described.get(name, ""))
            lines.append("| " + " | ".join([
                f"**{name}**" if name == "whole" else name, _cell(row.get("luts")),
                _cell(share, "{:.0f}%"), _cell(row.get("ffs")), _cell(row.get("carry")),
                _cell(row.get("brams")), *((_cell(row.get("dsps")),) if dsps else ()),
                what.replace("|", "/")]) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(records: list[FpgaRecord], path: Path, *, element_ratios=None) -> None:
    """LUT4s per processing element and Fmax of every placed build, per device and size; with
    ``element_ratios`` ({label: {design: ratio to ternary}}), a third panel comparing them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = sort_records(r for r in records if r.status == "ok")
    if not ok:
        raise ReportError("no successful FPGA build to plot")
    designs = list(dict.fromkeys(r.design for r in ok))
    groups = list(dict.fromkeys((r.device, r.rows, r.cols) for r in ok))
    fig, axes = plt.subplots(1, 3 if element_ratios else 2,
                             figsize=(19 if element_ratios else 13, 4.5))
    if element_ratios:
        ax = axes[2]
        labels = list(element_ratios)
        names = list(dict.fromkeys(d for rat in element_ratios.values() for d in rat))
        w = 0.8 / len(labels)
        for k, label in enumerate(labels):
            ax.bar([n + k * w for n in range(len(names))],
                   [element_ratios[label].get(d, 0) for d in names], w, label=label)
        ax.set_xticks([n + 0.4 - w / 2 for n in range(len(names))], names)
        ax.set_yscale("log")
        ax.set_title("Processing element area relative to ternary")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    width = 0.8 / len(designs)
    for d, design in enumerate(designs):
        by = {(r.device, r.rows, r.cols): r for r in ok if r.design == design}
        xs = [g + d * width for g in range(len(groups))]
        axes[0].bar(xs, [by[g].luts_per_pe if g in by else 0 for g in groups], width,
                    label=design)
        axes[1].bar(xs, [by[g].fmax_mhz if g in by else 0 for g in groups], width, label=design)
    labels = [f"{dev}\n{r}x{c}" for dev, r, c in groups]
    axes[0].set_yscale("log")         # FP16 elements are an order of magnitude above the rest
    for ax, title in zip(axes[:2], ("LUT4 per processing element (design alone, log scale)",
                                "Fmax reached (MHz, placed and routed)"), strict=True):
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], labels, fontsize=8)
        ax.set_title(title)
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
