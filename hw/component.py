# SPDX-License-Identifier: BSD-2-Clause
"""The base of every block that is built from an
:class:`~golden.contract.config.AcceleratorConfig`, the one way a block reads a memory, and
the one way it copies a register that drives too many loads."""

from amaranth.hdl import Signal
from amaranth.lib import wiring

from golden.contract.config import AcceleratorConfig

__all__ = ["KEEP_REPLICAS", "ConfiguredComponent", "registered_read", "replicas"]


class ConfiguredComponent(wiring.Component):
    """A component whose ports and structure follow from one configuration.

    Parameters
    ----------
    config : AcceleratorConfig
    members : dict
        The signature members (they usually depend on ``config``).
    """

    def __init__(self, config: AcceleratorConfig, members: dict):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"config must be an AcceleratorConfig, not {type(config).__name__}")
        self._config = config
        super().__init__(members)

    @property
    def config(self) -> AcceleratorConfig:
        return self._config


def registered_read(m, port, *, name: str, read=None):
    """The data of a memory read ``port``, registered once more: valid
    :attr:`~golden.contract.tileloop.EngineTiming.read` = 2 cycles after the cycle in which
    the port's ``en`` was high, and held until the next read lands. The block RAM's output then
    drives a flip-flop and nothing else, wherever the design places the memory.

    ``read``, when given, says which cycles' reads land instead of ``en``: for a port whose
    ``en`` is held high for longer than the reads that are used (a simpler enable for the
    RAM, see hw/accelerator.py), so that its data still holds until the next such read."""
    data = Signal.like(port.data, name=name, reset_less=True)
    landed = Signal(name=f"{name}_landed")
    m.d.sync += landed.eq(port.en if read is None else read)
    with m.If(landed):
        m.d.sync += data.eq(port.data)
    return data


#: Yosys commands, right after a design is read, that keep the copies made by
#: :func:`replicas`: the copies carry ``keep`` on their wires, but Yosys's opt_merge merges
#: identical flip-flops whatever their wires say, so ``keep`` moves onto the flip-flop cells
#: whose Q drives such a wire (``proc`` makes those cells first). Every Yosys run of the
#: project that optimizes uses it: the Verilog (:func:`hw.verilog.convert`, which writes the
#: ``keep`` attributes into the Verilog), the FPGA flow (:func:`hw.fpga.synthesize`) and the
#: board bitstreams (:func:`hw.boards.build_bitstream`).
KEEP_REPLICAS = ("proc", "setattr -set keep 1 a:keep %ci1:+$dff,$adff[Q] a:keep %d")


def replicas(m, value, copies: int, *, name: str) -> list[Signal]:
    """``copies`` registers, each loaded with ``value`` every cycle: one register's loads
    shared among them, so that each copy drives a part of them from beside it (the placer
    puts a register near its loads; one register with hundreds of loads spread over a region
    reaches the farthest through long routes).

    Each copy carries Yosys's ``keep`` attribute, which the project's Yosys runs move onto its
    flip-flop (:data:`KEEP_REPLICAS`), and the generated Verilog carries ``(* keep *)`` on
    them, which other tools read as "do not merge or remove this register"."""
    regs = [Signal.like(value, name=f"{name}_{i}", attrs={"keep": 1}) for i in range(copies)]
    m.d.sync += [r.eq(value) for r in regs]
    return regs
