# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.axi: the AXI4 weight reader, its parameter checks, its port names, and the cocotb bench
against cocotbext-axi's AxiRamRead (sim/testbenches/cocotb_modules/axi_reader.py)."""

import random
import re

import pytest
from amaranth.hdl import Value
from amaranth.lib.wiring import In

from golden.contract.memory import axi_bursts
from hw.axi import AxiReadSignature, AxiWeightReader, ReadError
from sim.testbenches.axi_reader_cocotb import reader_verilog, rtl_axi_reader_cocotb
from sim.testbenches.cocotb_modules.axi_reader import CODES
from tests.helpers import simulate


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"data_width": 32}, "data_width must be a power of two from 64 to 1024, not 32"),
    ({"data_width": 96}, "data_width must be a power of two from 64 to 1024, not 96"),
    ({"data_width": 2048}, "data_width must be a power of two from 64 to 1024, not 2048"),
    ({"data_width": 64, "addr_width": 48}, "addr_width must be 32 or 64, not 48"),
    ({"data_width": 64, "max_burst": 0}, "max_burst must be an integer from 1 to 256, not 0"),
    ({"data_width": 64, "max_burst": 257}, "max_burst must be an integer from 1 to 256, not 257"),
    ({"data_width": 1024, "max_burst": 64},
     "max_burst must be at most 32 for data_width 1024 (a burst may not cross 4 KiB), not 64"),
    ({"data_width": 64, "max_outstanding": 0},
     "max_outstanding must be an integer from 1 to 64, not 0"),
    ({"data_width": 64, "counter_bits": 0}, "counter_bits must be an integer from 1 to 64, not 0"),
])
def test_reader_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        AxiWeightReader(**kwargs)


@pytest.mark.parametrize("kwargs", [{"data_width": 64.0}, {"data_width": 64, "max_burst": True},
                                    {"data_width": 64, "max_outstanding": "4"}])
def test_reader_rejects_non_integers(kwargs):
    with pytest.raises(TypeError, match="must be an integer"):
        AxiWeightReader(**kwargs)


def test_signature_rejects_bad_parameters():
    with pytest.raises(ValueError, match="addr_width must be 32 or 64, not 16"):
        AxiReadSignature(addr_width=16, data_width=64)
    with pytest.raises(ValueError, match="data_width must be a power of two from 8 to 1024, "
                                         "not 100"):
        AxiReadSignature(addr_width=32, data_width=100)


def test_reader_properties():
    r = AxiWeightReader(data_width=512, addr_width=64, max_burst=8, max_outstanding=3)
    assert (r.beat_bytes, r.buffer_depth, r.max_burst, r.max_outstanding) == (64, 24, 8, 3)
    assert r.m_axi.signature == AxiReadSignature(addr_width=64, data_width=512)


def test_bench_error_codes_match_the_enum():
    assert {e.name: e.value for e in ReadError} == CODES


def test_verilog_ports_are_named_for_cocotbext_axi():
    """AxiReadBus.from_prefix(dut, "m_axi") finds every AR and R signal it needs."""
    from cocotbext.axi.axi_channels import AxiARBus, AxiRBus
    verilog = reader_verilog(data_width=128)
    ports = set(re.findall(r"^\s*(?:input|output)\s+(?:\[[^\]]+\]\s*)?(\w+);", verilog, re.M))
    wanted = {f"m_axi_{s}" for s in AxiARBus._signals + AxiRBus._signals}
    assert wanted <= ports, f"missing {sorted(wanted - ports)}"
    assert {"requests_valid", "requests_ready", "beats_valid", "beats_ready", "error",
            "error_code", "clear", "bytes_read", "bursts"} <= ports


def test_no_output_depends_combinationally_on_an_input(seed):
    """Every output is a register or a function of registers: changing every input between
    two clock edges changes no output (so no path runs from RVALID or ARREADY to ARVALID, nor
    from the consumer's ready to anything it sees). Random inputs (requests, AXI responses
    of any shape, clear, ready) drive the reader through its states, errors included."""
    dut = AxiWeightReader(data_width=64, max_burst=4, max_outstanding=2)
    ports = [(member, Value.cast(value))
             for _, member, value in dut.signature.flatten(dut)]
    inputs = [v for member, v in ports if member.flow == In]
    outputs = [v for member, v in ports if member.flow != In]
    prng = random.Random(seed)
    states = set()

    async def bench(ctx):
        for _ in range(600):
            for v in inputs:
                ctx.set(v, prng.getrandbits(len(v)) if len(v) > 1 else prng.random() < 0.5)
            before = [ctx.get(v) for v in outputs]
            for v in inputs:
                ctx.set(v, prng.getrandbits(len(v)))
            assert [ctx.get(v) for v in outputs] == before
            states.add((ctx.get(dut.error), ctx.get(dut.busy), ctx.get(dut.m_axi.arvalid)))
            await ctx.tick()

    simulate(dut, bench)
    assert len(states) >= 4, f"the random inputs reached only {states}"


