# SPDX-License-Identifier: BSD-2-Clause
"""The perplexity table, rendered from the result records only: ``python -m golden report``.

Reads the records of :func:`golden.experiments.run_sweep` (``golden/results/*.json``, committed)
and the metadata of the shipped checkpoints, and writes golden/RESULTS.md, the README's table
(between the ``<!-- perplexity-table -->`` markers) and a plot of validation loss against steps.
Nothing is measured here: every number comes from a record.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .experiments import _BITS, FAMILIES, Run, Sweep

__all__ = [
    "CLAIMS",
    "FamilySummary",
    "plot_history",
    "render_board_checkpoints",
    "render_readme_table",
    "render_results",
    "replace_between_markers",
    "summarize",
]

README_BEGIN = "<!-- perplexity-table -->"
README_END = "<!-- /perplexity-table -->"


@dataclass(frozen=True)
class FamilySummary:
    """One family's sweep (seed-0 validation loss by rate) and its runs at the best rate."""

    family: str
    grid: dict[float, float | None]          # lr -> val loss of the seed-0 run (None: not run)
    best_lr: float | None
    runs: tuple[dict, ...]                   # the records at the best rate, by seed

    def mean_std(self, key: str) -> tuple[float, float | None]:
        values = [r["eval"][key] for r in self.runs]
        std = statistics.stdev(values) if len(values) > 1 else None
        return statistics.fmean(values), std

    @property
    def best_at_edge(self) -> bool:
        lrs = sorted(self.grid)
        return self.best_lr is not None and len(lrs) > 1 and self.best_lr in (lrs[0], lrs[-1])


def summarize(results: dict[str, dict], sweep: Sweep) -> dict[str, FamilySummary]:
    out = {}
    for fam in sweep.families:
        grid = {lr: (results[Run(fam, lr, 0).name]["eval"]["loss"]
                     if Run(fam, lr, 0).name in results else None)
                for lr in sweep.grid(fam, results)}
        best = sweep.best_lr(fam, results)
        runs = tuple(results[Run(fam, best, s).name] for s in range(sweep.seeds)
                     if best is not None and Run(fam, best, s).name in results)
        out[fam] = FamilySummary(fam, grid, best, runs)
    return out


def _params(record: dict) -> str:
    """Parameter count of the record's model, from its configuration."""
    from .model import Decoder, ModelConfig

    model = Decoder(ModelConfig(**record["model_config"]), seed=0)
    n = sum(p.numel() for p in model.parameters())
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def _pm(mean: float, std: float | None, digits: int) -> str:
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else " (1 seed)")


def _ratio(summary: dict[str, FamilySummary], fam: str, base: str, key: str = "ppl"):
    a, b = summary.get(fam), summary.get(base)
    if not (a and b and a.runs and b.runs):
        return None
    return a.mean_std(key)[0] / b.mean_std(key)[0]


#: Published claims the table is held against: (families compared, what the paper says, how the
#: measured number is computed, function of the summary giving it, what "agrees" means).
CLAIMS = (
    ("b158 vs float",
     "BitNet b1.58 trails a full-precision LLaMA at small scale and matches it from 3B "
     "parameters on: perplexity 12.87 vs 12.33 at 700M (ratio 1.044), 11.29 vs 11.25 at 1.3B, "
     "9.91 vs 10.04 at 3B (0.987) (Ma et al. 2024, \"The Era of 1-bit LLMs\", Table 1)",
     "val ppl of b158 / val ppl of float (means over seeds)",
     lambda s: _ratio(s, "b158", "float"), lambda r: r > 1.0, "trails (ratio > 1)"),
    ("bitnet1 vs b158",
     "1-bit BitNet trails BitNet b1.58 (the ternary weight is what closes the gap to full "
     "precision; Ma et al. 2024)",
     "val ppl of bitnet1 / val ppl of b158",
     lambda s: _ratio(s, "bitnet1", "b158"), lambda r: r > 1.0, "trails (ratio > 1)"),
    ("onebit vs float",
     "OneBit keeps at least 83% of the non-quantized performance (the first version's "
     "abstract), at least 81% on LLaMA models (later versions; Xu et al. 2024, arXiv "
     "2402.11295); performance there is average zero-shot accuracy",
     "next-byte top-1 accuracy of onebit / that of float on the validation text (the nearest "
     "thing to task accuracy a byte-level model this small has); perplexity ratio beside it",
     lambda s: _ratio(s, "onebit", "float", "acc"), lambda r: r >= 0.83, ">= 0.83"),
)


