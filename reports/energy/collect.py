# SPDX-License-Identifier: BSD-2-Clause
"""Collection: every figure of the energy report, computed into one dictionary (the JSON).

Where the op counts come from:

* the shipped model's layers and the BitNet b1.58 2B-4T-shaped layers: the co-simulation's
  records (build/sim/cosim.json, written by ``make sim``) when present, else the same runs on
  the functional model through sim's documented API (:func:`sim.cosim.cosimulate`), whose
  counters match the RTL's; each record's shape is compiled by the firmware
  (:func:`reports.energy.workload.record_work`) for the traffic;
* energy per token against model size: the firmware's programs for one token (M = 1) of each
  BitLinear shape of :data:`golden.contract.workloads.MODELS`, the zero-weight fraction of the
  shipped model's trained weights;
* DRAM weight traffic per decoded 2B-4T token with the weights over AXI4
  (:mod:`reports.energy.traffic`): the MEM_BYTES / MEM_BURSTS counters of a ``make sim`` run
  with AXI weights when build/sim/cosim.json is one, else the contract's rule.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from golden.contract.config import AcceleratorConfig
from golden.contract.workloads import DEFAULT_PROMPT, MODELS, ModelShape

from .data import EnergyTable
from .pricing import ARRAYS, COMPONENTS, convention_ratio, layer_energy
from .traffic import traffic_section
from .workload import fits_on_chip, place_weights, record_work, shape_work

__all__ = ["EXTRAPOLATED", "EXTRAPOLATED_RULE", "NODES", "collect", "model_sweep",
           "read_cosim"]

NODES = ("45nm", "7nm")
#: Sizes the BitNet paper plots whose shapes are not in REFERENCE.md section 5: extrapolated
#: from the 3B model's energy per BitLinear weight (labelled in every output).
EXTRAPOLATED = {"1.3B": 1.3e9, "70B": 70e9}
EXTRAPOLATED_RULE = ("shape not in REFERENCE.md section 5: the 3B model's energy per BitLinear "
                     "weight times the nominal parameter count (all parameters counted as "
                     "BitLinear weights)")


def read_cosim(path: Path) -> dict:
    """A co-simulation report (build/sim/cosim.json), with a clear error for a bad file."""
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(report, dict) or not isinstance(report.get("layers"), list) \
            or "config" not in report:
        raise ValueError(f"{path} is not a co-simulation report of `make sim` (no 'layers' "
                         f"and 'config')")
    return report


def _records(config: AcceleratorConfig, cosim_json: Path, log) -> tuple[list[dict], str]:
    """Layer records of the co-simulation, or of the same runs on the functional model."""
    if cosim_json.exists():
        data = read_cosim(cosim_json)
        if AcceleratorConfig.from_dict(data["config"]) == config:
            return (data["layers"],
                    f"counters of `make sim` on {data.get('simulator')} ({cosim_json})")
        log(f"{cosim_json} is for another configuration: running the functional model")
    from sim.cosim import cosimulate

    report = cosimulate(config=config, simulator="functional")
    return report["layers"], ("counters of the functional model (no build/sim/cosim.json: "
                              "`make sim` runs the same layers on the RTL)")


def _energies(table, works, config) -> dict:
    """{node: {array: [LayerEnergy per work]}}, weights placed as the runtime places them
    (:func:`reports.energy.workload.place_weights`)."""
    return {node: {a: [layer_energy(table, w, spec, node=node, config=config, resident=r)
                       for w, r in zip(works, place_weights(config, works, spec.weight_bits),
                                       strict=True)]
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


def _model_works(config, model: ModelShape, zero_fraction):
    return [shape_work(config, name=s.name, m=1, k=s.k, n=s.n, zero_fraction=zero_fraction)
            for s in model.bitlinears()]


def model_sweep(table, config, zero_fraction, log, *, models=None, extrapolated=None,
                base: str = "3B") -> dict:
    """Energy per token (decode, M = 1) of every BitLinear of each model, per array."""
    out = {}
    models = MODELS if models is None else models
    extrapolated = EXTRAPOLATED if extrapolated is None else extrapolated
    for name, model in models.items():
        log(f"energy: compiling the BitLinear shapes of {name}")
        works = [w.scaled(model.layers) for w in _model_works(config, model, zero_fraction)]
        weights = model.bitlinear_weights
        entry = {"bitlinear_weights": weights, "nominal_parameters": model.nominal_parameters,
                 "layers": model.layers,
                 "shapes": [(s.name, s.n, s.k) for s in model.bitlinears()],
                 "extrapolated": False, "nodes": {}}
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
                     "rule": EXTRAPOLATED_RULE,
                     "nodes": {node: {a: {k: (v * factor if isinstance(v, float) else v)
                                          for k, v in s.items() if k != "parts_pj"}
                                      | {"parts_pj": {c: v * factor
                                                      for c, v in s["parts_pj"].items()}}
                                      for a, s in arrays.items()}
                               for node, arrays in base["nodes"].items()}}
    return dict(sorted(out.items(), key=lambda kv: kv[1]["nominal_parameters"]))


def area_section(table: EnergyTable, reports_dir: Path) -> dict:
    """Published 45 nm element areas beside the measured gate counts and FPGA records."""
    from .. import fpga, gates

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
            cosim_json: Path, reports_dir: Path, activity: bool = True,
            activity_slice: int = 32, activity_rows: int = 8, models=None, log=print
            ) -> dict:
    """Every figure of the report (the JSON). ``models``: the per-token sweep's models
    (default :data:`MODELS`, with :data:`EXTRAPOLATED` from the 3B one); ``activity``: run the
    RTL activity measurement."""
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
    shapes = MODELS if models is None else models
    decode = shapes.get("2B-4T") or next(iter(shapes.values()))
    log(f"energy: DRAM weight traffic per decoded {decode.name} token")
    traffic = traffic_section(table, config, decode, zero_fraction=trained_zero,
                              cosim=read_cosim(cosim_json) if cosim_json.exists() else None)
    rules = sorted({r for node in per_layer.values() for es in node.values()
                    for e in es for r in e.rules})
    measured = None
    if activity:
        log("energy: activity run (amaranth.sim, the array's probe set)")
        measured = run_activity_section(rows=activity_rows, size=activity_slice)
        # The model's adder energy three ways: no isolation, the analytical zero-weight skip,
        # and the measured operand-toggle saving of the trained slice.
        full = sum(layer_energy(table, w, ARRAYS["ternary"], node="45nm", config=config,
                                skip_zeros=False).parts["array adds"] for w in model_works)
        skip = tiny["45nm"]["ternary"]["parts_pj"]["array adds"]
        saving = measured["runs"][0]["isolation_saving"]
        measured["model_array_adds_45nm_pj"] = {
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
        "convention_ops_pj": {n: {"fp16 mul": table.op(n, "mul", "fp", 16).value,
                                  "fp16 add": table.op(n, "add", "fp", 16).value,
                                  "int8 add": table.op(n, "add", "int", 8).value}
                              for n in NODES},
        "count_source": source,
        "layers": layer_rows,
        "tiny_model": tiny,
        "trained_zero_fraction": trained_zero,
        "per_token": sweep,
        "dram_per_token": traffic,
        "activity": measured,
        "area": area_section(table, reports_dir),
        "estimates": rules,
        "arrays": {a: dataclasses.asdict(s) for a, s in ARRAYS.items()},
        "wall_s": round(time.perf_counter() - start, 1),
    }


def run_activity_section(*, rows: int, size: int, seed: int = 0,
                         layer: str = "layers.0.attn.q_proj") -> dict:
    import numpy as np

    from golden.data import encode

    from .activity import layer_slice, run_activity

    config = AcceleratorConfig(rows=rows, cols=rows)
    x_q, w_t = layer_slice("tiny-b158", layer, encode(DEFAULT_PROMPT))
    if size % rows or size > min(w_t.shape):
        raise ValueError(f"activity slice {size} must be a multiple of the array size {rows} "
                         f"and at most {min(w_t.shape)}")
    xs, ws = x_q[:, :size], w_t[:size, :size]
    rng = np.random.default_rng(seed)
    random_w = rng.integers(-1, 2, size=ws.shape).astype(np.int8)
    runs = [run_activity(config, xs, ws, label="trained"),
            run_activity(config, xs, random_w, label="random")]
    for run in runs:
        if not run.bit_exact:
            raise ValueError(f"activity run {run.label}: the RTL results differ from golden")
        if run.toggles.addend_replayed != run.toggles.by_class["addend"]:
            raise ValueError(f"activity run {run.label}: the replayed operand toggles "
                             f"({run.toggles.addend_replayed}) differ from the sampled "
                             f"({run.toggles.by_class['addend']})")
    return {"layer": layer, "array": f"{rows}x{rows}", "slice": f"{size}x{size}",
            "tokens": int(x_q.shape[0]), "seed": seed, "runs": [r.to_dict() for r in runs]}
