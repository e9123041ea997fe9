# SPDX-License-Identifier: BSD-2-Clause
"""Activity-based refinement: toggle counts of the array's signals in RTL simulation.

A slice of one BitLinear of the shipped model (its trained ternary weights and the int8
activations of a real prompt) runs through a small :class:`hw.array.BufferedArray` in
amaranth.sim with a VCD dump (:func:`sim.amaranth_bench.rtl_array_amaranth`), and the same
slice with random ternary weights of the same shape. :func:`count_toggles` streams the dump
through vcdvcd's callback parser (nothing is kept per time step) and counts bit toggles per
signal class:

* ``addend``: the adder's second operand of every processing element (operand isolation holds
  it at 0 under a zero weight);
* ``psum``: the partial-sum registers;
* ``activation pipeline``: the activation registers of the elements, the skew registers and
  the edge register;
* ``weight banks``: both weight banks and the selected-weight register of every element.

It also replays every element's operand from its activation input and selected weight, twice:
as the RTL computes it (a check against the dumped ``addend``: the two counts must agree) and
as an array *without* operand isolation would (under a zero weight the operand follows the
activation, and the sum is discarded). The ratio of the two is the measured saving of
operand isolation in the adder's operand activity.

A signal that changes several times within one time step (the simulator's zero-delay deltas,
not transitions of a circuit) counts the net change of the step.

vcdvcd skips string-valued changes, which is how Amaranth dumps enum-shaped signals (the
weight codes): :func:`normalize_vcd` rewrites them as bit vectors first, streaming.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from golden.config import AcceleratorConfig
from golden.isa import WeightCode

__all__ = ["CLASSES", "ActivityResult", "Toggles", "count_toggles", "layer_slice",
           "normalize_vcd", "run_activity"]

_PE = r"\.pe_(\d+)_(\d+)\."
CLASSES = {
    "addend": [re.compile(_PE + r"addend$")],
    "psum": [re.compile(_PE + r"psum_out_reg$")],
    "activation pipeline": [re.compile(_PE + r"a_out_reg$"),
                            re.compile(r"\.core\.skew_a_\d+_\d+$"),
                            re.compile(r"\.core\.edge_data$")],
    "weight banks": [re.compile(_PE + r"w_bank[01]$"), re.compile(_PE + r"w_sel_reg$")],
}
_A_IN = re.compile(_PE + r"a_in$")
_W_SEL = re.compile(_PE + r"w_sel_reg$")


def normalize_vcd(src: Path, dst: Path) -> None:
    """Copy a VCD, rewriting Amaranth's enum strings (``sNEG id``) as 2-bit weight codes."""
    codes = {f"s{c.name}": f"b{c.value:02b}" for c in WeightCode}
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            if line[0] == "s":
                value, ident = line.split()
                if value not in codes:
                    raise ValueError(f"{src}: unexpected string value {value!r}")
                line = f"{codes[value]} {ident}\n"
            fout.write(line)


def _int(value: str) -> int | None:
    try:
        return int(value, 2)
    except ValueError:          # x or z
        return None


@dataclass
class Toggles:
    """Bit toggles per signal class, and the operand replay (see the module docstring)."""

    by_class: dict[str, int]
    signals: dict[str, int]            # signals (VCD identifiers) per class
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


