# SPDX-License-Identifier: BSD-2-Clause
"""Analytical energy model of the ternary adder array and of MAC arrays doing the same work.

Numbers come from one data file, :data:`DATA_FILE` (published per-operation energies and areas,
SRAM and DRAM access energies, each with its source). Where the file has no entry the model
derives one by a stated rule and labels it an estimate (:class:`Price`):

* an integer adder of another width: linear in the width between the published 8-, 16- and
  32-bit adders at 45 nm, proportional to the width outside them;
* an integer multiplier of other operand widths: the published 8x8-bit multiplier scaled by
  the product of the operand widths (``a * b / 64``; the square of the width for equal
  widths), so a 4x8-bit (INT4 weight) multiply is half an INT8 one;
* 7 nm integer operations the BitNet table lacks: the 45 nm derivation times the ratio of the
  7 nm and 45 nm published 8-bit figures of the same kind;
* memory at 7 nm: the sources give none, so the 45 nm figures are used unchanged
  (``[nodes]`` of the data file).

Op counts come from the firmware: :func:`program_work` reads a compiled
:class:`firmware.compiler.Program` (MATMUL, LOAD and DRAIN commands) and the zero-weight MACs
come from the accelerator's counters (or, for shape-only workloads, from a stated zero
fraction). :func:`layer_energy` prices one :class:`LayerWork` on one :class:`ArraySpec`:

* the **published convention** (Wang et al. 2023; BITNET.md section 6): an m x n by n x p
  product costs ``m*(n-1)*p`` additions and ``m*n*p`` multiplications at full precision; the
  ternary array the same additions as INT8 additions and only ``m*p + m*n`` multiplications
  (the scaling), here priced at the FP16 multiply;
* the **RTL-width arithmetic**: each MAC of row ``r`` is an adder of the partial-sum width
  the RTL has after ``r + 1`` rows, zero-weight MACs skipped where the array isolates them,
  every K-tile's result added into a ``acc_bits`` accumulator, plus the scaling;
* **memory**: weight reads at the array's bits per weight, activation and accumulator buffer
  traffic (the accumulator buffer is read and written for every K-tile), and DRAM weight
  traffic when the weights do not fit the weight memory.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from golden.config import AcceleratorConfig, signed_bits_for

__all__ = [
    "ARRAYS",
    "COMPONENTS",
    "DATA_FILE",
    "ArraySpec",
    "EnergyTable",
    "LayerEnergy",
    "LayerWork",
    "Price",
    "convention_ratio",
    "fits_on_chip",
    "format_pj",
    "layer_energy",
    "place_weights",
    "program_work",
    "record_work",
    "shape_work",
    "summary_lines",
]

DATA_FILE = Path(__file__).with_name("energy_data.toml")

_KINDS = ("add", "mul")
_DTYPES = ("int", "fp")
_MEMORY_KINDS = ("sram", "dram")


@dataclass(frozen=True)
class Price:
    """One energy (pJ) or area (um^2) figure and where it comes from.

    ``rule`` is empty for a published figure, else the derivation (an estimate).
    """

    value: float
    source: str
    rule: str = ""

    @property
    def estimate(self) -> bool:
        return bool(self.rule)

    def scaled(self, factor: float, rule: str) -> Price:
        return Price(self.value * factor, self.source,
                     rule if not self.rule else f"{self.rule}; {rule}")


@dataclass(frozen=True)
class Op:
    node: str
    kind: str
    dtype: str
    bits: int
    pj_per_op: float
    area_um2: float | None
    source: str


@dataclass(frozen=True)
class Memory:
    node: str
    kind: str
    capacity_bytes: int | None
    access_bits: int
    pj_per_access: float
    pj_per_access_max: float | None
    source: str

    @property
    def pj_per_bit(self) -> float:
        return self.pj_per_access / self.access_bits


def _field(entry: dict, name: str, types, where: str, *, required=True, non_negative=False):
    if name not in entry:
        if required:
            raise ValueError(f"{where}: missing field {name!r}")
        return None
    value = entry[name]
    if isinstance(value, bool) or not isinstance(value, types):
        raise ValueError(f"{where}: {name} must be {types}, not {value!r}")
    if non_negative and value < 0:
        raise ValueError(f"{where}: {name} must not be negative, not {value!r}")
    return value


@dataclass
class EnergyTable:
    """The data file, checked: arithmetic :class:`Op` s, :class:`Memory` accesses, sources."""

    sources: dict[str, str]
    ops: list[Op]
    memories: list[Memory]
    memory_from: dict[str, str]          # node -> node whose memory figures it uses
    path: Path = field(default=DATA_FILE)

    # --- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str = DATA_FILE) -> EnergyTable:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"energy data file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"energy data file {str(path)!r} is malformed: {e}") from None
        return cls.from_dict(raw, path=path)

    @classmethod
    def from_dict(cls, raw: dict, *, path: Path = DATA_FILE) -> EnergyTable:
        if raw.get("schema") != 1:
            raise ValueError(f"{path}: schema must be 1, not {raw.get('schema')!r}")
        sources = {}
        for key, entry in (raw.get("sources") or {}).items():
            sources[key] = _field(entry, "text", str, f"{path}: [sources.{key}]")
        nodes = raw.get("nodes") or {}
        if not nodes:
            raise ValueError(f"{path}: no [nodes] table")
        memory_from = {n: _field(e, "memory_from", str, f"{path}: [nodes.{n}]")
                       for n, e in nodes.items()}

        def check_common(entry, where):
            node = _field(entry, "node", str, where)
            if node not in nodes:
                raise ValueError(f"{where}: unknown technology node {node!r}")
            source = _field(entry, "source", str, where)
            if source not in sources:
                raise ValueError(f"{where}: unknown source {source!r}")
            return node, source

        ops = []
        for i, entry in enumerate(raw.get("op") or []):
            where = f"{path}: op #{i + 1}"
            node, source = check_common(entry, where)
            kind = _field(entry, "kind", str, where)
            dtype = _field(entry, "dtype", str, where)
            if kind not in _KINDS:
                raise ValueError(f"{where}: kind must be one of {_KINDS}, not {kind!r}")
            if dtype not in _DTYPES:
                raise ValueError(f"{where}: dtype must be one of {_DTYPES}, not {dtype!r}")
            bits = _field(entry, "bits", int, where)
            if bits < 1:
                raise ValueError(f"{where}: bits must be positive, not {bits}")
            ops.append(Op(node, kind, dtype, bits,
                          _field(entry, "pj_per_op", (int, float), where, non_negative=True),
                          _field(entry, "area_um2", (int, float), where, required=False,
                                 non_negative=True), source))
        memories = []
        for i, entry in enumerate(raw.get("memory") or []):
            where = f"{path}: memory #{i + 1}"
            node, source = check_common(entry, where)
            kind = _field(entry, "kind", str, where)
            if kind not in _MEMORY_KINDS:
                raise ValueError(f"{where}: kind must be one of {_MEMORY_KINDS}, not {kind!r}")
            bits = _field(entry, "access_bits", int, where)
            if bits < 1:
                raise ValueError(f"{where}: access_bits must be positive, not {bits}")
            memories.append(Memory(
                node, kind, _field(entry, "capacity_bytes", int, where, required=kind == "sram",
                                   non_negative=True), bits,
                _field(entry, "pj_per_access", (int, float), where, non_negative=True),
                _field(entry, "pj_per_access_max", (int, float), where, required=False,
                       non_negative=True), source))
        for node, other in memory_from.items():
            if other not in nodes:
                raise ValueError(f"{path}: [nodes.{node}] memory_from names unknown node "
                                 f"{other!r}")
        if not ops:
            raise ValueError(f"{path}: no [[op]] entries")
        return cls(sources, ops, memories, memory_from, path)

    # --- look-ups ------------------------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        return list(self.memory_from)

    def check_node(self, node: str) -> None:
        if node not in self.memory_from:
            raise ValueError(f"unknown technology node {node!r}; the data file has "
                             f"{', '.join(self.nodes)}")

    def _published(self, node, kind, dtype, bits) -> Op | None:
        return next((o for o in self.ops if (o.node, o.kind, o.dtype, o.bits)
                     == (node, kind, dtype, bits)), None)

    def _cite(self, op: Op) -> str:
        return op.source

    def _int_add_45(self, bits: int, attr: str) -> Price:
        points = sorted((o.bits, getattr(o, attr), o.source) for o in self.ops
                        if (o.node, o.kind, o.dtype) == ("45nm", "add", "int")
                        and getattr(o, attr) is not None)
        if not points:
            raise ValueError("the data file has no 45nm integer adder to derive from")
        for b, v, s in points:
            if b == bits:
                return Price(v, s)
        lo = [p for p in points if p[0] < bits]
        hi = [p for p in points if p[0] > bits]
        if lo and hi:
            (b0, v0, s0), (b1, v1, _) = lo[-1], hi[0]
            value = v0 + (v1 - v0) * (bits - b0) / (b1 - b0)
            return Price(value, s0, f"{bits}-bit adder interpolated linearly in width "
                                    f"between the {b0}- and {b1}-bit adders")
        b, v, s = hi[0] if hi else lo[-1]
        return Price(v * bits / b, s, f"{bits}-bit adder: the {b}-bit adder scaled "
                                      f"proportionally to the width")

    def op(self, node: str, kind: str, dtype: str, bits: int, bits_b: int | None = None
           ) -> Price:
        """Energy (pJ) of one operation. ``bits_b``: the second operand's width of an integer
        multiply, when it differs from ``bits``."""
        self.check_node(node)
        if kind not in _KINDS or dtype not in _DTYPES:
            raise ValueError(f"unknown operation {kind!r} on {dtype!r}")
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"bits must be a positive integer, not {bits!r}")
        bits_b = bits if bits_b is None else bits_b
        exact = self._published(node, kind, dtype, bits) if bits_b == bits else None
        if exact is not None:
            return Price(exact.pj_per_op, exact.source)
        if dtype == "fp":
            raise ValueError(f"no published {node} {bits}-bit floating-point {kind}")
        if kind == "mul":
            base = self._published(node, "mul", "int", 8)
            if base is None:
                raise ValueError(f"no published {node} 8-bit multiply to derive from")
            return Price(base.pj_per_op * bits * bits_b / 64, base.source,
                         f"{bits}x{bits_b}-bit multiply: the 8x8-bit one scaled by the product "
                         f"of the operand widths")
        price = self._int_add_45(bits, "pj_per_op")
        if node == "45nm":
            return price
        here, there = self._published(node, "add", "int", 8), self._published(
            "45nm", "add", "int", 8)
        if here is None or there is None:
            raise ValueError(f"no published 8-bit adder at {node} and 45nm to scale by")
        return Price(price.value * here.pj_per_op / there.pj_per_op, here.source,
                     (price.rule + "; " if price.rule else f"{bits}-bit adder: ")
                     + f"45nm figure scaled by the {node}/45nm ratio of the 8-bit adders")

    def area(self, kind: str, dtype: str, bits: int, bits_b: int | None = None) -> Price:
        """Area (um^2, 45 nm) of one operator, derived like :meth:`op` where not published."""
        bits_b = bits if bits_b is None else bits_b
        exact = self._published("45nm", kind, dtype, bits) if bits_b == bits else None
        if exact is not None and exact.area_um2 is not None:
            return Price(exact.area_um2, exact.source)
        if dtype == "fp":
            raise ValueError(f"no published 45nm {bits}-bit floating-point {kind} area")
        if kind == "mul":
            base = self._published("45nm", "mul", "int", 8)
            return Price(base.area_um2 * bits * bits_b / 64, base.source,
                         f"{bits}x{bits_b}-bit multiplier area: the 8x8-bit one scaled by the "
                         f"product of the operand widths")
        return self._int_add_45(bits, "area_um2")

    def sram_pj_per_bit(self, node: str, capacity_bytes: int) -> Price:
        """Per-bit access energy of an SRAM of ``capacity_bytes``: the smallest published SRAM
        at least that large (the largest if none is), widest access of that size."""
        self.check_node(node)
        mem_node = self.memory_from[node]
        srams = sorted((m for m in self.memories if m.node == mem_node and m.kind == "sram"),
                       key=lambda m: (m.capacity_bytes, -m.access_bits))
        if not srams:
            raise ValueError(f"the data file has no SRAM figures for {mem_node}")
        fits = [m for m in srams if m.capacity_bytes >= capacity_bytes]
        pick = fits[0] if fits else srams[-1]
        rule = []
        if mem_node != node:
            rule.append(f"no {node} memory figures: the {mem_node} ones")
        if not fits:
            rule.append(f"{capacity_bytes} B exceeds the largest published SRAM "
                        f"({pick.capacity_bytes} B): its figure, an underestimate")
        elif pick.capacity_bytes != capacity_bytes:
            rule.append(f"{capacity_bytes} B memory priced as the next published size, "
                        f"{_kib(pick.capacity_bytes)} ({pick.access_bits}-bit access)")
        return Price(pick.pj_per_bit, pick.source, "; ".join(rule))

    def dram_pj_per_bit(self, node: str) -> Price:
        self.check_node(node)
        mem_node = self.memory_from[node]
        drams = [m for m in self.memories if m.node == mem_node and m.kind == "dram"]
        if not drams:
            raise ValueError(f"the data file has no DRAM figures for {mem_node}")
        # The lowest per-bit figure: DRAM traffic is never overstated.
        pick = min(drams, key=lambda m: m.pj_per_bit)
        rule = f"no {node} memory figures: the {mem_node} ones" if mem_node != node else ""
        return Price(pick.pj_per_bit, pick.source, rule)


def _kib(n: int) -> str:
    return f"{n // 1048576} MiB" if n >= 1048576 else f"{n // 1024} KiB"


# --- workloads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerWork:
    """What one product ``x (M, K) @ w.T (K, N)`` does on the accelerator.

    Element counts (not bits): the array types differ in bits per element.
    """

    name: str
    m: int
    k: int
    n: int
    rows: int
    cols: int
    array_vectors: int     # activation vectors through a tile, over every MATMUL
    zero_macs: int         # array MACs that meet a zero weight (padding included)
    weight_reads: int      # weights read from weight memory into the array
    act_reads: int         # activations read from the activation buffer
    act_writes: int        # activations loaded into it (LOAD_ACTS)
    acc_reads: int         # accumulator reads of the read-modify-writes
    acc_writes: int
    acc_drains: int        # accumulators read out (DRAIN)
    weight_loads: int      # weights loaded into weight memory by the program itself
    cycles: int | None = None
    count_source: str = "program"

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n

    @property
    def array_macs(self) -> int:
        return self.array_vectors * self.rows * self.cols

    @property
    def zero_fraction(self) -> float:
        return self.zero_macs / self.array_macs

    def scaled(self, times: int, name: str | None = None) -> LayerWork:
        """The same work ``times`` over (identical layers of a model)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for f in ("array_vectors", "zero_macs", "weight_reads", "act_reads", "act_writes",
                  "acc_reads", "acc_writes", "acc_drains", "weight_loads"):
            d[f] *= times
        d["cycles"] = None if self.cycles is None else self.cycles * times
        d["m"] *= times               # m * k * n counts the MACs: fold the repeat into m
        d["name"] = name or self.name
        return LayerWork(**d)


