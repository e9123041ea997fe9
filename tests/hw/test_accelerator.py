# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.accelerator: the whole accelerator in amaranth.sim and, as generated Verilog, under
cocotb on Icarus and Verilator: bit-exact layers, counters, the tile loop's cycles, errors."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from firmware import commands
from firmware.compiler import compile_layer, compile_weights
from firmware.functional import FunctionalAccelerator
from firmware.tiling import tile_acts
from golden.contract.codecs import ILLEGAL_WEIGHT_CODE, pack_act_words
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    SYNC,
    Counter,
    ErrorFlag,
    Opcode,
    command_header,
    parse_response,
    parse_response_header,
    parse_status,
    response_words,
    split_responses,
    with_crc,
)
from golden.contract.tileloop import layer_work
from hw.accelerator import Accelerator
from sim.testbenches.accelerator_amaranth import rtl_accelerator_amaranth
from sim.testbenches.accelerator_cocotb import rtl_accelerator_cocotb
from tests.helpers import random_layer, ref_acc, small_config


def run_layer(cfg, x, w, *, p_idle=0.0, p_stall=0.0, seed=0):
    prog = compile_layer(cfg, x, w)
    run = rtl_accelerator_amaranth(cfg, prog.words, prog.response_words, p_idle=p_idle,
                             p_stall=p_stall, seed=seed)
    return prog.decode(run.response)


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("rows", "cols", "lanes", "m", "k", "n"), [
    (2, 2, 1, 3, 5, 3),       # K, N not multiples of the array
    (4, 8, 1, 2, 9, 17),
    (3, 1, 1, 1, 7, 2),
    (1, 3, 1, 1, 4, 5),       # one row, one token: back-to-back updates of one accumulator
    (4, 8, 2, 2, 9, 17),      # two rows per cycle
    (3, 2, 2, 1, 7, 5),       # two rows per cycle, not dividing rows: padded tiles
    (4, 4, 4, 1, 13, 6),      # a whole tile per cycle
    (3, 2, 3, 2, 9, 5),       # ... an accumulator back every 2 cycles, its sum in flight
    (2, 3, 1, 3, 7, 4),       # ... every 3 cycles
])
def test_accelerator_layer_is_bit_exact(weight_format, rows, cols, lanes, m, k, n, rng, seed):
    cfg = small_config(rows=rows, cols=cols, weight_format=weight_format,
                       weight_rows_per_cycle=lanes)
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
                  *commands.load_acts(cfg, 0, pack_act_words(
                      cfg, tile_acts(cfg, x[:, half]).reshape(-1, cfg.rows))),
                  *commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=3, k_tiles=2,
                                   n_tiles=2, accumulate=accumulate)]
    words += commands.drain(0, 3 * 2)
    run = rtl_accelerator_amaranth(cfg, words, response_words(cfg, Opcode.DRAIN, count=6))
    whole = compile_layer(cfg, x, w)         # the same outputs, in one program
    np.testing.assert_array_equal(whole.decode(run.response), ref_acc(x, w))


def _counted_matmul(cfg, x, w, **kw):
    """Run a layer with the counters cleared just before its MATMUL; return the counters."""
    prog = compile_layer(cfg, x, w, measure=True)
    run = rtl_accelerator_amaranth(cfg, prog.words, prog.response_words, **kw)
    np.testing.assert_array_equal(prog.decode(run.response), ref_acc(x, w))
    return prog, prog.counters(run.response)


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("rows", "cols", "lanes", "m", "k", "n"), [
    (2, 3, 1, 1, 7, 8), (2, 3, 1, 5, 4, 5), (4, 2, 1, 9, 6, 2), (3, 3, 1, 2, 9, 3),
    (4, 4, 1, 4, 8, 8),
    (4, 4, 2, 1, 16, 8), (4, 4, 4, 1, 16, 8), (3, 2, 2, 1, 9, 4), (3, 2, 3, 2, 9, 4),
    (2, 3, 2, 1, 7, 8), (8, 4, 2, 1, 24, 8), (8, 4, 8, 3, 24, 8),
    # Periods of 1 to 3 cycles: M = 1, 2, 3 tokens x B = 3, 2, 1 beats, 3 K-slices.
    (3, 2, 1, 1, 9, 4), (3, 2, 1, 2, 9, 4), (3, 2, 1, 3, 9, 4), (3, 2, 2, 2, 9, 4),
    (3, 2, 2, 3, 9, 4), (3, 2, 3, 1, 9, 4), (3, 2, 3, 3, 9, 4), (2, 3, 2, 2, 7, 8),
    (2, 3, 2, 3, 7, 8), (4, 4, 4, 2, 16, 8), (4, 4, 4, 3, 16, 8),
    # Beats of 32 and 128 weights: the zero-weight popcount takes 3 and 4 register stages, so
    # the counters' delays grow by 1 and 2 (the slot rule at periods 1 and 2 included).
    (8, 4, 8, 1, 24, 8), (8, 4, 8, 2, 16, 8), (16, 8, 16, 1, 32, 16)])
