# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.engine: the MATMUL engine's tile loop, against golden and the tile loop's cycles."""

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from firmware.compiler import compile_weights
from firmware.tiling import tile_acts
from golden.contract.codecs import pack_act_words
from golden.contract.tileloop import layer_work
from hw.component import registered_read
from hw.engine import MatmulEngine, acc_word_layout, act_word_layout
from tests.helpers import random_layer, ref_acc, simulate, small_config


class _EngineHarness(Elaboratable):
    def __init__(self, config, weight_words, act_words):
        self.config = config
        self.weight_words, self.act_words = weight_words, act_words
        self.engine = MatmulEngine(config)
        self.acc_mem = Memory(shape=acc_word_layout(config), depth=config.acc_depth, init=[])

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.wmem = wmem = Memory(shape=cfg.weight_word_bits, depth=cfg.weight_depth,
                                          init=self.weight_words)
        m.submodules.amem = amem = Memory(shape=act_word_layout(cfg), depth=cfg.act_depth,
                                          init=[act_word_layout(cfg).from_bits(w)
                                                for w in self.act_words])
        m.submodules.accmem = self.acc_mem
        m.submodules.engine = engine = self.engine
        acc_wr = self.acc_mem.write_port()
        wiring.connect(m, engine.w_rd, wmem.read_port())
        wiring.connect(m, engine.a_rd, amem.read_port())
        wiring.connect(m, engine.acc_wr, acc_wr)
        acc_rd = self.acc_mem.read_port()
        m.d.comb += [acc_rd.addr.eq(engine.acc_rd.addr), acc_rd.en.eq(engine.acc_rd.en),
                     engine.acc_rd.data.eq(registered_read(m, acc_rd, name="acc_data"))]
        return m


#: (rows, cols, weight_rows_per_cycle): square and non-square arrays at one row per cycle, a
#: few (dividing rows or not) and a whole tile per cycle; tiles of 1, 2 and 3 beats (B).
SETTINGS = [(2, 3, 1), (2, 3, 2), (4, 4, 1), (4, 4, 2), (4, 4, 4), (3, 2, 1), (3, 2, 2),
            (3, 2, 3), (8, 4, 1), (8, 4, 2), (8, 4, 8)]


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("rows", "cols", "lanes"), SETTINGS)
@pytest.mark.parametrize(("m", "k", "n"), [(1, 21, 7), (2, 21, 5), (3, 21, 5), (5, 6, 3)])
def test_engine_computes_and_accumulates(weight_format, rows, cols, lanes, m, k, n, rng):
    """Bit-exact against golden, and busy for exactly the tile loop's cycles
    (:attr:`~golden.contract.tileloop.MatmulWork.cycles`), at every setting of the wide
    weight path, in both weight formats. With M = 1, 2, 3 tokens, B = 1, 2, 3 beats and at
    least 3 K-slices, the same accumulator comes back every ``max(M, B)`` = 1, 2, 3 cycles,
    while its previous sum is still in flight (forwarded, not read from the buffer)."""
    cfg = small_config(rows=rows, cols=cols, weight_rows_per_cycle=lanes,
                       weight_format=weight_format)
    x, w = random_layer(rng, m, k, n)
    k_tiles, n_tiles = cfg.k_tiles(k), cfg.n_tiles(n)
    h = _EngineHarness(cfg, compile_weights(cfg, w).words,
                       pack_act_words(cfg, tile_acts(cfg, x).reshape(-1, cfg.rows)))
    work = layer_work(cfg, m=m, k=k, n=n)
    acc = {}

    async def bench(ctx):
        eng = h.engine
        tiles = k_tiles * n_tiles
        args = {"w_addr": 0, "a_addr": 0, "acc_addr": 0, "m": m, "k_tiles": k_tiles,
                "tiles": tiles}
        for accumulate in (0, 1):            # the second run adds onto the first
            for name, value in {**args, "accumulate": accumulate}.items():
                ctx.set(getattr(eng.args, name), value)
            ctx.set(eng.start, 1)
            await ctx.tick()
            ctx.set(eng.start, 0)
            busy = 0
            while ctx.get(eng.busy):
                busy += 1
                await ctx.tick()
            assert busy == work.cycles
        for i in range(m * n_tiles):
            acc[i] = [int(v) for v in ctx.get(h.acc_mem.data[i])]

    simulate(h, bench)
    got = np.array([acc[i] for i in range(m * n_tiles)], dtype=np.int64)
    got = got.reshape(n_tiles, m, cfg.cols).transpose(1, 0, 2).reshape(m, -1)[:, :n]
    np.testing.assert_array_equal(got, 2 * ref_acc(x, w))


