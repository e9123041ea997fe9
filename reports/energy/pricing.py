# SPDX-License-Identifier: BSD-2-Clause
"""Pricing: what one :class:`~reports.energy.workload.LayerWork` costs on one array type.

:func:`layer_energy` gives two figures:

* the **published convention** (Wang et al. 2023; REFERENCE.md section 6): an m x n by n x p
  product costs ``m*(n-1)*p`` additions and ``m*n*p`` multiplications at full precision; the
  ternary array the same additions as INT8 additions and only ``m*p + m*n`` multiplications
  (the scaling), here priced at the FP16 multiply;
* the **honest total**: each MAC of row ``r`` an adder of the partial-sum width the RTL has
  after ``r + 1`` rows (:func:`golden.contract.config.sum_bits`), zero-weight MACs skipped
  where the array isolates them, every K-tile's result added into an ``acc_bits``
  accumulator, the scaling; weight reads at the array's bits per weight, activation and
  accumulator buffer traffic (the accumulator buffer is read and written for every K-tile),
  and DRAM weight traffic when the weights are not resident.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.contract.config import AcceleratorConfig, sum_bits

from .data import EnergyTable, Price
from .workload import LayerWork, fits_on_chip

__all__ = ["ARRAYS", "COMPONENTS", "ArraySpec", "LayerEnergy", "convention_ratio",
           "layer_energy"]


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
        return sum_bits(terms, self.product_max)


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
