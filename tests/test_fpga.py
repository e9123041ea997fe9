# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""The FPGA flow: IO harness, design registry, report parsers, gate-count ratios, and one real
build (a 4x4 ternary array on the iCE40 UP5K)."""

import json

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from golden.config import AcceleratorConfig
from hw.designs import DESIGNS, Design, get_design, register
from hw.fpga import get_device
from hw.harness import IoHarness
from reports.__main__ import main
from reports.fpga import BuildRequest, FpgaRecord, parse_size, render_markdown, run_build
from reports.gates import GateRecord, gate_count, published_ratios, ratios
from reports.toolreports import ReportError, parse_nextpnr_report, parse_yosys_stat

# --- IO harness -------------------------------------------------------------------------------


class _Probe(wiring.Component):
    """Outputs = inputs registered, with widths that do not line up with each other."""

    a: In(5)
    b: In(3)
    x: Out(5)
    y: Out(3)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.x.eq(self.a), self.y.eq(self.b)]
        return m


def test_harness_reaches_every_input_and_observes_every_output():
    probe = _Probe()
    dut = IoHarness(probe)
    assert (dut.input_bits, dut.output_bits) == (8, 8)
    pattern = [1, 0, 1, 1, 0, 0, 1, 0]
    seen = []

    async def bench(ctx):
        for bit in pattern:                 # the first bit in ends up in the top input bit
            ctx.set(dut.si, bit)
            await ctx.tick()
        ctx.set(dut.capture, 1)             # hold the input chain
        ctx.set(dut.si, 0)
        await ctx.tick()                    # the input register
        # Inputs in port order (a, then b), LSB first, are the chain's bits.
        value = ctx.get(probe.a) | (ctx.get(probe.b) << 5)
        assert [(value >> i) & 1 for i in range(8)] == pattern[::-1]
        await ctx.tick().repeat(2)          # the probe registers its inputs; the output register
        await ctx.tick()                    # capture
        ctx.set(dut.capture, 0)
        for _ in range(8):
            seen.append(ctx.get(dut.so))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == pattern[::-1]


def test_harness_needs_an_output():
    class Sink(wiring.Component):
        a: In(4)

        def elaborate(self, platform):
            return Module()

    with pytest.raises(ValueError, match="Sink has no output port"):
        IoHarness(Sink())


# --- registry and options ---------------------------------------------------------------------

def test_registry_has_the_three_arrays_and_refuses_duplicates():
    assert {"ternary", "int8", "fp16"} <= set(DESIGNS)
    with pytest.raises(ValueError, match="a design named 'ternary' is already registered"):
        register(Design("ternary", build=lambda c: None, description="again"))
    with pytest.raises(ValueError, match="unknown design 'nope'"):
        get_design("nope")
    with pytest.raises(ValueError, match="unknown device 'xc7'"):
        get_device("xc7")


def test_registering_a_design_makes_it_buildable(monkeypatch):
    monkeypatch.setitem(DESIGNS, "probe", Design("probe", build=lambda c: _Probe(),
                                                  description="a probe"))
    assert get_design("probe").build(AcceleratorConfig()).signature.members.keys() == \
        {"a", "b", "x", "y"}


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


# --- parsers ----------------------------------------------------------------------------------

def test_parsers_refuse_bad_input():
    with pytest.raises(ReportError, match="not valid JSON"):
        parse_yosys_stat("{")
    with pytest.raises(ReportError, match="no 'modules'"):
        parse_yosys_stat({"creator": "x"})
    stat = {"modules": {"\\a": {"num_cells_by_type": {}}, "\\b": {"num_cells_by_type": {}}}}
    with pytest.raises(ReportError, match="several modules"):
        parse_yosys_stat(stat)
    with pytest.raises(ReportError, match="no module 'c'"):
        parse_yosys_stat(stat, module="c")
    with pytest.raises(ReportError, match="no 'fmax' object"):
        parse_nextpnr_report({"utilization": {}})
    with pytest.raises(ReportError, match="malformed"):
        parse_nextpnr_report({"fmax": {"clk": {"achieved": 1.0}}, "utilization": {}})


# --- gate-count ratios ------------------------------------------------------------------------

def test_gate_ratios_and_published_ratios():
    def rec(design, policy, transistors, gates=10, ffs=2):
        return GateRecord(design, "pe", 16, 16, policy, 8, gates, ffs, transistors)
    records = [rec("ternary", "bit growth", 100, 10, 2), rec("int8", "bit growth", 650, 50, 10),
               rec("fp16", "bit growth", 1200), rec("ternary", "32-bit", 300),
               rec("int8", "32-bit", 900)]
    assert ratios(records, kind="pe", rows=16, cols=16, policy="bit growth") == \
        {"ternary": 1.0, "int8": 6.5, "fp16": 12.0}
    assert ratios(records, kind="pe", rows=16, cols=16, policy="bit growth",
                  metric="cells") == {"ternary": 1.0, "int8": 5.0, "fp16": 1.0}
    # FP16 keeps its 16-bit sums under the 32-bit policy.
    assert ratios(records, kind="pe", rows=16, cols=16, policy="32-bit") == \
        {"ternary": 1.0, "int8": 3.0, "fp16": 4.0}
    with pytest.raises(ReportError, match="no ternary array of 4x4"):
        ratios(records, kind="array", rows=4, cols=4, policy="bit growth")
    # ENERGY.md, 45 nm: 16b add 67, 32b add 137, 8b mult 282, FP16 add 1360, FP16 mult 1640.
    assert published_ratios("bit growth") == pytest.approx(
        {"ternary": 1.0, "int8": (282 + 137) / 67, "fp16": (1640 + 1360) / 67})
    assert published_ratios("32-bit") == pytest.approx(
        {"ternary": 1.0, "int8": (282 + 137) / 137, "fp16": (1640 + 1360) / 137})


# --- real tool runs ---------------------------------------------------------------------------

@pytest.mark.synth
def test_processing_elements_gate_counts(tmp_path):
    """The generic gate flow on real elements: the ternary one is the smallest by far, and the
    parsed counts add up to Yosys' own total."""
    cfg = AcceleratorConfig()
    counts = {}
    for name in ("ternary", "int8"):
        pe = get_design(name).pe(cfg)
        counts[name] = gate_count(pe, name=f"pe_{name}", workdir=tmp_path / name)
        stat = json.loads((tmp_path / name / f"pe_{name}.stat.json").read_text())
        module = stat["modules"][f"\\pe_{name}"]
        assert sum(counts[name][:2]) == module["num_cells"]
        assert counts[name][2] == int(module["estimated_num_transistors"])
    (t_gates, t_ffs, _), (i_gates, i_ffs, _) = counts["ternary"], counts["int8"]
    # 13 partial-sum bits, 8 activation bits, 1 bank bit, 2 x 2 weight bits, 2 bits of the
    # selected weight, 2 write-enable bits passed to the right neighbour.
    assert t_ffs == 13 + 8 + 1 + 4 + 2 + 2
    assert 5 * (t_gates + t_ffs) <= i_gates + i_ffs


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


