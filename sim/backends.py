# SPDX-License-Identifier: BSD-2-Clause
"""RTL backends of the runtime (:mod:`firmware.runtime`), and a factory for every backend.

* :class:`AmaranthBackend`: the Amaranth design in amaranth.sim. Each call is a fresh
  simulation (its memories do not persist), so the runtime sends weights with every product.
* :class:`VerilatorBackend` ("verilator"): the generated Verilog compiled by Verilator with a
  C++ main that owns the clock (:mod:`sim.native`); Python sends whole programs over a pipe and
  is never in the per-cycle loop. One process serves the whole session; memories persist, like
  a real device.
* ``sim.serial_backend.SerialBackend`` ("serial"): a board (or the simulated board of
  :mod:`sim.uart_board`) over a UART, at a pyserial port URL (``port=``).
* :class:`CocotbBackend` ("cocotb-verilator", "icarus"): the generated Verilog inside
  :file:`sim/testbenches/hdl/accel_harness.v` under cocotb, on Verilator or Icarus. One
  simulator process serves the whole session over a Unix socket
  (:mod:`sim.testbenches.cocotb_modules.accelerator_server`); memories persist.

All give up with :class:`BenchTimeout` instead of hanging when the hardware stops answering.

Weights in external memory (``weight_memory = "axi"``): the cocotb backends attach a memory
(cocotbext-axi's AxiRamRead, ``axi_memory_bytes`` of it, random AR/R pauses as an option) to
the accelerator's ``m_axi`` port; :meth:`CocotbBackend.write_external` fills it, as does
:meth:`firmware.runtime.FunctionalBackend.write_external` for the functional model. The other
backends refuse such a configuration.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from firmware.runtime import Backend, FunctionalBackend
from golden.contract.config import AcceleratorConfig, check_positive
from golden.contract.isa import CommandError, split_commands
from golden.contract.paths import build_root
from hw.accelerator import Accelerator
from hw.verilog import convert

from .native import NativeHarness, build_native
from .runner import build_design, run_bench
from .simulators import check_simulator
from .testbenches.accelerator_amaranth import rtl_accelerator_amaranth

__all__ = ["BACKENDS", "COCOTB_BACKENDS", "SIMULATOR_BACKENDS", "AmaranthBackend",
           "BenchTimeout", "CocotbBackend", "VerilatorBackend", "accelerator_verilog",
           "harness_depths", "make_backend"]

HARNESS = Path(__file__).resolve().parent / "testbenches" / "hdl" / "accel_harness.v"
TOPLEVEL = "accel_harness"
SERVER = "sim.testbenches.cocotb_modules.accelerator_server"
#: The backends that run the generated Verilog in a simulator process (they take ``work_dir``).
SIMULATOR_BACKENDS = ("verilator", "cocotb-verilator", "icarus")
#: Every backend :func:`make_backend` knows: "verilator" is the native harness, and
#: "cocotb-verilator" the same simulator under cocotb (to compare the two).
BACKENDS = ("functional", "amaranth", *SIMULATOR_BACKENDS, "serial")
#: The backends under cocotb, and the simulator each runs.
COCOTB_BACKENDS = {"cocotb-verilator": "verilator", "icarus": "icarus"}


class BenchTimeout(TimeoutError):
    """The accelerator (or its simulator) stopped answering."""


def accelerator_verilog(config: AcceleratorConfig) -> str:
    defines = (f"`define ACCEL_AXI\n`define ACCEL_AXI_DATA_WIDTH {config.weight_word_bits}\n"
               if config.axi else "")
    return (convert(Accelerator(config), name="accelerator") + "\n" + defines
            + HARNESS.read_text())


def _refuse_axi(config: AcceleratorConfig, backend: str) -> None:
    if config.axi:
        raise ValueError(f"the {backend} backend has no external memory for "
                         f"weight_memory='axi'; use cocotb-verilator, icarus or functional")


def harness_depths(config: AcceleratorConfig) -> dict[str, int]:
    """Sizes of the harness's program and response memories: room for a program that fills
    every memory of the accelerator once (plus commands), and for draining every accumulator.
    Powers of two, fixed per configuration, so one build serves every program."""
    program = (config.weight_depth * config.stream_words(config.weight_word_bits)
               + config.act_depth * config.stream_words(config.act_word_bits) + 4096)
    response = config.acc_depth * config.cols + 4096
    return {"SRC_DEPTH": 1 << (program - 1).bit_length(),
            "SINK_DEPTH": 1 << (response - 1).bit_length()}


def _probability(name: str, p: float) -> int:
    """``p`` in 1/256 units, as the harnesses compare it with an 8-bit draw (at most 255: a
    probability just under 1 must not wrap to 0)."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), not {p!r}")
    return min(255, round(p * 256))


