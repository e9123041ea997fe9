# SPDX-License-Identifier: BSD-2-Clause
"""Quantization-aware training, distillation, SVID initialization and evaluation.

One loop trains every family: AdamW on the latent float weights (fake quantization with the
straight-through estimator in the forward), gradient clipping, a warmup then either a cosine
schedule or the two-stage schedule of the BitNet b1.58 training tips (a high learning rate that
drops at the midpoint, weight decay 0.1 in the first half and 0 in the second). A OneBit
student is initialized from a float teacher by SVID and trained by knowledge distillation
(OneBit, Xu et al. 2024): cross-entropy against the teacher's next-token distribution plus the
mean squared distance of the L2-normalized hidden states after every block.

Training is reproducible from its seed: the model's initial weights, the batch offsets and
nothing else are random, and the run is single-process on CPU with a fixed thread count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .contract.config import check_positive
from .data import CORPORA, Corpus, WindowSampler, eval_windows, load_corpus, random_batch
from .layers import OneBitLinear
from .model import Decoder, ModelConfig
from .quant import svid

__all__ = ["SAMPLERS", "SCHEDULES", "TrainConfig", "TrainResult", "distill_loss", "evaluate",
           "init_onebit_from_teacher", "lr_at", "train"]

SCHEDULES = ("cosine", "twostage", "constant")
SAMPLERS = ("once", "random")


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the model shape is a :class:`golden.model.ModelConfig`).

    Parameters
    ----------
    steps, batch_size, seq_len : int
        Optimizer steps, sequences per step, bytes per sequence.
    lr, min_lr : float
        Peak and final learning rate.
    warmup : int
        Linear warmup steps.
    schedule : str
        ``"cosine"``, ``"twostage"`` (b1.58 tips: linear decay from lr to 0.6 lr in the first
        half, then a drop to 0.3 lr and a cosine to min_lr; weight decay 0 in the second half)
        or ``"constant"``.
    weight_decay : float
        AdamW decoupled weight decay on the linear weights (not on norms, embeddings, OneBit
        value vectors).
    grad_clip : float
        Clip the global gradient norm to this (0: off).
    seed : int
        Seed of the initial weights and of the batch sampler.
    eval_every : int
        Validation loss every this many steps (0: only at the end).
    kd_alpha, kd_beta : float
        Distillation only: ``loss = kd_alpha * CE(teacher, student) + (1 - kd_alpha) *
        CE(labels, student) + kd_beta * hidden-state MSE``. OneBit uses 1 and 1.
    svid : str
        Distillation only: ``"nmf"`` or ``"svd"`` for the SVID initialization.
    threads : int
        torch.set_num_threads for the run.
    corpus : str
        ``"pydoc"`` or ``"stdlib"`` (:func:`golden.data.load_corpus`).
    sampler : str
        ``"once"``: :class:`golden.data.WindowSampler`, no byte seen twice (a run longer than
        the data is refused); ``"random"``: windows at random offsets, with repeats (how the
        shipped checkpoints were trained).
    save_every : int
        Save the training state (model, optimizer, history) every this many steps, so that an
        interrupted run resumes where it stopped (0: never).
    """

    steps: int = 600
    batch_size: int = 16
    seq_len: int = 256
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup: int = 30
    schedule: str = "twostage"
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 100
    kd_alpha: float = 1.0
    kd_beta: float = 1.0
    svid: str = "nmf"
    threads: int = 2
    corpus: str = "pydoc"
    sampler: str = "random"
    save_every: int = 0

    def __post_init__(self):
        check_positive(**{name: getattr(self, name)
                          for name in ("steps", "batch_size", "seq_len", "threads")})
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of "
                             f"{', '.join(SCHEDULES)}")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, not lr={self.lr}, "
                             f"min_lr={self.min_lr}")
        if not 0 <= self.kd_alpha <= 1:
            raise ValueError(f"kd_alpha must lie in [0, 1], not {self.kd_alpha}")
        if self.corpus not in CORPORA:
            raise ValueError(f"unknown corpus {self.corpus!r}; choose one of "
                             f"{', '.join(CORPORA)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of "
                             f"{', '.join(SAMPLERS)}")
        for name in ("weight_decay", "grad_clip", "kd_beta", "warmup", "eval_every",
                     "save_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def lr_at(step: int, tc: TrainConfig) -> tuple[float, float]:
    """Learning rate and weight decay for optimizer step ``step`` (0-based)."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup, tc.weight_decay
    if tc.schedule == "constant":
        return tc.lr, tc.weight_decay
    span = max(tc.steps - tc.warmup, 1)
    t = (step - tc.warmup) / span
    if tc.schedule == "cosine":
        return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1 + math.cos(math.pi * t)), \
            tc.weight_decay
    if t < 0.5:
        return tc.lr * (1 - 0.4 * (t / 0.5)), tc.weight_decay
    t2 = (t - 0.5) / 0.5
    hi = 0.3 * tc.lr
    return tc.min_lr + 0.5 * (hi - tc.min_lr) * (1 + math.cos(math.pi * t2)), 0.0


@torch.no_grad()
def evaluate(model: Decoder, data: torch.Tensor, *, seq_len: int | None = None,
             batch_size: int = 16) -> dict:
    """Validation loss (nats per byte), perplexity, bits per byte and next-byte top-1 accuracy
    of ``model`` on ``data``."""
    seq_len = seq_len or model.config.max_seq_len
    inputs, targets = eval_windows(data, seq_len=seq_len)
    was_training = model.training
    model.eval()
    total, count, correct = 0.0, 0, 0
    for i in range(0, inputs.shape[0], batch_size):
        logits = model(inputs[i: i + batch_size])
        target = targets[i: i + batch_size]
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum")
        total += float(loss)
        count += target.numel()
        correct += int((logits.argmax(-1) == target).sum())
    model.train(was_training)
    mean = total / count
    return {"loss": mean, "ppl": math.exp(mean), "bpb": mean / math.log(2),
            "acc": correct / count, "tokens": count}


def distill_loss(student_logits, student_hidden, teacher_logits, teacher_hidden, targets, *,
                 kd_alpha: float, kd_beta: float) -> torch.Tensor:
    """OneBit's distillation loss: soft-target cross-entropy plus hidden-state MSE."""
    log_p = F.log_softmax(student_logits.float(), dim=-1)
    soft = -(F.softmax(teacher_logits.float(), dim=-1) * log_p).sum(-1).mean()
    loss = kd_alpha * soft
    if kd_alpha < 1:
        hard = F.nll_loss(log_p.flatten(0, 1), targets.flatten())
        loss = loss + (1 - kd_alpha) * hard
    if kd_beta > 0:
        mse = sum(((F.normalize(s, dim=-1) - F.normalize(t, dim=-1)) ** 2).sum(-1).mean()
                  for s, t in zip(student_hidden, teacher_hidden, strict=True))
        loss = loss + kd_beta * mse
    return loss


@torch.no_grad()
def init_onebit_from_teacher(student: Decoder, teacher: Decoder, *, method: str = "nmf") -> None:
    """SVID initialization of a OneBit student from a float teacher of the same shape.

    Every OneBit layer gets ``h`` and ``g`` from the rank-1 decomposition of the teacher
    weight's magnitudes, and latent weights equal to the teacher's (so ``sign`` matches; the
    reference code uses ``0.01 sign(W)``, the teacher's own magnitudes let the smallest weights
    flip first). Embeddings and norms are copied.
    """
    if student.config.family != "onebit" or teacher.config.family != "float":
        raise ValueError(f"SVID initializes a onebit student from a float teacher, not "
                         f"{student.config.family} from {teacher.config.family}")
    s_cfg = dataclasses.replace(student.config, family="float")
    t_cfg = dataclasses.replace(teacher.config, init=s_cfg.init, init_std=s_cfg.init_std,
                                zero_prob=s_cfg.zero_prob)
    if dataclasses.replace(s_cfg, groups=1) != dataclasses.replace(t_cfg, groups=1):
        raise ValueError("the teacher and the student must have the same shape")
    teacher_linears = teacher.linears()
    for name, layer in student.bitlinears().items():
        assert isinstance(layer, OneBitLinear)
        w = teacher_linears[name].weight
        _, h, g = svid(w, method=method, name=f"teacher weight {name}")
        layer.weight.copy_(w)
        layer.h.copy_(h)
        layer.g.copy_(g)
    student_params = dict(student.named_parameters())
    linear_prefixes = tuple(f"{n}." for n in student.bitlinears())
    for name, p in teacher.named_parameters():
        if not name.startswith(linear_prefixes):
            student_params[name].copy_(p)


def _param_groups(model: Decoder) -> list[dict]:
    linear_weights = {id(m.weight) for m in model.linears().values()}
    decay = [p for p in model.parameters() if id(p) in linear_weights and p.requires_grad]
    other = [p for p in model.parameters() if id(p) not in linear_weights and p.requires_grad]
    return [{"params": decay, "decay": True}, {"params": other, "weight_decay": 0.0,
                                               "decay": False}]


@dataclass
class TrainResult:
    model: Decoder
    history: list[dict]
    final: dict
    seconds: float


def _state_key(model_config: ModelConfig, tc: TrainConfig, teacher: Decoder | None) -> dict:
    """What a saved training state must match to be resumed (the thread count may differ)."""
    return {"model": model_config.to_dict(),
            "train": {k: v for k, v in tc.to_dict().items() if k != "threads"},
            "teacher": teacher is not None}


def _save_state(path: Path, key: dict, step: int, model, opt, gen, history, seconds) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"key": key, "step": step, "model": model.state_dict(),
                "opt": opt.state_dict(), "gen": gen.get_state(), "history": history,
                "seconds": seconds}, tmp)
    tmp.replace(path)


