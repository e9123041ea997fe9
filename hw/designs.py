# SPDX-License-Identifier: BSD-2-Clause
"""The registry of designs that the FPGA and gate-count flows build (``make fpga``).

A design is a name and a function from an :class:`AcceleratorConfig` to an Amaranth
component; the flows wrap it, synthesize it, place and route it, and report it, whatever it is.
Adding a design is one call::

    from hw.designs import Design, register
    register(Design("accelerator", build=Accelerator, description="the full accelerator"))

(``build`` is called as ``build(config)``). Designs with an ``arithmetic`` are arrays: the
gate-count report also synthesizes their processing element on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

from golden.config import AcceleratorConfig

from .accelerator import Accelerator
from .array import SystolicArray
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
    """

    name: str
    build: Callable[[AcceleratorConfig], wiring.Component]
    description: str
    arithmetic: Arithmetic | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"design name must be an identifier, not {self.name!r}")

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
                  description=description, arithmetic=arithmetic)


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


register(Design("accelerator", build=lambda config: Accelerator(fpga_accelerator_config(config)),
                description="the full ternary accelerator (memories, controller, counters), "
                            "memories of 1024 weight, 256 activation and 64 accumulator words"))
