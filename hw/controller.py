# SPDX-License-Identifier: BSD-2-Clause
"""The controller: reads commands, checks them, and hands each to the block that runs it.

It is the only reader of the command stream. For each command it takes the header, the argument
words (:data:`golden.contract.isa.ARG_WORDS`), a load's data words (passed to the
:class:`~hw.loader.Loader`, which stages them) and the CRC word, computing the CRC of the words
as they arrive (:class:`~hw.crc.Crc32`). Nothing acts before the CRC word has matched. Then it
checks the command's extents against the buffers (the rules of
:func:`golden.contract.isa.load_error`, :func:`~golden.contract.isa.drain_error` and
:func:`~golden.contract.isa.matmul_error`, here as comparators), and:

* LOAD_WEIGHTS / LOAD_ACTS: tells the loader to commit the staged words, or to drop them (a
  bad CRC, an overrun, an illegal weight code, a flag set);
* MATMUL: starts the :class:`~hw.engine.MatmulEngine` and waits for it;
* DRAIN, READ_COUNTERS, READ_STATUS, SYNC: gives the :class:`~hw.responder.Responder` a job
  (and takes the counter snapshot); a refused one answers with its header alone;
* CLEAR: clears the error flags or the counters if the magic word is right.

A load's count is checked as soon as it arrives: 0 or above ``max_load`` raises BAD_SHAPE and
ends the command (no data phase, no CRC word). It keeps the sticky error flags
(:class:`golden.contract.isa.ErrorFlag`). The products of
arguments that the checks need come from bit-serial multipliers
(:class:`~hw.serial_mul.SerialMultiplier`): there is no multiplier even in the control path.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.contract.config import WORD_BITS, AcceleratorConfig
from golden.contract.isa import (
    ARG_LIMIT_BITS,
    ARG_WORDS,
    CLEAR_MAGIC,
    COMMAND_HEADER,
    SYNC,
    ClearFlag,
    ErrorFlag,
    MatmulFlag,
    Opcode,
)

from .component import ConfiguredComponent
from .crc import Crc32
from .engine import matmul_args_layout
from .loader import load_job_layout
from .responder import response_job_layout
from .serial_mul import SerialMultiplier

__all__ = ["Controller"]

_MAX_ARGS = max(ARG_WORDS.values())


def _times(value, constant: int):
    """``value * constant`` for a constant, as a sum of shifts (no multiplier cell)."""
    terms = [value << i for i in range(constant.bit_length()) if constant >> i & 1]
    return sum(terms[1:], terms[0]) if terms else Const(0)


def _in_range(value):
    """The argument is below ``2**ARG_LIMIT_BITS`` (:data:`golden.contract.isa.ARG_LIMIT_BITS`)."""
    return (value >> ARG_LIMIT_BITS) == 0


class Controller(ConfiguredComponent):
    """Command parsing, checks and dispatch (see the module docstring).

    Members
    -------
    cmd : In(stream.Signature(32))
        The command stream.
    load_data : Out(stream.Signature(32))
        The data words of the load in progress, passed through from ``cmd``.
    load : Out(stream.Signature(load_job_layout(config), always_ready=True))
    load_staged, load_illegal, load_done : In(1)
    load_commit, load_drop : Out(1)
    matmul_start : Out(1)
    matmul_args : Out(matmul_args_layout(config))
    matmul_busy, matmul_overflow : In(1)
        The engine runs; an accumulation overflowed in this cycle.
    respond : Out(stream.Signature(response_job_layout(config), always_ready=True))
    respond_done : In(1)
    snapshot, clear_counters : Out(1)
        To the counters.
    errors : Out(len(ErrorFlag))
        The sticky error flags.
    busy : Out(1)
        A command is in progress.
    """

    def __init__(self, config: AcceleratorConfig):
        super().__init__(config, {
            "cmd": In(stream.Signature(unsigned(WORD_BITS))),
            "load_data": Out(stream.Signature(unsigned(WORD_BITS))),
            "load": Out(stream.Signature(load_job_layout(config), always_ready=True)),
            "load_staged": In(1),
            "load_illegal": In(1),
            "load_done": In(1),
            "load_commit": Out(1),
            "load_drop": Out(1),
            "matmul_start": Out(1),
            "matmul_args": Out(matmul_args_layout(config)),
            "matmul_busy": In(1),
            "matmul_overflow": In(1),
            "respond": Out(stream.Signature(response_job_layout(config), always_ready=True)),
            "respond_done": In(1),
            "snapshot": Out(1),
            "clear_counters": Out(1),
            "errors": Out(len(ErrorFlag)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config

        # --- sticky errors -----------------------------------------------------------------
        errors = self.errors
        raise_error = Signal(len(ErrorFlag))        # flags the controller raises this cycle
        clear_errors = Signal()
        m.d.sync += errors.eq(Mux(clear_errors, 0, errors) | raise_error
                              | Mux(self.matmul_overflow, ErrorFlag.ACC_OVERFLOW, 0))

        # --- header, arguments and the running CRC -----------------------------------------
        word = self.cmd.payload
        take = self.cmd.valid & self.cmd.ready
        header = data.View(COMMAND_HEADER, word)
        header_ok = (header.sync == SYNC) & (header.reserved == 0) & (header.opcode < len(Opcode))
        opcode = Signal(Opcode)
        flags = Signal(4)
        args = Array(Signal(WORD_BITS, name=f"arg{i}") for i in range(_MAX_ARGS))
        arg_idx = Signal(range(_MAX_ARGS))
        arg_count = Array(Const(ARG_WORDS[op], range(_MAX_ARGS + 1)) for op in Opcode)
        m.submodules.crc = crc = Crc32()
        crc_ok = Signal()              # the CRC word matched (valid from EXECUTE on)
        m.d.comb += crc.word.eq(word)

        # --- checks: extents, before anything is touched -----------------------------------
        w_addr, a_addr, acc_addr, mm_m, k_tiles, n_tiles = (args[i] for i in range(6))
        multipliers = {name: SerialMultiplier(a_bits=ARG_LIMIT_BITS, b_bits=ARG_LIMIT_BITS)
                       for name in ("tiles", "act", "acc")}
        for name, mul in multipliers.items():
            m.submodules[f"mul_{name}"] = mul
        mul_tiles, mul_act, mul_acc = multipliers.values()
        m.d.comb += [
            mul_tiles.a.eq(n_tiles), mul_tiles.b.eq(k_tiles),
            mul_act.a.eq(mm_m), mul_act.b.eq(k_tiles),
            mul_acc.a.eq(n_tiles), mul_acc.b.eq(mm_m),
        ]
        products_done = mul_tiles.done & mul_act.done & mul_acc.done

        tiles = mul_tiles.product
        w_rows = _times(tiles, cfg.rows)
        matmul_shape_ok = (_in_range(mm_m) & _in_range(k_tiles) & _in_range(n_tiles)
                           & (mm_m != 0) & (k_tiles != 0) & (n_tiles != 0)
                           & (k_tiles <= cfg.max_k // cfg.rows))
        matmul_bounds_ok = (_in_range(w_addr) & _in_range(a_addr) & _in_range(acc_addr)
                            & (_times(w_addr, cfg.weight_rows_per_word) + w_rows
                               <= cfg.weight_rows)
                            & (a_addr + mul_act.product <= cfg.act_depth)
                            & (acc_addr + mul_acc.product <= cfg.acc_depth))
        range_addr, range_count = args[0], args[1]
        is_load = (opcode == Opcode.LOAD_WEIGHTS) | (opcode == Opcode.LOAD_ACTS)
        load_count_ok = (range_count != 0) & (range_count <= cfg.max_load)
        range_ok = Signal()            # a load's or DRAIN's range fits its buffer (from CHECK)

        m.d.comb += [
            self.matmul_args.w_addr.eq(w_addr),
            self.matmul_args.a_addr.eq(a_addr),
            self.matmul_args.acc_addr.eq(acc_addr),
            self.matmul_args.m.eq(mm_m),
            self.matmul_args.k_tiles.eq(k_tiles),
            self.matmul_args.tiles.eq(tiles),
            self.matmul_args.accumulate.eq((flags & MatmulFlag.ACCUMULATE) != 0),
            self.load.p.addr.eq(range_addr),
            self.load.p.count.eq(range_count),
            self.load.p.weights.eq(opcode == Opcode.LOAD_WEIGHTS),
            self.respond.p.opcode.eq(opcode),
            self.respond.p.arg.eq(args[0]),
            self.respond.p.count.eq(range_count),
            self.load_data.payload.eq(word),
        ]

        with m.FSM(name="controller"):
            with m.State("IDLE"):
                m.d.comb += [self.cmd.ready.eq(1), crc.start.eq(1), crc.en.eq(take)]
                with m.If(take):
                    with m.If(~header_ok):
                        m.d.comb += raise_error.eq(ErrorFlag.BAD_HEADER)
                    with m.Else():
                        m.d.sync += [opcode.eq(header.opcode), flags.eq(header.flags),
                                     arg_idx.eq(0)]
                        with m.Switch(header.opcode):
                            with m.Case(Opcode.NOP):
                                pass
                            with m.Case(Opcode.READ_COUNTERS, Opcode.READ_STATUS):
                                m.next = "CRC"
                            with m.Default():
                                m.next = "ARGS"

            with m.State("ARGS"):
                m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(1), crc.en.eq(take)]
                with m.If(take):
                    m.d.sync += [args[arg_idx].eq(word), arg_idx.eq(arg_idx + 1)]
                    with m.If(arg_idx == arg_count[opcode.as_value()] - 1):
                        m.next = "CHECK"

            with m.State("CHECK"):
                # The arguments are in: start the products, check a load's count and range.
                m.d.comb += [self.busy.eq(1)]
                m.d.comb += [mul.start.eq(1) for mul in multipliers.values()]
                depth = Mux(opcode == Opcode.LOAD_WEIGHTS, cfg.weight_depth,
                            Mux(opcode == Opcode.LOAD_ACTS, cfg.act_depth, cfg.acc_depth))
                m.d.sync += range_ok.eq(_in_range(range_addr) & _in_range(range_count)
                                        & (range_addr + range_count <= depth))
                with m.If(is_load):
                    with m.If(~load_count_ok):
                        m.d.comb += raise_error.eq(ErrorFlag.BAD_SHAPE)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.load.valid.eq(1)
                        m.next = "LOAD"
                with m.Else():
                    m.next = "CRC"

            with m.State("LOAD"):
                m.d.comb += [self.busy.eq(1), self.load_data.valid.eq(self.cmd.valid),
                             self.cmd.ready.eq(self.load_data.ready), crc.en.eq(take)]
                with m.If(self.load_staged):
                    m.next = "CRC"

            with m.State("CRC"):
                m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(1)]
                with m.If(take):
                    m.d.sync += crc_ok.eq(word == crc.check)
                    m.next = "EXECUTE"

            with m.State("EXECUTE"):
                m.d.comb += self.busy.eq(1)
                with m.Switch(opcode):
                    with m.Case(Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
                        with m.If(~crc_ok):
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_CRC)
                        with m.Elif(~range_ok):
                            m.d.comb += raise_error.eq(ErrorFlag.OVERRUN)
                        with m.Elif(self.load_illegal):
                            m.d.comb += raise_error.eq(ErrorFlag.ILLEGAL_WEIGHT)
                        commit = crc_ok & range_ok & ~self.load_illegal & (errors == 0)
                        m.d.comb += [self.load_commit.eq(commit), self.load_drop.eq(~commit)]
                        m.next = "IDLE"
                        with m.If(commit):
                            m.next = "LOAD_COMMIT"
                    with m.Case(Opcode.MATMUL):
                        with m.If(products_done):
                            with m.If(~crc_ok):
                                m.d.comb += raise_error.eq(ErrorFlag.BAD_CRC)
                                m.next = "IDLE"
                            with m.Elif(~matmul_shape_ok):
                                m.d.comb += raise_error.eq(ErrorFlag.BAD_SHAPE)
                                m.next = "IDLE"
                            with m.Elif(~matmul_bounds_ok):
                                m.d.comb += raise_error.eq(ErrorFlag.OVERRUN)
                                m.next = "IDLE"
                            with m.Elif(errors != 0):
                                m.next = "IDLE"
                            with m.Else():
                                m.d.comb += self.matmul_start.eq(1)
                                m.next = "MATMUL"
                    with m.Case(Opcode.DRAIN):
                        with m.If(~crc_ok):
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_CRC)
                        with m.Elif(range_count == 0):
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_SHAPE)
                        with m.Elif(~range_ok):
                            m.d.comb += raise_error.eq(ErrorFlag.OVERRUN)
                        m.d.comb += [self.respond.valid.eq(1),
                                     self.respond.p.refused.eq(
                                         ~(crc_ok & (range_count != 0) & range_ok
                                           & (errors == 0)))]
                        m.next = "RESPOND"
                    with m.Case(Opcode.READ_COUNTERS, Opcode.READ_STATUS, Opcode.SYNC):
                        with m.If(~crc_ok):
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_CRC)
                        m.d.comb += [self.snapshot.eq(opcode == Opcode.READ_COUNTERS),
                                     self.respond.valid.eq(1),
                                     self.respond.p.refused.eq(~crc_ok)]
                        m.next = "RESPOND"
                    with m.Case(Opcode.CLEAR):
                        with m.If(~crc_ok):
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_CRC)
                        with m.Elif(args[0] == CLEAR_MAGIC):
                            m.d.comb += [
                                clear_errors.eq((flags & ClearFlag.ERRORS) != 0),
                                self.clear_counters.eq((flags & ClearFlag.COUNTERS) != 0),
                            ]
                        with m.Else():
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_MAGIC)
                        m.next = "IDLE"
                    with m.Default():
                        m.next = "IDLE"

            with m.State("LOAD_COMMIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.load_done):
                    m.next = "IDLE"

            with m.State("MATMUL"):
                m.d.comb += self.busy.eq(1)
                with m.If(~self.matmul_busy):
                    m.next = "IDLE"

            with m.State("RESPOND"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.respond_done):
                    m.next = "IDLE"
        return m
