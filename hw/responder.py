# SPDX-License-Identifier: BSD-2-Clause
"""The responder: the response stream of DRAIN, READ_COUNTERS and READ_STATUS.

Each response is a header (:func:`golden.contract.isa.response_header`: the opcode and the
sticky error flags as they are when it is sent), a payload and a CRC word over both
(:class:`~hw.crc.Crc32`). The payload is ``count`` accumulator words of ``cols`` elements each,
sent one element per 32-bit word, sign-extended (DRAIN); the counter snapshot (READ_COUNTERS);
:func:`golden.contract.isa.status_payload` (READ_STATUS); or the token (SYNC). A refused
command (``refused``: a bad CRC, or a DRAIN of count 0, out of range or with a flag set) gets
the header and the CRC word alone.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
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
from .crc import Crc32
from .engine import acc_word_layout

__all__ = ["Responder", "response_job_layout"]


def response_job_layout(config: AcceleratorConfig) -> data.StructLayout:
    """One response: its opcode; the command's first argument (DRAIN's first accumulator word,
    SYNC's token); DRAIN's count; and whether the command was refused (the header alone)."""
    return data.StructLayout({"opcode": Opcode, "arg": WORD_BITS, "count": WORD_BITS,
                              "refused": 1})


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
        Read request to the accumulator buffer (its read port holds the data while
        ``acc_en`` is low).
    acc_data : In(acc_word_layout(config))
    counter_index : Out(range(COUNTER_WORDS))
    counter_word : In(32)
        The counter snapshot, one word at a time (:class:`hw.counters.Counters`).
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
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        opcode = Signal(Opcode)
        arg = Signal(WORD_BITS)                   # SYNC's token; DRAIN's address, counting up
        addr = arg[:len(self.acc_addr)]
        left = Signal(WORD_BITS)
        refused = Signal()
        index = Signal(range(max(cfg.cols, COUNTER_WORDS, STATUS_WORDS)))
        with m.If(self.job.valid):
            m.d.sync += [opcode.eq(self.job.p.opcode), arg.eq(self.job.p.arg),
                         left.eq(self.job.p.count), refused.eq(self.job.p.refused),
                         index.eq(0)]

        m.submodules.crc = crc = Crc32()
        sent = self.resp.valid & self.resp.ready
        m.d.comb += [crc.word.eq(self.resp.payload), crc.en.eq(sent)]

        header = Signal(RESPONSE_HEADER)
        m.d.comb += [header.sync.eq(SYNC), header.errors.eq(self.errors),
                     header.opcode.eq(opcode.as_value())]
        status = Array([self.errors, *(Const(w, WORD_BITS) for w in
                                       status_payload(cfg, 0)[1:])])
        element = Signal(WORD_BITS)
        m.d.comb += [element.eq(self.acc_data[index]),          # sign-extended to 32 bits
                     self.counter_index.eq(index)]

        with m.FSM(name="responder"):
            with m.State("IDLE"):
                with m.If(self.job.valid):
                    m.next = "HEADER"

            with m.State("HEADER"):
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(header), crc.start.eq(1)]
                with m.If(self.resp.ready):
                    with m.If(refused):
                        m.next = "CRC"
                    with m.Else():
                        with m.Switch(opcode):
                            with m.Case(Opcode.READ_COUNTERS, Opcode.READ_STATUS):
                                m.next = "REPORT"
                            with m.Case(Opcode.SYNC):
                                m.next = "TOKEN"
                            with m.Case(Opcode.DRAIN):      # count >= 1: not refused
                                m.d.comb += [self.acc_addr.eq(addr), self.acc_en.eq(1)]
                                m.next = "DRAIN"
                            with m.Default():
                                m.next = "CRC"

            with m.State("DRAIN"):
                # The accumulator word being sent stays on the read port (enable low) and the
                # next one is read as its last element leaves: one element per cycle.
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(element)]
                with m.If(self.resp.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == cfg.cols - 1):
                        m.d.sync += [index.eq(0), left.eq(left - 1), addr.eq(addr + 1)]
                        m.d.comb += [self.acc_addr.eq(addr + 1), self.acc_en.eq(1)]
                        with m.If(left == 1):
                            m.next = "CRC"

            with m.State("REPORT"):       # READ_COUNTERS or READ_STATUS payload
                counting = opcode == Opcode.READ_COUNTERS
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(Mux(counting, self.counter_word,
                                                      status[index]))]
                with m.If(self.resp.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == Mux(counting, COUNTER_WORDS, STATUS_WORDS) - 1):
                        m.next = "CRC"

            with m.State("TOKEN"):
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(arg)]
                with m.If(self.resp.ready):
                    m.next = "CRC"

            with m.State("CRC"):
                m.d.comb += [self.busy.eq(1), self.resp.valid.eq(1),
                             self.resp.payload.eq(crc.check)]
                with m.If(self.resp.ready):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
