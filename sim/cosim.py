# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim`` (``make sim``): layer-level co-simulation, the project's main job.

Two sets of BitLinear layers run on the accelerator RTL, every result checked bit for bit:

* the shipped golden model's: one forward pass over a prompt with every BitLinear routed to
  the RTL (:func:`golden.intpath.use_backend`), everything else on the host. Each integer product is
  compared with golden's exact one, and the model's logits with a golden-only run;
* BitNet b1.58 2B-4T-shaped layers (q, k, v, o, gate, up, down) with random weights: float
  inputs through the golden quantizers, the product on the RTL, the float rescale, compared
  with golden's outputs. N is sliced (64 outputs by default) to keep the run short: the full K
  runs, and every N-tile of a layer costs the same.

Cycles, MACs and zero-weight MACs come from the accelerator's counters around each product's
MATMULs (:attr:`firmware.runtime.Runtime.stats`). :func:`cosimulate` is the documented API
behind the command line: it returns the report that ``python -m sim`` writes to
build/sim/cosim.json (``layers``: name, m, k, n, cycles, utilization, macs,
zero_weight_fraction, bit_exact, mem_bytes and mem_bursts (the AXI traffic counters, 0 with
on-chip weights); ``all_bit_exact``; ``config``; and the run's settings), and
the energy report (``python -m reports energy``) reads that file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from firmware.runtime import Runtime
from golden.bitlinear import int_matmul, ref_bitlinear, rescale
from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root
from golden.contract.tileloop import utilization
from golden.contract.workloads import DEFAULT_PROMPT, MODELS

from .backends import BACKENDS, COCOTB_BACKENDS, SIMULATOR_BACKENDS, make_backend
from .simulators import SimulatorNotFound

__all__ = [
    "CheckedBackend",
    "LayerRecord",
    "cosimulate",
    "format_table",
    "main",
    "records",
    "run_2b4t",
    "run_model",
    "write_report",
]

#: The BitLinear shapes of BitNet b1.58 2B-4T (REFERENCE.md section 5).
B2_4T = MODELS["2B-4T"]


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
    mem_bytes: int = 0           # weight bytes read over AXI (MEM_BYTES; 0 on chip)
    mem_bursts: int = 0          # AXI read bursts (MEM_BURSTS)


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
        exact = bool(np.array_equal(acc, int_matmul(x_q, w_t).numpy()))
        self.records.append(LayerRecord(
            name=name, m=stats.m, k=stats.k, n=stats.n, cycles=stats.cycles,
            utilization=utilization(self.runtime.config, macs=stats.useful_macs,
                                    cycles=stats.cycles),
            macs=stats.useful_macs, zero_weight_fraction=stats.zero_macs / stats.macs,
            bit_exact=exact, mem_bytes=stats.mem_bytes, mem_bursts=stats.mem_bursts))
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


def run_model(checked: CheckedBackend, model, tokens: list[int]) -> float:
    """One forward pass of ``model`` over ``tokens`` with every BitLinear on the accelerator.
    Returns max |logits_rtl - logits_golden| (0.0 when the whole model is bit-exact)."""
    from golden.intpath import use_backend

    batch = torch.tensor([tokens])
    # One thread for both passes: a float reduction split over threads may round differently
    # from one pass to the next (seen once on a loaded machine: an activation quantized one
    # step apart, 0.09 in the logits), which would hide what the comparison is for.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            expect = model(batch)                   # golden integer path
            with use_backend(checked):
                got = model(batch)
    finally:
        torch.set_num_threads(threads)
    return float((got - expect).abs().max())


def run_2b4t(checked: CheckedBackend, *, m: int, n_slice: int, seed: int) -> None:
    """The 2B-4T-shaped layers: float in, golden quantizers, RTL product, float rescale."""
    gen = torch.Generator().manual_seed(seed)
    for shape in B2_4T.bitlinears():
        name, n, k = shape.name, min(n_slice, shape.n), shape.k
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


def write_report(path: Path, report: dict) -> None:
    """Write a report of :func:`cosimulate` as JSON (build/sim/cosim.json by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def cosimulate(*, config: AcceleratorConfig, simulator: str = "verilator",
               model: str | None = "tiny-b158", prompt: str = DEFAULT_PROMPT,
               b2_4t: bool = True, m: int = 16, n_slice: int = 64, seed: int = 0,
               waves: bool = False, progress=None) -> dict:
    """Run the shipped model's layers (``model``: a shipped name or a checkpoint path; None
    skips it) and the 2B-4T-shaped layers (unless not ``b2_4t``) on ``simulator`` (any
    backend of :mod:`sim.backends`, "functional" included) and return the report (see the
    module docstring; ``wall_s`` is the run's wall time). ``progress``: a tqdm-like bar."""
    from golden.data import encode
    from golden.formats import load_model

    start = time.perf_counter()
    net = load_model(model) if model is not None else None
    tokens = encode(prompt) if net is not None else []
    if net is not None and not tokens:
        raise ValueError("the prompt is empty")
    if progress is not None:
        progress.total = (len(net.bitlinears()) if net is not None else 0) + \
            (len(B2_4T.bitlinears()) if b2_4t else 0)
        progress.refresh()
    options = {}
    if simulator in SIMULATOR_BACKENDS:
        options = {"work_dir": build_root() / "sim" / simulator, "waves": waves}
    logits_diff = None
    with make_backend(simulator, config, **options) as backend:
        checked = CheckedBackend(Runtime(backend, measure=True), progress=progress)
        if net is not None:
            logits_diff = run_model(checked, net, tokens)
        if b2_4t:
            run_2b4t(checked, m=m, n_slice=n_slice, seed=seed)
    return {
        "layers": [asdict(r) for r in checked.records],
        "all_bit_exact": all(r.bit_exact for r in checked.records),
        "config": config.to_dict(),
        "simulator": simulator, "model": model if model is not None else "none",
        "prompt_tokens": len(tokens), "model_logits_max_abs_diff": logits_diff,
        "n_slice": n_slice, "wall_s": round(time.perf_counter() - start, 1),
    }


def records(report: dict) -> list[LayerRecord]:
    """The :class:`LayerRecord` s of a report of :func:`cosimulate` (or of cosim.json)."""
    return [LayerRecord(**r) for r in report["layers"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-b158",
                        help="golden model name or checkpoint path (default: tiny-b158); "
                             "'none' skips the model")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT,
                        help="text whose bytes are the model's tokens (M = its length)")
    parser.add_argument("--no-2b4t", action="store_true",
                        help="skip the BitNet b1.58 2B-4T-shaped layers")
    parser.add_argument("--m", type=int, default=16, metavar="M",
                        help="tokens of the 2B-4T-shaped layers (default 16)")
    parser.add_argument("--n-slice", type=int, default=64, metavar="N",
                        help="outputs simulated per 2B-4T layer (default 64)")
    parser.add_argument("--simulator", choices=BACKENDS, default="verilator",
                        help="where the accelerator runs (default: verilator, the native "
                             "harness; cocotb-verilator and icarus run under cocotb)")
    parser.add_argument("--waves", action="store_true",
                        help="dump waveforms (cocotb-verilator, icarus) into "
                             "build/sim/<simulator>/")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random layers")
    parser.add_argument("--out", default=None, help="report (default build/sim/cosim.json)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    for name in ("m", "n_slice"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, "
                         f"not {getattr(args, name)}")
    if args.model == "none" and args.no_2b4t:
        parser.error("nothing to run: --model none and --no-2b4t")
    if args.waves and args.simulator not in COCOTB_BACKENDS:
        parser.error(f"--waves needs a cocotb simulator (cocotb-verilator or icarus), "
                     f"not {args.simulator}")
    model = None if args.model == "none" else args.model
    if model is not None:
        from golden.formats import resolve
        try:
            resolve(model)
        except ValueError as e:
            parser.error(str(e))
        if not args.prompt:
            parser.error("the prompt is empty")

    from tqdm import tqdm

    try:
        with tqdm(desc=f"layers on {args.simulator}", unit="layer") as bar:
            report = cosimulate(config=config, simulator=args.simulator, model=model,
                                prompt=args.prompt, b2_4t=not args.no_2b4t, m=args.m,
                                n_slice=args.n_slice, seed=args.seed, waves=args.waves,
                                progress=bar)
    except SimulatorNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = build_root() / "sim" / "cosim.json" if args.out is None else Path(args.out)
    write_report(out, report)
    layers = records(report)
    print(f"\n{config.rows}x{config.cols} ternary accelerator on {args.simulator}:")
    print(format_table(layers))
    logits_diff = report["model_logits_max_abs_diff"]
    if logits_diff is not None:
        print(f"model {args.model}: logits against golden, max |diff| = {logits_diff:g}")
    print(f"all bit-exact: {report['all_bit_exact']}  ({report['wall_s']:.0f} s; "
          f"report: {out})")
    if args.out is None:            # the wall time of `make sim` is a benchmark figure too
        from .benchmarks.records import update_report
        update_report(f"sim_{args.model}_{args.simulator}", {
            "wall_s": report["wall_s"], "layers": len(layers),
            "compute_cycles": sum(r.cycles for r in layers),
            "all_bit_exact": report["all_bit_exact"], "config": config.to_dict()})
    return 0 if report["all_bit_exact"] and not logits_diff else 1


if __name__ == "__main__":
    sys.exit(main())
