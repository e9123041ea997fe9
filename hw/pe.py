# SPDX-License-Identifier: BSD-2-Clause
"""The ternary processing element: add, subtract or hold. There is no multiplier."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.isa import WeightCode

__all__ = ["TernaryPE"]


class TernaryPE(wiring.Component):
    """One cell of the weight-stationary systolic array.

    Each cycle the cell takes an activation ``a_in`` from its left neighbour and a partial sum
    ``psum_in`` from the cell above, and registers::

        psum_out = psum_in + w * a_in      # w in {-1, 0, +1}: add, subtract or pass through
        a_out    = a_in                    # to the right neighbour
        bank_out = bank_in

    The cell holds two weights (double buffering): ``bank_in`` travels with each activation
    and selects which one it meets, so the array can load one tile into the idle bank while the
    other computes, and switch tiles between two consecutive activations without a bubble.

    Subtraction is ``psum_in + ~a_in + 1``: the inverted activation and a carry-in into the
    same two-operand adder, so each cell has exactly one carry chain.

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
    a_in, a_out : signed(act_bits)
    bank_in, bank_out : 1
    psum_in : signed(psum_in_bits)
    psum_out : signed(psum_out_bits)
    w_code : WeightCode
        Weight being written (shared by the column, skewed to meet ``w_we``).
    w_we : 2
        Write enable of weight bank 0 and bank 1, from the left neighbour (or, decoded per row,
        from the array's edge).
    w_we_out : 2
        ``w_we`` registered, to the right neighbour: a row write moves one column per cycle.

    Attributes
    ----------
    addend : Signal(signed(act_bits))
        The adder's second operand (not a port): observable in simulation and waveforms, so
        that an activity-based energy estimate can count its toggles.
    """

    def __init__(self, *, act_bits: int, psum_in_bits: int, psum_out_bits: int):
        for name, value in (("act_bits", act_bits), ("psum_in_bits", psum_in_bits),
                            ("psum_out_bits", psum_out_bits)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        # The caller sizes psum_out_bits by the range of the sum, which can be narrower than
        # max(psum_in_bits, act_bits) + 1; only widths that cannot hold one product are wrong.
        if psum_out_bits < max(psum_in_bits, act_bits + 1):
            raise ValueError(f"psum_out_bits={psum_out_bits} could overflow: it must hold the "
                             f"{psum_in_bits}-bit input sum and one {act_bits + 1}-bit product")
        self._act_bits = act_bits
        self._psum_in_bits = psum_in_bits
        self._psum_out_bits = psum_out_bits
        self.addend = Signal(signed(act_bits))
        super().__init__({
            "a_in": In(signed(act_bits)),
            "bank_in": In(1),
            "psum_in": In(signed(psum_in_bits)),
            "w_code": In(WeightCode),
            "w_we": In(2),
            "w_we_out": Out(2),
            "a_out": Out(signed(act_bits)),
            "bank_out": Out(1),
            "psum_out": Out(signed(psum_out_bits)),
        })

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

        banks = [Signal(WeightCode, name=f"w_bank{b}") for b in range(2)]
        for b, bank in enumerate(banks):
            with m.If(self.w_we[b]):
                m.d.sync += bank.eq(self.w_code)

        w_sel = Signal(WeightCode)
        m.d.comb += w_sel.eq(Mux(self.bank_in, banks[1], banks[0]))

        addend = self.addend
        carry = Signal()
        with m.Switch(w_sel):
            with m.Case(WeightCode.POS):
                m.d.comb += addend.eq(self.a_in)
            with m.Case(WeightCode.NEG):
                m.d.comb += [addend.eq(~self.a_in), carry.eq(1)]
            # ZERO (and the illegal code 0b10): addend stays 0, the sum passes through.

        # psum_in + addend + carry as one two-operand adder with a carry-in: the carry rides in
        # an extra LSB of both operands (1 + 1 carries into bit 1), and the shift drops that
        # LSB. A three-operand sum would become a $macc cell and, on some flows, two adders.
        total = Signal(signed(self._psum_out_bits + 1))
        m.d.comb += total.eq(((self.psum_in << 1) | carry) + ((addend << 1) | carry))
        m.d.sync += [
            self.psum_out.eq(total >> 1),
            self.a_out.eq(self.a_in),
            self.bank_out.eq(self.bank_in),
            self.w_we_out.eq(self.w_we),
        ]
        return m
