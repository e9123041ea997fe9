# SPDX-License-Identifier: BSD-2-Clause
"""The native Verilator harness: :file:`accel_main.cpp` compiled with the generated Verilog of
the accelerator into one executable, and the host side of its pipe protocol; and the simulated
board (:file:`board_main.cpp` with the Verilog of :class:`hw.boards.BoardCore`, driven by
:mod:`sim.uart_board`).

The C++ main owns the clock and drives the ``accelerator`` module's ports directly; Python only
sends whole programs and reads whole responses (the wire format is described at the top of
:file:`accel_main.cpp`). It streams words without parsing commands, so it does not change when
the command set does. Builds are cached under ``build/native/<hash>`` (of the Verilog, the C++
main, the tool arguments and Verilator's version) and guarded by a file lock, so parallel
pytest-xdist workers share one compile.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.contract.paths import build_root

from ..runner import cached_build
from ..simulators import VERILATOR_FLAGS, check_simulator, simulator_env

__all__ = ["BOARD_MAIN", "MAIN", "NativeHarness", "NativeRun", "build_board", "build_native",
           "errors_width"]

MAIN = Path(__file__).resolve().parent / "accel_main.cpp"
TOPLEVEL = "accelerator"
EXECUTABLE = "accel_native"
#: The simulated board (sim.uart_board): hw.boards.BoardCore's Verilog behind a TCP socket.
BOARD_MAIN = Path(__file__).resolve().parent / "board_main.cpp"
BOARD_TOPLEVEL = "board"
BOARD_EXECUTABLE = "board_native"

_MAGIC_HELLO, _MAGIC_REQUEST, _MAGIC_REPLY = 0x4E41484C, 0x4E415152, 0x4E415052
_FLAG_RESET, _FLAG_QUIT = 1, 2
_REPLY_WORDS = 10


def errors_width(verilog: str) -> int:
    """Width of the ``errors`` output port of module ``accelerator`` in ``verilog``."""
    module = re.search(r"\bmodule\s+accelerator\b(.*?)\bendmodule\b", verilog, re.S)
    if module is None:
        raise ValueError("the Verilog has no module 'accelerator'")
    decl = re.search(r"\boutput\s+(?:wire\s+|reg\s+)?(?:\[(\d+):(\d+)\]\s*)?errors\s*[;,)]",
                     module.group(1))
    if decl is None:
        raise ValueError("module 'accelerator' has no output port 'errors'")
    if decl.group(1) is None:
        return 1
    return abs(int(decl.group(1)) - int(decl.group(2))) + 1


def _verilator_version(env: dict) -> str:
    out = subprocess.run(["verilator", "--version"], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def _build(verilog: str, *, top: str, main: Path, executable: str, what: str,
           cflags: tuple[str, ...] = (), jobs: int | None = None) -> Path:
    """Compile ``verilog`` (module ``top``) with the C++ ``main`` into ``executable``
    (cached under build/native/<hash>) and return its path."""
    check_simulator("verilator")
    env = simulator_env()
    source = f"{top}.v"                                       # inside the build directory
    cmd = ["verilator", "--cc", "--exe", "--build", *VERILATOR_FLAGS, "--top-module", top,
           "-Mdir", "obj", *(arg for flag in cflags for arg in ("-CFLAGS", flag)),
           "-o", executable, source, str(main)]
    key = "\n".join([_verilator_version(env), *cmd, main.read_text(), verilog])
    build_dir = build_root() / "native" / hashlib.sha256(key.encode()).hexdigest()[:16]

    def build(build_dir: Path) -> None:
        (build_dir / source).write_text(verilog)
        log = build_dir / "build.log"
        full = [*cmd[:4], "-j", str(jobs or min(4, os.cpu_count() or 1)), *cmd[4:]]
        with open(log, "w") as f:
            f.write(" ".join(full) + "\n")
            f.flush()
            rc = subprocess.run(full, cwd=build_dir, env=env, stdout=f,
                                stderr=subprocess.STDOUT).returncode
        if rc != 0 or not (build_dir / "obj" / executable).exists():
            tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
            raise RuntimeError(f"{what} failed to build (exit {rc}); see {log}:\n{tail}")

    return cached_build(build_dir, build) / "obj" / executable


def build_native(verilog: str, *, jobs: int | None = None) -> Path:
    """Compile ``verilog`` (which must define module ``accelerator``) with the C++ main into an
    executable (cached) and return its path."""
    return _build(verilog, top=TOPLEVEL, main=MAIN, executable=EXECUTABLE,
                  what="the native Verilator harness",
                  cflags=(f"-DACCEL_ERRORS_BITS={errors_width(verilog)}",), jobs=jobs)


def build_board(verilog: str, *, jobs: int | None = None) -> Path:
    """Compile ``verilog`` (which must define module ``board``, :class:`hw.boards.BoardCore`)
    with :file:`board_main.cpp`, the simulated board behind a TCP socket (cached); returns the
    executable's path (its command line is described at the top of the C++ file)."""
    return _build(verilog, top=BOARD_TOPLEVEL, main=BOARD_MAIN, executable=BOARD_EXECUTABLE,
                  what="the Verilator board", jobs=jobs)