def train(model_config: ModelConfig, tc: TrainConfig, *, teacher: Decoder | None = None,
          corpus: Corpus | None = None, log_path: Path | None = None, progress: bool = True,
          on_eval: Callable[[dict], None] | None = None,
          state_path: Path | None = None) -> TrainResult:
    """Train a model from scratch (or a OneBit student from ``teacher``) on the corpus.

    With ``state_path`` and ``tc.save_every``, the training state is saved there every
    ``save_every`` steps; a state already there (from the same configuration) is resumed, and
    the run continues exactly as if it had not stopped. A state from another configuration
    raises ValueError.
    """
    torch.set_num_threads(tc.threads)
    corpus = corpus or load_corpus(tc.corpus)
    torch.manual_seed(tc.seed)
    model = Decoder(model_config, seed=tc.seed)
    if teacher is not None:
        init_onebit_from_teacher(model, teacher, method=tc.svid)
        teacher.eval()
    opt = torch.optim.AdamW(_param_groups(model), lr=tc.lr, betas=(0.9, 0.95),
                            weight_decay=tc.weight_decay)
    gen = torch.Generator().manual_seed(tc.seed)
    sampler = (WindowSampler(corpus.train, batch_size=tc.batch_size, seq_len=tc.seq_len,
                             seed=tc.seed, steps=tc.steps) if tc.sampler == "once" else None)
    history: list[dict] = []
    first, before = 0, 0.0
    key = _state_key(model_config, tc, teacher)
    if state_path is not None and Path(state_path).is_file():
        state = torch.load(state_path, weights_only=False)
        if state["key"] != key:
            raise ValueError(f"the training state {state_path} belongs to another "
                             f"configuration; delete it to start this run afresh")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        history, first, before = state["history"], state["step"], state["seconds"]
    start = time.monotonic() - before
    model.train()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "a")) if log_path else None
        for record in history if log else ():
            log.write(json.dumps(record) + "\n")
        bar = None
        if progress:
            from tqdm import tqdm
            bar = stack.enter_context(tqdm(total=tc.steps, initial=first,
                                           desc=f"train {model_config.family}", unit="step"))
        for step in range(first, tc.steps):
            lr, wd = lr_at(step, tc)
            for group in opt.param_groups:
                group["lr"] = lr
                if group["decay"]:
                    group["weight_decay"] = wd
            if sampler is not None:
                x, y = sampler.batch(step)
            else:
                x, y = random_batch(corpus.train, batch_size=tc.batch_size,
                                    seq_len=tc.seq_len, generator=gen)
            if teacher is None:
                logits = model(x)
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            else:
                with torch.no_grad():
                    t_logits, t_hidden = teacher(x, return_hidden=True)
                logits, hidden = model(x, return_hidden=True)
                loss = distill_loss(logits, hidden, t_logits, t_hidden, y,
                                    kd_alpha=tc.kd_alpha, kd_beta=tc.kd_beta)
            if not torch.isfinite(loss):
                raise ValueError(f"training diverged: loss is {float(loss)} at step {step}; "
                                 f"lower the learning rate (lr={tc.lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            record = {"step": step + 1, "loss": float(loss.detach()), "lr": lr,
                      "seconds": round(time.monotonic() - start, 2)}
            last = step + 1 == tc.steps
            if last or (tc.eval_every and (step + 1) % tc.eval_every == 0):
                record["val"] = evaluate(model, corpus.val, seq_len=tc.seq_len)
                if on_eval:
                    on_eval(record)
            history.append(record)
            if log:
                log.write(json.dumps(record) + "\n")
                log.flush()
            if bar:
                bar.set_postfix(loss=f"{record['loss']:.3f}", **(
                    {"val_ppl": f"{record['val']['ppl']:.3f}"} if "val" in record else {}))
                bar.update()
            if (state_path is not None and tc.save_every and (step + 1) % tc.save_every == 0
                    and not last):
                _save_state(Path(state_path), key, step + 1, model, opt, gen, history,
                            time.monotonic() - start)
    model.eval()
    return TrainResult(model=model, history=history, final=history[-1]["val"],
                       seconds=time.monotonic() - start)
