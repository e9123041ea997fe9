# SPDX-License-Identifier: BSD-2-Clause
"""Weights streamed from external memory over AXI4 (``weight_memory = "axi"``, issue 14): the
configuration's checks, the contract's rules, and the whole accelerator under cocotb (Icarus
and Verilator) with cocotbext-axi's AxiRamRead on its ``m_axi`` port (random AR/R pauses,
injected faults), its weight traffic counters against the functional model's."""

import re
from dataclasses import replace

import numpy as np
import pytest

from firmware import commands
from firmware.compiler import compile_matmul, compile_weights
from firmware.functional import FunctionalAccelerator
from firmware.runtime import FunctionalBackend, Runtime
from golden.contract.codecs import pack_act_words, pack_weight_rows, unpack_weight_rows
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    CommandError,
    Counter,
    ErrorFlag,
    Opcode,
    load_error,
    matmul_error,
    parse_counters,
    parse_response,
    parse_status,
    prefetch_error,
    prefetch_tiles_limit,
    response_words,
)
from golden.contract.memory import (
    PREFETCHED_WAIT,
    MemorySystem,
    WeightTraffic,
    axi_bursts,
    decode_projection,
    external_matmul_cycles,
    matmul_traffic,
    matmul_words,
    program_traffic,
)
from golden.contract.tileloop import matmul_work
from golden.contract.workloads import MODELS
from tests.helpers import ref_acc

SMALL = {"max_k": 256, "acc_bits": 20, "weight_depth": 64, "act_depth": 64, "acc_depth": 32}
#: Two widths of the weight path (4 and 8 rows per cycle, 64-bit words), one array not square;
#: 1.6-bit weights decoded a word per beat: a whole 10-row tile per 64-bit word, and 15 rows
#: at 10 per cycle (two 128-bit words per tile, the second half padding); bursts of 4 words so
#: that a MATMUL takes several.
CONFIGS = {
    "8x8-w4": AcceleratorConfig(rows=8, cols=8, weight_rows_per_cycle=4, weight_memory="axi",
                                axi_max_burst=4, axi_outstanding=2, **SMALL),
    "16x4-w8": AcceleratorConfig(rows=16, cols=4, weight_rows_per_cycle=8, weight_memory="axi",
                                 axi_max_burst=4, axi_outstanding=2, **SMALL),
    "10x4-w10-1.6bit": AcceleratorConfig(rows=10, cols=4, weight_rows_per_cycle=10,
                                         weight_format="1.6bit", weight_memory="axi",
                                         axi_max_burst=4, axi_outstanding=2, **SMALL),
    "15x8-w10-1.6bit": AcceleratorConfig(rows=15, cols=8, weight_rows_per_cycle=10,
                                         weight_format="1.6bit", weight_memory="axi",
                                         axi_max_burst=4, axi_outstanding=2, **SMALL),
}
MEM_BYTES = 1 << 16


def axi(**kw) -> AcceleratorConfig:
    return AcceleratorConfig(**{**SMALL, "rows": 8, "cols": 8, "weight_rows_per_cycle": 4,
                                "weight_memory": "axi", **kw})


# ---- configuration and contract -----------------------------------------------------------

