# SPDX-License-Identifier: BSD-2-Clause
"""The external-memory cycle model and the decode projection (golden.contract.memory)."""

import pytest

from golden.contract.config import AcceleratorConfig
from golden.contract.memory import (
    MemorySystem,
    decode_projection,
    external_matmul_cycles,
    tile_bytes,
)
from golden.contract.tileloop import layer_work
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
