# SPDX-License-Identifier: BSD-2-Clause
"""An IO harness that puts a design with hundreds of ports on a device with a few dozen pins,
without letting synthesis remove any of its logic.

::

    si ──► [ input shift register ] ──► [ input register ] ──► every input port of the design
    every output port ──► [ output register ] ──► [ capture / shift register ] ──► so
                 capture=1: load the output register, hold the inputs; capture=0: shift

Every input bit of the design is driven by its own flip-flop, whose value the tools cannot
know (it comes from the ``si`` pin through the chain), and every output bit reaches the ``so``
pin through the capture chain, so nothing in the design is constant or unobservable and
nothing can be optimized away. Every port is registered on both sides, so timing measures the
design's own paths (including its input-to-register and register-to-output logic) as it would
be embedded in a larger synchronous design. Five pins: ``clk``, ``rst``, ``si``, ``capture``,
``so``.

The port registers are plain flip-flops between the chains and the design: a chain ties each
of its flip-flops to its neighbours in chain order, which is not the order in which the
design's logic sits on the device, and a port driven (or captured) by a chain flip-flop would
time a route across the device that no real embedding has. A port register has one source
and one load, so the placer puts it beside the design's logic, as the registers of a
surrounding design would be. (The input chain holds while ``capture`` is high, so no input
register has the same next state as a chain flip-flop and Yosys cannot merge the two.)

The harness costs ``2 * (N_in + N_out)`` flip-flops and about one LUT per port bit (the hold
and capture multiplexers). The FPGA report counts resources of the design alone from a
separate synthesis without the harness, and gives the placed totals (harness included) beside
them.
"""

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["IoHarness", "port_bits"]


def port_bits(component) -> tuple[list[Value], list[Value]]:
    """(inputs, outputs): the non-constant port values of ``component``."""
    inputs, outputs = [], []
    for _path, member, value in component.signature.flatten(component):
        value = Value.cast(value)
        if isinstance(value, Const):       # an always-ready stream's ready, for instance
            continue
        (inputs if member.flow == In else outputs).append(value)
    return inputs, outputs


class IoHarness(wiring.Component):
    """Serial-in, serial-out wrapper of ``design`` (any Amaranth component with a signature).

    Members
    -------
    si : In(1)
        Serial input, shifted into the input register every cycle.
    capture : In(1)
        Load every output of the design into the output register (else shift it towards
        ``so``).
    so : Out(1)
        Serial output.
    """

    si: In(1)
    capture: In(1)
    so: Out(1)

    def __init__(self, design):
        self._design = design
        inputs, outputs = port_bits(design)
        self._n_in = sum(len(v) for v in inputs)
        self._n_out = sum(len(v) for v in outputs)
        if not self._n_out:
            raise ValueError(f"{type(design).__name__} has no output port: nothing to observe")
        super().__init__()

    @property
    def input_bits(self) -> int:
        return self._n_in

    @property
    def output_bits(self) -> int:
        return self._n_out

    @property
    def flip_flops(self) -> int:
        """Flip-flops of the harness itself: two per port bit."""
        return 2 * (self._n_in + self._n_out)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self._design
        inputs, outputs = port_bits(self._design)

        if inputs:
            sr_in = Signal(self._n_in)
            in_reg = Signal(self._n_in)
            with m.If(~self.capture):
                m.d.sync += sr_in.eq(Cat(self.si, sr_in[:-1]))
            m.d.sync += in_reg.eq(sr_in)
            m.d.comb += Cat(*inputs).eq(in_reg)

        out_reg = Signal(self._n_out)
        sr_out = Signal(self._n_out)
        m.d.sync += out_reg.eq(Cat(*outputs))
        with m.If(self.capture):
            m.d.sync += sr_out.eq(out_reg)
        with m.Else():
            m.d.sync += sr_out.eq(sr_out[1:])
        m.d.comb += self.so.eq(sr_out[0])
        return m
