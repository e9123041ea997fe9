# SPDX-License-Identifier: BSD-2-Clause
"""cocotb server of the accelerator inside :file:`sim/testbenches/hdl/accel_harness.v`.

One simulator process serves a whole session: this bench connects to the Unix socket
``$ACCEL_SERVER_SOCKET`` of the host (:class:`sim.backends.CocotbBackend`) and reads one JSON
request per line; for each, it copies the request's program file to the harness's +src file,
starts the harness, waits for it to finish (the harness bounds every run by ``max_cycles``),
copies the +sink file to the request's response file and answers one JSON line. A request
``{"quit": true}`` (or the host closing the connection) ends the session.

The simulator waits on the socket between requests; simulated time does not advance there.
No PyTorch or Amaranth in this process: it stays light.
"""

import json
import os
import shutil
import socket
from pathlib import Path

import cocotb
from cocotb.triggers import RisingEdge

from .drivers import reset

_INPUTS = ("src_len", "p_idle", "p_stall", "seed", "max_cycles")


@cocotb.test()
async def serve(dut):
    src, sink = Path(os.environ["ACCEL_SERVER_SRC"]), Path(os.environ["ACCEL_SERVER_SINK"])
    dut.start.value = 0
    await reset(dut, start_clock=False)          # the harness makes its own clock (10 ns)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.environ["ACCEL_SERVER_SOCKET"])
        requests, replies = sock.makefile("r"), sock.makefile("w")
        for line in requests:
            request = json.loads(line)
            if request.get("quit"):
                break
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
