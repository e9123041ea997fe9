# SPDX-License-Identifier: BSD-2-Clause
"""``python -m reports energy`` (``make report``): build/reports/energy.{md,json} and figures.

Parse, then render: :func:`collect` gathers every figure into one dictionary (the JSON), the
renderers turn it into Markdown and matplotlib figures.

Where the op counts come from:

* the shipped model's layers and the BitNet b1.58 2B-4T-shaped layers: the co-simulation's
  records (``build/sim/cosim.json``, from ``make sim``) when present, else the same runs
  (:mod:`sim.cosim`) on the functional model, whose counters match the RTL's; each record's
  shape is compiled by the firmware (:func:`reports.energy.shape_work`) for the traffic;
* energy per token against model size: the firmware's programs for one token (M = 1) of each
  BitLinear shape of BITNET.md section 5, the zero-weight fraction of the shipped model's
  trained weights.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from golden.config import AcceleratorConfig

from .energy import (
    ARRAYS,
    COMPONENTS,
    EnergyTable,
    convention_ratio,
    fits_on_chip,
    format_pj,
    layer_energy,
    place_weights,
    record_work,
    shape_work,
)

__all__ = ["MODELS", "collect", "main_energy", "render_markdown"]

NODES = ("45nm", "7nm")
#: The arrays of the per-layer tables (all of :data:`ARRAYS` are in the JSON and totals).
MAIN = ("ternary", "int8", "fp16")

def _block(h: int, f: int, kv: int | None = None) -> list[tuple[str, int, int]]:
    """BitLinear shapes (name, N, K) of one block; without ``kv``, k and v are square (the
    700M and 3B models have as many key/value heads as heads)."""
    kv = h if kv is None else kv
    return [("q_proj", h, h), ("k_proj", kv, h), ("v_proj", kv, h), ("o_proj", h, h),
            ("gate_proj", f, h), ("up_proj", f, h), ("down_proj", h, f)]


MODELS = {
    # name: (block shapes, layers, nominal parameters) -- BITNET.md section 5
    "700M": (_block(1536, 4096), 24, 0.7e9),
    "2B-4T": (_block(2560, 6912, 640), 30, 2.0e9),
    "3B": (_block(3200, 8640), 26, 3.0e9),
}
#: Sizes the BitNet paper plots whose shapes are not in BITNET.md: extrapolated from the 3B
#: model's energy per BitLinear weight (labelled in every output).
EXTRAPOLATED = {"1.3B": 1.3e9, "70B": 70e9}


def _records(config: AcceleratorConfig, cosim_json: Path, log) -> tuple[list, str]:
    """LayerRecords of the co-simulation, or of the same runs on the functional model."""
    from sim.cosim import LayerRecord

    if cosim_json.exists():
        data = json.loads(cosim_json.read_text())
        if AcceleratorConfig.from_dict(data["config"]) == config:
            fields = {f.name for f in dataclasses.fields(LayerRecord)}
            return ([LayerRecord(**{k: v for k, v in r.items() if k in fields})
                     for r in data["layers"]],
                    f"counters of `make sim` on {data.get('simulator')} ({cosim_json})")
        log(f"{cosim_json} is for another configuration: running the functional model")
    import golden
    from firmware.runtime import FunctionalBackend, Runtime
    from golden.data import encode
    from sim.__main__ import DEFAULT_PROMPT
    from sim.cosim import CheckedBackend, run_2b4t, run_model

    checked = CheckedBackend(Runtime(FunctionalBackend(config), measure=True))
    run_model(checked, golden.load_model("tiny-b158"), encode(DEFAULT_PROMPT))
    run_2b4t(checked, m=16, n_slice=64, seed=0)
    return checked.records, ("counters of the functional model (no build/sim/cosim.json: "
                             "`make sim` runs the same layers on the RTL)")


def _energies(table, works, config) -> dict:
    """{node: {array: [LayerEnergy per work]}}, weights placed as the runtime places them
    (:func:`reports.energy.place_weights`)."""
    return {node: {a: [layer_energy(table, w, spec, node=node, config=config, resident=r)
                       for w, r in zip(works, place_weights(config, works, spec), strict=True)]
                   for a, spec in ARRAYS.items()}
            for node in NODES}


def _summary(energies: list) -> dict:
    parts = dict.fromkeys(COMPONENTS, 0.0)
    for e in energies:
        for c, v in e.parts.items():
            parts[c] += v
    total = sum(parts.values())
    return {"convention_pj": sum(e.convention_pj for e in energies), "total_pj": total,
            "arithmetic_pj": sum(parts[c] for c in COMPONENTS[:4]),
            "memory_pj": sum(parts[c] for c in COMPONENTS[4:]), "parts_pj": parts,
            "dominant": max(parts, key=parts.get) if total else None,
            "resident": all(e.resident for e in energies)}


def _model_works(config, shapes, zero_fraction):
    return [shape_work(config, name=name, m=1, k=k, n=n, zero_fraction=zero_fraction)
            for name, n, k in shapes]


def model_sweep(table, config, zero_fraction, log, *, models=None, extrapolated=None,
                base: str = "3B") -> dict:
    """Energy per token (decode, M = 1) of every BitLinear of each model, per array."""
    out = {}
    models = MODELS if models is None else models
    extrapolated = EXTRAPOLATED if extrapolated is None else extrapolated
    for name, (shapes, layers, nominal) in models.items():
        log(f"energy: compiling the BitLinear shapes of {name}")
        works = [w.scaled(layers) for w in _model_works(config, shapes, zero_fraction)]
        weights = layers * sum(n * k for _, n, k in shapes)
        entry = {"bitlinear_weights": weights, "nominal_parameters": nominal, "layers": layers,
                 "shapes": shapes, "extrapolated": False, "nodes": {}}
        for node in NODES:
            entry["nodes"][node] = {}
            for a, spec in ARRAYS.items():
                resident = fits_on_chip(config, weights, spec.weight_bits)
                es = [layer_energy(table, w, spec, node=node, config=config, resident=resident)
                      for w in works]
                entry["nodes"][node][a] = _summary(es)
        out[name] = entry
    base = out.get(base)
    for name, nominal in (extrapolated.items() if base else ()):
        factor = nominal / base["bitlinear_weights"]
        out[name] = {"bitlinear_weights": int(nominal), "nominal_parameters": nominal,
                     "extrapolated": True,
                     "rule": "shape not in BITNET.md: the 3B model's energy per BitLinear "
                             "weight times the nominal parameter count (all parameters "
                             "counted as BitLinear weights)",
                     "nodes": {node: {a: {k: (v * factor if isinstance(v, float) else v)
                                          for k, v in s.items() if k != "parts_pj"}
                                      | {"parts_pj": {c: v * factor
                                                      for c, v in s["parts_pj"].items()}}
                                      for a, s in arrays.items()}
                               for node, arrays in base["nodes"].items()}}
    return dict(sorted(out.items(), key=lambda kv: kv[1]["nominal_parameters"]))


def area_section(table: EnergyTable, reports_dir: Path) -> dict:
    """Published 45 nm element areas beside the measured gate counts and FPGA records."""
    from . import fpga, gates

    config = AcceleratorConfig()
    widest = config.psum_bits(config.rows)
    elements = {
        "ternary": [("add", "int", ARRAYS["ternary"].psum_bits(config, config.rows), None)],
        "int4": [("mul", "int", 4, 8), ("add", "int",
                                         ARRAYS["int4"].psum_bits(config, config.rows), None)],
        "int8": [("mul", "int", 8, 8), ("add", "int",
                                         ARRAYS["int8"].psum_bits(config, config.rows), None)],
        "fp16": [("mul", "fp", 16, None), ("add", "fp", 16, None)],
        "fp32": [("mul", "fp", 32, None), ("add", "fp", 32, None)],
    }
    published = {}
    for name, ops in elements.items():
        prices = [table.area(kind, dtype, bits, b) for kind, dtype, bits, b in ops]
        published[name] = {"um2": sum(p.value for p in prices),
                           "ops": [f"{b}-bit {dt} {k}" if not bb or bb == b
                                   else f"{b}x{bb}-bit {dt} {k}"
                                   for k, dt, b, bb in ops],
                           "rules": [p.rule for p in prices if p.rule]}
    out = {"published_45nm": published, "widest_ternary_psum_bits": widest,
           "gates": None, "fpga": None, "missing": []}
    gate_path, fpga_path = reports_dir / "gates.json", reports_dir / "fpga.json"
    if gate_path.exists():
        recs = gates.load_gates(gate_path)
        pe = [dataclasses.asdict(r) | {"cells": r.cells} for r in recs if r.kind == "pe"]
        out["gates"] = {"records": pe}
    else:
        out["missing"].append(f"{gate_path} (gate counts): run `make fpga`")
    if fpga_path.exists():
        recs = fpga.load_records(fpga_path)
        out["fpga"] = [{"key": r.key, "design": r.design, "device": r.device,
                        "size": f"{r.rows}x{r.cols}", "status": r.status,
                        "luts_per_pe": r.luts_per_pe, "dsps": r.dsps, "fmax_mhz": r.fmax_mhz}
                       for r in fpga.sort_records(recs)]
    else:
        out["missing"].append(f"{fpga_path} (FPGA builds): run `make fpga`")
    return out


def collect(*, config: AcceleratorConfig, data_file: Path | None = None,
            cosim_json: Path, reports_dir: Path, activity_dir: Path | None,
            activity_slice: int = 32, activity_rows: int = 8, models=None, log=print
            ) -> dict:
    """Every figure of the report (the JSON). ``models``: the per-token sweep's models
    (default :data:`MODELS`, with :data:`EXTRAPOLATED` from the 3B one)."""
    table = EnergyTable.load(data_file) if data_file else EnergyTable.load()
    start = time.perf_counter()
    records, source = _records(config, cosim_json, log)
    works = [record_work(config, r, source) for r in records]
    per_layer = _energies(table, works, config)
    model_works = [w for w in works if not w.name.startswith("2b4t.")]
    layer_rows = []
    for i, w in enumerate(works):
        row = {"layer": w.name, "m": w.m, "k": w.k, "n": w.n, "cycles": w.cycles,
               "zero_fraction": w.zero_fraction, "macs": w.macs, "nodes": {}}
        for node in NODES:
            row["nodes"][node] = {a: {"convention_pj": per_layer[node][a][i].convention_pj,
                                      "total_pj": per_layer[node][a][i].total_pj,
                                      "parts_pj": per_layer[node][a][i].parts,
                                      "resident": per_layer[node][a][i].resident}
                                  for a in ARRAYS}
        layer_rows.append(row)
    tiny = {node: {a: _summary([per_layer[node][a][i] for i, w in enumerate(works)
                                if not w.name.startswith("2b4t.")])
                   for a in ARRAYS} for node in NODES}
    # Zero fraction of the trained weights (padding excluded) for the model sweep.
    trained_zero = 1 - (sum(w.array_macs - w.zero_macs for w in model_works)
                        / sum(w.macs for w in model_works))
    sweep = model_sweep(table, config, trained_zero, log, models=models,
                        extrapolated=None if models is None else {})
    rules = sorted({r for node in per_layer.values() for es in node.values()
                    for e in es for r in e.rules})
    activity = None
    if activity_dir is not None:
        log("energy: activity run (amaranth.sim, VCD)")
        activity = run_activity_section(activity_dir, rows=activity_rows,
                                        size=activity_slice)
        # The model's adder energy three ways: no isolation, the analytical zero-weight skip,
        # and the measured operand-toggle saving of the trained slice.
        full = sum(layer_energy(table, w, ARRAYS["ternary"], node="45nm", config=config,
                                skip_zeros=False).parts["array adds"] for w in model_works)
        skip = tiny["45nm"]["ternary"]["parts_pj"]["array adds"]
        saving = activity["runs"][0]["isolation_saving"]
        activity["model_array_adds_45nm_pj"] = {
            "without isolation": full, "zero-weight MACs skipped (analytical)": skip,
            "measured operand-toggle saving (trained slice)": full * (1 - saving)}
    return {
        "config": config.to_dict(),
        "data_file": str(table.path),
        "sources": table.sources,
        "ops": [dataclasses.asdict(o) for o in table.ops],
        "memories": [dataclasses.asdict(m) for m in table.memories],
        "memory_from": table.memory_from,
        "convention_ratio_per_op": {n: convention_ratio(table, n) for n in NODES},
        "count_source": source,
        "layers": layer_rows,
        "tiny_model": tiny,
        "trained_zero_fraction": trained_zero,
        "per_token": sweep,
        "activity": activity,
        "area": area_section(table, reports_dir),
        "estimates": rules,
        "arrays": {a: dataclasses.asdict(s) for a, s in ARRAYS.items()},
        "wall_s": round(time.perf_counter() - start, 1),
    }


def run_activity_section(workdir: Path, *, rows: int, size: int, seed: int = 0,
                         layer: str = "layers.0.attn.q_proj") -> dict:
    import numpy as np

    from golden.data import encode
    from sim.__main__ import DEFAULT_PROMPT

    from .activity import layer_slice, run_activity

    config = AcceleratorConfig(rows=rows, cols=rows)
    x_q, w_t = layer_slice("tiny-b158", layer, encode(DEFAULT_PROMPT))
    if size % rows or size > min(w_t.shape):
        raise ValueError(f"activity slice {size} must be a multiple of the array size {rows} "
                         f"and at most {min(w_t.shape)}")
    xs, ws = x_q[:, :size], w_t[:size, :size]
    rng = np.random.default_rng(seed)
    random_w = rng.integers(-1, 2, size=ws.shape).astype(np.int8)
    runs = [run_activity(config, xs, ws, label="trained", workdir=workdir),
            run_activity(config, xs, random_w, label="random", workdir=workdir)]
    for run in runs:
        if not run.bit_exact:
            raise ValueError(f"activity run {run.label}: the RTL results differ from golden")
        if run.toggles.addend_replayed != run.toggles.by_class["addend"]:
            raise ValueError(f"activity run {run.label}: the replayed operand toggles "
                             f"({run.toggles.addend_replayed}) differ from the dump's "
                             f"({run.toggles.by_class['addend']})")
    return {"layer": layer, "array": f"{rows}x{rows}", "slice": f"{size}x{size}",
            "tokens": int(x_q.shape[0]), "seed": seed, "workdir": str(workdir),
            "runs": [r.to_dict() for r in runs]}


# --- rendering ---------------------------------------------------------------------------------

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
    lines += ["## The published convention", "",
              f"FP16 multiply-add over INT8 add at 7 nm: (0.34 + 0.16) / 0.007 = **{r7:.1f}x** "
              f"(BITNET.md section 6; 45 nm: {report['convention_ratio_per_op']['45nm']:.1f}x).",
              ""]
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
    lines += activity_markdown(report.get("activity"))
    lines += area_markdown(report["area"], figures.get("area"))
    lines += ["## Estimates used (rules, not published figures)", ""]
    lines += [f"- {r}" for r in group_rules(report["estimates"])] or ["- none"]
    lines += ["", "INT4 (W4A8): the multiply is the published INT8 one scaled by the product of "
              "the operand widths (4 x 8 / 64), its adders by width: an estimate.", ""]
    return "\n".join(lines)


def group_rules(rules: list[str]) -> list[str]:
    """Rules that differ only in the adder width, as one line listing the widths."""
    import re

    groups: dict[str, list[int]] = {}
    for rule in rules:
        hit = re.match(r"(\d+)-bit adder(.*)", rule)
        key = f"N-bit adder{hit[2]}" if hit else rule
        groups.setdefault(key, [])
        if hit:
            groups[key].append(int(hit[1]))
    return [key.replace("N-bit", f"{', '.join(map(str, sorted(set(w))))}-bit", 1) if w else key
            for key, w in groups.items()]


EXTRAPOLATED_RULE = ("shape not in BITNET.md, so the 3B model's energy per BitLinear weight "
                     "times the nominal parameter count")


def activity_markdown(activity: dict | None) -> list[str]:
    if activity is None:
        return ["## Activity (toggle counts)", "", "Not run (`--no-activity`).", ""]
    lines = ["## Activity: toggle counts from RTL simulation", "",
             f"Layer `{activity['layer']}` of tiny-b158, a {activity['slice']} slice "
             f"({activity['tokens']} prompt tokens) on a {activity['array']} array in "
             "amaranth.sim, VCD streamed through vcdvcd (reports/activity.py). 'random': "
             f"i.i.d. uniform ternary weights of the same shape (seed {activity['seed']}). "
             "Without isolation: the operand an array without operand isolation would see "
             "(under a zero weight it follows the activation), replayed from the dump.", "",
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


def plot(report: dict, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    # Per-layer breakdown, 45 nm, ternary and FP16 side by side.
    # The shipped model's blocks repeat: its first block and the 2B-4T-shaped layers.
    layers = [row for row in report["layers"]
              if row["layer"].startswith(("layers.0.", "2b4t.")) or "." not in row["layer"]]
    layers = layers or report["layers"]
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(layers)), 5.5))
    width = 0.4
    colors = plt.get_cmap("tab10").colors
    for off, a in ((-width / 2, "ternary"), (width / 2, "fp16")):
        bottom = [0.0] * len(layers)
        for ci, c in enumerate(COMPONENTS):
            vals = [row["nodes"]["45nm"][a]["parts_pj"][c] * 1e-6 for row in layers]
            ax.bar([i + off for i in range(len(layers))], vals, width, bottom=bottom,
                   color=colors[ci], edgecolor="black" if a == "fp16" else None,
                   hatch="//" if a == "fp16" else None, label=c if a == "ternary" else None)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xticks(range(len(layers)), [row["layer"] for row in layers], rotation=70,
                  fontsize=7)
    ax.set_ylabel("energy per layer product (uJ), 45 nm")
    ax.set_xlabel("layer: tiny-b158 block 0 and 2B-4T-shaped slices (left bar: ternary "
                  "array; right, hatched: FP16 MAC array)")
    ax.set_title("Energy breakdown per layer (published per-op and memory energies)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "energy_layers.png", dpi=110)
    plt.close(fig)
    figures["layers"] = "energy_layers.png"

    # Energy per token against model size, 7 nm (the BitNet paper's node).
    fig, ax = plt.subplots(figsize=(8, 5))
    sweep = report["per_token"]
    names = list(sweep)
    xs = [sweep[n]["bitlinear_weights"] for n in names]
    for a, kind, style, label in (
            ("fp16", "convention_pj", "s--", "FP16, published convention (arithmetic)"),
            ("ternary", "convention_pj", "o--", "ternary, published convention (arithmetic)"),
            ("fp16", "total_pj", "s-", "FP16 MAC array, honest total"),
            ("ternary", "total_pj", "o-", "ternary array (2-bit), honest total"),
            ("ternary-1.6", "total_pj", "^-", "ternary array (1.6-bit), honest total")):
        ys = [sweep[n]["nodes"]["7nm"][a][kind] * 1e-9 for n in names]
        ax.plot(xs, ys, style, label=label)
    for n, x in zip(names, xs, strict=True):
        ax.annotate(n + (" (extrap.)" if sweep[n]["extrapolated"] else ""),
                    (x, sweep[n]["nodes"]["7nm"]["fp16"]["total_pj"] * 1e-9),
                    textcoords="offset points", xytext=(0, 6), fontsize=7, ha="center")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("BitLinear weights per model")
    ax.set_ylabel("energy per token (mJ), 7 nm arithmetic, 45 nm memory")
    ax.set_title("Energy per token (decode): published convention vs honest total")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "energy_per_token.png", dpi=110)
    plt.close(fig)
    figures["per_token"] = "energy_per_token.png"

    # Area.
    area = report["area"]
    pub = area["published_45nm"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(pub)
    ax.bar(range(len(names)), [pub[n]["um2"] for n in names], color="tab:blue",
           label="published 45 nm operators (Horowitz)")
    if area["gates"]:
        bg = {r["design"]: r["transistors"] for r in area["gates"]["records"]
              if r["policy"] == "bit growth"}
        if "ternary" in bg:
            scale = pub["ternary"]["um2"] / bg["ternary"]
            ax.scatter([names.index(d) for d in bg if d in names],
                       [bg[d] * scale for d in bg if d in names], color="tab:red", zorder=3,
                       label="measured transistors (Yosys), scaled to ternary = published")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("area per element (um^2, 45 nm)")
    ax.set_xlabel("element (multiplier + adder of the widths in the table)")
    ax.set_title("Processing-element area" + ("" if area["gates"] else
                                              " (gate counts missing: make fpga)"))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "energy_area.png", dpi=110)
    plt.close(fig)
    figures["area"] = "energy_area.png"
    return figures


def main_energy(*, out: Path, cosim_json: Path, data_file: Path | None, activity: bool,
                activity_slice: int, activity_rows: int, build_dir: Path, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    report = collect(config=AcceleratorConfig(), data_file=data_file, cosim_json=cosim_json,
                     reports_dir=out, activity_dir=(build_dir / "activity") if activity
                     else None, activity_slice=activity_slice, activity_rows=activity_rows,
                     log=log)
    figures = plot(report, out)
    (out / "energy.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "energy.md").write_text(render_markdown(report, figures))
    log(f"wrote {out / 'energy.md'}, {out / 'energy.json'} and "
        + ", ".join(str(out / f) for f in figures.values()))
    return report
