# SPDX-License-Identifier: BSD-2-Clause
"""Layer-level co-simulation, the project's main job (``make sim``, ``python -m sim``).

Two sets of BitLinear layers run on the accelerator RTL, every result checked bit for bit:

* the shipped golden model's: one forward pass over a prompt with every BitLinear routed to
  the RTL (:func:`golden.use_backend`), everything else on the host. Each integer product is
  compared with golden's exact one, and the model's logits with a golden-only run;
* BitNet b1.58 2B-4T-shaped layers (q, k, v, o, gate, up, down) with random weights: float
  inputs through the golden quantizers, the product on the RTL, the float rescale, compared
  with golden's outputs. N is sliced (64 outputs by default) to keep the run short: the full K
  runs, and every N-tile of a layer costs the same.

Cycles, MACs and zero-weight MACs come from the accelerator's counters around each product's
MATMULs (:attr:`firmware.runtime.Runtime.stats`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from firmware.runtime import Runtime
from golden.bitlinear import int_matmul, ref_bitlinear, rescale
from golden.config import AcceleratorConfig

__all__ = [
    "B2_4T_LAYERS",
    "CheckedBackend",
    "LayerRecord",
    "format_table",
    "run_2b4t",
    "run_model",
    "write_report",
]

# (name, out_features N, in_features K) of BitNet b1.58 2B-4T (BITNET.md, section 5).
B2_4T_LAYERS = [("q_proj", 2560, 2560), ("k_proj", 640, 2560), ("v_proj", 640, 2560),
                ("o_proj", 2560, 2560), ("gate_proj", 6912, 2560), ("up_proj", 6912, 2560),
                ("down_proj", 2560, 6912)]


@dataclass
class LayerRecord:
    name: str
    m: int
    k: int
    n: int
    cycles: int                  # COMPUTE cycles of the layer's MATMULs
    utilization: float           # useful MACs / (cycles * rows * cols)
    macs: int                    # useful MACs, m * k * n
    zero_weight_fraction: float  # MACs that met a zero weight / MACs issued to the array
    bit_exact: bool
    max_abs_diff: float | None = None   # float outputs against golden, where compared


class CheckedBackend:
    """A golden integer backend that runs every product on the accelerator, checks it
    against :func:`golden.bitlinear.int_matmul` and records a :class:`LayerRecord`."""

    def __init__(self, runtime: Runtime, progress=None):
        if not runtime.measure:
            raise ValueError("the runtime must measure (Runtime(backend, measure=True))")
        self.runtime = runtime
        self.records: list[LayerRecord] = []
        self.progress = progress
        self.__name__ = f"accelerator RTL ({runtime.backend.name})"

    def record(self, name: str, x_q: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
        acc = self.runtime.matmul(x_q.numpy(), w_t.numpy())
        stats = self.runtime.stats[-1]
        cfg = self.runtime.config
        exact = bool(np.array_equal(acc, int_matmul(x_q, w_t).numpy()))
        self.records.append(LayerRecord(
            name=name, m=stats.m, k=stats.k, n=stats.n, cycles=stats.cycles,
            utilization=stats.useful_macs / (stats.cycles * cfg.rows * cfg.cols),
            macs=stats.useful_macs, zero_weight_fraction=stats.zero_macs / stats.macs,
            bit_exact=exact))
        if self.progress is not None:
            self.progress.update(1)
        return torch.from_numpy(acc)

    def __call__(self, x_q: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
        from golden.intpath import current_layer
        name = current_layer() or f"layer{len(self.records)}"
        # A grouped 1-bit BitLinear makes one product per group: number them.
        group = 0
        for record in reversed(self.records):
            base, _, _ = record.name.partition("[")
            if base != name:
                break
            group += 1
        if group == 1:
            self.records[-1].name = f"{name}[g0]"
        return self.record(f"{name}[g{group}]" if group else name, x_q, w_t)


def model_bitlinear_count(model) -> int:
    return len(model.bitlinears())


def run_model(checked: CheckedBackend, model, tokens: list[int]) -> float:
    """One forward pass of ``model`` over ``tokens`` with every BitLinear on the accelerator.
    Returns max |logits_rtl - logits_golden| (0.0 when the whole model is bit-exact)."""
    import golden

    batch = torch.tensor([tokens])
    with torch.no_grad():
        expect = model(batch)                       # golden integer path
        with golden.use_backend(checked):
            got = model(batch)
    return float((got - expect).abs().max())


def run_2b4t(checked: CheckedBackend, *, m: int, n_slice: int, seed: int) -> None:
    """The 2B-4T-shaped layers: float in, golden quantizers, RTL product, float rescale."""
    gen = torch.Generator().manual_seed(seed)
    for name, n_full, k in B2_4T_LAYERS:
        n = min(n_slice, n_full)
        x = torch.randn(m, k, generator=gen)
        w = torch.randn(n, k, generator=gen) * 0.02
        trace = ref_bitlinear(x, w, act_bits=checked.runtime.config.act_bits)
        acc = checked.record(f"2b4t.{name}", trace.x_q, trace.w_t)
        y = rescale(acc, trace.s_w, trace.s_x)
        record = checked.records[-1]
        record.max_abs_diff = float((y - trace.y).abs().max())
        record.bit_exact = record.bit_exact and bool(torch.equal(y, trace.y))


def format_table(records: list[LayerRecord]) -> str:
    header = ("layer", "M", "K", "N", "cycles", "util", "MACs", "zero-w", "bit-exact")
    rows = [(r.name, r.m, r.k, r.n, r.cycles, f"{r.utilization:.1%}", f"{r.macs:,}",
             f"{r.zero_weight_fraction:.1%}", "yes" if r.bit_exact else "NO")
            for r in records]
    widths = [max(len(str(v)) for v in col) for col in zip(header, *rows, strict=True)]
    # The layer name left-aligned, the figures right-aligned.
    line = "  ".join([f"{{:<{widths[0]}}}"] + [f"{{:>{w}}}" for w in widths[1:]])
    return "\n".join([line.format(*header), line.format(*("-" * w for w in widths)),
                      *(line.format(*row) for row in rows)])


def write_report(path: Path, records: list[LayerRecord], *, config: AcceleratorConfig,
                 extra: dict) -> dict:
    report = {
        "layers": [asdict(r) for r in records],
        "all_bit_exact": all(r.bit_exact for r in records),
        "config": config.to_dict(),
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start
