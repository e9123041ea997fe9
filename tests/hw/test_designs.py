# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.designs: the one registry of buildable designs, and ``python -m hw`` on it."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.config import AcceleratorConfig
from hw.designs import DESIGNS, FPGA_MEMORY_DEPTHS, Design, get_design, register


class _Probe(wiring.Component):
    a: In(5)
    x: Out(5)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.x.eq(self.a)
        return m


def test_registry_has_the_three_arrays_and_refuses_duplicates():
    assert {"ternary", "int8", "fp16"} <= set(DESIGNS)
    with pytest.raises(ValueError, match="a design named 'ternary' is already registered"):
        register(Design("ternary", build=lambda c: None, description="again"))
    with pytest.raises(ValueError, match="unknown design 'nope'"):
        get_design("nope")


def test_registering_a_design_makes_it_buildable(monkeypatch):
    monkeypatch.setitem(DESIGNS, "probe", Design("probe", build=lambda c: _Probe(),
                                                  description="a probe"))
    assert get_design("probe").build(AcceleratorConfig()).signature.members.keys() == \
        {"a", "x"}


def test_make_verilog_takes_its_designs_from_the_registry(tmp_path, capsys):
    from hw.__main__ import main

    out = tmp_path / "int8.v"
    assert main(["--design", "int8", "--rows", "2", "--cols", "2", "-o", str(out)]) == 0
    assert "module systolic_array(" in out.read_text()
    with pytest.raises(SystemExit):
        main(["--design", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_fpga_builds_shrink_only_the_accelerator_memories():
    fpga = get_design("accelerator").fpga_config(AcceleratorConfig())
    assert {name: getattr(fpga, name) for name in FPGA_MEMORY_DEPTHS} == FPGA_MEMORY_DEPTHS
    assert get_design("ternary").fpga_config is None
    assert not get_design("buffered_array").sweep
