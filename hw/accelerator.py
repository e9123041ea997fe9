# SPDX-License-Identifier: BSD-2-Clause
"""The accelerator: memories, command-stream controller, MATMUL engine, counters.

::

    cmd (32-bit words) ─► controller ─┬─► weight memory ───┐
                                      ├─► activation buffer ┼─► MATMUL engine (array inside)
                                      │   accumulator buffer ◄┘            │
    resp (32-bit words) ◄─────────────┴── DRAIN / counters / status ◄──────┘

The command set, the header formats and the error flags are in :mod:`golden.isa`, shared with
the firmware. The controller checks every command's extents against the buffers before it
touches one; an illegal opcode or an overrunning command sets a sticky error flag and leaves
the state uncorrupted (see :class:`golden.isa.ErrorFlag`).
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.config import WORD_BITS, AcceleratorConfig
from golden.isa import (
    ARG_WORDS,
    CLEAR_MAGIC,
    COUNTER_WORDS,
    ILLEGAL_WEIGHT_CODE,
    STATUS_WORDS,
    SYNC,
    ClearFlag,
    Counter,
    ErrorFlag,
    Opcode,
)

from .component import ConfiguredComponent
from .engine import MatmulEngine, acc_word_layout, act_word_layout
from .serial_mul import SerialMultiplier

__all__ = ["COUNTER_BITS", "VERSION", "Accelerator"]

#: Width of each performance counter (sent as two words).
COUNTER_BITS = 48
#: Fourth word of READ_STATUS: the command-set version.
VERSION = 1

_ERROR_BITS = len(ErrorFlag)
_MAX_ARGS = max(ARG_WORDS.values())
# Command arguments are 32-bit words; anything at or above this is out of range for every
# buffer (depths are at most 2**24), which keeps the bounds arithmetic narrow.
_ARG_LIMIT_BITS = 25


def _times(value, constant: int):
    """``value * constant`` for a constant, as a sum of shifts (no multiplier cell)."""
    terms = [value << i for i in range(constant.bit_length()) if constant >> i & 1]
    return sum(terms[1:], terms[0]) if terms else Const(0)


class Accelerator(ConfiguredComponent):
    """The whole accelerator for one :class:`~golden.config.AcceleratorConfig`.

    Members
    -------
    cmd : In(stream.Signature(32))
        Command stream (headers, arguments, data).
    resp : Out(stream.Signature(32))
        Response stream.
    errors : Out(len(ErrorFlag))
        The sticky error flags (also reported by READ_STATUS and in every response header).
    busy : Out(1)
        A command is in progress.
    """

    def __init__(self, config: AcceleratorConfig):
        super().__init__(config, {
            "cmd": In(stream.Signature(unsigned(WORD_BITS))),
            "resp": Out(stream.Signature(unsigned(WORD_BITS))),
            "errors": Out(_ERROR_BITS),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config

        # --- memories ----------------------------------------------------------------------
        m.submodules.weight_mem = wmem = Memory(shape=unsigned(cfg.weight_word_bits),
                                                depth=cfg.weight_depth, init=[])
        m.submodules.act_mem = amem = Memory(shape=act_word_layout(cfg), depth=cfg.act_depth,
                                             init=[])
        m.submodules.acc_mem = accmem = Memory(shape=acc_word_layout(cfg),
                                               depth=cfg.acc_depth, init=[])
        w_wr, w_rd = wmem.write_port(), wmem.read_port()
        a_wr, a_rd = amem.write_port(), amem.read_port()
        acc_wr = accmem.write_port()
        acc_rd = accmem.read_port(transparent_for=(acc_wr,))

        m.submodules.engine = engine = MatmulEngine(cfg)
        wiring.connect(m, engine.w_rd, w_rd)
        wiring.connect(m, engine.a_rd, a_rd)
        wiring.connect(m, engine.acc_wr, acc_wr)
        # The accumulator read port serves the engine during MATMUL and DRAIN otherwise.
        drain_addr = Signal.like(acc_rd.addr)
        drain_en = Signal()
        m.d.comb += [
            acc_rd.addr.eq(Mux(engine.busy, engine.acc_rd.addr, drain_addr)),
            acc_rd.en.eq(Mux(engine.busy, engine.acc_rd.en, drain_en)),
            engine.acc_rd.data.eq(acc_rd.data),
        ]

        # --- sticky errors -----------------------------------------------------------------
        errors = Signal(_ERROR_BITS)
        raise_error = Signal(_ERROR_BITS)        # flags raised this cycle
        clear_errors = Signal()
        m.d.sync += errors.eq(Mux(clear_errors, 0, errors) | raise_error)
        m.d.comb += self.errors.eq(errors)

        # --- command parsing ---------------------------------------------------------------
        word = self.cmd.payload
        take = self.cmd.valid & self.cmd.ready
        opcode = Signal(Opcode)
        flags = Signal(4)
        args = Array(Signal(WORD_BITS, name=f"arg{i}") for i in range(_MAX_ARGS))
        arg_idx = Signal(range(_MAX_ARGS))
        arg_count = Array(Const(ARG_WORDS[op], range(_MAX_ARGS + 1)) for op in Opcode)
        header_op = word[0:4]
        header_ok = ((word[24:32] == SYNC) & (word[8:24] == 0)
                     & (header_op < len(Opcode)))

        # Extents, checked before anything is touched.
        w_addr, a_addr, acc_addr, mm_m, k_tiles, n_tiles = (args[i] for i in range(6))
        m.submodules.mul_tiles = mul_tiles = SerialMultiplier(a_bits=_ARG_LIMIT_BITS,
                                                              b_bits=_ARG_LIMIT_BITS)
        m.submodules.mul_act = mul_act = SerialMultiplier(a_bits=_ARG_LIMIT_BITS,
                                                          b_bits=_ARG_LIMIT_BITS)
        m.submodules.mul_acc = mul_acc = SerialMultiplier(a_bits=_ARG_LIMIT_BITS,
                                                          b_bits=_ARG_LIMIT_BITS)
        m.d.comb += [
            mul_tiles.a.eq(n_tiles), mul_tiles.b.eq(k_tiles),
            mul_act.a.eq(mm_m), mul_act.b.eq(k_tiles),
            mul_acc.a.eq(n_tiles), mul_acc.b.eq(mm_m),
        ]
        products_done = mul_tiles.done & mul_act.done & mul_acc.done
        products_started = Signal()     # the multipliers latch the arguments once, in CHECK

        def fits(value):
            return (value >> _ARG_LIMIT_BITS) == 0

        tiles = mul_tiles.product
        w_rows = _times(tiles, cfg.rows)
        matmul_shape_ok = (fits(mm_m) & fits(k_tiles) & fits(n_tiles)
                           & (mm_m != 0) & (k_tiles != 0) & (n_tiles != 0)
                           & (k_tiles <= cfg.max_k // cfg.rows))
        matmul_bounds_ok = (fits(w_addr) & fits(a_addr) & fits(acc_addr)
                            & (_times(w_addr, cfg.weight_rows_per_word) + w_rows
                               <= cfg.weight_rows)
                            & (a_addr + mul_act.product <= cfg.act_depth)
                            & (acc_addr + mul_acc.product <= cfg.acc_depth))
        range_addr, range_count = args[0], args[1]
        range_end = range_addr + range_count
        m.d.comb += [
            engine.args.w_addr.eq(w_addr),
            engine.args.a_addr.eq(a_addr),
            engine.args.acc_addr.eq(acc_addr),
            engine.args.m.eq(mm_m),
            engine.args.k_tiles.eq(k_tiles),
            engine.args.tiles.eq(tiles),
            engine.args.w_rows.eq(w_rows),
            engine.args.accumulate.eq(flags[0]),
        ]

        # --- load data path ----------------------------------------------------------------
        w_sub_n = cfg.stream_words(cfg.weight_word_bits)
        a_sub_n = cfg.stream_words(cfg.act_word_bits)
        sub_n = Signal(range(max(w_sub_n, a_sub_n) + 1))
        sub = Signal(range(max(w_sub_n, a_sub_n)))
        load_left = Signal(WORD_BITS)
        load_addr = Signal(_ARG_LIMIT_BITS)
        discard = Signal()
        buffer = Signal(WORD_BITS * max(w_sub_n, a_sub_n))
        w_word = Cat(buffer[WORD_BITS:], word)[-WORD_BITS * w_sub_n:][:cfg.weight_word_bits]
        a_word = Cat(buffer[WORD_BITS:], word)[-WORD_BITS * a_sub_n:][:cfg.act_word_bits]
        illegal_code = Signal()
        if cfg.weight_format == "2bit":
            m.d.comb += illegal_code.eq(Cat(
                w_word[2 * j:2 * j + 2] == ILLEGAL_WEIGHT_CODE for j in range(cfg.cols)).any())
        word_done = Signal()
        m.d.comb += [
            w_wr.addr.eq(load_addr), w_wr.data.eq(w_word),
            a_wr.addr.eq(load_addr), a_wr.data.eq(a_word),
        ]

        # --- responses ---------------------------------------------------------------------
        resp_idx = Signal(range(max(cfg.cols, COUNTER_WORDS, STATUS_WORDS)))
        resp_left = Signal(WORD_BITS)
        counters = [Signal(COUNTER_BITS, name=f"count_{c.name.lower()}") for c in Counter]
        snapshot = Array(Signal(COUNTER_BITS, name=f"snap_{c.name.lower()}") for c in Counter)
        status = Array([errors, *(Const(w, WORD_BITS) for w in cfg.status_words()),
                        Const(VERSION, WORD_BITS)])
        acc_elem = Signal(WORD_BITS)
        m.d.comb += acc_elem.eq(acc_rd.data[resp_idx])     # sign-extended to 32 bits
        counter_word = Signal(WORD_BITS)
        snap = snapshot[resp_idx >> 1]
        m.d.comb += counter_word.eq(Mux(resp_idx[0], snap[WORD_BITS:], snap[:WORD_BITS]))
        clear_counters = Signal()

        m.d.comb += self.busy.eq(0)
        with m.FSM(name="controller"):
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(take):
                    with m.If(~header_ok):
                        m.d.comb += raise_error.eq(ErrorFlag.BAD_HEADER)
                    with m.Else():
                        m.d.sync += [opcode.eq(header_op), flags.eq(word[4:8]), arg_idx.eq(0),
                                     resp_idx.eq(0)]
                        with m.Switch(header_op):
                            with m.Case(Opcode.NOP):
                                pass
                            with m.Case(Opcode.READ_COUNTERS):
                                m.d.sync += [s.eq(c) for s, c in zip(snapshot, counters,
                                                                     strict=True)]
                                m.next = "RESP_HEADER"
                            with m.Case(Opcode.READ_STATUS):
                                m.next = "RESP_HEADER"
                            with m.Default():
                                m.next = "ARGS"

            with m.State("ARGS"):
                m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(1)]
                with m.If(take):
                    m.d.sync += [args[arg_idx].eq(word), arg_idx.eq(arg_idx + 1)]
                    with m.If(arg_idx == arg_count[opcode.as_value()] - 1):
                        m.d.sync += products_started.eq(0)
                        m.next = "CHECK"

            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [load_addr.eq(range_addr), load_left.eq(range_count), sub.eq(0),
                             resp_idx.eq(0)]
                with m.Switch(opcode):
                    with m.Case(Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
                        depth = Mux(opcode == Opcode.LOAD_WEIGHTS, cfg.weight_depth,
                                    cfg.act_depth)
                        ok = fits(range_addr) & fits(range_count) & (range_end <= depth)
                        with m.If(~ok):
                            m.d.comb += raise_error.eq(ErrorFlag.OVERRUN)
                        m.d.sync += [
                            discard.eq(~ok | (errors != 0)),
                            sub_n.eq(Mux(opcode == Opcode.LOAD_WEIGHTS, w_sub_n, a_sub_n)),
                        ]
                        m.next = "LOAD"
                        with m.If(range_count == 0):
                            m.next = "IDLE"
                    with m.Case(Opcode.MATMUL):
                        with m.If(~products_started):
                            m.d.comb += [mul.start.eq(1) for mul in (mul_tiles, mul_act, mul_acc)]
                            m.d.sync += products_started.eq(1)
                        with m.Elif(products_done):
                            with m.If(~matmul_shape_ok):
                                m.d.comb += raise_error.eq(ErrorFlag.BAD_SHAPE)
                                m.next = "IDLE"
                            with m.Elif(~matmul_bounds_ok):
                                m.d.comb += raise_error.eq(ErrorFlag.OVERRUN)
                                m.next = "IDLE"
                            with m.Elif(errors != 0):
                                m.next = "IDLE"
                            with m.Else():
                                m.d.comb += engine.start.eq(1)
                                m.next = "MATMUL"
                    with m.Case(Opcode.DRAIN):
                        ok = fits(range_addr) & fits(range_count) & (range_end <= cfg.acc_depth)
                        with m.If(~ok):
                            m.d.comb += raise_error.eq(ErrorFlag.OVERRUN)
                        m.d.sync += resp_left.eq(Mux(ok & (errors == 0), range_count, 0))
                        m.next = "RESP_HEADER"
                    with m.Case(Opcode.CLEAR):
                        with m.If(args[0] == CLEAR_MAGIC):
                            m.d.comb += [
                                clear_errors.eq((flags & ClearFlag.ERRORS) != 0),
                                clear_counters.eq((flags & ClearFlag.COUNTERS) != 0),
                            ]
                        with m.Else():
                            m.d.comb += raise_error.eq(ErrorFlag.BAD_MAGIC)
                        m.next = "IDLE"
                    with m.Default():
                        m.next = "IDLE"

            with m.State("LOAD"):
                m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(1)]
                m.d.comb += word_done.eq(take & (sub == sub_n - 1))
                with m.If(take):
                    m.d.sync += [buffer.eq(Cat(buffer[WORD_BITS:], word)),
                                 sub.eq(Mux(word_done, 0, sub + 1))]
                with m.If(word_done):
                    m.d.sync += [load_addr.eq(load_addr + 1), load_left.eq(load_left - 1)]
                    writing = ~discard & (errors == 0)
                    with m.If(opcode == Opcode.LOAD_WEIGHTS):
                        with m.If(writing & illegal_code):
                            m.d.comb += raise_error.eq(ErrorFlag.ILLEGAL_WEIGHT)
                        m.d.comb += w_wr.en.eq(writing & ~illegal_code)
                    with m.Else():
                        m.d.comb += a_wr.en.eq(writing)
                    with m.If(load_left == 1):
                        m.next = "IDLE"

            with m.State("MATMUL"):
                m.d.comb += self.busy.eq(1)
                with m.If(~engine.busy):
                    m.next = "IDLE"

            with m.State("RESP_HEADER"):
                m.d.comb += [
                    self.busy.eq(1),
                    self.resp.valid.eq(1),
                    self.resp.payload.eq(Const(SYNC << 24, WORD_BITS) | (errors << 8)
                                         | opcode.as_value()),
                ]
                with m.If(self.resp.ready):
                    with m.Switch(opcode):
                        with m.Case(Opcode.READ_COUNTERS, Opcode.READ_STATUS):
                            m.next = "REPORT"
                        with m.Case(Opcode.DRAIN):
                            with m.If(resp_left != 0):
                                m.d.comb += [drain_addr.eq(load_addr), drain_en.eq(1)]
                                m.next = "DRAIN"
                            with m.Else():
                                m.next = "IDLE"
                        with m.Default():
                            m.next = "IDLE"

            with m.State("DRAIN"):
                # The accumulator word being sent stays on the read port (enable low) and the
                # next one is read as its last element leaves: one element per cycle.
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(acc_elem)]
                with m.If(self.resp.ready):
                    m.d.sync += resp_idx.eq(resp_idx + 1)
                    with m.If(resp_idx == cfg.cols - 1):
                        m.d.sync += [resp_idx.eq(0), resp_left.eq(resp_left - 1),
                                     load_addr.eq(load_addr + 1)]
                        m.d.comb += [drain_addr.eq(load_addr + 1), drain_en.eq(1)]
                        with m.If(resp_left == 1):
                            m.next = "IDLE"

            with m.State("REPORT"):       # READ_COUNTERS or READ_STATUS payload
                counting = opcode == Opcode.READ_COUNTERS
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(Mux(counting, counter_word,
                                                      status[resp_idx]))]
                with m.If(self.resp.ready):
                    m.d.sync += resp_idx.eq(resp_idx + 1)
                    with m.If(resp_idx == Mux(counting, COUNTER_WORDS, STATUS_WORDS) - 1):
                        m.next = "IDLE"

        # --- performance counters ----------------------------------------------------------
        increments = {
            Counter.CYCLES: 1,
            Counter.BUSY: self.busy,
            Counter.COMPUTE: engine.busy,
            Counter.STALL_IN: self.busy & self.cmd.ready & ~self.cmd.valid,
            Counter.STALL_OUT: self.resp.valid & ~self.resp.ready,
            Counter.MACS: Mux(engine.vector, cfg.rows * cfg.cols, 0),
            Counter.ZERO_MACS: engine.zero_macs,
        }
        for counter, signal in zip(Counter, counters, strict=True):
            m.d.sync += signal.eq(Mux(clear_counters, 0, signal + increments[counter]))
        return m
