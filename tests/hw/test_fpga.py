# SPDX-License-Identifier: BSD-2-Clause
"""hw.fpga: the devices, the tool runs (cached on their inputs), nextpnr's report, and the
flow's own iCE40 netlist simulated bit-exact."""

import json

import pytest
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.config import AcceleratorConfig
from hw.component import replicas
from hw.designs import get_design
from hw.fpga import absorb_ebr_output_registers, get_device, parse_nextpnr_report
from hw.yosys import ReportError


def test_unknown_device_is_named():
    with pytest.raises(ValueError, match="unknown device 'xc7'"):
        get_device("xc7")


def test_nextpnr_report_parser_refuses_bad_input():
    with pytest.raises(ReportError, match="not valid JSON"):
        parse_nextpnr_report("{")
    with pytest.raises(ReportError, match="no 'fmax' object"):
        parse_nextpnr_report({"utilization": {}})
    with pytest.raises(ReportError, match="malformed"):
        parse_nextpnr_report({"fmax": {"clk": {"achieved": 1.0}}, "utilization": {}})


@pytest.mark.synth
@pytest.mark.cosim
@pytest.mark.parametrize("design", ["ternary", "int8"])
def test_ice40_netlist_is_bit_exact(design, rng, tmp_path):
    """The flow's own synthesis result, not just the RTL, computes the right sums: the mapped
    iCE40 netlist of a small array runs under Icarus with Yosys' cell models."""
    import numpy as np
    import torch

    from golden.mac import int_mac_columns
    from hw.array import (
        SystolicArray,
        act_layout,
        result_layout,
        weight_beat_layout,
        weight_beat_payloads,
    )
    from hw.fpga import cell_models, synthesize
    from hw.verilog import convert
    from sim.testbenches.core_cocotb import rtl_core_cocotb
    from sim.testbenches.scenario import pack

    cfg = AcceleratorConfig(rows=3, cols=4)
    arith = get_design(design).arithmetic
    (tmp_path / "design.v").write_text(convert(SystolicArray(cfg, arithmetic=arith), name="dut"))
    synthesize(get_device("hx8k"), tmp_path, source="design.v", top="dut", dsp=False,
               netlist=False, verilog=True)
    netlist = cell_models("ice40") + (tmp_path / "dut.netlist.v").read_text()

    lo, hi = (-1, 1) if design == "ternary" else (cfg.act_min, cfg.act_max)
    wl, al = weight_beat_layout(cfg, arith), act_layout(cfg, arith)
    tiles, beats = [], []
    for t in range(4):
        w = rng.integers(lo, hi + 1, (cfg.rows, cfg.cols))
        x = rng.integers(cfg.act_min, cfg.act_max + 1, (3, cfg.rows))
        if t == 0:       # the extremes first
            w[:], x[:] = hi, cfg.act_min
        tiles.append((w, x))
        codes = (w & 0b11) if design == "ternary" else w
        beats.append(([pack(wl, b) for b in weight_beat_payloads(cfg, codes.tolist())],
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


class _Fanout(wiring.Component):
    """One register's value, copied by :func:`hw.component.replicas`, ANDed into 4 outputs;
    with ``original``, the first of them is a plain register instead (no ``keep``), as the
    AXI reader once kept its originals beside their copies."""

    d: In(1)
    a: In(4)
    y: Out(4)

    def __init__(self, copies, original=False):
        self.copies, self.original = copies, original
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        regs = replicas(m, self.d, self.copies - self.original, name="sel")
        if self.original:
            plain = Signal(name="plain")
            m.d.sync += plain.eq(self.d)
            regs = [plain, *regs]
        m.d.comb += self.y.eq(Cat(self.a[i] & regs[i % self.copies] for i in range(4)))
        return m


@pytest.mark.synth
@pytest.mark.parametrize(("copies", "original"), [(1, False), (2, False), (4, False),
                                                  (2, True)])
def test_the_copies_of_a_replicated_register_stay_apart(copies, original, tmp_path):
    """Yosys merges identical flip-flops: the copies survive the Verilog (each marked keep)
    and the FPGA flow (one flip-flop each), and the same Verilog synthesized without the
    flow's KEEP_REPLICAS (hw.component) has one flip-flop (so the count shows that the step
    works). A plain register beside a kept copy is merged into it even in the flow: so a
    block that splits a register's loads makes every part a copy (the AXI reader, below)."""
    from hw.fpga import synthesize
    from hw.verilog import convert
    from hw.yosys import run_yosys

    verilog = convert(_Fanout(copies, original), name="dut")
    assert verilog.count("(* keep = 32'd1 *)") >= copies - original
    assert "hdlname" not in verilog and "full_case" not in verilog
    (tmp_path / "design.v").write_text(verilog)
    stat = json.loads(synthesize(get_device("ecp5-85f"), tmp_path, source="design.v",
                                 top="dut", dsp=False, netlist=False).read_text())
    assert stat["modules"]["\\dut"]["num_cells_by_type"]["TRELLIS_FF"] == copies - original
    plain = "\n".join(["read_verilog design.v", "synth_ecp5 -top dut",
                       "tee -q -o plain.json stat -json"])
    run_yosys(plain, workdir=tmp_path, log="plain.log")
    cells = json.loads((tmp_path / "plain.json").read_text())["modules"]["\\dut"]
    assert cells["num_cells_by_type"]["TRELLIS_FF"] == 1


@pytest.mark.synth
def test_the_axi_readers_copies_are_flip_flops_of_their_own(tmp_path):
    """The AXI reader splits its stage's flags, `unread != 0` and `halted` between the RAM's
    side and the count's (hw/axi.py): after the FPGA flow each of the two copies is still a
    flip-flop of its own."""
    from hw.axi import AxiWeightReader
    from hw.fpga import synthesize
    from hw.verilog import convert

    reader = AxiWeightReader(data_width=64, max_burst=4, max_outstanding=2)
    (tmp_path / "design.v").write_text(convert(reader, name="dut"))
    synthesize(get_device("ecp5-85f"), tmp_path, source="design.v", top="dut", dsp=False,
               netlist=True)
    module = json.loads((tmp_path / "dut.json").read_text())["modules"]["dut"]
    flop_outputs = {bit for cell in module["cells"].values() if cell["type"] == "TRELLIS_FF"
                    for bit in cell["connections"]["Q"]}
    nets = module["netnames"]
    for reg in ("port_full", "oreg_full", "spare_full", "unread_nz", "halted_copy"):
        bits = [nets[f"{reg}_{i}"]["bits"] for i in (0, 1)]
        assert bits[0] != bits[1], f"{reg}: the two copies were merged"
        assert all(b[0] in flop_outputs for b in bits), reg


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


def _ebr_netlist(*, lsr="0", extra_user=False, cemux="CE"):
    """A DP16KD (18-bit port B read) whose two used outputs each drive a TRELLIS_FF."""
    ram = {"type": "DP16KD", "parameters": {"DATA_WIDTH_B": "00000000000000000000000000010010",
                                            "REGMODE_A": "NOREG", "REGMODE_B": "NOREG"},
           "port_directions": {"DOB0": "output", "DOB1": "output", "CLKB": "input",
                               "OCEB": "input", "RSTB": "input"},
           "connections": {"DOB0": [10], "DOB1": [11], "CLKB": [2], "OCEB": ["1"],
                           "RSTB": ["0"]}}
    cells = {"ram": ram}
    for i, (d, q) in enumerate(((10, 20), (11, 21))):
        cells[f"ff{i}"] = {"type": "TRELLIS_FF",
                           "parameters": {"CEMUX": cemux, "CLKMUX": "CLK"},
                           "port_directions": {"DI": "input", "CE": "input", "CLK": "input",
                                               "LSR": "input", "Q": "output"},
                           "connections": {"DI": [d], "CE": [5], "CLK": [2], "LSR": [lsr],
                                           "Q": [q]}}
    if extra_user:
        cells["lut"] = {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input"},
                        "connections": {"A": [11]}}
    return {"modules": {"top": {"ports": {}, "cells": cells, "netnames": {}}}}


def test_ebr_output_registers_absorb_the_flops_behind_a_block_ram():
    netlist = _ebr_netlist()
    assert absorb_ebr_output_registers(netlist) == {"rams": 1, "flip_flops": 2}
    cells = netlist["modules"]["top"]["cells"]
    assert set(cells) == {"ram"}
    ram = cells["ram"]
    assert ram["parameters"]["REGMODE_B"] == "OUTREG" and ram["parameters"]["REGMODE_A"] == "NOREG"
    assert ram["connections"]["DOB0"] == [20] and ram["connections"]["DOB1"] == [21]
    assert ram["connections"]["OCEB"] == [5]           # the flip-flops' enable


@pytest.mark.parametrize("change", [{"lsr": 7}, {"extra_user": True}, {"cemux": "INV"}])
def test_ebr_output_registers_leave_anything_else_alone(change):
    netlist = _ebr_netlist(**change)
    before = json.dumps(netlist, sort_keys=True)
    assert absorb_ebr_output_registers(netlist) == {"rams": 0, "flip_flops": 0}
    assert json.dumps(netlist, sort_keys=True) == before
