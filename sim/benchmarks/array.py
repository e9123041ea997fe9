# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.benchmarks.array`` (``make bench``): MATMUL performance of the accelerator
on BitNet b1.58 2B-4T layer shapes, measured in RTL cycles, beside the tile loop's cycles.

For each projection (q, k, o, gate, down; shapes of REFERENCE.md section 5) it runs prefill
(M = 64 tokens) and decode (M = 1) on a 16x16 array under Verilator (the native harness of
:mod:`sim.native` by default; ``--simulator`` picks another RTL backend), reading the RTL's COMPUTE
counter for the MATMUL alone (loads and the result drain are reported separately, as the
end-to-end count of the harness).

N is sliced to ``--n-slice`` outputs (default 64, four 16-wide N-tiles) to keep simulation
time sane: the tile loop runs the full K, and every N-tile costs the same, so slicing N only
raises the share of the once-per-MATMUL pipeline fill and drain (a pessimistic figure).

Figures (:mod:`golden.contract.tileloop`): ``utilization`` = useful MACs per cycle / (rows *
cols); ``bound`` = the MACs per cycle the binding resource allows
(:attr:`~golden.contract.tileloop.MatmulWork.bound_macs_per_cycle`: rows * cols, the array, for
prefill; for decode M vectors per tile period, the weight memory delivering
``--weight-rows-per-cycle`` rows of cols weights per cycle); ``bound_fraction`` = achieved /
bound. Every configuration field is an option (``make bench BENCH_ARGS="--weight-rows-per-cycle
16"`` shows decode with the whole tile loaded per cycle). Results go to build/bench/array.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from firmware.compiler import compile_matmul, compile_weights
from golden.bitlinear import int_matmul
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import Counter
from golden.contract.paths import build_root
from golden.contract.tileloop import layer_work, utilization
from golden.contract.workloads import MODELS

from ..backends import SIMULATOR_BACKENDS, make_backend

#: The projections measured: v and up have the shapes of k and gate.
LAYERS = [s for s in MODELS["2B-4T"].bitlinears()
          if s.name in ("q_proj", "k_proj", "o_proj", "gate_proj", "down_proj")]


def _run(config, name, m, k, n, n_full, phase, rng, simulator, work_dir):
    x = rng.integers(-127, 128, size=(m, k)).astype(np.int8)
    w = rng.choice(np.array([-1, 0, 1], np.int8), size=(n, k), p=[1 / 3, 1 / 3, 1 / 3])
    image = compile_weights(config, w)
    prog = compile_matmul(image, x, measure=True)
    start = time.perf_counter()
    with make_backend(simulator, config, work_dir=work_dir / f"{name}-{phase}") as backend:
        response = backend.run(prog)
        end_to_end = backend.last_cycles
    wall = time.perf_counter() - start
    acc = prog.decode(response)
    bit_exact = bool(np.array_equal(acc, int_matmul(torch.from_numpy(x),
                                                    torch.from_numpy(w)).numpy()))
    counters = prog.counters(response)
    work = layer_work(config, m=m, k=k, n=n)
    cycles = counters[Counter.COMPUTE]
    macs = m * k * n
    bound = work.bound_macs_per_cycle
    return {
        "layer": name, "phase": phase, "weight_format": config.weight_format,
        "weight_rows_per_cycle": config.weight_rows_per_cycle,
        "m": m, "k": k, "n": n, "n_full": n_full,
        "cycles": cycles, "model_cycles": work.cycles,
        "model_gap": (cycles - work.cycles) / work.cycles,
        "utilization": utilization(config, macs=macs, cycles=cycles),
        "bound": bound, "bound_fraction": macs / cycles / bound,
        "macs": macs, "zero_weight_macs": counters[Counter.ZERO_MACS],
        "weight_memory_bits": len(image.words) * config.weight_word_bits,
        "end_to_end_cycles": end_to_end, "bit_exact": bit_exact,
        "simulator": simulator, "wall_s": round(wall, 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.benchmarks.array", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulator", choices=SIMULATOR_BACKENDS, default="verilator")
    parser.add_argument("--n-slice", type=int, default=64, metavar="N",
                        help="outputs simulated per layer (default 64)")
    parser.add_argument("--prefill-m", type=int, default=64, metavar="M")
    parser.add_argument("--layers", nargs="*", choices=[s.name for s in LAYERS],
                        help="a subset of the layers (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    if args.n_slice < 1:
        parser.error(f"--n-slice must be positive, not {args.n_slice}")

    rng = np.random.default_rng(args.seed)
    work_dir = build_root() / "bench" / "array"
    records = []
    for shape in LAYERS:
        name, n_full, k = shape.name, shape.n, shape.k
        if args.layers and name not in args.layers:
            continue
        n = min(args.n_slice, n_full)
        runs = [(config, args.prefill_m, "prefill"), (config, 1, "decode"),
                (replace(config, weight_format="1.6bit"), 1, "decode")]
        for cfg, m, phase in runs:
            rec = _run(cfg, name, m, k, n, n_full, phase, rng, args.simulator, work_dir)
            records.append(rec)
            print(f"{name:>9} {phase:>7} {cfg.weight_format:>6}  M={m:<3} K={k:<5} N={n:<4} "
                  f"cycles {rec['cycles']:>7} (model {rec['model_cycles']:>7})  "
                  f"utilization {rec['utilization']:6.1%}  "
                  f"of bound {rec['bound_fraction']:6.1%}  "
                  f"{'bit-exact' if rec['bit_exact'] else 'MISMATCH'}", flush=True)
    out = build_root() / "bench" / "array.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": config.to_dict(), "n_slice": args.n_slice,
                               "layers": records}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["bit_exact"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
