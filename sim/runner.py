# SPDX-License-Identifier: BSD-2-Clause
"""Build generated Verilog once per (design, simulator) and run cocotb benches against it.

Builds are cached under ``build/cocotb/<simulator>-<hash of the Verilog>`` and guarded by a
file lock, so parallel pytest-xdist workers share one Verilator compile instead of racing.
Each run gets its own test directory (results, inputs, waveforms).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from golden.contract.paths import build_root

from .simulators import VERILATOR_FLAGS, check_simulator, simulator_env

__all__ = ["build_design", "cached_build", "run_bench"]

# What cocotb needs beyond the common flags: its VPI access and Verilog timing.
_VERILATOR_ARGS = [*VERILATOR_FLAGS, "--public-depth", "1", "--timing"]


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _runner(simulator: str):
    from cocotb_tools.runner import get_runner
    check_simulator(simulator)
    # The runner copies os.environ into the simulator's environment.
    os.environ.update(simulator_env())
    return get_runner(simulator)


def cached_build(build_dir: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(build_dir)`` once for a directory whose name is a hash of everything that
    goes into the build, under a file lock, so that parallel pytest-xdist workers share one
    build instead of racing; later calls return at once. Returns ``build_dir``."""
    done = build_dir / ".built"
    with _locked(build_dir.parent / f".{build_dir.name}.lock"):
        if not done.exists():
            build_dir.mkdir(parents=True, exist_ok=True)
            build(build_dir)
            done.touch()
    return build_dir


def build_design(verilog: str, *, toplevel: str, simulator: str, waves: bool = False,
                 parameters: dict | None = None) -> Path:
    """Compile ``verilog`` for ``simulator`` (cached) and return the build directory."""
    parameters = dict(sorted((parameters or {}).items()))
    build_args = _VERILATOR_ARGS if simulator == "verilator" else []
    key = f"{simulator}\n{waves}\n{toplevel}\n{parameters}\n{build_args}\n{verilog}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    build_dir = build_root() / "cocotb" / f"{simulator}-{toplevel}-{digest[:16]}"

    def build(build_dir: Path) -> None:
        source = build_dir / f"{toplevel}.v"
        source.write_text(verilog)
        _runner(simulator).build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                                 parameters=parameters, build_args=build_args, waves=waves,
                                 timescale=("1ns", "1ps"), log_file=build_dir / "build.log")

    return cached_build(build_dir, build)


def run_bench(verilog: str, *, toplevel: str, test_module: str, simulator: str,
              test_dir: Path, env: dict | None = None, waves: bool = False,
              plusargs: list[str] | None = None, parameters: dict | None = None) -> Path:
    """Run the cocotb ``test_module`` on ``verilog``; returns the results XML path.

    Raises ``AssertionError`` naming the log if any cocotb test in the module failed.
    """
    from cocotb_tools.check_results import get_results

    build_dir = build_design(verilog, toplevel=toplevel, simulator=simulator, waves=waves,
                             parameters=parameters)
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    runner = _runner(simulator)
    log = test_dir / "sim.log"
    xml = runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
                      build_dir=build_dir,
                      test_dir=test_dir, extra_env=dict(env or {}), waves=waves,
                      plusargs=list(plusargs or []), parameters=parameters,
                      results_xml=str(test_dir / "results.xml"), log_file=log)
    n_tests, n_failed = get_results(Path(xml))
    if n_tests == 0 or n_failed:
        raise AssertionError(f"{n_failed} of {n_tests} cocotb test(s) in {test_module} failed "
                             f"on {simulator}; see {log}")
    return Path(xml)
