# SPDX-License-Identifier: BSD-2-Clause
"""``python -m hw`` (``make verilog``): write the Verilog of a registered design
(:mod:`hw.designs`) to build/verilog/<design>.v.

``python -m hw bitstream --board NAME`` (``make bitstream``) and ``python -m hw program --board
NAME`` (``make program``): the board top levels of :mod:`hw.boards`."""

import argparse
import sys
from pathlib import Path

from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root

from .designs import DESIGNS
from .verilog import convert


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("bitstream", "program", "summary"):
        from .boards import main as boards_main
        return boards_main(argv)
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__)
    parser.add_argument("--design", default="accelerator", choices=list(DESIGNS),
                        help="design to generate (default: accelerator); "
                             + "; ".join(f"{d.name}: {d.description}" for d in DESIGNS.values()))
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output file (default: build/verilog/<design>.v)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    design = DESIGNS[args.design]
    output = args.output or build_root() / "verilog" / f"{design.name}.v"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(convert(design.build(config), name=design.module_name,
                              generator=f"python -m hw ({design.name}, {config.to_json()})"))
    print(f"wrote {output} (module {design.module_name}: {design.name}, "
          f"{config.rows}x{config.cols})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
