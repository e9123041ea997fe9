# SPDX-License-Identifier: BSD-2-Clause
"""cocotb server of the accelerator inside :file:`sim/testbenches/hdl/accel_harness.v`.

One simulator process serves a whole session: this bench connects to the Unix socket
``$ACCEL_SERVER_SOCKET`` of the host (:class:`sim.backends.CocotbBackend`) and reads one JSON
request per line; for each, it copies the request's program file to the harness's +src file,
starts the harness, waits for it to finish (the harness bounds every run by ``max_cycles``),
copies the +sink file to the request's response file and answers one JSON line. A request
``{"quit": true}`` (or the host closing the connection) ends the session.

With weights in external memory (``$ACCEL_SERVER_AXI_BYTES`` set: the memory's size), an
AxiRamRead of cocotbext-axi serves the harness's ``m_axi`` port, and three more requests act
on it: ``{"ext_write": file, "addr": a}`` writes the file's bytes at byte ``a``;
``{"axi_pauses": {"p_ar": p, "p_r": p, "seed": s, "r_every": n}}`` sets random pauses on AR
and R (or R served one cycle in ``n``);
``{"axi_fault": {"kind": k, "burst": n, "beat": b}}`` alters the R beats of the n-th burst
from then on (DECERR, a truncated burst...: :class:`~.axi_reader.FaultyR`). A read past the
memory's end is answered with SLVERR. Each answers ``{"ok": true}``.

The simulator waits on the socket between requests; simulated time does not advance there.
No PyTorch or Amaranth in this process: it stays light.
"""

import json
import logging
import os
import random
import shutil
import socket
from pathlib import Path

import cocotb
from cocotb.triggers import RisingEdge

from .drivers import reset

_INPUTS = ("src_len", "p_idle", "p_stall", "seed", "max_cycles")


def _pauses(rng, p, every=0):
    """Random pauses with probability ``p``; or, with ``every`` > 1, a pause in every cycle
    but one of each ``every`` (a memory of exactly 1 / every beats per cycle)."""
    cycle = 0
    while True:
        cycle += 1
        yield cycle % every != 0 if every > 1 else p > 0 and rng.random() < p


class ExternalMemory:
    """AxiRamRead on the harness's m_axi port: bounded (SLVERR past the end), with pauses
    and injected faults on R."""

    def __init__(self, dut, size):
        from cocotbext.axi import AxiRamRead, AxiReadBus

        from .axi_reader import FaultyR
        self.size = size
        self.ram = ram = AxiRamRead(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst,
                                    size=size)
        ram.log.setLevel(logging.WARNING)
        ram_read = ram._read

        async def bounded_read(address, length):
            if address + length > size:
                raise ValueError(f"read of {length} bytes at {address:#x} past the memory")
            return await ram_read(address, length)

        ram._read = bounded_read            # past the end: AxiRamRead answers SLVERR
        self.faulty = ram.r_channel = FaultyR(ram.r_channel)

    def request(self, request) -> bool:
        if "ext_write" in request:
            self.ram.write(request["addr"], Path(request["ext_write"]).read_bytes())
        elif "axi_pauses" in request:
            spec = request["axi_pauses"]
            rng = random.Random(spec.get("seed", 0))
            self.ram.ar_channel.set_pause_generator(_pauses(rng, spec.get("p_ar", 0.0)))
            self.faulty.set_pause_generator(_pauses(rng, spec.get("p_r", 0.0),
                                                    spec.get("r_every", 0)))
        elif "axi_fault" in request:
            spec = request["axi_fault"]
            self.faulty.arm(spec["kind"], burst=spec.get("burst", 0), beat=spec.get("beat", 0))
        else:
            return False
        return True


@cocotb.test()
async def serve(dut):
    src, sink = Path(os.environ["ACCEL_SERVER_SRC"]), Path(os.environ["ACCEL_SERVER_SINK"])
    dut.start.value = 0
    axi_bytes = int(os.environ.get("ACCEL_SERVER_AXI_BYTES", "0"))
    if axi_bytes:
        # Driven from before the reset: undriven, they would fill the reader's registers
        # with X (Icarus). The memory itself is attached after the reset.
        dut.m_axi_rvalid.value = 0
        dut.m_axi_arready.value = 0
    # The harness makes its own clock (10 ns), except with an AXI memory, which needs cocotb's
    # clock to see the signals before each edge (hdl/accel_harness.v).
    await reset(dut, start_clock=bool(axi_bytes))
    memory = ExternalMemory(dut, axi_bytes) if axi_bytes else None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.environ["ACCEL_SERVER_SOCKET"])
        requests, replies = sock.makefile("r"), sock.makefile("w")
        for line in requests:
            request = json.loads(line)
            if request.get("quit"):
                break
            if memory is not None and memory.request(request):
                replies.write(json.dumps({"ok": True}) + "\n")
                replies.flush()
                continue
            shutil.copyfile(request["program"], src)
            sink.unlink(missing_ok=True)
            for name in _INPUTS:
                getattr(dut, name).value = request[name]
            dut.start.value = 1
            await RisingEdge(dut.clk)
            dut.start.value = 0
            await RisingEdge(dut.done)
            await RisingEdge(dut.clk)
            if sink.exists():
                shutil.copyfile(sink, request["response"])
            replies.write(json.dumps({
                "cycles": int(dut.cycles.value), "resp_count": int(dut.resp_count.value),
                "timeout": bool(dut.timeout.value), "errors": int(dut.errors.value),
            }) + "\n")
            replies.flush()
