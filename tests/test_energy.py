# SPDX-License-Identifier: BSD-2-Clause
"""The energy model: data file, published convention, program-derived op counts, bad input."""

import re

import numpy as np
import pytest

from firmware.compiler import compile_layer
from firmware.runtime import FunctionalBackend, Runtime
from golden.config import AcceleratorConfig
from reports.energy import (
    ARRAYS,
    EnergyTable,
    convention_ratio,
    layer_energy,
    program_work,
    shape_work,
)

DATA = EnergyTable.load()


def test_the_published_71x_at_7nm():
    # BitNet b1.58 paper: (0.34 + 0.16) / 0.007 = 71.4 on 7 nm.
    assert round(convention_ratio(DATA, "7nm"), 1) == 71.4


def test_the_convention_approaches_71x_on_a_large_layer():
    # m*(n-1)*p adds + m*n*p multiplies (FP16) against the same adds at INT8 plus m*p + m*n
    # scaling multiplies: for a large square layer the scaling is negligible.
    cfg = AcceleratorConfig()
    work = shape_work(cfg, name="big", m=64, k=4096, n=4096, zero_fraction=0.0)
    fp16 = layer_energy(DATA, work, ARRAYS["fp16"], node="7nm", config=cfg).convention_pj
    ternary = layer_energy(DATA, work, ARRAYS["ternary"], node="7nm", config=cfg).convention_pj
    assert 69.5 < fp16 / ternary < 71.43      # 71.4 less the scaling multiplies (2.4%)
    # and by hand: 64*4095*4096 adds, 64*4096*4096 multiplies
    assert fp16 == pytest.approx(64 * 4095 * 4096 * 0.16 + 64 * 4096 * 4096 * 0.34)
    assert ternary == pytest.approx(64 * 4095 * 4096 * 0.007 + (64 * 4096 * 2) * 0.34)


def test_published_and_derived_prices():
    assert DATA.op("45nm", "add", "int", 32).value == 0.1
    assert not DATA.op("45nm", "add", "int", 32).estimate
    # 12 bits: halfway between the 8-bit (0.03) and 16-bit (0.05) adders
    p = DATA.op("45nm", "add", "int", 12)
    assert p.value == pytest.approx(0.04) and p.estimate
    # INT4 x INT8 multiply: half the 8x8 one (0.2 pJ at 45 nm, 0.07 pJ at 7 nm)
    assert DATA.op("45nm", "mul", "int", 4, 8).value == pytest.approx(0.1)
    assert DATA.op("7nm", "mul", "int", 4, 8).value == pytest.approx(0.035)
    # 7 nm 32-bit adder: 0.1 * 0.007 / 0.03
    assert DATA.op("7nm", "add", "int", 32).value == pytest.approx(0.1 * 0.007 / 0.03)
    # SRAM: 128 KiB priced as the 1 MB SRAM, 100 pJ per 64 bits; DRAM 640 pJ per 32 bits
    assert DATA.sram_pj_per_bit("45nm", 131072).value == pytest.approx(100 / 64)
    assert DATA.sram_pj_per_bit("45nm", 4096).value == pytest.approx(10 / 64)
    assert DATA.dram_pj_per_bit("45nm").value == pytest.approx(20.0)
    assert DATA.area("add", "int", 16).value == 67


def test_program_counts_match_the_dataflow(rng):
    cfg = AcceleratorConfig(rows=4, cols=4)
    m, k, n = 3, 10, 7
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    work = program_work(compile_layer(cfg, x, w), name="l", k=k,
                        nonzero_weights=int((w != 0).sum()))
    kt, nt = 3, 2                        # ceil(10/4), ceil(7/4)
    assert work.array_vectors == m * kt * nt
    assert work.weight_reads == kt * nt * 16 == work.weight_loads
    assert work.act_reads == m * kt * nt * 4
    assert work.acc_writes == m * kt * nt * 4
    assert work.acc_reads == m * (kt - 1) * nt * 4
    assert work.acc_drains == m * nt * 4
    assert work.zero_macs == m * kt * nt * 16 - m * int((w != 0).sum())


