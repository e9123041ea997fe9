# SPDX-License-Identifier: BSD-2-Clause
"""``python -m reports``: the FPGA builds and gate counts behind ``make fpga``.

::

    python -m reports fpga                         # every design, device and default size
    python -m reports fpga --device up5k --design ternary --size 4x4     # one build
    python -m reports gates                        # ASIC-style gate counts only
    python -m reports render                       # re-render from the JSON already there
    python -m reports energy                       # energy and area model (make report)
    python -m reports summary                      # energy of make sim's layers (make sim)

Results merge into ``build/reports/fpga.json`` and ``gates.json`` (a subset replaces only its
own builds; ``--fresh`` starts over), and every command re-renders ``fpga.md`` and
``fpga.png`` from them.
"""

from __future__ import annotations

import argparse
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root
from hw.designs import DESIGNS, get_design
from hw.fpga import DEVICES, tool_versions
from hw.yosys import ReportError

from . import fpga, gates

#: The designs of ``make fpga`` and the gate counts.
SWEEP = [name for name, design in DESIGNS.items() if design.sweep]

#: Designs ``make fpga`` can build when named (the sweep's, and the AXI accelerator).
FPGA_DESIGNS = [*SWEEP, "accelerator_axi"]

#: Array sizes of the gate-count report (the element itself is taken from a 16x16 array).
GATE_ARRAY_SIZES = ((4, 4), (8, 8))


def _refusal(design: str, rows: int, cols: int) -> str | None:
    """Why ``design`` has no FPGA configuration at ``rows`` x ``cols`` (the AXI accelerator
    needs an AXI word of 64 to 1024 bits), or None when it has one."""
    try:
        get_design(design).config_for_fpga(AcceleratorConfig(rows=rows, cols=cols))
    except ValueError as e:
        return str(e)
    return None


def _requests(args) -> list[fpga.BuildRequest]:
    designs = args.design or SWEEP
    devices = args.device or list(DEVICES)
    requests = []
    for device in devices:
        sizes = args.size or DEVICES[device].sizes
        for rows, cols in sizes:
            for d in designs:
                refusal = _refusal(d, rows, cols)
                if refusal and args.size:   # asked for: a size the design cannot take
                    raise ValueError(refusal)
                if refusal:                 # a device's default size the design cannot take
                    continue
                requests.append(fpga.BuildRequest(d, device, rows, cols))
    return requests


#: The targets of the array's FPGA and area work: element size against the baselines (times
#: smaller), Fmax of the 16x16 array on the ECP5-85F, LUT4s per processing element.
TARGETS = {"int8 ratio": 5, "fp16 ratio": 10, "fmax_mhz": 200, "luts_per_pe": 30}


#: The accelerator's targets (the whole design, not the array alone): Fmax per device and size,
#: and "control" (the accelerator's LUT4s less its array's) at most half of what it was before
#: the control path was pipelined and cut down.
ACCELERATOR_FMAX_MHZ = {("ecp5-85f", 16, 16): 200, ("ecp5-85f", 8, 8): 200,
                        ("ecp5-85f", 4, 4): 200, ("hx8k", 4, 4): 100, ("up5k", 4, 4): 40}
#: The AXI accelerator's Fmax target (issue: decode over AXI4).
ACCELERATOR_AXI_FMAX_MHZ = {("ecp5-85f", 16, 16): 150}
#: Builds that must fit their device.
ACCELERATOR_FITS = (("hx8k", 8, 8),)
#: The control LUT4s (accelerator less array) of the earlier controller, as reports/FPGA.md
#: measured them (commit 8d762f5: before the pipelined engine and controller, and before the
#: CRC framing of protocol version 2 added about 1,100 more on the ECP5 at 4x4).
CONTROL_LUTS_BEFORE = {("up5k", 4, 4): 2885 - 426, ("up5k", 8, 8): 4629 - 1703,
                       ("hx8k", 4, 4): 2885 - 426, ("hx8k", 8, 8): 4629 - 1703,
                       ("ecp5-85f", 4, 4): 3222 - 456, ("ecp5-85f", 8, 8): 5094 - 1769,
                       ("ecp5-85f", 16, 16): 11556 - 7227}


