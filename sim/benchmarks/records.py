# SPDX-License-Identifier: BSD-2-Clause
"""The benchmarks' shared record: build/bench/cosim.json, one section per figure."""

from __future__ import annotations

import json

from golden.contract.paths import build_root

__all__ = ["update_report"]


def update_report(section: str, data) -> None:
    """Merge ``{section: data}`` into build/bench/cosim.json."""
    path = build_root() / "bench" / "cosim.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(path.read_text()) if path.exists() else {}
    report[section] = data
    path.write_text(json.dumps(report, indent=2) + "\n")