def test_tile_loop_cycles_are_exact(weight_format, rows, cols, lanes, m, k, n, rng):
    """COMPUTE is the tile loop's cycles; MACS and ZERO_MACS count every vector against its
    own tile (a counter slot is not overwritten before its tile's last vector is counted,
    also at periods shorter than the 4-cycle count delay)."""
    cfg = small_config(rows=rows, cols=cols, weight_format=weight_format,
                       weight_rows_per_cycle=lanes)
    x, w = random_layer(rng, m, k, n)
    _, counters = _counted_matmul(cfg, x, w)
    k_tiles, n_tiles = cfg.k_tiles(k), cfg.n_tiles(n)
    tiles = np.zeros((n_tiles * cols, k_tiles * rows), np.int8)
    tiles[:n, :k] = w
    assert counters[Counter.COMPUTE] == layer_work(cfg, m=m, k=k, n=n).cycles
    assert counters[Counter.MACS] == m * k_tiles * n_tiles * rows * cols
    assert counters[Counter.ZERO_MACS] == m * int((tiles == 0).sum())


@pytest.mark.parametrize(("weight_format", "lanes"), [("2bit", 1), ("2bit", 2), ("1.6bit", 2),
                                                     ("2bit", 3)])
def test_counters_count_macs_and_stalls(weight_format, lanes, rng, seed):
    """MACS and ZERO_MACS count the tiles' rows only: at 2 rows per cycle the padding row of
    each tile's second beat is no weight."""
    cfg = small_config(rows=3, cols=2, weight_format=weight_format, weight_rows_per_cycle=lanes)
    x, w = random_layer(rng, 4, 7, 5)
    w[w == 1] = 0                                   # plenty of zeros
    _, counters = _counted_matmul(cfg, x, w, p_idle=0.3, p_stall=0.5, seed=seed)
    k_tiles, n_tiles = cfg.k_tiles(7), cfg.n_tiles(5)
    tiles = np.zeros((n_tiles * cfg.cols, k_tiles * cfg.rows), np.int8)
    tiles[:5, :7] = w
    assert counters[Counter.MACS] == 4 * k_tiles * n_tiles * cfg.rows * cfg.cols
    assert counters[Counter.ZERO_MACS] == 4 * int((tiles == 0).sum())
    assert counters[Counter.COMPUTE] == layer_work(cfg, m=4, k=7, n=5).cycles
    assert counters[Counter.BUSY] > counters[Counter.COMPUTE]
    assert counters[Counter.CYCLES] >= counters[Counter.BUSY]
    assert counters[Counter.STALL_IN] > 0          # idle cycles inside the MATMUL command
    assert counters[Counter.STALL_OUT] == 0        # nothing was sent before READ_COUNTERS
    assert counters[Counter.MEM_BYTES] == counters[Counter.MEM_BURSTS] == 0   # weights on chip


def _status(cfg, words):
    words = [*words, *commands.read_status()]
    expect = FunctionalAccelerator(cfg).run(words)
    run = rtl_accelerator_amaranth(cfg, words, len(expect))
    assert run.response == expect
    n = response_words(cfg, Opcode.READ_STATUS)
    _, payload = parse_response(run.response[-n:], Opcode.READ_STATUS)
    description = parse_status(payload)
    assert description.config == cfg              # the device describes itself
    return description.errors, run.response


