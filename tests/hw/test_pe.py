# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.pe: the ternary processing element (add, subtract or hold; operand isolation)."""

import pytest

from golden.contract.codecs import ILLEGAL_WEIGHT_CODE, WeightCode
from hw.pe import TernaryPE
from tests.helpers import simulate


def test_pe_adds_subtracts_or_holds(rng):
    pe = TernaryPE(act_bits=8, psum_in_bits=12, psum_out_bits=13)
    codes = {1: WeightCode.POS, 0: WeightCode.ZERO, -1: WeightCode.NEG}
    checked = []

    async def bench(ctx):
        # Bank 0 <- +1, bank 1 <- -1, then the zero and illegal codes, every activation value.
        # The bank bit leads its activation by one cycle (ProcessingElement), so the bank of
        # the first activation goes in with the last weight write (which it must see).
        for w0, w1 in ((1, -1), (0, 1), (-1, 0)):
            banks = [int(b) for b in rng.integers(2, size=257)]
            for bank, w in enumerate((w0, w1)):
                ctx.set(pe.w_code, codes[w])
                ctx.set(pe.w_we, 1 << bank)
                ctx.set(pe.bank_in, banks[0])
                await ctx.tick()
            ctx.set(pe.w_we, 0)
            for n, a in enumerate(range(-128, 128)):
                bank = banks[n]
                psum = int(rng.integers(-2048, 2048))
                ctx.set(pe.a_in, a)
                ctx.set(pe.psum_in, psum)
                ctx.set(pe.bank_in, banks[n + 1])
                await ctx.tick()
                w = (w0, w1)[bank]
                assert ctx.get(pe.psum_out) == psum + w * a, (w, a, psum)
                assert ctx.get(pe.a_out) == a and ctx.get(pe.bank_out) == banks[n + 1]
                checked.append(w)

    simulate(pe, bench)
    assert set(checked) == {-1, 0, 1}


def test_zero_weights_hold_the_adder_operand(rng):
    """Operand isolation: under a zero weight the adder's second operand stays at 0 whatever
    the activations do; under a nonzero weight it follows them."""
    pe = TernaryPE(act_bits=8, psum_in_bits=9, psum_out_bits=10)
    toggles = {}

    async def bench(ctx):
        for bank, code in ((0, WeightCode.ZERO), (1, WeightCode.NEG)):
            ctx.set(pe.w_code, code)
            ctx.set(pe.w_we, 1 << bank)
            await ctx.tick()
        ctx.set(pe.w_we, 0)
        for bank in (0, 1):
            ctx.set(pe.bank_in, bank)
            previous, count = None, 0
            for a in rng.integers(-128, 128, size=50):
                ctx.set(pe.a_in, int(a))
                await ctx.delay(1e-9)
                value = ctx.get(pe.addend)
                count += previous is not None and value != previous
                previous = value
                await ctx.tick()
            toggles[bank] = count

    simulate(pe, bench)
    assert toggles[0] == 0           # zero weight: held
    assert toggles[1] > 40           # -1 weight: ~a, changes with almost every activation


def test_pe_treats_the_illegal_code_as_zero():
    pe = TernaryPE(act_bits=8, psum_in_bits=9, psum_out_bits=10)

    async def bench(ctx):
        ctx.set(pe.w_code.as_value(), ILLEGAL_WEIGHT_CODE)
        ctx.set(pe.w_we, 0b01)
        await ctx.tick()
        ctx.set(pe.w_we, 0)
        ctx.set(pe.a_in, -77)
        ctx.set(pe.psum_in, 100)
        await ctx.tick()
        assert ctx.get(pe.psum_out) == 100

    simulate(pe, bench)


def test_pe_refuses_a_partial_sum_too_narrow():
    with pytest.raises(ValueError, match="psum_out_bits=8 could overflow"):
        TernaryPE(act_bits=8, psum_in_bits=8, psum_out_bits=8)
