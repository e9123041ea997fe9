# SPDX-License-Identifier: BSD-2-Clause
"""The perplexity table's machinery: the standard-library corpus, the no-repeat sampler,
resumable training, the sweep's plan and driver, and the report rendered from records."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from golden.__main__ import main
from golden.data import STDLIB_3_11_7, WindowSampler, load_corpus
from golden.experiments import FAMILIES, SWEEP_TRAIN, Run, Sweep, load_results, run_sweep
from golden.model import ModelConfig
from golden.report import (
    CLAIMS,
    render_readme_table,
    render_results,
    replace_between_markers,
    summarize,
)
from golden.train import TrainConfig, train

TINY_MODEL = {"dim": 32, "n_layers": 1, "n_heads": 2, "ffn_dim": 64, "max_seq_len": 32}
TINY_TRAIN = {**SWEEP_TRAIN, "steps": 4, "batch_size": 2, "seq_len": 32, "eval_every": 2,
              "save_every": 2, "corpus": "pydoc"}


@pytest.fixture(scope="module")
def stdlib():
    return load_corpus("stdlib")


def test_stdlib_corpus_is_the_recorded_library_split_by_whole_files(stdlib):
    d = stdlib.describe()
    assert d["sha256"] == STDLIB_3_11_7["sha256"]
    assert d["train_docs"] + d["val_docs"] == STDLIB_3_11_7["files"] == 1790
    assert d["val_docs"] == 36 and not set(stdlib.train_docs) & set(stdlib.val_docs)
    assert d["train_bytes"] > 30_000_000 and 200_000 < d["val_bytes"] < 400_000
    assert "os.py" in stdlib.train_docs + stdlib.val_docs


def test_a_different_library_is_refused_naming_what_differs():
    wrong = {**STDLIB_3_11_7, "files": 1789, "sha256": "0" * 64}
    with pytest.raises(ValueError, match=r"files 1790 \(expected 1789\).*sha256 .*--any-stdlib"):
        load_corpus("stdlib", expect=wrong)
    with pytest.raises(ValueError, match="unknown corpus 'wiki'"):
        load_corpus("wiki")


def test_the_window_sampler_never_repeats_a_byte():
    data = torch.arange(1000) % 251
    s = WindowSampler(data, batch_size=3, seq_len=9, seed=5, steps=33)   # 99 of 100 windows
    starts = []
    for step in range(33):
        x, y = s.batch(step)
        assert torch.equal(x[:, 1:], y[:, :-1])
        starts += [int(s.order[step * 3 + i]) for i in range(3)]
    assert len(set(starts)) == 99
    again = WindowSampler(data, batch_size=3, seq_len=9, seed=5, steps=33)
    assert torch.equal(again.batch(7)[0], s.batch(7)[0])
    with pytest.raises(ValueError, match=r"34 steps .* 102 windows .* holds 100: the run would "
                                         r"see its data twice; use at most 33 steps"):
        WindowSampler(data, batch_size=3, seq_len=9, seed=5, steps=34)


def test_a_run_too_long_for_the_small_corpus_is_refused():
    tc = TrainConfig(steps=2000, batch_size=16, seq_len=256, sampler="once", threads=1)
    with pytest.raises(ValueError, match="would see its data twice"):
        train(ModelConfig(family="b158", **TINY_MODEL), tc, progress=False)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("family", ["b158", "float"])
def test_an_interrupted_run_resumes_exactly(family, tmp_path):
    mc = ModelConfig(family=family, **TINY_MODEL)
    tc = TrainConfig(**{**TINY_TRAIN, "steps": 6, "eval_every": 5, "lr": 4e-3})
    whole = train(mc, tc, progress=False)
    state = tmp_path / "run.state"

    def stop(record):
        raise _Stop(record["step"])

    with pytest.raises(_Stop):
        train(mc, tc, progress=False, state_path=state, on_eval=stop)   # stops after step 5
    assert torch.load(state, weights_only=False)["step"] == 4
    resumed = train(mc, tc, progress=False, state_path=state)
    for (name, a), (_, b) in zip(whole.model.state_dict().items(),
                                 resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in whole.history]
    other = dataclasses.replace(tc, lr=1e-3)
    with pytest.raises(ValueError, match="belongs to another configuration"):
        train(mc, other, progress=False, state_path=state)


def _record(name, loss, *, acc=0.5, history=(), corpus="c" * 64):
    run = Run.parse(name)
    return {"name": name, "eval": {"loss": loss, "ppl": 2.718281828 ** loss, "bpb": loss / 0.693,
                                   "acc": acc},
            "seconds": 60.0, "train_config": {**SWEEP_TRAIN, "lr": run.lr, "seed": run.seed},
            "model_config": ModelConfig(family=FAMILIES[run.family].model["family"],
                                        **TINY_MODEL).to_dict(),
            "corpus": {"source": "stdlib", "python": "3.11.7", "train_docs": 1754,
                       "val_docs": 36, "train_bytes": 31241138, "val_bytes": 287662,
                       "sha256": corpus},
            "torch": "2.13.0+cpu", "machine": "x86_64, 2 cpus",
            "history": list(history) or [{"step": 100, "val": {"loss": loss + 1}},
                                         {"step": 500, "val": {"loss": loss}}]}


def test_the_plan_picks_the_best_rate_then_seeds_and_waits_for_the_teacher():
    sweep = Sweep(families=("float", "onebit"), seeds=3)
    assert [r.name for r in sweep.runs({})] == ["float-lr0.0005-s0", "float-lr0.001-s0",
                                                "float-lr0.002-s0"]
    results = {n: _record(n, loss) for n, loss in [("float-lr0.0005-s0", 1.3),
                                                    ("float-lr0.001-s0", 1.1),
                                                    ("float-lr0.002-s0", 1.2)]}
    names = [r.name for r in sweep.runs(results)]
    assert names[3:] == ["float-lr0.001-s1", "float-lr0.001-s2", "onebit-lr0.001-s0",
                         "onebit-lr0.002-s0", "onebit-lr0.004-s0"]
    cmd = sweep.command(Run("onebit", 1e-3, 0), results, runs_dir=Path("r"),
                        results_dir=Path("x"))
    assert cmd[cmd.index("--teacher") + 1] == "r/float-lr0.001-s0.safetensors"
    assert cmd[cmd.index("--schedule") + 1] == "cosine" and "--corpus" in cmd
    assert sweep.total() == 10
    assert Run.parse("b158-twn-lr0.008-s2") == Run("b158-twn", 0.008, 2)
    assert Run.parse("cli") is None and Run.parse("nope-lr0.1-s0") is None
    # A best rate at an edge extends the grid beyond it, at most twice.
    edge = {n: _record(n, loss) for n, loss in [("float-lr0.0005-s0", 1.0),
                                                 ("float-lr0.001-s0", 1.1),
                                                 ("float-lr0.002-s0", 1.2)]}
    assert sweep.grid("float", edge) == (0.00025, 0.0005, 0.001, 0.002)
    assert sweep.best_lr("float", edge) is None and sweep.total(edge) == 11
    edge["float-lr0.00025-s0"] = _record("float-lr0.00025-s0", 1.05)
    assert sweep.best_lr("float", edge) == 0.0005
    edge["float-lr0.00025-s0"] = _record("float-lr0.00025-s0", 0.9)
    assert sweep.grid("float", edge)[0] == 0.000125 and sweep.best_lr("float", edge) is None
    edge["float-lr0.000125-s0"] = _record("float-lr0.000125-s0", 0.8)
    assert sweep.grid("float", edge)[0] == 0.000125                    # no third extension
    assert sweep.best_lr("float", edge) == 0.000125
    with pytest.raises(ValueError, match="family onebit is distilled from float: sweep float"):
        Sweep(families=("onebit",))
    with pytest.raises(ValueError, match="unknown family 'fp8'"):
        Sweep(families=("fp8",))
    with pytest.raises(ValueError, match="seeds must be a positive integer, not 0"):
        Sweep(seeds=0)


def test_the_report_shows_mean_and_std_over_seeds_and_the_claims():
    sweep = Sweep(families=("float", "b158", "onebit"), seeds=2, max_extend=0)
    losses = {"float-lr0.0005-s0": 1.30, "float-lr0.001-s0": 1.20, "float-lr0.002-s0": 1.25,
              "float-lr0.001-s1": 1.22,
              "b158-lr0.002-s0": 1.40, "b158-lr0.004-s0": 1.35, "b158-lr0.008-s0": 1.30,
              "b158-lr0.008-s1": 1.34,
              "onebit-lr0.001-s0": 1.5}
    results = {n: _record(n, v, acc=0.40 if n.startswith("onebit") else 0.5)
               for n, v in losses.items()}
    summary = summarize(results, sweep)
    assert summary["float"].best_lr == 0.001 and not summary["float"].best_at_edge
    assert summary["b158"].best_lr == 0.008 and summary["b158"].best_at_edge
    mean, std = summary["float"].mean_std("loss")
    assert mean == pytest.approx(1.21) and std == pytest.approx(0.0141421, rel=1e-4)
    assert summary["onebit"].best_lr is None and not summary["onebit"].runs
    md = render_results(results, sweep, {}, None)
    assert "| float | float baseline" in md and "| 0.001 | 1.2100 ± 0.0141 |" in md
    assert "0.008 (edge of the grid)" in md and "(to run)" in md
    assert "9 of 6 runs recorded" not in md and "runs recorded" in md
    b158_ratio = summary["b158"].mean_std("ppl")[0] / summary["float"].mean_std("ppl")[0]
    assert f"| {b158_ratio:.3f} | yes |" in md           # trails float: agrees with the paper
    table = render_readme_table(summary, sweep)
    assert "| onebit | 1 | sweeping | not yet run |" in table
    assert "| float | 32 | 0.001 | 3.354 ± 0.047 | 1.000 |" in table
    assert len(CLAIMS) == 3
    mixed = {**results, "float-lr0.0005-s0": _record("float-lr0.0005-s0", 1.3, corpus="d" * 64)}
    with pytest.raises(ValueError, match="2 different corpora"):
        render_results(mixed, sweep, {}, None)


def test_readme_markers_are_replaced_and_missing_ones_named():
    text = "a\n<!-- perplexity-table -->\nold\n<!-- /perplexity-table -->\nb\n"
    assert replace_between_markers(text, "new\n") == ("a\n<!-- perplexity-table -->\nnew\n"
                                                      "<!-- /perplexity-table -->\nb\n")
    with pytest.raises(ValueError, match=r"markers .* missing"):
        replace_between_markers("no markers", "x")


def test_the_sweep_driver_runs_resumably_and_reports_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path / "build"))     # the runs' logs
    sweep = Sweep(families=("b158",), seeds=2, lrs=(2e-3, 4e-3), train=TINY_TRAIN,
                  model=TINY_MODEL, max_extend=0)
    lines = []
    assert run_sweep(sweep, jobs=2, runs_dir=tmp_path / "runs", results_dir=tmp_path / "res",
                     poll=0.2, echo=lines.append) == 0
    results = load_results(tmp_path / "res")
    best = sweep.best_lr("b158", results)
    assert set(results) == {"b158-lr0.002-s0", "b158-lr0.004-s0", f"b158-lr{best:g}-s1"}
    record = results["b158-lr0.002-s0"]
    assert record["corpus"]["source"] == "pydoc" and record["train_config"]["sampler"] == "once"
    assert not list((tmp_path / "runs").glob("*.state"))
    # Run again: nothing left to do.
    lines.clear()
    assert run_sweep(sweep, jobs=2, runs_dir=tmp_path / "runs", results_dir=tmp_path / "res",
                     poll=0.2, echo=lines.append) == 0
    assert lines == []
    bad = Sweep(families=("bitnet1",), seeds=1, lrs=(2e-3,),
                train={**TINY_TRAIN, "steps": 100000}, model=TINY_MODEL, max_extend=0)
    assert run_sweep(bad, jobs=1, runs_dir=tmp_path / "runs", results_dir=tmp_path / "res",
                     poll=0.2, echo=lines.append) == 1
    assert any(line.startswith("FAILED bitnet1-lr0.002-s0") for line in lines)
    log = (tmp_path / "runs" / "logs" / "bitnet1-lr0.002-s0.out").read_text()
    assert "would see its data twice" in log
    assert json.loads(json.dumps(record))["eval"]["acc"] > 0
    # The report, from these records alone.
    out = tmp_path / "RESULTS.md"
    assert main(["report", "--results", str(tmp_path / "res"), "--out", str(out), "--readme",
                 "", "--seeds", "2", "--lrs", "0.002,0.004", "--max-extend", "0"]) == 0
    text = out.read_text()
    assert f"| b158 | BitNet b1.58, absmean ternary, int8 activations | 1.58 (2 stored) | " \
           f"{best:g} |" in text
    assert "![validation loss](res/val_loss.png)" in text
    assert (tmp_path / "res" / "val_loss.png").stat().st_size > 10_000
    assert "| tiny-b158 |" in text                       # the shipped checkpoints' section