def _bad_crc(words):
    return [*words[:-1], words[-1] ^ 0x100]


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
    (with_crc([command_header(Opcode.CLEAR, 3), 0xDEAD_BEEF]), ErrorFlag.BAD_MAGIC),
    (_bad_crc(commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1, k_tiles=1, n_tiles=1)),
     ErrorFlag.BAD_CRC),
    (_bad_crc(commands.load_acts(small_config(), 0, [1, 2])), ErrorFlag.BAD_CRC),
    (_bad_crc(commands.clear()), ErrorFlag.BAD_CRC),
    ([command_header(Opcode.LOAD_ACTS), 0, 0], ErrorFlag.BAD_SHAPE),      # count 0: no data
    ([command_header(Opcode.LOAD_WEIGHTS), 0, 65], ErrorFlag.BAD_SHAPE),  # > max_load
    (commands.drain(0, 0), ErrorFlag.BAD_SHAPE),
])
def test_bad_commands_raise_sticky_flags(words, flag):
    flags, response = _status(small_config(), words)
    assert flags == flag
    assert parse_response_header(response[-response_words(small_config(), Opcode.READ_STATUS)]
                                 ).errors == flag


@pytest.mark.parametrize("lane", [0, 1, 2])
def test_an_illegal_code_in_any_lane_is_refused(lane):
    """At 3 rows per cycle a weight word holds three rows: the illegal code in any of them
    raises ILLEGAL_WEIGHT and writes nothing, on the RTL as on the functional model."""
    cfg = small_config(rows=3, cols=2, weight_rows_per_cycle=3)
    bad = ILLEGAL_WEIGHT_CODE << (2 * (lane * cfg.cols + 1))      # column 1 of the lane
    words = [*commands.load_weights(cfg, 0, [0x15, bad]), *commands.read_status()]
    flags, _ = _status(cfg, words[:-len(commands.read_status())])
    assert flags == ErrorFlag.ILLEGAL_WEIGHT


def test_errors_leave_the_state_uncorrupted(rng):
    """After a good layer, a malformed stream (garbage, then commands that would overwrite
    the buffers) changes nothing: DRAIN answers with the error flags and no payload, and after
    CLEAR the same DRAIN returns the good layer's results."""
    cfg = small_config()
    x, w = random_layer(rng, 2, 5, 4)
    prog = compile_layer(cfg, x, w)
    x2, w2 = random_layer(rng, 2, 5, 4)
    other = compile_layer(cfg, x2, w2)
    drain = commands.drain(0, 2 * 2)
    assert prog.words[-len(drain):] == drain
    words = [*prog.words[:-len(drain)],
             0xFFFF_FFFF,                                  # garbage: BAD_HEADER
             *other.words[:-len(drain)],                   # loads + MATMUL: not executed
             *drain,                                       # header only, with the flags
             *commands.clear(),
             *drain]
    n = 2 + prog.response_words
    run = rtl_accelerator_amaranth(cfg, words, n)
    assert parse_response(run.response[:2], Opcode.DRAIN)[0].errors == ErrorFlag.BAD_HEADER
    np.testing.assert_array_equal(prog.decode(run.response[2:]), ref_acc(x, w))