def count_toggles(vcd_path: Path, *, act_bits: int) -> Toggles:
    """Stream a (normalized) VCD of a ternary array and count toggles per class."""
    from vcdvcd import VCDVCD, StreamParserCallbacks

    mask = (1 << act_bits) - 1

    class Counter(StreamParserCallbacks):
        def __init__(self):
            self.cls = {}                 # identifier -> class
            self.cell_of = {}             # identifier -> cells whose operand it feeds
            self.a_in, self.w_sel = {}, {}
            self.toggles = dict.fromkeys(CLASSES, 0)
            self.dirty = set()
            self.start = {}               # identifier -> value before this time step
            self.prev = {}                # cell -> (isolated operand, unisolated operand)
            self.replayed = self.unisolated = 0
            self.times = 0
            self.bad = False

        def enddefinitions(self, vcd, signals, cur_sig_vals):
            for ident, sig in vcd.data.items():
                for ref in sig.references:
                    for name, patterns in CLASSES.items():
                        if ident not in self.cls and any(p.search(ref) for p in patterns):
                            self.cls[ident] = name
                    for pattern, table in ((_A_IN, self.a_in), (_W_SEL, self.w_sel)):
                        hit = pattern.search(ref)
                        if hit:
                            cell = (int(hit[1]), int(hit[2]))
                            table[cell] = ident
                            self.cell_of.setdefault(ident, set()).add(cell)
            # Raised after the parse: vcdvcd leaves its file open on an exception.
            self.bad = not self.a_in or set(self.a_in) != set(self.w_sel)

        def value(self, vcd, time, value, identifier_code, cur_sig_vals):
            # A signal can change more than once in one time step (zero-delay deltas of the
            # simulator, not transitions of a circuit): count from its value before the step.
            if identifier_code in self.cls and identifier_code not in self.start:
                self.start[identifier_code] = cur_sig_vals[identifier_code]
            cells = self.cell_of.get(identifier_code)
            if cells:
                self.dirty |= cells

        def time(self, vcd, time, cur_sig_vals):
            # All changes of the previous time step are in: replay the touched operands.
            self.times += 1
            for ident, before in self.start.items():
                old, new = _int(before), _int(cur_sig_vals[ident])
                if old is not None and new is not None:
                    self.toggles[self.cls[ident]] += (old ^ new).bit_count()
            self.start.clear()
            for cell in self.dirty:
                a = _int(cur_sig_vals[self.a_in[cell]])
                code = _int(cur_sig_vals[self.w_sel[cell]])
                if a is None or code is None:
                    continue
                nonzero, negative = code & 1, (code & 1) & (code >> 1)
                flip = mask if negative else 0
                now = ((a ^ flip) & (mask if nonzero else 0), a ^ flip)
                before = self.prev.get(cell)
                if before is not None:
                    self.replayed += (before[0] ^ now[0]).bit_count()
                    self.unisolated += (before[1] ^ now[1]).bit_count()
                self.prev[cell] = now
            self.dirty.clear()

    counter = Counter()
    VCDVCD(str(vcd_path), callbacks=counter, store_tvs=False)
    if counter.bad:
        raise ValueError(f"{vcd_path}: no ternary processing elements found (a_in and "
                         f"w_sel_reg of every pe_<row>_<col>)")
    signals = dict.fromkeys(CLASSES, 0)
    for name in counter.cls.values():
        signals[name] += 1
    # amaranth.sim dumps at both clock edges: two time steps per cycle.
    return Toggles(counter.toggles, signals, counter.replayed, counter.unisolated,
                   cycles=counter.times // 2)


# --- the runs ---------------------------------------------------------------------------------

def layer_slice(model_name: str, layer: str, prompt_tokens: list[int]):
    """(x_q (M, K), w_t (N, K)) of ``layer`` in one forward pass of the model over the
    prompt: the trained weights and the activations they really meet."""
    import torch

    import golden
    from golden.bitlinear import int_matmul
    from golden.intpath import current_layer

    model = golden.load_model(model_name)
    if layer not in model.bitlinears():
        raise ValueError(f"unknown layer {layer!r} of {model_name}; it has "
                         f"{', '.join(list(model.bitlinears())[:4])}, ...")
    seen = {}

    def record(x_q, w_t):
        if current_layer() == layer and layer not in seen:
            seen[layer] = (x_q.numpy().copy(), w_t.numpy().copy())
        return int_matmul(x_q, w_t)

    with torch.no_grad(), golden.use_backend(record):
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
    from sim.scenario import ArrayScenario, ArrayTile

    r, c = config.rows, config.cols
    tiles = []
    for n0 in range(0, w_t.shape[0], c):
        for k0 in range(0, w_t.shape[1], r):
            tiles.append(ArrayTile(np.ascontiguousarray(w_t[n0:n0 + c, k0:k0 + r].T),
                                   np.ascontiguousarray(x_q[:, k0:k0 + r])))
    return ArrayScenario(config, tiles, [list(range(r)) for _ in tiles])


def run_activity(config: AcceleratorConfig, x_q: np.ndarray, w_t: np.ndarray, *, label: str,
                 workdir: Path) -> ActivityResult:
    """Run ``x_q @ w_t.T`` (shapes multiples of the array) through the RTL with a VCD dump and
    count its toggles."""
    from sim.amaranth_bench import rtl_array_amaranth

    r, c = config.rows, config.cols
    if w_t.shape[0] % c or w_t.shape[1] % r or x_q.shape[1] != w_t.shape[1]:
        raise ValueError(f"layer slice of shape x {x_q.shape}, w {w_t.shape} does not tile "
                         f"a {r}x{c} array")
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = _scenario(config, x_q, w_t)
    raw, vcd = workdir / f"{label}.raw.vcd", workdir / f"{label}.vcd"
    run = rtl_array_amaranth(scenario, vcd_path=raw)
    exact = bool(np.array_equal(run.results, scenario.expected()))
    normalize_vcd(raw, vcd)
    raw.unlink()
    toggles = count_toggles(vcd, act_bits=config.act_bits)
    vectors = scenario.n_results
    return ActivityResult(label, float((w_t == 0).mean()), vectors, vectors * r * c, toggles,
                          exact)
