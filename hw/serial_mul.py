# SPDX-License-Identifier: BSD-2-Clause
"""A bit-serial shift-and-add multiplier for the controller's bounds checks.

The controller checks a command's extents (``n_tiles * k_tiles`` tiles, ``m * k_tiles``
activation words, ...) before it touches any buffer. Those products of command arguments are
control, not datapath: one adder over ``b_bits`` cycles computes them, so the accelerator has
no multiplier anywhere, not even for its own bookkeeping.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.config import check_positive

__all__ = ["SerialMultiplier"]


class SerialMultiplier(wiring.Component):
    """``product = a * b`` (unsigned), one bit of ``b`` per cycle, ``done`` when finished.

    Members
    -------
    start : In(1)
        Pulse: latch ``a`` and ``b`` and begin (``done`` falls).
    a : In(a_bits)
    b : In(b_bits)
    done : Out(1)
        High once ``product`` is valid (at most ``b_bits`` cycles after ``start``; early when
        the remaining bits of ``b`` are zero) and until the next ``start``.
    product : Out(a_bits + b_bits)
    """

    def __init__(self, *, a_bits: int, b_bits: int):
        check_positive(a_bits=a_bits, b_bits=b_bits)
        super().__init__({
            "start": In(1),
            "a": In(a_bits),
            "b": In(b_bits),
            "done": Out(1, init=1),
            "product": Out(a_bits + b_bits),
        })

    def elaborate(self, platform):
        m = Module()
        addend = Signal.like(self.product)
        rest = Signal.like(self.b)
        with m.If(self.start):
            m.d.sync += [self.product.eq(0), addend.eq(self.a), rest.eq(self.b),
                         self.done.eq(0)]
        with m.Elif(~self.done):
            with m.If(rest[0]):
                m.d.sync += self.product.eq(self.product + addend)
            m.d.sync += [addend.eq(addend << 1), rest.eq(rest >> 1)]
            with m.If((rest >> 1) == 0):
                m.d.sync += self.done.eq(1)
        return m
