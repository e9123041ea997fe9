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
A design's ``parts`` are its sub-components, which ``make fpga`` also synthesizes one by one
to show where the logic goes (:class:`Part`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

from golden.contract.config import AcceleratorConfig

from .accelerator import Accelerator
from .array import BufferedArray, SystolicArray
from .axi import AxiWeightReader
from .controller import Controller
from .counters import Counters
from .engine import MatmulEngine
from .loader import Loader
from .mac import FP16, INT8
from .pe import TERNARY, Arithmetic
from .responder import Responder
from .weight_source import WeightRowSource

__all__ = ["ACCELERATOR_AXI_PARTS", "ACCELERATOR_PARTS", "DESIGNS", "FPGA_MEMORY_DEPTHS",
           "Design", "Part", "fpga_accelerator_axi_config", "fpga_accelerator_config",
           "get_design", "register"]


@dataclass(frozen=True)
class Part:
    """A sub-component of a design, synthesized on its own (out of context, all its ports
    kept) so that the FPGA report shows where the design's logic goes.

    Parameters
    ----------
    name : str
        Row name in reports and the name of its work directory (letters, digits, ``_``).
    build : callable
        ``build(config) -> wiring.Component``, called with the design's FPGA configuration.
    description : str
        What the part is, for the report.
    less : tuple of str
        Other parts that this one contains: the report gives this part's count less theirs
        (a difference of syntheses), so that every part is counted once.
    """

    name: str
    build: Callable[[AcceleratorConfig], wiring.Component]
    description: str
    less: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"part name must be an identifier, not {self.name!r}")


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
    parts : tuple of Part
        Sub-components that FPGA builds also synthesize one by one (default: none); a part's
        ``less`` names other parts of the same design.
    """

    name: str
    build: Callable[[AcceleratorConfig], wiring.Component]
    description: str
    arithmetic: Arithmetic | None = None
    module: str = ""
    sweep: bool = True
    fpga_config: Callable[[AcceleratorConfig], AcceleratorConfig] | None = None
    parts: tuple[Part, ...] = ()

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"design name must be an identifier, not {self.name!r}")
        if not (self.module or self.name).isidentifier():
            raise ValueError(f"module name must be an identifier, not {self.module!r}")
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names of {self.name!r} repeat: {names}")
        for p in self.parts:
            unknown = set(p.less) - set(names) | ({p.name} & set(p.less))
            if unknown:
                raise ValueError(f"part {p.name!r} of {self.name!r} cannot be less "
                                 f"{sorted(unknown)}: not another part of the design")

    @property
    def module_name(self) -> str:
        return self.module or self.name

    def config_for_fpga(self, config: AcceleratorConfig) -> AcceleratorConfig:
        """``config`` as FPGA builds use it (with :attr:`fpga_config` applied)."""
        return self.fpga_config(config) if self.fpga_config else config

    def build_for_fpga(self, config: AcceleratorConfig) -> wiring.Component:
        """The design as FPGA builds synthesize it (with :attr:`fpga_config` applied)."""
        return self.build(self.config_for_fpga(config))

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


#: The accelerator's sub-components, as ``make fpga`` reports them. The weight, activation
#: and accumulator memories live in the Accelerator itself: the report gives them, with the
#: wiring between the parts, as the whole less the sum of the parts.
ACCELERATOR_PARTS = (
    Part("controller", Controller, "Controller: command parsing, CRC unit, checks, dispatch"),
    Part("loader", Loader, "Loader with its staging buffer"),
    Part("engine", MatmulEngine, "MatmulEngine less its array and weight reader (tile loop)",
         less=("weight_reader", "array")),
    Part("weight_reader", WeightRowSource, "WeightRowSource (the weight reader)"),
    Part("array", SystolicArray, "SystolicArray (ternary)"),
    Part("responder", Responder, "Responder: the response stream"),
    Part("counters", Counters, "Counters: performance counters and their snapshot"),
)

register(Design("accelerator", build=Accelerator,
                description="the full ternary accelerator (memories, controller, counters); "
                            "in FPGA builds with memories of 1024 weight, 256 activation and "
                            "64 accumulator words",
                fpga_config=fpga_accelerator_config, parts=ACCELERATOR_PARTS))


def fpga_accelerator_axi_config(config: AcceleratorConfig) -> AcceleratorConfig:
    """``config`` with its weights streamed over AXI4 at a whole tile per cycle (``rows``
    weight rows per cycle, so the AXI word is ``2 * rows * cols`` bits: 512 at 16x16) and the
    activation and accumulator depths of :data:`FPGA_MEMORY_DEPTHS`; there is no weight
    memory. The AXI word must be 64 to 1024 bits, so 4x4 (32 bits) cannot be built."""
    try:
        return dataclasses.replace(fpga_accelerator_config(config), weight_memory="axi",
                                   weight_format="2bit", weight_rows_per_cycle=config.rows)
    except ValueError as e:
        raise ValueError(f"the AXI accelerator loads a whole tile per cycle: {e} (build 8x8 "
                         f"to 16x32)") from None


#: The AXI accelerator's sub-components: the same as the accelerator's, and the AXI4 reader
#: (its burst splitter, R checks and the buffer of ``axi_outstanding * axi_max_burst`` words).
ACCELERATOR_AXI_PARTS = (
    *ACCELERATOR_PARTS,
    Part("axi_reader", lambda c: AxiWeightReader(
        data_width=c.weight_word_bits, addr_width=c.axi_addr_width, max_burst=c.axi_max_burst,
        max_outstanding=c.axi_outstanding),
        "AxiWeightReader: AXI4 bursts, R checks, the word buffer, traffic counters"),
)

register(Design("accelerator_axi", build=Accelerator,
                description="the accelerator with its weights streamed over AXI4 (the m_axi "
                            "read port brought out through the harness), a whole tile per "
                            "cycle; in FPGA builds with memories of 256 activation and 64 "
                            "accumulator words", sweep=False,
                fpga_config=fpga_accelerator_axi_config, parts=ACCELERATOR_AXI_PARTS))
register(Design("buffered_array", build=BufferedArray,
                description="the ternary array with a result FIFO and backpressure on every "
                            "stream (the array's stand-alone top level)", sweep=False))
