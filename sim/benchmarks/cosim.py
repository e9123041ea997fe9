# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.benchmarks.cosim``: how fast each backend co-simulates the same layer.

Every backend runs the same program (one BitLinear layer, weights and activations loaded,
MATMUL, DRAIN), ``--repeat`` times in one session, and reports simulated cycles per second and
useful MACs per second of wall time, measured around the programs' execution only: builds and
simulator start-up are timed separately. Verilator runs twice, on the same layer and
configuration: natively ("verilator": a C++ main owns the clock, :mod:`sim.native`) and under
cocotb ("cocotb-verilator": the Verilog harness :file:`sim/testbenches/hdl/accel_harness.v`);
the record gives the ratio of their cycles per second. Results go to build/bench/cosim.json
(merged with what other benchmarks wrote there).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from firmware.compiler import compile_layer
from golden.bitlinear import int_matmul
from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root

from ..backends import BACKENDS, SIMULATOR_BACKENDS, make_backend
from .records import update_report

__all__ = ["main"]


def measure(name: str, config: AcceleratorConfig, program, expect, repeat: int = 1) -> dict:
    """Run ``program`` ``repeat`` times in one session of backend ``name``; cycles and wall
    time are the totals over the runs."""
    start = time.perf_counter()
    options = {"work_dir": build_root() / "bench" / f"cosim-{name}"} \
        if name in SIMULATOR_BACKENDS else {}
    exact = True
    with make_backend(name, config, **options) as backend:
        ready = time.perf_counter()
        for _ in range(repeat):
            response = backend.execute(program.words, program.response_words)
            exact &= bool(np.array_equal(program.decode(response), expect))
        done = time.perf_counter()
        cycles = getattr(backend, "cycles", None)
    wall = done - ready
    return {"backend": name, "setup_s": round(ready - start, 3), "run_s": round(wall, 4),
            "repeat": repeat, "cycles": cycles, "bit_exact": exact,
            "cycles_per_s": round(cycles / wall) if cycles else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.benchmarks.cosim", description=__doc__)
    parser.add_argument("--backends", nargs="*", choices=BACKENDS,
                        default=["verilator", "cocotb-verilator", "icarus", "amaranth",
                                 "functional"])
    parser.add_argument("--layer", default="8x256x128", metavar="MxKxN")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5, metavar="R",
                        help="runs of the program per backend, timed together (default 5)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    try:
        m, k, n = (int(v) for v in args.layer.lower().split("x"))
    except ValueError:
        parser.error(f"--layer must be MxKxN, not {args.layer!r}")
    if args.repeat < 1:
        parser.error(f"--repeat must be positive, not {args.repeat}")

    rng = np.random.default_rng(args.seed)
    x = rng.integers(-127, 128, size=(m, k)).astype(np.int8)
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    expect = int_matmul(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    program = compile_layer(config, x, w)
    useful = m * k * n * args.repeat
    records = []
    for name in args.backends:
        rec = measure(name, config, program, expect, args.repeat)
        rec["macs"] = useful
        rec["macs_per_s"] = round(useful / rec["run_s"]) if rec["run_s"] else None
        records.append(rec)
        speed = f"{rec['cycles_per_s']:>10,} cycles/s" if rec["cycles_per_s"] else " " * 19
        print(f"{name:>10}: {speed}  {rec['macs_per_s']:>14,} MACs/s  "
              f"(run {rec['run_s']:.3f} s, setup {rec['setup_s']:.1f} s, "
              f"{'bit-exact' if rec['bit_exact'] else 'MISMATCH'})", flush=True)
    speeds = {r["backend"]: r["cycles_per_s"] for r in records}
    ratio = None
    if speeds.get("verilator") and speeds.get("cocotb-verilator"):
        ratio = round(speeds["verilator"] / speeds["cocotb-verilator"], 2)
        print(f"native Verilator / cocotb Verilator: {ratio}x cycles/s")
    update_report("backends", {"config": config.to_dict(), "layer": {"m": m, "k": k, "n": n},
                               "program_words": len(program.words),
                               "runs": records, "native_over_cocotb_verilator": ratio})
    return 0 if all(r["bit_exact"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
