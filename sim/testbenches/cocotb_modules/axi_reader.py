# SPDX-License-Identifier: BSD-2-Clause
"""cocotb bench of the generated ``AxiWeightReader`` Verilog against cocotbext-axi's AxiRam.

It runs inside the simulator process and imports no Amaranth: the spec arrives as JSON (path
in ``$AXI_BENCH_SPEC``: parameters, seed, mode, pause probabilities) and the measurements go
back as JSON (``$AXI_BENCH_OUT``). Every delivered beat is compared with the memory here.

Modes: ``random`` (random requests under random AR/R pauses and output backpressure),
``errors`` (SLVERR from AxiRam itself for a read past its end; DECERR, a truncated and an
overlong burst injected on R), ``refuse`` (requests the reader must refuse), ``throughput``
(no pauses, one long request).

The slave is AxiRam unchanged but for two thin wraps: its read callback raises past the end
of the memory instead of wrapping around (AxiRam then answers SLVERR itself), and its R
channel goes through :class:`FaultyR`, which alters the beats of one chosen burst.
"""

import json
import logging
import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotbext.axi import AxiRamRead, AxiReadBus, AxiResp

from .drivers import reset

# hw.axi.ReadError, by value (this module imports no Amaranth; the pytest side checks the
# names against the enum).
CODES = {"NONE": 0, "EXOKAY": 1, "SLVERR": 2, "DECERR": 3, "EARLY_LAST": 4,
         "MISSING_LAST": 5, "UNSOLICITED": 6, "UNALIGNED": 8, "LENGTH": 9, "RANGE": 10}
PAGE = 4096


class FaultyR:
    """The R channel of an AxiRam, passing beats through except in the burst chosen by
    :meth:`arm` (counted from the next burst that starts): ``decerr`` marks beat ``beat``
    DECERR, ``early_last`` raises RLAST on beat ``beat`` and drops the rest of the burst,
    ``missing_last`` lowers RLAST on the last beat and sends one beat more with it,
    ``unsolicited`` sends one beat (with RLAST) more after the burst."""

    def __init__(self, channel):
        self._channel = channel
        self._fault, self._target, self._at = None, 0, 0
        self._burst = 0          # bursts ended since arm()
        self._beat = 0

    def __getattr__(self, name):
        return getattr(self._channel, name)

    def arm(self, kind, *, burst=0, beat=0):
        self._fault, self._target, self._at = kind, burst, beat
        self._burst = 0

    async def send(self, r):
        n, last = self._beat, bool(r.rlast)
        self._beat = 0 if last else n + 1
        kind = self._fault if self._burst == self._target else None
        if last:
            self._burst += 1
            if kind is not None:
                self._fault = None          # the burst is over
        if kind == "decerr" and n == self._at:
            r.rresp = AxiResp.DECERR
        elif kind == "early_last":
            if n > self._at:
                return                      # dropped: the burst ended early
            r.rlast = n == self._at
        elif kind in ("missing_last", "unsolicited") and last:
            r.rlast = kind == "unsolicited"
            await self._channel.send(r)
            r = self._channel._transaction_obj()
            r.rid, r.rdata, r.rresp, r.rlast = 0, 0, AxiResp.OKAY, True
        await self._channel.send(r)


def compare(got, want, what="beat"):
    """``got`` equals ``want`` (lists of (data, last)); names the first difference."""
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        assert g == w, f"{what} {i}: got {g[0]:#x} last {g[1]}, expected {w[0]:#x} last {w[1]}"
    assert len(got) == len(want), f"{len(got)} beats delivered, {len(want)} expected"


def pauses(rng, p):
    while True:
        yield p > 0 and rng.random() < p


