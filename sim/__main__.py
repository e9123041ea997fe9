# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim`` (``make sim``): co-simulate BitLinear layers on the RTL against golden."""

import argparse
import sys
from pathlib import Path

from golden.config import AcceleratorConfig

from .cosim import LayerSpec, default_layers, format_table, random_layer, run_layer, write_report
from .tools import SIMULATORS, SimulatorNotFound, build_root


def _layer(text: str) -> LayerSpec:
    try:
        m, k, n = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"layer shape must be MxKxN, e.g. 16x256x192, "
                                         f"not {text!r}") from None
    if min(m, k, n) < 1:
        raise argparse.ArgumentTypeError(f"layer dimensions must be positive, not {text!r}")
    return LayerSpec(f"bitlinear_{k}x{n}", m=m, k=k, n=n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    parser.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                        help="simulator for the generated Verilog (default: verilator)")
    parser.add_argument("--layer", type=_layer, action="append", metavar="MxKxN",
                        help="layer shape (tokens x in x out); repeatable "
                             "(default: 16x256x192)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the layer data (default 0)")
    parser.add_argument("--waves", action="store_true",
                        help="dump waveforms into build/sim/<layer>/")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default: build/sim/cosim.json)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    work_dir = build_root() / "sim"
    out = args.out or work_dir / "cosim.json"

    results = []
    for spec in args.layer or default_layers():
        x, w = random_layer(spec, args.seed)
        try:
            results.append(run_layer(spec, x, w, config=config, simulator=args.simulator,
                                     work_dir=work_dir, waves=args.waves, seed=args.seed))
        except SimulatorNotFound as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    report = write_report(results, out, config=config, seed=args.seed)
    print(f"{config.rows}x{config.cols} ternary array on {args.simulator}:")
    print(format_table(results))
    print(f"all bit-exact: {report['all_bit_exact']}  (report: {out})")
    return 0 if report["all_bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