def _seeds_text(r: fpga.FpgaRecord, goal: float) -> str:
    """Seed 1's Fmax, with the range over the seeds and how many reach ``goal``."""
    text = f"{r.fmax_mhz:.1f} MHz"
    if r.fmax_by_seed and len(r.fmax_by_seed) > 1:
        above = sum(f >= goal for f in r.fmax_by_seed)
        text += (f" (placer seed 1; seeds 1-{len(r.fmax_by_seed)}: "
                 f"{min(r.fmax_by_seed):.1f}-{max(r.fmax_by_seed):.1f} MHz, "
                 f"{above} of {len(r.fmax_by_seed)} at >= {goal})")
    return text


def _control_luts(r: fpga.FpgaRecord, records: list[fpga.FpgaRecord]) -> int | None:
    """The accelerator's LUT4s less its array's: the array part when the parts were measured,
    else the ternary array of the same device and size."""
    if r.luts is None:
        return None
    array = (r.parts or {}).get("array")
    if array and array.get("luts") is not None:
        return r.luts - array["luts"]
    alone = next((a for a in records if a.design == "ternary" and a.device == r.device
                  and (a.rows, a.cols) == (r.rows, r.cols) and a.luts is not None), None)
    return None if alone is None else r.luts - alone.luts


def _accelerator_targets(records: list[fpga.FpgaRecord], row) -> None:
    by_key = {(r.device, r.rows, r.cols): r for r in records if r.design == "accelerator"}
    for (device, rows, cols), goal in ACCELERATOR_FMAX_MHZ.items():
        r = by_key.get((device, rows, cols))
        if r is None:
            continue
        what = f"accelerator {rows}x{cols} on the {device} at >= {goal} MHz"
        if r.status != "ok":
            row(what, r.status, False)
            continue
        row(what, _seeds_text(r, goal), r.fmax_mhz >= goal)
        if (device, rows, cols) == ("ecp5-85f", 16, 16):
            row("... with 0 DSP", f"{r.dsps} DSP", r.dsps == 0)
    axi = {(r.device, r.rows, r.cols): r for r in records if r.design == "accelerator_axi"}
    for (device, rows, cols), goal in ACCELERATOR_AXI_FMAX_MHZ.items():
        r = axi.get((device, rows, cols))
        if r is not None:
            what = (f"accelerator_axi {rows}x{cols} (weights over AXI4, a tile per cycle) on "
                    f"the {device} at >= {goal} MHz")
            row(what, _seeds_text(r, goal) if r.status == "ok" else r.status,
                r.status == "ok" and r.fmax_mhz >= goal)
    for device, rows, cols in ACCELERATOR_FITS:
        r = by_key.get((device, rows, cols))
        if r is not None:
            placed = (f"{r.logic_cells} / {r.logic_cells_available} cells" if r.status == "ok"
                      else r.note or r.status)
            row(f"accelerator {rows}x{cols} fits the {device}", placed, r.status == "ok")
    for (device, rows, cols), before in CONTROL_LUTS_BEFORE.items():
        r = by_key.get((device, rows, cols))
        control = None if r is None else _control_luts(r, records)
        if control is not None:
            row(f"control of the accelerator {rows}x{cols} on the {device} (LUT4, less the "
                f"array) <= half of {before}", f"{control} ({control / before:.0%})",
                2 * control <= before)


def _targets(records: list[fpga.FpgaRecord], gate_records: list[gates.GateRecord]) -> list[str]:
    """The targets (:data:`TARGETS`), each with what was measured and whether it was met."""
    t = TARGETS
    lines = ["| target | measured | met |", "|---|---|---|"]

    def row(what, measured, ok):
        lines.append(f"| {what} | {measured} | {'yes' if ok else 'no'} |")

    pe = next((r for r in gate_records if r.kind == "pe" and r.policy == "bit growth"), None)
    if pe is not None:
        for metric, label in (("cells", "gates + FFs"), ("transistors", "transistors")):
            rat = gates.ratios(gate_records, kind="pe", rows=pe.rows, cols=pe.cols,
                               policy="bit growth", metric=metric)
            for design in ("int8", "fp16"):
                if design in rat:
                    goal = t[f"{design} ratio"]
                    row(f"ternary element <= 1/{goal} of the {design.upper()} element ({label})",
                        f"1/{rat[design]:.2f}", rat[design] >= goal)
    big = next((r for r in records if r.design == "ternary" and r.device == "ecp5-85f"
                and (r.rows, r.cols) == (16, 16) and r.status == "ok"), None)
    if big is not None:
        row(f"ternary 16x16 on the ECP5-85F at >= {t['fmax_mhz']} MHz",
            _seeds_text(big, t["fmax_mhz"]), big.fmax_mhz >= t["fmax_mhz"])
        row("... with 0 DSP", f"{big.dsps} DSP", big.dsps == 0)
        row(f"... under {t['luts_per_pe']} LUTs per processing element",
            f"{big.luts_per_pe:.1f} LUT4/PE", big.luts_per_pe < t["luts_per_pe"])
    _accelerator_targets(records, row)
    return lines if len(lines) > 2 else []


