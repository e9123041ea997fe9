# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""amaranth.sim tests of the accelerator's blocks and of the whole accelerator."""

import itertools
import random

import numpy as np
import pytest
import torch
from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from firmware import commands
from firmware.compiler import act_words, compile_layer, compile_weights
from firmware.cycle_model import matmul_cycles
from firmware.tiling import tile_acts
from firmware.weights import pack_weight_rows, unpack_weight_rows
from golden.bitlinear import int_matmul
from golden.config import AcceleratorConfig
from golden.isa import ILLEGAL_WEIGHT_CODE, SYNC, Counter, ErrorFlag, Opcode
from hw.accelerator import Accelerator
from hw.engine import MatmulEngine, acc_word_layout, act_word_layout
from hw.serial_mul import SerialMultiplier
from hw.weight_source import WeightRowSource
from sim.accel_amaranth import rtl_accel_amaranth


def small_config(**kw):
    base = {"rows": 2, "cols": 3, "weight_depth": 256, "act_depth": 128, "acc_depth": 64,
            "max_k": 1024, "acc_bits": 20}
    return AcceleratorConfig(**{**base, **kw})


def random_layer(rng, m, k, n, *, binary=False):
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    w = (rng.choice(np.array([-1, 1], np.int8), size=(n, k)) if binary
         else rng.integers(-1, 2, size=(n, k)).astype(np.int8))
    return x, w


def ref_acc(x, w):
    return int_matmul(torch.from_numpy(x), torch.from_numpy(w)).numpy()


def _simulate(top, bench):
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# --- blocks ---------------------------------------------------------------------------------

def test_serial_multiplier(rng):
    dut = SerialMultiplier(a_bits=12, b_bits=10)
    cases = [(0, 0), (4095, 1023), (1, 1023), (4095, 0)]
    cases += [tuple(int(v) for v in rng.integers(0, [4096, 1024])) for _ in range(20)]

    async def bench(ctx):
        for a, b in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 0
            while not ctx.get(dut.done) and cycles < 12:
                await ctx.tick()
                cycles += 1
            assert cycles <= 10, f"{a} * {b} took {cycles} cycles"
            assert ctx.get(dut.product) == a * b

    _simulate(dut, bench)


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
        ctx.set(src.count, count)
        ctx.set(src.start, 1)
        await ctx.tick()
        ctx.set(src.start, 0)
        while len(got) < count:
            ready = prng.random() < 0.7
            ctx.set(src.rows.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(src.rows.valid, src.rows.payload)
            if valid and ready:
                got.append((payload.row, [c.value for c in payload.codes]))
        for _ in range(5):
            assert not ctx.get(src.rows.valid), "rows beyond count"
            await ctx.tick()

    _simulate(h, bench)
    assert [r for r, _ in got] == [i % cfg.rows for i in range(count)]
    codes = np.array([c for _, c in got], dtype=np.int64)
    decoded = np.where(codes == 3, -1, codes)
    np.testing.assert_array_equal(decoded, rows[:count])


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
        wiring.connect(m, engine.acc_rd, self.acc_mem.read_port(transparent_for=(acc_wr,)))
        return m


@pytest.mark.parametrize(("m", "k", "n"), [(1, 5, 7), (4, 6, 3), (3, 2, 2)])
def test_engine_computes_and_accumulates(m, k, n, rng):
    cfg = small_config()
    x, w = random_layer(rng, m, k, n)
    k_tiles, n_tiles = cfg.k_tiles(k), cfg.n_tiles(n)
    h = _EngineHarness(cfg, compile_weights(cfg, w).words, act_words(cfg, tile_acts(cfg, x)))
    est = matmul_cycles(cfg, m=m, k=k, n=n)
    acc = {}

    async def bench(ctx):
        eng = h.engine
        tiles = k_tiles * n_tiles
        args = {"w_addr": 0, "a_addr": 0, "acc_addr": 0, "m": m, "k_tiles": k_tiles,
                "tiles": tiles, "w_rows": tiles * cfg.rows}
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
            assert busy == est.cycles
        for i in range(m * n_tiles):
            acc[i] = [int(v) for v in ctx.get(h.acc_mem.data[i])]

    _simulate(h, bench)
    got = np.array([acc[i] for i in range(m * n_tiles)], dtype=np.int64)
    got = got.reshape(n_tiles, m, cfg.cols).transpose(1, 0, 2).reshape(m, -1)[:, :n]
    np.testing.assert_array_equal(got, 2 * ref_acc(x, w))


# --- the whole accelerator ------------------------------------------------------------------

def run_layer(cfg, x, w, *, p_idle=0.0, p_stall=0.0, seed=0):
    prog = compile_layer(cfg, x, w)
    run = rtl_accel_amaranth(cfg, prog.words, prog.response_words, p_idle=p_idle,
                             p_stall=p_stall, seed=seed)
    return prog.decode(run.response)


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("rows", "cols", "m", "k", "n"), [
    (2, 2, 3, 5, 3),          # K, N not multiples of the array
    (4, 8, 2, 9, 17),
    (3, 1, 1, 7, 2),
    (1, 3, 1, 4, 5),          # one row, one token: back-to-back updates of one accumulator
])
def test_accelerator_layer_is_bit_exact(weight_format, rows, cols, m, k, n, rng, seed):
    cfg = small_config(rows=rows, cols=cols, weight_format=weight_format)
    x, w = random_layer(rng, m, k, n)
    acc = run_layer(cfg, x, w, p_idle=0.3, p_stall=0.4, seed=seed)
    np.testing.assert_array_equal(acc, ref_acc(x, w))