def test_zero_macs_agree_with_the_counters(rng):
    cfg = AcceleratorConfig(rows=4, cols=4)
    w = rng.integers(-1, 2, size=(9, 13)).astype(np.int8)
    x = rng.integers(-128, 128, size=(5, 13)).astype(np.int8)
    runtime = Runtime(FunctionalBackend(cfg), measure=True)
    runtime.matmul(x, w)
    stats = runtime.stats[-1]
    work = program_work(compile_layer(cfg, x, w), name="l", k=13,
                        nonzero_weights=int((w != 0).sum()))
    assert work.zero_macs == stats.zero_macs
    assert work.array_macs == stats.macs


def test_zero_skipping_and_widths():
    cfg = AcceleratorConfig()
    work = shape_work(cfg, name="l", m=16, k=256, n=256, zero_fraction=0.5)
    t = ARRAYS["ternary"]
    skip = layer_energy(DATA, work, t, node="45nm", config=cfg)
    full = layer_energy(DATA, work, t, node="45nm", config=cfg, skip_zeros=False)
    assert skip.parts["array adds"] == pytest.approx(full.parts["array adds"] / 2)
    # RTL widths 9..13 bits: between 16 rows of 8-bit and of 16-bit adders
    per_vector = full.parts["array adds"] / work.array_vectors
    assert 16 * 16 * 0.03 < per_vector < 16 * 16 * 0.05
    assert full.parts["array multiplies"] == 0
    i8 = layer_energy(DATA, work, ARRAYS["int8"], node="45nm", config=cfg)
    assert i8.parts["array multiplies"] == pytest.approx(work.array_macs * 0.2)


def test_memory_bits_per_weight():
    cfg = AcceleratorConfig()
    work = shape_work(cfg, name="l", m=1, k=2560, n=2560, zero_fraction=0.3)
    w = {a: layer_energy(DATA, work, ARRAYS[a], node="45nm", config=cfg)
         for a in ("ternary", "ternary-1.6", "int8", "fp16")}
    for a in w.values():
        assert not a.resident          # 2560 x 2560 does not fit 128 KiB
    base = w["ternary"].parts["DRAM weights"]
    assert base == pytest.approx(2560 * 2560 * 2 * 20.0)
    assert w["ternary-1.6"].parts["DRAM weights"] == pytest.approx(base * 0.8)
    assert w["int8"].parts["DRAM weights"] == pytest.approx(base * 4)
    assert w["fp16"].parts["DRAM weights"] == pytest.approx(base * 8)


# --- bad input ---------------------------------------------------------------------------------

def test_missing_data_file(tmp_path):
    with pytest.raises(ValueError, match=re.escape("nope.toml")):
        EnergyTable.load(tmp_path / "nope.toml")


def test_malformed_data_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("schema = 1\n[[op]\n")
    with pytest.raises(ValueError, match="malformed"):
        EnergyTable.load(path)


def _edit(tmp_path, old, new):
    from reports.energy import DATA_FILE
    text = DATA_FILE.read_text()
    assert old in text
    path = tmp_path / "e.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_negative_energy(tmp_path):
    with pytest.raises(ValueError, match=re.escape("-0.03")):
        EnergyTable.load(_edit(tmp_path, "pj_per_op = 0.03", "pj_per_op = -0.03"))


def test_unknown_source_and_node_in_file(tmp_path):
    with pytest.raises(ValueError, match="nobody"):
        EnergyTable.load(_edit(tmp_path, 'source = "wang2023"', 'source = "nobody"'))
    with pytest.raises(ValueError, match="3nm"):
        EnergyTable.load(_edit(tmp_path, 'node = "7nm"', 'node = "3nm"'))


def test_unknown_node_and_bad_shape():
    with pytest.raises(ValueError, match="5nm"):
        DATA.op("5nm", "add", "int", 8)
    with pytest.raises(ValueError, match="16nm"):
        DATA.sram_pj_per_bit("16nm", 1024)
    with pytest.raises(ValueError, match=re.escape("-3")):
        shape_work(AcceleratorConfig(), name="l", m=1, k=-3, n=4, zero_fraction=0)
    with pytest.raises(ValueError, match=re.escape("1.5")):
        shape_work(AcceleratorConfig(), name="l", m=1, k=3, n=4, zero_fraction=1.5)


