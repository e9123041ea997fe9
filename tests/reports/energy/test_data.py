# SPDX-License-Identifier: BSD-2-Clause
"""reports.energy.data: the data file, published and derived prices, bad files."""

import re

import pytest

from reports.energy.data import DATA_FILE, EnergyTable

DATA = EnergyTable.load()


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


def test_missing_data_file(tmp_path):
    with pytest.raises(ValueError, match=re.escape("nope.toml")):
        EnergyTable.load(tmp_path / "nope.toml")


def test_malformed_data_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("schema = 1\n[[op]\n")
    with pytest.raises(ValueError, match="malformed"):
        EnergyTable.load(path)


def _edit(tmp_path, old, new):
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


def test_unknown_node():
    with pytest.raises(ValueError, match="5nm"):
        DATA.op("5nm", "add", "int", 8)
    with pytest.raises(ValueError, match="16nm"):
        DATA.sram_pj_per_bit("16nm", 1024)
