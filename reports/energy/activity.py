# SPDX-License-Identifier: BSD-2-Clause
"""Activity-based refinement: toggle counts of the array's signals in RTL simulation.

A slice of one BitLinear of the shipped model (its trained ternary weights and the int8
activations of a real prompt) runs through a small :class:`hw.array.BufferedArray` in
amaranth.sim (:func:`sim.testbenches.array_amaranth.rtl_array_amaranth`), and the same slice
with random ternary weights of the same shape. A background testbench samples the array's
documented probe set (:class:`hw.array.ArrayProbes`) at every clock edge and counts bit
toggles per signal class:

* ``addend``: the adder's second operand of every processing element (operand isolation holds
  it at 0 under a zero weight);
* ``psum``: the partial sums leaving every element;
* ``activation pipeline``: the activations leaving every element, the skew registers and the
  edge registers;
* ``weight banks``: both weight banks and the selected weight of every element.

It also replays every element's operand from its activation input and selected weight, twice:
as the RTL computes it (a check against the sampled ``addend``: the two counts must agree) and
as an array *without* operand isolation would (under a zero weight the operand follows the
activation, and the sum is discarded). The ratio of the two is the measured saving of
operand isolation in the adder's operand activity.

Every value is sampled once per cycle, so a signal counts the net change of each cycle (the
transitions of a circuit, not the simulator's zero-delay deltas).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from amaranth.hdl import Value

from golden.contract.config import AcceleratorConfig

__all__ = ["CLASSES", "ActivityResult", "ToggleCounter", "Toggles", "layer_slice",
           "run_activity"]

CLASSES = ("addend", "psum", "activation pipeline", "weight banks")


@dataclass
class Toggles:
    """Bit toggles per signal class, and the operand replay (see the module docstring)."""

    by_class: dict[str, int]
    signals: dict[str, int]            # signals per class
    addend_replayed: int               # the RTL's operand, recomputed: must equal by_class
    addend_no_isolation: int           # the operand of an array without operand isolation
    cycles: int

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    @property
    def isolation_saving(self) -> float:
        """Fraction of the adder's operand toggles that operand isolation removes."""
        return 1 - self.by_class["addend"] / self.addend_no_isolation

    @property
    def datapath_saving(self) -> float:
        """The same removed toggles as a fraction of every counted toggle without isolation."""
        without = self.total - self.by_class["addend"] + self.addend_no_isolation
        return (self.addend_no_isolation - self.by_class["addend"]) / without


class ToggleCounter:
    """Counts toggles of per-cycle samples (see the module docstring).

    Parameters
    ----------
    classes : list of str
        The class (one of :data:`CLASSES`) of each sampled signal, in sample order.
    cells : int
        Elements whose operand is replayed: each sample ends with their activation input and
        selected 2-bit weight code, two values per element.
    act_bits : int
    """

    def __init__(self, classes: list[str], *, cells: int, act_bits: int):
        unknown = sorted(set(classes) - set(CLASSES))
        if unknown:
            raise ValueError(f"unknown signal class(es) {unknown}; the classes are {CLASSES}")
        if cells < 1:
            raise ValueError(f"no processing elements to replay (cells={cells})")
        self.classes = list(classes)
        self.cells = cells
        self.mask = (1 << act_bits) - 1
        self.by_class = dict.fromkeys(CLASSES, 0)
        self.replayed = self.unisolated = 0
        self.cycles = 0
        self._prev: list[int] | None = None
        self._prev_operands: list[tuple[int, int]] | None = None

    @classmethod
    def of(cls, probes, *, act_bits: int) -> tuple[ToggleCounter, list[Value]]:
        """A counter for an array's :class:`hw.array.ArrayProbes`, and the values to sample
        (unsigned), in the counter's order."""
        groups = {"addend": [], "psum": [], "activation pipeline": [], "weight banks": []}
        for pe in probes.pes.values():
            groups["addend"].append(pe.addend)
            groups["psum"].append(pe.psum_out)
            groups["activation pipeline"].append(pe.a_out)
            groups["weight banks"] += [*pe.w_banks, pe.w_sel]
        groups["activation pipeline"] += [*probes.skew, *probes.edge]
        classes = [name for name, signals in groups.items() for _ in signals]
        values = [Value.cast(s).as_unsigned() for signals in groups.values() for s in signals]
        for pe in probes.pes.values():
            values += [Value.cast(pe.a_in).as_unsigned(), Value.cast(pe.w_sel).as_unsigned()]
        return cls(classes, cells=len(probes.pes), act_bits=act_bits), values

    def add(self, sample) -> None:
        """One cycle's values: the classified signals, then (a_in, w_sel) per element."""
        n = len(self.classes)
        if len(sample) != n + 2 * self.cells:
            raise ValueError(f"a sample has {len(sample)} values, not {n + 2 * self.cells}")
        values = list(sample[:n])
        operands = []
        for c in range(self.cells):
            a, code = sample[n + 2 * c], sample[n + 2 * c + 1]
            # The code is the weight in two's complement (golden.contract.codecs.WeightCode).
            nonzero, negative = code & 1, (code & 1) & (code >> 1)
            flip = self.mask if negative else 0
            operands.append(((a ^ flip) & (self.mask if nonzero else 0), (a ^ flip) & self.mask))
        if self._prev is not None:
            for name, old, new in zip(self.classes, self._prev, values, strict=True):
                self.by_class[name] += (old ^ new).bit_count()
            for (old_iso, old_raw), (iso, raw) in zip(self._prev_operands, operands,
                                                      strict=True):
                self.replayed += (old_iso ^ iso).bit_count()
                self.unisolated += (old_raw ^ raw).bit_count()
        self._prev, self._prev_operands = values, operands
        self.cycles += 1

    def toggles(self) -> Toggles:
        signals = dict.fromkeys(CLASSES, 0)
        for name in self.classes:
            signals[name] += 1
        return Toggles(dict(self.by_class), signals, self.replayed, self.unisolated,
                       self.cycles)