def program_work(program, *, name: str, k: int, zero_macs: int | None = None,
                 nonzero_weights: int | None = None, cycles: int | None = None,
                 count_source: str = "program") -> LayerWork:
    """The work of a compiled program (:mod:`firmware.compiler`), read from its commands.

    The zero-weight MACs are ``zero_macs`` (the ZERO_MACS counter) or, from the number of
    nonzero weights, every array MAC less ``M`` times that (each weight meets each token once).
    """
    from firmware.commands import split_commands
    from golden.isa import MatmulFlag, Opcode

    config: AcceleratorConfig = program.config
    words = program.words
    counts = dict.fromkeys(("vectors", "w_reads", "a_reads", "a_writes", "acc_reads",
                            "acc_writes", "drains", "w_loads"), 0)
    for command in split_commands(config, words):
        op, flags, args = command.opcode, command.flags, command.args
        if op == Opcode.MATMUL:
            m, kt, nt = args[3], args[4], args[5]
            first = 0 if flags & MatmulFlag.ACCUMULATE else 1
            counts["vectors"] += m * kt * nt
            counts["w_reads"] += kt * nt * config.rows * config.cols
            counts["a_reads"] += m * kt * nt * config.rows
            counts["acc_reads"] += m * nt * (kt - first) * config.cols
            counts["acc_writes"] += m * nt * kt * config.cols
        elif op == Opcode.LOAD_ACTS:
            counts["a_writes"] += args[1] * config.rows
        elif op == Opcode.LOAD_WEIGHTS:
            counts["w_loads"] += args[1] * config.weight_rows_per_word * config.cols
        elif op == Opcode.DRAIN:
            counts["drains"] += args[1] * config.cols
    array_macs = counts["vectors"] * config.rows * config.cols
    if zero_macs is None:
        if nonzero_weights is None:
            raise ValueError("give zero_macs (the counter) or nonzero_weights")
        zero_macs = array_macs - program.m * nonzero_weights
    if not 0 <= zero_macs <= array_macs:
        raise ValueError(f"zero_macs={zero_macs} is outside [0, {array_macs}] for {name}")
    return LayerWork(name=name, m=program.m, k=k, n=program.n,
                     rows=config.rows, cols=config.cols, array_vectors=counts["vectors"],
                     zero_macs=zero_macs, weight_reads=counts["w_reads"],
                     act_reads=counts["a_reads"], act_writes=counts["a_writes"],
                     acc_reads=counts["acc_reads"], acc_writes=counts["acc_writes"],
                     acc_drains=counts["drains"], weight_loads=counts["w_loads"],
                     cycles=cycles, count_source=count_source)


