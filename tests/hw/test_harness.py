# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.harness: the IO harness reaches every input and observes every output."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.harness import IoHarness
from tests.helpers import simulate


class _Probe(wiring.Component):
    """Outputs = inputs registered, with widths that do not line up with each other."""

    a: In(5)
    b: In(3)
    x: Out(5)
    y: Out(3)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.x.eq(self.a), self.y.eq(self.b)]
        return m


def test_harness_reaches_every_input_and_observes_every_output():
    probe = _Probe()
    dut = IoHarness(probe)
    assert (dut.input_bits, dut.output_bits) == (8, 8)
    pattern = [1, 0, 1, 1, 0, 0, 1, 0]
    seen = []

    async def bench(ctx):
        for bit in pattern:                 # the first bit in ends up in the top input bit
            ctx.set(dut.si, bit)
            await ctx.tick()
        ctx.set(dut.capture, 1)             # hold the input chain
        ctx.set(dut.si, 0)
        await ctx.tick()                    # the input register
        # Inputs in port order (a, then b), LSB first, are the chain's bits.
        value = ctx.get(probe.a) | (ctx.get(probe.b) << 5)
        assert [(value >> i) & 1 for i in range(8)] == pattern[::-1]
        await ctx.tick().repeat(2)          # the probe registers its inputs; the output register
        await ctx.tick()                    # capture
        ctx.set(dut.capture, 0)
        for _ in range(8):
            seen.append(ctx.get(dut.so))
            await ctx.tick()

    simulate(dut, bench)
    assert seen == pattern[::-1]


def test_harness_needs_an_output():
    class Sink(wiring.Component):
        a: In(4)

        def elaborate(self, platform):
            return Module()

    with pytest.raises(ValueError, match="Sink has no output port"):
        IoHarness(Sink())
