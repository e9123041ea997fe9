# SPDX-License-Identifier: BSD-2-Clause
"""Training text that ships with Python, a byte tokenizer, and batches.

Two corpora, both split by whole documents so that no document appears on both sides:

``"stdlib"`` (the perplexity table)
    The ``.py`` files of the Python standard library directory (``sysconfig``'s ``stdlib``
    path, ``site-packages`` excluded): 1790 files, 31.5 MB in CPython 3.11.7. Files are sorted
    by their path relative to that directory; every fiftieth one (indices 25, 75, ...) is held
    out for validation (36 files, 288 kB). A different Python ships a different library: the
    file count, byte count and SHA-256 are recorded in every result, and
    :func:`load_corpus` refuses a library that differs from :data:`STDLIB_3_11_7` unless
    told to accept it.
``"pydoc"`` (the shipped checkpoints; a small option)
    ``pydoc_data.topics``: the reference pages behind ``help("topic")``, about 470 kB of
    English prose about Python. Topics are sorted by name and every tenth one (indices 5, 15,
    25, ...) is held out.

Tokens are UTF-8 bytes (vocabulary 256). :class:`WindowSampler` draws training windows so that
no byte is seen twice; :func:`random_batch` (the shipped checkpoints' sampler) draws windows at
random offsets, with repeats.
"""

from __future__ import annotations

import hashlib
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["CORPORA", "STDLIB_3_11_7", "VOCAB_SIZE", "Corpus", "WindowSampler", "decode",
           "encode", "eval_windows", "load_corpus", "random_batch"]

VOCAB_SIZE = 256
CORPORA = ("pydoc", "stdlib")
#: (every, offset) of the held-out documents of each corpus.
_VAL_SPLIT = {"pydoc": (10, 5), "stdlib": (50, 25)}
#: The standard library the perplexity table was trained on (CPython 3.11.7): file count, bytes
#: and SHA-256 of :attr:`Corpus.sha256`.
STDLIB_3_11_7 = {"python": "3.11.7", "files": 1790, "bytes": 31525224,
                 "sha256": "1c09f27772b231e27994abf65ca1314037418d15c35ae5db1b562a256dab30ba"}


def encode(text: str) -> list[int]:
    """UTF-8 bytes of ``text`` as token ids."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, not {type(text).__name__}")
    return list(text.encode("utf-8"))


def decode(tokens) -> str:
    """Text of byte tokens; bytes that are not valid UTF-8 become U+FFFD."""
    return bytes(int(t) for t in tokens).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Corpus:
    """Train and validation bytes (uint8 tensors) and what they were made of."""

    train: torch.Tensor
    val: torch.Tensor
    train_docs: tuple[str, ...]
    val_docs: tuple[str, ...]
    sha256: str
    source: str = "pydoc"

    def describe(self) -> dict:
        return {"source": self.source, "train_bytes": int(self.train.numel()),
                "val_bytes": int(self.val.numel()), "train_docs": len(self.train_docs),
                "val_docs": len(self.val_docs), "sha256": self.sha256,
                "python": platform.python_version()}


def _bytes_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def stdlib_files() -> tuple[Path, tuple[str, ...]]:
    """The standard library directory and its ``.py`` files (relative POSIX paths, sorted)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")
                   if not {"site-packages", "dist-packages"} & set(p.relative_to(root).parts))
    if not names:
        raise ValueError(f"no .py files in the standard library directory {root}")
    return root, names


def _documents(source: str) -> dict[str, bytes]:
    if source == "pydoc":
        from pydoc_data.topics import topics
        return {n: topics[n].strip().encode("utf-8") for n in topics}
    root, names = stdlib_files()
    return {n: (root / n).read_bytes() for n in names}


