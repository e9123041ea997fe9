# SPDX-License-Identifier: BSD-2-Clause
"""The loader: the data words of LOAD_WEIGHTS and LOAD_ACTS, assembled into memory words.

A memory word (``cols`` weight codes, or ``rows`` activations) arrives as ``ceil(width / 32)``
little-endian stream words (:mod:`golden.contract.isa`). The loader takes a job (target memory,
address, count, and whether to discard), then takes exactly ``count`` memory words from its
``data`` stream, one stream word per cycle, and writes each complete word into its memory,
unless the job is discarded or a sticky error flag is set. A weight word with the illegal code
0b10 (2-bit format) is not written and raises :attr:`~golden.contract.isa.ErrorFlag.ILLEGAL_WEIGHT`;
the flag being set, the rest of the load is consumed but not written.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.codecs import ILLEGAL_WEIGHT_CODE, WEIGHT_CODE_BITS
from golden.contract.config import WORD_BITS, AcceleratorConfig
from golden.contract.isa import ARG_LIMIT_BITS

from .component import ConfiguredComponent
from .engine import act_word_layout

__all__ = ["Loader", "load_job_layout"]


def load_job_layout() -> data.StructLayout:
    """One load: ``weights`` (else activations), first word address, word count, and
    ``discard`` (consume the words without writing them)."""
    return data.StructLayout({"weights": 1, "addr": ARG_LIMIT_BITS, "count": WORD_BITS,
                              "discard": 1})


class Loader(ConfiguredComponent):
    """Writes the memory words of one load at a time (see the module docstring).

    Members
    -------
    job : In(stream.Signature(load_job_layout(), always_ready=True))
        A beat starts a load (only while ``busy`` is low); a count of 0 is not a job.
    data : In(stream.Signature(32))
        The load's data words; ready while a load is in progress.
    done : Out(1)
        The last word of the load is taken in this cycle.
    busy : Out(1)
    errors_set : In(1)
        A sticky error flag is set: take the words, write none.
    illegal : Out(1)
        This cycle's weight word holds the illegal code (raise ILLEGAL_WEIGHT).
    w_wr, a_wr : In(WritePort.Signature(...))
        The write ports of the weight memory and the activation buffer.
    """

    def __init__(self, config: AcceleratorConfig):
        cfg = config
        super().__init__(config, {
            "job": In(stream.Signature(load_job_layout(), always_ready=True)),
            "data": In(stream.Signature(unsigned(WORD_BITS))),
            "done": Out(1),
            "busy": Out(1),
            "errors_set": In(1),
            "illegal": Out(1),
            "w_wr": In(WritePort.Signature(addr_width=ceil_log2(cfg.weight_depth),
                                            shape=unsigned(cfg.weight_word_bits))),
            "a_wr": In(WritePort.Signature(addr_width=ceil_log2(cfg.act_depth),
                                            shape=act_word_layout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        w_sub_n = cfg.stream_words(cfg.weight_word_bits)
        a_sub_n = cfg.stream_words(cfg.act_word_bits)

        weights = Signal()
        discard = Signal()
        addr = Signal(ARG_LIMIT_BITS)
        left = Signal(WORD_BITS)
        sub_n = Signal(range(max(w_sub_n, a_sub_n) + 1))
        sub = Signal(range(max(w_sub_n, a_sub_n)))
        with m.If(self.job.valid):
            m.d.sync += [weights.eq(self.job.p.weights), addr.eq(self.job.p.addr),
                         left.eq(self.job.p.count), discard.eq(self.job.p.discard), sub.eq(0),
                         sub_n.eq(Mux(self.job.p.weights, w_sub_n, a_sub_n))]

        # The memory word is the last sub_n stream words: the earlier ones wait in `buffer`.
        word = self.data.payload
        buffer = Signal(WORD_BITS * max(w_sub_n, a_sub_n))
        w_word = Cat(buffer[WORD_BITS:], word)[-WORD_BITS * w_sub_n:][:cfg.weight_word_bits]
        a_word = Cat(buffer[WORD_BITS:], word)[-WORD_BITS * a_sub_n:][:cfg.act_word_bits]
        illegal_code = Signal()
        if cfg.weight_format == "2bit":
            m.d.comb += illegal_code.eq(Cat(
                w_word[WEIGHT_CODE_BITS * j:WEIGHT_CODE_BITS * (j + 1)] == ILLEGAL_WEIGHT_CODE
                for j in range(cfg.cols)).any())

        take = self.data.valid & self.data.ready
        word_done = take & (sub == sub_n - 1)
        writing = word_done & ~discard & ~self.errors_set
        m.d.comb += [
            self.busy.eq(left != 0),
            self.data.ready.eq(self.busy),
            self.done.eq(word_done & (left == 1)),
            self.w_wr.addr.eq(addr), self.w_wr.data.eq(w_word),
            self.a_wr.addr.eq(addr), self.a_wr.data.eq(a_word),
            self.w_wr.en.eq(writing & weights & ~illegal_code),
            self.a_wr.en.eq(writing & ~weights),
            self.illegal.eq(writing & weights & illegal_code),
        ]
        with m.If(take):
            m.d.sync += [buffer.eq(Cat(buffer[WORD_BITS:], word)),
                         sub.eq(Mux(word_done, 0, sub + 1))]
        with m.If(word_done):
            m.d.sync += [addr.eq(addr + 1), left.eq(left - 1)]
        return m
