# SPDX-License-Identifier: BSD-2-Clause
"""What the cocotb test modules share: stream handles, a beat driver, and reset."""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

__all__ = ["Stream", "put", "reset"]


class Stream:
    """The valid/ready/payload signals of one Amaranth stream port (``<prefix>__valid``...)."""

    def __init__(self, dut, prefix):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")


async def put(clk, stream, beat, rng, p_idle):
    """Offer one beat (after random idle cycles) and return once it has been accepted."""
    while rng.random() < p_idle:
        await RisingEdge(clk)
    stream.valid.value = 1
    stream.payload.value = beat
    while True:
        await ReadOnly()
        accepted = bool(stream.ready.value)
        await RisingEdge(clk)
        if accepted:
            break
    stream.valid.value = 0


async def reset(dut, *, start_clock: bool = True):
    """Start a 10 ns clock on ``dut.clk`` (unless the design makes its own) and hold ``dut.rst``
    for three cycles."""
    if start_clock:
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
