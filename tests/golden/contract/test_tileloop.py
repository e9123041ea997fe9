# SPDX-License-Identifier: BSD-2-Clause
"""golden.contract.tileloop: the tile loop's cycles, bounds and counts, by hand. (The RTL is held
to it in tests/hw/test_accelerator.py and tests/hw/test_engine.py.)"""

import numpy as np
import pytest

from firmware.compiler import compile_layer
from golden.contract.config import AcceleratorConfig
from golden.contract.tileloop import (
    ProgramWork,
    layer_work,
    matmul_work,
    program_work,
    utilization,
)


def test_cycles_and_counts_by_hand():
    cfg = AcceleratorConfig(rows=4, cols=4)           # latency 4 + 4 + 1
    w = layer_work(cfg, m=2, k=10, n=7)               # 3 K-tiles x 2 N-tiles
    assert (w.k_tiles, w.n_tiles, w.tiles, w.period) == (3, 2, 6, 4)
    # setup + R + (T - 1) * P + M + read + latency + write
    assert w.cycles == 1 + 4 + 5 * 4 + 2 + 2 + 9 + 1 == 39
    assert w.bound_cycles == 6 * 4
    assert w.vectors == 2 * 6 and w.array_macs == 12 * 16
    assert w.weight_rows == 24 and w.weight_reads == 96 and w.act_reads == 48
    assert w.acc_writes == 48 and w.acc_reads == 2 * 2 * 2 * 4     # the first K-slice writes
    assert matmul_work(cfg, m=2, k_tiles=3, n_tiles=2, accumulate=True).acc_reads == 48


def test_the_period_has_no_floor():
    """The accumulator's read-modify-write (4 cycles) does not bound the period: a K-slice
    whose accumulator is still in flight takes the sum forwarded. 2 rows, 1 token: 2 cycles;
    a whole tile per cycle: 1 cycle per tile."""
    w = layer_work(AcceleratorConfig(rows=2, cols=3, max_k=64, acc_bits=20), m=1, k=6, n=3)
    assert w.period == 2 and w.bound_cycles == 3 * 2
    wide = AcceleratorConfig(rows=2, cols=3, max_k=64, acc_bits=20, weight_rows_per_cycle=2)
    for m in (1, 2, 3):
        w = layer_work(wide, m=m, k=6, n=3)
        assert w.period == m and w.cycles == 1 + 1 + 2 * m + m + 2 + 6 + 1


def test_the_binding_resource():
    cfg = AcceleratorConfig(rows=16, cols=16)
    prefill, decode = layer_work(cfg, m=64, k=2560, n=64), layer_work(cfg, m=1, k=2560, n=64)
    assert prefill.bound_macs_per_cycle == 256             # the array
    assert decode.bound_macs_per_cycle == 16               # one row of weights per cycle
    assert decode.period == 16 and prefill.period == 64
    # Decode at one row per cycle: every tile costs its 16 rows.
    assert decode.bound_cycles == 160 * 4 * 16


def test_the_wide_weight_path_shortens_the_tile_load():
    """A tile loads in ceil(rows / weight_rows_per_cycle) cycles, and decode's period is that:
    down to one cycle per tile with the whole tile per cycle."""
    def work(lanes, rows=16, **kw):
        cfg = AcceleratorConfig(rows=rows, cols=16, weight_rows_per_cycle=lanes)
        return layer_work(cfg, **kw)
    decode = {lanes: work(lanes, m=1, k=2560, n=64) for lanes in (1, 2, 4, 8, 16)}
    assert [w.period for w in decode.values()] == [16, 8, 4, 2, 1]
    assert [w.bound_macs_per_cycle for w in decode.values()] == [16, 32, 64, 128, 256]
    # setup + B + (T - 1) * P + M + read + latency + write
    assert decode[4].cycles == 1 + 4 + 639 * 4 + 1 + 2 + 33 + 1
    assert decode[16].cycles == 1 + 1 + 639 * 1 + 1 + 2 + 33 + 1
    # Prefill is bound by the array whatever the weight path.
    assert work(1, m=64, k=2560, n=64).cycles - work(16, m=64, k=2560, n=64).cycles == 15
    # Not dividing rows: 3 rows at 2 per cycle take 2 beats and 4 row slots per tile.
    odd = layer_work(AcceleratorConfig(rows=3, cols=2, weight_rows_per_cycle=2), m=5, k=9, n=4)
    assert (odd.beats, odd.tile_rows, odd.period, odd.weight_rows) == (2, 4, 5, 6 * 4)


@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_program_work_sums_the_commands(lanes, rng):
    cfg = AcceleratorConfig(rows=4, cols=4, weight_rows_per_cycle=lanes)
    x = rng.integers(-128, 128, size=(3, 10)).astype(np.int8)
    w = rng.integers(-1, 2, size=(7, 10)).astype(np.int8)
    work = program_work(cfg, compile_layer(cfg, x, w).words)
    one = layer_work(cfg, m=3, k=10, n=7)
    assert work.cycles == one.cycles and work.vectors == one.vectors
    assert work.weight_loads == one.weight_reads          # the program loads what it reads
    assert work.act_writes == 3 * 3 * 4 and work.acc_drains == 3 * 2 * 4
    assert ProgramWork() + work == work


def test_utilization_and_bad_shapes():
    cfg = AcceleratorConfig(rows=2, cols=2)
    assert utilization(cfg, macs=8, cycles=4) == 0.5
    with pytest.raises(ValueError, match="m must be a positive integer, not 0"):
        layer_work(cfg, m=0, k=1, n=1)
    with pytest.raises(ValueError, match="k_tiles must be a positive integer, not True"):
        matmul_work(cfg, m=1, k_tiles=True, n_tiles=1)
    with pytest.raises(ValueError, match="cycles must be a positive integer, not 0"):
        utilization(cfg, macs=1, cycles=0)
