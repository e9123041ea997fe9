# SPDX-License-Identifier: BSD-2-Clause
"""Training text that ships with Python, a byte tokenizer, and batches.

The corpus is ``pydoc_data.topics``: the reference pages behind ``help("topic")``, about 470 kB
of English prose about Python with code examples. Topics are sorted by name and every tenth one
(indices 5, 15, 25, ...) is held out for validation, so the split is deterministic and no page
appears on both sides. Tokens are UTF-8 bytes (vocabulary 256).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

__all__ = ["VOCAB_SIZE", "Corpus", "decode", "encode", "eval_windows", "load_corpus",
           "random_batch"]

VOCAB_SIZE = 256
_VAL_EVERY = 10
_VAL_OFFSET = 5


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
    train_topics: tuple[str, ...]
    val_topics: tuple[str, ...]
    sha256: str

    def describe(self) -> dict:
        return {"source": "pydoc_data.topics", "train_bytes": int(self.train.numel()),
                "val_bytes": int(self.val.numel()), "val_topics": len(self.val_topics),
                "train_topics": len(self.train_topics), "sha256": self.sha256}


def _bytes_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def load_corpus() -> Corpus:
    """The deterministic train/validation split of ``pydoc_data.topics``."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    val_names = tuple(n for i, n in enumerate(names) if i % _VAL_EVERY == _VAL_OFFSET)
    train_names = tuple(n for n in names if n not in val_names)

    def join(selected):
        return "\n\n".join(topics[n].strip() for n in selected).encode("utf-8")

    train, val = join(train_names), join(val_names)
    digest = hashlib.sha256(train + b"\0" + val).hexdigest()
    return Corpus(train=_bytes_tensor(train), val=_bytes_tensor(val), train_topics=train_names,
                  val_topics=val_names, sha256=digest)


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
