# SPDX-License-Identifier: BSD-2-Clause
"""The multiply-accumulate baselines: INT8 and FP16 elements for the same array skeleton.

``SystolicArray(config, arithmetic=INT8)`` and ``SystolicArray(config, arithmetic=FP16)`` have
the ternary array's dataflow, ports, double-buffered weights, skew, de-skew and latency; only
the element types and the cell differ, so that area and speed compare like for like.

* :data:`INT8`: ``act_bits``-bit signed activations *and* weights (int8 x int8 by default), one
  multiplier per cell. Partial sums grow with the rows like the ternary array's: a product is
  at most ``2**(2*act_bits - 2)`` in magnitude (``-128 * -128 = 16384``), so the sum of ``r``
  rows has ``sum_bits(r, 2**14)`` = ``16 + floor(log2(r))`` bits for int8: 16 bits
  after the first row, 20 after sixteen.
* :data:`FP16`: IEEE binary16 activations, weights and partial sums; each cell rounds the
  product and then the sum (:mod:`hw.fp16` states the handling of subnormals, infinities and
  NaN). The top row adds its product to -0, the exact identity, so the column computes
  ``a0*w0``, then ``+ a1*w1``, and so on, like the reference :func:`golden.mac.fp16_mac_columns`.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned

from golden.contract.config import AcceleratorConfig, check_positive, sum_bits

from .fp16 import FP16_NEG_ZERO, FP16_WIDTH, Fp16Adder, Fp16Multiplier
from .pe import Arithmetic, ProcessingElement

__all__ = ["FP16", "INT8", "Fp16Arithmetic", "Fp16MacPE", "Int8Arithmetic", "Int8MacPE"]


class Int8MacPE(ProcessingElement):
    """Integer multiply-accumulate cell: ``psum_out = psum_in + a_in * w`` (exact).

    Parameters
    ----------
    act_bits : int
        Width of the signed activation and of the signed weight.
    psum_in_bits, psum_out_bits : int
        Widths of the partial sums; the caller sizes them by bit growth.
    """

    def __init__(self, *, act_bits: int, psum_in_bits: int, psum_out_bits: int):
        check_positive(act_bits=act_bits, psum_in_bits=psum_in_bits, psum_out_bits=psum_out_bits)
        product_bits = sum_bits(1, 1 << (2 * act_bits - 2))
        if psum_out_bits < max(psum_in_bits, product_bits):
            raise ValueError(f"psum_out_bits={psum_out_bits} could overflow: it must hold the "
                             f"{psum_in_bits}-bit input sum and one {product_bits}-bit product")
        super().__init__(act_shape=signed(act_bits), weight_shape=signed(act_bits),
                         psum_in_shape=signed(psum_in_bits),
                         psum_out_shape=signed(psum_out_bits))

    def elaborate(self, platform):
        m = Module()
        w_sel = self.elaborate_common(m)
        self.register(m, self.psum_out, self.psum_in + self.a_in * w_sel)
        return m


class Int8Arithmetic(Arithmetic):
    """Signed integer activations and weights of ``config.act_bits`` bits."""

    name = "int8"
    multiplies = True

    def act_shape(self, config):
        return signed(config.act_bits)

    def weight_shape(self, config):
        return signed(config.act_bits)

    def psum_bits(self, config: AcceleratorConfig, terms: int) -> int:
        """Bits of a signed sum of ``terms`` products of two ``act_bits``-bit integers."""
        return sum_bits(terms, 1 << (2 * config.act_bits - 2))

    def psum_shape(self, config, terms):
        return signed(self.psum_bits(config, terms))

    def top_psum(self, config):
        return signed(1), 0

    def pe(self, config, row):
        return Int8MacPE(act_bits=config.act_bits,
                         psum_in_bits=self.psum_bits(config, row) if row else 1,
                         psum_out_bits=self.psum_bits(config, row + 1))


class Fp16MacPE(ProcessingElement):
    """Binary16 multiply-accumulate cell: ``psum_out = fl(psum_in + fl(a_in * w))``.

    Two roundings to nearest even (the product, then the sum), as two separate torch float16
    operations; see :mod:`hw.fp16` for subnormals, infinities and NaN.
    """

    def __init__(self):
        super().__init__(act_shape=unsigned(FP16_WIDTH), weight_shape=unsigned(FP16_WIDTH),
                         psum_in_shape=unsigned(FP16_WIDTH),
                         psum_out_shape=unsigned(FP16_WIDTH))

    def elaborate(self, platform):
        m = Module()
        w_sel = self.elaborate_common(m)
        m.submodules.mul = mul = Fp16Multiplier()
        m.submodules.add = add = Fp16Adder()
        m.d.comb += [mul.a.eq(self.a_in), mul.b.eq(w_sel),
                     add.a.eq(self.psum_in), add.b.eq(mul.y)]
        self.register(m, self.psum_out, add.y)
        return m


class Fp16Arithmetic(Arithmetic):
    """IEEE binary16 activations, weights and partial sums (``config.act_bits`` is unused)."""

    name = "fp16"
    multiplies = True

    def act_shape(self, config):
        return unsigned(FP16_WIDTH)

    def weight_shape(self, config):
        return unsigned(FP16_WIDTH)

    def psum_shape(self, config, terms):
        return unsigned(FP16_WIDTH)

    def top_psum(self, config):
        return unsigned(FP16_WIDTH), FP16_NEG_ZERO

    def pe(self, config, row):
        return Fp16MacPE()


#: int8 x int8 multiply-accumulate baseline.
INT8 = Int8Arithmetic()
#: IEEE binary16 multiply-accumulate baseline.
FP16 = Fp16Arithmetic()
