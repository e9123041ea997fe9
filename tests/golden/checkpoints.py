# SPDX-License-Identifier: BSD-2-Clause
"""What every committed checkpoint's test asks first (the shipped models and the board models):
the file is there, under its size bound, and loads in one call, frozen for the integer path."""

from pathlib import Path

from golden import intpath
from golden.formats.native import CHECKPOINT_DIR, load_model

#: The rendered perplexity table, which names every committed checkpoint.
RESULTS = Path(intpath.__file__).parent / "RESULTS.md"


def load_committed(name: str, file: str, *, max_bytes: int):
    """The committed checkpoint ``file`` of model ``name``, checked and loaded."""
    path = CHECKPOINT_DIR / file
    assert path.is_file(), f"{path} is missing; train it with python -m golden train --preset"
    assert path.stat().st_size < max_bytes, f"{path}: {path.stat().st_size} bytes"
    model = load_model(name)
    assert model.int_mode and not model.training
    assert all(layer.frozen for layer in model.bitlinears().values())
    return model
