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


def test_the_accelerator_lists_its_parts_and_each_builds_alone():
    """The parts of `make fpga`'s "where the logic goes", built with the accelerator's own FPGA
    configuration (so the loader's staging memory is the one inside the accelerator)."""
    from hw.controller import Controller
    from hw.engine import MatmulEngine

    design = get_design("accelerator")
    assert [p.name for p in design.parts] == ["controller", "loader", "engine", "weight_reader",
                                              "array", "responder", "counters"]
    parts = {p.name: p for p in design.parts}
    assert parts["engine"].less == ("weight_reader", "array")
    assert all(not p.less for name, p in parts.items() if name != "engine")
    config = design.config_for_fpga(AcceleratorConfig(rows=2, cols=2))
    assert config.weight_depth == FPGA_MEMORY_DEPTHS["weight_depth"]
    built = {p.name: p.build(config) for p in design.parts}
    assert all(isinstance(c, wiring.Component) for c in built.values())
    assert isinstance(built["controller"], Controller)
    assert isinstance(built["engine"], MatmulEngine)
    assert get_design("ternary").parts == ()


def test_the_axi_accelerator_streams_a_tile_per_cycle_and_refuses_what_axi_cannot_carry():
    """`make fpga --design accelerator_axi`: weights over AXI4, a whole tile per cycle (the
    AXI word 2 x rows x cols bits), the accelerator's parts and the AXI reader; 4x4 (a 32-bit
    word) refused naming the width, and skipped among a device's default sizes."""
    import argparse

    from hw.axi import AxiWeightReader
    from reports.__main__ import _requests

    design = get_design("accelerator_axi")
    assert not design.sweep
    config = design.config_for_fpga(AcceleratorConfig(rows=16, cols=16))
    assert (config.weight_memory, config.weight_rows_per_cycle, config.weight_word_bits) == \
        ("axi", 16, 512)
    assert config.acc_depth == FPGA_MEMORY_DEPTHS["acc_depth"]
    accelerator = design.build_for_fpga(AcceleratorConfig(rows=8, cols=8))
    assert accelerator.m_axi.rdata.shape().width == 128
    parts = {p.name: p.build(design.config_for_fpga(AcceleratorConfig(rows=8, cols=8)))
             for p in design.parts}
    for built in (accelerator, *parts.values()):
        built._MustUse__silence = True          # built to be looked at, not elaborated
    assert isinstance(parts["axi_reader"], AxiWeightReader)
    assert parts["axi_reader"].data_width == 128
    refusal = r"whole tile per cycle: .*2 x cols=4 x weight_rows_per_cycle=4\) .* not 32"
    with pytest.raises(ValueError, match=refusal):
        design.config_for_fpga(AcceleratorConfig(rows=4, cols=4))
    keys = [r.key for r in _requests(argparse.Namespace(design=["accelerator_axi"],
                                                        device=["ecp5-85f"], size=None))]
    assert keys == ["accelerator_axi-ecp5-85f-8x8", "accelerator_axi-ecp5-85f-16x16"]
    with pytest.raises(ValueError, match=refusal):
        _requests(argparse.Namespace(design=["accelerator_axi"], device=["ecp5-85f"],
                                     size=[(4, 4)]))


def test_parts_must_name_parts_of_their_design():
    from hw.designs import Part

    probe = Part("probe", lambda c: _Probe(), "a probe")
    with pytest.raises(ValueError, match="part names of 'twice' repeat"):
        Design("twice", build=lambda c: _Probe(), description="", parts=(probe, probe))
    with pytest.raises(ValueError, match=r"part 'probe' of 'x' cannot be less \['nope'\]"):
        Design("x", build=lambda c: _Probe(), description="",
               parts=(Part("probe", lambda c: _Probe(), "", less=("nope",)),))
    with pytest.raises(ValueError, match=r"cannot be less \['probe'\]"):
        Design("x", build=lambda c: _Probe(), description="",
               parts=(Part("probe", lambda c: _Probe(), "", less=("probe",)),))
    with pytest.raises(ValueError, match="part name must be an identifier"):
        Part("weight reader", lambda c: _Probe(), "")
