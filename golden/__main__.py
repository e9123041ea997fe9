# SPDX-License-Identifier: BSD-2-Clause
"""Command line of the golden model: ``python -m golden {train,eval,generate,info,...}``.

::

    python -m golden train --preset tiny-b158          # the shipped b1.58 model, reproduced
    python -m golden train --family b158 --steps 50 --out build/golden/runs/mine.safetensors
    python -m golden eval tiny-b158                    # validation perplexity (integer path)
    python -m golden generate tiny-b158 --prompt "The for statement" -n 200
    python -m golden generate tiny-b158 --prompt "x" --temperature 0.8 --seed 3
    python -m golden info tiny-b158                    # every BitLinear with its shape
    python -m golden export-hf tiny-b158 build/hf      # transformers BitNet checkpoint
    python -m golden import-hf build/hf build/golden/imported.safetensors
    python -m golden report                            # golden/RESULTS.md from the runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import fields
from pathlib import Path

import torch

from . import formats
from .contract.paths import build_root, repo_root
from .data import STDLIB_3_11_7, VOCAB_SIZE, decode, encode, load_corpus
from .experiments import (
    FAMILIES,
    PRESETS,
    RESULTS_DIR,
    SWEEP_TRAIN,
    Run,
    Sweep,
    load_results,
    run_sweep,
)
from .formats.native import CHECKPOINT_DIR
from .model import ModelConfig
from .report import (
    plot_history,
    render_readme_table,
    render_results,
    replace_between_markers,
    summarize,
)
from .train import TrainConfig, evaluate, train


def _build_dir() -> Path:
    return build_root() / "golden"


def _add_fields(parser: argparse.ArgumentParser, cls, title: str, skip=()) -> None:
    """One ``--field`` option per dataclass field; None means "not given" (preset or default)."""
    group = parser.add_argument_group(title)
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default: {f.default})")
        else:
            kind = int if f.default is None else type(f.default)
            group.add_argument(flag, type=kind, default=None, help=f"(default: {f.default})")


def _given(args, cls, skip=()) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(cls)
            if f.name not in skip and getattr(args, f.name) is not None}


def _cmd_train(args) -> None:
    if args.preset:
        preset = PRESETS[args.preset]
        name, description = args.preset, preset.description
        model_opts = {**preset.model, **_given(args, ModelConfig)}
        train_opts = {**preset.train, **_given(args, TrainConfig)}
        teacher_path = args.teacher or (
            _build_dir() / "runs" / f"{preset.teacher}.safetensors" if preset.teacher else None)
        default_out = (CHECKPOINT_DIR / formats.CHECKPOINTS[name] if preset.shipped
                       else _build_dir() / "runs" / f"{name}.safetensors")
    else:
        model_opts, train_opts = _given(args, ModelConfig), _given(args, TrainConfig)
        name = args.name or model_opts.get("family", "b158")
        description = args.name or f"custom {model_opts.get('family', 'b158')} run"
        teacher_path = args.teacher
        default_out = _build_dir() / "runs" / f"{name}.safetensors"
    model_config = ModelConfig(**model_opts)
    tc = TrainConfig(**train_opts)
    out = Path(args.out) if args.out else default_out
    teacher = None
    if teacher_path is not None:
        if not Path(teacher_path).is_file():
            raise ValueError(f"teacher checkpoint {teacher_path} does not exist; train the "
                             f"float run first (python -m golden train --preset float)")
        teacher = formats.load_model(teacher_path, int_mode=False)
    corpus = load_corpus(tc.corpus, expect=None if args.any_stdlib else STDLIB_3_11_7)
    logs = _build_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.jsonl"
    log_path.unlink(missing_ok=True)
    state_path = out.with_name(out.name + ".state") if tc.save_every else None
    result = train(model_config, tc, teacher=teacher, corpus=corpus, log_path=log_path,
                   progress=not args.no_progress, state_path=state_path)
    info = {"name": name, "description": description, "train_config": tc.to_dict(),
            "final_fake_quant": result.final, "corpus": corpus.describe(),
            "seconds": round(result.seconds, 1), "torch": torch.__version__,
            "teacher": str(teacher_path) if teacher_path else None}
    out.parent.mkdir(parents=True, exist_ok=True)
    formats.save_model(result.model, out, info=info)
    # The table reports the model as shipped: reloaded from disk, through the integer path.
    reloaded = formats.load_model(out)
    ev = evaluate(reloaded, corpus.val, seq_len=tc.seq_len)
    record = {**info, "model_config": model_config.to_dict(), "eval": ev,
              "eval_path": "integer" if model_config.family != "float" else "float",
              "checkpoint": str(out), "checkpoint_bytes": out.stat().st_size,
              "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
              "history": [h for h in result.history if "val" in h or h["step"] % 10 == 0]}
    results = Path(args.results) if args.results else _build_dir() / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    if state_path is not None:
        state_path.unlink(missing_ok=True)
    print(json.dumps({"name": name, "checkpoint": str(out), **ev}))


def _lrs(text: str | None) -> tuple[float, ...] | None:
    try:
        return tuple(float(x) for x in text.split(",")) if text else None
    except ValueError as e:
        raise ValueError(f"--lrs must be comma-separated numbers, not {text!r}") from e


def _cmd_sweep(args) -> None:
    train_opts = dict(SWEEP_TRAIN)
    if args.steps is not None:
        train_opts["steps"] = args.steps
    sweep = Sweep(families=tuple(args.families.split(",")) if args.families else
                  tuple(FAMILIES), seeds=args.seeds, lrs=_lrs(args.lrs), train=train_opts,
                  max_extend=args.max_extend)
    results = Path(args.results) if args.results else RESULTS_DIR
    if args.dry_run:
        done = load_results(results)
        for run in sweep.runs(done):
            print(f"{'done' if run.name in done else 'todo'} {run.name}")
        print(f"{len(done)} of {sweep.total(done)} runs recorded in {results}")
        return
    failed = run_sweep(sweep, jobs=args.jobs, runs_dir=_build_dir() / "sweep",
                       results_dir=results)
    if failed:
        raise ValueError(f"{failed} run(s) failed; their logs are under "
                         f"{_build_dir() / 'sweep' / 'logs'}")


def _cmd_eval(args) -> None:
    model = formats.load_model(args.model, int_mode=not args.fake)
    ev = evaluate(model, load_corpus().val, seq_len=args.seq_len or model.config.max_seq_len)
    print(json.dumps({"model": str(args.model), "path": "fake-quant" if args.fake else "integer",
                      **ev}))


def _cmd_generate(args) -> None:
    model = formats.load_model(args.model, int_mode=not args.fake)
    if args.tokens is not None:
        try:
            prompt = [int(t) for t in args.tokens.split(",") if t.strip()]
        except ValueError as e:
            raise ValueError(f"--tokens must be comma-separated integers: {e}") from e
    else:
        if model.config.vocab_size != VOCAB_SIZE:
            raise ValueError(f"this model has a {model.config.vocab_size}-token vocabulary, not "
                             f"bytes; give the prompt as --tokens 1,2,3")
        prompt = encode(args.prompt)
    new = model.generate(prompt, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, top_k=args.top_k, seed=args.seed)
    if args.tokens is not None:
        print(",".join(map(str, new)))
    else:
        print(args.prompt + decode(new))


def _cmd_info(args) -> None:
    model = formats.load_model(args.model)
    cfg = model.config
    print(f"{args.model}: family {cfg.family}, {cfg.n_layers} layers, dim {cfg.dim}, "
          f"ffn {cfg.ffn_dim}, heads {cfg.n_heads}/{cfg.kv_heads}, vocab {cfg.vocab_size}")
    for name, layer in model.bitlinears().items():
        iw = layer.int_weights()
        zeros = float((iw.w_t == 0).float().mean())
        print(f"  {name:28s} N={iw.shape[0]:5d} K={iw.shape[1]:5d} groups={iw.groups} "
              f"zeros={zeros:.3f}")


def _cmd_export_hf(args) -> None:
    print(formats.export_hf(formats.load_model(args.model), args.directory))


def _cmd_import_hf(args) -> None:
    model = formats.import_hf(args.directory)
    print(formats.save_model(model, args.out, info={"imported_from": str(args.directory)}))


def _cmd_report(args) -> None:
    results_dir = Path(args.results) if args.results else RESULTS_DIR
    results = {n: r for n, r in load_results(results_dir).items() if Run.parse(n)}
    sweep = Sweep(seeds=args.seeds, lrs=_lrs(args.lrs), max_extend=args.max_extend)
    shipped, boards = ({name: (formats.read_info(name), (CHECKPOINT_DIR / file).stat().st_size)
                        for name, file in models.items()}
                       for models in (formats.SHIPPED, formats.BOARD_MODELS))
    out = Path(args.out)
    plot = None
    if results:
        plot_path = results_dir / "val_loss.png"
        plot_history(results, sweep, plot_path)
        plot = os.path.relpath(plot_path, out.parent)
    out.write_text(render_results(results, sweep, shipped, plot, boards))
    table = render_readme_table(summarize(results, sweep), sweep)
    if args.readme:
        readme = Path(args.readme)
        readme.write_text(replace_between_markers(readme.read_text(), table))
    print(table, end="")
    print(f"written to {out}" + (f" and {args.readme}" if args.readme else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m golden", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (quantization-aware) and save it")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a run of the perplexity table")
    p.add_argument("--name", help="run name for logs and results (custom runs)")
    p.add_argument("--out", help="checkpoint path (default: shipped path or build/golden/runs)")
    p.add_argument("--teacher", help="float checkpoint to distill a onebit student from")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--results", help="directory of the result JSON (default "
                   "build/golden/results)")
    p.add_argument("--any-stdlib", action="store_true",
                   help="train on this Python's standard library even if it is not the one "
                   "the recorded results were made with")
    _add_fields(p, ModelConfig, "model")
    _add_fields(p, TrainConfig, "training")
    p.set_defaults(fn=_cmd_train)

    def model_arg(q):
        q.add_argument("model", nargs="?", default="tiny-b158",
                       help=f"committed model ({', '.join(formats.CHECKPOINTS)}) or checkpoint "
                            f"path")

    p = sub.add_parser("eval", help="validation perplexity")
    model_arg(p)
    p.add_argument("--fake", action="store_true", help="fake-quant forward, not integer path")
    p.add_argument("--seq-len", type=int, help="window length (default: the model's context)")
    p.set_defaults(fn=_cmd_eval)

    p = sub.add_parser("generate", help="generate text (greedy, or sampled with a seed)")
    model_arg(p)
    p.add_argument("--prompt", default="The ", help="text prompt (byte models)")
    p.add_argument("--tokens", help="prompt as comma-separated token ids instead")
    p.add_argument("-n", "--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default)")
    p.add_argument("--top-k", type=int)
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--fake", action="store_true", help="fake-quant forward, not integer path")
    p.set_defaults(fn=_cmd_generate)

    p = sub.add_parser("info", help="list the BitLinears of a model")
    model_arg(p)
    p.set_defaults(fn=_cmd_info)

    p = sub.add_parser("export-hf", help="write a transformers BitNet checkpoint directory")
    p.add_argument("model")
    p.add_argument("directory")
    p.set_defaults(fn=_cmd_export_hf)

    p = sub.add_parser("import-hf", help="convert a transformers BitNet checkpoint directory")
    p.add_argument("directory")
    p.add_argument("out")
    p.set_defaults(fn=_cmd_import_hf)

    p = sub.add_parser("sweep", help="the runs of the perplexity table (resumable)")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side, one thread each")
    p.add_argument("--families", help=f"comma-separated (default: {','.join(FAMILIES)})")
    p.add_argument("--seeds", type=int, default=3, help="seeds at the best rate (default 3)")
    p.add_argument("--lrs", help="one comma-separated grid for every family (default: each "
                   "family's own)")
    p.add_argument("--steps", type=int, help=f"steps per run (default {SWEEP_TRAIN['steps']})")
    p.add_argument("--max-extend", type=int, default=2,
                   help="times a grid may grow beyond an edge holding the best rate (default 2)")
    p.add_argument("--results", help="directory of the result records (default "
                   "golden/results)")
    p.add_argument("--dry-run", action="store_true", help="list the runs, done and to do")
    p.set_defaults(fn=_cmd_sweep)

    p = sub.add_parser("report", help="render the perplexity table from the training results")
    p.add_argument("--results", help="directory of result JSON (default build/golden/results)")
    p.add_argument("--out", default=str(repo_root() / "golden" / "RESULTS.md"))
    p.add_argument("--readme", default=str(repo_root() / "README.md"),
                   help="README whose perplexity table to update ('' for none)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per family of the sweep")
    p.add_argument("--lrs", help="the sweep's one grid, if it was run with --lrs")
    p.add_argument("--max-extend", type=int, default=2, help="as the sweep was run with")
    p.set_defaults(fn=_cmd_report)

    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