def _call_seed(seed: int, call: int) -> int:
    """The idle/backpressure seed of call ``call`` of a session (both simulator backends)."""
    return (seed * 7919 + call) & 0xFFFF_FFFF


def _read_hex(path: Path) -> list[int]:
    """Words of a $writememh file (address markers and comments skipped)."""
    words = []
    for line in path.read_text().splitlines():
        line = line.split("//")[0].strip()
        if line and not line.startswith("@"):
            words += [int(tok, 16) for tok in line.split()]
    return words


class AmaranthBackend(Backend):
    """The RTL in amaranth.sim; every call starts from reset with empty memories."""

    name = "amaranth"
    persistent = False

    def __init__(self, config, *, p_idle=0.0, p_stall=0.0, seed=0, max_cycles=2_000_000):
        super().__init__(config)
        _refuse_axi(config, "amaranth")
        _probability("p_idle", p_idle)
        _probability("p_stall", p_stall)
        self.p_idle, self.p_stall, self.seed = p_idle, p_stall, seed
        self.max_cycles = max_cycles
        self.cycles = 0

    def exchange(self, words):
        try:
            run = rtl_accelerator_amaranth(self.config, words, None, p_idle=self.p_idle,
                                           p_stall=self.p_stall, seed=self.seed,
                                           max_cycles=self.max_cycles)
        except TimeoutError as e:
            raise BenchTimeout(str(e)) from None
        self.cycles += run.cycles
        return run.response


class VerilatorBackend(Backend):
    """The generated Verilog in the native Verilator harness (:mod:`sim.native`), one process
    per backend. Programs of any length run in one request: the harness has no memories of its
    own.

    Parameters
    ----------
    work_dir : path
        Where the harness's log goes (``native.log``).
    p_idle, p_stall : float
        Probability of an idle cycle on the command stream, of backpressure on responses
        (in [0, 1), applied in steps of 1/256 like :file:`accel_harness.v`).
    seed : int
        Seed of the idle/backpressure draws; call ``i`` of the session uses
        :func:`_call_seed` ``(seed, i)``, as :class:`CocotbBackend` does.
    reply_timeout : float
        Seconds of wall time one program may take before the process is declared hung (and
        killed).
    max_compute_cycles : int
        Cycles a program may take beyond 100 per word before the harness declares the
        accelerator hung (:class:`BenchTimeout`; the session goes on, :meth:`reset` recovers).
    """

    name = "verilator"
    persistent = True

    def __init__(self, config, *, work_dir=None, p_idle=0.0, p_stall=0.0, seed=0, waves=False,
                 reply_timeout=600.0, startup_timeout=60.0, max_compute_cycles=50_000_000):
        super().__init__(config)
        _refuse_axi(config, "native verilator")
        if waves:
            raise ValueError("the native Verilator harness writes no waveforms; use the "
                             "\"cocotb-verilator\" backend for them")
        check_positive(max_compute_cycles=max_compute_cycles)
        self.work_dir = Path(work_dir or build_root() / "sim" / "native").resolve()
        self.p_idle = _probability("p_idle", p_idle)
        self.p_stall = _probability("p_stall", p_stall)
        self.seed = seed
        self.max_compute_cycles = max_compute_cycles
        self.cycles = 0
        self.last_cycles = 0
        self.last_errors = 0
        self._calls = 0
        self._harness: NativeHarness | None = None
        executable = build_native(convert(Accelerator(config), name="accelerator"))
        self._harness = NativeHarness(executable, log=self.work_dir / "native.log",
                                      reply_timeout=reply_timeout,
                                      startup_timeout=startup_timeout)

    def exchange(self, words):
        return self._request(list(words), reset=False)

    def reset(self) -> None:
        """Pulse the accelerator's reset: state machines return to idle and the error flags
        and counters clear; the memories keep their contents."""
        self._request([], reset=True)

    def _request(self, words: list[int], *, reset: bool) -> list[int]:
        if self._harness is None:
            raise RuntimeError("this backend has been closed")
        call = self._calls
        self._calls += 1
        max_cycles = 100 * len(words) + self.max_compute_cycles
        try:
            run = self._harness.run(words, p_idle=self.p_idle, p_stall=self.p_stall,
                                    seed=_call_seed(self.seed, call),
                                    max_cycles=max_cycles, reset=reset)
        except TimeoutError as e:
            self.close()
            raise BenchTimeout(f"{e}; the harness was stopped") from None
        self.last_errors = run.errors
        if run.timed_out:
            raise BenchTimeout(f"the accelerator did not finish a program of {len(words)} words "
                               f"within {max_cycles} cycles (it had taken {run.taken} words "
                               f"and sent {len(run.response)} response words)")
        self.cycles += run.cycles
        self.last_cycles = run.cycles
        return run.response

    def close(self):
        if self._harness is not None:
            self._harness.close()
            self._harness = None