# --- activity: toggle counting -----------------------------------------------------------------

_VCD = """$timescale 1 ps $end
$scope module bench $end
$scope module top $end
$scope module core $end
$scope module pe_0_0 $end
$var wire 8 ! a_in $end
$var string 1 " w_sel_reg $end
$var wire 8 # addend $end
$var wire 9 $ psum_out_reg $end
$upscope $end
$upscope $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
b00000000 !
sZERO "
b00000000 #
b000000000 $
#10
b11111111 !
#20
b00001111 !
sPOS "
b00001111 #
b000000000 #
b00001111 #
b000001111 $
#30
b00001100 !
sNEG "
b11110011 #
"""


def test_count_toggles_by_hand(tmp_path):
    from reports.activity import count_toggles, normalize_vcd

    raw, vcd = tmp_path / "a.raw.vcd", tmp_path / "a.vcd"
    raw.write_text(_VCD)
    normalize_vcd(raw, vcd)
    t = count_toggles(vcd, act_bits=8)
    # addend 0 -> 0x0F (4 bits; the 0 in between is a delta within one step) -> 0xF3 (6 bits)
    assert t.by_class["addend"] == 10
    assert t.addend_replayed == 10
    # without isolation the operand follows the activation under the zero weight:
    # 0 -> 0xFF (8) -> 0x0F (4) -> ~0x0C = 0xF3 (6)
    assert t.addend_no_isolation == 18
    assert t.by_class["psum"] == 4
    assert t.isolation_saving == pytest.approx(1 - 10 / 18)


def test_count_toggles_needs_processing_elements(tmp_path):
    from reports.activity import count_toggles

    path = tmp_path / "empty.vcd"
    path.write_text("$timescale 1 ps $end\n$scope module x $end\n$var wire 1 ! clk $end\n"
                    "$upscope $end\n$enddefinitions $end\n#0\n0!\n")
    with pytest.raises(ValueError, match="processing elements"):
        count_toggles(path, act_bits=8)


@pytest.mark.cosim
@pytest.mark.parametrize("weight", [0, 1])
def test_isolation_in_rtl(tmp_path, rng, weight):
    """All-zero weights: the operand never toggles (saving 100%); all +1: nothing to save.
    The replayed operand agrees with the dump."""
    from reports.activity import run_activity

    cfg = AcceleratorConfig(rows=4, cols=4)
    x = rng.integers(-128, 128, size=(12, 8)).astype(np.int8)
    w = np.full((4, 8), weight, dtype=np.int8)
    r = run_activity(cfg, x, w, label=f"w{weight}", workdir=tmp_path)
    assert r.bit_exact
    t = r.toggles
    assert t.addend_replayed == t.by_class["addend"]
    assert t.addend_no_isolation > 0
    assert t.by_class["activation pipeline"] > 0
    if weight == 0:
        assert t.by_class["addend"] == 0 and t.isolation_saving == 1.0
        assert t.by_class["psum"] == 0          # the sums stay 0
    else:
        assert t.by_class["addend"] == t.addend_no_isolation
        assert t.by_class["psum"] > 0


def test_report_refuses_a_bad_data_file(tmp_path, capsys):
    from reports.__main__ import main

    bad = tmp_path / "bad.toml"
    bad.write_text("schema = 2\n")
    assert main(["--out", str(tmp_path), "energy", "--data", str(bad), "--no-activity"]) == 1
    assert "schema must be 1, not 2" in capsys.readouterr().err


def test_weights_placed_like_the_runtime():
    from reports.energy import place_weights

    # 1 Mbit weight memory: 256 x 256 ternary weights are 128 Kbit, 768 x 256 are 384 Kbit
    cfg = AcceleratorConfig()
    works = [shape_work(cfg, name=f"l{i}", m=1, k=256, n=n, zero_fraction=0.0)
             for i, n in enumerate((768, 768, 256, 768, 256))]
    assert place_weights(cfg, works, ARRAYS["ternary"]) == [True, True, True, False, True]
    # FP16: 3 Mbit, 3 Mbit, 1 Mbit (exactly the memory), ...
    assert place_weights(cfg, works, ARRAYS["fp16"]) == [False, False, True, False, False]