# --- the runs ---------------------------------------------------------------------------------

def layer_slice(model_name: str, layer: str, prompt_tokens: list[int]):
    """(x_q (M, K), w_t (N, K)) of ``layer`` in one forward pass of the model over the
    prompt: the trained weights and the activations they really meet."""
    import torch

    from golden.bitlinear import int_matmul
    from golden.formats import load_model
    from golden.intpath import current_layer, use_backend

    model = load_model(model_name)
    if layer not in model.bitlinears():
        raise ValueError(f"unknown layer {layer!r} of {model_name}; it has "
                         f"{', '.join(list(model.bitlinears())[:4])}, ...")
    seen = {}

    def record(x_q, w_t):
        if current_layer() == layer and layer not in seen:
            seen[layer] = (x_q.numpy().copy(), w_t.numpy().copy())
        return int_matmul(x_q, w_t)

    with torch.no_grad(), use_backend(record):
        model(torch.tensor([prompt_tokens]))
    if layer not in seen:
        raise ValueError(f"layer {layer!r} was not called in the forward pass")
    return seen[layer]


@dataclass
class ActivityResult:
    label: str
    weights_zero_fraction: float
    vectors: int
    macs: int                          # array MACs: vectors * rows * cols
    toggles: Toggles
    bit_exact: bool

    def to_dict(self) -> dict:
        t = self.toggles
        return {"label": self.label, "weights_zero_fraction": self.weights_zero_fraction,
                "vectors": self.vectors, "macs": self.macs, "bit_exact": self.bit_exact,
                **{f"toggles_{k}": v for k, v in asdict(t).items()},
                "isolation_saving": t.isolation_saving, "datapath_saving": t.datapath_saving}


def _scenario(config: AcceleratorConfig, x_q: np.ndarray, w_t: np.ndarray):
    from sim.testbenches.scenario import ArrayScenario, ArrayTile

    r, c = config.rows, config.cols
    tiles = []
    for n0 in range(0, w_t.shape[0], c):
        for k0 in range(0, w_t.shape[1], r):
            tiles.append(ArrayTile(np.ascontiguousarray(w_t[n0:n0 + c, k0:k0 + r].T),
                                   np.ascontiguousarray(x_q[:, k0:k0 + r])))
    return ArrayScenario(config, tiles, [list(range(r)) for _ in tiles])


def run_activity(config: AcceleratorConfig, x_q: np.ndarray, w_t: np.ndarray, *,
                 label: str) -> ActivityResult:
    """Run ``x_q @ w_t.T`` (shapes multiples of the array) through the RTL and count the
    toggles of its probe set."""
    from sim.testbenches.array_amaranth import rtl_array_amaranth

    r, c = config.rows, config.cols
    if w_t.shape[0] % c or w_t.shape[1] % r or x_q.shape[1] != w_t.shape[1]:
        raise ValueError(f"layer slice of shape x {x_q.shape}, w {w_t.shape} does not tile "
                         f"a {r}x{c} array")
    scenario = _scenario(config, x_q, w_t)
    counters = []

    def observer(dut):
        async def observe(ctx):
            counter, values = ToggleCounter.of(dut.probes, act_bits=config.act_bits)
            counters.append(counter)
            async for _, _, *sample in ctx.tick().sample(*values):
                counter.add(sample)
        return observe

    run = rtl_array_amaranth(scenario, observers=[observer])
    exact = bool(np.array_equal(run.results, scenario.expected()))
    vectors = scenario.n_results
    return ActivityResult(label, float((w_t == 0).mean()), vectors, vectors * r * c,
                          counters[0].toggles(), exact)
