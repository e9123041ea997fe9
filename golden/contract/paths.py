# SPDX-License-Identifier: BSD-2-Clause
"""Where the project is and where its generated files go: one answer for every entry point."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["build_root", "repo_root"]


def repo_root() -> Path:
    """The repository (or installed source tree) that holds golden/, hw/, sim/, ..."""
    return Path(__file__).resolve().parents[2]


def build_root() -> Path:
    """Directory for generated files: ``$ACCEL_BUILD_DIR``, or build/ in the repository."""
    return Path(os.environ.get("ACCEL_BUILD_DIR", repo_root() / "build")).resolve()
