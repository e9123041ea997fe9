# SPDX-License-Identifier: BSD-2-Clause
"""hw.serial_mul: the bit-serial multiplier-adder of the controller's checks."""

from hw.serial_mul import SerialMultiplier
from tests.helpers import simulate


def test_serial_multiplier(rng):
    dut = SerialMultiplier(a_bits=12, b_bits=10, c_bits=9)
    cases = [(0, 0, 0), (4095, 1023, 511), (1, 1023, 0), (4095, 0, 7)]
    cases += [tuple(int(v) for v in rng.integers(0, [4096, 1024, 512])) for _ in range(20)]

    async def run(ctx, a, b, c, keep):
        ctx.set(dut.a, a)
        ctx.set(dut.b, b)
        ctx.set(dut.c, c)
        ctx.set(dut.keep, keep)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycles = 0
        while not ctx.get(dut.done) and cycles < 12:
            await ctx.tick()
            cycles += 1
        assert cycles <= 10, f"{a} * {b} took {cycles} cycles"
        return ctx.get(dut.product)

    async def bench(ctx):
        for a, b, c in cases:
            assert await run(ctx, a, b, c, 0) == c + a * b
            # keep: add another product to this one
            assert await run(ctx, b, 3, 0, 1) == c + a * b + 3 * b

    simulate(dut, bench)
