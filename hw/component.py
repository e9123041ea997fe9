# SPDX-License-Identifier: BSD-2-Clause
"""The base of every block that is built from an
:class:`~golden.contract.config.AcceleratorConfig`, and the one way a block reads a memory."""

from amaranth.hdl import Signal
from amaranth.lib import wiring

from golden.contract.config import AcceleratorConfig

__all__ = ["ConfiguredComponent", "registered_read"]


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
