# SPDX-License-Identifier: BSD-2-Clause
"""The loader: the data words of LOAD_WEIGHTS and LOAD_ACTS, staged, then written all at once.

A memory word (``cols`` weight codes, or ``rows`` activations) arrives as ``ceil(width / 32)``
little-endian stream words (:mod:`golden.contract.isa`). The loader takes a job (target memory,
address, count), then takes exactly ``count`` memory words from its ``data`` stream, one stream
word per cycle, and writes each complete word into its *staging buffer* (``max_load`` words of
the wider memory), noting whether any weight word holds the illegal code 0b10 (2-bit format).
When the last word is staged it raises ``staged`` and waits for the controller's verdict, given
once the command's CRC word has been checked: ``commit`` copies the staged words into the
target memory, one per cycle; ``drop`` forgets them. So a load is written whole or not at all.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.codecs import ILLEGAL_WEIGHT_CODE, WEIGHT_CODE_BITS
from golden.contract.config import WORD_BITS, AcceleratorConfig

from .component import ConfiguredComponent, registered_read
from .engine import act_word_layout

__all__ = ["Loader", "connect_loader", "load_job_layout"]


def load_job_layout(config: AcceleratorConfig) -> data.StructLayout:
    """One load: ``weights`` (else activations), first word address (as wide as the larger
    memory's addresses; the controller checks the range before a commit) and word count (1 to
    ``max_load``, checked by the controller)."""
    return data.StructLayout({"weights": 1, "addr": _addr_bits(config),
                              "count": range(config.max_load + 1)})


def _addr_bits(config: AcceleratorConfig) -> int:
    return max(1, ceil_log2(max(config.weight_depth, config.act_depth)))


class Loader(ConfiguredComponent):
    """Stages and writes the memory words of one load at a time (see the module docstring).

    Members
    -------
    job : In(stream.Signature(load_job_layout(config), always_ready=True))
        A beat starts a load (only while ``busy`` is low).
    data : In(stream.Signature(32))
        The load's data words; ready while words of the load are missing.
    last : Out(1)
        The data word taken in this cycle is the load's last.
    staged : Out(1)
        Every word of the load is staged (held until ``commit`` or ``drop``).
    illegal : Out(1)
        A staged weight word holds the illegal code (valid from the cycle after ``staged``).
    commit, drop : In(1)
        The verdict on a staged load (one cycle, while ``staged``). ``drop`` also cancels a
        load before its data (its count was refused).
    done : Out(1)
        The load is over (its last word written, or dropped) in this cycle.
    busy : Out(1)
    w_wr, a_wr : In(WritePort.Signature(...))
        The write ports of the weight memory and the activation buffer.
    """

    def __init__(self, config: AcceleratorConfig):
        cfg = config
        super().__init__(config, {
            "job": In(stream.Signature(load_job_layout(cfg), always_ready=True)),
            "data": In(stream.Signature(unsigned(WORD_BITS))),
            "last": Out(1),
            "staged": Out(1),
            "illegal": Out(1),
            "commit": In(1),
            "drop": In(1),
            "done": Out(1),
            "busy": Out(1),
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
        stage_bits = max(cfg.weight_word_bits, cfg.act_word_bits)

        m.submodules.stage = stage = Memory(shape=unsigned(stage_bits), depth=cfg.max_load,
                                            init=[])
        st_wr = stage.write_port()
        st_rd = stage.read_port()

        weights = Signal()
        addr = Signal(_addr_bits(cfg))
        count = Signal(range(cfg.max_load + 1))
        index = Signal(range(cfg.max_load + 1))      # words staged, then words written
        penult = Signal.like(index)                  # count - 2: the index before the last
        sub_n = Signal(range(max(w_sub_n, a_sub_n) + 1))
        sub = Signal(range(max(w_sub_n, a_sub_n)))
        illegal = Signal()
        # Registers saying, a cycle ahead, that the next stream word ends a memory word
        # (`sub == sub_n - 1`) and that the word being assembled is the load's last
        # (`index == count - 1`): so `last`, which the controller's state reads in the same
        # cycle, is the handshake and two flip-flops, with no comparator on its way. The
        # latter is set by `index == penult` as a word ends, an equality of two registers
        # (`index + 2 == count` put an adder's carry chain into it: the UP5K's critical
        # path).
        word_end = Signal()
        final_word = Signal()

        # The memory word is the last sub_n stream words: the earlier ones wait in `buffer`.
        word = self.data.payload
        buffer = Signal(WORD_BITS * max(w_sub_n, a_sub_n))
        w_word = Cat(buffer[WORD_BITS:], word)[-WORD_BITS * w_sub_n:][:cfg.weight_word_bits]
        a_word = Cat(buffer[WORD_BITS:], word)[-WORD_BITS * a_sub_n:][:cfg.act_word_bits]
        # A weight word's codes are checked in the cycle after it is complete, from `buffer`
        # (a register), so no path runs from the stream's valid into the comparators.
        check = Signal()
        stored = buffer[-WORD_BITS * w_sub_n:][:cfg.weight_word_bits]
        illegal_code = Signal()
        if cfg.weight_format == "2bit":
            m.d.comb += illegal_code.eq(Cat(
                stored[WEIGHT_CODE_BITS * j:WEIGHT_CODE_BITS * (j + 1)] == ILLEGAL_WEIGHT_CODE
                for j in range(cfg.cols * cfg.weight_rows_per_cycle)).any())     # every lane
        with m.If(check):
            m.d.sync += illegal.eq(illegal | illegal_code)
        take = self.data.valid & self.data.ready
        word_done = take & word_end
        m.d.sync += check.eq(word_done & weights)

        # A staged word is written a cycle after it left the staging memory, from a register
        # (the block RAM's output drives a flip-flop and nothing else).
        staged_word = registered_read(m, st_rd, name="staged_word")
        write = Signal()
        write_addr = Signal.like(addr)
        m.d.sync += write.eq(0)
        m.d.comb += [
            st_wr.addr.eq(index),
            st_wr.data.eq(Mux(weights, w_word, a_word)),
            self.w_wr.addr.eq(write_addr),
            self.w_wr.data.eq(staged_word[:cfg.weight_word_bits]),
            self.w_wr.en.eq(write & weights),
            self.a_wr.addr.eq(write_addr),
            self.a_wr.data.eq(staged_word[:cfg.act_word_bits]),
            self.a_wr.en.eq(write & ~weights),
            self.illegal.eq(illegal),
        ]

        with m.FSM(name="loader"):
            with m.State("IDLE"):
                # The job's fields are taken every idle cycle, so only the state waits for
                # `job.valid` (which the controller decodes from the stream in that cycle).
                m.d.sync += [weights.eq(self.job.p.weights), addr.eq(self.job.p.addr),
                             count.eq(self.job.p.count), penult.eq(self.job.p.count - 2),
                             index.eq(0), sub.eq(0), illegal.eq(0),
                             sub_n.eq(Mux(self.job.p.weights, w_sub_n, a_sub_n)),
                             word_end.eq(Mux(self.job.p.weights, w_sub_n == 1, a_sub_n == 1)),
                             final_word.eq(self.job.p.count == 1)]
                with m.If(self.job.valid):
                    m.next = "RECEIVE"

            with m.State("RECEIVE"):
                m.d.comb += [self.busy.eq(1), self.data.ready.eq(1), st_wr.en.eq(word_done)]
                with m.If(self.drop):         # the count was refused: no data comes
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.If(take):
                    m.d.sync += [buffer.eq(Cat(buffer[WORD_BITS:], word)),
                                 sub.eq(Mux(word_done, 0, sub + 1)),
                                 word_end.eq(Mux(word_done, sub_n == 1, sub + 2 == sub_n))]
                with m.If(word_done):
                    m.d.sync += [index.eq(index + 1), final_word.eq(index == penult)]
                    with m.If(final_word):
                        m.d.comb += self.last.eq(1)
                        m.next = "STAGED"

            with m.State("STAGED"):
                m.d.comb += [self.busy.eq(1), self.staged.eq(1), st_rd.addr.eq(0)]
                m.d.sync += index.eq(0)
                with m.If(self.drop):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.Elif(self.commit):
                    m.d.sync += index.eq(1)
                    m.next = "COMMIT"

            with m.State("COMMIT"):
                # Staged word `index - 1` is on the read port, written next cycle from its
                # register; the next one is being read.
                m.d.comb += [self.busy.eq(1), st_rd.addr.eq(index)]
                m.d.sync += [addr.eq(addr + 1), index.eq(index + 1),
                             write.eq(1), write_addr.eq(addr)]
                with m.If(index == count):
                    m.next = "LAST"

            with m.State("LAST"):                # the last word is written
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.next = "IDLE"
        return m


def connect_loader(m, controller, loader: Loader) -> None:
    """Wire a :class:`Loader` to the :class:`~hw.controller.Controller` that drives it: the
    job and data streams, and the handshake of a staged load (``last``, ``staged``,
    ``illegal``, ``done`` back; ``commit`` or ``drop`` forward)."""
    wiring.connect(m, controller.load_data, loader.data)
    wiring.connect(m, controller.load, loader.job)
    m.d.comb += [
        controller.load_last.eq(loader.last),
        controller.load_staged.eq(loader.staged),
        controller.load_illegal.eq(loader.illegal),
        controller.load_done.eq(loader.done),
        loader.commit.eq(controller.load_commit),
        loader.drop.eq(controller.load_drop),
    ]
