# SPDX-License-Identifier: BSD-2-Clause
"""Run command programs on the generated accelerator Verilog under cocotb (Icarus or Verilator).

The counterpart of :func:`sim.accel_amaranth.rtl_accel_amaranth`. Several programs run one
after another in one simulator process (one build, one start-up); the accelerator's memories
keep their contents between them, like a real device between host calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hw.accelerator import Accelerator
from hw.verilog import convert

from .accel_amaranth import AccelRun
from .cocotb_run import run_bench
from .tools import repo_root

__all__ = ["HARNESS", "BenchTimeout", "Program", "accelerator_verilog", "rtl_accel_cocotb"]

HARNESS = repo_root() / "sim" / "hdl" / "accel_harness.v"
TOPLEVEL = "accel_harness"


class BenchTimeout(TimeoutError):
    """The accelerator stopped answering: the harness ended the run at its cycle limit."""


@dataclass(frozen=True)
class Program:
    words: list[int]
    n_response: int
    max_cycles: int | None = None


def accelerator_verilog(config) -> str:
    return convert(Accelerator(config), name="accelerator") + "\n" + HARNESS.read_text()


def _read_hex(path: Path) -> list[int]:
    """Words of a $writememh file (address markers and comments skipped)."""
    words = []
    for line in path.read_text().splitlines():
        line = line.split("//")[0].strip()
        if line and not line.startswith("@"):
            words += [int(tok, 16) for tok in line.split()]
    return words


def _probability(name: str, p: float) -> int:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), not {p}")
    return round(p * 256)


def rtl_accel_cocotb(config, programs: list[Program], *, simulator: str, test_dir: Path,
                     p_idle: float = 0.0, p_stall: float = 0.0, seed: int = 0,
                     waves: bool = False) -> list[AccelRun]:
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for i, program in enumerate(programs):
        path = test_dir / f"program{i}.hex"
        path.write_text("".join(f"{w:08x}\n" for w in program.words))
        # Generous default: a word per cycle with every idle draw, plus the work itself.
        limit = program.max_cycles or 100 * (len(program.words) + program.n_response) + 100_000
        runs.append({"program": str(path), "response": str(test_dir / f"response{i}.hex"),
                     "src_len": len(program.words), "resp_len": program.n_response,
                     "p_idle": _probability("p_idle", p_idle),
                     "p_stall": _probability("p_stall", p_stall),
                     "seed": (seed * 7919 + i) & 0xFFFF_FFFF, "max_cycles": limit})
    spec = {"src": str(test_dir / "src.hex"), "sink": str(test_dir / "sink.hex"),
            "runs": runs, "out": str(test_dir / "results.json")}
    (test_dir / "spec.json").write_text(json.dumps(spec))
    # Harness memories sized to the programs (powers of two, so builds are shared).
    depth = {name: 1 << max(12, (max(run[key] for run in runs) - 1).bit_length())
             for name, key in (("SRC_DEPTH", "src_len"), ("SINK_DEPTH", "resp_len"))}
    run_bench(accelerator_verilog(config), toplevel=TOPLEVEL,
              test_module="sim.benches.accel_bench", simulator=simulator, test_dir=test_dir,
              env={"ACCEL_BENCH_SPEC": str(test_dir / "spec.json")}, waves=waves,
              plusargs=[f"+src={spec['src']}", f"+sink={spec['sink']}"], parameters=depth)
    results = json.loads((test_dir / "results.json").read_text())
    out = []
    for run, result in zip(runs, results, strict=True):
        if result["timeout"]:
            raise BenchTimeout(f"the accelerator did not finish a program of {run['src_len']} "
                               f"words within {run['max_cycles']} cycles "
                               f"({result['resp_count']} of {run['resp_len']} response words)")
        response = Path(run["response"])
        words = _read_hex(response) if result["resp_count"] else []
        if len(words) != result["resp_count"]:
            raise RuntimeError(f"{response} holds {len(words)} words, the harness counted "
                               f"{result['resp_count']}")
        out.append(AccelRun(response=words, cycles=result["cycles"]))
    return out