# ---- cocotb against AxiRamRead (Icarus: the design is small, the build takes a second) ----

PAUSES = {"p_ar": 0.3, "p_r": 0.3, "p_stall": 0.4, "p_idle": 0.3}


@pytest.mark.cosim
@pytest.mark.parametrize(("simulator", "data_width", "max_burst", "max_outstanding"),
                         [("icarus", 64, 16, 4), ("icarus", 512, 8, 2), ("icarus", 128, 1, 1),
                          ("verilator", 64, 16, 4)])
def test_random_reads_under_pauses(simulator, data_width, max_burst, max_outstanding, seed,
                                   waves, tmp_path):
    run = rtl_axi_reader_cocotb("random", simulator=simulator, test_dir=tmp_path, seed=seed,
                                waves=waves, data_width=data_width, max_burst=max_burst,
                                max_outstanding=max_outstanding, n_requests=25, **PAUSES)
    assert run["max_outstanding_seen"] <= max_outstanding
    if max_outstanding > 1:
        assert run["max_outstanding_seen"] > 1, "bursts never overlapped"
    # The ARs are the contract's split of the requests, burst for burst, and the counters
    # say so until counter_clear.
    beat = data_width // 8
    split = [burst for addr, length in run["ranges"]
             for burst in axi_bursts(addr, length, beat_bytes=beat, max_burst=max_burst)]
    assert [tuple(ar) for ar in run["ars"]] == split
    assert run["counted"] == [sum(length for _, length in run["ranges"]), len(split)]
    assert run["cleared"] == [0, 0]


@pytest.mark.cosim
@pytest.mark.parametrize("data_width", [64, 512])
def test_bad_responses_raise_the_error_and_deliver_no_bad_beat(data_width, seed, waves,
                                                               tmp_path):
    run = rtl_axi_reader_cocotb("errors", simulator="icarus", test_dir=tmp_path, seed=seed,
                                waves=waves, data_width=data_width, max_burst=8, **PAUSES)
    assert [e["code"] for e in run["errors"]] == ["SLVERR", "DECERR", "EARLY_LAST",
                                                  "MISSING_LAST", "DECERR", "UNSOLICITED"]
    assert all(e["delivered"] <= e["bad_burst_at"] for e in run["errors"])


@pytest.mark.cosim
@pytest.mark.parametrize(("data_width", "addr_width"), [(64, 32), (256, 64)])
def test_bad_requests_are_refused_with_their_reason(data_width, addr_width, seed, tmp_path):
    run = rtl_axi_reader_cocotb("refuse", simulator="icarus", test_dir=tmp_path, seed=seed,
                                data_width=data_width, addr_width=addr_width, p_stall=0.3)
    assert run["refused"] == ["UNALIGNED", "UNALIGNED", "LENGTH", "LENGTH", "RANGE"]


@pytest.mark.cosim
@pytest.mark.parametrize("data_width", [64, 512])
def test_full_throughput_without_pauses(data_width, tmp_path):
    """One beat per cycle once data flows: N beats leave in N cycles."""
    n = 1024
    run = rtl_axi_reader_cocotb("throughput", simulator="icarus", test_dir=tmp_path,
                                data_width=data_width, max_burst=16, max_outstanding=4,
                                throughput_beats=n, mem_bytes=max(64 * 1024, n * data_width // 8))
    ratio = n / run["cycles_steady"]
    print(f"data_width {data_width}: {n} beats, first to last in {run['cycles_steady']} cycles "
          f"(ratio {ratio:.3f}), {run['cycles_total']} from the request "
          f"({n / run['cycles_total']:.3f}), first beat after {run['latency']} cycles")
    assert ratio >= 0.99
    # The latency, exactly: the request and burst pipeline, the slave, one whole burst
    # (committed), and the block RAM's output register in the output stage (hw/DESIGN.md:
    # one cycle, 23 before it).
    assert run["latency"] == 24