def test_loads_are_all_or_nothing(rng):
    """A load refused for any reason (an illegal code in its second word, a bad CRC, an
    overrun) writes none of its words: after CLEAR, the old weights and activations are
    still there and the product is the old one."""
    cfg = small_config(rows=2, cols=2)
    x, w = random_layer(rng, 2, 4, 2)
    prog = compile_layer(cfg, x, w)
    drain = commands.drain(0, 2)
    image = compile_weights(cfg, -w).words                    # other weights
    illegal = [*image[:1], ILLEGAL_WEIGHT_CODE, *image[2:]]
    acts = pack_act_words(cfg, tile_acts(cfg, -x).reshape(-1, cfg.rows))
    words = [*prog.words[:-len(drain)]]
    for bad in (commands.load_weights(cfg, 0, illegal),
                _bad_crc(commands.load_weights(cfg, 0, image)),
                _bad_crc(commands.load_acts(cfg, 0, acts))):
        words += [*bad, *commands.clear(counters=False)]
    words += [*commands.load_acts(cfg, cfg.act_depth - 1, acts),     # overrun: not written
              *commands.clear(counters=False),
              *commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=2, k_tiles=2, n_tiles=1),
              *drain]
    run = rtl_accelerator_amaranth(cfg, words, prog.response_words, p_idle=0.2, p_stall=0.2)
    np.testing.assert_array_equal(prog.decode(run.response), ref_acc(x, w))
    assert run.response == FunctionalAccelerator(cfg).run(words)


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_accumulating_past_acc_bits_raises_acc_overflow(lanes):
    """Two ACCUMULATE passes whose sum leaves the accumulator's range: ACC_OVERFLOW, and the
    functional model says the same. The sum leaves it at the last K-slice, whose accumulator
    comes back 4, 2 and 1 cycles after the previous K-slice's (forwarded, at 2 and 1)."""
    k = 16
    cfg = AcceleratorConfig(rows=4, cols=1, max_k=k, acc_bits=AcceleratorConfig().psum_bits(k),
                            weight_depth=16, act_depth=8, acc_depth=4,
                            weight_rows_per_cycle=lanes)
    x = np.full((1, k), -128, dtype=np.int8)
    w = -np.ones((1, k), dtype=np.int8)                       # each pass: +2048 = 2**11
    prog = compile_layer(cfg, x, w)
    again = commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1, k_tiles=4, n_tiles=1,
                            accumulate=True)
    drain = commands.drain(0, 1)
    words = [*prog.words[:-len(drain)], *commands.read_status(), *again,
             *commands.read_status()]
    n = 2 * response_words(cfg, Opcode.READ_STATUS)
    run = rtl_accelerator_amaranth(cfg, words, n)
    assert run.response == FunctionalAccelerator(cfg).run(words)
    first, second = (parse_status(parse_response(part, Opcode.READ_STATUS)[1]).errors
                     for part in (run.response[:n // 2], run.response[n // 2:]))
    assert (first, second) == (0, ErrorFlag.ACC_OVERFLOW)


def test_resync_recovers_from_a_cut_anywhere(rng, seed):
    """A program cut at a random word and followed by the resync words: the SYNC response
    carries the token with no flag, and the whole program then runs bit-exact, on the RTL as
    on the functional model, without a reset."""
    import random
    cfg = small_config(rows=2, cols=2, max_load=2)
    x, w = random_layer(rng, 2, 5, 3)
    prog = compile_layer(cfg, x, w)
    pick = random.Random(seed)
    for _ in range(3):
        cut = pick.randrange(1, len(prog.words))
        words = [*prog.words[:cut], *commands.resync(cfg, cut), *prog.words]
        expect = FunctionalAccelerator(cfg).run(words)
        run = rtl_accelerator_amaranth(cfg, words, len(expect), p_idle=0.2, p_stall=0.2,
                                       seed=pick.randrange(1 << 20))
        assert run.response == expect
        tail = run.response[-prog.response_words:]
        header, token = split_responses(run.response[:-prog.response_words])[-1]
        assert (header.opcode, header.errors, token) == (Opcode.SYNC, 0, [cut])
        np.testing.assert_array_equal(prog.decode(tail), ref_acc(x, w))


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
        drain = len(commands.drain(0, 1))
        for word in prog.words[:-drain]:                 # loads and MATMUL, no DRAIN
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


# (simulator, rows, cols, weight format, weight rows per cycle, layer M x K x N): every shape
# on Verilator, the small ones on Icarus too (Icarus runs a 16x16 array at a few hundred cycles
# per second).
CASES = [
    ("icarus", 2, 2, "2bit", 1, (3, 9, 5)),
    ("icarus", 4, 8, "1.6bit", 1, (2, 13, 19)),
    ("icarus", 3, 2, "2bit", 2, (1, 10, 5)),
    ("icarus", 4, 4, "1.6bit", 4, (2, 13, 9)),
    ("verilator", 2, 2, "1.6bit", 1, (4, 7, 3)),
    ("verilator", 4, 8, "2bit", 1, (5, 21, 17)),
    ("verilator", 8, 8, "1.6bit", 1, (3, 30, 20)),
    ("verilator", 8, 4, "1.6bit", 2, (1, 30, 20)),
    ("verilator", 16, 16, "2bit", 1, (20, 40, 35)),
    ("verilator", 16, 16, "2bit", 4, (1, 40, 35)),
    ("verilator", 4, 4, "1.6bit", 4, (1, 13, 9)),     # one tile per cycle: sums forwarded
]


@pytest.mark.cosim
@pytest.mark.parametrize(("simulator", "rows", "cols", "weight_format", "lanes", "shape"), CASES,
                         ids=[f"{c[0]}-{c[1]}x{c[2]}-{c[3]}-w{c[4]}" for c in CASES])
def test_accelerator_verilog_is_bit_exact(simulator, rows, cols, weight_format, lanes, shape,
                                          rng, seed, waves, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_format=weight_format,
                            weight_rows_per_cycle=lanes, weight_depth=512, act_depth=256,
                            acc_depth=128, max_k=4096, acc_bits=24)
    m, k, n = shape
    layers = []
    for _ in range(2):      # two programs in one simulator process, on the same memories
        x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
        w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
        layers.append((x, w, compile_layer(cfg, x, w, measure=True)))
    runs = rtl_accelerator_cocotb(cfg, [p for *_, p in layers], simulator=simulator,
                                  test_dir=tmp_path, p_idle=0.25, p_stall=0.35, seed=seed,
                                  waves=waves)
    for (x, w, prog), run in zip(layers, runs, strict=True):
        np.testing.assert_array_equal(prog.decode(run.response), ref_acc(x, w))
        counters = prog.counters(run.response)
        assert counters[Counter.COMPUTE] == layer_work(cfg, m=m, k=k, n=n).cycles
        assert counters[Counter.MACS] == m * cfg.k_tiles(k) * cfg.n_tiles(n) * rows * cols


def _edge_value(pick, limits):
    """An argument near one of the limits (or far beyond every one)."""
    limit = pick.choice(limits)
    return pick.choice([0, 1, 2, max(0, limit - 1), limit, limit + 1, 2 * limit,
                        (1 << 25) - 1, 1 << 25, 0xFFFF_FFFF, pick.randrange(0, limit + 2)])


@pytest.mark.parametrize("cfg", [
    AcceleratorConfig(rows=2, cols=3, weight_depth=40, act_depth=24, acc_depth=12, max_k=16,
                      acc_bits=20, max_load=4),
    AcceleratorConfig(rows=3, cols=2, weight_depth=64, act_depth=100, acc_depth=7, max_k=1024,
                      acc_bits=20, max_load=3, weight_format="1.6bit"),
    AcceleratorConfig(rows=4, cols=1, weight_depth=3, act_depth=5, acc_depth=1, max_k=2,
                      acc_bits=20, max_load=1),
    AcceleratorConfig(rows=3, cols=2, weight_depth=20, act_depth=30, acc_depth=7, max_k=64,
                      acc_bits=20, max_load=3, weight_format="1.6bit", weight_rows_per_cycle=2),
    AcceleratorConfig(rows=4, cols=2, weight_depth=9, act_depth=12, acc_depth=6, max_k=64,
                      acc_bits=20, max_load=2, weight_rows_per_cycle=4),
], ids=["2x3", "3x2-1.6bit", "4x1-tiny", "3x2-1.6bit-wide2", "4x2-wide4"])
def test_checks_at_the_limits_match_the_functional_model(cfg, seed):
    """MATMUL, DRAIN and loads with arguments at, around and far beyond every limit (the
    controller keeps narrow arguments and computes the extents serially), each followed by
    READ_STATUS and CLEAR: the RTL's responses are the functional model's, word for word."""
    import random
    pick = random.Random(seed)
    limits = [cfg.weight_depth, cfg.act_depth, cfg.acc_depth, cfg.weight_rows,
              cfg.max_k // cfg.rows, cfg.max_load, 3]
    words = []
    for _ in range(40):
        kind = pick.randrange(4)
        if kind == 0:
            if pick.random() < 0.5:                 # small, often legal
                a = [pick.randrange(0, top + 1) for top in (
                    cfg.weight_depth // 2, cfg.act_depth // 2, cfg.acc_depth // 2, 3, 3, 3)]
            else:
                a = [_edge_value(pick, limits) for _ in range(6)]
            words += commands.matmul(w_addr=a[0], a_addr=a[1], acc_addr=a[2], m=a[3],
                                     k_tiles=a[4], n_tiles=a[5])
        elif kind == 1:
            words += commands.drain(_edge_value(pick, limits),
                                    pick.choice([_edge_value(pick, limits), 0, 1, 2]))
        elif kind == 2:
            opcode = pick.choice([Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS])
            addr = _edge_value(pick, limits)
            count = pick.choice([0, 1, cfg.max_load, cfg.max_load + 1, _edge_value(pick, limits)])
            bits = cfg.weight_word_bits if opcode == Opcode.LOAD_WEIGHTS else cfg.act_word_bits
            n = count if 1 <= count <= cfg.max_load else 0
            data = [pick.randrange(1 << 32) & 0x5555_5555        # no illegal weight code
                    for _ in range(n * cfg.stream_words(bits))]
            header = [command_header(opcode), addr, count]
            words += with_crc([*header, *data]) if n else header
        else:
            words += commands.sync(pick.randrange(1 << 32))
        words += [*commands.read_status(), *commands.clear()]
    expect = FunctionalAccelerator(cfg).run(words)
    run = rtl_accelerator_amaranth(cfg, words, len(expect), p_idle=0.2, p_stall=0.2,
                                   seed=pick.randrange(1 << 20))
    assert run.response == expect
