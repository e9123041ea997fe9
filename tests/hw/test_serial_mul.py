# SPDX-License-Identifier: BSD-2-Clause
"""hw.serial_mul: the bit-serial multiplier of the controller's checks."""

from hw.serial_mul import SerialMultiplier
from tests.helpers import simulate


def test_serial_multiplier(rng):
    dut = SerialMultiplier(a_bits=12, b_bits=10)
    cases = [(0, 0), (4095, 1023), (1, 1023), (4095, 0)]
    cases += [tuple(int(v) for v in rng.integers(0, [4096, 1024])) for _ in range(20)]

    async def bench(ctx):
        for a, b in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 0
            while not ctx.get(dut.done) and cycles < 12:
                await ctx.tick()
                cycles += 1
            assert cycles <= 10, f"{a} * {b} took {cycles} cycles"
            assert ctx.get(dut.product) == a * b

    simulate(dut, bench)
