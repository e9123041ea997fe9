# SPDX-License-Identifier: BSD-2-Clause
"""The pluggable integer product behind every BitLinear-family layer (contract A).

In integer mode (:meth:`golden.model.Decoder.set_int_mode`) every BitLinear of every family
(b1.58, 1-bit BitNet, OneBit) computes its integer product through one backend callable::

    acc = matmul(x_q, w_t)   # x_q int8 (M, K); w_t int8 (N, K) in {-1, 0, +1}; acc int64 (M, N)

Binary families pass only -1 and +1 in ``w_t``. A layer with G groups calls the backend once per
group, on its slice of K. Everything else (norms, attention, softmax, embeddings, the float
rescale of the accumulators) stays on the host. The default backend is
:func:`golden.bitlinear.int_matmul`; swap it for a whole model, for example to route every
BitLinear to the RTL::

    with golden.intpath.use_backend(rtl_matmul):
        tokens = model.generate(prompt, max_new_tokens=32)

While a backend runs, :func:`current_layer` names the layer it serves (e.g.
``"layers.0.attn.q_proj"``), and ``w_t`` is the same tensor object on every call for that layer,
so a runtime can map calls to weights it has already loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from .bitlinear import int_matmul

__all__ = ["Backend", "call_backend", "current_backend", "current_layer", "use_backend"]

Backend = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_BACKEND: ContextVar[Backend] = ContextVar("golden_int_backend", default=int_matmul)
_LAYER: ContextVar[str | None] = ContextVar("golden_int_layer", default=None)


def current_backend() -> Backend:
    """The integer product in use: :func:`golden.bitlinear.int_matmul` unless swapped."""
    return _BACKEND.get()


def current_layer() -> str | None:
    """Name of the BitLinear whose product the backend is computing, or None outside a call."""
    return _LAYER.get()


@contextmanager
def use_backend(fn: Backend) -> Iterator[Backend]:
    """Route the integer product of every BitLinear to ``fn`` inside the ``with`` block.

    Contexts nest; leaving one restores the previous backend (also on an exception).
    """
    if not callable(fn):
        raise ValueError(f"an integer backend must be callable, not {type(fn).__name__}")
    token = _BACKEND.set(fn)
    try:
        yield fn
    finally:
        _BACKEND.reset(token)


def call_backend(x_q: torch.Tensor, w_t: torch.Tensor, *, layer: str) -> torch.Tensor:
    """Call the current backend for ``layer`` and check what it returns.

    A backend that returns a wrong shape, a float tensor or something that is not a tensor gets
    a ValueError naming the layer and the backend, not a silently wrong model output.
    """
    fn = _BACKEND.get()
    token = _LAYER.set(layer)
    try:
        acc = fn(x_q, w_t)
    finally:
        _LAYER.reset(token)
    who = f"integer backend {getattr(fn, '__name__', repr(fn))} for layer {layer!r}"
    want = (x_q.shape[0], w_t.shape[0])
    if not isinstance(acc, torch.Tensor):
        raise ValueError(f"{who} returned {type(acc).__name__}, not a torch.Tensor")
    if acc.is_floating_point() or acc.is_complex() or acc.dtype == torch.bool:
        raise ValueError(f"{who} returned a {acc.dtype} tensor; accumulators must be integers")
    if tuple(acc.shape) != want:
        raise ValueError(f"{who} returned shape {tuple(acc.shape)}, expected (M, N) = {want}")
    return acc.to(torch.int64)
