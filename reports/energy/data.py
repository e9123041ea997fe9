# SPDX-License-Identifier: BSD-2-Clause
"""The energy and area data: published figures, each with its source, and the derivation rules.

Numbers come from one data file, :data:`DATA_FILE` (``energy_data.toml``: published
per-operation energies and areas, SRAM and DRAM access energies, each with its source; the same
figures are in REFERENCE.md section 7). Where the file has no entry, :class:`EnergyTable`
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
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DATA_FILE", "EnergyTable", "Memory", "Op", "Price", "format_pj"]

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


def format_pj(v: float) -> str:
    """An energy in picojoules, in the unit that suits it (``1.68 mJ``)."""
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} pJ"
