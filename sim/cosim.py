# SPDX-License-Identifier: BSD-2-Clause
"""Layer-level co-simulation: a BitLinear layer through the golden quantizers, the RTL and back.

::

    float x, W --golden quantizers--> int8 x_q, ternary w_t --tiles--> RTL (cocotb)
        --> per-tile column sums --gather--> integer accumulators --rescale--> float y

Every accumulator must equal golden's exact integer product, and the rescaled outputs must
equal golden's outputs bit for bit (the same float rescale runs on the same integers).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from firmware.tiling import plan_tiles
from golden.bitlinear import ref_bitlinear, rescale
from golden.config import AcceleratorConfig

from .cocotb_bench import rtl_array_cocotb
from .scenario import layer_scenario

__all__ = ["LayerResult", "LayerSpec", "format_table", "run_layer", "write_report"]


@dataclass(frozen=True)
class LayerSpec:
    name: str
    m: int
    k: int
    n: int


@dataclass(frozen=True)
class LayerResult:
    name: str
    m: int
    k: int
    n: int
    cycles: int
    bit_exact: bool
    max_abs_diff: float
    simulator: str
    wall_s: float


def random_layer(spec: LayerSpec, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float activations and weights for a layer: unit-normal inputs, 0.02-scaled weights."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(spec.m, spec.k, generator=gen)
    w = torch.randn(spec.n, spec.k, generator=gen) * 0.02
    return x, w


def run_layer(spec: LayerSpec, x: torch.Tensor, w: torch.Tensor, *, config: AcceleratorConfig,
              simulator: str, work_dir: Path, waves: bool = False,
              seed: int = 0) -> LayerResult:
    start = time.perf_counter()
    trace = ref_bitlinear(x, w, act_bits=config.act_bits)
    x_q, w_t = trace.x_q.numpy(), trace.w_t.numpy()
    plan = plan_tiles(config, x_q, w_t)
    run = rtl_array_cocotb(layer_scenario(plan, x_q, w_t), simulator=simulator,
                           test_dir=work_dir / spec.name, waves=waves, seed=seed)
    acc = torch.from_numpy(plan.gather(run.results))
    y = rescale(acc, trace.s_w, trace.s_x)
    return LayerResult(
        name=spec.name, m=spec.m, k=spec.k, n=spec.n, cycles=run.cycles,
        bit_exact=bool(torch.equal(acc, trace.acc) and torch.equal(y, trace.y)),
        max_abs_diff=float((y - trace.y).abs().max()),
        simulator=simulator, wall_s=round(time.perf_counter() - start, 3),
    )


def format_table(results: list[LayerResult]) -> str:
    header = ("layer", "M", "K", "N", "cycles", "bit-exact", "max |y_rtl - y_golden|")
    rows = [(r.name, r.m, r.k, r.n, r.cycles, "yes" if r.bit_exact else "NO",
             f"{r.max_abs_diff:.3g}") for r in results]
    widths = [max(len(str(v)) for v in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([line.format(*header), line.format(*("-" * w for w in widths)),
                      *(line.format(*row) for row in rows)])


def write_report(results: list[LayerResult], path: Path, *, config: AcceleratorConfig,
                 seed: int) -> dict:
    report = {
        "layers": [asdict(r) for r in results],
        "all_bit_exact": all(r.bit_exact for r in results),
        "config": config.to_dict(),
        "seed": seed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def default_layers() -> list[LayerSpec]:
    return [LayerSpec("bitlinear_256x192", m=16, k=256, n=192)]