def render_readme_table(summary: dict[str, FamilySummary], sweep: Sweep) -> str:
    lines = ["| family | bits/weight | best lr | val ppl (mean ± std) | ppl / float ppl | "
             "next-byte accuracy | seeds |",
             "|---|---|---|---|---|---|---|"]
    for fam, s in summary.items():
        if not s.runs:
            lines.append(f"| {fam} | {_BITS[FAMILIES[fam].model['family']]} | "
                         f"{'sweeping' if s.best_lr is None else f'{s.best_lr:g}'} | "
                         f"not yet run | | | 0 of {sweep.seeds} |")
            continue
        ppl = s.mean_std("ppl")
        acc = s.mean_std("acc")
        ratio = _ratio(summary, fam, "float")
        lines.append(f"| {fam} | {_BITS[FAMILIES[fam].model['family']]} | {s.best_lr:g} | "
                     f"{_pm(*ppl, 3)} | {'n/a' if ratio is None else f'{ratio:.3f}'} | "
                     f"{_pm(*acc, 3)} | {len(s.runs)} of {sweep.seeds} |")
    return "\n".join(lines) + "\n"


def _setup_text(results: dict[str, dict], sweep: Sweep) -> list[str]:
    any_run = next(iter(results.values()))
    corpus, tc, mc = any_run["corpus"], any_run["train_config"], any_run["model_config"]
    corpora = {r["corpus"]["sha256"] for r in results.values()}
    if len(corpora) != 1:
        raise ValueError(f"the records were trained on {len(corpora)} different corpora "
                         f"(sha256 {', '.join(sorted(c[:12] for c in corpora))}); a table "
                         f"must compare runs on one")
    seen = tc["steps"] * tc["batch_size"] * (tc["seq_len"] + 1)
    schedules = ", ".join(f"{f} {FAMILIES[f].schedule}" for f in sweep.families)
    threads = sorted({r["train_config"]["threads"] for r in results.values()})
    machines = sorted({r["machine"] for r in results.values()})
    return [
        f"Data: `{corpus['source']}` corpus of Python {corpus['python']}: "
        f"{corpus['train_docs'] + corpus['val_docs']} files, {corpus['train_bytes']} training "
        f"bytes ({corpus['train_docs']} files), {corpus['val_bytes']} validation bytes "
        f"({corpus['val_docs']} held-out files), sha256 `{corpus['sha256'][:16]}...`. "
        f"Byte-level tokens (vocabulary 256); perplexity is per byte.",
        "",
        f"Model (every run): {mc['n_layers']} layers, width {mc['dim']}, {mc['n_heads']} heads, "
        f"gated FFN {mc['ffn_dim']}, context {mc['max_seq_len']} bytes.",
        "",
        f"Training (every run): {tc['steps']} steps of {tc['batch_size']} x {tc['seq_len']} "
        f"bytes, {seen} bytes seen ({100 * seen / corpus['train_bytes']:.1f}% of the training "
        f"text, each byte at most once: `{tc['sampler']}` sampler), AdamW, warmup "
        f"{tc['warmup']}, min lr {tc['min_lr']}, weight decay {tc['weight_decay']}, gradient "
        f"clip {tc['grad_clip']}; each family with the schedule of its paper's recipe "
        f"({schedules}); {', '.join(map(str, threads))} thread(s) per run, two runs side by "
        f"side, torch {any_run['torch']} on {', '.join(machines)}. Quantized models are "
        f"evaluated after saving and reloading their checkpoint, through the integer path.",
    ]