def _wrap(value, bits):
    return (value + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))


@pytest.mark.parametrize(("rows", "cols", "lanes", "m"), [
    (4, 1, 4, 1), (3, 2, 3, 2), (2, 3, 1, 1), (3, 2, 1, 1), (3, 2, 3, 3), (4, 4, 4, 2),
    (4, 4, 2, 4)])
def test_engine_wraps_and_flags_overflow(rows, cols, lanes, m, rng):
    """ACCUMULATE past ``acc_bits``, the accumulator of each K-slice coming back 1 to 4 cycles
    after the previous one: ``overflow`` pulses once for every word written with a sum out of
    range, and the buffer holds the sums wrapped to ``acc_bits``, also where a wrapped sum was
    forwarded to the next K-slice."""
    k_tiles, n_tiles = 4, 2
    k, n = k_tiles * rows, n_tiles * cols
    cfg = small_config(rows=rows, cols=cols, weight_rows_per_cycle=lanes, max_k=k,
                       acc_bits=small_config().psum_bits(k))
    bits = cfg.acc_bits
    x = np.where(np.arange(m)[:, None] % 2 == 0, -128, 127) * np.ones((m, k), np.int64)
    x = x.astype(np.int8)
    w = np.where(rng.random((n, k)) < 0.9, -1, 0).astype(np.int8)   # sums grow every pass
    h = _EngineHarness(cfg, compile_weights(cfg, w).words,
                       pack_act_words(cfg, tile_acts(cfg, x).reshape(-1, cfg.rows)))
    # The reference: word nt * m + i, written once per K-slice, in K-slice order.
    slices = np.einsum("mtr,ntr->mnt", x.astype(np.int64).reshape(m, k_tiles, rows),
                       w.astype(np.int64).reshape(n, k_tiles, rows))
    ref = np.zeros((m, n), np.int64)
    passes, expected = 4, []
    for p in range(passes):
        flagged = 0
        for kt in range(k_tiles):
            total = (ref if p or kt else 0) + slices[:, :, kt]
            out = (total < -(1 << (bits - 1))) | (total >= 1 << (bits - 1))
            flagged += int(out.reshape(m, n_tiles, cols).any(axis=2).sum())
            ref = _wrap(total, bits)
        expected.append((flagged, ref.copy()))
    assert expected[0][0] == 0 and sum(f for f, _ in expected) > 0    # it does overflow

    async def bench(ctx):
        eng = h.engine
        args = {"w_addr": 0, "a_addr": 0, "acc_addr": 0, "m": m, "k_tiles": k_tiles,
                "tiles": k_tiles * n_tiles}
        for p, (flagged, want) in enumerate(expected):
            for name, value in {**args, "accumulate": int(p > 0)}.items():
                ctx.set(getattr(eng.args, name), value)
            ctx.set(eng.start, 1)
            await ctx.tick()
            ctx.set(eng.start, 0)
            pulses = 0
            while ctx.get(eng.busy):
                pulses += ctx.get(eng.overflow)
                await ctx.tick()
            got = np.array([[int(v) for v in ctx.get(h.acc_mem.data[i])]
                            for i in range(m * n_tiles)], dtype=np.int64)
            got = got.reshape(n_tiles, m, cols).transpose(1, 0, 2).reshape(m, n)
            np.testing.assert_array_equal(got, want, err_msg=f"pass {p}")
            assert pulses == flagged, f"pass {p}"

    simulate(h, bench)
