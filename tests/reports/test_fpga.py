# SPDX-License-Identifier: BSD-2-Clause
"""reports.fpga and ``python -m reports fpga``: build records, the report, one real build (a 4x4
ternary array on the iCE40 UP5K)."""

import json

import pytest

from hw.fpga import get_device
from reports.__main__ import main
from reports.fpga import BuildRequest, FpgaRecord, parse_size, render_markdown, run_build
from reports.gates import GateRecord


def test_size_and_command_line_errors(capsys):
    assert parse_size("16x8") == (16, 8)
    for bad in ("4by4", "0x4", "4x", "-1x2"):
        with pytest.raises(ValueError, match="size must look like ROWSxCOLS"):
            parse_size(bad)
    with pytest.raises(SystemExit):
        main(["fpga", "--device", "xc7"])
    assert "invalid choice: 'xc7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fpga", "--size", "4by4"])
    assert "size must look like ROWSxCOLS" in capsys.readouterr().err


@pytest.mark.synth
def test_small_real_build_on_ice40(tmp_path):
    """A 4x4 ternary array through Yosys and nextpnr on the UP5K; the record agrees with the
    tools' own files."""
    record = run_build(BuildRequest("ternary", "up5k", 4, 4), tmp_path, log=lambda _: None)
    assert record.status == "ok", record.note
    work = tmp_path / "ternary-up5k-4x4"
    raw = json.loads((work / "top.nextpnr.json").read_text())
    assert record.fmax_mhz == pytest.approx(min(v["achieved"] for v in raw["fmax"].values()),
                                            abs=0.05)
    assert record.logic_cells == raw["utilization"]["ICESTORM_LC"]["used"] > 0
    alone = json.loads((work / "dut.stat.json").read_text())["modules"]["\\dut"]
    assert record.luts == alone["num_cells_by_type"]["SB_LUT4"]
    assert record.dsps == 0 and record.brams == 0
    # The harness adds two flip-flops per port bit, which the design-only count leaves out.
    ports = sum(alone["num_cells_by_type"][c] for c in alone["num_cells_by_type"]
                if c.startswith("SB_DFF"))
    assert record.ffs == ports and record.total_ffs == record.ffs + record.harness_ffs
    table = render_markdown([record, FpgaRecord("fp16", "up5k", 8, 8, status="does not fit",
                                                note="needs 9999 LUT4s")])
    assert "| ternary | up5k | 4x4 |" in table and "does not fit" in table


def test_report_renders_targets_tables_and_plot(tmp_path):
    """From JSON records to the Markdown report and the PNG: the targets say what was met."""
    from reports import fpga as rf
    from reports import gates as rg
    from reports.__main__ import render

    def pe(design, transistors, gates, ffs):
        return GateRecord(design, "pe", 16, 16, "bit growth", 13, gates, ffs, transistors)
    rg.write_json([pe("ternary", 1000, 100, 20), pe("int8", 5500, 600, 50),
                   pe("fp16", 9000, 1000, 80)], tmp_path / "gates.json")
    big = FpgaRecord("ternary", "ecp5-85f", 16, 16, status="ok", luts=7424, ffs=9000, carry=1,
                     brams=0, dsps=0, logic_cells=8000, logic_cells_available=83640,
                     fmax_mhz=150.0)
    small = FpgaRecord("int8", "up5k", 4, 4, status="ok", luts=300, ffs=500, carry=10, brams=0,
                       dsps=8, logic_cells=800, logic_cells_available=5280, fmax_mhz=40.0)
    rf.write_json([big, small], tmp_path / "fpga.json", tools={"yosys": "0.0"})
    render(tmp_path)
    text = (tmp_path / "fpga.md").read_text()
    assert "| ternary element <= 1/5 of the INT8 element (gates + FFs) | 1/5.42 | yes |" in text
    assert "| ternary element <= 1/10 of the FP16 element (transistors) | 1/9.00 | no |" in text
    assert "| ternary 16x16 on the ECP5-85F at >= 200 MHz | 150.0 MHz | no |" in text
    assert "| ... under 30 LUTs per processing element | 29.0 LUT4/PE | yes |" in text
    assert "| int8 | up5k | 4x4 | 300 | 18.8 | 500 | 10 | 0 | 8 | 40.0 | 800 / 5280 |" in text
    assert "| 150.0 | 8000 / 83640 |" in text     # one seed: no range
    assert "Tools (YoWASP builds): yosys 0.0." in text
    assert (tmp_path / "fpga.png").read_bytes()[:4] == b"\x89PNG"
    records = json.loads((tmp_path / "fpga.json").read_text())["records"]
    assert {"design", "device", "rows", "cols", "luts", "ffs", "dsps", "brams",
            "fmax_mhz"} <= set(records[0])


