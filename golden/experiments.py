# SPDX-License-Identifier: BSD-2-Clause
"""The training runs behind the perplexity table and the shipped checkpoints, and the table.

Every run trains the same decoder shape (4 layers, width 256, 4 heads, gated FFN 768, context
256 bytes) on the same data with the same schedule and seed; runs differ only in the linear
layer (and OneBit in its distillation from the float run). ``python -m golden train --preset
NAME`` runs one; ``python -m golden report`` renders the results as Markdown.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FAMILIES", "PRESETS", "SWEEP_TRAIN", "Family", "Preset", "Run", "Sweep", "load_results",
           "run_sweep"]


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


# --- The perplexity table: a learning-rate sweep per family, then seeds at the best rate ---


@dataclass(frozen=True)
class Family:
    """One row of the perplexity table: the model options, the schedule of its paper's recipe,
    the learning rates swept, and the family it is distilled from (OneBit)."""

    description: str
    model: dict
    schedule: str
    lrs: tuple[float, ...]
    teacher: str | None = None


FAMILIES: dict[str, Family] = {
    "float": Family("float baseline (fp32 weights and activations)", {"family": "float"},
                    "cosine", (5e-4, 1e-3, 2e-3)),
    "b158": Family("BitNet b1.58, absmean ternary, int8 activations", {"family": "b158"},
                   "twostage", (2e-3, 4e-3, 8e-3)),
    "b158-twn": Family("BitNet b1.58 with TWN threshold ternarization (0.7 mean|W| per row)",
                       {"family": "b158", "weight_quant": "twn"}, "twostage",
                       (2e-3, 4e-3, 8e-3)),
    "bitnet1": Family("BitNet 1-bit, sign(W - alpha), 4 groups, int8 activations",
                      {"family": "bitnet1", "groups": 4}, "twostage", (2e-3, 4e-3, 8e-3)),
    "onebit": Family("OneBit, SVID (NMF) from the float run, distilled, int8 activations",
                     {"family": "onebit"}, "cosine", (1e-3, 2e-3, 4e-3), teacher="float"),
}

#: Training options shared by every run of the table (the learning rate, schedule and seed
#: vary): 500 steps of 16 x 256 bytes (2.06 MB, 6.6% of the training text: no byte twice).
SWEEP_TRAIN = {"steps": 500, "batch_size": 16, "seq_len": 256, "min_lr": 1e-4, "warmup": 30,
               "weight_decay": 0.1, "grad_clip": 1.0, "eval_every": 100, "threads": 1,
               "corpus": "stdlib", "sampler": "once", "save_every": 50}

#: The board models (golden.formats.BOARD_MODELS): BitNet b1.58 sized so that every BitLinear
#: stays resident in the board's weight memory (hw/boards.py; the arithmetic is in the README,
#: *Run it on a board*, and tests/golden/test_board_models.py checks it), trained on the
#: standard-library corpus like the runs of the perplexity table, on one thread, with as many
#: steps as fit in about a quarter of an hour on one core.
_BOARD_TRAIN = {**SWEEP_TRAIN, "lr": 2e-3, "schedule": "twostage", "seed": 0, "save_every": 0,
                "eval_every": 500}

PRESETS.update({
    "icebreaker-b158": Preset(
        "BitNet b1.58 for the iCEBreaker: 2 layers, width 32, 2 heads, FFN 40",
        {"family": "b158", "n_layers": 2, "dim": 32, "n_heads": 2, "ffn_dim": 40},
        {**_BOARD_TRAIN, "steps": 2000}, shipped=True),
    "ulx3s-b158": Preset(
        "BitNet b1.58 for the ULX3S: 4 layers, width 64, 4 heads, FFN 256",
        {"family": "b158", "n_layers": 4, "dim": 64, "n_heads": 4, "ffn_dim": 256},
        {**_BOARD_TRAIN, "steps": 600, "eval_every": 200}, shipped=True),
})

#: Where the table's result records are committed.
RESULTS_DIR = Path(__file__).parent / "results"

_RUN_NAME = re.compile(r"^(?P<family>[a-z0-9-]+?)-lr(?P<lr>[0-9.e-]+)-s(?P<seed>\d+)$")


@dataclass(frozen=True)
class Run:
    family: str
    lr: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.family}-lr{self.lr:g}-s{self.seed}"

    @classmethod
    def parse(cls, name: str) -> Run | None:
        m = _RUN_NAME.match(name)
        if not m or m["family"] not in FAMILIES:
            return None
        return cls(m["family"], float(m["lr"]), int(m["seed"]))


@dataclass(frozen=True)
class Sweep:
    """The runs of the table and their order: every family at every rate of its grid with seed
    0; once a family's grid is done, seeds 1 .. seeds-1 at its best rate (lowest validation
    loss). A distilled family waits for its teacher family's best seed-0 run."""

    families: tuple[str, ...] = tuple(FAMILIES)
    seeds: int = 3
    lrs: tuple[float, ...] | None = None     # one grid for every family (default: their own)
    train: dict = field(default_factory=lambda: dict(SWEEP_TRAIN))
    model: dict = field(default_factory=dict)
    max_extend: int = 2

    def __post_init__(self):
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown family {unknown[0]!r}; choose from "
                             f"{', '.join(FAMILIES)}")
        for f in self.families:
            t = FAMILIES[f].teacher
            if t and t not in self.families:
                raise ValueError(f"family {f} is distilled from {t}: sweep {t} too")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"seeds must be a positive integer, not {self.seeds!r}")
        if (isinstance(self.max_extend, bool) or not isinstance(self.max_extend, int)
                or self.max_extend < 0):
            raise ValueError(f"max_extend must be a non-negative integer, not "
                             f"{self.max_extend!r}")

    def grid(self, family: str, results: dict[str, dict] | None = None) -> tuple[float, ...]:
        """The rates swept for ``family``: its grid (or the sweep's ``lrs``), extended by a
        factor of 2 beyond an edge while the best finished rate sits at that edge (at most
        :attr:`max_extend` times), so that the optimum is bracketed."""
        lrs = sorted(self.lrs or FAMILIES[family].lrs)
        for _ in range(self.max_extend):
            losses = self._losses(family, lrs, results or {})
            if losses is None:
                break
            best = min(losses, key=losses.get)
            if best == lrs[0]:
                lrs.insert(0, best / 2)
            elif best == lrs[-1]:
                lrs.append(best * 2)
            else:
                break
        return tuple(lrs)

    @staticmethod
    def _losses(family, lrs, results) -> dict[float, float] | None:
        names = {lr: Run(family, lr, 0).name for lr in lrs}
        if not all(n in results for n in names.values()):
            return None
        return {lr: results[n]["eval"]["loss"] for lr, n in names.items()}

    def best_lr(self, family: str, results: dict[str, dict]) -> float | None:
        """The rate of the family's best seed-0 run, once its whole grid has finished."""
        losses = self._losses(family, self.grid(family, results), results)
        return None if losses is None else min(losses, key=losses.get)

    def runs(self, results: dict[str, dict]) -> list[Run]:
        """Every run whose prerequisites are met, in order (finished ones included)."""
        out = []
        for f in self.families:
            teacher = FAMILIES[f].teacher
            if teacher and self.best_lr(teacher, results) is None:
                continue
            out += [Run(f, lr, 0) for lr in self.grid(f, results)]
            best = self.best_lr(f, results)
            if best is not None:
                out += [Run(f, best, s) for s in range(1, self.seeds)]
        return out

    def total(self, results: dict[str, dict] | None = None) -> int:
        """Runs in the sweep as far as ``results`` tell (a grid may still be extended)."""
        return sum(len(self.grid(f, results)) + self.seeds - 1 for f in self.families)

    def command(self, run: Run, results: dict[str, dict], *, runs_dir: Path,
                results_dir: Path) -> list[str]:
        fam = FAMILIES[run.family]
        opts = {**fam.model, **self.model, **self.train, "schedule": fam.schedule,
                "lr": run.lr, "seed": run.seed}
        argv = [sys.executable, "-m", "golden", "train", "--name", run.name, "--no-progress",
                "--out", str(runs_dir / f"{run.name}.safetensors"),
                "--results", str(results_dir)]
        for key, value in opts.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        if fam.teacher:
            best = Run(fam.teacher, self.best_lr(fam.teacher, results), 0)
            argv += ["--teacher", str(runs_dir / f"{best.name}.safetensors")]
        return argv