@pytest.mark.parametrize(("kw", "message"), [
    ({"weight_rows_per_cycle": 2},
     "a power of two from 64 to 1024 bits, not 32: change weight_rows_per_cycle"),
    ({"rows": 6, "cols": 6, "weight_rows_per_cycle": 6}, "weight_rows_per_cycle=6) that is a "
     "power of two from 64 to 1024 bits, not 72"),
    ({"weight_format": "1.6bit"}, "so weight_rows_per_cycle must be a multiple of 5, not 4"),
    ({"weight_format": "1.6bit", "rows": 10, "cols": 6, "weight_rows_per_cycle": 10},
     "(the AXI data width: 8 x cols=6 x weight_rows_per_cycle=10 / 5) that is a power of two "
     "from 64 to 1024 bits, not 96"),
    ({"axi_addr_width": 64}, "axi_addr_width must be 32, not 64"),
    ({"axi_max_burst": 0}, "axi_max_burst must be between 1 and 256, not 0"),
    ({"axi_outstanding": 65}, "axi_outstanding must be between 1 and 64, not 65"),
    ({"axi_max_burst": 1, "axi_outstanding": 1},
     "axi_outstanding=1 x axi_max_burst=1 words of buffer cannot hold one tile of 2 words"),
    ({"rows": 32, "cols": 16, "weight_rows_per_cycle": 16, "axi_max_burst": 128},
     "axi_max_burst must be at most 64 beats of 512 bits"),
    ({"weight_memory": "dram"}, "weight_memory must be one of onchip, axi, not 'dram'"),
])
def test_bad_configurations_are_refused_naming_the_value(kw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        axi(**kw)


def test_the_weight_word_is_the_axi_beat():
    cfg = axi()
    assert (cfg.weight_word_bits, cfg.weight_word_bytes, cfg.tile_beats) == (64, 8, 2)
    assert cfg.weight_words == (1 << 32) // 8
    assert AcceleratorConfig(**SMALL).weight_words == SMALL["weight_depth"]


def test_1_6bit_words_over_axi_are_one_beat_of_five_rows_per_lane(rng):
    """1.6-bit over AXI: a word of L lanes (L = W / 5) is one beat of W rows, laid out as the
    on-chip 1.6-bit word of L lanes (the same packer), and the memory model counts its words
    and bytes: a 40x16 tile is one 1024-bit word, 1.6 bits per weight."""
    cfg = AcceleratorConfig(rows=40, cols=16, weight_rows_per_cycle=40, weight_memory="axi",
                            weight_format="1.6bit")
    assert (cfg.weight_lanes, cfg.weight_word_bits, cfg.weight_beats_per_word,
            cfg.weight_rows_per_word, cfg.tile_beats) == (8, 1024, 1, 40, 1)
    onchip = AcceleratorConfig(rows=40, cols=16, weight_rows_per_cycle=8,
                               weight_format="1.6bit")
    assert not onchip.weight_parallel_decode and onchip.weight_word_bits == 1024
    w = rng.integers(-1, 2, (5 * 40, 16))
    words = pack_weight_rows(cfg, w)
    assert words == pack_weight_rows(onchip, w) and len(words) == 5
    assert np.array_equal(unpack_weight_rows(cfg, words, len(w)), w)
    # down_proj of 2B-4T: K = 6912 is 172.8 tiles of 40 rows, padded to 173.
    work = matmul_work(cfg, m=1, k_tiles=cfg.k_tiles(6912), n_tiles=cfg.n_tiles(2560))
    assert matmul_words(cfg, work) == 173 * 160
    traffic = matmul_traffic(cfg, work, w_addr=0)
    assert traffic.bytes == 173 * 160 * 128 and traffic.bursts == 173 * 160 // 16
    mem = MemorySystem.from_rates(gbytes_per_s=19.2, clock_mhz=200)
    p = decode_projection(cfg, MODELS["2B-4T"], mem=mem, clock_mhz=200)
    weights = MODELS["2B-4T"].bitlinear_weights
    assert p["weight_bytes_per_token"] == weights * 0.2 + 30 * 8 * 2560 * 0.2   # the padding
    two = replace(cfg, weight_format="2bit", rows=32, weight_rows_per_cycle=32)
    assert decode_projection(two, MODELS["2B-4T"], mem=mem, clock_mhz=200)[
        "weight_bytes_per_token"] == weights * 2 / 8


def test_matmul_error_checks_the_byte_address():
    cfg = axi()                     # 8-byte words, 2 per tile
    shape = {"a_addr": 0, "acc_addr": 0, "m": 1, "k_tiles": 2, "n_tiles": 2}   # 8 words
    ok = matmul_error(cfg, w_addr=0x1000, **shape)
    assert ok == ErrorFlag(0)
    assert matmul_error(cfg, w_addr=0x1004, **shape) == ErrorFlag.OVERRUN        # misaligned
    assert matmul_error(cfg, w_addr=(1 << 32) - 64, **shape) == ErrorFlag(0)      # to the end
    assert matmul_error(cfg, w_addr=(1 << 32) - 56, **shape) == ErrorFlag.OVERRUN  # past it
    # LOAD_WEIGHTS: there is no weight memory, every range overruns it.
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 0, 1) == ErrorFlag.OVERRUN
    assert load_error(cfg, Opcode.LOAD_ACTS, 0, 1) == ErrorFlag(0)


def test_compiler_refuses_a_bad_weight_base_naming_it(rng):
    cfg = axi()
    x, w = rng.integers(-128, 128, (2, 16)), rng.integers(-1, 2, (8, 16))
    image = compile_weights(cfg, w)
    with pytest.raises(CommandError, match=re.escape("weight byte address 4100 (0x1004) would "
                                                     "raise OVERRUN")):
        compile_matmul(image, x, weight_base=0x1004)
    with pytest.raises(CommandError, match="cannot be loaded inline"):
        compile_matmul(image, x)
    program = compile_matmul(image, x, weight_base=0x1000)
    model = FunctionalAccelerator(cfg)
    model.write_external(0x1000, image.to_bytes())
    assert np.array_equal(program.decode(model.run(program.words)), ref_acc(x, w))