def test_area_section_with_and_without_gate_counts(tmp_path):
    import json

    from reports.energy_report import area_markdown, area_section

    area = area_section(DATA, tmp_path)
    assert area["gates"] is None and len(area["missing"]) == 2
    assert "make fpga" in "\n".join(area_markdown(area, None))
    # 13-bit adder: 36 + (67 - 36) * 5 / 8 um^2; FP16 element 1640 + 1360 um^2
    assert area["published_45nm"]["ternary"]["um2"] == pytest.approx(36 + 31 * 5 / 8)
    assert area["published_45nm"]["fp16"]["um2"] == 3000
    rec = {"design": "ternary", "kind": "pe", "rows": 16, "cols": 16, "policy": "bit growth",
           "psum_bits": 13, "gates": 70, "ffs": 40, "transistors": 1000}
    (tmp_path / "gates.json").write_text(json.dumps({"script": "", "records": [rec]}))
    area = area_section(DATA, tmp_path)
    assert area["gates"]["records"][0]["cells"] == 110
    assert "| ternary | bit growth | 13 | 110 | 1000 |" in "\n".join(area_markdown(area, None))


def test_report_end_to_end(tmp_path):
    """collect -> JSON -> Markdown and figures, on two recorded layers and a small model."""
    import json

    from reports.energy_report import _block, collect, plot, render_markdown

    cfg = AcceleratorConfig()
    layers = [{"name": "layers.0.attn.q_proj", "m": 4, "k": 64, "n": 32, "cycles": 100,
               "utilization": 0.5, "macs": 4 * 64 * 32, "zero_weight_fraction": 0.25,
               "bit_exact": True},
              {"name": "2b4t.q_proj", "m": 2, "k": 128, "n": 16, "cycles": 200,
               "utilization": 0.5, "macs": 2 * 128 * 16, "zero_weight_fraction": 0.5,
               "bit_exact": True}]
    cosim = tmp_path / "cosim.json"
    cosim.write_text(json.dumps({"layers": layers, "config": cfg.to_dict(),
                                 "simulator": "test"}))
    report = collect(config=cfg, cosim_json=cosim, reports_dir=tmp_path, activity_dir=None,
                     models={"mini": (_block(64, 128), 2, 1e5)}, log=lambda *a: None)
    assert "make sim` on test" in report["count_source"]
    # the model totals cover the model's layer only; convention by hand at 45 nm
    conv = report["tiny_model"]["45nm"]["ternary"]["convention_pj"]
    assert conv == pytest.approx(4 * 63 * 32 * 0.03 + (4 * 32 + 4 * 64) * 1.1)
    assert report["trained_zero_fraction"] == pytest.approx(0.25)
    assert report["per_token"]["mini"]["bitlinear_weights"] == 2 * (
        2 * 64 * 64 + 2 * 64 * 64 + 3 * 128 * 64)
    figures = plot(report, tmp_path)
    text = render_markdown(report, figures)
    assert "**71.4x**" in text and "make fpga" in text
    for f in figures.values():
        assert (tmp_path / f).stat().st_size > 10_000
    json.dumps(report, default=str)


def test_binary_weights_skip_only_the_padding():
    cfg = AcceleratorConfig()
    work = shape_work(cfg, name="l", m=16, k=24, n=16, zero_fraction=0.5)   # K padded to 32
    t = layer_energy(DATA, work, ARRAYS["ternary"], node="45nm", config=cfg)
    b = layer_energy(DATA, work, ARRAYS["binary"], node="45nm", config=cfg)
    full = layer_energy(DATA, work, ARRAYS["ternary"], node="45nm", config=cfg,
                        skip_zeros=False)
    assert b.parts["array adds"] == pytest.approx(full.parts["array adds"] * 24 / 32)
    assert t.parts["array adds"] == pytest.approx(full.parts["array adds"] * 12 / 32)
