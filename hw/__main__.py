# SPDX-License-Identifier: BSD-2-Clause
"""``python -m hw``: write the Verilog of a top-level design to build/verilog/<top>.v."""

import argparse
import sys
from pathlib import Path

from golden.config import AcceleratorConfig

from .array import BufferedArray, SystolicArray
from .mac import FP16, INT8
from .pe import TERNARY
from .verilog import convert, to_snake_case

TOPS = {to_snake_case(cls.__name__): cls for cls in (BufferedArray, SystolicArray)}
ARITHMETICS = {a.name: a for a in (TERNARY, INT8, FP16)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__)
    parser.add_argument("--top", default="buffered_array", choices=sorted(TOPS),
                        help="design to generate (default: buffered_array)")
    parser.add_argument("--arithmetic", default="ternary", choices=sorted(ARITHMETICS),
                        help="element type: the ternary array or a baseline (default: ternary)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output file (default: build/verilog/<top>.v)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    output = args.output or Path("build") / "verilog" / f"{args.top}.v"
    output.parent.mkdir(parents=True, exist_ok=True)
    arithmetic = ARITHMETICS[args.arithmetic]
    output.write_text(convert(TOPS[args.top](config, arithmetic=arithmetic), name=args.top,
                              generator=f"python -m hw ({args.arithmetic}, {config.to_json()})"))
    print(f"wrote {output} ({args.top}, {config.rows}x{config.cols} {args.arithmetic} array)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