def test_binary_weights_run_on_the_same_datapath(rng):
    cfg = small_config(rows=3, cols=2)
    x, w = random_layer(rng, 2, 8, 5, binary=True)
    np.testing.assert_array_equal(run_layer(cfg, x, w), ref_acc(x, w))


def test_extremes_at_the_largest_k():
    """All +1 (and -1) weights against all -128 and all 127 activations, at K = max_k, with
    the narrowest accumulator the configuration accepts: the largest sums of either sign
    come out exact (and a narrower accumulator would be refused)."""
    k = 64
    acc_bits = AcceleratorConfig().psum_bits(k)       # 15: +/-8192 needs 15 bits
    cfg = AcceleratorConfig(rows=4, cols=2, max_k=k, acc_bits=acc_bits, weight_depth=128,
                            act_depth=64, acc_depth=16)
    with pytest.raises(ValueError, match="could overflow"):
        AcceleratorConfig(rows=4, cols=2, max_k=k, acc_bits=acc_bits - 1)
    x = np.array([[-128] * k, [127] * k], dtype=np.int8)
    w = np.ones((3, k), dtype=np.int8)
    w[1] = -1
    acc = run_layer(cfg, x, w)
    assert acc.tolist() == [[-128 * k, 128 * k, -128 * k], [127 * k, -127 * k, 127 * k]]


def test_accumulate_flag_sums_k_chunks(rng):
    """A layer whose K is split in two MATMULs, the second with ACCUMULATE."""
    cfg = small_config(rows=2, cols=2)
    x, w = random_layer(rng, 3, 8, 4)
    words = []
    for half, accumulate in ((slice(0, 4), False), (slice(4, 8), True)):
        words += [*commands.load_weights(cfg, 0, compile_weights(cfg, w[:, half]).words),
                  *commands.load_acts(cfg, 0, act_words(cfg, tile_acts(cfg, x[:, half]))),
                  *commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=3, k_tiles=2,
                                   n_tiles=2, accumulate=accumulate)]
    words += commands.drain(0, 3 * 2)
    run = rtl_accel_amaranth(cfg, words, 1 + 3 * 2 * cfg.cols)
    whole = compile_layer(cfg, x, w)         # the same outputs, in one program
    np.testing.assert_array_equal(whole.decode(run.response), ref_acc(x, w))


def _counted_matmul(cfg, x, w, **kw):
    """Run a layer with the counters cleared just before its MATMUL; return the counters."""
    prog = compile_layer(cfg, x, w, measure=True)
    run = rtl_accel_amaranth(cfg, prog.words, prog.response_words, **kw)
    np.testing.assert_array_equal(prog.decode(run.response), ref_acc(x, w))
    return prog, prog.counters(run.response)


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("rows", "cols", "m", "k", "n"), [
    (2, 3, 1, 7, 8), (2, 3, 5, 4, 5), (4, 2, 9, 6, 2), (3, 3, 2, 9, 3), (4, 4, 4, 8, 8)])
def test_cycle_model_is_exact(weight_format, rows, cols, m, k, n, rng):
    cfg = small_config(rows=rows, cols=cols, weight_format=weight_format)
    x, w = random_layer(rng, m, k, n)
    _, counters = _counted_matmul(cfg, x, w)
    assert counters[Counter.COMPUTE] == matmul_cycles(cfg, m=m, k=k, n=n).cycles


def test_counters_count_macs_and_stalls(rng, seed):
    cfg = small_config(rows=3, cols=2)
    x, w = random_layer(rng, 4, 7, 5)
    w[w == 1] = 0                                   # plenty of zeros
    _, counters = _counted_matmul(cfg, x, w, p_idle=0.3, p_stall=0.5, seed=seed)
    k_tiles, n_tiles = cfg.k_tiles(7), cfg.n_tiles(5)
    tiles = np.zeros((n_tiles * cfg.cols, k_tiles * cfg.rows), np.int8)
    tiles[:5, :7] = w
    assert counters[Counter.MACS] == 4 * k_tiles * n_tiles * cfg.rows * cfg.cols
    assert counters[Counter.ZERO_MACS] == 4 * int((tiles == 0).sum())
    assert counters[Counter.COMPUTE] == matmul_cycles(cfg, m=4, k=7, n=5).cycles
    assert counters[Counter.BUSY] > counters[Counter.COMPUTE]
    assert counters[Counter.CYCLES] >= counters[Counter.BUSY]
    assert counters[Counter.STALL_IN] > 0          # idle cycles inside the MATMUL command
    assert counters[Counter.STALL_OUT] == 0        # nothing was sent before READ_COUNTERS