def test_report_gives_the_fmax_range_over_placement_seeds(tmp_path):
    """Seed 1 is the reported Fmax and decides the target; the other seeds give the spread."""
    from reports import fpga as rf
    from reports.__main__ import render

    big = FpgaRecord("ternary", "ecp5-85f", 16, 16, status="ok", luts=7424, ffs=9000, carry=1,
                     brams=0, dsps=0, logic_cells=8000, logic_cells_available=83640,
                     fmax_mhz=204.0, fmax_by_seed=[204.0, 187.5, 210.25])
    rf.write_json([big], tmp_path / "fpga.json", tools={})
    render(tmp_path)
    text = (tmp_path / "fpga.md").read_text()
    assert ("| ternary 16x16 on the ECP5-85F at >= 200 MHz | 204.0 MHz (placer seed 1; seeds "
            "1-3: 187.5-210.2 MHz, 2 of 3 at >= 200) | yes |") in text
    assert "| 204.0 (seeds 1-3: 187.5-210.2) | 8000 / 83640 |" in text
    assert rf.load_records(tmp_path / "fpga.json")[0].fmax_by_seed == [204.0, 187.5, 210.25]


@pytest.mark.parametrize("seeds", [0, -1, 1.5, True])
def test_bad_seed_counts_are_refused(seeds, tmp_path):
    from reports.fpga import run_build
    with pytest.raises(ValueError, match=f"seeds must be a positive integer, not {seeds!r}"):
        run_build(BuildRequest("ternary", "up5k", 4, 4), tmp_path, seeds=seeds)


def test_builds_known_not_to_fit_are_not_synthesized(tmp_path):
    from reports.fpga import _known_too_big

    fp16_4x4 = FpgaRecord("fp16", "up5k", 4, 4, status="does not fit", total_luts=11200,
                          total_dsps=0)
    earlier = [fp16_4x4]
    # 700 LUT4s per element: 64 of them cannot fit 5280.
    note = _known_too_big(BuildRequest("fp16", "up5k", 8, 8), get_device("up5k"), earlier)
    assert note.startswith("estimated: fp16-up5k-4x4 needs 700 LUT4s per PE")
    assert "about 44800 for 64 PEs" in note
    # The HX8K runs the same synthesis: the same netlist, not an estimate.
    note = _known_too_big(BuildRequest("fp16", "hx8k", 4, 4), get_device("hx8k"), earlier)
    assert "needs 11200 LUT4s, hx8k has 7680" in note and "same netlist" in note
    # On the ECP5 64 multipliers go into DSP blocks: the logic-mapped build says nothing.
    assert _known_too_big(BuildRequest("fp16", "ecp5-85f", 8, 8), get_device("ecp5-85f"),
                          earlier) == ""
    # ... and 256 would not, but 700 x 256 = 179200 LUT4s do not fit either.
    assert "about 179200" in _known_too_big(BuildRequest("fp16", "ecp5-85f", 16, 16),
                                            get_device("ecp5-85f"), earlier)
    # A design without multipliers, or a build that fits, is always built.
    assert _known_too_big(BuildRequest("ternary", "up5k", 8, 8), get_device("up5k"),
                          [FpgaRecord("ternary", "up5k", 4, 4, status="ok", total_luts=99999,
                                      total_dsps=0)]) == ""
    assert _known_too_big(BuildRequest("int8", "up5k", 4, 4), get_device("up5k"),
                          [FpgaRecord("int8", "hx8k", 4, 4, status="ok", total_luts=2000,
                                      total_dsps=0)]) == ""


def test_placement_overflow_reads_the_nextpnr_log(tmp_path):
    from reports.fpga import placement_overflow
    log = tmp_path / "top.nextpnr.log"
    assert placement_overflow(log) == ""                       # no log at all
    utilisation = ("Info: Device utilisation:\n"
                   "Info: \t         ICESTORM_LC:    7658/   5280   145%\n"
                   "Info: \t        ICESTORM_RAM:      24/     30    80%\n")
    log.write_text(utilisation + "Info: Program finished normally.\n")
    assert placement_overflow(log) == ""                       # it fit
    log.write_text(utilisation + "ERROR: Unable to place cell 'x', no BELs remaining to "
                                 "implement cell type 'ICESTORM_LC'\n")
    assert placement_overflow(log) == "needs 7658 ICESTORM_LCs, the device has 5280"
    log.write_text(utilisation + "ERROR: Failed to expand region (0, 0) |_> (33, 33) of 7658 "
                                 "ICESTORM_LCs\n")        # the analytic placer's words for it
    assert placement_overflow(log) == "needs 7658 ICESTORM_LCs, the device has 5280"


def _counts(luts, ffs, carry=0, brams=0):
    return {"luts": luts, "ffs": ffs, "carry": carry, "brams": brams, "dsps": 0}


