# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.benchmarks.decode`` (part of ``make bench``): decode of BitNet b1.58 2B-4T on
the RTL with its weights in external memory, and the tokens/s the cycle model projects from it.

First (unless ``--no-rtl``) the seven BitLinears of a 2B-4T layer run unsliced (full N and K) at
M = 1 on the accelerator under Verilator (cocotb), with ``weight_memory = "axi"``: each layer's
weight image sits in cocotbext-axi's AxiRamRead on the ``m_axi`` port, and the MATMUL streams it
from there, at every weight-path width of ``--widths`` (weight rows per cycle). Each run is
checked bit-exact against the integer product, and its COMPUTE cycles are printed beside the
cycle model's: the tile loop (:mod:`golden.contract.tileloop`) and the external-memory model
(:func:`golden.contract.memory.external_matmul_cycles` for AxiRamRead, one word per cycle after
the first tile's wait, which the run measures).

Then the projection, from the cycle model checked against those layers::

    python -m sim.benchmarks.decode --mem-gbps 19.2 --clock-mhz 200
    python -m sim.benchmarks.decode --mem-gbps 19.2 --clock-mhz 250 --rows 32 --cols 16 \\
        --weight-rows-per-cycle 32 --weight-format 1.6bit
    python -m sim.benchmarks.decode --mem-gbps 19.2 --clock-mhz 200 \\
        --arrays 32x16:32:2bit,40x16:40:1.6bit

``--arrays`` lists the RTL configurations (``ROWSxCOLS:W:FORMAT``, each with ``weight_memory
= "axi"``) in place of ``--widths`` on the array of ``--rows``, ``--cols`` and
``--weight-format``. 1.6-bit weights over AXI are decoded a word per beat (W a multiple of 5,
the word W / 5 lanes of ``cols`` bytes): 40x16 at W = 40 reads one 1024-bit word per tile.

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
import itertools
import json
import sys
import time
from dataclasses import replace

import numpy as np

from golden.contract.config import AcceleratorConfig
from golden.contract.isa import Counter
from golden.contract.memory import (
    BITNET_KV260,
    MemorySystem,
    decode_projection,
    external_matmul_cycles,
    matmul_words,
)
from golden.contract.paths import build_root
from golden.contract.tileloop import layer_work
from golden.contract.workloads import MODELS

#: The LM head of BitNet b1.58 2B-4T: vocabulary x hidden, bf16 (REFERENCE.md section 5).
LM_HEAD = {"n": 128256, "k": 2560, "bytes_per_weight": 2}


def _memory_map(sizes: list[int], probe_size: int, prefetch: bool):
    """Where the weight images lie in the external memory: one at a time at address 0 (the
    probe's first), or with ``prefetch`` all of them side by side, the probe's last. Returns
    the layers' base addresses, the probe's and the memory's size in bytes."""
    if not prefetch:
        return [0] * len(sizes), 0, max([*sizes, probe_size])
    bases = [sum(sizes[:i]) for i in range(len(sizes))]
    return bases, sum(sizes), sum(sizes) + probe_size


def run_rtl_layers(config: AcceleratorConfig, *, simulator: str, seed: int, layers=None,
                   p_ar: float = 0.0, p_r: float = 0.0, prefetch: bool = False,
                   echo=print) -> list[dict]:
    """The seven BitLinears of one 2B-4T layer, unsliced, at M = 1, weights over AXI; the
    memory pauses AR and R at random with probabilities ``p_ar`` and ``p_r`` (a memory of
    ``1 - p_r`` words per cycle and a random latency). With ``prefetch`` the layers' images
    lie side by side in the memory and each program begins with a PREFETCH of the next
    layer's weights (the probe's, of the first layer's), as decode would run them."""
    from firmware.compiler import compile_matmul, compile_weights, prefetching

    from ..backends import CocotbBackend

    rng = np.random.default_rng(seed)
    shapes = [s for s in MODELS["2B-4T"].bitlinears() if not layers or s.name in layers]
    word_bytes = config.weight_word_bytes
    # The memory's latency as the schedule sees it: the wait for the first tile beyond the
    # tile loop (a whole first burst arrives before it is delivered), measured with no pauses
    # on a MATMUL of one N-slice and two bursts of words.
    k = config.rows * -(-2 * config.axi_max_burst // config.tile_beats)
    w = rng.choice(np.array([-1, 0, 1], np.int8), size=(config.cols, k))
    probe_image = compile_weights(config, w)
    images = []
    for shape in shapes:
        w = rng.choice(np.array([-1, 0, 1], np.int8), size=(shape.n, shape.k))
        x = rng.integers(-127, 128, size=(1, shape.k)).astype(np.int8)
        images.append((shape, w, x, compile_weights(config, w)))
    sizes = [len(image.to_bytes()) for *_, image in images]
    bases, probe_base, memory = _memory_map(sizes, len(probe_image.to_bytes()), prefetch)
    probe = compile_matmul(probe_image, np.ones((1, k), np.int8), weight_base=probe_base,
                           measure=True)
    programs = [compile_matmul(image, x, weight_base=base, measure=True)
                for (_, _, x, image), base in zip(images, bases, strict=True)]
    if prefetch:
        # Each program prefetches the next one's weights, the probe the first layer's (the
        # probe itself is not prefetched).
        probe = prefetching(probe, programs[0])
        programs = [prefetching(program, following)
                    for program, following in itertools.pairwise(programs)] + programs[-1:]
    records = []
    work_dir = (build_root() / "bench" / "decode" / f"{config.rows}x{config.cols}-"
                f"w{config.weight_rows_per_cycle}-{config.weight_format}")
    with CocotbBackend(config, simulator=simulator, axi_memory_bytes=memory,
                       work_dir=work_dir) as backend:
        backend.write_external(probe_base, probe_image.to_bytes())
        if prefetch:
            for (*_, image), base in zip(images, bases, strict=True):
                backend.write_external(base, image.to_bytes())
        wait = (probe.counters(backend.run(probe))[Counter.COMPUTE]
                - layer_work(config, m=1, k=k, n=config.cols).cycles)
        backend.set_axi_pauses(p_ar=p_ar, p_r=p_r, seed=seed)
        for (shape, w, x, image), program in zip(images, programs, strict=True):
            if not prefetch:
                backend.write_external(0, image.to_bytes())
            start = time.perf_counter()
            response = backend.run(program)
            wall = time.perf_counter() - start
            acc = program.decode(response)
            exact = bool(np.array_equal(acc, x.astype(np.int64) @ w.astype(np.int64).T))
            cycles = program.counters(response)[Counter.COMPUTE]
            work = layer_work(config, m=1, k=shape.k, n=shape.n)
            words = matmul_words(config, work)
            weight_bytes = words * word_bytes
            # No schedule beats the tiles' periods or the words at the memory's rate.
            bound = max(work.bound_cycles, words / (1 - p_r))
            records.append({"layer": shape.name, "n": shape.n, "k": shape.k,
                            "p_ar": p_ar, "p_r": p_r, "bound_cycles": bound,
                            "bound_fraction": bound / cycles,
                            "rows": config.rows, "cols": config.cols,
                            "weight_format": config.weight_format,
                            "weight_rows_per_cycle": config.weight_rows_per_cycle,
                            "prefetched": prefetch,
                            "tiles": work.tiles, "weight_bytes": weight_bytes,
                            "cycles": cycles, "tile_loop_cycles": work.cycles,
                            "utilization": shape.n * shape.k / (cycles * config.rows
                                                                * config.cols),
                            "bit_exact": exact, "wall_s": round(wall, 2)})
            echo(f"  {config.rows}x{config.cols} W={config.weight_rows_per_cycle:<2} "
                 f"{config.weight_format:<6} {shape.name:>9} N={shape.n:<5} "
                 f"K={shape.k:<5} cycles {cycles:>7} (tile loop {work.cycles:>7}, +"
                 f"{cycles - work.cycles}{', prefetched' if records[-1]['prefetched'] else ''}"
                 f")  utilization {records[-1]['utilization']:6.1%}, "
                 f"{records[-1]['bound_fraction']:6.1%} of the bound  "
                 f"{'bit-exact' if exact else 'MISMATCH'}  {wall:.1f} s")
    # AxiRamRead serves one word per cycle once a burst starts (1 - p_r on average with
    # pauses), after the wait the probe measured.
    mem = MemorySystem(bytes_per_cycle=word_bytes * (1 - p_r), latency=wait,
                       outstanding=config.axi_outstanding,
                       burst_bytes=config.axi_max_burst * word_bytes)
    for r, shape in zip(records, shapes, strict=True):
        work = layer_work(config, m=1, k=shape.k, n=shape.n)
        r["model_cycles"] = external_matmul_cycles(work, mem, weight_bytes=r["weight_bytes"],
                                                   prefetched=r["prefetched"])
        r["model_gap"] = (r["cycles"] - r["model_cycles"]) / r["model_cycles"]
    return records


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
    parser.add_argument("--widths", default="4,16",
                        help="weight rows per cycle of the RTL runs, comma-separated "
                        "(default 4,16; each must make a 64..1024-bit AXI word)")
    parser.add_argument("--arrays",
                        help="the configurations run on the RTL and projected (with "
                        "--no-rtl: projected), weights over AXI, instead of --widths: "
                        "comma-separated ROWSxCOLS:W:FORMAT (e.g. 32x16:32:2bit,40x16:40:1.6bit)")
    parser.add_argument("--no-rtl", action="store_true", help="the projection only")
    parser.add_argument("--layers", nargs="*",
                        choices=[s.name for s in MODELS["2B-4T"].bitlinears()],
                        help="a subset of the RTL layers (default: all seven)")
    parser.add_argument("--prefetch", action="store_true",
                        help="RTL runs: the layers side by side in the memory, each program "
                        "beginning with a PREFETCH of the next layer's weights")
    parser.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--p-ar", type=float, default=0.0,
                        help="probability of a pause on AR per cycle (random latency)")
    parser.add_argument("--p-r", type=float, default=0.0,
                        help="probability of a pause on R per cycle (1 - p_r words per cycle)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    config = AcceleratorConfig.from_args(args, parser)
    for name in ("p_ar", "p_r"):
        if not 0 <= getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must lie in [0, 1), not "
                         f"{getattr(args, name)}")
    rtl, widths, configs = [], [], []
    if args.arrays or not args.no_rtl:
        try:
            if args.arrays:
                configs = [_array_config(config, spec) for spec in args.arrays.split(",")]
            else:
                configs = [replace(config, weight_rows_per_cycle=int(w), weight_memory="axi")
                           for w in args.widths.split(",")]
        except ValueError as e:
            option = "--arrays" if args.arrays else "--widths"
            parser.error(f"{option} {args.arrays or args.widths!r}: {e}")
        widths = [c.weight_rows_per_cycle for c in configs]
    if not args.no_rtl:
        print(f"BitNet b1.58 2B-4T BitLinears on the RTL ({args.simulator}), M = 1, "
              f"weights over AXI4 from AxiRamRead:")
        for cfg in configs:
            rtl += run_rtl_layers(cfg, simulator=args.simulator, seed=args.seed,
                                  layers=args.layers, p_ar=args.p_ar, p_r=args.p_r,
                                  prefetch=args.prefetch)
    try:
        mem = MemorySystem.from_rates(gbytes_per_s=args.mem_gbps, clock_mhz=args.clock_mhz,
                                      latency_ns=args.latency_ns, outstanding=args.outstanding,
                                      burst_bytes=args.burst_bytes)
    except ValueError as e:
        parser.error(str(e))
    model = MODELS[args.model]
    print(f"{model.name} decode at {args.clock_mhz:g} MHz from {args.mem_gbps:g} GB/s "
          f"({mem.bytes_per_cycle:.1f} B/cycle, {mem.sustained:.1f} sustained with "
          f"{args.outstanding} bursts of {args.burst_bytes} B), latency {mem.latency} cycles:")
    projections = [_project(cfg, model, mem, args) for cfg in (configs or [config])]
    kv_bound = args.mem_gbps * 1e9 / BITNET_KV260["bytes_per_token"]
    head_bytes = LM_HEAD["n"] * LM_HEAD["k"] * LM_HEAD["bytes_per_weight"]
    record = {
        "config": config.to_dict(), "projections": projections,
        "lm_head": {**LM_HEAD, "bytes": head_bytes,
                    "ms_at_bandwidth": head_bytes / (args.mem_gbps * 1e9) * 1e3},
        "bitnet_kv260": {**BITNET_KV260, "memory_bound_at_this_bandwidth": kv_bound,
                         "fraction_of_its_bound": BITNET_KV260["tokens_per_s"] / kv_bound},
    }
    print(f"bitnet-kv260: {BITNET_KV260['tokens_per_s']} tokens/s measured, "
          f"{BITNET_KV260['bytes_per_token'] / 1e6:.0f} MB per token, bound {kv_bound:.2f} at "
          f"{args.mem_gbps:g} GB/s ({record['bitnet_kv260']['fraction_of_its_bound']:.1%} of it)")
    print(f"not included: the LM head ({LM_HEAD['n']} x {LM_HEAD['k']}, bf16: "
          f"{head_bytes / 1e6:.0f} MB per token, {record['lm_head']['ms_at_bandwidth']:.1f} ms "
          f"at {args.mem_gbps:g} GB/s if streamed), attention over the KV cache, norms")
    if rtl:
        worst = max(abs(r["model_gap"]) for r in rtl)
        least = min(r["bound_fraction"] for r in rtl)
        record["rtl"] = {"simulator": args.simulator, "widths": widths, "layers": rtl,
                         "configs": [c.to_dict() for c in configs],
                         "p_ar": args.p_ar, "p_r": args.p_r, "prefetch": args.prefetch,
                         "max_model_gap": worst,
                         "min_bound_fraction": least}
        exact = "all bit-exact" if all(r["bit_exact"] for r in rtl) else "MISMATCHES"
        print(f"RTL against the external-memory cycle model: largest gap {worst:.2%}; every "
              f"layer at >= {least:.1%} of its bound ({len(rtl)} runs, {exact})")
    out = build_root() / "bench" / "decode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["bit_exact"] for r in rtl) else 1


def _array_config(config: AcceleratorConfig, spec: str) -> AcceleratorConfig:
    """``config`` with weights over AXI and the array, width and format of ``spec``
    (``ROWSxCOLS:W:FORMAT``)."""
    try:
        shape, w, fmt = spec.split(":")
        rows, cols = (int(v) for v in shape.split("x"))
        w = int(w)
    except ValueError:
        raise ValueError(f"{spec!r} is not ROWSxCOLS:W:FORMAT (e.g. 40x16:40:1.6bit)") from None
    return replace(config, rows=rows, cols=cols, weight_rows_per_cycle=w, weight_format=fmt,
                   weight_memory="axi")


def _project(config: AcceleratorConfig, model, mem: MemorySystem, args) -> dict:
    # The weight bytes are the words the configuration reads (padding included).
    p = decode_projection(config, model, mem=mem, clock_mhz=args.clock_mhz)
    print(f"{config.rows}x{config.cols} array, {config.weight_rows_per_cycle} weight row(s) per "
          f"cycle, {p['bits_per_weight']:.4g} bits/weight ({config.weight_format}, "
          f"{config.weight_word_bits}-bit words):")
    print(f"{'layer':>10} {'N':>6} {'K':>6} {'tiles':>7} {'MB':>7} {'array cyc':>10} "
          f"{'memory cyc':>11} {'cycles':>10}")
    for layer in p["layers"]:
        print(f"{layer['name']:>10} {layer['n']:>6} {layer['k']:>6} {layer['tiles']:>7} "
              f"{layer['weight_bytes'] / 1e6:>7.2f} {layer['array_cycles']:>10} "
              f"{layer['memory_cycles']:>11.0f} {layer['cycles']:>10.0f}")
    # Each MATMUL preceded by a PREFETCH of the next one's weights: no latency per MATMUL
    # (golden.contract.memory.PREFETCHED_WAIT instead; the RTL rule of tests/sim/
    # test_axi_weights.py).
    p["prefetch_tokens_per_s"] = decode_projection(
        config, model, mem=mem, clock_mhz=args.clock_mhz, prefetch=True)["tokens_per_s"]
    print(f"tokens/s {p['tokens_per_s']:.2f}, {p['prefetch_tokens_per_s']:.2f} with PREFETCH "
          f"({p['bound']} bound; memory bound "
          f"{p['memory_bound_tokens_per_s']:.2f}, {p['fraction_of_memory_bound']:.1%} of it; "
          f"array alone {p['array_bound_tokens_per_s']:.2f})")
    return p


if __name__ == "__main__":
    sys.exit(main())
