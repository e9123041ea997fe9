# SPDX-License-Identifier: BSD-2-Clause
"""The training runs behind the perplexity table and the shipped checkpoints, and the table.

Every run trains the same decoder shape (4 layers, width 256, 4 heads, gated FFN 768, context
256 bytes) on the same data with the same schedule and seed; runs differ only in the linear
layer (and OneBit in its distillation from the float run). ``python -m golden train --preset
NAME`` runs one; ``python -m golden report`` renders the results as Markdown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PRESETS", "Preset", "load_results", "render_table"]


@dataclass(frozen=True)
class Preset:
    """One training run: model options, training options, an optional teacher preset."""

    description: str
    model: dict
    train: dict = field(default_factory=dict)
    teacher: str | None = None
    shipped: bool = False


_TRAIN = {"steps": 500, "batch_size": 16, "seq_len": 256, "lr": 2e-3, "min_lr": 1e-4,
          "warmup": 30, "schedule": "twostage", "weight_decay": 0.1, "grad_clip": 1.0,
          "seed": 0, "eval_every": 100, "threads": 1}

PRESETS: dict[str, Preset] = {
    "float": Preset("float baseline (fp32 weights and activations)", {"family": "float"},
                    _TRAIN),
    "tiny-b158": Preset("BitNet b1.58, absmean ternary, int8 activations", {"family": "b158"},
                        _TRAIN, shipped=True),
    "b158-twn": Preset("BitNet b1.58 with TWN threshold ternarization (0.7 mean|W| per row)",
                       {"family": "b158", "weight_quant": "twn"}, _TRAIN),
    "tiny-bitnet1": Preset("BitNet 1-bit, sign(W - alpha), 4 groups, int8 activations",
                           {"family": "bitnet1", "groups": 4}, _TRAIN, shipped=True),
    "tiny-onebit": Preset("OneBit, SVID (NMF) from the float run, distilled, int8 activations",
                          {"family": "onebit"}, _TRAIN, teacher="float", shipped=True),
}

_BITS = {"float": "32", "b158": "1.58 (2 stored)", "bitnet1": "1", "onebit": "1"}


def load_results(directory: Path) -> dict[str, dict]:
    """The JSON result of every run in ``directory``, by run name."""
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        out[data["name"]] = data
    return out


def render_table(results: dict[str, dict]) -> str:
    """Markdown table of validation perplexity, in preset order, as measured."""
    if not results:
        raise ValueError("no training results to render; run `python -m golden train "
                         "--preset NAME` first")
    base = results.get("float", {}).get("eval", {}).get("ppl")
    lines = ["| run | weights | bits/weight | val loss (nats/byte) | val ppl (per byte) | "
             "bits/byte | ppl / float ppl | train time | checkpoint |",
             "|---|---|---|---|---|---|---|---|---|"]
    order = [n for n in PRESETS if n in results] + sorted(set(results) - set(PRESETS))
    for name in order:
        r = results[name]
        ev = r["eval"]
        ratio = f"{ev['ppl'] / base:.3f}" if base else "n/a"
        size = f"{r['checkpoint_bytes'] / 1e6:.2f} MB" if r.get("checkpoint_bytes") else ""
        fam = r["model_config"]["family"]
        lines.append(f"| {name} | {r['description']} | {_BITS[fam]} | {ev['loss']:.4f} | "
                     f"{ev['ppl']:.3f} | {ev['bpb']:.3f} | {ratio} | "
                     f"{r['seconds'] / 60:.1f} min | {size} |")
    return "\n".join(lines) + "\n"
