# SPDX-License-Identifier: BSD-2-Clause
"""The external-memory cycle model and the decode projection (golden.contract.memory)."""

import random
import re

import pytest

from firmware import commands
from golden.contract.config import AcceleratorConfig
from golden.contract.memory import (
    MemorySystem,
    WeightTraffic,
    axi_bursts,
    decode_projection,
    external_matmul_cycles,
    matmul_traffic,
    matmul_words,
    program_traffic,
    tile_bytes,
)
from golden.contract.tileloop import layer_work, matmul_work
from golden.contract.workloads import MODELS


def test_rates_become_bytes_and_cycles_per_clock():
    mem = MemorySystem.from_rates(gbytes_per_s=19.2, clock_mhz=200, latency_ns=100,
                                  outstanding=8, burst_bytes=4096)
    assert mem.bytes_per_cycle == pytest.approx(96.0) and mem.latency == 20
    assert mem.sustained == pytest.approx(96.0)


def test_too_few_bursts_in_flight_leave_bandwidth_unused():
    # One 64-byte burst in flight, 100 cycles of latency: 64 bytes per 100 + 64/96 cycles.
    mem = MemorySystem(bytes_per_cycle=96.0, latency=100, outstanding=1, burst_bytes=64)
    assert mem.sustained == pytest.approx(64 / (100 + 64 / 96))
    more = MemorySystem(bytes_per_cycle=96.0, latency=100, outstanding=256, burst_bytes=64)
    assert more.sustained == pytest.approx(96.0)


def test_a_matmul_takes_the_longer_of_array_and_memory():
    cfg = AcceleratorConfig()
    work = layer_work(cfg, m=1, k=2560, n=640)
    fixed = work.cycles - work.bound_cycles
    fast = MemorySystem(bytes_per_cycle=1e6, latency=7, outstanding=4, burst_bytes=4096)
    slow = MemorySystem(bytes_per_cycle=1.0, latency=7, outstanding=4, burst_bytes=4096)
    weight_bytes = work.tiles * tile_bytes(cfg, bits_per_weight=2)
    assert weight_bytes == 6400 * 64
    assert external_matmul_cycles(work, fast, weight_bytes=weight_bytes) == pytest.approx(
        work.cycles + 7)
    assert external_matmul_cycles(work, slow, weight_bytes=weight_bytes) == pytest.approx(
        fixed + 7 + weight_bytes / slow.sustained)


def test_decode_projection_of_2b4t():
    cfg = AcceleratorConfig()
    mem = MemorySystem.from_rates(gbytes_per_s=19.2, clock_mhz=200)
    p = decode_projection(cfg, MODELS["2B-4T"], mem=mem, clock_mhz=200, bits_per_weight=2)
    assert p["weight_bytes_per_token"] == MODELS["2B-4T"].bitlinear_weights * 2 / 8
    assert p["memory_bound_tokens_per_s"] == pytest.approx(19.2e9 / p["weight_bytes_per_token"])
    # One row of 16 weights per cycle: the array, not the memory, bounds decode today.
    assert p["bound"] == "array" and p["tokens_per_s"] < p["memory_bound_tokens_per_s"] / 10
    starved = MemorySystem.from_rates(gbytes_per_s=0.5, clock_mhz=200)
    q = decode_projection(cfg, MODELS["2B-4T"], mem=starved, clock_mhz=200, bits_per_weight=2)
    assert q["bound"] == "memory"
    assert q["fraction_of_memory_bound"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bytes_per_cycle": 0, "latency": 1, "outstanding": 1, "burst_bytes": 64},
     "bytes_per_cycle must be a positive number, not 0"),
    ({"bytes_per_cycle": 8, "latency": -1, "outstanding": 1, "burst_bytes": 64},
     "latency must be an integer >= 0, not -1"),
    ({"bytes_per_cycle": 8, "latency": 1, "outstanding": 0, "burst_bytes": 64},
     "outstanding must be an integer >= 1, not 0"),
    ({"bytes_per_cycle": 8, "latency": 1, "outstanding": 2, "burst_bytes": 6.5},
     "burst_bytes must be an integer >= 1, not 6.5"),
])
def test_bad_memory_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MemorySystem(**kwargs)
    with pytest.raises(ValueError, match="clock_mhz must be a positive number, not -200"):
        MemorySystem.from_rates(gbytes_per_s=19.2, clock_mhz=-200)


