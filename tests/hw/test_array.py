# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.array: the array core's exact timing and hazard rule, the buffered array in amaranth.sim
(random idle cycles and backpressure), its generated Verilog under cocotb, and the probe set."""

import numpy as np
import pytest

from golden.contract.codecs import encode_weight_codes
from golden.contract.config import AcceleratorConfig
from hw.array import SystolicArray, act_layout, weight_beat_layout, weight_beat_payloads
from sim.testbenches.array_amaranth import rtl_array_amaranth
from sim.testbenches.array_cocotb import rtl_array_cocotb
from sim.testbenches.scenario import ArrayTile, pack, random_scenario, unpack_results
from tests.helpers import simulate


def _core_schedule(config, tiles, write_starts, vector_starts, *, descending=False,
                   orders=None, vector_gaps=None):
    """Drive SystolicArray cycle by cycle in issue order: tile t's beats (ascending,
    descending, or in ``orders[t]``) from cycle write_starts[t], its vectors back to back (or
    ``vector_gaps[t][n]`` cycles after the previous one) from vector_starts[t]. A write that
    meets ``ready`` low is retried, and everything behind it slips (a vector never overtakes
    its tile's beats; a beat never goes before the previous tile's switching vector, but may go
    in the same cycle).

    Returns (results as (cycle, beat) pairs, cycles in which a write met ready low)."""
    dut = SystolicArray(config)
    wl, al = weight_beat_layout(config), act_layout(config)
    beats = config.tile_beats
    writes, vectors = [], []         # (earliest cycle, tile, beat)
    for t, tile in enumerate(tiles):
        payloads = weight_beat_payloads(config, encode_weight_codes(tile.weights).tolist())
        order = (orders[t] if orders else
                 range(beats - 1, -1, -1) if descending else range(beats))
        writes += [(write_starts[t] + n, t, pack(wl, payloads[k]), k)
                   for n, k in enumerate(order)]
        at = vector_starts[t]
        for n, vec in enumerate(tile.acts):
            at += vector_gaps[t][n] if vector_gaps and n else (1 if n else 0)
            vectors.append((at, t, pack(al, {"data": vec.tolist(), "swap": int(n == 0)})))
    results, stalls = [], []
    loaded = [0] * len(tiles)        # beats of each tile accepted so far
    switched = -1                    # last tile whose first vector was accepted
    last_use = [-beats, -beats]      # the cycle of the last vector that used each bank

    async def bench(ctx):
        nonlocal switched
        cycle = 0
        while writes or vectors or cycle < 4:
            v = vectors[0] if vectors and vectors[0][0] <= cycle \
                and loaded[vectors[0][1]] == beats else None
            # A beat may go in the same cycle as the previous tile's switching vector.
            now = max(switched, v[1]) if v else switched
            w = writes[0] if writes and writes[0][0] <= cycle and writes[0][1] <= now + 1 \
                else None
            ctx.set(dut.weights.valid, w is not None)
            ctx.set(dut.weights.payload.as_value(), w[2] if w else 0)
            ctx.set(dut.acts.valid, v is not None)
            ctx.set(dut.acts.payload.as_value(), v[2] if v else 0)
            if w:
                # The rule, exactly: beat k may go once its bank (tile t's: the first tile
                # switches to bank 1) was last used at least k cycles ago.
                free = cycle - last_use[(w[1] + 1) % 2] >= w[3]
                assert ctx.get(dut.weights.ready) == free, f"ready wrong in cycle {cycle}"
            if w and not ctx.get(dut.weights.ready):
                stalls.append(cycle)
            elif w:
                writes.pop(0)
                loaded[w[1]] += 1
            if v:
                vectors.pop(0)
                switched = max(switched, v[1])
                last_use[(v[1] + 1) % 2] = cycle
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


#: (rows, cols, weight_rows_per_cycle): square and non-square arrays, one row per cycle, a
#: few rows per cycle (dividing rows or not) and a whole tile per cycle.
WIDE = [(4, 4, 1), (4, 4, 2), (4, 4, 4), (3, 2, 1), (3, 2, 2), (3, 2, 3), (2, 3, 1),
        (2, 3, 2), (8, 4, 1), (8, 4, 2), (8, 4, 3), (8, 4, 8)]


@pytest.mark.parametrize(("rows", "cols", "lanes"), [(4, 4, 1), (3, 5, 1), (5, 2, 1),
                                                     (4, 4, 4), (5, 2, 2)])
def test_core_latency_and_full_throughput(rows, cols, lanes, rng):
    """Back-to-back vectors give back-to-back results, exactly array_latency cycles later."""
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_rows_per_cycle=lanes)
    sc = random_scenario(cfg, rng, n_tiles=1, max_tokens=1, extremes=False)
    tile = ArrayTile(sc.tiles[0].weights,
                     rng.integers(-128, 128, size=(9, rows)).astype(np.int8))
    start = cfg.tile_beats
    results, stalls = _core_schedule(cfg, [tile], write_starts=[0], vector_starts=[start])
    assert not stalls
    assert [c for c, _ in results] == [start + cfg.array_latency + n for n in range(9)]
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, tile.expected())


@pytest.mark.parametrize(("rows", "cols", "lanes"),
                         [*WIDE, (4, 8, 1), (6, 3, 1), (2, 2, 1), (1, 3, 1), (6, 3, 4)])
def test_core_switches_tiles_at_the_weight_bandwidth(rows, cols, lanes, rng):
    """Decode: one vector per tile. A new tile every ``tile_beats`` cycles (one beat of
    ``weight_rows_per_cycle`` rows per cycle, never waiting), each loaded while the previous
    one computes, whatever the shape: at ``rows`` rows per cycle, a new tile every cycle."""
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_rows_per_cycle=lanes)
    beats = cfg.tile_beats
    tiles = random_scenario(cfg, rng, n_tiles=6, max_tokens=1, extremes=False).tiles
    write_starts = [t * beats for t in range(len(tiles))]
    # Tile t's vector goes in the cycle after its last beat; tile t+1's first beat goes in the
    # same cycle as that vector (it lands in the new shadow bank).
    vector_starts = [s + beats for s in write_starts]
    results, stalls = _core_schedule(cfg, tiles, write_starts, vector_starts)
    assert not stalls
    assert [c for c, _ in results] == [s + cfg.array_latency for s in vector_starts]
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, np.concatenate([t.expected() for t in tiles]))


@pytest.mark.parametrize(("rows", "cols", "lanes"), [(4, 3, 1), (6, 8, 1), (6, 8, 2),
                                                     (8, 4, 2), (7, 2, 3)])
def test_core_waits_before_overwriting_a_bank_in_use(rows, cols, lanes, rng):
    """Beats written last-first right behind a switching vector would overtake the previous
    tile's last vectors, which still read that bank in the lower rows: ready must drop
    (rather than corrupt the tiles in flight), and the results stay exact."""
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_rows_per_cycle=lanes)
    assert cfg.tile_beats >= 3       # beat B-1 right behind: age 1 < B - 1
    m = rows + 3         # the next tile loads before this one's vectors end: back to back
    tiles = [ArrayTile(t.weights, rng.integers(-128, 128, size=(m, rows)).astype(np.int8))
             for t in random_scenario(cfg, rng, n_tiles=5, extremes=False).tiles]
    # Tile t+1's beats go in right behind tile t's first vector.
    vector_starts = [cfg.tile_beats + m * t for t in range(len(tiles))]
    write_starts = [0, *vector_starts[:-1]]
    results, stalls = _core_schedule(cfg, tiles, write_starts, vector_starts, descending=True)
    assert stalls, "the hazard check never held a write back"
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, np.concatenate([t.expected() for t in tiles]))


@pytest.mark.parametrize(("rows", "cols", "lanes"), WIDE)
def test_core_hazard_rule_under_random_interleavings(rows, cols, lanes, rng):
    """Beats in random order, starting at random cycles from the previous tile's first vector
    on (often inside its burst of vectors), vectors with random gaps: whatever the
    interleaving, every tile's vectors see exactly its weights (the array holds back a beat
    that would overwrite a bank still in use), and ``ready`` is low exactly for a beat k whose
    bank was used fewer than k cycles before (checked in every cycle by the bench)."""
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_rows_per_cycle=lanes)
    beats = cfg.tile_beats
    tiles = random_scenario(cfg, rng, n_tiles=24, max_tokens=5, extremes=False).tiles
    orders = [[int(k) for k in rng.permutation(beats)] for _ in tiles]
    gaps = [[int(g) for g in rng.choice([1, 1, 1, 2, 3], size=len(t.acts))] for t in tiles]
    # Tile t's beats become due between its predecessor's first vector (the earliest the bench
    # lets them go) and a few cycles later; its vectors once its beats are in, or later.
    write_starts, vector_starts, at = [], [], 0
    for _ in tiles:
        write_starts.append(at + int(rng.integers(0, 3)))
        at = write_starts[-1] + beats + int(rng.integers(0, 3))
        vector_starts.append(at)
    results, stalls = _core_schedule(cfg, tiles, write_starts, vector_starts, orders=orders,
                                     vector_gaps=gaps)
    if beats == 1:
        assert not stalls            # a whole tile per beat: skewed like the vectors
    got = unpack_results(cfg, [b for _, b in results])
    np.testing.assert_array_equal(got, np.concatenate([t.expected() for t in tiles]))


@pytest.mark.parametrize(("rows", "cols", "lanes"), [(4, 4, 1), (3, 5, 1), (4, 4, 2),
                                                     (3, 5, 2), (4, 4, 4)])
@pytest.mark.parametrize(("p_idle", "p_stall"), [(0.0, 0.0), (0.3, 0.5)])
def test_buffered_array_is_bit_exact(rows, cols, lanes, p_idle, p_stall, rng, seed, waves,
                                     tmp_path):
    """Beats in random order, idle cycles on both inputs and backpressure on the results."""
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_rows_per_cycle=lanes)
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
@pytest.mark.parametrize(("rows", "cols", "lanes"), [(4, 4, 1), (3, 5, 1), (3, 5, 2)])
def test_array_verilog_is_bit_exact(simulator, rows, cols, lanes, rng, seed, waves, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_rows_per_cycle=lanes)
    sc = random_scenario(cfg, rng, n_tiles=8)
    run = rtl_array_cocotb(sc, simulator=simulator, test_dir=tmp_path, p_idle=0.3, p_stall=0.4,
                           seed=seed, waves=waves)
    np.testing.assert_array_equal(run.results, sc.expected())
