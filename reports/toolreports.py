# SPDX-License-Identifier: BSD-2-Clause
"""Parsers of the tools' machine-readable reports into typed dataclasses.

* Yosys ``stat -json`` (optionally ``-tech cmos``): :func:`parse_yosys_stat`.
* nextpnr ``--report`` JSON: :func:`parse_nextpnr_report`.

Both take the text (or the already decoded JSON) and raise :class:`ReportError` naming what is
missing or malformed; nothing returns None for bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CriticalPath", "NextpnrReport", "ReportError", "YosysStat", "load_json",
           "parse_nextpnr_report", "parse_yosys_stat"]


class ReportError(ValueError):
    pass


def load_json(source, what: str) -> dict:
    """``source`` as decoded JSON: a dict, JSON text, or a path to a JSON file."""
    if isinstance(source, Path):
        if not source.exists():
            raise ReportError(f"{what} {source} does not exist")
        source = source.read_text()
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as e:
            raise ReportError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(source, dict):
        raise ReportError(f"{what} must be a JSON object, not {type(source).__name__}")
    return source


@dataclass(frozen=True)
class YosysStat:
    """Cell counts of one module after synthesis.

    ``transistors`` is Yosys' CMOS estimate (``stat -tech cmos``), or None without ``-tech``.
    """

    module: str
    cells: dict[str, int]
    transistors: int | None = None

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    def count(self, *names: str) -> int:
        return sum(self.cells.get(n, 0) for n in names)

    def count_prefix(self, prefix: str) -> int:
        return sum(n for name, n in self.cells.items() if name.startswith(prefix))


def parse_yosys_stat(source, *, module: str | None = None) -> YosysStat:
    """The statistics of ``module`` (default: the only module) in Yosys ``stat -json`` output."""
    data = load_json(source, "yosys statistics")
    modules = data.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise ReportError("yosys statistics have no 'modules' (was it written by stat -json?)")
    names = {k.lstrip("\\"): k for k in modules}
    if module is None:
        if len(names) != 1:
            raise ReportError(f"yosys statistics have several modules {sorted(names)}; "
                              f"name the one to read")
        module = next(iter(names))
    if module not in names:
        raise ReportError(f"yosys statistics have no module {module!r}: {sorted(names)}")
    entry = modules[names[module]]
    by_type = entry.get("num_cells_by_type")
    if not isinstance(by_type, dict):
        raise ReportError(f"module {module!r} has no 'num_cells_by_type'")
    transistors = entry.get("estimated_num_transistors")
    return YosysStat(module=module, cells={str(k): int(v) for k, v in by_type.items()},
                     transistors=None if transistors is None else int(transistors))


@dataclass(frozen=True)
class CriticalPath:
    """One critical path of nextpnr's report: clock edges, total delay, and its ends."""

    from_clock: str
    to_clock: str
    delay_ns: float
    start: str
    end: str
    logic_ns: float
    routing_ns: float


@dataclass(frozen=True)
class NextpnrReport:
    """nextpnr's ``--report`` JSON: achieved and constrained frequency per clock, and the use of
    each kind of bel (``{"ICESTORM_LC": (used, available), ...}``)."""

    fmax_mhz: dict[str, float]
    constraint_mhz: dict[str, float]
    utilization: dict[str, tuple[int, int]]
    critical_paths: list[CriticalPath] = field(default_factory=list)

    def used(self, bel: str) -> int:
        return self.utilization.get(bel, (0, 0))[0]

    @property
    def min_fmax_mhz(self) -> float:
        """The slowest clock's Fmax (the designs here have one clock)."""
        if not self.fmax_mhz:
            raise ReportError("nextpnr report has no clock in 'fmax'")
        return min(self.fmax_mhz.values())


def _path(entry: dict) -> CriticalPath:
    steps = entry.get("path") or []
    if not steps:
        raise ReportError("nextpnr critical path has no steps")
    logic = sum(s["delay"] for s in steps if s.get("type") != "routing")
    routing = sum(s["delay"] for s in steps if s.get("type") == "routing")
    return CriticalPath(from_clock=entry.get("from", "?"), to_clock=entry.get("to", "?"),
                        delay_ns=logic + routing, start=steps[0]["from"]["cell"],
                        end=steps[-1]["to"]["cell"], logic_ns=logic, routing_ns=routing)


def parse_nextpnr_report(source) -> NextpnrReport:
    data = load_json(source, "nextpnr report")
    for key in ("fmax", "utilization"):
        if not isinstance(data.get(key), dict):
            raise ReportError(f"nextpnr report has no {key!r} object (was it written by "
                              f"nextpnr --report?)")
    try:
        fmax = {k: float(v["achieved"]) for k, v in data["fmax"].items()}
        constraint = {k: float(v["constraint"]) for k, v in data["fmax"].items()}
        util = {k: (int(v["used"]), int(v["available"])) for k, v in data["utilization"].items()}
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"nextpnr report is malformed: {e!r}") from None
    paths = [_path(p) for p in data.get("critical_paths", [])
             if "async" not in (p.get("from", "") + p.get("to", ""))]
    return NextpnrReport(fmax_mhz=fmax, constraint_mhz=constraint, utilization=util,
                         critical_paths=paths)
