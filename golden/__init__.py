# SPDX-License-Identifier: BSD-2-Clause
"""The golden model: quantizers, the three BitNet-style model families and their integer path.

``golden.load_model(name_or_path)`` and ``golden.use_backend(fn)`` are loaded on first use, so
that ``import golden.config`` (read by the hardware side) does not pull in PyTorch.
"""

import importlib

__all__ = ["load_model", "use_backend"]

_LAZY = {"load_model": ".checkpoint", "use_backend": ".intpath"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