@pytest.mark.synth
@pytest.mark.cosim
@pytest.mark.parametrize("design", ["ternary", "int8"])
def test_ice40_netlist_is_bit_exact(design, rng, tmp_path):
    """The flow's own synthesis result, not just the RTL, computes the right sums: the mapped
    iCE40 netlist of a small array runs under Icarus with Yosys' cell models."""
    import numpy as np
    import torch

    from golden.mac import int_mac_columns
    from hw.array import SystolicArray, act_layout, result_layout, weight_row_layout
    from hw.fpga import cell_models, synthesize
    from hw.verilog import convert
    from sim.cocotb_bench import rtl_core_cocotb
    from sim.scenario import pack

    cfg = AcceleratorConfig(rows=3, cols=4)
    arith = get_design(design).arithmetic
    (tmp_path / "design.v").write_text(convert(SystolicArray(cfg, arithmetic=arith), name="dut"))
    synthesize(get_device("hx8k"), tmp_path, source="design.v", top="dut", dsp=False,
               netlist=False, verilog=True)
    netlist = cell_models("ice40") + (tmp_path / "dut.netlist.v").read_text()

    lo, hi = (-1, 1) if design == "ternary" else (cfg.act_min, cfg.act_max)
    wl, al = weight_row_layout(cfg, arith), act_layout(cfg, arith)
    tiles, beats = [], []
    for t in range(4):
        w = rng.integers(lo, hi + 1, (cfg.rows, cfg.cols))
        x = rng.integers(cfg.act_min, cfg.act_max + 1, (3, cfg.rows))
        if t == 0:       # the extremes first
            w[:], x[:] = hi, cfg.act_min
        tiles.append((w, x))
        codes = (w & 0b11) if design == "ternary" else w
        beats.append(([pack(wl, {"row": i, "codes": codes[i].tolist()}) for i in range(cfg.rows)],
                      [pack(al, {"data": v.tolist(), "swap": int(n == 0)})
                       for n, v in enumerate(x)]))
    raw = rtl_core_cocotb(netlist, toplevel="dut", tiles=beats, n_results=12,
                          simulator="icarus", test_dir=tmp_path / "sim")
    width = result_layout(cfg, arith).as_shape().width // cfg.cols
    got = np.array([[(b >> (j * width)) & ((1 << width) - 1) for j in range(cfg.cols)]
                    for b in raw], dtype=np.int64)
    got = np.where(got >> (width - 1), got - (1 << width), got)
    expected = np.concatenate([int_mac_columns(torch.from_numpy(x), torch.from_numpy(w)).numpy()
                               for w, x in tiles])
    np.testing.assert_array_equal(got, expected)


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


def test_tool_runs_are_cached_on_their_inputs(tmp_path):
    from hw.fpga import _cached

    (tmp_path / "out.txt").write_text("result")
    runs = []
    for inputs in ([b"a", b"script"], [b"a", b"script"], [b"b", b"script"]):
        with _cached(tmp_path, "tool", inputs, ["out.txt"]) as fresh:
            if not fresh:
                runs.append(inputs)
    assert runs == [[b"a", b"script"], [b"b", b"script"]]
    (tmp_path / "out.txt").unlink()            # a missing output forces a run
    with _cached(tmp_path, "tool", [b"b", b"script"], ["out.txt"]) as fresh:
        assert not fresh


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
