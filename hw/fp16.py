# SPDX-License-Identifier: BSD-2-Clause
"""IEEE 754 binary16 multiply and add (round to nearest, ties to even), for the FP16 baseline.

Both units are combinational and agree bit for bit with PyTorch's ``torch.float16`` operations
on every input, under this handling of the special cases (the tests check each statement):

* **Subnormals are flushed to zero** (FTZ/DAZ, as many accelerators do): a subnormal operand is
  read as a zero of the same sign, and a result that IEEE rounding makes subnormal is returned
  as a zero of the same sign. A result that rounds *up* to the smallest normal, 2**-14, is
  returned as 2**-14, as IEEE (and torch) round it. In other words, for operands ``a, b``::

      hardware(a, b) == ftz(torch_op(ftz(a), ftz(b)))

  where ``ftz`` maps subnormals to signed zeros and leaves everything else alone.
* **Infinities** follow IEEE: ``inf * finite nonzero = inf`` with the product's sign,
  ``inf + finite = inf``, results that round beyond 65504 become infinities.
* **NaN**: any NaN operand, ``0 * inf`` and ``inf - inf`` give the quiet NaN ``0x7e00``
  (IEEE leaves the sign and payload of a produced NaN open; torch does too, so the tests
  compare NaN-ness, not NaN bit patterns).
* Signed zeros as IEEE in round-to-nearest: ``x + (-x) = +0``, ``-0 + -0 = -0``, and a product's
  zero carries the XOR of the signs. ``-0`` is therefore an exact identity of the adder
  (``-0 + x == x`` for every ``x``), which the array uses to feed its top row.

Flushing subnormals keeps the baseline smaller than a fully IEEE unit (no normalization of
subnormal operands), which can only flatter the FP16 side of the ternary comparison.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FP16_NAN", "FP16_NEG_ZERO", "FP16_WIDTH", "Fp16Adder", "Fp16Multiplier"]

FP16_WIDTH = 16
_EXP_BITS, _FRAC_BITS = 5, 10
_EXP_MAX = (1 << _EXP_BITS) - 1        # 31: infinities and NaNs
#: The quiet NaN both units return.
FP16_NAN = 0x7E00
#: -0.0: the additive identity of round-to-nearest IEEE addition.
FP16_NEG_ZERO = 0x8000


class _Fields:
    """Sign, biased exponent and fraction of a binary16 value, with its class."""

    def __init__(self, value):
        self.sign = value[15]
        self.exp = value[_FRAC_BITS:15]
        self.frac = value[:_FRAC_BITS]
        self.zero = self.exp == 0                       # zero or (flushed) subnormal
        self.special = self.exp == _EXP_MAX
        self.inf = self.special & (self.frac == 0)
        self.nan = self.special & (self.frac != 0)
        self.sig = Cat(self.frac, 1)                    # 1.frac: 11 bits (normals only)


def _pack(sign, exp, frac):
    def field(value, width):
        return Const(value, width) if isinstance(value, int) else value
    return Cat(field(frac, _FRAC_BITS), field(exp, _EXP_BITS), field(sign, 1))


def _round_pack(m: Module, *, sign, exp, sig, round_bit, sticky, name: str):
    """Round an 11-bit significand ``sig`` (leading one at bit 10) with biased exponent ``exp``
    (a signed value, unbounded) to binary16, flushing results below 2**-14 to signed zero and
    overflowing to infinity. Returns the 16-bit result."""
    inc = round_bit & (sticky | sig[0])
    rounded = Signal(12, name=f"{name}_rounded")
    m.d.comb += rounded.eq(sig + inc)
    # A carry out of the significand (1.11..1 + ulp = 10.0) bumps the exponent.
    exp_r = Signal.like(exp, name=f"{name}_exp_r")
    m.d.comb += exp_r.eq(exp + rounded[11])
    frac = Mux(rounded[11], 0, rounded[:_FRAC_BITS])
    # Below the normal range an IEEE unit rounds on the coarser subnormal grid (ulp 2**-24),
    # where a value in [2**-15, 2**-14) reaches 2**-14 exactly when it is at least 2**-14 -
    # 2**-25, i.e. when its significand at exponent 0 is all ones; everything else there is
    # subnormal and flushed. (11-bit rounding alone would flush the values in between.)
    to_min_normal = (exp == 0) & (sig == (1 << 11) - 1)
    result = Signal(FP16_WIDTH, name=f"{name}_result")
    with m.If(exp_r >= _EXP_MAX):
        m.d.comb += result.eq(_pack(sign, _EXP_MAX, 0))
    with m.Elif(to_min_normal):
        m.d.comb += result.eq(_pack(sign, 1, 0))
    with m.Elif(exp_r <= 0):
        m.d.comb += result.eq(_pack(sign, 0, 0))
    with m.Else():
        m.d.comb += result.eq(_pack(sign, exp_r[:_EXP_BITS], frac))
    return result


class _BinaryOp(wiring.Component):
    """A combinational binary16 operation ``y = a op b``.

    Members
    -------
    a, b : In(16)
    y : Out(16)
    """

    a: In(FP16_WIDTH)
    b: In(FP16_WIDTH)
    y: Out(FP16_WIDTH)


class Fp16Multiplier(_BinaryOp):
    """``y = a * b`` in binary16, one rounding (see the module docstring for special cases).

    The 11 x 11-bit significand product is the one multiplier of the FP16 processing element.
    """

    def elaborate(self, platform):
        m = Module()
        a, b = _Fields(self.a), _Fields(self.b)
        sign = a.sign ^ b.sign

        product = Signal(22)
        m.d.comb += product.eq(a.sig * b.sig)
        # 1.x * 1.y is in [1, 4): normalize by one bit when it reaches 2.
        hi = product[21]
        sig = Mux(hi, product[11:22], product[10:21])
        round_bit = Mux(hi, product[10], product[9])
        sticky = Mux(hi, product[:10] != 0, product[:9] != 0)
        # Biased result exponent: (ea - 15) + (eb - 15) + 15, plus the normalization.
        exp = Signal(signed(8))
        m.d.comb += exp.eq(a.exp + b.exp - 15 + hi)
        normal = _round_pack(m, sign=sign, exp=exp, sig=sig, round_bit=round_bit, sticky=sticky,
                             name="mul")

        with m.If(a.nan | b.nan | (a.inf & b.zero) | (b.inf & a.zero)):
            m.d.comb += self.y.eq(FP16_NAN)
        with m.Elif(a.inf | b.inf):
            m.d.comb += self.y.eq(_pack(sign, _EXP_MAX, 0))
        with m.Elif(a.zero | b.zero):
            m.d.comb += self.y.eq(_pack(sign, 0, 0))
        with m.Else():
            m.d.comb += self.y.eq(normal)
        return m


# Guard, round and sticky bits below the 11-bit significand during alignment: enough for a
# correctly rounded sum or difference of two binary16 values.
_GRS = 3
_EXT = 11 + _GRS


def _leading_zeros(m: Module, value, *, name: str):
    """Leading zeros of ``value`` (its width if zero), as a priority encoder."""
    width = len(value)
    count = Signal(range(width + 1), name=name)
    expr = width
    for i in range(width):      # the highest set bit wins: it is applied last
        expr = Mux(value[i], width - 1 - i, expr)
    m.d.comb += count.eq(expr)
    return count


class Fp16Adder(_BinaryOp):
    """``y = a + b`` in binary16, one rounding (see the module docstring for special cases).

    Classic single-path adder: order the operands by magnitude, align the smaller one with
    guard, round and sticky bits, add or subtract, normalize (one bit right after a carry, a
    leading-zero count left after cancellation), round to nearest even.
    """

    def elaborate(self, platform):
        m = Module()
        a, b = _Fields(self.a), _Fields(self.b)

        # Order by magnitude: exponent and fraction compare as one 15-bit unsigned number.
        swap = self.b[:15] > self.a[:15]
        big = _Fields(Mux(swap, self.b, self.a))
        small = _Fields(Mux(swap, self.a, self.b))
        sub = a.sign ^ b.sign

        # Align: shifting the extended significand by up to _EXT + 1 moves every nonzero bit
        # out, so the distance saturates there; bits shifted out feed the sticky bit.
        dist = Signal(range(_EXT + 2))
        diff = big.exp - small.exp
        m.d.comb += dist.eq(Mux(diff > _EXT + 1, _EXT + 1, diff))
        wide = Signal(2 * _EXT)
        m.d.comb += wide.eq(Cat(Const(0, _EXT + _GRS), small.sig) >> dist)
        aligned = Signal(_EXT)
        m.d.comb += aligned.eq(wide[_EXT:] | (wide[:_EXT] != 0))
        big_ext = Cat(Const(0, _GRS), big.sig)

        total = Signal(_EXT + 1)
        m.d.comb += total.eq(Mux(sub, big_ext - aligned, big_ext + aligned))

        # Normalize so that the leading one sits at bit _EXT - 1.
        lz = _leading_zeros(m, total[:_EXT], name="lz")
        norm = Signal(_EXT)
        exp = Signal(signed(8))
        with m.If(total[_EXT]):
            m.d.comb += [norm.eq(Cat(total[0] | total[1], total[2:])),
                         exp.eq(big.exp + 1)]
        with m.Else():
            m.d.comb += [norm.eq(total[:_EXT] << lz), exp.eq(big.exp - lz)]
        normal = _round_pack(m, sign=big.sign, exp=exp, sig=norm[_GRS:],
                             round_bit=norm[_GRS - 1], sticky=norm[:_GRS - 1] != 0, name="add")

        with m.If(a.nan | b.nan | (a.inf & b.inf & sub)):
            m.d.comb += self.y.eq(FP16_NAN)
        with m.Elif(a.inf | b.inf):
            m.d.comb += self.y.eq(Mux(a.inf, _pack(a.sign, _EXP_MAX, 0),
                                      _pack(b.sign, _EXP_MAX, 0)))
        with m.Elif(a.zero & b.zero):
            m.d.comb += self.y.eq(_pack(a.sign & b.sign, 0, 0))
        with m.Elif(b.zero):
            m.d.comb += self.y.eq(self.a)
        with m.Elif(a.zero):
            m.d.comb += self.y.eq(self.b)
        with m.Elif(total == 0):
            # Exact cancellation: +0 in round-to-nearest.
            m.d.comb += self.y.eq(0)
        with m.Else():
            m.d.comb += self.y.eq(normal)
        return m
