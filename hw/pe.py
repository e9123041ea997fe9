# SPDX-License-Identifier: BSD-2-Clause
"""Processing elements and the element types of the systolic array.

The array skeleton (:mod:`hw.array`) is generic over an :class:`Arithmetic`: the shapes of an
activation, a stored weight and a partial sum, and the processing element that combines them.
:data:`TERNARY` is the project's multiplier-free design; :mod:`hw.mac` adds the INT8 and FP16
multiply-accumulate baselines it is compared with. Every element shares the ports and the
double-buffered weight storage of :class:`ProcessingElement`.
"""

from __future__ import annotations

import abc

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.codecs import WeightCode
from golden.contract.config import AcceleratorConfig, check_positive

__all__ = ["TERNARY", "Arithmetic", "ProcessingElement", "TernaryArithmetic", "TernaryPE",
           ]


class ProcessingElement(wiring.Component):
    """Ports and weight storage shared by every cell of the weight-stationary array.

    Each cycle a cell takes an activation ``a_in`` from its left neighbour and a partial sum
    ``psum_in`` from the cell above, registers ``psum_out = psum_in + w * a_in`` (in the
    subclass's arithmetic), and passes ``a_in`` and ``bank_in`` on to the right.

    The cell holds two weights (double buffering): a bank bit travels with each activation
    and selects which one it meets, so the array can load one tile into the idle bank while the
    other computes, and switch tiles between two consecutive activations without a bubble.

    The bank bit runs **one cycle ahead** of its activation: ``bank_in`` in cycle T is the bank
    of the activation that arrives in cycle T + 1. The cell uses that cycle to select (and
    register) the weight, so the adder's operand is one small function of the activation and
    a register, and the bank multiplexer is off the critical path. A write into a bank in
    cycle T is forwarded into that selection, so a weight is seen by exactly the activations
    it would be seen by if it were selected in the cycle of the addition.

    Members
    -------
    a_in, a_out : act_shape
    bank_in, bank_out : 1
        Bank of the next activation (``bank_out`` is ``bank_in`` registered, for the right
        neighbour's next activation).
    psum_in : psum_in_shape
    psum_out : psum_out_shape
    w_code : weight_shape
        Weight being written, in its stored encoding (shared by the column, skewed to meet
        ``w_we``).
    w_we : 2
        Write enable of weight bank 0 and bank 1, from the left neighbour (or, decoded per row,
        from the array's edge).
    w_we_out : 2
        ``w_we`` registered, to the right neighbour: a row write moves one column per cycle,
        like the activations, so it meets every cell of its row in issue order with them.

    Attributes
    ----------
    w_banks : tuple of two Signal(weight_shape)
        The two weight banks (not ports): part of the probe set
        (:class:`hw.array.ArrayProbes`).
    w_sel : Signal(weight_shape)
        The weight the activation in this cell meets (registered one cycle ahead).
    """

    def __init__(self, *, act_shape, weight_shape, psum_in_shape, psum_out_shape):
        self.w_banks = tuple(Signal(weight_shape, name=f"w_bank{b}") for b in range(2))
        self.w_sel = Signal(weight_shape, name="w_sel")
        super().__init__({
            "a_in": In(act_shape),
            "bank_in": In(1),
            "psum_in": In(psum_in_shape),
            "w_code": In(weight_shape),
            "w_we": In(2),
            "w_we_out": Out(2),
            "a_out": Out(act_shape),
            "bank_out": Out(1),
            "psum_out": Out(psum_out_shape),
        })

    def elaborate_common(self, m: Module) -> Signal:
        """Add the weight banks and the pass-through registers to ``m``; return the weight that
        the activation in this cell meets (a register of ``weight_shape``)."""
        banks, w_sel = self.w_banks, self.w_sel
        for b, bank in enumerate(banks):
            with m.If(self.w_we[b]):
                m.d.sync += bank.eq(self.w_code)
        # A bank as the next cycle will see it: with this cycle's write, if any.
        ahead = [Mux(self.w_we[b], self.w_code, bank) for b, bank in enumerate(banks)]
        self.register(m, w_sel, Mux(self.bank_in, ahead[1], ahead[0]))
        self.register(m, self.a_out, self.a_in)
        self.register(m, self.bank_out, self.bank_in)
        # Write enables are control, not pipeline: they keep their reset.
        m.d.sync += self.w_we_out.eq(self.w_we)
        return w_sel

    @staticmethod
    def register(m: Module, port, value) -> None:
        """``port`` <= ``value`` every cycle, through a flip-flop without reset (``port`` may
        be a port or an internal signal).

        The datapath needs no reset: a result depends only on its own vector's operands,
        which fill the pipeline behind it, and the valid bits (which are reset) say which
        results count. Leaving the reset out saves a gate per bit on an ASIC and a high-fanout
        net on an FPGA. Weight banks keep theirs: they are state, not pipeline.
        """
        reg = Signal.like(port, reset_less=True, name=f"{Value.cast(port).name}_reg")
        m.d.sync += reg.eq(value)
        m.d.comb += port.eq(reg)


