# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim`` (``make sim``): the shipped model's BitLinear layers and BitNet b1.58
2B-4T-shaped layers on the accelerator RTL, each checked bit for bit against golden.

Writes build/sim/cosim.json. See sim/cosim.py for what runs; ``python -m sim.generate`` runs
whole-model text generation on the RTL.
"""

import argparse
import sys
import time
from pathlib import Path

from golden.config import AcceleratorConfig

from .backends import BACKENDS, make_backend
from .tools import SimulatorNotFound, build_root

DEFAULT_PROMPT = "The for statement is used to iterate over the elements of a sequence"


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
                        help="where the accelerator runs (default: verilator)")
    parser.add_argument("--waves", action="store_true",
                        help="dump waveforms (cocotb simulators) into build/sim/<simulator>/")
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

    # Heavy imports after the arguments are checked (torch, the golden model).
    from tqdm import tqdm

    from firmware.runtime import Runtime

    from .cosim import (
        B2_4T_LAYERS,
        CheckedBackend,
        format_table,
        run_2b4t,
        run_model,
        write_report,
    )

    start = time.perf_counter()
    model = tokens = None
    if args.model != "none":
        import golden
        from golden.data import encode
        try:
            model = golden.load_model(args.model)
        except (ValueError, FileNotFoundError) as e:
            parser.error(str(e))
        tokens = encode(args.prompt)
        if not tokens:
            parser.error("the prompt is empty")
    options = {}
    if args.simulator in ("verilator", "icarus"):
        options = {"work_dir": build_root() / "sim" / args.simulator, "waves": args.waves}
    total = (len(model.bitlinears()) if model is not None else 0) + \
        (0 if args.no_2b4t else len(B2_4T_LAYERS))
    try:
        backend = make_backend(args.simulator, config, **options)
    except SimulatorNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logits_diff = None
    with backend, tqdm(total=total, desc=f"layers on {args.simulator}", unit="layer") as bar:
        checked = CheckedBackend(Runtime(backend, measure=True), progress=bar)
        if model is not None:
            logits_diff = run_model(checked, model, tokens)
        if not args.no_2b4t:
            run_2b4t(checked, m=args.m, n_slice=args.n_slice, seed=args.seed)
    wall = time.perf_counter() - start

    out = build_root() / "sim" / "cosim.json" if args.out is None else Path(args.out)
    report = write_report(
        out, checked.records, config=config,
        extra={"simulator": args.simulator, "model": args.model,
               "prompt_tokens": len(tokens) if tokens else 0,
               "model_logits_max_abs_diff": logits_diff, "n_slice": args.n_slice,
               "wall_s": round(wall, 1)})
    print(f"\n{config.rows}x{config.cols} ternary accelerator on {args.simulator}:")
    print(format_table(checked.records))
    if logits_diff is not None:
        print(f"model {args.model}: logits against golden, max |diff| = {logits_diff:g}")
    print(f"all bit-exact: {report['all_bit_exact']}  ({wall:.0f} s; report: {out})")
    if args.out is None:            # the wall time of `make sim` is a benchmark figure too
        from .bench_cosim import update_report
        cycles = sum(r.cycles for r in checked.records)
        update_report(f"sim_{args.model}_{args.simulator}", {
            "wall_s": round(wall, 1), "layers": len(checked.records),
            "compute_cycles": cycles, "all_bit_exact": report["all_bit_exact"],
            "config": config.to_dict()})
    from reports.energy import summary_lines
    try:
        print("\n".join(summary_lines(config, checked.records)))
    except ValueError as e:     # the energy data file; the co-simulation's verdict stands
        print(f"energy summary unavailable: {e}", file=sys.stderr)
    return 0 if report["all_bit_exact"] and not logits_diff else 1


if __name__ == "__main__":
    sys.exit(main())
