# SPDX-License-Identifier: BSD-2-Clause
"""reports.energy.pricing: the published convention (71.4x) and the honest total, by hand."""

import pytest

from golden.contract.config import AcceleratorConfig
from reports.energy.data import EnergyTable
from reports.energy.pricing import ARRAYS, convention_ratio, layer_energy
from reports.energy.workload import shape_work

DATA = EnergyTable.load()


def test_the_published_71x_at_7nm():
    # BitNet b1.58 paper (REFERENCE.md section 6): (0.34 + 0.16) / 0.007 = 71.4 on 7 nm.
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


def test_binary_weights_skip_only_the_padding():
    cfg = AcceleratorConfig()
    work = shape_work(cfg, name="l", m=16, k=24, n=16, zero_fraction=0.5)   # K padded to 32
    t = layer_energy(DATA, work, ARRAYS["ternary"], node="45nm", config=cfg)
    b = layer_energy(DATA, work, ARRAYS["binary"], node="45nm", config=cfg)
    full = layer_energy(DATA, work, ARRAYS["ternary"], node="45nm", config=cfg,
                        skip_zeros=False)
    assert b.parts["array adds"] == pytest.approx(full.parts["array adds"] * 24 / 32)
    assert t.parts["array adds"] == pytest.approx(full.parts["array adds"] * 12 / 32)