def run_sweep(sweep: Sweep, *, jobs: int, runs_dir: Path, results_dir: Path,
              poll: float = 5.0, echo=print) -> int:
    """Run every run of ``sweep`` not yet in ``results_dir``, ``jobs`` at a time, each a
    ``python -m golden train`` process (resumable: an interrupted sweep, run again, continues
    each unfinished run from its last saved state). Returns the number of failed runs."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    logs = runs_dir / "logs"
    logs.mkdir(exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    failed: set[str] = set()
    while True:
        results = load_results(results_dir)
        todo = [r for r in sweep.runs(results)
                if r.name not in results and r.name not in running and r.name not in failed]
        while todo and len(running) < jobs:
            run = todo.pop(0)
            argv = sweep.command(run, results, runs_dir=runs_dir, results_dir=results_dir)
            echo(f"[{len(results)}/{sweep.total(results)} done] start {run.name}")
            with open(logs / f"{run.name}.out", "a") as out:
                running[run.name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        if not running:
            break
        time.sleep(poll)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode:
                    failed.add(name)
                    echo(f"FAILED {name} (exit {proc.returncode}); see {logs / name}.out")
                else:
                    echo(f"done {name}")
    return len(failed)


def load_results(directory: Path) -> dict[str, dict]:
    """The JSON result of every run in ``directory``, by run name."""
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        out[data["name"]] = data
    return out
