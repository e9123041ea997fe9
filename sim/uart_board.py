# SPDX-License-Identifier: BSD-2-Clause
"""A simulated board behind a TCP socket: the host's serial code talks to the RTL bit by bit.

:class:`SimulatedBoard` runs :class:`hw.boards.BoardCore` (the UART bridge and the accelerator
of a board, everything but the PLL and the pin buffers) in amaranth.sim and serves one TCP
connection: every byte the host writes is driven onto the ``rx`` pin as an 8N1 frame (with
random idle gaps between bytes if asked), every frame the design sends on ``tx`` is decoded
and written back. pyserial's ``socket://host:port`` URL reaches it, so the serial backend
(:class:`sim.serial_backend.SerialBackend`) runs here exactly the code that talks to a board on
/dev/ttyUSB0. ``inject_framing_error`` names host bytes (by index) whose stop bit is driven
low, as line noise would.

The simulation uses a fast UART (``divisor`` clock cycles per bit, 4 by default) so that the
tests stay short; the divisor is the only difference from the board's bitstream.

Two simulators serve the same socket protocol: ``simulator="amaranth"`` (amaranth.sim, in a
thread of this process; the default) and ``simulator="verilator"``: the generated Verilog of
the same :class:`~hw.boards.BoardCore` compiled with :file:`sim/native/board_main.cpp` (a C++
main that owns the clock and the socket, :func:`sim.native.build_board`), in its own process,
fast enough for text generation (``python -m sim.generate --backend serial --simulate-board``).
Gaps are drawn by different generators in the two (Python's ``random`` and the C++ main's
xorshift32), so a seed gives the same probability, not the same gaps.
"""

from __future__ import annotations

import os
import queue
import random
import select
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from amaranth.sim import Simulator

from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root
from hw.boards import BoardCore

__all__ = ["SIMULATORS", "SimulatedBoard"]

#: The simulators a :class:`SimulatedBoard` runs on.
SIMULATORS = ("amaranth", "verilator")