def render(out: Path) -> None:
    records = fpga.load_records(out / "fpga.json")
    tools = fpga.load_tools(out / "fpga.json")
    gate_records = gates.load_gates(out / "gates.json")
    text = ["# FPGA builds and gate counts", ""]
    targets = _targets(records, gate_records)
    if targets:
        text += ["## Targets", "", *targets, ""]
    if records:
        text += ["## FPGA (Yosys + nextpnr)", "",
                 "Resource counts are the design alone (out-of-context synthesis, all ports "
                 "kept); the placed cells and Fmax are the design inside the IO harness "
                 "(hw/harness.py) placed and routed with `--timing-allow-fail` (nextpnr's "
                 "default speed grades; clock constraints " + ", ".join(
                     f"{d.name} {d.freq_mhz} MHz" for d in DEVICES.values()) + "). "
                 "LUT4 counts two per ECP5 CCU2C. "
                 + "".join(f"On the {d.name}, multipliers always go into logic: Yosys' DSP "
                           f"inference produced a wrong netlist (see hw/fpga.py). "
                           for d in DEVICES.values() if d.dsps and not d.infer_dsp)
                 + "Tools (YoWASP builds): "
                 + ", ".join(f"{k} {v}" for k, v in tools.items()) + ".", "",
                 fpga.render_markdown(records),
                 "Critical path of each placed build (nextpnr; the harness's own paths are "
                 "FF to FF):", "",
                 *(f"- {r.key}: `{r.critical_path}`" for r in fpga.sort_records(records)
                   if r.status == "ok" and r.critical_path), ""]
        parts = fpga.render_parts_markdown(records)
        if parts:
            text += ["### Where the logic goes", "", parts]
        ratios = {}
        pe = next((r for r in gate_records if r.kind == "pe"), None)
        if pe is not None:
            ratios = {
                "transistors (generic synthesis)": gates.ratios(
                    gate_records, kind="pe", rows=pe.rows, cols=pe.cols, policy="bit growth"),
                "gates + FFs (generic synthesis)": gates.ratios(
                    gate_records, kind="pe", rows=pe.rows, cols=pe.cols, policy="bit growth",
                    metric="cells"),
                "published 45 nm (Horowitz)": gates.published_ratios("bit growth"),
            }
        fpga.plot(records, out / "fpga.png", element_ratios=ratios)
        text += ["![LUT4 per processing element and Fmax](fpga.png)", ""]
    if gate_records:
        text += ["## ASIC-style gate counts (generic Yosys synthesis)", "",
                 f"Script: `{gates.GATE_SCRIPT}`; transistors from `stat -tech cmos`.", "",
                 gates.render_markdown(gate_records)]
    (out / "fpga.md").write_text("\n".join(text))
    print(f"wrote {out / 'fpga.md'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_fpga = sub.add_parser("fpga", help="FPGA builds (and, unless --no-gates, gate counts)")
    p_fpga.add_argument("--design", action="append", choices=FPGA_DESIGNS,
                        help="design to build (repeatable; default: all)")
    p_fpga.add_argument("--device", action="append", choices=list(DEVICES),
                        help="device to build for (repeatable; default: all)")
    p_fpga.add_argument("--size", action="append", type=_size_arg, metavar="ROWSxCOLS",
                        help="array size (repeatable; default: each device's sizes)")
    p_fpga.add_argument("--jobs", type=int, default=1, help="builds run in parallel")
    p_fpga.add_argument("--no-gates", action="store_true", help="skip the gate counts")
    p_fpga.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="also place and route with placer seeds 2..N and report the "
                             "Fmax range (default: 1, nextpnr's default seed only)")
    p_gates = sub.add_parser("gates", help="ASIC-style gate counts only")
    sub.add_parser("render", help="re-render the report from the JSON files")
    p_energy = sub.add_parser("energy", help="energy and area model: energy.{md,json}, figures")
    p_energy.add_argument("--cosim", type=Path, default=build_root() / "sim" / "cosim.json",
                          help="co-simulation records to take the counters from (default: "
                               "build/sim/cosim.json; the functional model if missing)")
    p_energy.add_argument("--data", type=Path, default=None,
                          help="energy data file (default: reports/energy/energy_data.toml)")
    p_energy.add_argument("--no-activity", action="store_true",
                          help="skip the RTL activity run")
    p_energy.add_argument("--activity-slice", type=int, default=32, metavar="S",
                          help="S x S slice of the layer for the activity run (default 32)")
    p_energy.add_argument("--activity-array", type=int, default=8, metavar="R",
                          help="R x R array of the activity run (default 8)")
    for p in (p_fpga, p_gates):
        p.add_argument("--fresh", action="store_true",
                       help="discard earlier results instead of merging into them")
    p_summary = sub.add_parser("summary", help="a few lines on the energy of the layers that "
                                                "`make sim` ran (build/sim/cosim.json)")
    p_summary.add_argument("--cosim", type=Path, default=build_root() / "sim" / "cosim.json",
                           help="co-simulation report (default: build/sim/cosim.json)")
    parser.add_argument("--out", type=Path, default=build_root() / "reports",
                        help="report directory (default: build/reports)")
    parser.add_argument("--build-dir", type=Path, default=build_root() / "fpga",
                        help="tool work directories (default: build/fpga)")
    args = parser.parse_args(argv)

    try:
        if args.command == "energy":
            from .energy.report import write_report
            write_report(out=args.out, cosim_json=args.cosim, data_file=args.data,
                         activity=not args.no_activity, activity_slice=args.activity_slice,
                         activity_rows=args.activity_array)
            return 0
        if args.command == "summary":
            from .energy.collect import read_cosim
            from .energy.render import summary_lines
            if not args.cosim.exists():
                raise ValueError(f"{args.cosim} does not exist: run `make sim` first")
            report = read_cosim(args.cosim)
            config = AcceleratorConfig.from_dict(report["config"])
            print("\n".join(summary_lines(config, report["layers"])))
            return 0
        if args.command == "fpga":
            for name in ("jobs", "seeds"):
                if getattr(args, name) < 1:
                    parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")
            requests = _requests(args)
            print(f"{len(requests)} FPGA build(s): " + ", ".join(r.key for r in requests))
            records = [] if args.fresh else fpga.load_records(args.out / "fpga.json")
            tools, lock = tool_versions(), threading.Lock()

            def build(request):
                with lock:
                    # Builds of this run only: an old record may be of another design version.
                    earlier = [r for r in records if r.key in done_keys]
                record = fpga.run_build(request, args.build_dir, earlier=earlier,
                                        seeds=args.seeds)
                with lock:     # after every build, so that an interrupted run keeps its results
                    records[:] = fpga.merge_records(records, [record])
                    done_keys.add(record.key)
                    fpga.write_json(records, args.out / "fpga.json", tools=tools)

            done_keys = set()
            # Size by size: a build that an earlier, smaller one shows not to fit is estimated
            # instead of synthesized (fpga.run_build), so the smaller one must have finished.
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                for pes in sorted({r.rows * r.cols for r in requests}):
                    list(pool.map(build, [r for r in requests if r.rows * r.cols == pes]))
        if args.command == "gates" or (args.command == "fpga" and not args.no_gates):
            records = gates.run_gates(args.build_dir / "gates", pe_config=AcceleratorConfig(),
                                      array_sizes=list(GATE_ARRAY_SIZES))
            gates.write_json(records, args.out / "gates.json")
        render(args.out)
    except (ReportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _size_arg(text: str) -> tuple[int, int]:
    try:
        return fpga.parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


if __name__ == "__main__":
    sys.exit(main())