class Bench:
    def __init__(self, dut, spec):
        self.dut, self.spec = dut, spec
        self.rng = random.Random(spec["seed"])
        self.beat_bytes = spec["data_width"] // 8
        self.size = spec["mem_bytes"]
        # AxiRamRead: the read half of AxiRam (the reader has no write channels).
        self.ram = rd = AxiRamRead(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst,
                                   size=self.size)
        rd.log.setLevel(logging.WARNING)    # not a line per burst
        self.ram.write(0, self.rng.randbytes(self.size))
        ram_read = rd._read

        async def bounded_read(address, length):
            if address + length > self.size:
                raise ValueError(f"read of {length} bytes at {address:#x} past the memory")
            return await ram_read(address, length)

        rd._read = bounded_read              # past the end: AxiRam answers SLVERR
        rd.ar_channel.set_pause_generator(pauses(self.rng, spec["p_ar"]))
        rd.r_channel.set_pause_generator(pauses(self.rng, spec["p_r"]))
        self.faulty = rd.r_channel = FaultyR(rd.r_channel)
        self.cycle = 0
        self.beats = []          # (cycle, data, last)
        self.ars = []            # (cycle, addr, beats)
        self.outstanding = self.max_outstanding = 0

    async def monitor(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.cycle += 1
            if dut.beats_valid.value and dut.beats_ready.value:
                word = int(dut.beats_payload.value)
                self.beats.append((self.cycle, word & ((1 << self.spec["data_width"]) - 1),
                                   word >> self.spec["data_width"]))
            if dut.m_axi_arvalid.value and dut.m_axi_arready.value:
                self.ars.append((self.cycle, int(dut.m_axi_araddr.value),
                                 int(dut.m_axi_arlen.value) + 1))
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
            if dut.m_axi_rvalid.value and dut.m_axi_rready.value and dut.m_axi_rlast.value:
                self.outstanding -= 1

    async def consumer(self):
        p = self.spec["p_stall"]
        while True:
            self.dut.beats_ready.value = int(not (p > 0 and self.rng.random() < p))
            await RisingEdge(self.dut.clk)

    async def start(self):
        dut = self.dut
        dut.requests_valid.value = 0
        dut.clear.value = 0
        dut.counter_clear.value = 0
        dut.beats_ready.value = 0
        await reset(dut)
        cocotb.start_soon(self.monitor())
        cocotb.start_soon(self.consumer())

    async def request(self, addr, length):
        """Offer one request (after random idle cycles) and return once it is accepted."""
        dut = self.dut
        while self.rng.random() < self.spec["p_idle"]:
            await RisingEdge(dut.clk)
        aw = self.spec["addr_width"]
        dut.requests_payload.value = addr | (length << aw)
        dut.requests_valid.value = 1
        while True:
            await ReadOnly()
            accepted = bool(dut.requests_ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                break
        dut.requests_valid.value = 0

    async def idle(self, limit=200_000):
        """Wait until the reader is not busy (and its outputs have settled)."""
        for _ in range(limit):
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            if not self.dut.busy.value:
                await RisingEdge(self.dut.clk)
                await ClockCycles(self.dut.clk, 3)
                return
        raise AssertionError(f"reader still busy after {limit} cycles")

    async def clear(self):
        self.dut.clear.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.clear.value = 0
        await RisingEdge(self.dut.clk)

    def expected(self, addr, length):
        """(data, last) of the beats of a request, from the memory."""
        mem = self.ram.read(addr, length)
        b = self.beat_bytes
        return [(int.from_bytes(mem[i:i + b], "little"), int(i + b == length))
                for i in range(0, length, b)]

    def check_ars(self, ars, ranges):
        """The bursts cover the requests exactly, in order, within the limits."""
        b = self.beat_bytes
        want = [a for addr, length in ranges for a in range(addr, addr + length, b)]
        got = []
        for _, addr, n in ars:
            assert n <= self.spec["max_burst"], f"a burst of {n} beats at {addr:#x}"
            assert addr // PAGE == (addr + n * b - 1) // PAGE, f"burst at {addr:#x} crosses 4K"
            got += range(addr, addr + n * b, b)
        assert got == want, "the bursts do not cover the requests"

    def error(self):
        return int(self.dut.error.value), int(self.dut.error_code.value)


async def random_mode(bench):
    spec, b = bench.spec, bench.beat_bytes
    ranges = []
    for _ in range(spec["n_requests"]):
        beats = bench.rng.choice([1, 2, 3, bench.rng.randint(1, 64),
                                  bench.rng.randint(1, spec["max_request"] // b)])
        if bench.rng.random() < 0.3:     # start just below a 4 KiB boundary
            page = bench.rng.randrange(1, bench.size // PAGE)
            addr = page * PAGE - b * bench.rng.randint(1, 4)
        else:
            addr = b * bench.rng.randrange(bench.size // b)
        addr = min(addr, bench.size - beats * b)
        ranges.append((addr, beats * b))

    async def producer():
        for addr, length in ranges:
            await bench.request(addr, length)

    cocotb.start_soon(producer())
    want = [beat for addr, length in ranges for beat in bench.expected(addr, length)]
    for _ in range(200 * len(want) + 10_000):
        await RisingEdge(bench.dut.clk)
        if len(bench.beats) >= len(want):
            break
    await bench.idle()
    assert bench.error() == (0, 0), f"error raised: {bench.error()}"
    got = [(data, last) for _, data, last in bench.beats]
    compare(got, want)
    bench.check_ars(bench.ars, ranges)
    assert int(bench.dut.bursts.value) == len(bench.ars)
    assert int(bench.dut.bytes_read.value) == len(want) * b
    counted = (int(bench.dut.bytes_read.value), int(bench.dut.bursts.value))
    bench.dut.counter_clear.value = 1
    await RisingEdge(bench.dut.clk)
    bench.dut.counter_clear.value = 0
    await RisingEdge(bench.dut.clk)
    await ReadOnly()
    cleared = (int(bench.dut.bytes_read.value), int(bench.dut.bursts.value))
    # The pytest side compares the bursts with the contract's split
    # (golden.contract.memory.axi_bursts), which this module cannot import (no Amaranth here).
    return {"beats": len(want), "bursts": len(bench.ars),
            "max_outstanding_seen": bench.max_outstanding, "ranges": ranges,
            "ars": [(addr, n) for _, addr, n in bench.ars], "counted": counted,
            "cleared": cleared}


async def check_failed_read(bench, addr, length, code, *, faulty_ar, clear_early=False):
    """Read ``addr, length``, expect ``code``; the delivered beats are a clean prefix that
    stops before the burst of AR number ``faulty_ar`` of this request (their number: none is
    bad, the fault comes after). With ``clear_early``, ``clear`` comes as soon as the error
    shows, while the reader drains: it must still take no request until the drain is over."""
    n_beats, n_ars = len(bench.beats), len(bench.ars)
    await bench.request(addr, length)
    if clear_early:
        for _ in range(100_000):
            await RisingEdge(bench.dut.clk)
            await ReadOnly()
            if bench.dut.error.value:
                break
        assert bench.error() == (1, CODES[code]), f"expected {code}, got {bench.error()}"
        await RisingEdge(bench.dut.clk)
        await bench.clear()
        while True:
            await ReadOnly()
            if not bench.dut.busy.value:
                break
            assert not bench.dut.requests_ready.value, "a request taken while draining"
            await RisingEdge(bench.dut.clk)
        await bench.idle()
    else:
        await bench.idle()
        assert bench.error() == (1, CODES[code]), f"expected {code}, got {bench.error()}"
    got = [(d, last) for _, d, last in bench.beats[n_beats:]]
    ars = bench.ars[n_ars:]
    assert len(ars) >= faulty_ar, f"only {len(ars)} bursts issued"
    first_bad = sum(n for _, _, n in ars[:faulty_ar])
    assert len(got) <= first_bad, (f"{len(got)} beats delivered, the bad burst starts at beat "
                                   f"{first_bad}")
    in_range = min(length, bench.size - addr)
    compare(got, bench.expected(addr, in_range)[:len(got)])
    delivered = len(got)
    if not clear_early:
        assert not bench.dut.requests_ready.value, "requests accepted before clear"
        await bench.clear()
    assert bench.error() == (0, 0)
    # The reader works again.
    n_beats = len(bench.beats)
    await bench.request(0, 4 * bench.beat_bytes)
    await bench.idle()
    assert bench.error() == (0, 0), f"error after recovery: {bench.error()}"
    got = [(d, last) for _, d, last in bench.beats[n_beats:]]
    compare(got, bench.expected(0, 4 * bench.beat_bytes), "beat after recovery")
    return {"code": code, "delivered": delivered, "bad_burst_at": first_bad}


async def errors_mode(bench):
    b, burst = bench.beat_bytes, bench.spec["max_burst"]
    results = []
    # A read across the end of the memory: AxiRam itself answers SLVERR past it.
    addr = bench.size - 2 * burst * b
    results.append(await check_failed_read(bench, addr, 4 * burst * b, "SLVERR", faulty_ar=2))
    # Faults injected into the second burst of a four-burst read, beat 1 (or the last).
    for kind, code in (("decerr", "DECERR"), ("early_last", "EARLY_LAST"),
                       ("missing_last", "MISSING_LAST")):
        if kind == "early_last" and burst < 2:
            continue
        bench.faulty.arm(kind, burst=1, beat=min(1, burst - 1))
        results.append(await check_failed_read(bench, PAGE, 4 * burst * b, code, faulty_ar=1))
    # Again, with clear given while the reader still drains the bursts in flight.
    bench.faulty.arm("decerr", burst=0, beat=0)
    results.append(await check_failed_read(bench, PAGE, 4 * burst * b, "DECERR", faulty_ar=0,
                                           clear_early=True))
    # A beat after the last burst has ended.
    bench.faulty.arm("unsolicited", burst=0)
    results.append(await check_failed_read(bench, PAGE, burst * b, "UNSOLICITED", faulty_ar=1))
    return {"errors": results}


async def refuse_mode(bench):
    b, aw = bench.beat_bytes, bench.spec["addr_width"]
    cases = [(b + 1, 4 * b, "UNALIGNED"), (b // 2, 4 * b, "UNALIGNED"), (0, 0, "LENGTH"),
             (0, 3 * b + b // 2, "LENGTH"), (2**aw - 2 * b, 4 * b, "RANGE")]
    for addr, length, code in cases:
        n_ars, n_beats = len(bench.ars), len(bench.beats)
        await bench.request(addr, length)
        await bench.idle()
        assert bench.error() == (1, CODES[code]), \
            f"request {addr:#x}+{length}: expected {code}, got {bench.error()}"
        assert len(bench.ars) == n_ars, f"request {addr:#x}+{length} issued a burst"
        assert len(bench.beats) == n_beats, f"request {addr:#x}+{length} delivered beats"
        await bench.clear()
        assert bench.error() == (0, 0)
    # The last byte of the address space is in range.
    await bench.request(2**aw - 2 * b, 2 * b)
    await bench.idle()
    # Issued, and answered SLVERR by the memory (it is smaller than the address space).
    assert bench.ars and bench.ars[-1][1] == 2**aw - 2 * b, "a request ending at 2**aw refused"
    assert bench.error() == (1, CODES["SLVERR"]), f"expected SLVERR, got {bench.error()}"
    return {"refused": [c for *_, c in cases]}


async def throughput_mode(bench):
    b, n = bench.beat_bytes, bench.spec["throughput_beats"]
    await bench.request(0, n * b)
    start = bench.cycle
    await bench.idle()
    got = [(d, last) for _, d, last in bench.beats]
    assert bench.error() == (0, 0), f"error raised: {bench.error()}"
    compare(got, bench.expected(0, n * b))
    first, last = bench.beats[0][0], bench.beats[-1][0]
    return {"beats": n, "cycles_total": last - start + 1, "cycles_steady": last - first + 1,
            "latency": first - start, "max_outstanding_seen": bench.max_outstanding}


MODES = {"random": random_mode, "errors": errors_mode, "refuse": refuse_mode,
         "throughput": throughput_mode}


@cocotb.test()
async def axi_reader(dut):
    spec = json.loads(Path(os.environ["AXI_BENCH_SPEC"]).read_text())
    bench = Bench(dut, spec)
    await bench.start()
    result = await MODES[spec["mode"]](bench)
    Path(os.environ["AXI_BENCH_OUT"]).write_text(json.dumps(result))
