# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.weight_source: weight beats streamed from weight memory, in both formats, at several
rows per cycle."""

import itertools
import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from golden.contract.codecs import pack_weight_rows, unpack_weight_rows
from golden.contract.tileloop import ENGINE_TIMING
from hw.weight_source import WeightRowSource
from tests.helpers import simulate, small_config


class _SourceHarness(Elaboratable):
    def __init__(self, config, words):
        self.config, self.words = config, words
        self.source = WeightRowSource(config)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.mem = mem = Memory(shape=cfg.weight_word_bits, depth=cfg.weight_depth,
                                        init=self.words)
        m.submodules.source = self.source
        wiring.connect(m, self.source.rd, mem.read_port())
        return m


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("rows", "cols", "lanes"), [(3, 5, 1), (3, 5, 2), (3, 5, 3),
                                                     (8, 4, 4), (2, 3, 2)])
def test_weight_source_streams_every_beat(weight_format, rows, cols, lanes, rng, seed):
    """Beats of ``weight_rows_per_cycle`` rows from any word on, at random ``go`` cycles;
    in 1.6bit every lane and column decodes all 243 five-trit combinations."""
    cfg = small_config(rows=rows, cols=cols, weight_format=weight_format,
                       weight_rows_per_cycle=lanes)
    if weight_format == "1.6bit":
        # All 243 trit combinations of a five-row group, spread over the lanes and columns:
        # combination c of word g sits in lane r, column j with c = (g * lanes + r) * cols + j,
        # i.e. in rows s * lanes + r (s = 0..4) of the word.
        combos = np.array(list(itertools.product([-1, 0, 1], repeat=5)), dtype=np.int8)
        width = lanes * cols
        combos = np.concatenate([combos, np.zeros((-len(combos) % width, 5), np.int8)])
        words = combos.reshape(-1, lanes, cols, 5)              # (g, r, j, s)
        all_rows = words.transpose(0, 3, 1, 2).reshape(-1, cols)  # row (g, s, r) of column j
    else:
        all_rows = rng.integers(-1, 2, size=(40 * lanes, cols)).astype(np.int8)
    words = pack_weight_rows(cfg, all_rows)
    assert np.array_equal(unpack_weight_rows(cfg, words, len(all_rows)), all_rows)
    beats = all_rows.reshape(-1, lanes, cols)
    base, count = 3, len(beats) - 2         # from word 3, stopping inside the last word
    h = _SourceHarness(cfg, [0] * base + words)
    prng = random.Random(seed)
    got = []

    async def bench(ctx):
        src = h.source
        ctx.set(src.base, base)
        ctx.set(src.start, 1)
        await ctx.tick()
        ctx.set(src.start, 0)
        asked = []                          # the cycle of each go
        cycle = 0
        while len(got) < count:
            go = len(asked) < count and prng.random() < 0.7
            ctx.set(src.go, go)
            if go:
                asked.append(cycle)
            _, _, valid, payload = await ctx.tick().sample(src.beats.valid, src.beats.payload)
            if valid:
                assert cycle - ENGINE_TIMING.read in asked, "a beat nobody asked for"
                got.append((payload.beat, [[c.value for c in lane] for lane in payload.codes]))
            cycle += 1
        ctx.set(src.go, 0)
        for _ in range(5):
            assert not ctx.get(src.beats.valid), "beats beyond count"
            await ctx.tick()

    simulate(h, bench)
    assert [b for b, _ in got] == [i % cfg.tile_beats for i in range(count)]
    codes = np.array([c for _, c in got], dtype=np.int64)
    decoded = np.where(codes == 3, -1, codes)
    np.testing.assert_array_equal(decoded, beats[:count])


@pytest.mark.parametrize(("rows", "cols", "lanes"), [(10, 4, 10), (15, 8, 10), (10, 8, 5)])
def test_1_6bit_axi_words_decode_whole_in_one_beat(rows, cols, lanes, seed):
    """1.6-bit weights over AXI: each word taken on a ``go`` is one beat of 5L rows (L =
    ``weight_rows_per_cycle / 5`` lanes), ``read`` cycles later, at random ``go`` cycles; every
    lane and column decodes all 243 five-trit combinations, as golden's codec does."""
    cfg = small_config(rows=rows, cols=cols, weight_format="1.6bit", weight_memory="axi",
                       weight_rows_per_cycle=lanes)
    assert cfg.weight_parallel_decode and cfg.weight_rows_per_word == lanes
    width = cfg.weight_lanes * cols
    combos = np.array(list(itertools.product([-1, 0, 1], repeat=5)), dtype=np.int8)
    combos = np.concatenate([combos, np.zeros((-len(combos) % width, 5), np.int8)])
    # Combination c of word g in lane r, column j (c = (g * L + r) * cols + j): rows
    # s * L + r (s = 0..4) of the word's beat.
    all_rows = combos.reshape(-1, cfg.weight_lanes, cols, 5).transpose(0, 3, 1, 2)
    all_rows = all_rows.reshape(-1, cols)
    words = pack_weight_rows(cfg, all_rows)
    assert len(words) == len(all_rows) // lanes
    assert np.array_equal(unpack_weight_rows(cfg, words, len(all_rows)), all_rows)
    beats = all_rows.reshape(-1, lanes, cols)
    source = WeightRowSource(cfg)
    prng = random.Random(seed)
    got = []

    async def bench(ctx):
        ctx.set(source.start, 1)
        await ctx.tick()
        ctx.set(source.start, 0)
        ctx.set(source.words.valid, 1)
        asked, cycle = [], 0
        while len(got) < len(words):
            go = len(asked) < len(words) and prng.random() < 0.7
            ctx.set(source.go, go)
            if go:
                ctx.set(source.words.payload.data, words[len(asked)])
                assert ctx.get(source.words.ready), "a go that takes no word"
                asked.append(cycle)
            _, _, valid, payload = await ctx.tick().sample(source.beats.valid,
                                                           source.beats.payload)
            if valid:
                assert cycle - ENGINE_TIMING.read in asked, "a beat nobody asked for"
                got.append((payload.beat, [[c.value for c in row] for row in payload.codes]))
            cycle += 1

    simulate(source, bench)
    assert [b for b, _ in got] == [i % cfg.tile_beats for i in range(len(words))]
    codes = np.array([c for _, c in got], dtype=np.int64)
    np.testing.assert_array_equal(np.where(codes == 3, -1, codes), beats)
