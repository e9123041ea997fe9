# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.array: the array core's exact timing and hazard rule, the buffered array in amaranth.sim
(random idle cycles and backpressure), its generated Verilog under cocotb, and the probe set."""

import numpy as np
import pytest

from golden.contract.codecs import encode_weight_codes
from golden.contract.config import AcceleratorConfig
from hw.array import SystolicArray, act_layout, weight_row_layout
from sim.testbenches.array_amaranth import rtl_array_amaranth
from sim.testbenches.array_cocotb import rtl_array_cocotb
from sim.testbenches.scenario import ArrayTile, pack, random_scenario, unpack_results
from tests.helpers import simulate


def _core_schedule(config, tiles, write_starts, vector_starts, *, descending=False):
    """Drive SystolicArray cycle by cycle in issue order: tile t's rows (ascending, or
    descending) from cycle write_starts[t], its vectors back to back from vector_starts[t].
    A write that meets
    ``ready`` low is retried, and everything behind it slips (a vector never overtakes its
    tile's rows; a row never overtakes the previous tile's switching vector).

    Returns (results as (cycle, beat) pairs, cycles in which a write met ready low)."""
    dut = SystolicArray(config)
    wl, al = weight_row_layout(config), act_layout(config)
    writes, vectors = [], []         # (earliest cycle, tile, beat)
    for t, tile in enumerate(tiles):
        codes = encode_weight_codes(tile.weights)
        order = range(config.rows - 1, -1, -1) if descending else range(config.rows)
        writes += [(write_starts[t] + n, t, pack(wl, {"row": i, "codes": codes[i].tolist()}))
                   for n, i in enumerate(order)]
        vectors += [(vector_starts[t] + n, t, pack(al, {"data": vec.tolist(), "swap": int(n == 0)}))
                    for n, vec in enumerate(tile.acts)]
    results, stalls = [], []
    loaded = [0] * len(tiles)        # rows of each tile accepted so far
    switched = -1                    # last tile whose first vector was accepted

    async def bench(ctx):
        nonlocal switched
        cycle = 0
        while writes or vectors or cycle < 4:
            w = writes[0] if writes and writes[0][0] <= cycle and writes[0][1] <= switched + 1 \
                else None
            v = vectors[0] if vectors and vectors[0][0] <= cycle \
                and loaded[vectors[0][1]] == config.rows else None
            ctx.set(dut.weights.valid, w is not None)
            ctx.set(dut.weights.payload.as_value(), w[2] if w else 0)
            ctx.set(dut.acts.valid, v is not None)
            ctx.set(dut.acts.payload.as_value(), v[2] if v else 0)
            if w and not ctx.get(dut.weights.ready):
                stalls.append(cycle)
            elif w:
                writes.pop(0)
                loaded[w[1]] += 1
            if v:
                vectors.pop(0)
                switched = max(switched, v[1])
            if ctx.get(dut.results.valid):
                results.append((cycle, ctx.get(dut.results.payload.as_value())))
            await ctx.tick()
            cycle += 1
        ctx.set(dut.weights.valid, 0)
        ctx.set(dut.acts.valid, 0)
        for _ in range(config.array_latency):
            if ctx.get(dut.results.valid):
                results.append((cycle, ctx.get(dut.results.payload.as_value())))
            await ctx.tick()
            cycle += 1

    simulate(dut, bench)
    return results, stalls


@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (3, 5), (5, 2)])
def test_core_latency_and_full_throughput(rows, cols, rng):
    """Back-to-back vectors give back-to-back results, exactly array_latency cycles later."""
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    sc = random_scenario(cfg, rng, n_tiles=1, max_tokens=1, extremes=False)
    tile = ArrayTile(sc.tiles[0].weights,
                     rng.integers(-128, 128, size=(9, rows)).astype(np.int8))
    results, stalls = _core_schedule(cfg, [tile], write_starts=[0], vector_starts=[rows])
    assert not stalls
    assert [c for c, _ in results] == [rows + cfg.array_latency + n for n in range(9)]
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, tile.expected())


@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (4, 8), (2, 8), (6, 3), (2, 2), (1, 3)])
def test_core_switches_tiles_at_the_weight_bandwidth(rows, cols, rng):
    """Decode: one vector per tile. A new tile every `rows` cycles (one weight row per cycle,
    never waiting), each loaded while the previous one computes, whatever the shape."""
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    tiles = random_scenario(cfg, rng, n_tiles=6, max_tokens=1, extremes=False).tiles
    write_starts = [t * rows for t in range(len(tiles))]
    # Tile t's vector goes in the cycle after its last row; tile t+1's first row goes in the
    # same cycle as that vector (it lands in the new shadow bank).
    vector_starts = [s + rows for s in write_starts]
    results, stalls = _core_schedule(cfg, tiles, write_starts, vector_starts)
    assert not stalls
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, np.concatenate([t.expected() for t in tiles]))


@pytest.mark.parametrize(("rows", "cols"), [(4, 3), (6, 8)])
def test_core_waits_before_overwriting_a_bank_in_use(rows, cols, rng):
    """Rows written last-first right behind a switching vector would overtake the previous
    tile's last vectors, which still read that bank in the lower rows: ready must drop
    (rather than corrupt the tiles in flight), and the results stay exact."""
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    m = rows + 3         # the next tile loads before this one's vectors end: back to back
    tiles = [ArrayTile(t.weights, rng.integers(-128, 128, size=(m, rows)).astype(np.int8))
             for t in random_scenario(cfg, rng, n_tiles=5, extremes=False).tiles]
    # Tile t+1's rows go in right behind tile t's first vector.
    vector_starts = [rows + m * t for t in range(len(tiles))]
    write_starts = [0, *vector_starts[:-1]]
    results, stalls = _core_schedule(cfg, tiles, write_starts, vector_starts, descending=True)
    assert stalls, "the hazard check never held a write back"
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, np.concatenate([t.expected() for t in tiles]))


@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (3, 5)])
@pytest.mark.parametrize(("p_idle", "p_stall"), [(0.0, 0.0), (0.3, 0.5)])
def test_buffered_array_is_bit_exact(rows, cols, p_idle, p_stall, rng, seed, waves, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    sc = random_scenario(cfg, rng, n_tiles=6)
    run = rtl_array_amaranth(sc, p_idle=p_idle, p_stall=p_stall, seed=seed,
                             vcd_path=tmp_path / "array.vcd" if waves else None)
    np.testing.assert_array_equal(run.results, sc.expected())
    # Two more cycles than the core: the result FIFO's memory and output register.
    assert run.first_result_cycle >= cfg.array_latency + 2


def test_buffered_array_survives_a_stalled_consumer(rng, seed):
    """The consumer stalls 90% of the time: the credit scheme must throttle the input, never
    drop or duplicate a result."""
    cfg = AcceleratorConfig(rows=3, cols=4)
    sc = random_scenario(cfg, rng, n_tiles=4, max_tokens=12)
    run = rtl_array_amaranth(sc, p_idle=0.0, p_stall=0.9, seed=seed)
    np.testing.assert_array_equal(run.results, sc.expected())


@pytest.mark.cosim
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (3, 5)])
def test_array_verilog_is_bit_exact(simulator, rows, cols, rng, seed, waves, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    sc = random_scenario(cfg, rng, n_tiles=8)
    run = rtl_array_cocotb(sc, simulator=simulator, test_dir=tmp_path, p_idle=0.3, p_stall=0.4,
                           seed=seed, waves=waves)
    np.testing.assert_array_equal(run.results, sc.expected())
