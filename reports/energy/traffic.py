# SPDX-License-Identifier: BSD-2-Clause
"""DRAM weight traffic per decoded token, when the weights stream from external memory.

With ``weight_memory = "axi"`` every MATMUL reads its weight words over AXI4; the accelerator
counts them (MEM_BYTES, MEM_BURSTS) and the contract says what the count is
(:func:`golden.contract.memory.matmul_traffic`: the words each MATMUL reads, split into INCR
bursts as the reader splits them). This module applies that rule to the programs the firmware
compiles for one decoded token (M = 1) of every BitLinear of a model, in two weight formats:

* 2-bit: the AXI variant of the report's array (:func:`axi_variant`: the same rows and cols,
  the fewest weight rows per cycle that make a valid AXI word), the words the RTL reads;
* 1.6-bit: the same MATMULs counted in the on-chip words of the 1.6-bit format with the same
  lanes (five beats a word, the rows running on across tiles and words): the format's own
  cost, 1.6 bits per weight. Over AXI the RTL decodes a 1.6-bit word per beat, with
  ``weight_rows_per_cycle`` a multiple of 5 (:func:`axi_1_6bit_variant`), so an array whose
  rows are not a multiple of such a width pads every tile: what that variant reads is
  counted beside the row (``rtl_1_6bit``), by the same rule.

Each layer's image is taken to start on a 4 KiB boundary (the bursts depend on the placement,
the bytes do not). Where ``make sim`` ran with AXI
weights (build/sim/cosim.json of an ``"axi"`` configuration with the same array), the
measured MEM_BYTES and MEM_BURSTS of its 2B-4T-shaped layers are used: each layer's measured
count scaled by the rule's ratio of one token's full layer to the measured (M, N-sliced)
program; otherwise the rule's count, and the section says which.

The on-chip energy of the same token (arithmetic, SRAM) is priced as the per-token sweep
prices a model whose weights do not fit (each weight written into the weight buffer and read
from it). The bytes are priced at the data file's DRAM read energy (the 45 nm one, 640 pJ per
32-bit read: 20 pJ per bit, Horowitz ISSCC 2014); bursts are counted, not priced (the source
gives an energy per access, none per burst).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from firmware.compiler import compile_matmul, compile_weights
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import MatmulFlag, Opcode, split_commands
from golden.contract.memory import BITNET_KV260, WeightTraffic, matmul_traffic
from golden.contract.tileloop import matmul_work
from golden.contract.workloads import ModelShape

from .data import EnergyTable
from .pricing import ARRAYS, COMPONENTS, layer_energy
from .workload import shape_work

__all__ = ["FORMATS", "axi_1_6bit_variant", "axi_variant", "layer_traffic", "program_matmuls",
           "token_traffic", "traffic_section"]

#: The weight formats priced per token: the array of the energy sweep each one's on-chip
#: energy comes from, and its bits per weight.
FORMATS = {"2bit": ("ternary", 2.0), "1.6bit": ("ternary-1.6", 1.6)}
#: AXI4 reads are priced at the lowest DRAM figure of this node's (the 45 nm ones).
NODE = "45nm"


def axi_variant(config: AcceleratorConfig) -> AcceleratorConfig:
    """``config`` with its weights over AXI4: the same array, 2-bit weights, and the fewest
    weight rows per cycle that make the word (the AXI beat) 64 bits or more."""
    for lanes in range(1, config.rows + 1):
        try:
            return dataclasses.replace(config, weight_memory="axi", weight_format="2bit",
                                       weight_rows_per_cycle=lanes)
        except ValueError:
            continue
    raise ValueError(f"no weight_rows_per_cycle up to rows={config.rows} gives a "
                     f"{config.rows}x{config.cols} array a valid AXI word")


def axi_1_6bit_variant(config: AcceleratorConfig) -> AcceleratorConfig | None:
    """``config`` with 1.6-bit weights over AXI4 as the RTL reads them (a word per beat,
    ``weight_rows_per_cycle`` a multiple of 5): of the widths that make a valid word, the one
    whose tiles take the fewest row slots, then the narrowest; None if no width does."""
    best = None
    for w in range(5, config.rows + 1, 5):
        try:
            v = dataclasses.replace(config, weight_memory="axi", weight_format="1.6bit",
                                    weight_rows_per_cycle=w)
        except ValueError:
            continue
        if best is None or v.tile_rows < best.tile_rows:
            best = v
    return best


def _format_config(axi: AcceleratorConfig, fmt: str) -> AcceleratorConfig:
    """The configuration whose words count the traffic of ``fmt``: ``axi`` itself in its own
    format; the 1.6-bit format of a 2-bit ``axi`` on an on-chip configuration of the same
    array and lanes (the format's own cost, which the rule allows)."""
    if fmt == axi.weight_format:
        return axi
    return dataclasses.replace(axi, weight_memory="onchip", weight_format="1.6bit")


def program_matmuls(config: AcceleratorConfig, words) -> list:
    """The :class:`~golden.contract.tileloop.MatmulWork` of each MATMUL of a program."""
    return [matmul_work(config, m=c.args[3], k_tiles=c.args[4], n_tiles=c.args[5],
                        accumulate=bool(c.flags & MatmulFlag.ACCUMULATE))
            for c in split_commands(config, words) if c.opcode == Opcode.MATMUL]


def layer_traffic(config: AcceleratorConfig, works, *, fmt: str, base: int = 0
                  ) -> tuple[WeightTraffic, int]:
    """The traffic of a product's MATMULs (``works``, of the 2-bit AXI ``config``) in
    ``fmt``'s words, its image at byte ``base``, each MATMUL's words after the previous one's;
    returns it and the byte after the image."""
    counted = _format_config(config, fmt)
    total = WeightTraffic()
    for work in works:
        t = matmul_traffic(counted, work, w_addr=base)
        total += t
        base += t.bytes
    return total, base


@functools.lru_cache(maxsize=64)
def _program(config: AcceleratorConfig, *, m: int, k: int, n: int):
    """The program the firmware compiles for an (M, K) x (N, K) product on ``config`` (AXI:
    its image at byte 0); weight values do not change the commands."""
    image = compile_weights(config, np.zeros((n, k), dtype=np.int8))
    return compile_matmul(image, np.zeros((m, k), dtype=np.int8), weight_base=0)


def token_traffic(config: AcceleratorConfig, model: ModelShape, *, fmt: str) -> dict:
    """Rule: bytes and bursts of one decoded token (M = 1) of every BitLinear of ``model``
    on the 2-bit AXI ``config``, in ``fmt``'s words, each image from a 4 KiB boundary (so
    every layer's image reads alike)."""
    layers, total = [], WeightTraffic()
    for shape in model.bitlinears():
        works = program_matmuls(config, _program(config, m=1, k=shape.k, n=shape.n).words)
        one, _ = layer_traffic(config, works, fmt=fmt)
        per_model = WeightTraffic(one.bytes * model.layers, one.bursts * model.layers)
        layers.append({"name": shape.name, "k": shape.k, "n": shape.n,
                       "matmuls": len(works), "bytes": per_model.bytes,
                       "bursts": per_model.bursts})
        total += per_model
    return {"bytes": total.bytes, "bursts": total.bursts, "layers": layers}


def _measured(config: AcceleratorConfig, model: ModelShape, cosim: dict | None) -> dict:
    """Per-token bytes and bursts from the measured counters of an AXI co-simulation's
    2B-4T-shaped layers, or the reason there are none."""
    if cosim is None:
        return {"used": False, "why": "no build/sim/cosim.json"}
    cosim_config = AcceleratorConfig.from_dict(cosim["config"])
    if not cosim_config.axi:
        return {"used": False, "why": "build/sim/cosim.json is a run with on-chip weights "
                                      "(MEM_BYTES and MEM_BURSTS are 0 there)"}
    if (cosim_config.rows, cosim_config.cols) != (config.rows, config.cols):
        return {"used": False, "why": f"build/sim/cosim.json is for a {cosim_config.rows}x"
                                      f"{cosim_config.cols} array, not {config.rows}x"
                                      f"{config.cols}"}
    by_name = {r["name"]: r for r in cosim["layers"]}
    shapes = {f"2b4t.{s.name}": s for s in model.bitlinears()}
    if not set(shapes) <= set(by_name) or any("mem_bytes" not in by_name[n] for n in shapes):
        return {"used": False, "why": "build/sim/cosim.json has not every 2B-4T-shaped layer "
                                      "with its MEM_BYTES and MEM_BURSTS"}
    rows, total_bytes, total_bursts = [], 0.0, 0.0
    for name, shape in shapes.items():
        rec = by_name[name]
        ran = program_matmuls(cosim_config, _program(cosim_config, m=rec["m"], k=rec["k"],
                                                     n=rec["n"]).words)
        rule_ran, _ = layer_traffic(cosim_config, ran, fmt="2bit")
        token = program_matmuls(cosim_config, _program(cosim_config, m=1, k=shape.k,
                                                       n=shape.n).words)
        rule_token, _ = layer_traffic(cosim_config, token, fmt="2bit")
        scale_bytes = rule_token.bytes / rule_ran.bytes
        scale_bursts = rule_token.bursts / rule_ran.bursts
        total_bytes += model.layers * rec["mem_bytes"] * scale_bytes
        total_bursts += model.layers * rec["mem_bursts"] * scale_bursts
        rows.append({"name": name, "m": rec["m"], "k": rec["k"], "n": rec["n"],
                     "measured_bytes": rec["mem_bytes"], "rule_bytes": rule_ran.bytes,
                     "measured_bursts": rec["mem_bursts"], "rule_bursts": rule_ran.bursts})
    return {"used": True, "simulator": cosim.get("simulator"), "layers": rows,
            "bytes": total_bytes, "bursts": total_bursts,
            "agree": all(r["measured_bytes"] == r["rule_bytes"]
                         and r["measured_bursts"] == r["rule_bursts"] for r in rows)}


def traffic_section(table: EnergyTable, config: AcceleratorConfig, model: ModelShape, *,
                    zero_fraction: float, cosim: dict | None = None) -> dict:
    """DRAM weight traffic and energy per decoded token of ``model`` in both formats, beside
    the on-chip arithmetic and SRAM energy of the same token on ``config``'s array (priced as
    the per-token sweep prices it, weights streamed: :func:`~reports.energy.pricing.
    layer_energy` with ``resident=False``, ``zero_fraction`` of the weights zero) and
    bitnet-kv260's measured energy per token."""
    axi = axi_variant(config)
    price = table.dram_pj_per_bit(NODE)
    dram = next(m for m in table.memories if m.node == table.memory_from[NODE]
                and m.kind == "dram" and m.pj_per_bit == price.value)
    measured = _measured(config, model, cosim)
    works = [shape_work(config, name=s.name, m=1, k=s.k, n=s.n, zero_fraction=zero_fraction
                        ).scaled(model.layers) for s in model.bitlinears()]
    formats = {}
    for fmt, (array, bits) in FORMATS.items():
        rule = token_traffic(axi, model, fmt=fmt)
        use_measured = fmt == "2bit" and measured["used"]
        count = ({"bytes": measured["bytes"], "bursts": measured["bursts"]} if use_measured
                 else {"bytes": rule["bytes"], "bursts": rule["bursts"]})
        parts = dict.fromkeys(COMPONENTS, 0.0)
        for w in works:
            for c, v in layer_energy(table, w, ARRAYS[array], node=NODE, config=config,
                                     resident=False).parts.items():
                parts[c] += v
        arithmetic = sum(parts[c] for c in COMPONENTS[:4])
        sram = sum(parts[c] for c in COMPONENTS if c.startswith("SRAM"))
        dram_pj = count["bytes"] * 8 * price.value
        total = dram_pj + arithmetic + sram
        formats[fmt] = {
            "array": array, "bits_per_weight": bits,
            "count_source": ("measured MEM_BYTES/MEM_BURSTS of `make sim` on "
                             f"{measured['simulator']}, scaled to one token by the rule"
                             if use_measured else "the contract's rule "
                             "(golden.contract.memory.matmul_traffic)"),
            "bytes_per_token": count["bytes"], "bursts_per_token": count["bursts"],
            "rule_bytes_per_token": rule["bytes"], "rule_bursts_per_token": rule["bursts"],
            "layers": rule["layers"],
            "dram_pj": dram_pj, "arithmetic_pj": arithmetic, "sram_pj": sram,
            "total_pj": total,
            "op_count_dram_pj": parts["DRAM weights"],
            "kv260_ratio": BITNET_KV260["joules_per_token"] * 1e12 / total,
        }
    rtl_1_6bit = None
    variant = axi_1_6bit_variant(config)
    if variant is not None:
        count = token_traffic(variant, model, fmt="1.6bit")
        rtl_1_6bit = {"weight_rows_per_cycle": variant.weight_rows_per_cycle,
                      "weight_word_bits": variant.weight_word_bits,
                      "tile_rows": variant.tile_rows, "bytes_per_token": count["bytes"],
                      "bursts_per_token": count["bursts"],
                      "dram_pj": count["bytes"] * 8 * price.value}
    return {
        "model": model.name, "layers": model.layers,
        "bitlinear_weights": model.bitlinear_weights, "rtl_1_6bit": rtl_1_6bit,
        "axi_config": {k: getattr(axi, k) for k in ("rows", "cols", "weight_rows_per_cycle",
                                                    "weight_word_bits", "axi_max_burst")},
        "node": NODE, "dram_pj_per_bit": price.value,
        "dram_pj_per_access": dram.pj_per_access, "dram_access_bits": dram.access_bits,
        "dram_source": table.sources[price.source],
        "measured": measured, "formats": formats,
        "kv260": dict(BITNET_KV260),
    }