@pytest.mark.parametrize("fmt", ["2bit", "1.6bit"])
def test_functional_model_reads_external_memory(rng, fmt):
    cfg = axi() if fmt == "2bit" else axi(rows=10, cols=4, weight_rows_per_cycle=10,
                                          weight_format=fmt)
    runtime = Runtime(FunctionalBackend(cfg), measure=True)
    for m, k, n in [(3, 40, 20), (1, 64, 16)]:
        x, w = rng.integers(-128, 128, (m, k)), rng.integers(-1, 2, (n, k))
        assert np.array_equal(runtime.matmul(x, w), ref_acc(x, w))
        stats = runtime.stats[-1]
        work = matmul_work(cfg, m=m, k_tiles=cfg.k_tiles(k), n_tiles=cfg.n_tiles(n))
        assert stats.cycles == work.cycles          # the schedule without memory stalls
    model = FunctionalAccelerator(cfg, external_bytes=256)
    model.run(commands.matmul(w_addr=192, a_addr=0, acc_addr=0, m=1, k_tiles=4,
                              n_tiles=4 // cfg.tile_beats))
    assert model.errors == ErrorFlag.MEMORY_ERROR  # 16 words past the 256 bytes: SLVERR
    model.run(commands.clear() + commands.load_weights(cfg, 0, [0]))
    assert model.errors == ErrorFlag.OVERRUN


# ---- the RTL under cocotb -----------------------------------------------------------------

@pytest.fixture(scope="module", params=[("8x8-w4", "icarus"), ("16x4-w8", "icarus"),
                                        ("8x8-w4", "verilator"),
                                        ("10x4-w10-1.6bit", "icarus"),
                                        ("15x8-w10-1.6bit", "icarus")], ids="-".join)
def rtl(request, tmp_path_factory):
    from sim.backends import CocotbBackend
    name, simulator = request.param
    cfg = CONFIGS[name]
    backend = CocotbBackend(cfg, simulator=simulator, axi_memory_bytes=MEM_BYTES,
                            work_dir=tmp_path_factory.mktemp(f"{name}-{simulator}"),
                            max_compute_cycles=200_000)
    yield backend
    backend.close()


def _layer(rng, cfg, m, k, n, base, backend):
    x, w = rng.integers(-128, 128, (m, k)), rng.integers(-1, 2, (n, k))
    image = compile_weights(cfg, w)
    backend.write_external(base, image.to_bytes())
    return x, w, compile_matmul(image, x, weight_base=base, measure=True)


def _compute(cfg, program, response) -> int:
    return program.counters(response)[Counter.COMPUTE]


def test_bit_exact_under_random_pauses(rtl, seed, rng):
    """Several shapes, each against golden and the functional model, with AR and R paused at
    random. The weight traffic counters (MEM_BYTES, MEM_BURSTS) equal the functional model's
    and the contract's split, with images that start 3 words or half a page below a 4 KiB
    boundary."""
    cfg = rtl.config
    rtl.set_axi_pauses(p_ar=0.3, p_r=0.3, seed=seed)
    shapes = [(5, 40, 20), (1, 64, 16), (16, 16, 8), (2, 3 * cfg.rows, 3 * cfg.cols)]
    crossings = 0
    for i, (m, k, n) in enumerate(shapes):
        base = 0x2000 * (i + 1) - (3 * cfg.weight_word_bytes if i % 2 else 0x800)
        x, w, program = _layer(rng, cfg, m, k, n, base, rtl)
        model = FunctionalAccelerator(cfg, external_bytes=MEM_BYTES)
        model.write_external(base, compile_weights(cfg, w).to_bytes())
        response = rtl.run(program)
        acc = program.decode(response)
        assert np.array_equal(acc, ref_acc(x, w)), f"shape {(m, k, n)}"
        model_response = model.run(program.words)
        assert np.array_equal(acc, program.decode(model_response))
        have, want = program.counters(response), program.counters(model_response)
        traffic = program_traffic(cfg, program.words)
        for c, expect in ((Counter.MEM_BYTES, traffic.bytes),
                          (Counter.MEM_BURSTS, traffic.bursts)):
            assert have[c] == want[c] == expect, f"shape {(m, k, n)}: {c.name}"
        size = len(compile_weights(cfg, w).to_bytes())
        crossings += base // 4096 != (base + size - 1) // 4096
    assert crossings >= 2, "no image crossed a 4 KiB boundary"


def test_traffic_counters_count_every_matmul_until_clear(rtl, rng):
    """Two MATMULs (the second at an address 1 word below 4 KiB, so its first burst is one
    beat) add up; CLEAR of the counters zeroes MEM_BYTES and MEM_BURSTS with the others."""
    cfg = rtl.config
    rtl.set_axi_pauses()
    m, k, n = 2, 2 * cfg.rows, 2 * cfg.cols
    x, w = rng.integers(-128, 128, (m, k)), rng.integers(-1, 2, (n, k))
    image = compile_weights(cfg, w)
    bases = (0x5000, 0x7000 - cfg.weight_word_bytes)
    for base in bases:
        rtl.write_external(base, image.to_bytes())
    acts = pack_act_words(cfg, x.reshape(m, -1, cfg.rows).reshape(-1, cfg.rows))
    shape = {"a_addr": 0, "acc_addr": 0, "m": m, "k_tiles": 2, "n_tiles": 2}
    work = matmul_work(cfg, m=m, k_tiles=2, n_tiles=2)
    want = [matmul_traffic(cfg, work, w_addr=base) for base in bases]
    assert axi_bursts(bases[1], want[1].bytes, beat_bytes=cfg.weight_word_bytes,
                      max_burst=cfg.axi_max_burst)[0] == (bases[1], 1)

    def counters(words):
        response = rtl.execute([*words, *commands.read_counters()],
                               response_words(cfg, Opcode.READ_COUNTERS))
        header, payload = parse_response(response, Opcode.READ_COUNTERS)
        header.raise_on_error()
        c = parse_counters(payload)
        return c[Counter.MEM_BYTES], c[Counter.MEM_BURSTS]

    assert counters(commands.clear() + commands.load_acts(cfg, 0, acts)
                    + commands.matmul(w_addr=bases[0], **shape)
                    + commands.matmul(w_addr=bases[1], **shape)) == (
        want[0].bytes + want[1].bytes, want[0].bursts + want[1].bursts)
    assert counters(commands.clear(errors=False)) == (0, 0)


def test_compute_counter_against_the_cycle_model(rtl, rng):
    """Without pauses and with M >= 4 words of bandwidth per tile, the memory never stalls
    the schedule: COMPUTE is the tile loop's cycles plus the wait for the first tile, the
    same for every shape whose first burst is whole. With R served one cycle in two, decode
    (M = 1) is memory-bound: COMPUTE grows, and stays within the bound of
    golden.contract.memory.external_matmul_cycles for a memory of half a word per cycle whose
    latency is the first tile's wait plus the 4 cycles from R to the gate."""
    cfg = rtl.config
    rtl.set_axi_pauses(p_ar=0.0, p_r=0.0)
    extra = set()
    f = -(-2 // cfg.tile_beats)      # at one word per tile, twice the N-slices: 6 words or more
    for m, k, n in [(8, 2 * cfg.rows, 2 * f * cfg.cols), (12, 3 * cfg.rows, f * cfg.cols),
                    (4, 4 * cfg.rows, 2 * f * cfg.cols)]:
        _, _, program = _layer(rng, cfg, m, k, n, 0x4000, rtl)
        work = matmul_work(cfg, m=m, k_tiles=cfg.k_tiles(k), n_tiles=cfg.n_tiles(n))
        compute = _compute(cfg, program, rtl.run(program))
        extra.add(compute - work.cycles)
    print(f"{cfg.rows}x{cfg.cols} W={cfg.weight_rows_per_cycle}: stall-free COMPUTE = tile "
          f"loop + {sorted(extra)}")
    assert len(extra) == 1, f"the schedule stretched: COMPUTE - tile loop = {sorted(extra)}"
    first_tile = extra.pop()
    # Exactly (hw/DESIGN.md): AxiRamRead's latency, one 4-word burst, the reader's commit,
    # its block RAM's output register and the gate's register, whatever the word. A cycle
    # more here is a cycle more per MATMUL.
    assert cfg.axi_max_burst == 4 and first_tile == 13

    every = 2
    rtl.set_axi_pauses(r_every=every)
    m, k, n = 1, 4 * cfg.rows, 4 * cfg.cols
    _, _, program = _layer(rng, cfg, m, k, n, 0x8000, rtl)
    work = matmul_work(cfg, m=m, k_tiles=cfg.k_tiles(k), n_tiles=cfg.n_tiles(n))
    compute = _compute(cfg, program, rtl.run(program))
    words = work.tiles * cfg.tile_beats
    # The memory's latency as the schedule sees it: the stall-free wait for the first tile,
    # plus the 4 cycles from a burst's last beat on R to the gate (the reader's R register,
    # its two commit registers, the gate's register), which every burst pays.
    mem = MemorySystem(bytes_per_cycle=cfg.weight_word_bytes / every, latency=first_tile + 4,
                       outstanding=cfg.axi_outstanding,
                       burst_bytes=cfg.axi_max_burst * cfg.weight_word_bytes)
    bound = external_matmul_cycles(work, mem, weight_bytes=words * cfg.weight_word_bytes)
    print(f"decode {words} words, R one cycle in {every}: COMPUTE {compute}, tile loop "
          f"{work.cycles}, bound {bound:.0f}")
    assert work.cycles + first_tile < compute <= bound
    rtl.set_axi_pauses()


def _drain_all(cfg, backend) -> np.ndarray:
    words = commands.drain(0, cfg.acc_depth)
    header, payload = parse_response(
        backend.execute(words, response_words(cfg, Opcode.DRAIN, count=cfg.acc_depth)),
        Opcode.DRAIN)
    header.raise_on_error()
    return np.array(payload, dtype=np.int64).reshape(cfg.acc_depth, cfg.cols)


def _status(cfg, backend) -> ErrorFlag:
    response = backend.execute(commands.read_status(), response_words(cfg, Opcode.READ_STATUS))
    return parse_status(parse_response(response, Opcode.READ_STATUS)[1]).errors


@pytest.mark.parametrize("fault", ["slverr", "decerr", "early_last"])
def test_a_memory_error_ends_the_matmul_and_clear_recovers(rtl, fault, rng):
    """SLVERR (a read past the memory), DECERR and a truncated burst injected in the third
    burst: MEMORY_ERROR, busy falls (the harness ends the program only once the accelerator
    is idle), no accumulator outside the MATMUL's range changes; after CLEAR the same MATMUL
    is exact."""
    cfg = rtl.config
    rtl.set_axi_pauses(p_ar=0.2, p_r=0.2, seed=3)
    # 8 tiles of 2 words, or 16 of 1: 16 words, 4 bursts.
    m, k, n = 3, 4 * cfg.rows * -(-2 // cfg.tile_beats), 2 * cfg.cols
    x, w = rng.integers(-128, 128, (m, k)), rng.integers(-1, 2, (n, k))
    image = compile_weights(cfg, w)
    acts = pack_act_words(cfg, x.reshape(m, -1, cfg.rows).reshape(-1, cfg.rows))
    base = 0x3000
    rtl.write_external(base, image.to_bytes())
    shape = {"a_addr": 0, "m": m, "k_tiles": cfg.k_tiles(k), "n_tiles": cfg.n_tiles(n)}
    lo, hi = 10, 10 + shape["n_tiles"] * m                    # the MATMUL's accumulators
    # Known values everywhere first: two good MATMULs around the range.
    rtl.execute(commands.clear() + commands.load_acts(cfg, 0, acts)
                + commands.matmul(w_addr=base, acc_addr=0, **shape)
                + commands.matmul(w_addr=base, acc_addr=cfg.acc_depth - hi + lo, **shape), 0)
    assert _status(cfg, rtl) == ErrorFlag(0)
    before = _drain_all(cfg, rtl)

    w_addr = base
    if fault == "slverr":        # the last burst runs past the memory's end
        w_addr = MEM_BYTES - 3 * cfg.axi_max_burst * cfg.weight_word_bytes
        rtl.write_external(w_addr, image.to_bytes()[:MEM_BYTES - w_addr])
    else:
        rtl.inject_axi_fault(fault, burst=2, beat=1)
    rtl.execute(commands.matmul(w_addr=w_addr, acc_addr=lo, **shape), 0)
    assert _status(cfg, rtl) == ErrorFlag.MEMORY_ERROR
    rtl.execute(commands.clear(), 0)
    after = _drain_all(cfg, rtl)
    outside = np.r_[0:lo, hi:cfg.acc_depth]
    assert np.array_equal(after[outside], before[outside])

    rtl.execute(commands.matmul(w_addr=base, acc_addr=lo, **shape), 0)
    assert _status(cfg, rtl) == ErrorFlag(0)
    acc = _drain_all(cfg, rtl)[lo:hi]
    got = acc.reshape(shape["n_tiles"], m, cfg.cols).transpose(1, 0, 2).reshape(m, -1)[:, :n]
    assert np.array_equal(np.where(got >= 1 << 31, got - (1 << 32), got), ref_acc(x, w))
    rtl.set_axi_pauses()


def test_bad_commands_raise_their_flags(rtl):
    """A misaligned or too long weight range is OVERRUN (the MATMUL does not run), and so is
    any LOAD_WEIGHTS: there is no weight memory."""
    cfg = rtl.config
    shape = {"a_addr": 0, "acc_addr": 0, "m": 1, "k_tiles": 1, "n_tiles": 1}
    for words in (commands.matmul(w_addr=0x1004, **shape),
                  commands.matmul(w_addr=(1 << 32) - cfg.weight_word_bytes,
                                  **{**shape, "n_tiles": 2}),
                  commands.load_weights(cfg, 0, [0])):
        rtl.execute(commands.clear() + words, 0)
        assert _status(cfg, rtl) == ErrorFlag.OVERRUN
    rtl.execute(commands.clear() + commands.matmul(w_addr=(1 << 32) - cfg.tile_beats
                                                   * cfg.weight_word_bytes, **shape), 0)
    # In range of the address space, past the memory: the bus answers SLVERR.
    assert _status(cfg, rtl) == ErrorFlag.MEMORY_ERROR
    rtl.execute(commands.clear(), 0)
    assert _status(cfg, rtl) == ErrorFlag(0)


# ---- PREFETCH: the next MATMUL's weights read ahead ----------------------------------------

#: (k_tiles, n_tiles) of the MATMULs A, B, C and of X, prefetched and then not used. B and
#: X are 8 words, what the reader of CONFIGS["8x8-w4"] holds (2 bursts of 4 words): all of
#: a prefetch is in the reader before the MATMUL that takes or discards it starts.
PREFETCH_SHAPES = {"A": (2, 2), "B": (2, 2), "X": (2, 2), "C": (3, 1)}


def _prefetch_program(rng, cfg, *targets, m):
    """Weights of A, B, X, C written into each of ``targets`` (B one word below a 4 KiB
    boundary) and the programs: ``plain`` (MATMUL A, B, C) and ``prefetched`` (PREFETCH B,
    MATMUL A, PREFETCH X, MATMUL B, which is prefetched, MATMUL C, which discards X)."""
    bases = {"A": 0x1000, "B": 0x2000 - cfg.weight_word_bytes, "X": 0x3000, "C": 0x4000}
    k = 3 * cfg.rows
    x = rng.integers(-128, 128, (m, k))
    acts = pack_act_words(cfg, x.reshape(m, -1, cfg.rows).reshape(-1, cfg.rows))
    for name, (kt, nt) in PREFETCH_SHAPES.items():
        image = compile_weights(cfg, rng.integers(-1, 2, (nt * cfg.cols, kt * cfg.rows)))
        for target in targets:
            target.write_external(bases[name], image.to_bytes())
    acc = {"A": 0, "B": 2 * m, "C": 4 * m}

    def mm(name):
        kt, nt = PREFETCH_SHAPES[name]
        return commands.matmul(w_addr=bases[name], a_addr=0, acc_addr=acc[name], m=m,
                               k_tiles=kt, n_tiles=nt)

    def pf(name):
        kt, nt = PREFETCH_SHAPES[name]
        return commands.prefetch(w_addr=bases[name], tiles=kt * nt)

    head = commands.load_acts(cfg, 0, acts)
    steps = [("A", pf("B") + mm("A")), ("B", pf("X") + mm("B")), ("C", mm("C"))]
    return {"plain": head + mm("A") + mm("B") + mm("C"),
            "prefetched": head + [w for _, words in steps for w in words],
            "steps": steps, "mm": mm, "acts": head}, bases


def _traffic(cfg, bases) -> WeightTraffic:
    """Every region of PREFETCH_SHAPES read once."""
    return sum((matmul_traffic(cfg, matmul_work(cfg, m=1, k_tiles=kt, n_tiles=nt),
                               w_addr=bases[name])
                for name, (kt, nt) in PREFETCH_SHAPES.items()), start=WeightTraffic())


def test_prefetch_contract_and_functional_model(rng):
    """PREFETCH's checks are MATMUL's weight rule (prefetch_error); on-chip weights refuse it;
    a refused one records nothing. The functional model's results do not depend on it; its
    traffic counts each prefetched read once, taken or discarded."""
    cfg = axi()                     # 8-byte words, 2 per tile
    limit = prefetch_tiles_limit(cfg)
    assert limit == min(cfg.max_k // cfg.rows, cfg.act_depth) * cfg.acc_depth
    assert prefetch_error(cfg, w_addr=0x1000, tiles=4) == ErrorFlag(0)
    assert prefetch_error(cfg, w_addr=0x1004, tiles=4) == ErrorFlag.OVERRUN
    assert prefetch_error(cfg, w_addr=(1 << 32) - 64, tiles=4) == ErrorFlag(0)
    assert prefetch_error(cfg, w_addr=(1 << 32) - 56, tiles=4) == ErrorFlag.OVERRUN
    assert prefetch_error(cfg, w_addr=0, tiles=0) == ErrorFlag.BAD_SHAPE
    assert prefetch_error(cfg, w_addr=0, tiles=limit) == ErrorFlag(0)
    assert prefetch_error(cfg, w_addr=0, tiles=limit + 1) == ErrorFlag.BAD_SHAPE
    onchip = AcceleratorConfig(**SMALL)
    assert prefetch_error(onchip, w_addr=0, tiles=1) == ErrorFlag.BAD_SHAPE
    model = FunctionalAccelerator(onchip)
    model.run(commands.prefetch(w_addr=0, tiles=1))
    assert model.errors == ErrorFlag.BAD_SHAPE and model.prefetch is None

    model = FunctionalAccelerator(cfg, external_bytes=MEM_BYTES)
    model.run(commands.prefetch(w_addr=0x1004, tiles=1))
    assert model.errors == ErrorFlag.OVERRUN and model.prefetch is None
    plain = FunctionalAccelerator(cfg, external_bytes=MEM_BYTES)
    programs, bases = _prefetch_program(rng, cfg, model, plain, m=2)
    model.run(commands.clear() + programs["prefetched"])
    plain.run(programs["plain"])
    assert model.errors == plain.errors == ErrorFlag(0)
    assert np.array_equal(model.acc, plain.acc)
    traffic = _traffic(cfg, bases)
    c = model.counters
    assert (c[Counter.MEM_BYTES], c[Counter.MEM_BURSTS]) == (traffic.bytes, traffic.bursts)
    kt, nt = PREFETCH_SHAPES["X"]
    x_bytes = matmul_traffic(cfg, matmul_work(cfg, m=1, k_tiles=kt, n_tiles=nt),
                             w_addr=bases["X"]).bytes
    assert plain.counters[Counter.MEM_BYTES] == traffic.bytes - x_bytes     # X discarded


@pytest.fixture(scope="module")
def rtl_prefetch(tmp_path_factory):
    from sim.backends import CocotbBackend
    cfg = CONFIGS["8x8-w4"]
    backend = CocotbBackend(cfg, simulator="verilator", axi_memory_bytes=MEM_BYTES,
                            work_dir=tmp_path_factory.mktemp("prefetch-verilator"),
                            max_compute_cycles=200_000)
    yield backend
    backend.close()


def _counters(cfg, backend, words):
    response = backend.execute([*words, *commands.read_counters()],
                               response_words(cfg, Opcode.READ_COUNTERS))
    header, payload = parse_response(response, Opcode.READ_COUNTERS)
    return header.errors, parse_counters(payload)


def _signed32(acc):
    return np.where(acc < 0, acc + (1 << 32), acc)


def test_prefetch_cycles_traffic_and_results_on_the_rtl(rtl_prefetch, rng):
    """With a fixed latency and a stall-free shape (M = 5): MATMUL A with PREFETCH B before it
    takes the tile loop plus its first-tile wait L, as without; B, prefetched, the tile loop
    plus PREFETCHED_WAIT; C, after a PREFETCH of X that it does not use, the tile loop plus L
    plus X's words (discarded). Each is external_matmul_cycles. MEM_BYTES and MEM_BURSTS
    count every read once, X's discarded words included; the accumulators are the functional
    model's."""
    cfg = rtl_prefetch.config
    be = rtl_prefetch
    be.set_axi_pauses()
    m = 5
    model = FunctionalAccelerator(cfg, external_bytes=MEM_BYTES)
    programs, bases = _prefetch_program(rng, cfg, be, model, m=m)
    mm = programs["mm"]
    work = {n: matmul_work(cfg, m=m, k_tiles=kt, n_tiles=nt)
            for n, (kt, nt) in PREFETCH_SHAPES.items()}
    # Disarm whatever an earlier test left; then L, of a MATMUL that nothing prefetched.
    _, before = _counters(cfg, be, commands.clear() + programs["acts"] + mm("A"))
    _, after = _counters(cfg, be, mm("A"))
    first_tile = after[Counter.COMPUTE] - before[Counter.COMPUTE] - work["A"].cycles
    assert 0 < first_tile <= 24 + 2 * cfg.axi_max_burst
    mem = MemorySystem(bytes_per_cycle=cfg.weight_word_bytes, latency=first_tile,
                       outstanding=cfg.axi_outstanding,
                       burst_bytes=cfg.axi_max_burst * cfg.weight_word_bytes)

    def model_cycles(name, **kw):
        words = work[name].tiles * cfg.tile_beats
        return external_matmul_cycles(work[name], mem,
                                      weight_bytes=words * cfg.weight_word_bytes, **kw)

    expect = {"A": model_cycles("A"), "B": model_cycles("B", prefetched=True),
              "C": model_cycles("C", discard_words=work["X"].tiles * cfg.tile_beats)}
    assert expect["B"] == work["B"].cycles + PREFETCHED_WAIT
    _, prev = _counters(cfg, be, commands.clear())
    measured = {}
    for name, words in programs["steps"]:
        errors, now = _counters(cfg, be, words)
        assert errors == ErrorFlag(0), name
        measured[name] = now[Counter.COMPUTE] - prev[Counter.COMPUTE]
        prev = now
    print(f"prefetch: COMPUTE {measured}, model {expect}, tile loops "
          f"{ {n: w.cycles for n, w in work.items()} }, L = {first_tile}")
    assert measured == expect
    traffic = _traffic(cfg, bases)
    assert (prev[Counter.MEM_BYTES], prev[Counter.MEM_BURSTS]) == (traffic.bytes,
                                                                  traffic.bursts)
    model.run(programs["prefetched"])
    assert model.errors == ErrorFlag(0)
    assert (model.counters[Counter.MEM_BYTES], model.counters[Counter.MEM_BURSTS]) == (
        traffic.bytes, traffic.bursts)
    assert np.array_equal(_drain_all(cfg, be), _signed32(model.acc))


def test_prefetch_under_random_pauses_is_bit_exact(rtl_prefetch, rng, seed):
    """The same program at M = 1, AR and R paused at random: accumulators, MACs and traffic
    counters equal the functional model's."""
    cfg = rtl_prefetch.config
    be = rtl_prefetch
    model = FunctionalAccelerator(cfg, external_bytes=MEM_BYTES)
    programs, _ = _prefetch_program(rng, cfg, be, model, m=1)
    be.set_axi_pauses(p_ar=0.3, p_r=0.3, seed=seed)
    _counters(cfg, be, commands.clear() + programs["mm"]("A"))      # disarm
    _, start = _counters(cfg, be, commands.clear(errors=False))
    errors, end = _counters(cfg, be, programs["prefetched"])
    assert errors == ErrorFlag(0)
    model.run(programs["prefetched"])
    for c in (Counter.MEM_BYTES, Counter.MEM_BURSTS, Counter.MACS):
        assert end[c] - start[c] == model.counters[c], c.name
    written = slice(0, 5)                   # A, B and C's accumulators at M = 1
    assert np.array_equal(_drain_all(cfg, be)[written], _signed32(model.acc)[written])
    be.set_axi_pauses()


def test_an_error_in_a_prefetched_read(rtl_prefetch, rng):
    """A PREFETCH of words running past the memory's end (SLVERR): the MATMUL that issued it
    ends clean; the MATMUL that takes the words raises MEMORY_ERROR and writes nothing outside
    its range; after CLEAR, a MATMUL that discards such words raises nothing and is exact.
    The functional model raises the same flags at each step."""
    cfg = rtl_prefetch.config
    be = rtl_prefetch
    be.set_axi_pauses(p_ar=0.2, p_r=0.2, seed=7)
    model = FunctionalAccelerator(cfg, external_bytes=MEM_BYTES)
    m = 2
    programs, _ = _prefetch_program(rng, cfg, be, model, m=m)
    mm = programs["mm"]
    kt, nt = PREFETCH_SHAPES["B"]
    bad = MEM_BYTES - cfg.weight_word_bytes * cfg.tile_beats      # one tile in, the rest past
    lo, hi = 20, 20 + nt * m                                        # the taker's accumulators
    bad_pf = commands.prefetch(w_addr=bad, tiles=kt * nt)
    bad_mm = commands.matmul(w_addr=bad, a_addr=0, acc_addr=lo, m=m, k_tiles=kt, n_tiles=nt)
    setup = commands.clear() + programs["acts"] + mm("A") + mm("C")  # disarmed, known values
    be.execute(setup, 0)
    model.run(setup)
    before = _drain_all(cfg, be)
    outside = np.r_[0:lo, hi:cfg.acc_depth]
    for name, words, flags in (("issuer", bad_pf + mm("A"), ErrorFlag(0)),
                               ("taker", bad_mm, ErrorFlag.MEMORY_ERROR),
                               ("recover", commands.clear(), ErrorFlag(0)),
                               ("discarder", bad_pf + mm("A") + mm("C"), ErrorFlag(0))):
        be.execute(words, 0)
        model.run(words)
        assert _status(cfg, be) == model.errors == flags, name
        if name == "recover":
            assert np.array_equal(_drain_all(cfg, be)[outside], before[outside])
    written = np.r_[0:2 * m, 4 * m:5 * m]         # by A and C (the rest: earlier tests')
    assert np.array_equal(_drain_all(cfg, be)[written], _signed32(model.acc)[written])
    be.set_axi_pauses()
