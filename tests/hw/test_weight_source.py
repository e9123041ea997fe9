# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.weight_source: weight rows streamed from weight memory, in both formats."""

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
def test_weight_source_streams_every_row(weight_format, rng, seed):
    cfg = small_config(rows=3, cols=5, weight_format=weight_format)
    if weight_format == "1.6bit":
        # All 243 trit combinations of a five-row group, spread over the columns.
        combos = np.array(list(itertools.product([-1, 0, 1], repeat=5)), dtype=np.int8)
        combos = np.concatenate([combos, np.zeros((-len(combos) % cfg.cols, 5), np.int8)])
        rows = combos.reshape(-1, cfg.cols, 5).transpose(0, 2, 1).reshape(-1, cfg.cols)
    else:
        rows = rng.integers(-1, 2, size=(40, cfg.cols)).astype(np.int8)
    words = pack_weight_rows(cfg, rows)
    assert np.array_equal(unpack_weight_rows(cfg, words, len(rows)), rows)
    base, count = 3, len(rows) - 2          # from word 3, stopping inside the last word
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
            _, _, valid, payload = await ctx.tick().sample(src.rows.valid, src.rows.payload)
            if valid:
                assert cycle - ENGINE_TIMING.read in asked, "a row nobody asked for"
                got.append((payload.row, [c.value for c in payload.codes]))
            cycle += 1
        ctx.set(src.go, 0)
        for _ in range(5):
            assert not ctx.get(src.rows.valid), "rows beyond count"
            await ctx.tick()

    simulate(h, bench)
    assert [r for r, _ in got] == [i % cfg.rows for i in range(count)]
    codes = np.array([c for _, c in got], dtype=np.int64)
    decoded = np.where(codes == 3, -1, codes)
    np.testing.assert_array_equal(decoded, rows[:count])
