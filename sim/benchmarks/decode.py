# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.benchmarks.decode``: decode tokens/s of BitNet b1.58 2B-4T, projected from the
cycle model with the weights streamed from external memory (:mod:`golden.contract.memory`).

::

    python -m sim.benchmarks.decode --mem-gbps 19.2 --clock-mhz 200
    python -m sim.benchmarks.decode --mem-gbps 19.2 --clock-mhz 250 --rows 32 --cols 16 \\
        --weight-rows-per-cycle 32 --weight-format 1.6bit

One token runs the 7 BitLinears of each of the 30 layers once at M = 1; each layer's MATMUL
takes the longer of its array-side schedule and the time its weight bytes take to arrive, plus
one memory latency. Printed beside the memory-bandwidth bound (weight bytes per token over the
bandwidth) and beside bitnet-kv260 (16.78 tokens/s measured on a KV260, 483 MB of weights per
token). Not included, stated separately: the LM head (128256 x 2560, tied to the bf16
embedding in the released checkpoint), attention over the KV cache, norms and activations.
Writes build/bench/decode.json.
"""

from __future__ import annotations

import argparse
import json
import sys

from golden.contract.config import AcceleratorConfig
from golden.contract.memory import BITNET_KV260, MemorySystem, decode_projection
from golden.contract.paths import build_root
from golden.contract.workloads import MODELS

#: The LM head of BitNet b1.58 2B-4T: vocabulary x hidden, bf16 (REFERENCE.md section 5).
LM_HEAD = {"n": 128256, "k": 2560, "bytes_per_weight": 2}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.benchmarks.decode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mem-gbps", type=float, default=19.2,
                        help="sustained memory bandwidth, GB/s (default 19.2: the KV260's DDR4)")
    parser.add_argument("--clock-mhz", type=float, default=200.0)
    parser.add_argument("--latency-ns", type=float, default=100.0,
                        help="from a burst's address to its first beat (default 100)")
    parser.add_argument("--outstanding", type=int, default=8, help="bursts in flight")
    parser.add_argument("--burst-bytes", type=int, default=4096)
    parser.add_argument("--model", choices=sorted(MODELS), default="2B-4T")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    bits = 8 / 5 if config.weight_format == "1.6bit" else 2.0
    try:
        mem = MemorySystem.from_rates(gbytes_per_s=args.mem_gbps, clock_mhz=args.clock_mhz,
                                      latency_ns=args.latency_ns, outstanding=args.outstanding,
                                      burst_bytes=args.burst_bytes)
        p = decode_projection(config, MODELS[args.model], mem=mem, clock_mhz=args.clock_mhz,
                              bits_per_weight=bits)
    except ValueError as e:
        parser.error(str(e))
    model = MODELS[args.model]
    print(f"{model.name} decode on a {config.rows}x{config.cols} array, "
          f"{config.weight_rows_per_cycle} weight row(s) per cycle, "
          f"{args.clock_mhz:g} MHz, {args.mem_gbps:g} GB/s ({p['bytes_per_cycle']:.1f} B/cycle, "
          f"{p['sustained_bytes_per_cycle']:.1f} sustained with {args.outstanding} bursts of "
          f"{args.burst_bytes} B), latency {p['latency_cycles']} cycles, {bits:g} "
          f"bits/weight ({config.weight_format})")
    print(f"{'layer':>10} {'N':>6} {'K':>6} {'tiles':>7} {'MB':>7} {'array cyc':>10} "
          f"{'memory cyc':>11} {'cycles':>10}")
    for layer in p["layers"]:
        print(f"{layer['name']:>10} {layer['n']:>6} {layer['k']:>6} {layer['tiles']:>7} "
              f"{layer['weight_bytes'] / 1e6:>7.2f} {layer['array_cycles']:>10} "
              f"{layer['memory_cycles']:>11.0f} {layer['cycles']:>10.0f}")
    kv_bound = args.mem_gbps * 1e9 / BITNET_KV260["bytes_per_token"]
    head_bytes = LM_HEAD["n"] * LM_HEAD["k"] * LM_HEAD["bytes_per_weight"]
    p["lm_head"] = {**LM_HEAD, "bytes": head_bytes,
                    "ms_at_bandwidth": head_bytes / (args.mem_gbps * 1e9) * 1e3}
    p["bitnet_kv260"] = {**BITNET_KV260, "memory_bound_at_this_bandwidth": kv_bound,
                         "fraction_of_its_bound": BITNET_KV260["tokens_per_s"] / kv_bound}
    print(f"tokens/s {p['tokens_per_s']:.2f} ({p['bound']} bound; memory bound "
          f"{p['memory_bound_tokens_per_s']:.2f}, {p['fraction_of_memory_bound']:.1%} of it; "
          f"array alone {p['array_bound_tokens_per_s']:.2f})")
    print(f"bitnet-kv260: {BITNET_KV260['tokens_per_s']} tokens/s measured, "
          f"{BITNET_KV260['bytes_per_token'] / 1e6:.0f} MB per token, bound {kv_bound:.2f} at "
          f"{args.mem_gbps:g} GB/s ({p['bitnet_kv260']['fraction_of_its_bound']:.1%} of it)")
    print(f"not included: the LM head ({LM_HEAD['n']} x {LM_HEAD['k']}, bf16: "
          f"{head_bytes / 1e6:.0f} MB per token, {p['lm_head']['ms_at_bandwidth']:.1f} ms at "
          f"{args.mem_gbps:g} GB/s if streamed), attention over the KV cache, norms")
    out = build_root() / "bench" / "decode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": config.to_dict(), "projection": p}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
