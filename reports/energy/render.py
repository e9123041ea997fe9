# SPDX-License-Identifier: BSD-2-Clause
"""Rendering: the energy report's Markdown, and the summary that follows ``make sim``, from the
computed values only (:func:`reports.energy.collect.collect`): no figure is typed into the text.
"""

from __future__ import annotations

import re
from pathlib import Path

from golden.contract.config import AcceleratorConfig

from .collect import EXTRAPOLATED_RULE, NODES
from .data import EnergyTable, format_pj
from .pricing import ARRAYS, COMPONENTS, layer_energy
from .workload import place_weights, record_work

__all__ = ["activity_markdown", "area_markdown", "group_rules", "render_markdown",
           "summary_lines", "traffic_markdown"]

_pj = format_pj


def _kib_bits(report: dict) -> str:
    c = AcceleratorConfig.from_dict(report["config"])
    return f"{c.weight_depth * c.weight_word_bits // 8 // 1024} KiB"


def render_markdown(report: dict, figures: dict[str, str]) -> str:
    t = report["tiny_model"]
    lines = ["# Energy and area model", "",
             "Every figure below is a formula applied to published per-operation numbers "
             f"(`{Path(report['data_file']).name}`, each entry with its source) and to op "
             "counts from the firmware's programs and the accelerator's counters. Sources:", ""]
    lines += [f"- `{k}`: {v}" for k, v in report["sources"].items()]
    lines += ["", "## Where the published convention flatters ternary hardware", "",
              "- It counts each ternary MAC as one INT8 addition. The array's adders are as "
              "wide as the partial sum (9 to 13 bits in a 16x16 array) and every K-tile's "
              "result is added into a 32-bit accumulator.",
              "- It counts arithmetic only. A weight-stationary array reads and writes its "
              "32-bit accumulator buffer for every K-tile, and weights that do not fit on chip "
              "come from DRAM: that traffic dwarfs the additions.",
              "- The sources give no 7 nm memory energies: at 7 nm the model uses the 45 nm "
              "SRAM and DRAM figures unchanged, so 7 nm totals are arithmetic at 7 nm plus "
              "memory at 45 nm.",
              "- Scaling multiplies (M*N + M*K per product) are priced at the FP16 multiply, "
              "as in the convention.", ""]
    r7 = report["convention_ratio_per_op"]["7nm"]
    ops7 = report["convention_ops_pj"]["7nm"]
    lines += ["## The published convention", "",
              f"FP16 multiply-add over INT8 add at 7 nm: ({ops7['fp16 mul']:g} + "
              f"{ops7['fp16 add']:g}) / {ops7['int8 add']:g} = **{r7:.1f}x** "
              f"(REFERENCE.md section 6; 45 nm: "
              f"{report['convention_ratio_per_op']['45nm']:.1f}x).", ""]
    lines += ["## The shipped model (tiny-b158), one forward pass", "",
              f"Op counts: {report['count_source']}. Zero-weight fraction of the trained "
              f"weights: {report['trained_zero_fraction']:.1%}. Totals over the model's "
              "BitLinear products only (the 2B-4T-shaped slices are in the per-layer table). "
              "Weights are placed in layer order as the runtime places them: a layer whose "
              f"weights fit beside the earlier ones in the {_kib_bits(report)} weight memory "
              "(the same bytes for every array type) stays resident and its one-time load is "
              "not charged; the others come from DRAM on every pass. The FP16 and FP32 arrays "
              "accumulate in their own format (as the FP16 RTL baseline does), so their "
              "accumulator traffic per value is 16 and 32 bits against the integer arrays' "
              f"{report['config']['acc_bits']}.", ""]
    for node in NODES:
        lines += [f"### {node}", "",
                  "| array | convention | honest total | arithmetic | memory | dominant | "
                  "honest ratio FP16 / array | convention ratio FP16 / array |",
                  "|---|---|---|---|---|---|---|---|"]
        fp = t[node]["fp16"]
        for a, s in t[node].items():
            lines.append(
                f"| {ARRAYS[a].label} | {_pj(s['convention_pj'])} | {_pj(s['total_pj'])} | "
                f"{_pj(s['arithmetic_pj'])} | {_pj(s['memory_pj'])} | {s['dominant']} | "
                f"{fp['total_pj'] / s['total_pj']:.2f}x | "
                f"{fp['convention_pj'] / s['convention_pj']:.2f}x |")
        lines.append("")
    lines += ["Breakdown at 45 nm:", "",
              "| array | " + " | ".join(COMPONENTS) + " |",
              "|---|" + "---|" * len(COMPONENTS)]
    for a, s in t["45nm"].items():
        lines.append(f"| {a} | " + " | ".join(_pj(s["parts_pj"][c]) for c in COMPONENTS)
                     + " |")
    lines += ["", f"![per-layer energy breakdown]({figures['layers']})", ""]
    lines += ["## Per layer (45 nm)", "",
              "| layer | M | K | N | zero-w | ternary conv. | ternary honest | INT8 honest | "
              "FP16 honest | FP16/ternary honest | dominant (ternary) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["layers"]:
        n = row["nodes"]["45nm"]
        tern = n["ternary"]
        dom = max(tern["parts_pj"], key=tern["parts_pj"].get)
        lines.append(f"| {row['layer']} | {row['m']} | {row['k']} | {row['n']} | "
                     f"{row['zero_fraction']:.1%} | {_pj(tern['convention_pj'])} | "
                     f"{_pj(tern['total_pj'])} | {_pj(n['int8']['total_pj'])} | "
                     f"{_pj(n['fp16']['total_pj'])} | "
                     f"{n['fp16']['total_pj'] / tern['total_pj']:.2f}x | {dom} |")
    lines += ["", "## Energy per token against model size (decode, M = 1)", "",
              "Every BitLinear product of one token; attention score and value products and "
              "the LM head are left out (the same for every array). Weights that do not fit "
              "the weight memory come from DRAM for every token. Zero-weight fraction: the "
              "trained tiny-b158 weights'.", ""]
    for node in NODES:
        lines += [f"### {node}", "",
                  "| model | BitLinear weights | ternary conv. | ternary honest | "
                  "ternary 1.6-bit honest | INT8 honest | FP16 conv. | FP16 honest | "
                  "FP16/ternary conv. | FP16/ternary honest | dominant (ternary) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, e in report["per_token"].items():
            s = e["nodes"][node]
            mark = " (extrapolated)" if e["extrapolated"] else ""
            lines.append(
                f"| {name}{mark} | {e['bitlinear_weights']:.3g} | "
                f"{_pj(s['ternary']['convention_pj'])} | {_pj(s['ternary']['total_pj'])} | "
                f"{_pj(s['ternary-1.6']['total_pj'])} | {_pj(s['int8']['total_pj'])} | "
                f"{_pj(s['fp16']['convention_pj'])} | {_pj(s['fp16']['total_pj'])} | "
                f"{s['fp16']['convention_pj'] / s['ternary']['convention_pj']:.1f}x | "
                f"{s['fp16']['total_pj'] / s['ternary']['total_pj']:.2f}x | "
                f"{max(s['ternary']['parts_pj'], key=s['ternary']['parts_pj'].get)} |")
        lines.append("")
    lines += [f"Extrapolated rows: {EXTRAPOLATED_RULE}.", "",
              f"![energy per token]({figures['per_token']})", ""]
    if report.get("dram_per_token"):
        lines += traffic_markdown(report["dram_per_token"])
    lines += activity_markdown(report.get("activity"))
    lines += area_markdown(report["area"], figures.get("area"))
    lines += ["## Estimates used (rules, not published figures)", ""]
    lines += [f"- {r}" for r in group_rules(report["estimates"])] or ["- none"]
    lines += ["", "INT4 (W4A8): the multiply is the published INT8 one scaled by the product of "
              "the operand widths (4 x 8 / 64), its adders by width: an estimate.", ""]
    return "\n".join(lines)


def _bytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _rtl_1_6bit_sentence(t: dict) -> str:
    """What the RTL reads with 1.6-bit weights over AXI on the section's array."""
    v = t["rtl_1_6bit"]
    if v is None:
        return ("Over AXI the RTL reads 1.6-bit weights a word per beat at a multiple of 5 "
                "weight rows per cycle, for which this array has no valid word.")
    return (f"Over AXI the RTL reads 1.6-bit weights a word per beat at a multiple of 5 "
            f"weight rows per cycle: on this array at {v['weight_rows_per_cycle']} "
            f"({v['weight_word_bits']}-bit words, tiles of {v['tile_rows']} row slots) it "
            f"reads {v['bytes_per_token'] / 1e6:.1f} MB per token by the same rule "
            f"({v['dram_pj'] / 1e9:.1f} mJ of DRAM); an array whose rows are a multiple of "
            f"that width (40x16 at 40) reads 1.6 bits per weight.")


def traffic_markdown(t: dict) -> list[str]:
    """The DRAM weight traffic per decoded token (:mod:`reports.energy.traffic`)."""
    axi, kv, m = t["axi_config"], t["kv260"], t["measured"]
    lines = [f"## Energy per decoded {t['model']} token, weights streamed over AXI4", "",
             f"One decoded token (M = 1) runs every BitLinear of the {t['layers']} layers once "
             f"({t['bitlinear_weights']:,} weights); with `weight_memory = \"axi\"` each "
             "MATMUL reads its weight words from DRAM, which the accelerator counts "
             "(MEM_BYTES, MEM_BURSTS) by the contract's rule "
             "(`golden.contract.memory.matmul_traffic`: the words each MATMUL reads, split into "
             "INCR bursts of at most `axi_max_burst` beats that never cross 4 KiB). Array: "
             f"{axi['rows']}x{axi['cols']}, {axi['weight_rows_per_cycle']} weight rows per "
             f"cycle ({axi['weight_word_bits']}-bit AXI words), bursts of up to "
             f"{axi['axi_max_burst']} beats, each layer's image from a 4 KiB boundary. "
             "The 1.6-bit row counts the same MATMULs in the on-chip words of the 1.6-bit "
             "format with the same lanes (five beats a word): the format's own cost. "
             + _rtl_1_6bit_sentence(t), "",
             f"DRAM read energy: {t['dram_pj_per_access']:g} pJ per {t['dram_access_bits']}-bit "
             f"read = {t['dram_pj_per_bit']:g} pJ/bit ({t['dram_source']}): a **{t['node'][:-2]} "
             "nm** figure; DRAM of a later node costs less per bit. Bursts are counted, not "
             "priced (the source has no per-burst energy). Arithmetic and SRAM: the per-token "
             f"sweep above at {t['node'][:-2]} nm (weights written into the weight buffer and "
             "read from it).", ""]
    if m["used"]:
        lines += [f"Counts: the measured MEM_BYTES and MEM_BURSTS of `make sim` on "
                  f"{m['simulator']} (2B-4T-shaped layers, scaled to one token by the rule's "
                  f"ratio); measured and rule agree on every layer: {m['agree']}.", "",
                  "| layer | M | K | N | MEM_BYTES | rule | MEM_BURSTS | rule |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['m']} | {r['k']} | {r['n']} | {r['measured_bytes']} | "
                  f"{r['rule_bytes']} | {r['measured_bursts']} | {r['rule_bursts']} |"
                  for r in m["layers"]]
        lines.append("")
    else:
        lines += [f"Counts: the contract's rule, not measured counters ({m['why']}; `make sim "
                  "SIM_ARGS=\"--simulator icarus --weight-memory axi ...\"` measures them).", ""]
    lines += ["| weights | counts | DRAM bytes per token | bursts per token | DRAM | arithmetic | "
              "SRAM | total per token | bitnet-kv260 measured / ours |",
              "|---|---|---|---|---|---|---|---|---|"]
    for fmt, f in t["formats"].items():
        lines.append(f"| {fmt} | {f['count_source']} | {_bytes(f['bytes_per_token'])} | "
                     f"{f['bursts_per_token']:,.0f} | {_pj(f['dram_pj'])} | "
                     f"{_pj(f['arithmetic_pj'])} | {_pj(f['sram_pj'])} | "
                     f"**{_pj(f['total_pj'])}** | {f['kv260_ratio']:.1f}x |")
    lines += ["", f"bitnet-kv260 ({kv['source']}): {kv['joules_per_token']:g} J per generated "
              f"token, {kv['tokens_per_s']:g} tokens/s, {_bytes(kv['bytes_per_token'])} of "
              "weights per token. Theirs is a board-level measurement of generating a token (what "
              "the board spends, all of the token's work included); ours is an estimate of the "
              "BitLinears' DRAM weight reads plus the datapath at 45 nm (no static power, no "
              "attention or LM head), not a measurement.", ""]
    return lines


def group_rules(rules: list[str]) -> list[str]:
    """Rules that differ only in the adder width, as one line listing the widths."""
    groups: dict[str, list[int]] = {}
    for rule in rules:
        hit = re.match(r"(\d+)-bit adder(.*)", rule)
        key = f"N-bit adder{hit[2]}" if hit else rule
        groups.setdefault(key, [])
        if hit:
            groups[key].append(int(hit[1]))
    return [key.replace("N-bit", f"{', '.join(map(str, sorted(set(w))))}-bit", 1) if w else key
            for key, w in groups.items()]


def activity_markdown(activity: dict | None) -> list[str]:
    if activity is None:
        return ["## Activity (toggle counts)", "", "Not run (`--no-activity`).", ""]
    lines = ["## Activity: toggle counts from RTL simulation", "",
             f"Layer `{activity['layer']}` of tiny-b158, a {activity['slice']} slice "
             f"({activity['tokens']} prompt tokens) on a {activity['array']} array in "
             "amaranth.sim, the array's probe set sampled every cycle "
             "(reports/energy/activity.py). 'random': i.i.d. uniform ternary weights of the "
             f"same shape (seed {activity['seed']}). Without isolation: the operand an array "
             "without operand isolation would see (under a zero weight it follows the "
             "activation), replayed from the sampled activations and weights.", "",
             "| weights | zero-w | MACs | addend | addend without isolation | psum | "
             "activation pipeline | weight banks | isolation saving (addend) | "
             "saving of all counted toggles | addend toggles per MAC |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in activity["runs"]:
        c = r["toggles_by_class"]
        lines.append(
            f"| {r['label']} | {r['weights_zero_fraction']:.1%} | {r['macs']} | "
            f"{c['addend']} | {r['toggles_addend_no_isolation']} | {c['psum']} | "
            f"{c['activation pipeline']} | {c['weight banks']} | "
            f"{r['isolation_saving']:.1%} | {r['datapath_saving']:.1%} | "
            f"{c['addend'] / r['macs']:.2f} |")
    lines += ["", "The adder's dynamic energy is taken to follow its operand's toggles; the "
              "analytical model's 'zero-weight MACs skipped' assumes a saving equal to the "
              "zero-weight fraction, which the saving column checks.", ""]
    adds = activity.get("model_array_adds_45nm_pj")
    if adds:
        lines += ["The shipped model's array additions at 45 nm (one forward pass):", "",
                  "| adder energy | pJ |", "|---|---|"]
        lines += [f"| {k} | {_pj(v)} |" for k, v in adds.items()]
        lines.append("")
    return lines


def area_markdown(area: dict, figure: str | None) -> list[str]:
    lines = ["## Area", "",
             "Published 45 nm operator areas (horowitz2014) composed into one element "
             "(estimates where the table has no such operator):", "",
             "| element | operators | um^2 (45 nm) | relative to ternary | estimate rules |",
             "|---|---|---|---|---|"]
    pub = area["published_45nm"]
    for name, e in pub.items():
        lines.append(f"| {name} | {' + '.join(e['ops'])} | {e['um2']:.0f} | "
                     f"{e['um2'] / pub['ternary']['um2']:.2f} | {'; '.join(e['rules'])} |")
    lines.append("")
    if area["gates"]:
        lines += ["Measured (generic Yosys gates, build/reports/gates.json), per element:", "",
                  "| element | accumulator | psum bits | gates + FFs | transistors | "
                  "transistors relative to the ternary element of the same accumulator |",
                  "|---|---|---|---|---|---|"]
        recs = area["gates"]["records"]
        for r in recs:
            base = next((b["transistors"] for b in recs if b["design"] == "ternary"
                         and b["policy"] == r["policy"]), None)
            rel = f"{r['transistors'] / base:.2f}" if base else "-"
            lines.append(f"| {r['design']} | {r['policy']} | {r['psum_bits']} | {r['cells']} | "
                         f"{r['transistors']} | {rel} |")
        lines.append("")
    if area["fpga"]:
        lines += ["FPGA builds (build/reports/fpga.json):", "",
                  "| build | status | LUT4/PE | DSP | Fmax MHz |", "|---|---|---|---|---|"]
        for r in area["fpga"]:
            lpp = "-" if r["luts_per_pe"] is None else f"{r['luts_per_pe']:.1f}"
            fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
            lines.append(f"| {r['key']} | {r['status']} | {lpp} | {r['dsps']} | {fmax} |")
        lines.append("")
    for m in area["missing"]:
        lines.append(f"- missing: {m}")
    if figure:
        lines += ["", f"![area]({figure})"]
    lines.append("")
    return lines


def summary_lines(config: AcceleratorConfig, records, *, node: str = "45nm",
                  table: EnergyTable | None = None) -> list[str]:
    """A few lines on the energy of co-simulated layers (the ``layers`` of a co-simulation
    report): the ternary array against the INT8 and FP16 MAC arrays doing the same products,
    honest totals and the published convention."""
    table = table or EnergyTable.load()
    works = [record_work(config, r) for r in records]
    totals = {}
    for a in ("ternary", "int8", "fp16"):
        es = [layer_energy(table, w, ARRAYS[a], node=node, config=config, resident=r)
              for w, r in zip(works, place_weights(config, works, ARRAYS[a].weight_bits),
                              strict=True)]
        parts = {c: sum(e.parts[c] for e in es) for c in COMPONENTS}
        totals[a] = (sum(e.convention_pj for e in es), sum(parts.values()),
                     sum(parts[c] for c in COMPONENTS[:4]), max(parts, key=parts.get))
    zero = sum(w.zero_macs for w in works) / sum(w.array_macs for w in works)
    t, fp = totals["ternary"], totals["fp16"]
    lines = [f"energy of these products at {node} (published per-op and memory energies, "
             f"{table.path.name}; details: make report):"]
    for a, (conv, total, arith, dom) in totals.items():
        lines.append(f"  {ARRAYS[a].label}: {format_pj(total)} (arithmetic "
                     f"{format_pj(arith)}, dominant: {dom}); published convention "
                     f"{format_pj(conv)}")
    lines.append(f"  FP16 / ternary: {fp[1] / t[1]:.2f}x in total, {fp[0] / t[0]:.1f}x in "
                 f"the published convention (arithmetic only); zero-weight MACs skipped: "
                 f"{zero:.1%}")
    return lines