_PROGRAMS: dict = {}


def compile_shape(config: AcceleratorConfig, *, m: int, k: int, n: int):
    """The program the runtime would run for an (M, K) x (N, K) product (weight values do
    not change the commands): against a resident image where it fits the weight memory, else
    with the weight loads inline."""
    import numpy as np

    from firmware.compiler import compile_matmul, compile_weights

    key = (config, m, k, n)
    if key not in _PROGRAMS:
        image = compile_weights(config, np.zeros((n, k), dtype=np.int8))
        resident = len(image.words) <= config.weight_depth
        program = compile_matmul(image, np.zeros((m, k), dtype=np.int8),
                                 weight_base=0 if resident else None)
        _PROGRAMS[key] = program
    return _PROGRAMS[key]


def fits_on_chip(config: AcceleratorConfig, weights: int, weight_bits: float) -> bool:
    """Whether ``weights`` weights of ``weight_bits`` bits fit the weight memory (its bytes,
    the same for every array type)."""
    return weights * weight_bits <= config.weight_depth * config.weight_word_bits


def place_weights(config: AcceleratorConfig, works: list[LayerWork], spec: ArraySpec
                  ) -> list[bool]:
    """Which layers' weights stay resident, placed in order as the runtime places weight images
    (:meth:`firmware.runtime.Runtime._place`): a layer is resident if its padded weights fit
    beside the earlier resident ones, in the weight memory's bytes (the same for every array
    type). A resident layer's one-time load is amortized over later passes and not charged."""
    capacity = config.weight_depth * config.weight_word_bits
    used, out = 0.0, []
    for w in works:
        bits = (config.k_tiles(w.k) * config.rows * config.n_tiles(w.n) * config.cols
                * spec.weight_bits)
        fits = used + bits <= capacity
        used += bits if fits else 0
        out.append(fits)
    return out