def render_results(results: dict[str, dict], sweep: Sweep, shipped: dict[str, dict],
                   plot: str | None, boards: dict[str, tuple[dict, int]] | None = None) -> str:
    """golden/RESULTS.md from the records (``results``) and the info of the shipped
    checkpoints and of the board checkpoints (``boards``), each ``(info, file bytes)``."""
    if not results:
        raise ValueError("no training results to render; run `python -m golden sweep` first")
    summary = summarize(results, sweep)
    done = sum(Run.parse(n) is not None for n in results)
    text = [
        "# Golden model: validation perplexity of the five families",
        "",
        "Generated by `python -m golden report` from the result records in `golden/results/` "
        "(one per run of `python -m golden sweep`). Numbers are as measured.",
        "",
        *_setup_text(results, sweep),
        "",
        f"Protocol: a learning-rate sweep per family at seed 0, the best rate by validation "
        f"loss, then seeds 1 .. {sweep.seeds - 1} at that rate; mean ± sample standard "
        f"deviation over the seeds. {done} of {sweep.total(results)} runs recorded"
        + ("." if done >= sweep.total(results) else "; rows with fewer seeds say so."),
        "",
        "## Results at each family's best learning rate",
        "",
        "| family | weights | bits/weight | best lr | val loss (nats/byte) | val ppl (per byte) "
        "| bits/byte | next-byte accuracy | ppl / float ppl | train time per run | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fam, s in summary.items():
        f = FAMILIES[fam]
        if not s.runs:
            text.append(f"| {fam} | {f.description} | {_BITS[f.model['family']]} | "
                        f"{'(sweep unfinished)' if s.best_lr is None else f'{s.best_lr:g}'} "
                        f"| | | | | | | 0 |")
            continue
        ratio = _ratio(summary, fam, "float")
        minutes = statistics.fmean(r["seconds"] for r in s.runs) / 60
        text.append(f"| {fam} | {f.description} | {_BITS[f.model['family']]} | "
                    f"{s.best_lr:g} | {_pm(*s.mean_std('loss'), 4)} | "
                    f"{_pm(*s.mean_std('ppl'), 3)} | {_pm(*s.mean_std('bpb'), 3)} | "
                    f"{_pm(*s.mean_std('acc'), 4)} | "
                    f"{'n/a' if ratio is None else f'{ratio:.3f}'} | {minutes:.1f} min | "
                    f"{len(s.runs)} |")
    text += ["", "## Learning-rate sweep (seed 0, validation loss in nats/byte)", ""]
    lrs = sorted({lr for s in summary.values() for lr in s.grid})
    text += ["| family | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | best |",
             "|---|" + "---|" * (len(lrs) + 1)]
    for fam, s in summary.items():
        cells = []
        for lr in lrs:
            if lr not in s.grid:
                cells.append("")
            elif s.grid[lr] is None:
                cells.append("(to run)")
            else:
                mark = "**" if lr == s.best_lr else ""
                cells.append(f"{mark}{s.grid[lr]:.4f}{mark}")
        best = "" if s.best_lr is None else f"{s.best_lr:g}" + (
            " (edge of the grid)" if s.best_at_edge else "")
        text.append(f"| {fam} | " + " | ".join(cells) + f" | {best} |")
    text += ["", f"Each family's grid is extended by a factor of 2 beyond an edge while its best "
             f"rate sits there (at most {sweep.max_extend} times); a best rate still at the edge "
             f"of its grid means the sweep did not bracket the optimum, and the table then "
             f"understates that family by an unknown amount.", ""]
    text += ["## Against the published claims", "",
             "| comparison | published | measured as | measured | agrees |",
             "|---|---|---|---|---|"]
    for name, claim, how, value, agrees, want in CLAIMS:
        v = value(summary)
        cell = "not yet measured" if v is None else f"{v:.3f}"
        if name == "onebit vs float" and v is not None:
            cell += f" (ppl ratio {_ratio(summary, 'onebit', 'float'):.3f})"
        verdict = "" if v is None else ("yes" if agrees(v) else f"no (wanted {want})")
        text.append(f"| {name} | {claim} | {how} | {cell} | {verdict} |")
    any_run = next(iter(results.values()))
    tc = any_run["train_config"]
    seen = tc["steps"] * tc["batch_size"] * (tc["seq_len"] + 1)
    text += ["", f"Where the measurement and the paper disagree, the set-up differs in ways "
             f"the papers say matter: these models have {_params(any_run)} parameters (the "
             f"papers' smallest has 700 M), see {seen / 1e6:.1f} MB of text (the papers train "
             f"on 100 B tokens and more) and predict bytes, not subword tokens. OneBit's "
             f"paper distills a pretrained LLaMA into its 1-bit student; here the teacher is "
             f"the {tc['steps']}-step float run.", ""]
    if plot:
        text += ["## Validation loss against steps", "",
                 f"Each family at its best rate, mean over its seeds: ![validation loss]({plot})",
                 ""]
    text += ["## The shipped checkpoints", "",
             "`make sim`, `sim.generate` and the tests use these; they were trained earlier, "
             "on the small `pydoc_data.topics` corpus (prose, 430 kB, repeated about five "
             "times in 500 steps), so their perplexities are not comparable with the table "
             "above. Values from each checkpoint's own metadata:", "",
             "| run | weights | val ppl on pydoc_data.topics (per byte) | train time | "
             "checkpoint |", "|---|---|---|---|---|"]
    for name, (info, size) in shipped.items():
        text.append(f"| {name} | {info['description']} | {info['final_fake_quant']['ppl']:.3f} |"
                    f" {info['seconds'] / 60:.1f} min | {size / 1e6:.2f} MB |")
    if boards:
        text += render_board_checkpoints(boards)
    return "\n".join(text) + "\n"


def render_board_checkpoints(boards: dict[str, tuple[dict, int]]) -> list[str]:
    """The lines of RESULTS.md's section on the board checkpoints (``name -> (info, file
    bytes)``)."""
    text = ["", "## The board checkpoints", "",
            "Sized so that every BitLinear stays resident in a board's weight memory (the "
            "arithmetic is in the README, *Run it on a board*) and trained on the "
            "standard-library corpus of the table above, with its sampler and the b1.58 "
            "schedule, on one thread, for fewer steps (`python -m golden train --preset NAME`). "
            "Values from each checkpoint's own metadata (the fake-quantized forward, which "
            "computes what the integer path computes, over the whole validation text after "
            "the last step):", "",
            "| run | weights | steps | val ppl on the stdlib corpus (per byte) | next-byte "
            "accuracy | train time | checkpoint |", "|---|---|---|---|---|---|---|"]
    for name, (info, size) in boards.items():
        final = info["final_fake_quant"]
        text.append(f"| {name} | {info['description']} | {info['train_config']['steps']} | "
                    f"{final['ppl']:.3f} | {final['acc']:.4f} | {info['seconds'] / 60:.1f} min "
                    f"| {size / 1e3:.0f} kB |")
    return text


def plot_history(results: dict[str, dict], sweep: Sweep, path: Path) -> None:
    """Validation loss against steps, each family at its best rate (mean over its seeds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(results, sweep)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for fam, s in summary.items():
        if not s.runs:
            continue
        curves = [{h["step"]: h["val"]["loss"] for h in r["history"] if "val" in h}
                  for r in s.runs]
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        mean = [statistics.fmean(c[t] for c in curves) for t in steps]
        lo = [min(c[t] for c in curves) for t in steps]
        hi = [max(c[t] for c in curves) for t in steps]
        line, = ax.plot(steps, mean, marker="o", label=f"{fam} (lr {s.best_lr:g}, "
                        f"{len(s.runs)} seed{'s' if len(s.runs) > 1 else ''})")
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (nats/byte)")
    ax.set_title(f"Python standard library, bytes, {_params(next(iter(results.values())))} "
                 f"parameters")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replace_between_markers(text: str, body: str, *, begin: str = README_BEGIN,
                            end: str = README_END) -> str:
    """``text`` with what lies between ``begin`` and ``end`` replaced by ``body``."""
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"the markers {begin} and {end} are missing or out of order")
    return text[: i + len(begin)] + "\n" + body + text[j:]