@dataclass
class NativeRun:
    """What one request to the harness gave."""

    response: list[int]
    cycles: int           # start to the last word transferred in either direction
    timed_out: bool       # max_cycles passed before the design went quiet
    taken: int            # command words the design accepted
    errors: int           # the design's errors port at the end of the run
    total_cycles: int     # cycles the process has run since start-up, resets included


class NativeHarness:
    """One running harness process: the accelerator's state persists between :meth:`run` s.

    Parameters
    ----------
    executable : path
        What :func:`build_native` returned.
    log : path
        File that receives the process's standard error.
    reply_timeout : float
        Seconds of wall time one request may take before :class:`TimeoutError`; the process
        is then killed (its state is unknown).
    """

    def __init__(self, executable: Path, *, log: Path, reply_timeout: float = 600.0,
                 startup_timeout: float = 60.0):
        self.reply_timeout = reply_timeout
        self.log = Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log_file:         # the child keeps its own descriptor
            self._proc = subprocess.Popen([str(executable)], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=log_file, bufsize=0)
        magic, self.errors_bits = self._read_words(2, startup_timeout)
        if magic != _MAGIC_HELLO:
            self.close()
            raise RuntimeError(f"{executable} is not the native harness (hello 0x{magic:08x})")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _died(self) -> RuntimeError:
        rc = self._proc.poll() if self._proc is not None else None
        return RuntimeError(f"the native Verilator harness ended (exit {rc}); see {self.log}")

    def _read_words(self, n: int, timeout: float) -> np.ndarray:
        fd = self._proc.stdout.fileno()
        want, chunks = 4 * n, []
        deadline = time.monotonic() + timeout
        while want:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                raise TimeoutError(f"the native Verilator harness gave no answer within "
                                   f"{timeout} s")
            chunk = os.read(fd, min(want, 1 << 22))
            if not chunk:
                raise self._died()
            chunks.append(chunk)
            want -= len(chunk)
        return np.frombuffer(b"".join(chunks), dtype="<u4")

    def _send(self, data: bytes) -> None:
        if not self.alive:
            raise self._died()
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, ValueError):
            raise self._died() from None

    def run(self, words, *, p_idle: int = 0, p_stall: int = 0, seed: int = 0,
            max_cycles: int = 1 << 32, reset: bool = False) -> NativeRun:
        """Stream ``words`` (32-bit) into the design and collect its responses until it is
        quiet. ``p_idle``, ``p_stall``: probabilities in 1/256 (0 to 255); ``reset``: pulse
        reset first (memories keep their contents, state machines, flags and counters reset).
        """
        if self._proc is None:
            raise RuntimeError("this harness has been closed")
        try:
            program = np.asarray(words, dtype=np.int64).reshape(-1)
        except (OverflowError, TypeError, ValueError):
            raise ValueError("command words must be 32-bit unsigned integers") from None
        if program.size and (program.min() < 0 or program.max() >= 1 << 32):
            raise ValueError("command words must be 32-bit unsigned integers")
        for name, p in (("p_idle", p_idle), ("p_stall", p_stall)):
            if not 0 <= p < 256:
                raise ValueError(f"{name} must be in [0, 256) (1/256 units), not {p}")
        if not 0 <= max_cycles < 1 << 64:
            raise ValueError(f"max_cycles must be in [0, 2**64), not {max_cycles}")
        if program.size >= 1 << 32:
            raise ValueError(f"a program of {program.size} words is too long")
        head = np.array([_MAGIC_REQUEST, _FLAG_RESET if reset else 0, program.size, p_idle,
                         p_stall, seed & 0xFFFF_FFFF, max_cycles & 0xFFFF_FFFF,
                         max_cycles >> 32], dtype="<u4")
        self._send(head.tobytes() + program.astype("<u4").tobytes())
        reply = self._read_words(_REPLY_WORDS, self.reply_timeout)
        if reply[0] != _MAGIC_REPLY:
            self.kill()
            raise RuntimeError(f"the native harness answered 0x{int(reply[0]):08x}; see "
                               f"{self.log}")
        n = int(reply[9])
        response = self._read_words(n, self.reply_timeout).tolist() if n else []
        return NativeRun(response=response, cycles=int(reply[2]) | int(reply[3]) << 32,
                         timed_out=bool(reply[1]),
                         total_cycles=int(reply[4]) | int(reply[5]) << 32,
                         errors=int(reply[6]) | int(reply[7]) << 32, taken=int(reply[8]))

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        """Ask the process to quit (kill it if it does not) and release its pipes."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(np.array([_MAGIC_REQUEST, _FLAG_QUIT, 0, 0, 0, 0, 0, 0],
                                                dtype="<u4").tobytes())
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.kill()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._proc = None