def shape_work(config: AcceleratorConfig, *, name: str, m: int, k: int, n: int,
               zero_fraction: float | None = None, zero_macs: int | None = None,
               nonzero_weights: int | None = None, cycles: int | None = None,
               count_source: str = "program") -> LayerWork:
    """:func:`program_work` of the program compiled for this shape. The zero-weight MACs:
    ``zero_macs`` (a counter), ``nonzero_weights``, or a ``zero_fraction`` of the weights."""
    for label, v in (("m", m), ("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"layer {name}: {label} must be a positive integer, not {v!r}")
    if zero_fraction is not None:
        if not 0 <= zero_fraction <= 1:
            raise ValueError(f"zero_fraction must be in [0, 1], not {zero_fraction!r}")
        nonzero_weights = round(k * n * (1 - zero_fraction))
    program = compile_shape(config, m=m, k=k, n=n)
    return program_work(program, name=name, k=k, zero_macs=zero_macs,
                        nonzero_weights=nonzero_weights, cycles=cycles,
                        count_source=count_source)


def record_work(config: AcceleratorConfig, record, source: str = "counters") -> LayerWork:
    """The work of a co-simulation record (:class:`sim.cosim.LayerRecord`): its shape compiled
    by the firmware, its zero-weight MACs and cycles from the accelerator's counters."""
    work = shape_work(config, name=record.name, m=record.m, k=record.k, n=record.n,
                      zero_fraction=0.0)
    return dataclasses.replace(work, zero_macs=round(record.zero_weight_fraction
                                                     * work.array_macs),
                               cycles=record.cycles, count_source=source)


def format_pj(v: float) -> str:
    """An energy in picojoules, in the unit that suits it (``1.68 mJ``)."""
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} pJ"


def summary_lines(config: AcceleratorConfig, records, *, node: str = "45nm",
                  table: EnergyTable | None = None) -> list[str]:
    """A few lines on the energy of co-simulated layers: the ternary array against the FP16
    MAC array doing the same products, honest totals and the published convention."""
    table = table or EnergyTable.load()
    works = [record_work(config, r) for r in records]
    totals = {}
    for a in ("ternary", "int8", "fp16"):
        es = [layer_energy(table, w, ARRAYS[a], node=node, config=config, resident=r)
              for w, r in zip(works, place_weights(config, works, ARRAYS[a]), strict=True)]
        parts = {c: sum(e.parts[c] for e in es) for c in COMPONENTS}
        totals[a] = (sum(e.convention_pj for e in es), sum(parts.values()),
                     sum(parts[c] for c in COMPONENTS[:4]), max(parts, key=parts.get))
    zero = sum(w.zero_macs for w in works) / sum(w.array_macs for w in works)
    t, fp = totals["ternary"], totals["fp16"]
    lines = [f"energy of these products at {node} (published per-op and memory energies, "
             f"{table.path.name}; details: make report):"]
    for a, (conv, total, arith, dom) in totals.items():
        lines.append(f"  {ARRAYS[a].label}: {format_pj(total)} (arithmetic "
                     f"{format_pj(arith)}, dominant: {dom}); published convention "
                     f"{format_pj(conv)}")
    lines.append(f"  FP16 / ternary: {fp[1] / t[1]:.2f}x in total, {fp[0] / t[0]:.1f}x in "
                 f"the published convention (arithmetic only); zero-weight MACs skipped: "
                 f"{zero:.1%}")
    return lines


# --- array types -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ArraySpec:
    """An array type doing the same work: how its weights, activations and sums are stored
    and what each MAC costs.

    ``psum_bits(config, terms)``: bits of the partial sum after ``terms`` rows (integer
    arrays); ``fp_bits``: the format of a floating-point array (its products and sums).
    """

    name: str
    label: str
    weight_bits: float
    act_bits: int
    acc_bits: int
    fp_bits: int | None = None        # floating-point array: format width
    mul_bits: tuple[int, int] | None = None    # integer multiplier operand widths
    product_max: int = 128            # largest |product| (sizes the integer partial sums)
    skips_zeros: bool = False         # zero weights operand-isolated (no adder activity)
    has_zeros: bool = True            # its weights have zeros (binary: only the padding)
    quantized: bool = True            # int8 activations: scaling multiplies
    note: str = ""

    def psum_bits(self, config: AcceleratorConfig, terms: int) -> int:
        return signed_bits_for(terms * self.product_max)


ARRAYS = {
    "ternary": ArraySpec("ternary", "ternary adder array, 2-bit weights", 2, 8, 32,
                         skips_zeros=True),
    "ternary-1.6": ArraySpec("ternary-1.6", "ternary adder array, 1.6-bit weights", 1.6, 8,
                             32, skips_zeros=True),
    "binary": ArraySpec("binary", "binary weights on the adder array, 1 bit", 1, 8, 32,
                        skips_zeros=True, has_zeros=False,
                        note="no zero weights: only the padding is skipped"),
    "int4": ArraySpec("int4", "INT4-weight MAC array (W4A8), estimate", 4, 8, 32,
                      mul_bits=(4, 8), product_max=128 * 8,
                      note="INT4 is not in the published table: multiply derived from INT8"),
    "int8": ArraySpec("int8", "INT8 MAC array", 8, 8, 32, mul_bits=(8, 8),
                      product_max=128 * 128),
    "fp16": ArraySpec("fp16", "FP16 MAC array", 16, 16, 16, fp_bits=16, quantized=False),
    "fp32": ArraySpec("fp32", "FP32 MAC array", 32, 32, 32, fp_bits=32, quantized=False),
}

#: Components of the honest total, in the order of the breakdown.
COMPONENTS = ("array adds", "array multiplies", "accumulate", "scaling", "SRAM weights",
              "SRAM activations", "SRAM accumulators", "DRAM weights")


@dataclass
class LayerEnergy:
    """Energy (pJ) of one :class:`LayerWork` on one array at one node."""

    layer: str
    array: str
    node: str
    convention_pj: float                   # the published convention's arithmetic
    parts: dict[str, float]                # the honest breakdown, :data:`COMPONENTS`
    resident: bool
    rules: list[str]                       # estimates used, for the report's notes

    @property
    def total_pj(self) -> float:
        return sum(self.parts.values())

    @property
    def arithmetic_pj(self) -> float:
        return sum(self.parts[c] for c in COMPONENTS[:4])

    @property
    def memory_pj(self) -> float:
        return self.total_pj - self.arithmetic_pj


def layer_energy(table: EnergyTable, work: LayerWork, spec: ArraySpec, *, node: str,
                 config: AcceleratorConfig, resident: bool | None = None,
                 skip_zeros: bool | None = None) -> LayerEnergy:
    """Price ``work`` on ``spec`` at ``node`` (see the module docstring).

    ``resident``: whether the weights stay in weight memory (default: whether this layer's
    weights fit it); otherwise every weight read comes from DRAM first. ``skip_zeros``
    overrides the array's operand isolation (to show what it saves).
    """
    table.check_node(node)
    rules: list[str] = []

    def use(price: Price) -> float:
        if price.rule:
            rules.append(price.rule)
        return price.value

    m, k, n = work.m, work.k, work.n
    if resident is None:
        resident = fits_on_chip(config, k * n, spec.weight_bits)
    skip = spec.skips_zeros if skip_zeros is None else skip_zeros
    # Published convention.
    if spec.fp_bits:
        add = use(table.op(node, "add", "fp", spec.fp_bits))
        mul = use(table.op(node, "mul", "fp", spec.fp_bits))
        convention = m * (k - 1) * n * add + m * k * n * mul
    else:
        add = use(table.op(node, "add", "int", 8))
        if spec.mul_bits:
            mul = use(table.op(node, "mul", "int", *spec.mul_bits))
            convention = m * (k - 1) * n * add + m * k * n * mul
        else:
            convention = (m * (k - 1) * n * add
                          + (m * n + m * k) * use(table.op(node, "mul", "fp", 16)))
    # RTL-width arithmetic.
    parts = dict.fromkeys(COMPONENTS, 0.0)
    zero_fraction = (work.zero_fraction if spec.has_zeros
                     else 1 - work.macs / work.array_macs)       # padding only
    active = 1 - zero_fraction if skip else 1.0
    per_vector = 0.0                     # adder energy of one vector through one tile
    if spec.fp_bits:
        per_vector = config.rows * config.cols * use(table.op(node, "add", "fp", spec.fp_bits))
        acc_add = use(table.op(node, "add", "fp", spec.fp_bits))
        mul = use(table.op(node, "mul", "fp", spec.fp_bits))
    else:
        for r in range(config.rows):
            per_vector += config.cols * use(
                table.op(node, "add", "int", spec.psum_bits(config, r + 1)))
        acc_add = use(table.op(node, "add", "int", spec.acc_bits))
        mul = use(table.op(node, "mul", "int", *spec.mul_bits)) if spec.mul_bits else 0.0
    parts["array adds"] = work.array_vectors * per_vector * active
    parts["array multiplies"] = work.array_macs * mul
    parts["accumulate"] = work.acc_reads * acc_add
    if spec.quantized:
        parts["scaling"] = (m * n + m * k) * use(table.op(node, "mul", "fp", 16))
    # Memory.
    w_sram = use(table.sram_pj_per_bit(node, config.weight_depth * config.weight_word_bits // 8))
    a_sram = use(table.sram_pj_per_bit(node, config.act_depth * config.act_word_bits // 8))
    c_sram = use(table.sram_pj_per_bit(node, config.acc_depth * config.acc_word_bits // 8))
    w_bits = work.weight_reads * spec.weight_bits
    parts["SRAM weights"] = w_bits * w_sram * (1 if resident else 2)   # + the write from DRAM
    parts["SRAM activations"] = (work.act_reads + work.act_writes) * spec.act_bits * a_sram
    parts["SRAM accumulators"] = ((work.acc_reads + work.acc_writes + work.acc_drains)
                                  * spec.acc_bits * c_sram)
    if not resident:
        parts["DRAM weights"] = w_bits * use(table.dram_pj_per_bit(node))
    return LayerEnergy(work.name, spec.name, node, convention, parts, resident,
                       sorted(set(rules)))


def convention_ratio(table: EnergyTable, node: str) -> float:
    """The published headline: an FP16 multiply-add over an INT8 add (71.4 at 7 nm)."""
    fp = table.op(node, "mul", "fp", 16).value + table.op(node, "add", "fp", 16).value
    return fp / table.op(node, "add", "int", 8).value
