# SPDX-License-Identifier: BSD-2-Clause
"""Reading safetensors checkpoints with checks, shared by both formats of :mod:`golden.formats`."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from ..checks import check_finite
from ..model import Decoder

__all__ = ["CheckpointTensors", "finish", "float_params"]


class CheckpointTensors:
    """Tensors of one or more safetensors files, read by name with errors that name the file."""

    def __init__(self, files: list[Path]):
        self.where: dict[str, Path] = {}
        self.metadata: dict[str, str] = {}
        self.used: set[str] = set()
        for path in files:
            if not path.is_file():
                raise ValueError(f"checkpoint file {path} does not exist")
            try:
                with safe_open(str(path), "pt") as f:
                    self.metadata.update(f.metadata() or {})
                    self.where.update(dict.fromkeys(f.keys(), path))
            except Exception as e:  # safetensors raises its own error type for a bad header
                raise ValueError(f"{path} is not a readable safetensors file: {e}") from e
        self.label = ", ".join(str(p) for p in files)

    def __contains__(self, key: str) -> bool:
        return key in self.where

    def get(self, key: str, *, shape: tuple[int, ...] | None = None, dtype=None) -> torch.Tensor:
        if key not in self.where:
            raise ValueError(f"checkpoint {self.label} is missing tensor {key!r}")
        with safe_open(str(self.where[key]), "pt") as f:
            t = f.get_tensor(key)
        self.used.add(key)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise ValueError(f"tensor {key!r} in {self.label} has shape {tuple(t.shape)}, "
                             f"expected {tuple(shape)}")
        if dtype == "float":
            if not t.is_floating_point():
                raise ValueError(f"tensor {key!r} in {self.label} must be floating point, not "
                                 f"{t.dtype}")
            t = t.float()
            check_finite(t, f"tensor {key!r} in {self.label}")
        elif dtype is not None and t.dtype != dtype:
            raise ValueError(f"tensor {key!r} in {self.label} must be {dtype}, not {t.dtype}")
        return t

    def check_all_used(self) -> None:
        extra = sorted(set(self.where) - self.used)
        if extra:
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            raise ValueError(f"checkpoint {self.label} has unexpected tensor(s) "
                             f"{', '.join(map(repr, extra[:5]))}{more}; it does not match the "
                             f"model configuration")


def float_params(model: Decoder) -> dict[str, torch.Tensor]:
    """Float parameters that are not inside a BitLinear (all of them for a float model)."""
    prefixes = tuple(f"{n}." for n in model.bitlinears())
    return {n: p for n, p in model.named_parameters() if not n.startswith(prefixes)}


def finish(model: Decoder, int_mode: bool) -> Decoder:
    model.eval()
    if int_mode and model.config.family != "float":
        model.set_int_mode(True)
    return model
