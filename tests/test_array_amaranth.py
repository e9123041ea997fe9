# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""amaranth.sim tests of the processing element and the array (fast, always on)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from firmware.weights import encode_weight_codes
from golden.config import AcceleratorConfig
from golden.isa import ILLEGAL_WEIGHT_CODE, WeightCode
from hw.array import SystolicArray, act_layout, weight_row_layout
from hw.pe import TernaryPE
from sim.amaranth_bench import rtl_array_amaranth
from sim.scenario import ArrayTile, pack, random_scenario, unpack_results


def _run(dut, *benches, vcd=None):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(str(vcd)):
            sim.run()
    else:
        sim.run()


# --- processing element ---------------------------------------------------------------------

def test_pe_adds_subtracts_or_holds(rng):
    pe = TernaryPE(act_bits=8, psum_in_bits=12, psum_out_bits=13)
    codes = {1: WeightCode.POS, 0: WeightCode.ZERO, -1: WeightCode.NEG}
    checked = []

    async def bench(ctx):
        # Bank 0 <- +1, bank 1 <- -1, then the zero and illegal codes, every activation value.
        # The bank bit leads its activation by one cycle (ProcessingElement), so the bank of
        # the first activation goes in with the last weight write (which it must see).
        for w0, w1 in ((1, -1), (0, 1), (-1, 0)):
            banks = [int(b) for b in rng.integers(2, size=257)]
            for bank, w in enumerate((w0, w1)):
                ctx.set(pe.w_code, codes[w])
                ctx.set(pe.w_we, 1 << bank)
                ctx.set(pe.bank_in, banks[0])
                await ctx.tick()
            ctx.set(pe.w_we, 0)
            for n, a in enumerate(range(-128, 128)):
                bank = banks[n]
                psum = int(rng.integers(-2048, 2048))
                ctx.set(pe.a_in, a)
                ctx.set(pe.psum_in, psum)
                ctx.set(pe.bank_in, banks[n + 1])
                await ctx.tick()
                w = (w0, w1)[bank]
                assert ctx.get(pe.psum_out) == psum + w * a, (w, a, psum)
                assert ctx.get(pe.a_out) == a and ctx.get(pe.bank_out) == banks[n + 1]
                checked.append(w)

    _run(pe, bench)
    assert set(checked) == {-1, 0, 1}


def test_zero_weights_hold_the_adder_operand(rng):
    """Operand isolation: under a zero weight the adder's second operand stays at 0 whatever
    the activations do; under a nonzero weight it follows them."""
    pe = TernaryPE(act_bits=8, psum_in_bits=9, psum_out_bits=10)
    toggles = {}

    async def bench(ctx):
        for bank, code in ((0, WeightCode.ZERO), (1, WeightCode.NEG)):
            ctx.set(pe.w_code, code)
            ctx.set(pe.w_we, 1 << bank)
            await ctx.tick()
        ctx.set(pe.w_we, 0)
        for bank in (0, 1):
            ctx.set(pe.bank_in, bank)
            previous, count = None, 0
            for a in rng.integers(-128, 128, size=50):
                ctx.set(pe.a_in, int(a))
                await ctx.delay(1e-9)
                value = ctx.get(pe.addend)
                count += previous is not None and value != previous
                previous = value
                await ctx.tick()
            toggles[bank] = count

    _run(pe, bench)
    assert toggles[0] == 0           # zero weight: held
    assert toggles[1] > 40           # -1 weight: ~a, changes with almost every activation


def test_pe_treats_the_illegal_code_as_zero():
    pe = TernaryPE(act_bits=8, psum_in_bits=9, psum_out_bits=10)

    async def bench(ctx):
        ctx.set(pe.w_code.as_value(), ILLEGAL_WEIGHT_CODE)
        ctx.set(pe.w_we, 0b01)
        await ctx.tick()
        ctx.set(pe.w_we, 0)
        ctx.set(pe.a_in, -77)
        ctx.set(pe.psum_in, 100)
        await ctx.tick()
        assert ctx.get(pe.psum_out) == 100

    _run(pe, bench)


def test_pe_refuses_a_partial_sum_too_narrow():
    with pytest.raises(ValueError, match="psum_out_bits=8 could overflow"):
        TernaryPE(act_bits=8, psum_in_bits=8, psum_out_bits=8)


# --- array core: exact timing ---------------------------------------------------------------

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

    _run(dut, bench)
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


# --- buffered array: random traffic ---------------------------------------------------------

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
