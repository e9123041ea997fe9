# SPDX-License-Identifier: BSD-2-Clause
"""The one registry of buildable designs: ``make verilog`` (``python -m hw``), ``make fpga`` and
the gate counts all take their designs from here.

A design is a name and a function from an :class:`AcceleratorConfig` to an Amaranth
component; the flows wrap it, synthesize it, place and route it, and report it, whatever it is.
Adding a design is one call::

    from hw.designs import Design, register
    register(Design("accelerator", build=Accelerator, description="the full accelerator"))

(``build`` is called as ``build(config)``). Designs with an ``arithmetic`` are arrays: the
gate-count report also synthesizes their processing element on its own. ``sweep`` designs are
built by every ``make fpga`` and gate-count run; ``fpga_config`` adapts the configuration to
an FPGA build (the accelerator's memories, sized for an ASIC by default, shrink to fit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

from golden.contract.config import AcceleratorConfig

from .accelerator import Accelerator
from .array import BufferedArray, SystolicArray
from .mac import FP16, INT8
from .pe import TERNARY, Arithmetic

__all__ = ["DESIGNS", "FPGA_MEMORY_DEPTHS", "Design", "fpga_accelerator_config", "get_design",
           "register"]


@dataclass(frozen=True)
class Design:
    """One buildable design.

    Parameters
    ----------
    name : str
        Registry key, used on the command line and in reports (letters, digits, ``_``).
    build : callable
        ``build(config) -> wiring.Component``.
    description : str
        One line for reports.
    arithmetic : Arithmetic or None
        The element type, for arrays (enables the per-element gate count).
    module : str
        Name of the generated Verilog module (default: ``name``).
    sweep : bool
        Built by every ``make fpga`` and gate-count run.
    fpga_config : callable or None
        ``fpga_config(config) -> config`` for FPGA builds (default: the configuration as is).
    """

    name: str
    build: Callable[[AcceleratorConfig], wiring.Component]
    description: str
    arithmetic: Arithmetic | None = None
    module: str = ""
    sweep: bool = True
    fpga_config: Callable[[AcceleratorConfig], AcceleratorConfig] | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"design name must be an identifier, not {self.name!r}")
        if not (self.module or self.name).isidentifier():
            raise ValueError(f"module name must be an identifier, not {self.module!r}")

    @property
    def module_name(self) -> str:
        return self.module or self.name

    def build_for_fpga(self, config: AcceleratorConfig) -> wiring.Component:
        """The design as FPGA builds synthesize it (with :attr:`fpga_config` applied)."""
        return self.build(self.fpga_config(config) if self.fpga_config else config)

    def pe(self, config: AcceleratorConfig):
        """The array's widest processing element (its bottom row), or None for non-arrays."""
        if self.arithmetic is None:
            return None
        return self.arithmetic.pe(config, config.rows - 1)


#: name -> Design; :func:`register` adds to it.
DESIGNS: dict[str, Design] = {}


def register(design: Design) -> Design:
    if not isinstance(design, Design):
        raise TypeError(f"register() takes a Design, not {type(design).__name__}")
    if design.name in DESIGNS:
        raise ValueError(f"a design named {design.name!r} is already registered")
    DESIGNS[design.name] = design
    return design


def get_design(name: str) -> Design:
    try:
        return DESIGNS[name]
    except KeyError:
        raise ValueError(f"unknown design {name!r}; choose one of "
                         f"{', '.join(DESIGNS)}") from None


def _array(arithmetic: Arithmetic, description: str) -> Design:
    return Design(arithmetic.name,
                  build=lambda config: SystolicArray(config, arithmetic=arithmetic),
                  description=description, arithmetic=arithmetic, module="systolic_array")


register(_array(TERNARY, "ternary adder array (SystolicArray core)"))
register(_array(INT8, "int8 x int8 multiply-accumulate array, same skeleton"))
register(_array(FP16, "binary16 multiply-accumulate array, same skeleton"))


#: Memory depths (words) of the accelerator in FPGA builds: the defaults (32768 weight and
#: activation words) are sized for an ASIC and do not fit an iCE40's 120-128 Kbit of block RAM.
#: These do: 4x4 uses 8 Kbit of weights, 8 Kbit of activations and 8 Kbit of accumulators.
FPGA_MEMORY_DEPTHS = {"weight_depth": 1024, "act_depth": 256, "acc_depth": 64}


def fpga_accelerator_config(config: AcceleratorConfig) -> AcceleratorConfig:
    """``config`` with the memory depths of :data:`FPGA_MEMORY_DEPTHS`."""
    return dataclasses.replace(config, **FPGA_MEMORY_DEPTHS)


register(Design("accelerator", build=Accelerator,
                description="the full ternary accelerator (memories, controller, counters); "
                            "in FPGA builds with memories of 1024 weight, 256 activation and "
                            "64 accumulator words",
                fpga_config=fpga_accelerator_config))
register(Design("buffered_array", build=BufferedArray,
                description="the ternary array with a result FIFO and backpressure on every "
                            "stream (the array's stand-alone top level)", sweep=False))
