# SPDX-License-Identifier: BSD-2-Clause
"""``python -m hw``: write the Verilog of a top-level design to build/verilog/<top>.v."""

import argparse
import sys
from pathlib import Path

from golden.config import AcceleratorConfig

from .accelerator import Accelerator
from .array import BufferedArray, SystolicArray
from .mac import FP16, INT8
from .pe import TERNARY
from .verilog import convert, to_snake_case

TOPS = {to_snake_case(cls.__name__): cls for cls in (Accelerator, BufferedArray, SystolicArray)}
ARITHMETICS = {a.name: a for a in (TERNARY, INT8, FP16)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__)
    parser.add_argument("--top", default="accelerator", choices=sorted(TOPS),
                        help="design to generate (default: accelerator)")
    parser.add_argument("--arithmetic", default="ternary", choices=sorted(ARITHMETICS),
                        help="element type of the arrays: the ternary array or a baseline "
                             "(default: ternary; the accelerator is ternary only)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output file (default: build/verilog/<top>.v)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    output = args.output or Path("build") / "verilog" / f"{args.top}.v"
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.top == "accelerator":
        if args.arithmetic != "ternary":
            parser.error(f"--arithmetic {args.arithmetic}: the accelerator is ternary only; "
                         f"the baselines are arrays (--top systolic_array or buffered_array)")
        design = Accelerator(config)
    else:
        design = TOPS[args.top](config, arithmetic=ARITHMETICS[args.arithmetic])
    output.write_text(convert(design, name=args.top,
                              generator=f"python -m hw ({args.arithmetic}, {config.to_json()})"))
    print(f"wrote {output} ({args.top}, {config.rows}x{config.cols} {args.arithmetic})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
