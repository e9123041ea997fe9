# SPDX-License-Identifier: BSD-2-Clause
"""The soak (``make soak N=...``, ``python -m sim.soak``): random programs, valid and malformed,
on the functional model and on the RTL under Verilator, compared response by response.

A *program* is a list of steps: the words of one generated command (valid, malformed, cut short
or with a word dropped, duplicated or corrupted: :func:`random_command`, :func:`with_fault`),
or a marker between commands: :data:`BREAK` ends the exchange (the next words come in another
request, after idle cycles), :data:`RESET` ends it and pulses reset before the next. A step cut
short followed by RESET is a reset in the middle of a command: the native harness resets only
between requests, so the accelerator is reset while it waits for the rest of a command (not
while a MATMUL computes: the harness lets each request run until the design is quiet).

Every program starts from the same state: a request with reset that writes zeros into every
memory (:func:`preamble`), so one program replays alone from its seed (``--replay SEED``). Each
program draws its configuration (:data:`CONFIGS`: small arrays and memories, both weight
formats, so that out-of-range shapes and addresses are frequent) and its idle and backpressure
probabilities from its seed; the seeds derive from the run's seed (:func:`program_seed`).

Comparison (:func:`compare`), per request: the response words one for one, headers (with their
error flags), payloads and CRC words, except the counters that depend on stream timing (the
functional model has no cycles): of READ_COUNTERS, COMPUTE, MACS, ZERO_MACS and the weight
traffic (MEM_BYTES, MEM_BURSTS: 0 in these on-chip configurations) must be equal and
the CRC must close the response; then the accelerator's ``errors`` port against the model's
flags. A request that does not finish within a cycle bound (:func:`cycle_bound`, from the words,
the responses and the MATMULs' cycle counts of the tile loop) is a *hang*. A mismatch or a hang
is shrunk (:func:`shrink`: steps, then words, removed while the failure persists, bounded in
time), printed with its seed, written to ``build/soak/failures/`` and fails the run.

The run writes ``build/soak/summary.json`` and ``summary.md``, with the host-side fuzz of
:mod:`sim.hostfuzz` (bad input at the runtime's API) counted in the same summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections import Counter as Tally
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from firmware import commands
from firmware.compiler import compile_layer
from firmware.functional import FunctionalAccelerator
from golden.contract.codecs import pack_act_words, pack_weight_rows
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    ARG_LIMIT_BITS,
    CLEAR_MAGIC,
    SYNC,
    Counter,
    ErrorFlag,
    Opcode,
    command_header,
    crc32_words,
    matmul_error,
    parse_command_header,
    parse_counters,
    split_commands,
    split_responses,
    with_crc,
)
from golden.contract.paths import build_root

__all__ = ["BREAK", "CONFIGS", "FAULTS", "RESET", "Failure", "NativeDevice", "Program",
           "Reply", "SoakModel", "compare", "cycle_bound", "main", "preamble", "program_seed",
           "random_command", "random_program", "random_stream", "run_program", "shrink",
           "soak", "valid_command", "with_fault", "without_timing"]

#: Marker step: end the request here; the next words come in another request.
BREAK = "break"
#: Marker step: end the request here and pulse reset before the next one.
RESET = "reset"

#: Small configurations: out-of-range shapes and addresses are frequent, both weight formats,
#: a memory word of two stream words (``1x20``), narrow accumulators (ACCUMULATE overflows), a
#: wide weight path whose rows per cycle do not divide rows (``w2``: padded tiles).
CONFIGS = {
    "2x3-2bit": AcceleratorConfig(rows=2, cols=3, weight_depth=24, act_depth=12, acc_depth=8,
                                  max_k=32, acc_bits=14, max_load=3),
    "4x4-1.6bit": AcceleratorConfig(rows=4, cols=4, weight_format="1.6bit", weight_depth=8,
                                    act_depth=16, acc_depth=8, max_k=16, acc_bits=13,
                                    max_load=4),
    "1x20-2bit": AcceleratorConfig(rows=1, cols=20, weight_depth=16, act_depth=8, acc_depth=8,
                                   max_k=8, acc_bits=12, max_load=2),
    "3x2-1.6bit-w2": AcceleratorConfig(rows=3, cols=2, weight_format="1.6bit",
                                       weight_rows_per_cycle=2, weight_depth=4, act_depth=12,
                                       acc_depth=8, max_k=24, acc_bits=14, max_load=3),
}

#: Share of the programs generated as malformed (the rest hold valid commands only).
MALFORMED_SHARE = 0.7
#: Idle and backpressure probabilities a program draws from.
P_CHOICES = (0.0, 0.0, 0.1, 0.3, 0.6)
#: The stream faults, by index: a word dropped, duplicated or corrupted.
FAULTS = ("drop", "duplicate", "corrupt")
#: Counters that do not depend on stream timing: compared with the functional model's.
TIMELESS = (Counter.COMPUTE, Counter.MACS, Counter.ZERO_MACS, Counter.MEM_BYTES,
            Counter.MEM_BURSTS)


# --- generators --------------------------------------------------------------------------------

def with_fault(words: list[int], rng, fault: int | None = None) -> tuple[list[int], int, int]:
    """``words`` with one fault (:data:`FAULTS`; random if ``fault`` is None) at a random word;
    returns (the new words, the fault, the word's index). A corruption flips one bit."""
    words = list(words)
    at = rng.randrange(len(words))
    if fault is None:
        fault = rng.randrange(len(FAULTS))
    if FAULTS[fault] == "drop":
        del words[at]
    elif FAULTS[fault] == "duplicate":
        words.insert(at, words[at])
    else:
        words[at] ^= 1 << rng.randrange(32)
    return words, fault, at


def _arg(rng: random.Random, limit: int) -> int:
    """An address or size around ``limit`` (a depth, a count): mostly in range, often at the
    edges, sometimes past the argument range of :data:`~golden.contract.isa.ARG_LIMIT_BITS`."""
    r = rng.random()
    if r < 0.6:
        return rng.randrange(limit + 1)
    if r < 0.85:
        return max(0, limit + rng.randrange(-1, 3))
    edge = 1 << ARG_LIMIT_BITS
    return rng.choice([edge - 1, edge, edge + 1, 0xFFFF_FFFF, rng.getrandbits(32)])


def _ternary_words(config: AcceleratorConfig, rng: random.Random, count: int) -> list[int]:
    """``count`` weight-memory words of legal ternary weights."""
    rows = np.array([[rng.choice((-1, 0, 1)) for _ in range(config.cols)]
                     for _ in range(count * config.weight_rows_per_word)], dtype=np.int8)
    return pack_weight_rows(config, rows)


def _act_words(config: AcceleratorConfig, rng: random.Random, count: int) -> list[int]:
    return [rng.getrandbits(config.act_word_bits) for _ in range(count)]


def valid_command(config: AcceleratorConfig, rng: random.Random) -> list[int]:
    """One command that raises no flag on an accelerator with no flag set: arguments in range,
    legal weight codes, MATMULs that overwrite (no ACCUMULATE, so no overflow)."""
    cfg = config
    kind = rng.randrange(10)
    if kind in (0, 1):
        count = rng.randint(1, min(cfg.max_load, cfg.weight_depth))
        return commands.load_weights(cfg, rng.randrange(cfg.weight_depth - count + 1),
                                     _ternary_words(cfg, rng, count))
    if kind == 2:
        count = rng.randint(1, min(cfg.max_load, cfg.act_depth))
        return commands.load_acts(cfg, rng.randrange(cfg.act_depth - count + 1),
                                  _act_words(cfg, rng, count))
    if kind in (3, 4):
        tiles = cfg.weight_rows // cfg.tile_rows
        k_tiles = rng.randint(1, min(cfg.max_k // cfg.rows, cfg.act_depth, tiles))
        n_tiles = rng.randint(1, min(cfg.acc_depth, tiles // k_tiles))
        m = rng.randint(1, min(cfg.act_depth // k_tiles, cfg.acc_depth // n_tiles))
        w_rows = n_tiles * k_tiles * cfg.tile_rows
        w_addr = rng.randrange((cfg.weight_rows - w_rows) // cfg.weight_rows_per_word + 1)
        args = {"w_addr": w_addr, "a_addr": rng.randrange(cfg.act_depth - m * k_tiles + 1),
                "acc_addr": rng.randrange(cfg.acc_depth - m * n_tiles + 1), "m": m,
                "k_tiles": k_tiles, "n_tiles": n_tiles}
        assert not matmul_error(cfg, **args), args
        return commands.matmul(**args)
    if kind == 5:
        count = rng.randint(1, cfg.acc_depth)
        return commands.drain(rng.randrange(cfg.acc_depth - count + 1), count)
    if kind == 6:
        return rng.choice([commands.read_status(), commands.read_counters()])
    if kind == 7:
        return commands.sync(rng.getrandbits(32))
    if kind == 8:
        return commands.clear(counters=rng.random() < 0.5, errors=rng.random() < 0.5)
    return commands.nop()


def random_command(config: AcceleratorConfig, rng: random.Random) -> list[int]:
    """One command with random (often invalid) arguments, or a garbage word: shapes and
    addresses in and out of range, counts that disagree with the data, illegal opcodes and
    reserved bits, illegal weight codes (random weight words), wrong CLEAR magic."""
    cfg = config
    kind = rng.randrange(12)
    if kind == 0:
        return [rng.choice([rng.getrandbits(32),
                            SYNC << 24 | rng.getrandbits(4) << 4 | rng.randrange(len(Opcode), 16),
                            command_header(rng.choice(list(Opcode)))
                            | 1 << rng.randrange(8, 24)])]
    if kind in (1, 2):
        weights = kind == 1
        depth = cfg.weight_depth if weights else cfg.act_depth
        bits = cfg.weight_word_bits if weights else cfg.act_word_bits
        data = [rng.getrandbits(bits) for _ in range(rng.randint(1, cfg.max_load))]
        encode = commands.load_weights if weights else commands.load_acts
        return encode(cfg, rng.choice([rng.randrange(depth + 2), _arg(rng, depth)]), data)
    if kind == 3:
        # A load whose count is refused (no data, no CRC) or disagrees with its data.
        opcode = rng.choice([Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS])
        count = rng.choice([0, cfg.max_load + 1, _arg(rng, cfg.max_load)])
        data = [rng.getrandbits(32) for _ in range(rng.randrange(4))]
        words = [command_header(opcode), _arg(rng, 4), count, *data]
        return with_crc(words) if rng.random() < 0.5 else words
    if kind in (4, 5):
        return commands.matmul(w_addr=_arg(rng, 6), a_addr=_arg(rng, 4),
                               acc_addr=_arg(rng, 4), m=_arg(rng, 3),
                               k_tiles=_arg(rng, 3), n_tiles=_arg(rng, 2),
                               accumulate=rng.random() < 0.5)
    if kind == 6:
        return commands.drain(_arg(rng, cfg.acc_depth), _arg(rng, 3))
    if kind == 7:
        # PREFETCH (refused with BAD_SHAPE with weights on chip) among the short commands.
        return rng.choice([commands.read_status(), commands.sync(rng.getrandbits(32)),
                           commands.read_counters(),
                           commands.prefetch(w_addr=_arg(rng, 6), tiles=_arg(rng, 3))])
    if kind == 8:
        return with_crc([command_header(Opcode.CLEAR, rng.getrandbits(4)),
                         rng.choice([CLEAR_MAGIC, CLEAR_MAGIC ^ 1, rng.getrandbits(32)])])
    if kind == 9:
        # Any opcode with random arguments and a matching CRC.
        opcode = rng.choice(list(Opcode))
        return with_crc([command_header(opcode, rng.getrandbits(4)),
                         *(rng.getrandbits(32) for _ in range(rng.randrange(3)))])
    command = valid_command(cfg, rng)
    if kind == 10 and len(command) > 1:
        return command[:rng.randrange(1, len(command))]          # truncated
    return with_fault(command, rng)[0]


def random_stream(config: AcceleratorConfig, rng: random.Random, commands_n: int = 14
                  ) -> list[int]:
    """Random commands, and now and then a word dropped, duplicated or corrupted."""
    words = []
    for _ in range(commands_n):
        command = random_command(config, rng)
        if rng.random() < 0.15:
            command = with_fault(command, rng)[0]
        words += command
    return words


def _layer_steps(config: AcceleratorConfig, rng: random.Random) -> list[list[int]]:
    """The commands of a small compiled layer (several passes when it does not fit)."""
    m, k, n = rng.randint(1, 4), rng.randint(1, config.max_k), rng.randint(1, 2 * config.cols)
    x = np.array([[rng.randint(config.act_min, config.act_max) for _ in range(k)]
                  for _ in range(m)])
    w = np.array([[rng.choice((-1, 0, 1)) for _ in range(k)] for _ in range(n)], np.int8)
    program = compile_layer(config, x, w, measure=rng.random() < 0.3)
    words = program.words
    return [list(words[c.start:c.start + c.length]) for c in split_commands(config, words)]


def _overflow_steps(config: AcceleratorConfig, rng: random.Random) -> list[list[int]]:
    """Every activation at its most negative value, every weight -1, then MATMULs that
    ACCUMULATE until the accumulators leave ``acc_bits`` (ACC_OVERFLOW)."""
    cfg = config
    acts = commands.load_acts(cfg, 0, pack_act_words(
        cfg, np.full((cfg.act_depth, cfg.rows), cfg.act_min)))
    weights = commands.load_weights(cfg, 0, pack_weight_rows(
        cfg, -np.ones((cfg.weight_rows, cfg.cols), np.int8)))
    k_tiles = min(cfg.max_k // cfg.rows, cfg.act_depth, cfg.weight_rows // cfg.tile_rows)
    steps = [list(acts[c.start:c.start + c.length]) for c in split_commands(cfg, acts)]
    steps += [list(weights[c.start:c.start + c.length]) for c in split_commands(cfg, weights)]
    for i in range(rng.randint(2, 6)):
        steps.append(commands.matmul(w_addr=0, a_addr=0, acc_addr=rng.randrange(2), m=1,
                                     k_tiles=k_tiles, n_tiles=1, accumulate=i > 0
                                     or rng.random() < 0.5))
    return steps


@dataclass(frozen=True)
class Program:
    """A soak program: its seed, configuration, stream timing and steps (module docstring)."""

    seed: int
    config: str
    p_idle: float
    p_stall: float
    steps: tuple
    malformed: bool

    @property
    def cfg(self) -> AcceleratorConfig:
        return CONFIGS[self.config]

    @property
    def commands(self) -> int:
        return sum(1 for s in self.steps if s not in (BREAK, RESET))

    @property
    def resets(self) -> int:
        return sum(1 for s in self.steps if s == RESET)

    @property
    def words(self) -> int:
        return sum(len(s) for s in self.steps if s not in (BREAK, RESET))

    def requests(self) -> list[tuple[bool, list[int]]]:
        """(reset first, words) of each request, the preamble's first."""
        out = [(True, preamble(self.cfg))]
        reset, words = False, []
        for step in self.steps:
            if step in (BREAK, RESET):
                out.append((reset, words))
                reset, words = step == RESET, []
            else:
                words = words + list(step)
        out.append((reset, words))
        return out

    def describe(self) -> str:
        """The program, one step a line: a command's words in hex with its opcode."""
        lines = [f"program seed {self.seed}: config {self.config} "
                 f"({self.cfg.to_dict()}), p_idle {self.p_idle}, p_stall {self.p_stall}"]
        for i, step in enumerate(self.steps):
            if step in (BREAK, RESET):
                lines.append(f"  {i:3d}  -- {step} --")
                continue
            parsed = parse_command_header(step[0]) if step else None
            name = parsed[0].name if parsed else "(no header)"
            lines.append(f"  {i:3d}  {name:13s} " + " ".join(f"{w:08x}" for w in step))
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {**asdict(self), "steps": [s if isinstance(s, str) else list(s)
                                          for s in self.steps]}


def program_seed(run_seed: int, index: int) -> int:
    """The seed of program ``index`` of a run: replay it alone with ``--replay``."""
    digest = hashlib.sha256(f"soak:{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def random_program(seed: int, configs: tuple[str, ...] | None = None) -> Program:
    """The program of a seed: a configuration of :data:`CONFIGS` (or of ``configs``), idle and
    backpressure probabilities, and up to 24 steps; valid commands only, or (with probability
    :data:`MALFORMED_SHARE`) mixed with malformed ones, resets in the middle of commands and
    stream faults."""
    rng = random.Random(seed)
    name = rng.choice(sorted(configs or CONFIGS))
    cfg = CONFIGS[name]
    malformed = rng.random() < MALFORMED_SHARE
    p_idle, p_stall = rng.choice(P_CHOICES), rng.choice(P_CHOICES)
    steps: list = []
    for _ in range(rng.randint(1, 24)):
        r = rng.random()
        if r < 0.06:
            steps.append(BREAK)
        elif r < 0.1:
            steps.append(RESET)
        elif r < 0.16:
            steps += _layer_steps(cfg, rng)
        elif malformed and r < 0.18:
            steps += _overflow_steps(cfg, rng)
        elif malformed and r < 0.24:
            command = valid_command(cfg, rng)                    # reset mid-command
            steps += [command[:rng.randrange(1, len(command))] if len(command) > 1
                      else command, RESET]
        elif malformed and r < 0.7:
            steps.append(random_command(cfg, rng))
        else:
            steps.append(valid_command(cfg, rng))
    return Program(seed, name, p_idle, p_stall, tuple(tuple(s) if isinstance(s, list) else s
                                                      for s in steps), malformed)


# --- the two sides -----------------------------------------------------------------------------

def preamble(config: AcceleratorConfig) -> list[int]:
    """Words that bring an accelerator just out of reset to one state, whatever its memories
    held: zeros in every weight, activation and accumulator word, flags and counters clear."""
    cfg = config
    zeros = pack_weight_rows(cfg, np.zeros((cfg.weight_rows, cfg.cols), np.int8))
    words = commands.load_weights(cfg, 0, zeros) + commands.load_acts(cfg, 0,
                                                                       [0] * cfg.act_depth)
    m = min(cfg.act_depth, cfg.acc_depth)
    for acc_addr in range(0, cfg.acc_depth, m):
        count = min(m, cfg.acc_depth - acc_addr)
        args = {"w_addr": 0, "a_addr": 0, "acc_addr": acc_addr, "m": count, "k_tiles": 1,
                "n_tiles": 1}
        assert not matmul_error(cfg, **args), args
        words += commands.matmul(**args)
    return words + commands.clear()


class SoakModel(FunctionalAccelerator):
    """The functional model, noting every flag it ever raised (:attr:`seen`) and the cycles of
    the MATMULs it executed (:attr:`compute`), for the cycle bound."""

    def __init__(self, config):
        super().__init__(config)
        self.seen = ErrorFlag(0)
        self.compute = 0

    def _command(self, command, response):
        super()._command(command, response)
        self.seen |= self.errors

    def _matmul(self, flags, *args, **kw):
        before = self.counters[Counter.COMPUTE]
        super()._matmul(flags, *args, **kw)
        self.compute += self.counters[Counter.COMPUTE] - before


@dataclass
class Reply:
    """What a device answered to one request."""

    response: list[int]
    errors: int            # the errors port at the end
    timed_out: bool        # did not finish within the cycle bound: a hang
    cycles: int = 0


class NativeDevice:
    """The RTL of one configuration in the native Verilator harness (:mod:`sim.native`): one
    process, built once, for every program of that configuration."""

    #: Its READ_COUNTERS count cycles (the timing counters are checked for their order).
    counts_cycles = True

    def __init__(self, config: AcceleratorConfig, *, work_dir: Path):
        from hw.accelerator import Accelerator
        from hw.verilog import convert

        from .native import NativeHarness, build_native
        self.config = config
        self._executable = build_native(convert(Accelerator(config), name="accelerator"))
        self._log = Path(work_dir) / f"native-{os.getpid()}-{id(self):x}.log"
        self._new = lambda: NativeHarness(self._executable, log=self._log, reply_timeout=120.0)
        self._harness = self._new()

    def run(self, words, *, reset: bool, p_idle: float, p_stall: float, seed: int,
            max_cycles: int) -> Reply:
        try:
            run = self._harness.run(words, p_idle=min(255, round(p_idle * 256)),
                                    p_stall=min(255, round(p_stall * 256)), seed=seed,
                                    max_cycles=max_cycles, reset=reset)
        except TimeoutError:            # wall-clock: the process was killed; start another
            self._harness = self._new()
            return Reply([], 0, True, max_cycles)
        return Reply(run.response, run.errors, run.timed_out, run.cycles)

    def close(self) -> None:
        self._harness.close()


# --- comparing ---------------------------------------------------------------------------------

def without_timing(response: list[int]) -> list:
    """Responses as (header, payload), with the counters that depend on stream timing left
    out (the functional model has no cycles)."""
    out = []
    for header, payload in split_responses(response):
        if header.opcode == Opcode.READ_COUNTERS and payload:
            counters = parse_counters(payload)
            payload = [counters[c] for c in TIMELESS]
        out.append((header, payload))
    return out


def compare(config: AcceleratorConfig, expect: list[int], got: list[int], *,
            model_errors: int, port_errors: int, timing: bool = True) -> str | None:
    """The first difference between the model's response words and the device's, or None.
    Word for word, but READ_COUNTERS: its header, the counters of :data:`TIMELESS`, the
    ordering of the timing counters (``timing``: a device that counts cycles) and its CRC
    word."""
    pos = 0
    for n, (header, payload) in enumerate(split_responses(expect)):
        length = 1 + len(payload) + 1
        want, have = expect[pos:pos + length], got[pos:pos + length]
        where = f"response {n} ({header.opcode.name}) at word {pos}"
        if len(have) < length:
            return (f"{where}: the device sent {len(got)} response words in all, the model "
                    f"{len(expect)}")
        if header.opcode == Opcode.READ_COUNTERS and payload:
            if have[0] != want[0]:
                return f"{where}: header {have[0]:#010x}, expected {want[0]:#010x}"
            if crc32_words(have[:-1]) != have[-1]:
                return f"{where}: the CRC word {have[-1]:#010x} does not close the response"
            mine, theirs = parse_counters(want[1:-1]), parse_counters(have[1:-1])
            for c in TIMELESS:
                if mine[c] != theirs[c]:
                    return f"{where}: counter {c.name} is {theirs[c]}, expected {mine[c]}"
            t = theirs
            if timing and not (t[Counter.STALL_IN] <= t[Counter.BUSY] <= t[Counter.CYCLES]
                    and t[Counter.COMPUTE] <= t[Counter.CYCLES]
                    and t[Counter.STALL_OUT] <= t[Counter.CYCLES]):
                return f"{where}: timing counters out of order: {dict(t)}"
        else:
            for i, (w, h) in enumerate(zip(want, have, strict=True)):
                if w != h:
                    return (f"{where}, word {i}: {h:#010x}, expected {w:#010x} "
                            f"(expected response {' '.join(f'{v:08x}' for v in want)})")
        pos += length
    if len(got) != len(expect):
        extra = " ".join(f"{w:08x}" for w in got[len(expect):len(expect) + 8])
        return (f"the device sent {len(got)} response words, the model {len(expect)} "
                f"(extra: {extra})")
    if port_errors != model_errors:
        return (f"errors port {ErrorFlag(port_errors)!r} ({port_errors:#x}), the model's flags "
                f"{ErrorFlag(model_errors)!r} ({int(model_errors):#x})")
    return None


def cycle_bound(words: int, responses: int, compute: int) -> int:
    """Cycles a request may take before it counts as a hang: 64 per command and response
    word (stream idle and backpressure included, with a wide margin), four times the MATMULs'
    cycles of the tile loop, and 2000 more."""
    return 64 * (words + responses) + 4 * compute + 2000


@dataclass
class Failure:
    kind: str              # "mismatch" or "hang"
    request: int
    detail: str


@dataclass
class Outcome:
    failure: Failure | None
    flagged: bool          # the model raised an error flag
    cycles: int
    requests: int
    mid_resets: int = 0    # resets while a command was partly received


def _request_seed(program: Program, index: int) -> int:
    return (program.seed * 1_000_003 + index) & 0xFFFF_FFFF


def run_program(program: Program, device) -> Outcome:
    """Run ``program`` on a fresh functional model and on ``device``; stop at the first
    mismatch or hang."""
    cfg = program.cfg
    model = SoakModel(cfg)
    cycles = mid_resets = 0
    requests = program.requests()
    for i, (reset, words) in enumerate(requests):
        if reset:
            mid_resets += bool(model.pending) and i > 0
            model.reset()
        pending = len(model.pending)
        model.compute = 0
        expect = model.run(words)
        bound = cycle_bound(pending + len(words), len(expect), model.compute)
        reply = device.run(words, reset=reset, p_idle=program.p_idle, p_stall=program.p_stall,
                           seed=_request_seed(program, i), max_cycles=bound)
        cycles += reply.cycles
        # A request that ends inside a command leaves the accelerator waiting (busy) for the
        # rest: it runs to its bound, and only then is the wait expected.
        waiting = bool(model.pending)
        if reply.timed_out != waiting:
            detail = (f"did not finish within {bound} cycles" if reply.timed_out else
                      f"went quiet although it ends inside a command ({len(model.pending)} "
                      f"words of it sent)")
            kind = "hang" if reply.timed_out else "mismatch"
            return Outcome(Failure(kind, i, f"request {i} ({len(words)} words) {detail}"),
                           bool(model.seen), cycles, i + 1, mid_resets)
        diff = compare(cfg, expect, reply.response, model_errors=model.errors,
                       port_errors=reply.errors,
                       timing=getattr(device, "counts_cycles", False))
        if diff:
            return Outcome(Failure("mismatch", i, f"request {i}: {diff}"), bool(model.seen),
                           cycles, i + 1, mid_resets)
    return Outcome(None, bool(model.seen), cycles, len(requests), mid_resets)


# --- shrinking ---------------------------------------------------------------------------------

def shrink(program: Program, device, failure: Failure, *, seconds: float = 60.0,
           max_runs: int = 2000) -> tuple[Program, Failure, int]:
    """A smaller program that fails the same way (same kind): steps removed (halves, then
    quarters, ... then one at a time), the idle and backpressure turned off, then words
    removed from each step, while the failure persists, until nothing more can go or the time
    is up. Returns (program, its failure, runs tried)."""
    deadline = time.monotonic() + seconds
    runs = 0

    def fails(candidate: Program) -> Failure | None:
        nonlocal runs
        runs += 1
        outcome = run_program(candidate, device)
        if outcome.failure is not None and outcome.failure.kind == failure.kind:
            return outcome.failure
        return None

    def budget() -> bool:
        return time.monotonic() < deadline and runs < max_runs

    best, best_failure = program, failure
    progress = True
    while progress and budget():
        progress = False
        steps = list(best.steps)
        size = max(1, len(steps) // 2)
        while size >= 1 and budget():
            start = 0
            while start < len(steps) and budget():
                candidate = replace(best, steps=tuple(steps[:start] + steps[start + size:]))
                if candidate.steps != best.steps and (found := fails(candidate)):
                    best, best_failure, steps = candidate, found, list(candidate.steps)
                    progress = True
                else:
                    start += size
            size //= 2
        for p in ({"p_idle": 0.0}, {"p_stall": 0.0}):
            candidate = replace(best, **p)
            if candidate != best and budget() and (found := fails(candidate)):
                best, best_failure = candidate, found
        for i in range(len(best.steps)):
            j = 0
            while budget() and i < len(best.steps) and best.steps[i] not in (BREAK, RESET) \
                    and j < len(best.steps[i]) and len(best.steps[i]) > 1:
                step = best.steps[i]
                steps = list(best.steps)
                steps[i] = step[:j] + step[j + 1:]
                candidate = replace(best, steps=tuple(steps))
                if found := fails(candidate):
                    best, best_failure = candidate, found
                    progress = True
                else:
                    j += 1
    return best, best_failure, runs


# --- the run -----------------------------------------------------------------------------------

@dataclass
class Summary:
    run_seed: int
    programs: int = 0
    by_config: dict = field(default_factory=dict)
    commands: int = 0
    words: int = 0
    requests: int = 0
    malformed: int = 0
    flagged: int = 0
    resets: int = 0
    resets_mid_command: int = 0
    rtl_cycles: int = 0
    mismatches: int = 0
    hangs: int = 0
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    host_fuzz: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (not self.mismatches and not self.hangs
                and not self.host_fuzz.get("failed", 0))

    def to_json(self) -> dict:
        out = asdict(self)
        out["malformed_fraction"] = round(self.malformed / max(1, self.programs), 4)
        out["flagged_fraction"] = round(self.flagged / max(1, self.programs), 4)
        out["ok"] = self.ok
        return out

    def to_markdown(self) -> str:
        d = self.to_json()
        lines = [
            "# Soak summary", "",
            f"`python -m sim.soak --n {self.programs} --seed {self.run_seed}`: random programs "
            "on the functional model and on the RTL (native Verilator harness), compared "
            "response by response.", "",
            "| | |", "|---|---|",
            f"| programs | {self.programs} |",
            f"| by configuration | {', '.join(f'{k}: {v}' for k, v in self.by_config.items())} |",
            f"| commands (steps) | {self.commands} |",
            f"| command words | {self.words} |",
            f"| requests (preambles included) | {self.requests} |",
            f"| malformed programs | {self.malformed} ({d['malformed_fraction']:.1%}) |",
            f"| programs that raised an error flag | {self.flagged} "
            f"({d['flagged_fraction']:.1%}) |",
            f"| resets (between requests) | {self.resets} |",
            f"| of which inside a command | {self.resets_mid_command} |",
            f"| RTL cycles | {self.rtl_cycles} |",
            f"| **mismatches** | **{self.mismatches}** |",
            f"| **hangs** | **{self.hangs}** |",
            f"| seconds | {self.seconds:.1f} |",
            f"| run seed | {self.run_seed} |",
        ]
        for f in self.failures:
            lines.append(f"| failure | seed {f['seed']}: {f['kind']}, {f['detail']} |")
        if self.host_fuzz:
            h = self.host_fuzz
            lines += ["", "## Host-side bad input", "",
                      f"{h['cases']} cases at the runtime's API, {h['passed']} with a clear "
                      f"error naming the bad value, {h['failed']} without.", "",
                      "| category | cases | clear errors |", "|---|---|---|"]
            for cat, (n, ok) in h["categories"].items():
                lines.append(f"| {cat} | {n} | {ok} |")
            for fail in h["failures"]:
                lines.append(f"\n* {fail}")
        return "\n".join(lines) + "\n"


def _report_failure(out: Path, program: Program, failure: Failure, device,
                    shrink_seconds: float) -> dict:
    print(f"\n{failure.kind.upper()} in program seed {program.seed} "
          f"(replay: python -m sim.soak --replay {program.seed}): {failure.detail}",
          flush=True)
    small, small_failure, runs = shrink(program, device, failure, seconds=shrink_seconds)
    print(f"shrunk in {runs} runs to {small.commands} commands, {small.words} words: "
          f"{small_failure.detail}\n{small.describe()}", flush=True)
    failures = out / "failures"
    failures.mkdir(parents=True, exist_ok=True)
    record = {"seed": program.seed, "kind": failure.kind, "detail": failure.detail,
              "shrunk_detail": small_failure.detail, "program": program.to_json(),
              "shrunk": small.to_json()}
    (failures / f"{program.seed}.json").write_text(json.dumps(record, indent=1))
    return {"seed": program.seed, "kind": failure.kind, "detail": small_failure.detail}


def soak(n: int, run_seed: int, *, out: Path, devices: dict | None = None,
         configs: tuple[str, ...] | None = None, seeds: list[int] | None = None,
         shrink_seconds: float = 60.0, progress: bool = True) -> Summary:
    """Run ``n`` programs (or the programs of ``seeds``); ``devices`` maps configuration
    names to devices (default: a :class:`NativeDevice` each, built on first use)."""
    out.mkdir(parents=True, exist_ok=True)
    devices = {} if devices is None else devices
    owned = []
    summary = Summary(run_seed=run_seed)
    by_config = Tally()
    start = time.monotonic()
    seeds = seeds if seeds is not None else [program_seed(run_seed, i) for i in range(n)]
    try:
        for i, seed in enumerate(seeds):
            program = random_program(seed, configs)
            if program.config not in devices:
                devices[program.config] = NativeDevice(program.cfg, work_dir=out)
                owned.append(devices[program.config])
            device = devices[program.config]
            outcome = run_program(program, device)
            summary.programs += 1
            by_config[program.config] += 1
            summary.commands += program.commands
            summary.words += program.words
            summary.requests += outcome.requests
            summary.malformed += program.malformed
            summary.flagged += outcome.flagged
            summary.resets += program.resets
            summary.resets_mid_command += outcome.mid_resets
            summary.rtl_cycles += outcome.cycles
            if outcome.failure is not None:
                if outcome.failure.kind == "hang":
                    summary.hangs += 1
                else:
                    summary.mismatches += 1
                summary.failures.append(_report_failure(out, program, outcome.failure, device,
                                                        shrink_seconds))
            if progress and (i + 1) % 500 == 0:
                rate = (i + 1) / (time.monotonic() - start)
                print(f"  {i + 1} programs, {summary.mismatches} mismatches, {summary.hangs} "
                      f"hangs ({rate:.0f} programs/s)", flush=True)
    finally:
        for device in owned:
            device.close()
    summary.by_config = dict(sorted(by_config.items()))
    summary.seconds = round(time.monotonic() - start, 1)
    return summary


def write_summary(summary: Summary, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary.to_json(), indent=1) + "\n")
    (out / "summary.md").write_text(summary.to_markdown())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.soak", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="programs to run (default 1000)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the run (default: a random one, printed)")
    parser.add_argument("--replay", type=int, action="append", metavar="SEED",
                        help="run the program of this program seed alone (repeatable)")
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS),
                        help="only this configuration (repeatable; default all)")
    parser.add_argument("--shrink-seconds", type=float, default=60.0,
                        help="time to shrink each failure (default 60)")
    parser.add_argument("--no-host-fuzz", action="store_true",
                        help="skip the host-side bad-input cases")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default build/soak)")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error(f"--n must be at least 0, not {args.n}")
    out = args.out or build_root() / "soak"
    run_seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    configs = tuple(args.config) if args.config else None
    if args.replay:
        print(f"soak: replaying program seed(s) {', '.join(map(str, args.replay))}", flush=True)
    else:
        print(f"soak: {args.n} programs, run seed {run_seed} (rerun with --seed {run_seed})",
              flush=True)
    summary = soak(args.n, run_seed, out=out, configs=configs, seeds=args.replay,
                   shrink_seconds=args.shrink_seconds)
    if not args.no_host_fuzz:
        from .hostfuzz import host_fuzz
        summary.host_fuzz = host_fuzz()
    if not args.replay:
        write_summary(summary, out)
    d = summary.to_json()
    print(f"soak: {summary.programs} programs ({d['malformed_fraction']:.1%} malformed, "
          f"{d['flagged_fraction']:.1%} raised a flag), {summary.commands} commands, "
          f"{summary.resets} resets ({summary.resets_mid_command} inside a command), "
          f"{summary.mismatches} mismatches, {summary.hangs} hangs, "
          f"{summary.seconds:.1f} s" + ("" if args.replay else f"; run seed {run_seed}"))
    if summary.host_fuzz:
        h = summary.host_fuzz
        print(f"host fuzz: {h['cases']} cases, {h['passed']} clear errors, {h['failed']} not")
        for fail in h["failures"]:
            print(f"  {fail}")
    if not args.replay:
        print(f"summary: {out / 'summary.md'}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
