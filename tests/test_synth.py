# SPDX-License-Identifier: BSD-2-Clause
"""Synthesis checks: the ternary array contains no multiplier, coarse or on an FPGA."""

import pytest

from golden.config import AcceleratorConfig
from hw.accelerator import Accelerator
from hw.synth import DSP_PRIMITIVES, MULTIPLIER_CELLS, yosys_stat
from hw.verilog import convert
from sim.cocotb_bench import TOPLEVEL, array_verilog

pytestmark = pytest.mark.synth


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def _accelerator(config):
    return convert(Accelerator(config), name="accelerator"), "accelerator"


def _array(config):
    return array_verilog(config), TOPLEVEL


@pytest.mark.parametrize("target", ["coarse", "ice40", "ecp5"])
@pytest.mark.parametrize("design", [_array, _accelerator], ids=["array", "accelerator"])
def test_no_multiplier(design, target, workdir):
    cfg = AcceleratorConfig(rows=4, cols=3, weight_depth=64, act_depth=64, acc_depth=32,
                            max_k=1024, acc_bits=20)
    verilog, top = design(cfg)
    stats = yosys_stat(verilog, top=top, target=target, workdir=workdir)
    assert stats.total > 100, f"suspiciously small design: {stats.cells}"
    assert stats.count(*MULTIPLIER_CELLS) == 0, stats.cells
    assert stats.count(*DSP_PRIMITIVES) == 0, stats.cells


def test_the_check_can_see_a_multiplier(workdir):
    """The same flow on a one-line multiplier must find the cells the array must not have."""
    verilog = ("module mul(input clk, input signed [7:0] a, b, input signed [15:0] c,\n"
               "           output reg signed [15:0] y);\n"
               "  always @(posedge clk) y <= a * b + c;\nendmodule\n")
    assert yosys_stat(verilog, top="mul", target="coarse",
                      workdir=workdir / "coarse").count(*MULTIPLIER_CELLS) == 1
    assert yosys_stat(verilog, top="mul", target="ice40",
                      workdir=workdir / "ice40").count(*DSP_PRIMITIVES) == 1
    assert yosys_stat(verilog, top="mul", target="ecp5",
                      workdir=workdir / "ecp5").count(*DSP_PRIMITIVES) == 1
