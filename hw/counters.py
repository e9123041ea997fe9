# SPDX-License-Identifier: BSD-2-Clause
"""The performance counters (:class:`golden.contract.isa.Counter`), and their snapshot.

The :data:`~golden.contract.isa.COUNTER_BITS`-bit counters of the accelerator's events add
their increment every cycle (each event registered first: it is counted one cycle after it
happens). MEM_BYTES and MEM_BURSTS are the AXI weight reader's own counters
(:class:`hw.axi.AxiWeightReader`, cleared with these), taken as they are; with on-chip weights
they are the constant 0. READ_COUNTERS takes a snapshot of all of them at once (so the words
it sends describe one instant), and the responder reads the snapshot one 32-bit word at a time.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from golden.contract.config import WORD_BITS, AcceleratorConfig
from golden.contract.isa import COUNTER_BITS, COUNTER_WORDS, Counter

from .component import ConfiguredComponent, replicas

__all__ = ["Counters"]


class Counters(ConfiguredComponent):
    """The counters of one accelerator.

    Each of its own counters is two registers, the low :attr:`LOW_BITS` bits and the rest,
    with the low half's carry registered between them: no carry chain is longer than
    ``LOW_BITS`` bits (48 bits of carry were a critical path on the iCE40). The high half
    takes the carry a cycle after the low half gave it, so the count at cycle t is the low
    half at t with the high half at t + 1: the snapshot takes them so, the high half a
    cycle after the low one (the responder reads no word until three cycles after the
    snapshot).

    Members
    -------
    busy, compute, stall_in, stall_out, vector : In(1)
        This cycle: a command is in progress, a MATMUL is in progress, a command waits for an
        input word, a response word waits for the consumer, an activation vector enters the
        array (``rows * cols`` MACs).
    zero_macs : In(range(rows * cols + 1))
        Of this cycle's MACs, those that meet a zero weight.
    mem_bytes, mem_bursts : In(COUNTER_BITS)
        ``weight_memory = "axi"`` only: the weight reader's ``bytes_read`` and ``bursts``.
    clear : In(1)
        Reset every counter to 0 (CLEAR with :attr:`~golden.contract.isa.ClearFlag.COUNTERS`).
    snapshot : In(1)
        Copy every counter into the snapshot.
    index : In(range(COUNTER_WORDS))
        Word of the snapshot to read: counter ``index // 2``, low word first.
    word : Out(32)
        That word, two cycles later: ``index`` is registered (it fans out to the whole
        multiplexer), then the word.
    """

    #: Bits of a counter's low half (an increment is at most ``rows * cols``, far below it).
    LOW_BITS = 24

    def __init__(self, config: AcceleratorConfig):
        external = {}
        if config.axi:
            external = {"mem_bytes": In(COUNTER_BITS), "mem_bursts": In(COUNTER_BITS)}
        super().__init__(config, {
            **external,
            "busy": In(1),
            "compute": In(1),
            "stall_in": In(1),
            "stall_out": In(1),
            "vector": In(1),
            "zero_macs": In(range(config.rows * config.cols + 1)),
            "clear": In(1),
            "snapshot": In(1),
            "index": In(range(COUNTER_WORDS)),
            "word": Out(WORD_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        # Each event is registered before it is added: the 48-bit carry chains start at a
        # flip-flop, and nothing that decides an event (a stream's valid, a state) shares a
        # cycle with them. Every count is one cycle late, alike for all counters.
        events = {
            Counter.BUSY: self.busy,
            Counter.COMPUTE: self.compute,
            Counter.STALL_IN: self.stall_in,
            Counter.STALL_OUT: self.stall_out,
            Counter.MACS: self.vector,
            Counter.ZERO_MACS: self.zero_macs,
        }
        late = {}
        for counter, event in events.items():
            late[counter] = Signal.like(event, name=f"event_{counter.name.lower()}")
            m.d.sync += late[counter].eq(event)
        increments = {
            Counter.CYCLES: 1,
            **late,
            Counter.MACS: Mux(late[Counter.MACS], cfg.rows * cfg.cols, 0),
        }
        # The reader counts the bus traffic itself; without it the traffic is none.
        external = {Counter.MEM_BYTES: "mem_bytes", Counter.MEM_BURSTS: "mem_bursts"}
        low = self.LOW_BITS
        assert cfg.rows * cfg.cols < 1 << low, "an increment must carry at most once"
        # The high halves are taken a cycle after the low ones (the class's docstring).
        snapshot_high = Signal()
        m.d.sync += snapshot_high.eq(self.snapshot)
        snapshot = []
        for counter in Counter:
            name = counter.name.lower()
            if counter in external:
                if not cfg.axi:
                    snapshot.append(Const(0, COUNTER_BITS))
                    continue
                snap = Signal(COUNTER_BITS, name=f"snap_{name}")
                with m.If(self.snapshot):             # the reader's counts, whole
                    m.d.sync += snap.eq(getattr(self, external[counter]))
            else:
                lo = Signal(low, name=f"count_{name}_lo")
                hi = Signal(COUNTER_BITS - low, name=f"count_{name}_hi")
                carry = Signal(name=f"count_{name}_carry")
                total = Signal(low + 1, name=f"count_{name}_sum")
                m.d.comb += total.eq(lo + increments[counter])
                m.d.sync += [lo.eq(Mux(self.clear, 0, total[:low])),
                             carry.eq(~self.clear & total[low]),
                             hi.eq(Mux(self.clear, 0, hi + carry))]
                snap = Signal(COUNTER_BITS, name=f"snap_{name}")
                with m.If(self.snapshot):
                    m.d.sync += snap[:low].eq(lo)
                with m.If(snapshot_high):
                    m.d.sync += snap[low:].eq(hi)
            snapshot.append(snap)
        # The readout: one flat multiplexer of the snapshot's words, low word first, in
        # byte slices, each selected by its own copy of the registered index (the index
        # reaches every bit of the word: one register would drive them all from one place).
        words = [Cat(part, Const(0, WORD_BITS - len(part)))      # high words zero-extended
                 for s in snapshot for part in (s[:WORD_BITS], s[WORD_BITS:])]
        slices = WORD_BITS // 8
        for k, index in enumerate(replicas(m, self.index, slices, name="index")):
            byte = Array(w[8 * k:8 * (k + 1)] for w in words)
            m.d.sync += self.word[8 * k:8 * (k + 1)].eq(byte[index])
        return m