def load_corpus(source: str = "pydoc", *, expect: dict | None = STDLIB_3_11_7) -> Corpus:
    """The deterministic train/validation split of ``source`` (one of :data:`CORPORA`).

    For ``"stdlib"``, ``expect`` (file count, bytes, SHA-256; None: no check) is the library
    the results were made with; a different one raises ValueError saying how it differs.
    """
    if source not in CORPORA:
        raise ValueError(f"unknown corpus {source!r}; choose one of {', '.join(CORPORA)}")
    docs = _documents(source)
    every, offset = _VAL_SPLIT[source]
    names = sorted(docs)
    val_names = tuple(n for i, n in enumerate(names) if i % every == offset)
    held = set(val_names)
    train_names = tuple(n for n in names if n not in held)

    def join(selected):
        return b"\n\n".join(docs[n] for n in selected)

    train, val = join(train_names), join(val_names)
    digest = hashlib.sha256(train + b"\0" + val).hexdigest()
    corpus = Corpus(train=_bytes_tensor(train), val=_bytes_tensor(val), train_docs=train_names,
                    val_docs=val_names, sha256=digest, source=source)
    if source == "stdlib" and expect is not None:
        got = {"files": len(names), "bytes": sum(len(d) for d in docs.values()),
               "sha256": digest}
        wrong = [f"{k} {got[k]} (expected {expect[k]})" for k in got
                 if expect.get(k) is not None and got[k] != expect[k]]
        if wrong:
            raise ValueError(
                f"the standard library of this Python ({platform.python_version()}, "
                f"{stdlib_files()[0]}) is not the one the results were made with (CPython "
                f"{expect['python']}): {'; '.join(wrong)}. Results trained on it are not "
                f"comparable with the recorded ones; pass expect=None (--any-stdlib) to train "
                f"on it anyway")
    return corpus


def random_batch(data: torch.Tensor, *, batch_size: int, seq_len: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-byte targets (B, T) from windows at random offsets of ``data``."""
    if data.numel() < seq_len + 1:
        raise ValueError(f"the data has {data.numel()} tokens, fewer than seq_len + 1 = "
                         f"{seq_len + 1}")
    starts = torch.randint(0, data.numel() - seq_len, (batch_size,), generator=generator)
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
    chunk = data.long()[idx]
    return chunk[:, :-1], chunk[:, 1:]


def eval_windows(data: torch.Tensor, *, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows covering ``data`` (the last, shorter remainder is dropped).

    Every byte after the first of each window is predicted once, so the mean loss over these
    windows is the validation loss per byte.
    """
    n = (data.numel() - 1) // seq_len
    if n < 1:
        raise ValueError(f"the data has {data.numel()} tokens, fewer than seq_len + 1 = "
                         f"{seq_len + 1}")
    d = data.long()
    inputs = d[: n * seq_len].view(n, seq_len)
    targets = d[1: n * seq_len + 1].view(n, seq_len)
    return inputs, targets


class WindowSampler:
    """Training batches in which no byte is seen twice.

    ``data`` is cut into consecutive windows of ``seq_len + 1`` bytes (inputs and next-byte
    targets); a permutation drawn from ``seed`` orders them, and batch ``s`` takes windows
    ``s * batch_size .. (s + 1) * batch_size - 1`` of that order. A run of ``steps`` steps needs
    ``steps * batch_size`` windows; more than the data holds raises ValueError, since the run
    would see its data twice. Batch ``s`` depends only on ``s`` (a resumed run draws the same).
    """

    def __init__(self, data: torch.Tensor, *, batch_size: int, seq_len: int, seed: int,
                 steps: int):
        span = seq_len + 1
        self.windows = data.numel() // span
        need = steps * batch_size
        if need > self.windows:
            raise ValueError(
                f"{steps} steps of {batch_size} x {seq_len} bytes need {need} windows of "
                f"{span} bytes, but the training data ({data.numel()} bytes) holds "
                f"{self.windows}: the run would see its data twice; use at most "
                f"{self.windows // batch_size} steps, or the larger corpus")
        self.data = data[: self.windows * span].long().view(self.windows, span)
        self.order = torch.randperm(self.windows, generator=torch.Generator().manual_seed(seed))
        self.batch_size = batch_size

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.order[step * self.batch_size: (step + 1) * self.batch_size]
        chunk = self.data[idx]
        return chunk[:, :-1], chunk[:, 1:]