def _status(cfg, words):
    run = rtl_accel_amaranth(cfg, [*words, *commands.read_status()], 5)
    header = commands.parse_response_header(run.response[0])
    assert header.opcode == Opcode.READ_STATUS
    return ErrorFlag(run.response[1]), run.response


@pytest.mark.parametrize(("words", "flag"), [
    ([0x1234_5678], ErrorFlag.BAD_HEADER),                              # no SYNC
    ([SYNC << 24 | 0xF], ErrorFlag.BAD_HEADER),                         # unknown opcode
    ([SYNC << 24 | 1 << 8], ErrorFlag.BAD_HEADER),                      # reserved bits
    (commands.load_acts(small_config(), 127, [1, 2]), ErrorFlag.OVERRUN),
    (commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=0, k_tiles=1, n_tiles=1),
     ErrorFlag.BAD_SHAPE),
    (commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1, k_tiles=1024, n_tiles=1),
     ErrorFlag.BAD_SHAPE),                                              # K > max_k
    (commands.matmul(w_addr=250, a_addr=0, acc_addr=0, m=1, k_tiles=4, n_tiles=1),
     ErrorFlag.OVERRUN),                                                # weight memory
    (commands.matmul(w_addr=0, a_addr=0, acc_addr=60, m=3, k_tiles=1, n_tiles=2),
     ErrorFlag.OVERRUN),                                                # accumulators
    (commands.load_weights(small_config(), 0, [ILLEGAL_WEIGHT_CODE << 2]),
     ErrorFlag.ILLEGAL_WEIGHT),
    ([commands.header(Opcode.CLEAR, 3), 0xDEAD_BEEF], ErrorFlag.BAD_MAGIC),
])
def test_bad_commands_raise_sticky_flags(words, flag):
    flags, response = _status(small_config(), words)
    assert flags == flag
    assert commands.parse_response_header(response[0]).errors == flag


def test_errors_leave_the_state_uncorrupted(rng):
    """After a good layer, a malformed stream (garbage, then commands that would overwrite
    the buffers) changes nothing: DRAIN answers with the error flags and no payload, and after
    CLEAR the same DRAIN returns the good layer's results."""
    cfg = small_config()
    x, w = random_layer(rng, 2, 5, 4)
    prog = compile_layer(cfg, x, w)
    x2, w2 = random_layer(rng, 2, 5, 4)
    other = compile_layer(cfg, x2, w2)
    drain = prog.words[-3:]
    words = [*prog.words[:-3],
             0xFFFF_FFFF,                                  # garbage: BAD_HEADER
             *other.words[:-3],                            # loads + MATMUL: not executed
             *drain,                                       # header only, with the flags
             *commands.clear(),
             *drain]
    n = 1 + prog.response_words
    run = rtl_accel_amaranth(cfg, words, n)
    assert commands.parse_response_header(run.response[0]).errors == ErrorFlag.BAD_HEADER
    np.testing.assert_array_equal(prog.decode(run.response[1:]), ref_acc(x, w))


def test_reset_mid_matmul_returns_to_idle(rng):
    cfg = small_config(rows=2, cols=2)
    x, w = random_layer(rng, 8, 16, 8)                   # a MATMUL of ~70 cycles
    prog = compile_layer(cfg, x, w)
    x2, w2 = random_layer(rng, 3, 5, 3)
    after = compile_layer(cfg, x2, w2)
    dut = Accelerator(cfg)
    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut
    response = []

    async def put(ctx, word):
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.payload, word)
        await ctx.tick().until(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)

    async def bench(ctx):
        for word in prog.words[:-3]:                     # loads and MATMUL, no DRAIN
            await put(ctx, word)
        for _ in range(20):                              # well inside the MATMUL
            assert ctx.get(dut.busy)
            await ctx.tick()
        ctx.set(cd.rst, 1)
        await ctx.delay(2e-8)                            # two clock periods in reset
        ctx.set(cd.rst, 0)
        await ctx.tick()
        assert not ctx.get(dut.busy) and not ctx.get(dut.errors)
        assert not ctx.get(dut.resp.valid)
        for word in after.words:
            await put(ctx, word)
        ctx.set(dut.resp.ready, 1)
        while len(response) < after.response_words:
            _, _, valid, payload = await ctx.tick().sample(dut.resp.valid, dut.resp.payload)
            if valid:
                response.append(payload)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run_until(1e-8 * 5000)
    np.testing.assert_array_equal(after.decode(response), ref_acc(x2, w2))