def test_parts_table_gives_each_part_and_what_the_parts_leave_of_the_whole():
    from reports.fpga import REMAINDER, parts_with_remainder, render_parts_markdown

    record = FpgaRecord("accelerator", "hx8k", 4, 4, status="ok", luts=1000, ffs=600, carry=50,
                        brams=10, dsps=0, parts={"controller": _counts(300, 200, 10),
                                                 "engine": _counts(150, 100, 5),
                                                 "array": _counts(400, 250, 30, 0)})
    assert parts_with_remainder(record)[REMAINDER] == _counts(150, 50, 5, 10)
    table = render_parts_markdown([record, FpgaRecord("ternary", "hx8k", 4, 4, status="ok",
                                                      luts=99)])
    assert "**accelerator 4x4 on hx8k**" in table and "**ternary" not in table
    assert "| part | LUT4 | % of LUT4 | FF | carry | BRAM | what |" in table     # no DSP column
    assert ("| controller | 300 | 30% | 200 | 10 | 0 | Controller: command parsing, CRC unit, "
            "checks, dispatch |") in table
    assert "| engine | 150 | 15% | 100 | 5 | 0 | MatmulEngine less its array" in table
    assert f"| {REMAINDER} | 150 | 15% | 50 | 5 | 10 | the whole less the sum" in table
    assert "| **whole** | 1000 | 100% | 600 | 50 | 10 | the design alone |" in table
    assert "out of context" in table
    # A part not measured: no count for it, and none for what the parts leave.
    record.parts["engine"] = None
    table = render_parts_markdown([record])
    assert "| engine | - | - | - | - | - |" in table
    assert f"| {REMAINDER} | - | - | - | - | - |" in table
    assert render_parts_markdown([FpgaRecord("ternary", "hx8k", 4, 4, status="ok")]) == ""


def test_records_keep_their_parts_and_old_records_still_load(tmp_path):
    from reports.__main__ import render
    from reports.fpga import load_records, write_json

    parts = {"controller": _counts(300, 200), "engine": None}
    record = FpgaRecord("accelerator", "hx8k", 4, 4, status="ok", luts=1000, ffs=600, carry=0,
                        brams=10, dsps=0, fmax_mhz=50.0, parts=parts)
    write_json([record], tmp_path / "fpga.json", tools={})
    assert load_records(tmp_path / "fpga.json")[0].parts == parts
    render(tmp_path)
    assert "### Where the logic goes" in (tmp_path / "fpga.md").read_text()
    # A report written before the parts were measured.
    raw = json.loads((tmp_path / "fpga.json").read_text())
    del raw["records"][0]["parts"]
    (tmp_path / "fpga.json").write_text(json.dumps(raw))
    assert load_records(tmp_path / "fpga.json")[0].parts is None
    render(tmp_path)
    assert "Where the logic goes" not in (tmp_path / "fpga.md").read_text()


def test_a_part_that_fails_to_synthesize_is_a_note(tmp_path, monkeypatch):
    """No exception out of measure_parts: the part and every part counted less it have no
    count, and the notes say why."""
    import reports.fpga as rf
    from hw.designs import get_design
    from hw.yosys import ToolError

    def synthesize(device, workdir, **_):
        if workdir.name == "array":
            raise ToolError("yosys failed in array\nmore lines")
        return {"modules": {"dut": {"num_cells_by_type": {"SB_LUT4": len(workdir.name)}}}}
    from amaranth.hdl import Fragment
    monkeypatch.setattr(rf, "write_design", lambda component, workdir: Fragment.get(component,
                                                                                     None))
    monkeypatch.setattr(rf, "synthesize", synthesize)
    from golden.contract.config import AcceleratorConfig
    counts, notes = rf.measure_parts(get_design("accelerator"), AcceleratorConfig(rows=2, cols=2),
                                     get_device("hx8k"), tmp_path, dsp=False)
    assert counts["array"] is None and counts["engine"] is None
    assert counts["controller"]["luts"] == len("controller")
    assert notes == ["part array not measured: yosys failed in array",
                     "part engine not measured: needs array"]


@pytest.mark.synth
def test_small_real_part_synthesis_on_ice40(tmp_path):
    """Two parts of a 2x2 accelerator through Yosys, each in its own directory, and the
    difference of the two when one contains the other."""
    import dataclasses

    from golden.contract.config import AcceleratorConfig
    from hw.designs import Design, Part, get_design
    from hw.loader import Loader
    from reports.fpga import measure_parts

    accelerator = get_design("accelerator")
    design = dataclasses.replace(accelerator, name="probe", parts=(
        Part("loader", Loader, "the loader"),
        Part("loader_again", Loader, "the loader less itself", less=("loader",))))
    assert isinstance(design, Design)
    counts, notes = measure_parts(design, AcceleratorConfig(rows=2, cols=2), get_device("hx8k"),
                                  tmp_path, dsp=False)
    assert notes == []
    alone = json.loads((tmp_path / "parts" / "loader" / "dut.stat.json").read_text())
    cells = alone["modules"]["\\dut"]["num_cells_by_type"]
    assert counts["loader"]["luts"] == cells["SB_LUT4"] > 0
    assert counts["loader"]["brams"] == cells.get("SB_RAM40_4K", 0) >= 1    # the staging buffer
    assert counts["loader_again"] == dict.fromkeys(counts["loader"], 0)