class SimulatedBoard:
    """Serve ``config``'s board logic on ``127.0.0.1:port`` (0: any free port, see
    :attr:`url`), in a thread, until the host disconnects or :meth:`close`.

    Parameters
    ----------
    divisor : int
        Clock cycles per UART bit.
    fifo_bytes : int
        The bridge's receive FIFO.
    p_gap : float
        Probability of an idle gap (1 to 3 bit times, repeated) before each host byte.
    inject_framing_error : iterable of int
        Indices of host bytes sent with a low stop bit.
    simulator : str
        ``"amaranth"`` or ``"verilator"`` (see the module's description).
    startup_timeout : float
        Verilator: seconds the board process may take to listen (the build, which is cached,
        comes before and is not counted).

    :attr:`cycles`, :attr:`bytes_in` and :attr:`bytes_out` count what the simulation ran and
    moved; on Verilator they are known after :meth:`close`.
    """

    def __init__(self, config: AcceleratorConfig, *, divisor: int = 4, fifo_bytes: int = 2048,
                 p_gap: float = 0.0, seed: int = 0, inject_framing_error=(), port: int = 0,
                 simulator: str = "amaranth", startup_timeout: float = 60.0):
        if simulator not in SIMULATORS:
            raise ValueError(f"unknown board simulator {simulator!r}; choose one of "
                             f"{', '.join(SIMULATORS)}")
        from .backends import _probability
        _probability("p_gap", p_gap)
        self.config = config
        self.divisor = divisor
        self.p_gap = p_gap
        self.rng = random.Random(seed)
        self.inject = set(inject_framing_error)
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in self.inject):
            raise ValueError(f"inject_framing_error must hold byte indices (non-negative "
                             f"integers), not {sorted(self.inject, key=repr)!r}")
        # Built once the options are known good: a component never elaborated is reported
        # (UnusedElaboratable) when it is collected.
        self.core = BoardCore(config, divisor=divisor, fifo_bytes=fifo_bytes)
        self.simulator = simulator
        self.cycles = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.error: BaseException | None = None
        self._proc: subprocess.Popen | None = None
        if simulator == "verilator":
            self._start_native(seed, port, startup_timeout)
            return
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(1)
        self.port = self._listener.getsockname()[1]
        self._incoming: queue.Queue[int | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="simulated-board", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def _serve(self):
        try:
            self._listener.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    self._conn, _ = self._listener.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return
            reader = threading.Thread(target=self._read, daemon=True)
            reader.start()
            self._simulate()
        except BaseException as e:        # reported by close()
            self.error = e
        finally:
            if getattr(self, "_conn", None) is not None:
                self._conn.close()

    def _read(self):
        try:
            while True:
                data = self._conn.recv(4096)
                if not data:
                    break
                for b in data:
                    self._incoming.put(b)
        except OSError:
            pass
        self._incoming.put(None)

    def _simulate(self):
        core, d = self.core, self.divisor
        sim = Simulator(core)
        sim.add_clock(1e-8)
        state = {"tx_idle": 0, "done": False}

        async def driver(ctx):
            ctx.set(core.rx, 1)
            index = 0
            while True:
                try:
                    byte = self._incoming.get_nowait()
                except queue.Empty:
                    # Nothing to send: block (the whole simulation) only when the design is
                    # quiet; otherwise let it run.
                    if (state["tx_idle"] > 12 * d and not ctx.get(core.busy)):
                        try:
                            byte = self._incoming.get(timeout=0.05)
                        except queue.Empty:
                            if self._stop.is_set():
                                return
                            continue
                    else:
                        await ctx.tick().repeat(d)
                        continue
                if byte is None:
                    # The host hung up: let the design finish what it is sending, then stop.
                    await ctx.tick().repeat(40 * d)
                    return
                while self.rng.random() < self.p_gap:
                    await ctx.tick().repeat(d * self.rng.randint(1, 3))
                stop = 0 if index in self.inject else 1
                for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
                    ctx.set(core.rx, bit)
                    await ctx.tick().repeat(d)
                ctx.set(core.rx, 1)
                state["tx_idle"] = 0          # quiet is counted from the last byte either way
                if not stop:
                    await ctx.tick().repeat(2 * d)
                index += 1
                self.bytes_in += 1

        async def receiver(ctx):
            while True:
                if ctx.get(core.tx):
                    state["tx_idle"] += 1
                    await ctx.tick()
                    self.cycles += 1
                    continue
                state["tx_idle"] = 0
                await ctx.tick().repeat(d + d // 2)       # the middle of data bit 0
                byte = 0
                for i in range(8):
                    byte |= ctx.get(core.tx) << i
                    await ctx.tick().repeat(d)
                if not ctx.get(core.tx):
                    raise RuntimeError("the design sent a frame with a low stop bit")
                self.cycles += 10 * d
                self.bytes_out += 1
                try:
                    self._conn.sendall(bytes([byte]))
                except OSError:
                    return

        sim.add_testbench(driver)
        sim.add_testbench(receiver, background=True)
        sim.run()

    def _start_native(self, seed: int, port: int, startup_timeout: float) -> None:
        from hw.verilog import convert

        from .backends import _probability
        from .native import build_board

        executable = build_board(convert(self.core, name="board"))
        work = build_root() / "sim" / "uart_board"
        work.mkdir(parents=True, exist_ok=True)
        fd, log = tempfile.mkstemp(prefix="board-", suffix=".log", dir=work)
        self.log = Path(log)
        argv = [str(executable), str(port), str(self.divisor),
                str(_probability("p_gap", self.p_gap)), str(seed & 0xFFFF_FFFF)]
        if self.inject:
            argv.append(",".join(map(str, sorted(self.inject))))
        with os.fdopen(fd, "wb") as log_file:
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=log_file)
        line = self._native_line(startup_timeout)
        if not line.startswith("port "):
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"the Verilator board did not start (it said {line!r}); see "
                               f"{self.log}")
        self.port = int(line.split()[1])

    def _native_line(self, timeout: float) -> str:
        """One line of the board process's standard output ('' at its end or after
        ``timeout`` seconds)."""
        out = self._proc.stdout
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                return ""
            chunk = os.read(out.fileno(), 1)
            if not chunk:
                break
            line += chunk
        return line.decode(errors="replace").strip()

    def _close_native(self, timeout: float = 60.0) -> None:
        proc = self._proc
        proc.stdin.close()                   # the process ends once the host is gone too
        stats = self._native_line(timeout)
        self._proc = None
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        proc.stdout.close()
        if stats.startswith("stats "):
            self.cycles, self.bytes_in, self.bytes_out = map(int, stats.split()[1:4])
        if rc == 3:
            raise RuntimeError("the design sent a frame with a low stop bit")
        if rc != 0:
            raise RuntimeError(f"the Verilator board ended with exit status {rc}; see "
                               f"{self.log}")

    def close(self):
        """Stop serving; raises what the simulation raised, if anything."""
        if self.simulator == "verilator":
            if self._proc is not None:
                self._close_native()
            return
        self._stop.set()
        self._incoming.put(None)
        self._thread.join(timeout=60)
        self._listener.close()
        if self.error is not None:
            raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
