# SPDX-License-Identifier: BSD-2-Clause
"""Figures of the energy report (matplotlib), from the computed values only."""

from __future__ import annotations

from pathlib import Path

from .pricing import COMPONENTS

__all__ = ["plot"]


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
