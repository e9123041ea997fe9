# SPDX-License-Identifier: BSD-2-Clause
"""The responder: the response stream of DRAIN, READ_COUNTERS, READ_STATUS and SYNC.

Each response is a header (:func:`golden.contract.isa.response_header`: the opcode and the
sticky error flags), a payload and a CRC word over both (the controller's
:class:`~hw.crc.Crc32`, which the responder drives while it responds). The payload is ``count``
accumulator words of ``cols`` elements each, sent one element per 32-bit word, sign-extended
(DRAIN); the counter snapshot (READ_COUNTERS); :func:`golden.contract.isa.status_payload`
(READ_STATUS); or the token (SYNC). A refused command (``refused``: a bad CRC, or a DRAIN of
count 0, out of range or with a flag set) gets the header and the CRC word alone.

Every word leaves from a register (``resp.payload`` and ``resp.valid`` are flip-flops), and the
CRC adds that register, so no memory read or multiplexer reaches the CRC's XOR trees in the
cycle it is read. A second register takes a word while the first waits, so whether the next
word is produced depends on registers alone, never on ``resp.ready``. DRAIN keeps one
accumulator word in a register of its own while the next is read (the accumulator buffer's
data comes two cycles after the read), and sends one element per cycle when ``cols >= 2``.
The counter words arrive two cycles after their index (registers in
:class:`~hw.counters.Counters`), so READ_COUNTERS and READ_STATUS send a word every third
cycle, and the CRC word waits two cycles for the CRC of the last payload word.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.config import WORD_BITS, AcceleratorConfig
from golden.contract.isa import (
    COUNTER_WORDS,
    RESPONSE_HEADER,
    STATUS_WORDS,
    SYNC,
    ErrorFlag,
    Opcode,
    status_payload,
)

from .component import ConfiguredComponent
from .engine import acc_word_layout

__all__ = ["Responder", "response_job_layout"]


def response_job_layout(config: AcceleratorConfig) -> data.StructLayout:
    """One response: its opcode; the command's first argument (DRAIN's first accumulator word,
    SYNC's token); DRAIN's count (checked: at most ``acc_depth``); and whether the command was
    refused (the header alone)."""
    return data.StructLayout({"opcode": Opcode, "arg": WORD_BITS,
                              "count": range(config.acc_depth + 1), "refused": 1})


class Responder(ConfiguredComponent):
    """Sends one response at a time (see the module docstring).

    Members
    -------
    job : In(stream.Signature(response_job_layout(config), always_ready=True))
        A beat starts a response (only while ``busy`` is low).
    resp : Out(stream.Signature(32))
        The response stream.
    done : Out(1)
        The last word of the response is taken in this cycle.
    busy : Out(1)
    errors : In(len(ErrorFlag))
        The sticky error flags, for the header and the status.
    acc_addr, acc_en : Out(...)
        Read request to the accumulator buffer.
    acc_data : In(acc_word_layout(config))
        The word read, two cycles after the cycle of ``acc_en``, held until the next read.
    counter_index : Out(range(COUNTER_WORDS))
    counter_word : In(32)
        The counter snapshot word at ``counter_index``, two cycles later
        (:class:`hw.counters.Counters`).
    crc_clear, crc_en : Out(1)
    crc_word : Out(32)
    crc_check : In(32)
        The shared CRC unit (:class:`hw.crc.Crc32`), lent by the controller while it waits for
        ``done``: ``crc_en`` adds ``crc_word`` (``crc_check`` covers it two cycles later).
    """

    def __init__(self, config: AcceleratorConfig):
        super().__init__(config, {
            "job": In(stream.Signature(response_job_layout(config), always_ready=True)),
            "resp": Out(stream.Signature(unsigned(WORD_BITS))),
            "done": Out(1),
            "busy": Out(1),
            "errors": In(len(ErrorFlag)),
            "acc_addr": Out(ceil_log2(config.acc_depth)),
            "acc_en": Out(1),
            "acc_data": In(acc_word_layout(config)),
            "counter_index": Out(range(COUNTER_WORDS)),
            "counter_word": In(WORD_BITS),
            "crc_clear": Out(1),
            "crc_en": Out(1),
            "crc_word": Out(WORD_BITS),
            "crc_check": In(WORD_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        opcode = Signal(Opcode)
        arg = Signal(WORD_BITS)                   # SYNC's token; DRAIN's address, counting up
        addr = arg[:len(self.acc_addr)]
        left = Signal(range(cfg.acc_depth + 1))   # DRAIN: words still to read
        refused = Signal()
        index = Signal(range(max(cfg.cols, COUNTER_WORDS, STATUS_WORDS)))
        with m.If(self.job.valid):
            m.d.sync += [opcode.eq(self.job.p.opcode), arg.eq(self.job.p.arg),
                         left.eq(self.job.p.count), refused.eq(self.job.p.refused),
                         index.eq(0)]

        # --- the output: two registers, `out` (sent) and `spare` -----------------------------
        # A word is produced whenever `spare` is empty, a registered condition: the consumer's
        # ready only moves words between the two registers, and reaches nothing upstream.
        out = Signal(WORD_BITS)
        valid = Signal()
        spare = Signal(WORD_BITS)
        spare_valid = Signal()
        sent = valid & self.resp.ready
        load = ~spare_valid                       # a new word may be produced this cycle
        put = Signal()                            # a new word is produced
        word = Signal(WORD_BITS)                  # ... this one
        with m.If(~valid | self.resp.ready):      # `out` takes the next word, if any
            m.d.sync += [out.eq(Mux(spare_valid, spare, word)), valid.eq(spare_valid | put),
                         spare_valid.eq(0)]
        with m.Elif(put):
            m.d.sync += spare_valid.eq(1)
        # `spare` follows `word` while it is empty (what it holds then is never read): its
        # enable is a register, not `put` (the state's decoding) and the consumer's ready.
        with m.If(~spare_valid):
            m.d.sync += spare.eq(word)
        empty = ~valid & ~spare_valid
        m.d.comb += [self.resp.payload.eq(out), self.resp.valid.eq(valid),
                     self.crc_word.eq(out), self.crc_en.eq(sent)]
        m.d.sync += self.crc_clear.eq(0)
        adding = Signal()                         # the CRC adds the word sent last cycle
        m.d.sync += adding.eq(sent)

        header = Signal(RESPONSE_HEADER)
        m.d.comb += [header.sync.eq(SYNC), header.errors.eq(self.errors),
                     header.opcode.eq(opcode.as_value())]
        status = Array([self.errors, *(Const(w, WORD_BITS) for w in
                                       status_payload(cfg, 0)[1:])])
        m.d.comb += self.counter_index.eq(index)
        counting = Signal()
        m.d.sync += counting.eq(opcode == Opcode.READ_COUNTERS)

        # --- DRAIN: read ahead into `current` ------------------------------------------------
        current = Signal(acc_word_layout(cfg))    # the accumulator word being sent
        current_full = Signal()
        read_1 = Signal()                         # a read was issued one / two cycles ago
        read_2 = Signal()
        waiting = Signal()                        # acc_data holds a word not yet in `current`
        arrived = waiting | read_2
        last_element = Signal()                   # index == cols - 1, as a register
        m.d.sync += [read_1.eq(self.acc_en), read_2.eq(read_1)]
        m.d.comb += self.acc_addr.eq(addr)

        with m.FSM(name="responder"):
            with m.State("IDLE"):
                with m.If(self.job.valid):
                    m.next = "HEADER"

            with m.State("HEADER"):
                m.d.comb += [self.busy.eq(1), word.eq(header)]
                m.d.sync += [current_full.eq(0), waiting.eq(0), last_element.eq(cfg.cols == 1)]
                with m.If(load):
                    m.d.comb += put.eq(1)
                    with m.If(refused):
                        m.next = "CRC"
                    with m.Else():
                        with m.Switch(opcode):
                            with m.Case(Opcode.READ_COUNTERS, Opcode.READ_STATUS):
                                m.next = "REPORT"
                            with m.Case(Opcode.SYNC):
                                m.next = "TOKEN"
                            with m.Case(Opcode.DRAIN):      # count >= 1: not refused
                                m.next = "DRAIN"
                            with m.Default():
                                m.next = "CRC"

            with m.State("DRAIN"):
                # The element sent is always `current[0]` (sign-extended): the word shifts
                # down an element as each goes out, so no multiplexer selects it.
                m.d.comb += [self.busy.eq(1), word.eq(current[0])]
                move = load & current_full                # an element goes out
                free = ~current_full | move & last_element
                with m.If(move):
                    m.d.comb += put.eq(1)
                    m.d.sync += [current.as_value().eq(current.as_value() >> cfg.acc_bits),
                                 index.eq(Mux(last_element, 0, index + 1)),
                                 last_element.eq(Mux(last_element, cfg.cols == 1,
                                                     index == cfg.cols - 2))]
                    with m.If(last_element):
                        m.d.sync += current_full.eq(0)
                refill = free & arrived
                with m.If(refill):
                    m.d.sync += [current.eq(self.acc_data), current_full.eq(1)]
                m.d.sync += waiting.eq(arrived & ~refill)
                # One read in flight at a time, issued when acc_data is free (or being freed)
                # by the time its word arrives.
                with m.If((left != 0) & ~read_1 & ~read_2 & (~waiting | refill)):
                    m.d.comb += self.acc_en.eq(1)
                    m.d.sync += [addr.eq(addr + 1), left.eq(left - 1)]
                with m.If((left == 0) & ~read_1 & ~read_2 & ~waiting & ~current_full):
                    m.next = "CRC"

            with m.State("REPORT"):       # READ_COUNTERS or READ_STATUS payload
                # counter_word is that of `index` two cycles after `index` changed.
                settled = Signal(2)
                m.d.comb += [self.busy.eq(1),
                             word.eq(Mux(counting, self.counter_word, status[index]))]
                m.d.sync += settled.eq(Cat(1, settled[0]))
                with m.If(load & settled[1]):
                    m.d.comb += put.eq(1)
                    m.d.sync += [index.eq(index + 1), settled.eq(0)]
                    with m.If(index == Mux(counting, COUNTER_WORDS - 1, STATUS_WORDS - 1)):
                        m.next = "CRC"

            with m.State("TOKEN"):
                m.d.comb += [self.busy.eq(1), word.eq(arg)]
                with m.If(load):
                    m.d.comb += put.eq(1)
                    m.next = "CRC"

            with m.State("CRC"):
                # The CRC adds a word in the cycle after it is sent: the check word covers the
                # last payload word two cycles after it has left.
                m.d.comb += [self.busy.eq(1), word.eq(self.crc_check)]
                with m.If(empty & ~adding):
                    m.d.comb += put.eq(1)
                    m.d.sync += self.crc_clear.eq(1)      # in LAST's first cycle
                    m.next = "LAST"

            with m.State("LAST"):
                m.d.comb += [self.busy.eq(1), self.crc_en.eq(0)]
                with m.If(sent):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