class CocotbBackend(Backend):
    """The generated Verilog under cocotb, one simulator process per backend.

    Parameters
    ----------
    simulator : "verilator" or "icarus" (the backend names "cocotb-verilator", "icarus")
    work_dir : path
        Build-independent files of this session (programs, responses, logs, waveforms).
    p_idle, p_stall : float
        Probability of an idle cycle on the command stream, of backpressure on responses.
    reply_timeout : float
        Seconds to wait for one program before declaring the simulator hung.
    max_compute_cycles : int
        Cycles a program may take beyond one per word (the MATMULs) before the harness
        declares the accelerator hung.
    axi_memory_bytes : int
        ``weight_memory = "axi"`` only: bytes of the external memory on ``m_axi`` (reads past
        it are answered SLVERR).
    p_ar, p_r : float
        ``weight_memory = "axi"`` only: probability of a pause on the memory's AR and R
        channels (:meth:`set_axi_pauses` changes them).
    """

    persistent = True

    def __init__(self, config, *, simulator="verilator", work_dir=None, p_idle=0.0,
                 p_stall=0.0, seed=0, waves=False, reply_timeout=600.0,
                 startup_timeout=300.0, max_compute_cycles=50_000_000,
                 axi_memory_bytes=1 << 20, p_ar=0.0, p_r=0.0):
        super().__init__(config)
        check_positive(axi_memory_bytes=axi_memory_bytes)
        check_simulator(simulator)
        self.name = next(name for name, sim in COCOTB_BACKENDS.items() if sim == simulator)
        self.work_dir = Path(work_dir or build_root() / "sim" / f"server-{simulator}").resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.depth = harness_depths(config)
        self.p_idle = _probability("p_idle", p_idle)
        self.p_stall = _probability("p_stall", p_stall)
        self.seed = seed
        self.reply_timeout = reply_timeout
        self.max_compute_cycles = max_compute_cycles
        self.cycles = 0
        self.last_cycles = 0
        self._calls = 0
        self._error: BaseException | None = None
        verilog = accelerator_verilog(config)
        build_design(verilog, toplevel=TOPLEVEL, simulator=simulator, waves=waves,
                     parameters=self.depth)
        # A short path: Unix socket paths are limited to about 100 characters.
        self._sock_dir = Path(tempfile.mkdtemp(prefix="accel-"))
        sock_path = self._sock_dir / "s"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(sock_path))
        self._listener.listen(1)
        env = {"ACCEL_SERVER_SOCKET": str(sock_path),
               "ACCEL_SERVER_SRC": str(self.work_dir / "src.hex"),
               "ACCEL_SERVER_SINK": str(self.work_dir / "sink.hex")}
        if config.axi:
            env["ACCEL_SERVER_AXI_BYTES"] = str(axi_memory_bytes)
        self.axi_memory_bytes = axi_memory_bytes if config.axi else 0
        plusargs = [f"+src={env['ACCEL_SERVER_SRC']}", f"+sink={env['ACCEL_SERVER_SINK']}"]

        def serve():
            try:
                run_bench(verilog, toplevel=TOPLEVEL, test_module=SERVER, simulator=simulator,
                          test_dir=self.work_dir, env=env, waves=waves, plusargs=plusargs,
                          parameters=self.depth)
            except BaseException as e:        # reported by the next call
                self._error = e

        self._thread = threading.Thread(target=serve, name=f"{simulator}-server", daemon=True)
        self._thread.start()
        self._conn = self._accept(startup_timeout)
        self._conn.settimeout(reply_timeout)
        self._lines = self._conn.makefile("rw")
        if config.axi and (p_ar or p_r):
            self.set_axi_pauses(p_ar=p_ar, p_r=p_r, seed=seed)

    def _axi_request(self, request: dict) -> None:
        if not self.config.axi:
            raise ValueError("this accelerator has no external memory (weight_memory is "
                             f"{self.config.weight_memory!r})")
        if self._conn is None:
            raise RuntimeError("this backend has been closed")
        self._lines.write(json.dumps(request) + "\n")
        self._lines.flush()
        line = self._lines.readline()
        if not line or not json.loads(line).get("ok"):
            raise RuntimeError(f"the {self.name} simulator did not take {request}: {line!r}; "
                               f"see {self.work_dir / 'sim.log'}")

    def write_external(self, addr: int, data: bytes) -> None:
        """Write ``data`` into the external memory at byte ``addr``."""
        data = bytes(data)
        if not 0 <= addr <= self.axi_memory_bytes - len(data):
            raise ValueError(f"{len(data)} bytes at {addr:#x} do not fit the external memory "
                             f"of {self.axi_memory_bytes} bytes")
        path = self.work_dir / "external.bin"
        path.write_bytes(data)
        self._axi_request({"ext_write": str(path), "addr": addr})

    def set_axi_pauses(self, *, p_ar: float = 0.0, p_r: float = 0.0, seed: int = 0,
                       r_every: int = 0) -> None:
        """Random pauses on the external memory's AR and R channels (probability per cycle);
        with ``r_every`` > 1, R is instead served in one cycle of every ``r_every`` (a memory
        of exactly ``1 / r_every`` words per cycle)."""
        for name, p in (("p_ar", p_ar), ("p_r", p_r)):
            _probability(name, p)
        if isinstance(r_every, bool) or not isinstance(r_every, int) or r_every < 0:
            raise ValueError(f"r_every must be a non-negative integer, not {r_every!r}")
        self._axi_request({"axi_pauses": {"p_ar": p_ar, "p_r": p_r, "seed": seed,
                                          "r_every": r_every}})

    def inject_axi_fault(self, kind: str, *, burst: int = 0, beat: int = 0) -> None:
        """Alter the R beats of the ``burst``-th burst from now: ``"decerr"`` (beat ``beat``
        answered DECERR), ``"early_last"`` (RLAST on beat ``beat``, the rest dropped),
        ``"missing_last"``, ``"unsolicited"`` (see the bench's ``FaultyR``)."""
        kinds = ("decerr", "early_last", "missing_last", "unsolicited")
        if kind not in kinds:
            raise ValueError(f"kind must be one of {', '.join(kinds)}, not {kind!r}")
        self._axi_request({"axi_fault": {"kind": kind, "burst": burst, "beat": beat}})

    def _accept(self, timeout: float) -> socket.socket:
        self._listener.settimeout(1.0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn, _ = self._listener.accept()
                return conn
            except TimeoutError:
                if not self._thread.is_alive():
                    raise RuntimeError(f"the {self.name} simulator ended before serving: "
                                       f"{self._error}; see {self.work_dir / 'sim.log'}") from None
                if time.monotonic() > deadline:
                    raise BenchTimeout(f"the {self.name} simulator did not start within "
                                       f"{timeout} s; see {self.work_dir / 'sim.log'}") from None

    def exchange(self, words):
        """Run ``words``; programs longer than the harness's memory run in several parts,
        split between commands (the accelerator keeps its state from one to the next)."""
        if self._conn is None:
            raise RuntimeError("this backend has been closed")
        words = list(words)
        src_depth, sink_depth = self.depth["SRC_DEPTH"], self.depth["SINK_DEPTH"]
        parts, start, size, answers = [], 0, 0, 0
        for command in split_commands(self.config, words):
            length, answer = command.length, command.response_words(self.config)
            if length > src_depth or answer > sink_depth:
                raise CommandError(f"a command of {length} words with a response of {answer} "
                                   f"words exceeds the harness's memories ({src_depth} program "
                                   f"words, {sink_depth} response words)")
            if size + length > src_depth or answers + answer > sink_depth:
                parts.append(words[start:start + size])
                start, size, answers = start + size, 0, 0
            size += length
            answers += answer
        parts.append(words[start:start + size])
        response = []
        for part in parts:
            response += self._execute_part(part)
        return response

    def _execute_part(self, words) -> list[int]:
        call = self._calls
        self._calls += 1
        program = self.work_dir / f"program{call % 2}.hex"
        response = self.work_dir / f"response{call % 2}.hex"
        program.write_text("".join(f"{w:08x}\n" for w in words))
        response.unlink(missing_ok=True)
        max_cycles = 100 * len(words) + self.max_compute_cycles
        request = {"program": str(program), "response": str(response), "src_len": len(words),
                   "p_idle": self.p_idle, "p_stall": self.p_stall,
                   "seed": _call_seed(self.seed, call), "max_cycles": max_cycles}
        try:
            self._lines.write(json.dumps(request) + "\n")
            self._lines.flush()
            line = self._lines.readline()
        except TimeoutError:
            raise BenchTimeout(f"the {self.name} simulator gave no answer within "
                               f"{self.reply_timeout} s") from None
        if not line:
            raise RuntimeError(f"the {self.name} simulator ended: {self._error}; see "
                               f"{self.work_dir / 'sim.log'}")
        result = json.loads(line)
        if result["timeout"]:
            raise BenchTimeout(f"the accelerator did not finish a program of {len(words)} "
                               f"words within {max_cycles} cycles (it had sent "
                               f"{result['resp_count']} response words)")
        self.cycles += result["cycles"]
        self.last_cycles = result["cycles"]
        out = _read_hex(response) if result["resp_count"] else []
        if len(out) != result["resp_count"]:
            raise RuntimeError(f"{response} holds {len(out)} words, the harness counted "
                               f"{result['resp_count']}")
        return out

    def close(self):
        if self._conn is None:
            return
        try:
            self._lines.write(json.dumps({"quit": True}) + "\n")
            self._lines.flush()
        except OSError:
            pass
        self._conn.close()
        self._conn = None
        self._listener.close()
        self._thread.join(timeout=60)
        shutil.rmtree(self._sock_dir, ignore_errors=True)


def make_backend(name: str, config: AcceleratorConfig, **options) -> Backend:
    """A backend by name (one of :data:`BACKENDS`): "functional", "amaranth", "verilator" (the
    native harness), "cocotb-verilator", "icarus" or "serial" (``port=`` a device or a
    pyserial URL, ``baud=``)."""
    if name == "functional":
        return FunctionalBackend(config)
    if name == "amaranth":
        return AmaranthBackend(config, **options)
    if name == "verilator":
        return VerilatorBackend(config, **options)
    if name in COCOTB_BACKENDS:
        return CocotbBackend(config, simulator=COCOTB_BACKENDS[name], **options)
    if name == "serial":
        from .serial_backend import SerialBackend
        return SerialBackend(config, **options)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
