# SPDX-License-Identifier: BSD-2-Clause
"""``python -m reports energy`` (``make report``): build/reports/energy.{md,json} and figures.

Parse, then render: :func:`~reports.energy.collect.collect` gathers every figure into one
dictionary (the JSON), :mod:`~reports.energy.render` and :mod:`~reports.energy.plots` turn it
into Markdown and matplotlib figures.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden.contract.config import AcceleratorConfig

from .collect import collect
from .plots import plot
from .render import render_markdown

__all__ = ["write_report"]


def write_report(*, out: Path, cosim_json: Path, data_file: Path | None, activity: bool,
                 activity_slice: int, activity_rows: int, log=print) -> dict:
    """Collect, plot and render the report into ``out``; returns the collected figures."""
    out.mkdir(parents=True, exist_ok=True)
    report = collect(config=AcceleratorConfig(), data_file=data_file, cosim_json=cosim_json,
                     reports_dir=out, activity=activity, activity_slice=activity_slice,
                     activity_rows=activity_rows, log=log)
    figures = plot(report, out)
    (out / "energy.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "energy.md").write_text(render_markdown(report, figures))
    log(f"wrote {out / 'energy.md'}, {out / 'energy.json'} and "
        + ", ".join(str(out / f) for f in figures.values()))
    return report