# ---- weight traffic: the words a MATMUL reads, split into bursts --------------------------

@pytest.mark.parametrize(("beat", "max_burst"), [(8, 16), (8, 1), (64, 64), (128, 32), (8, 256)])
def test_bursts_cover_the_read_within_the_limits(beat, max_burst, seed):
    """Every split covers its read in order, no burst crosses 4 KiB or exceeds max_burst,
    and each is as long as those limits allow (the reader's rule)."""
    rng = random.Random(seed)
    for _ in range(200):
        beats = rng.choice([1, 2, rng.randint(1, 64), rng.randint(1, 3000)])
        addr = beat * rng.choice([rng.randrange(1 << 20), 4096 // beat * rng.randint(1, 99) - 1])
        bursts = axi_bursts(addr, beats * beat, beat_bytes=beat, max_burst=max_burst)
        at = addr
        for start, n in bursts:
            assert start == at and 1 <= n <= max_burst
            assert start // 4096 == (start + n * beat - 1) // 4096, "crosses 4 KiB"
            assert n == min(max_burst, (4096 - start % 4096) // beat, (addr + beats * beat
                                                                       - start) // beat)
            at += n * beat
        assert at == addr + beats * beat


def test_bursts_at_a_4k_boundary():
    assert axi_bursts(0x0fc0, 256, beat_bytes=8, max_burst=16) == [
        (0x0fc0, 8), (0x1000, 16), (0x1080, 8)]
    assert axi_bursts(0x1000, 4096, beat_bytes=8, max_burst=256) == [(0x1000, 256),
                                                                      (0x1800, 256)]


@pytest.mark.parametrize(("kw", "message"), [
    ({"addr": 4, "length": 8}, "a read of 8 bytes at 0x4 is not a positive whole number"),
    ({"addr": 0, "length": 0}, "a read of 0 bytes"),
    ({"beat_bytes": 24}, "beat_bytes must be a power of two up to 4096, not 24"),
    ({"max_burst": 0}, "max_burst must be a positive integer, not 0"),
    ({"max_burst": 257}, "max_burst must be at most 256 beats of 8 bytes, not 257"),
    ({"beat_bytes": 64, "max_burst": 128}, "max_burst must be at most 64 beats of 64 bytes"),
])
def test_bad_splits_are_refused_naming_the_value(kw, message):
    args = {"addr": 0, "length": 64, "beat_bytes": 8, "max_burst": 16, **kw}
    with pytest.raises(ValueError, match=re.escape(message)):
        axi_bursts(args.pop("addr"), args.pop("length"), **args)


def test_matmul_traffic_is_its_words_in_bursts():
    cfg = AcceleratorConfig(rows=8, cols=8, weight_rows_per_cycle=4, weight_memory="axi",
                            axi_max_burst=4, axi_outstanding=2, max_k=256, acc_bits=20)
    work = matmul_work(cfg, m=3, k_tiles=4, n_tiles=2)
    assert matmul_words(cfg, work) == work.tiles * cfg.tile_beats == 16
    assert matmul_traffic(cfg, work, w_addr=0x2000) == WeightTraffic(16 * 8, 4)
    # 0x0ff0: two words to the boundary, then bursts of 4, then the rest.
    assert matmul_traffic(cfg, work, w_addr=0x0ff0) == WeightTraffic(16 * 8, 5)
    words = (commands.matmul(w_addr=0x0ff0, a_addr=0, acc_addr=0, m=3, k_tiles=4, n_tiles=2)
             + commands.matmul(w_addr=0x2000, a_addr=0, acc_addr=0, m=1, k_tiles=1,
                               n_tiles=1, accumulate=True) + commands.read_counters())
    assert program_traffic(cfg, words) == WeightTraffic(16 * 8 + 2 * 8, 5 + 1)


def test_the_1_6_bit_format_packs_five_beats_per_word():
    """Any configuration's words may be counted: a 1.6-bit word holds five beats, 1.6 bits
    per weight (the 2-bit format's 2)."""
    two = AcceleratorConfig(weight_rows_per_cycle=2)
    five = AcceleratorConfig(weight_rows_per_cycle=2, weight_format="1.6bit")
    work = layer_work(two, m=1, k=2560, n=2560)
    assert matmul_traffic(two, work, w_addr=0).bytes == 2560 * 2560 * 2 // 8
    assert matmul_traffic(five, work, w_addr=0).bytes == 2560 * 2560 * 8 // 5 // 8
