# SPDX-License-Identifier: BSD-2-Clause
"""A bit-serial shift-and-add multiplier-adder for the controller's bounds checks.

The controller checks a command's extents (``a_addr + m * k_tiles <= act_depth``, ...)
before it touches any buffer. Those products of command arguments are control, not datapath:
one adder computes ``c + a * b`` over at most ``b_bits`` cycles, so the accelerator has no
multiplier anywhere, not even for its own bookkeeping. The controller narrows the arguments
to the buffers' widths first, and uses one unit for all its products, one after the other.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.config import check_positive

__all__ = ["SerialMultiplier"]


class SerialMultiplier(wiring.Component):
    """``product = c + a * b`` (unsigned, or ``product + a * b`` with ``keep``), one bit of
    ``b`` per cycle, ``done`` when finished.

    ``product`` is ``p_bits`` wide (default: wide enough for any ``c + a * b``); a narrower
    product is exact as long as the result fits.

    Members
    -------
    start : In(1)
        Pulse: latch ``a`` and ``b`` (and ``c`` unless ``keep``) and begin (``done`` falls).
    keep : In(1)
        With ``start``: add to the product instead of starting from ``c``.
    a : In(a_bits)
    b : In(b_bits)
    c : In(c_bits)
    done : Out(1)
        From the cycle after ``start``: high once ``product`` is valid (at most ``b_bits``
        cycles after ``start``; early when the remaining bits of ``b`` are zero), until the
        next ``start``.
    product : Out(p_bits)
    """

    def __init__(self, *, a_bits: int, b_bits: int, c_bits: int = 1, p_bits: int | None = None):
        check_positive(a_bits=a_bits, b_bits=b_bits, c_bits=c_bits)
        if p_bits is None:
            p_bits = max(a_bits + b_bits, c_bits) + 1
        check_positive(p_bits=p_bits)
        super().__init__({
            "start": In(1),
            "keep": In(1),
            "a": In(a_bits),
            "b": In(b_bits),
            "c": In(c_bits),
            "done": Out(1),
            "product": Out(p_bits),
        })

    def elaborate(self, platform):
        m = Module()
        addend = Signal.like(self.product)      # a << i (bits above the product never add)
        rest = Signal.like(self.b)              # b >> i
        m.d.comb += self.done.eq(rest == 0)
        with m.If(self.start):
            m.d.sync += [self.product.eq(Mux(self.keep, self.product, self.c)),
                         addend.eq(self.a), rest.eq(self.b)]
        with m.Elif(~self.done):
            with m.If(rest[0]):
                m.d.sync += self.product.eq(self.product + addend)
            m.d.sync += [addend.eq(addend << 1), rest.eq(rest >> 1)]
        return m
