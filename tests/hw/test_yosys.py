# SPDX-License-Identifier: BSD-2-Clause
"""hw.yosys: synthesis checks (the ternary array contains no multiplier, coarse or on an FPGA)
and the statistics parser."""

import pytest

from golden.contract.config import AcceleratorConfig
from hw.accelerator import Accelerator
from hw.verilog import convert
from hw.yosys import (
    DSP_PRIMITIVES,
    MULTIPLIER_CELLS,
    SCRIPTS,
    ReportError,
    parse_yosys_stat,
    synthesis_stat,
)
from sim.testbenches.array_cocotb import TOPLEVEL, array_verilog


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def _accelerator(config):
    return convert(Accelerator(config), name="accelerator"), "accelerator"


def _array(config):
    return array_verilog(config), TOPLEVEL


@pytest.mark.synth
@pytest.mark.parametrize("target", ["coarse", "ice40", "ecp5"])
@pytest.mark.parametrize("design", [_array, _accelerator], ids=["array", "accelerator"])
def test_no_multiplier(design, target, workdir):
    cfg = AcceleratorConfig(rows=4, cols=3, weight_depth=64, act_depth=64, acc_depth=32,
                            max_k=1024, acc_bits=20)
    verilog, top = design(cfg)
    stats = synthesis_stat(verilog, top=top, target=target, workdir=workdir)
    assert stats.total > 100, f"suspiciously small design: {stats.cells}"
    assert stats.count(*MULTIPLIER_CELLS) == 0, stats.cells
    assert stats.count(*DSP_PRIMITIVES) == 0, stats.cells


@pytest.mark.synth
def test_the_check_can_see_a_multiplier(workdir):
    """The same flow on a one-line multiplier must find the cells the array must not have."""
    verilog = ("module mul(input clk, input signed [7:0] a, b, input signed [15:0] c,\n"
               "           output reg signed [15:0] y);\n"
               "  always @(posedge clk) y <= a * b + c;\nendmodule\n")
    assert synthesis_stat(verilog, top="mul", target="coarse",
                      workdir=workdir / "coarse").count(*MULTIPLIER_CELLS) == 1
    assert synthesis_stat(verilog, top="mul", target="ice40",
                      workdir=workdir / "ice40").count(*DSP_PRIMITIVES) == 1
    assert synthesis_stat(verilog, top="mul", target="ecp5",
                      workdir=workdir / "ecp5").count(*DSP_PRIMITIVES) == 1


def test_stat_parser_refuses_bad_input():
    with pytest.raises(ReportError, match="not valid JSON"):
        parse_yosys_stat("{")
    with pytest.raises(ReportError, match="no 'modules'"):
        parse_yosys_stat({"creator": "x"})
    stat = {"modules": {"\\a": {"num_cells_by_type": {}}, "\\b": {"num_cells_by_type": {}}}}
    with pytest.raises(ReportError, match="several modules"):
        parse_yosys_stat(stat)
    with pytest.raises(ReportError, match="no module 'c'"):
        parse_yosys_stat(stat, module="c")


def test_one_script_table():
    assert set(SCRIPTS) == {"coarse", "gates", "ice40", "ecp5"}
    with pytest.raises(ValueError, match="unknown synthesis target 'asic'"):
        synthesis_stat("", top="x", target="asic", workdir=".")


def test_the_verilog_keeps_only_the_keep_attribute():
    """hw.verilog writes what `write_verilog -noattr` would, but for `(* keep *)`."""
    from hw.verilog import only_keep_attributes

    text = ("  (* hdlname = \"engine sel_0\" *)\n  (* keep = 32'd1 *)\n  reg sel_0;\n"
            "  assign y = s ? (* full_case = 32'd1 *) a : b;\n"
            "    (* parallel_case *)\n    casez (s)\n")
    assert only_keep_attributes(text) == (
        "  (* keep = 32'd1 *)\n  reg sel_0;\n  assign y = s ? a : b;\n"
        "    casez (s) // synopsys parallel_case\n")
