# SPDX-License-Identifier: BSD-2-Clause
"""reports.energy.traffic: DRAM weight traffic per decoded token, by the counters' rule, priced
at the DRAM figure; measured counters of an AXI co-simulation used where present."""

import re

import pytest

from golden.contract.config import AcceleratorConfig
from golden.contract.memory import BITNET_KV260, axi_bursts
from golden.contract.workloads import ModelShape
from reports.energy.data import EnergyTable
from reports.energy.render import traffic_markdown
from reports.energy.traffic import (
    axi_1_6bit_variant,
    axi_variant,
    token_traffic,
    traffic_section,
)

DATA = EnergyTable.load()
MINI = ModelShape("mini", hidden=64, ffn=128, layers=2, nominal_parameters=1e5)


def test_axi_variant_keeps_the_array():
    axi = axi_variant(AcceleratorConfig())
    assert (axi.rows, axi.cols, axi.weight_rows_per_cycle, axi.weight_word_bits) == (16, 16, 2,
                                                                                     64)
    assert axi_variant(AcceleratorConfig(rows=8, cols=8)).weight_rows_per_cycle == 4


def test_token_traffic_is_every_weight_once():
    """M = 1: every weight is read once per token, 2 bits (1.6 bits) each where the shapes fill
    whole tiles; the bursts are the contract's split of each layer's image."""
    axi = axi_variant(AcceleratorConfig())
    two = token_traffic(axi, MINI, fmt="2bit")
    assert two["bytes"] == MINI.bitlinear_weights * 2 // 8
    q = next(layer for layer in two["layers"] if layer["name"] == "q_proj")
    assert q["bursts"] == MINI.layers * len(axi_bursts(0, 64 * 64 * 2 // 8, beat_bytes=8,
                                                       max_burst=axi.axi_max_burst))
    # 1.6 bits: five beats a word, each MATMUL's last word rounded up (26 words of 10 rows
    # for the 256 row slots of a 64x64 layer).
    five = token_traffic(axi, MINI, fmt="1.6bit")
    assert five["bytes"] == pytest.approx(MINI.bitlinear_weights * 1.6 / 8, rel=0.02)


def test_what_the_rtl_reads_with_1_6bit_weights_over_axi():
    """Over AXI the RTL decodes a 1.6-bit word per beat at a multiple of 5 rows per cycle: on
    16x16 (tiles padded to 20 row slots) that is as many bytes as 2-bit; on 20x16 at W = 5,
    whose tiles are whole beats, 1.6 bits per weight. The section states it beside the row."""
    cfg = AcceleratorConfig()
    v = axi_1_6bit_variant(cfg)
    assert (v.weight_rows_per_cycle, v.weight_word_bits, v.tile_rows) == (5, 128, 20)
    assert token_traffic(v, MINI, fmt="1.6bit")["bytes"] == MINI.bitlinear_weights * 2 // 8
    exact = axi_1_6bit_variant(AcceleratorConfig(rows=20, cols=16))
    assert (exact.weight_rows_per_cycle, exact.tile_rows) == (5, 20)     # the narrowest
    shape = ModelShape("mini20", hidden=80, ffn=160, layers=2, nominal_parameters=1e5)
    assert token_traffic(exact, shape, fmt="1.6bit")["bytes"] == \
        shape.bitlinear_weights * 1.6 / 8
    assert axi_1_6bit_variant(AcceleratorConfig(rows=4, cols=4)) is None
    t = traffic_section(DATA, cfg, MINI, zero_fraction=0.3)
    assert t["rtl_1_6bit"]["bytes_per_token"] == t["formats"]["2bit"]["bytes_per_token"]
    text = "\n".join(traffic_markdown(t))
    assert "on this array at 5 (128-bit words, tiles of 20 row slots) it reads" in text


def test_priced_at_the_45nm_dram_read():
    cfg = AcceleratorConfig()
    t = traffic_section(DATA, cfg, MINI, zero_fraction=0.3)
    assert t["dram_pj_per_bit"] == 20.0 and t["dram_pj_per_access"] == 640
    assert t["node"] == "45nm" and not t["measured"]["used"]
    for f in t["formats"].values():
        assert f["dram_pj"] == pytest.approx(f["bytes_per_token"] * 8 * 20.0)
        assert f["total_pj"] == pytest.approx(f["dram_pj"] + f["arithmetic_pj"] + f["sram_pj"])
        assert f["kv260_ratio"] == pytest.approx(BITNET_KV260["joules_per_token"] * 1e12
                                                 / f["total_pj"])
        assert "rule" in f["count_source"]
    # The op counts' pricing of the weights (reads x bits) gives the same 2-bit DRAM energy.
    two = t["formats"]["2bit"]
    assert two["dram_pj"] == pytest.approx(two["op_count_dram_pj"])
    assert two["sram_pj"] > 0 and two["arithmetic_pj"] > 0
    text = "\n".join(traffic_markdown(t))
    assert "640 pJ per 32-bit read = 20 pJ/bit" in text and "**45 nm**" in text
    assert "board-level measurement" in text and "not measured counters" in text


def test_measured_counters_of_an_axi_run_are_used():
    """An AXI co-simulation's MEM_BYTES / MEM_BURSTS of the model's layers (M = 4, N sliced to
    16) are scaled to one token by the rule; a count that differs from the rule shows."""
    cfg = AcceleratorConfig()
    axi = axi_variant(cfg)
    layers = []
    for s in MINI.bitlinears():
        # A 16-output slice is one N-tile: k / 16 tiles of tile_beats words.
        size = s.k // 16 * axi.tile_beats * axi.weight_word_bytes
        layers.append({"name": f"2b4t.{s.name}", "m": 4, "k": s.k, "n": 16, "mem_bytes": size,
                       "mem_bursts": len(axi_bursts(0, size, beat_bytes=8, max_burst=16))})
    cosim = {"config": axi.to_dict(), "simulator": "icarus", "layers": layers}
    t = traffic_section(DATA, cfg, MINI, zero_fraction=0.3, cosim=cosim)
    m = t["measured"]
    assert m["used"] and m["agree"], m
    two = t["formats"]["2bit"]
    assert two["bytes_per_token"] == pytest.approx(two["rule_bytes_per_token"])
    assert two["bursts_per_token"] == pytest.approx(two["rule_bursts_per_token"])
    assert "measured MEM_BYTES" in two["count_source"]
    assert "rule" in t["formats"]["1.6bit"]["count_source"]
    layers[0]["mem_bytes"] += 8
    assert not traffic_section(DATA, cfg, MINI, zero_fraction=0.3, cosim=cosim)["measured"]["agree"]
    text = "\n".join(traffic_markdown(t))
    assert re.search(r"\| 2b4t.q_proj \| 4 \| 64 \| 16 \| \d+ \| \d+ \|", text)
    # On-chip runs and other arrays are not used, and say why.
    onchip = {**cosim, "config": cfg.to_dict()}
    assert "on-chip" in traffic_section(DATA, cfg, MINI, zero_fraction=0.3,
                                        cosim=onchip)["measured"]["why"]
    small = {**cosim, "config": axi_variant(AcceleratorConfig(rows=8, cols=8)).to_dict()}
    why = traffic_section(DATA, cfg, MINI, zero_fraction=0.3, cosim=small)["measured"]["why"]
    assert "8x8" in why