class TernaryPE(ProcessingElement):
    """One cell of the ternary array: add, subtract or hold. There is no multiplier.

    ``psum_out = psum_in + w * a_in`` with ``w`` in {-1, 0, +1}. Subtraction is
    ``psum_in + ~a_in + 1``: the inverted activation and a carry-in into the same two-operand
    adder, so each cell has exactly one carry chain.

    Zero weights are operand-isolated: the adder's second operand ``addend`` is held
    at zero (it does not toggle) for as long as the weight is zero, which within a weight tile
    is every cycle; an activity-based energy estimate sees this in the toggle count of
    ``addend``.

    Parameters
    ----------
    act_bits : int
        Width of the signed activation.
    psum_in_bits : int
        Width of the incoming partial sum (1 for the top row, whose input is tied to zero).
    psum_out_bits : int
        Width of the outgoing partial sum; the caller sizes it by bit growth.

    Members
    -------
    The ports of :class:`ProcessingElement`, with ``a_in, a_out : signed(act_bits)``,
    ``psum_in : signed(psum_in_bits)``, ``psum_out : signed(psum_out_bits)`` and
    ``w_code : WeightCode``.

    Attributes
    ----------
    addend : Signal(signed(act_bits))
        The adder's second operand (not a port): observable in simulation and waveforms, so
        that an activity-based energy estimate can count its toggles.
    """

    def __init__(self, *, act_bits: int, psum_in_bits: int, psum_out_bits: int):
        check_positive(act_bits=act_bits, psum_in_bits=psum_in_bits, psum_out_bits=psum_out_bits)
        # The caller sizes psum_out_bits by the range of the sum, which can be narrower than
        # max(psum_in_bits, act_bits) + 1; only widths that cannot hold one product are wrong.
        if psum_out_bits < max(psum_in_bits, act_bits + 1):
            raise ValueError(f"psum_out_bits={psum_out_bits} could overflow: it must hold the "
                             f"{psum_in_bits}-bit input sum and one {act_bits + 1}-bit product")
        self._act_bits = act_bits
        self._psum_in_bits = psum_in_bits
        self._psum_out_bits = psum_out_bits
        self.addend = Signal(signed(act_bits))
        super().__init__(act_shape=signed(act_bits), weight_shape=WeightCode,
                         psum_in_shape=signed(psum_in_bits),
                         psum_out_shape=signed(psum_out_bits))

    @property
    def act_bits(self):
        return self._act_bits

    @property
    def psum_in_bits(self):
        return self._psum_in_bits

    @property
    def psum_out_bits(self):
        return self._psum_out_bits

    def elaborate(self, platform):
        m = Module()
        w_sel = self.elaborate_common(m)

        # The code is the weight in two's complement (WeightCode): bit 0 says "nonzero" and,
        # with bit 0, bit 1 says "negative"; the illegal code 0b10 is therefore a zero. Each
        # addend bit is a 3-input function of its activation bit and the registered code:
        # one LUT4 in front of the carry chain on an FPGA.
        code = w_sel.as_value()
        nonzero, negative = code[0], code[0] & code[1]
        addend = self.addend
        carry = Signal()
        m.d.comb += [
            addend.eq((self.a_in ^ negative.replicate(self._act_bits))
                      & nonzero.replicate(self._act_bits)),
            carry.eq(negative),
        ]

        # psum_in + addend + carry as one two-operand adder with a carry-in: the carry rides in
        # an extra LSB of both operands (1 + 1 carries into bit 1), and the shift drops that
        # LSB. A three-operand sum would become a $macc cell and, on some flows, two adders.
        total = Signal(signed(self._psum_out_bits + 1))
        m.d.comb += total.eq(((self.psum_in << 1) | carry) + ((addend << 1) | carry))
        self.register(m, self.psum_out, total >> 1)
        return m


class Arithmetic(abc.ABC):
    """An element type of the array: what a cell computes, and the shapes it computes on.

    :class:`hw.array.SystolicArray` asks its arithmetic for the shape of an activation, a stored
    weight and the partial sum after ``r`` rows, for the partial sum that enters the top row
    (the additive identity), and for the processing element of each row. Nothing else in the
    array depends on the element type, so the ternary array and its baselines share the
    dataflow, the interfaces and the latency exactly.
    """

    #: Short name, used in reports and build directories.
    name: str = ""
    #: Whether each cell has a multiplier (which an FPGA flow may put in a DSP block).
    multiplies: bool = False

    @abc.abstractmethod
    def act_shape(self, config: AcceleratorConfig):
        """Shape of one activation element."""

    @abc.abstractmethod
    def weight_shape(self, config: AcceleratorConfig):
        """Shape of one weight as written into a cell."""

    @abc.abstractmethod
    def psum_shape(self, config: AcceleratorConfig, terms: int):
        """Shape of a partial sum of ``terms`` products (the output of row ``terms - 1``)."""

    @abc.abstractmethod
    def top_psum(self, config: AcceleratorConfig) -> tuple[object, int]:
        """(shape, value) of the constant partial sum that enters the top row."""

    @abc.abstractmethod
    def pe(self, config: AcceleratorConfig, row: int) -> ProcessingElement:
        """The processing element of row ``row`` (widths may grow down the column)."""

    def result_shape(self, config: AcceleratorConfig):
        return self.psum_shape(config, config.rows)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


class TernaryArithmetic(Arithmetic):
    """int8 activations, 2-bit ternary weight codes, partial sums sized by bit growth
    (:meth:`AcceleratorConfig.psum_bits`)."""

    name = "ternary"

    def act_shape(self, config):
        return signed(config.act_bits)

    def weight_shape(self, config):
        return WeightCode

    def psum_shape(self, config, terms):
        return signed(config.psum_bits(terms))

    def top_psum(self, config):
        return signed(1), 0

    def pe(self, config, row):
        return TernaryPE(act_bits=config.act_bits,
                         psum_in_bits=config.psum_bits(row) if row else 1,
                         psum_out_bits=config.psum_bits(row + 1))


#: The project's multiplier-free element type (the default of every array).
TERNARY = TernaryArithmetic()
