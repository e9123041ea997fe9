# SPDX-License-Identifier: BSD-2-Clause
"""The MATMUL engine: the whole tile loop of one layer, with no host in the loop.

For ``n_tiles`` N-slices (outer) and ``k_tiles`` K-slices (inner), tile t = nt * k_tiles + kt:

* the tile's ``rows`` weight rows are read from weight memory (consecutive row slots, starting
  at word ``w_addr``), ``W = weight_rows_per_cycle`` rows per cycle (a beat, ``B =
  tile_beats`` of them per tile), into the array's idle bank while the previous tile computes
  (double buffering);
* its ``m`` activation vectors issue back to back from the activation buffer (vector i of
  K-slice kt at ``a_addr + i * k_tiles + kt``), the first one switching tiles;
* each result vector is added into the accumulator buffer at ``acc_addr + nt * m + i``
  (written instead of added on the first K-slice, unless ``accumulate``).

The engine runs a fixed schedule, the one of :mod:`golden.contract.tileloop` (its constants
are :data:`~golden.contract.tileloop.ENGINE_TIMING`): after one setup cycle, the first tile's
beats are read in ``B`` cycles; then every ``P = max(m, B)`` cycles (down to 1) a tile's
vectors begin, and with them the next tile's beats. Since the schedule is known in advance,
nothing waits on a handshake: every decision is a register computed a cycle ahead
(down-counters with a registered "last" flag), every memory address comes straight from a
register, and every block-RAM output lands in a register
(:func:`~hw.component.registered_read`) before any logic.

Three streams of events run at fixed distances from one another:

* the weight beats and the activation vectors are read ``read`` = 2 cycles before they reach
  the array, with equal delays, so the array's hazard rule holds by construction (a tile's
  beats are read in order from its predecessor's first vector on, beat k at least k cycles
  after the last vector that used its bank, and all of them before its own first vector);
* the accumulator of a result is read ``array_latency - 1`` cycles after its vector, three
  cycles before the result leaves the array (the block RAM's registered output is registered
  once more in the fabric); result plus accumulator is registered and written one cycle
  later. The next K-slice reads the same accumulator ``P`` or more cycles later: at 5 or more
  the buffer holds the sum; at 1 to 4 the sum is still in flight (at the adder, in one of two
  registers behind it, or being written) and is forwarded. Each read's address is compared
  with those of the 4 reads before it, whatever the schedule (a period that is stretched only
  moves the match to an older read, or out of the window), the most recent match wins, and
  the chosen sum (or 0 on a first K-slice) is registered a cycle before the addition, so the
  adder's operand is a 2:1 mux selected by a register;
* the MAC counters count each vector 4 (+ e) cycles after its read, once its tile's zero
  weights have been counted on their way into the array (a popcount tree of 2 + e stages; e > 0
  only for beats of more than 16 weights, which delays both counts equally), from one of two
  slots by tile parity. A slot is complete 5 (+ e) cycles after its tile's last beat is read,
  which is before the tile's first vector, so in time for that vector's count; it is
  rewritten 5 (+ e) cycles after the last beat of tile t + 2 is read, which comes after tile
  t's last vector (tile t + 2 is read in period t + 1), so after that vector's count: for any
  period, 1 cycle or stretched.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.config import AcceleratorConfig
from golden.contract.tileloop import ENGINE_TIMING

from .array import SystolicArray
from .axi import AxiWeightReader, beat_layout, request_layout
from .component import ConfiguredComponent, registered_read, replicas
from .weight_source import WeightRowSource

__all__ = ["MatmulEngine", "acc_word_layout", "act_word_layout", "matmul_args_layout",
           "prefetch_layout"]


def max_tiles(config: AcceleratorConfig) -> int:
    """An upper bound of tiles in one MATMUL: every tile needs ``tile_rows`` weight-row
    slots."""
    return max(1, config.weight_rows // config.tile_rows)


def prefetch_layout(config: AcceleratorConfig) -> data.StructLayout:
    """A PREFETCH (``weight_memory = "axi"``): ``valid`` (one is held), its byte address, its
    tiles and its weight words (``tiles * tile_beats``)."""
    return data.StructLayout({
        "valid": unsigned(1),
        "addr": unsigned(config.axi_addr_width),
        "tiles": range(max_tiles(config) + 1),
        "words": range(max_tiles(config) * config.tile_beats + 1),
    })


def matmul_args_layout(config: AcceleratorConfig) -> data.StructLayout:
    """Arguments of one MATMUL, already checked against the buffers by the controller. With
    ``weight_memory = "axi"``, ``w_addr`` is a byte address and ``w_words`` the weight words
    of the MATMUL (``tiles * tile_beats``); ``pf`` is the PREFETCH the controller holds for
    it (:func:`prefetch_layout`)."""
    extra = {}
    if config.axi:
        extra = {"w_words": range(max_tiles(config) * config.tile_beats + 1),
                 "pf": prefetch_layout(config)}
    return data.StructLayout({
        "w_addr": unsigned(config.axi_addr_width if config.axi
                           else ceil_log2(config.weight_depth)),
        "a_addr": unsigned(ceil_log2(config.act_depth)),
        "acc_addr": unsigned(ceil_log2(config.acc_depth)),
        "m": range(config.act_depth + 1),
        "k_tiles": range(config.act_depth + 1),
        "tiles": range(max_tiles(config) + 1),          # n_tiles * k_tiles
        "accumulate": unsigned(1),
        **extra,
    })


def act_word_layout(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(signed(config.act_bits), config.rows)


def acc_word_layout(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(signed(config.acc_bits), config.cols)


class _Countdown:
    """A down-counter with a registered flag ``last`` (the count is 0): loaded with ``n - 1``
    and the flag ``n == 1``, both from registers, then stepped; no compare sits between the
    counter and the logic its flag drives."""

    def __init__(self, shape, name: str):
        self.count = Signal(shape, name=f"{name}_count")
        self.last = Signal(name=f"{name}_last")

    def load(self, m, minus_one, one):
        m.d.sync += [self.count.eq(minus_one), self.last.eq(one)]

    def step(self, m):
        m.d.sync += [self.count.eq(self.count - 1), self.last.eq(self.count == 1)]


def _delayed(m, value, cycles: int, name: str):
    """``value`` through ``cycles`` registers."""
    for d in range(cycles):
        stage = Signal.like(value, name=f"{name}_{d + 1}")
        m.d.sync += stage.eq(value)
        value = stage
    return value


class MatmulEngine(ConfiguredComponent):
    """Runs one MATMUL from ``start`` until ``busy`` falls (see the module docstring).

    Members
    -------
    start : In(1)
        Pulse with valid ``args``.
    args : In(matmul_args_layout(config))
    busy : Out(1)
        From the cycle after ``start`` to the last accumulator write: the
        :attr:`golden.contract.tileloop.MatmulWork.cycles` of the MATMUL.
    w_rd, a_rd, acc_rd : In(ReadPort.Signature(...))
        Read ports of the weight memory, activation buffer and accumulator buffer. The data of
        ``acc_rd`` must come registered (:func:`~hw.component.registered_read`, which the
        accelerator shares with the responder); the engine registers the other two itself.
    acc_wr : In(WritePort.Signature(...))
        Write port of the accumulator buffer (no transparency needed).
    w_request : Out(stream.Signature(request_layout(axi_addr_width)))
        ``weight_memory = "axi"`` only (instead of ``w_rd``), to the
        :class:`~hw.axi.AxiWeightReader`: at the start, the MATMUL's weight words.
    w_words : In(stream.Signature(beat_layout(weight_word_bits)))
        The reader's words; taken by the weight source on its schedule.
    w_available : In(range(...))
        The reader's :attr:`~hw.axi.AxiWeightReader.available` words.
    w_error : In(1)
        The reader's ``error``: the MATMUL ends (see ``mem_error``).
    w_clear : Out(1)
        To the reader's ``clear``: given with a new read (see *Prefetch*).
    mem_error : Out(1)
        One cycle: the MATMUL stopped issuing on a reader error; it drains what is in flight
        (only accumulators of its range are written) and ``busy`` falls.
    vector : Out(1)
        An activation vector counts this cycle: ``rows * cols`` MACs.
    zero_macs : Out(range(rows * cols + 1))
        How many of those MACs meet a zero weight.
    overflow : Out(1)
        A sum written into the accumulator buffer this cycle left the ``acc_bits`` range (it
        wrapped): :attr:`golden.contract.isa.ErrorFlag.ACC_OVERFLOW`.

    Prefetch (``weight_memory = "axi"``)
    ------------------------------------
    A MATMUL started with ``args.pf.valid`` requests the prefetch's words (``pf.addr``,
    ``pf.words``) in the cycle after it has taken its own last word, and the engine is then
    *armed* with that prefetch (``args.pf``, kept). Not before: a reader error halts
    the reader and drops every word it holds, so a prefetched burst must not be able to fail
    while the MATMUL still needs words of its own; and once it has taken them all, a reader
    error no longer ends it. So an error in a prefetched read is seen only by the MATMUL that
    takes or discards its words. At the next ``start`` (the arguments are registers of the
    controller, stable in the cycle before, where their match is registered):

    * armed, and ``w_addr`` and ``tiles`` equal the armed read's: no clear, no request; the
      words are in the reader (or coming), and a reader error ends this MATMUL
      (``mem_error``) as for its own read;
    * armed, not equal: the armed read's ``words`` are taken from the reader and
      dropped (``w_words.ready`` high, nothing to the array), or fewer if the reader shows an
      error meanwhile (it drops the rest itself); then ``clear`` and the MATMUL's own request,
      and the prologue waits two cycles more (``available`` must have lost the dropped words
      before the gate looks at it). The discard is part of the MATMUL (``busy``);
    * not armed: ``clear`` and the request with ``start``.

    Either way the start disarms the engine.
    """

    def __init__(self, config: AcceleratorConfig):
        cfg = config
        if cfg.axi:
            depth = cfg.axi_outstanding * cfg.axi_max_burst
            weights = {
                "w_request": Out(stream.Signature(request_layout(cfg.axi_addr_width))),
                "w_words": In(stream.Signature(beat_layout(cfg.weight_word_bits))),
                "w_available": In(range(depth + AxiWeightReader.STAGE_BEATS + 1)),
                "w_error": In(1),
                "w_clear": Out(1),
                "mem_error": Out(1),
            }
        else:
            weights = {"w_rd": In(ReadPort.Signature(addr_width=ceil_log2(cfg.weight_depth),
                                                     shape=unsigned(cfg.weight_word_bits)))}
        super().__init__(config, {
            "start": In(1),
            "args": In(matmul_args_layout(cfg)),
            "busy": Out(1),
            **weights,
            "a_rd": In(ReadPort.Signature(addr_width=ceil_log2(cfg.act_depth),
                                          shape=act_word_layout(cfg))),
            "acc_rd": In(ReadPort.Signature(addr_width=ceil_log2(cfg.acc_depth),
                                            shape=acc_word_layout(cfg))),
            "acc_wr": In(WritePort.Signature(addr_width=ceil_log2(cfg.acc_depth),
                                             shape=acc_word_layout(cfg))),
            "vector": Out(1),
            "zero_macs": Out(range(cfg.rows * cfg.cols + 1)),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols
        lanes, beats = cfg.weight_rows_per_cycle, cfg.tile_beats
        timing = ENGINE_TIMING

        m.submodules.array = array = SystolicArray(cfg)
        m.submodules.source = source = WeightRowSource(cfg)
        if cfg.axi:
            assert cfg.weight_beats_per_word == 1, "a word per beat over AXI"
            discarding = Signal()               # dropping the words of a stale prefetch
            m.d.comb += [source.words.valid.eq(self.w_words.valid),
                         source.words.payload.eq(self.w_words.payload),
                         self.w_words.ready.eq(source.words.ready | discarding)]
        else:
            wiring.connect(m, wiring.flipped(self.w_rd), source.rd)

        # --- arguments, latched at start; bounds derived in the setup cycle -----------------
        args = Signal.like(self.args)
        running = Signal()
        setup = Signal()                        # the cycle after start
        m.d.sync += setup.eq(self.start)
        with m.If(self.start):
            m.d.sync += [args.eq(self.args), running.eq(1)]
        if cfg.axi:
            # The whole MATMUL's words in one request; the reader splits it into bursts. A
            # prefetch is requested once the MATMUL has taken its own last word (class
            # docstring, *Prefetch*).
            requesting = Signal()               # the MATMUL's own request
            pf_requesting = Signal()            # the prefetch's request
            armed = Signal(prefetch_layout(cfg))   # the prefetch the last MATMUL requested
            match = Signal()                    # armed, with the arguments' weights
            m.d.sync += match.eq(armed.valid & (self.args.w_addr == armed.addr)
                                 & (self.args.tiles == armed.tiles))
            discard_left = Signal.like(armed.words)
            discard_done = Signal()
            settle = Signal()                   # the cycle after a discard
            new_read = Signal()                 # clear and request (start, or discard done)
            m.d.comb += new_read.eq(self.start & ~armed.valid | discard_done)
            with m.If(new_read):
                m.d.sync += requesting.eq(1)
            with m.Elif(self.w_request.ready):
                m.d.sync += requesting.eq(0)
            with m.If(pf_requesting & self.w_request.ready):
                m.d.sync += pf_requesting.eq(0)
            with m.If(self.start):
                m.d.sync += armed.valid.eq(0)
                with m.If(armed.valid & ~match):
                    m.d.sync += [discarding.eq(1), discard_left.eq(armed.words)]
            # The stale words, one per cycle as the reader has them; or until its error.
            m.d.comb += discard_done.eq(discarding & (self.w_error | self.w_words.valid
                                                      & (discard_left == 1)))
            with m.If(discarding & self.w_words.valid):
                m.d.sync += discard_left.eq(discard_left - 1)
            with m.If(discard_done):
                m.d.sync += [discarding.eq(0), settle.eq(1)]
            with m.If(settle):
                m.d.sync += settle.eq(0)
            shift = (cfg.weight_word_bytes - 1).bit_length()
            m.d.comb += [
                self.w_request.valid.eq(requesting | pf_requesting),
                self.w_request.p.addr.eq(Mux(pf_requesting, args.pf.addr, args.w_addr)),
                self.w_request.p.length.eq(Mux(pf_requesting, args.pf.words, args.w_words)
                                           << shift),
                self.w_clear.eq(new_read),
                source.start.eq(self.start),
                self.busy.eq(running),
            ]
        else:
            m.d.comb += [source.start.eq(self.start), source.base.eq(self.args.w_addr),
                         self.busy.eq(running)]

        m_shape = args.m.shape()
        m_minus_one = Signal(m_shape)           # m - 1 and m == 1
        m_one = Signal()
        period_minus_one = Signal(range(max(cfg.act_depth, beats)))   # max(m, beats) - 1
        period_one = Signal()                   # ... and the period is 1
        kt_minus_one = Signal.like(args.k_tiles)
        kt_one = Signal()
        with m.If(setup):
            m.d.sync += [
                m_minus_one.eq(args.m - 1), m_one.eq(args.m == 1),
                period_minus_one.eq(Mux(args.m > beats, args.m - 1, beats - 1)),
                period_one.eq((args.m == 1) & (beats == 1)),
                kt_minus_one.eq(args.k_tiles - 1), kt_one.eq(args.k_tiles == 1),
            ]

        # --- the schedule: periods, vector bursts and weight-beat bursts --------------------
        # The prologue reads the first tile's beats (tile_beats cycles); period t (t = 0 ..
        # tiles-1) issues tile t's m vectors and reads tile t+1's beats, from its first cycle on.
        issuing = Signal()                      # from the prologue to the last vector
        in_periods = Signal()                   # the prologue is over
        period = _Countdown(period_minus_one.shape(), "period")   # cycles left in it
        periods = _Countdown(args.tiles.shape(), "periods")       # periods left after it
        bursts = _Countdown(args.tiles.shape(), "bursts")         # beat bursts left to begin
        vectors = _Countdown(m_shape, "vectors")                  # vectors left in the burst
        beat_count = _Countdown(range(beats), "beats")            # beats left in the burst
        v_go = Signal()                         # a vector is read this cycle
        v_swap = Signal()                       # ... and it is its tile's first
        w_go = Signal()                         # a weight beat is read this cycle
        next_period = issuing & period.last & (~in_periods | ~periods.last)
        if cfg.axi:
            # The one gate of external weights: a period that begins a weight-beat burst
            # begins only once the reader holds the whole tile (`gate`, registered from the
            # cycle before); until then the period's last cycle repeats (the period
            # stretches). The prologue's burst waits the same way (`waiting`).
            waiting = Signal()                  # the prologue's burst waits for its tile
            gate = Signal()                     # the reader holds a whole tile not yet owed
            next_period = next_period & (bursts.last | gate)
        last_vector = v_go & vectors.last & in_periods & periods.last   # of the whole MATMUL

        with m.If(setup):
            if cfg.axi:
                # After a discard, the prologue waits from `settle` on (below).
                m.d.sync += [waiting.eq(~discarding), in_periods.eq(0)]
            else:
                m.d.sync += [issuing.eq(1), in_periods.eq(0), w_go.eq(1)]
                period.load(m, beats - 1, beats == 1)
            periods.load(m, args.tiles - 1, args.tiles == 1)
            bursts.load(m, args.tiles - 1, args.tiles == 1)
            if not cfg.axi:
                beat_count.load(m, beats - 1, beats == 1)
        if cfg.axi:
            with m.Elif(waiting & gate):
                m.d.sync += [waiting.eq(0), issuing.eq(1), w_go.eq(1)]
                period.load(m, beats - 1, beats == 1)
                beat_count.load(m, beats - 1, beats == 1)
        with m.Elif(issuing):
            with m.If(period.last):
                if cfg.axi:
                    with m.If(next_period | (in_periods & periods.last)):   # not held
                        period.load(m, period_minus_one, period_one)
                else:
                    period.load(m, period_minus_one, period_one)
            with m.Else():
                period.step(m)
            with m.If(next_period):
                m.d.sync += in_periods.eq(1)
                with m.If(in_periods):
                    periods.step(m)

            # Vectors: a burst of m from each period's first cycle.
            m.d.sync += v_swap.eq(next_period)
            with m.If(next_period):
                m.d.sync += v_go.eq(1)
                vectors.load(m, m_minus_one, m_one)
            with m.Elif(v_go & vectors.last):
                m.d.sync += v_go.eq(0)
                with m.If(last_vector):                     # then drain
                    m.d.sync += issuing.eq(0)
            with m.Elif(v_go):
                vectors.step(m)

            # Weight beats: a burst of `tile_beats` from each period's first cycle but the last's.
            with m.If(next_period & ~bursts.last):
                m.d.sync += w_go.eq(1)
                beat_count.load(m, beats - 1, beats == 1)
                bursts.step(m)
            with m.Elif(w_go & beat_count.last):
                m.d.sync += w_go.eq(0)
            with m.Elif(w_go):
                beat_count.step(m)

        if cfg.axi:
            # Words the schedule still owes the reader's buffer: the rest of the burst being
            # read, and a whole tile for a burst that begins this cycle. The gate opens when
            # the reader holds a tile beyond those; it is computed a cycle early, which is
            # safe: until the next burst begins, what the reader holds beyond what is owed
            # never shrinks.
            claim = (next_period & ~bursts.last) | (waiting & gate)
            owed = Mux(w_go, beat_count.count + 1, 0) + Mux(claim, beats, 0)
            m.d.sync += gate.eq(self.w_available >= owed + beats)

        # --- activation addresses: vector i of K-slice kt at a_addr + i * k_tiles + kt ------
        a_ptr = Signal.like(args.a_addr)        # the address read with v_go
        a_next = Signal.like(args.a_addr)       # the first address of the next period's tile
        k_slices = _Countdown(args.k_tiles.shape(), "k_slices")   # of the next period's tile
        with m.If(setup):
            m.d.sync += a_next.eq(args.a_addr)
            k_slices.load(m, args.k_tiles - 1, args.k_tiles == 1)
        with m.Elif(next_period):
            m.d.sync += [a_ptr.eq(a_next), a_next.eq(Mux(k_slices.last, args.a_addr, a_next + 1))]
            with m.If(k_slices.last):
                k_slices.load(m, kt_minus_one, kt_one)
            with m.Else():
                k_slices.step(m)
        with m.Elif(v_go):
            m.d.sync += a_ptr.eq(a_ptr + args.k_tiles)
        m.d.comb += [self.a_rd.addr.eq(a_ptr), self.a_rd.en.eq(v_go), source.go.eq(w_go)]
        acts = registered_read(m, self.a_rd, name="acts")

        # --- into the array: beats and vectors, both `read` cycles after their reads ---------
        m.d.comb += [
            array.weights.valid.eq(source.beats.valid),
            array.weights.payload.eq(source.beats.payload),
            array.acts.valid.eq(_delayed(m, v_go, timing.read, "vector")),
            array.acts.p.swap.eq(_delayed(m, v_swap, timing.read, "swap")),
            array.acts.p.data.eq(acts),
        ]

        # --- accumulate: read `array_latency - 1` cycles after the vector, add, write -------
        acc_go = _delayed(m, v_go, cfg.array_latency - 1, "acc_read")
        acc_ptr = Signal.like(args.acc_addr)    # the accumulator of acc_go's result
        acc_base = Signal.like(args.acc_addr)   # the N-slice's first accumulator
        acc_next = Signal.like(args.acc_addr)   # the next N-slice's: acc_base + m
        in_tile = _Countdown(m_shape, "acc_vectors")              # results left in the tile
        in_slice = _Countdown(args.k_tiles.shape(), "acc_slices")  # K-slices left after it
        first_slice = Signal()                  # the tile is its N-slice's first K-slice
        with m.If(setup):
            m.d.sync += [acc_ptr.eq(args.acc_addr), acc_base.eq(args.acc_addr),
                         acc_next.eq(args.acc_addr + args.m), first_slice.eq(1)]
            in_tile.load(m, args.m - 1, args.m == 1)
            in_slice.load(m, args.k_tiles - 1, args.k_tiles == 1)
        with m.Elif(acc_go):
            with m.If(in_tile.last):
                in_tile.load(m, m_minus_one, m_one)
                with m.If(in_slice.last):
                    in_slice.load(m, kt_minus_one, kt_one)
                    m.d.sync += [acc_ptr.eq(acc_next), acc_base.eq(acc_next),
                                 acc_next.eq(acc_next + args.m), first_slice.eq(1)]
                with m.Else():
                    in_slice.step(m)
                    m.d.sync += [acc_ptr.eq(acc_base), first_slice.eq(0)]
            with m.Else():
                in_tile.step(m)
                m.d.sync += acc_ptr.eq(acc_ptr + 1)
        m.d.comb += [self.acc_rd.addr.eq(acc_ptr), self.acc_rd.en.eq(acc_go)]

        # The result arrives `read` + 1 cycles after its accumulator's read, with the read
        # data: the block RAM's registered output is registered once more in the fabric
        # (`operand`), so that no route from a block RAM's output pins reaches the adder.
        # Its K-slice predecessor's sum may still be in flight: the memory returns a word
        # written by the end of the cycle before the read, so the sums of the last 4 reads
        # (`read` + 1 + `write` cycles: at the adder, in `sums`, in `sums_1`, being written)
        # are not in it. Each read's address is compared, in its own cycle, with those 4
        # earlier reads' (whatever the distance: bubbles are invalid stages), the most recent
        # match wins, and the choice travels as one-hot bits. A cycle before the addition the
        # operand is registered: the read data, or the sum chosen (or 0, on a first K-slice),
        # but for the nearest, the sum at the adder in that cycle: that one is `sums` when it
        # is added, selected by the register `use_sums`. So the accumulation's own loop, a
        # sum added to the next result of its accumulator, runs from `sums` through one 2:1
        # mux and the carry chain back to `sums`, with nothing else in it.
        meta_layout = data.StructLayout({"valid": 1, "addr": unsigned(len(acc_ptr)),
                                         "bypass": 1,     # the operand is a sum, not memory
                                         "near": 1,       # ... the sum at the adder now
                                         "mid": 1,        # ... the sum in `sums`
                                         "far": 1,        # ... the sum in `sums_1`
                                         "farthest": 1})  # ... the sum written last cycle
        meta = Signal(meta_layout)
        meta_1 = _delayed(m, meta, 1, "acc_meta")       # the read of one cycle ago
        meta_2 = _delayed(m, meta_1, 1, "acc_data")     # its data in `operand` next cycle
        due = _delayed(m, meta_2, 1, "acc_due")         # at the adder
        written = _delayed(m, due, 1, "acc_written")    # being written
        first = first_slice & ~args.accumulate
        hits = [s.valid & (s.addr == acc_ptr) for s in (meta_1, meta_2, due, written)]
        m.d.comb += [
            meta.valid.eq(acc_go), meta.addr.eq(acc_ptr),
            meta.bypass.eq(first | hits[0] | hits[1] | hits[2] | hits[3]),
            meta.near.eq(~first & hits[0]),
            meta.mid.eq(~first & ~hits[0] & hits[1]),
            meta.far.eq(~first & ~hits[0] & ~hits[1] & hits[2]),
            meta.farthest.eq(~first & ~hits[0] & ~hits[1] & ~hits[2] & hits[3]),
        ]
        operand = Signal(acc_word_layout(cfg))          # the read data or a sum, registered
        sums = Signal(acc_word_layout(cfg))             # the sum being written
        sums_1 = Signal(acc_word_layout(cfg))           # the sum written last cycle
        sums_2 = Signal(acc_word_layout(cfg))           # the sum written two cycles ago
        # The operand is `sums` instead: one copy of that select per column, each driving its
        # column's acc_bits + 1 adder bits rather than one register driving all of them.
        use_sums = replicas(m, meta_2.near, cols, name="use_sums")
        wrapped = Signal(cols)
        m.d.sync += [sums_1.eq(sums), sums_2.eq(sums_1)]
        for j in range(cols):
            # One bit more than the accumulator: the sum wrapped if its top two bits differ.
            total = Signal(signed(cfg.acc_bits + 1), name=f"acc_sum_{j}")
            m.d.comb += total.eq(Mux(use_sums[j], sums[j], operand[j]) + array.results.p[j])
            m.d.sync += [sums[j].eq(total), wrapped[j].eq(total[-1] ^ total[-2])]
            held = Mux(meta_2.mid, sums[j], Mux(meta_2.far, sums_1[j],
                                                Mux(meta_2.farthest, sums_2[j], 0)))
            m.d.sync += operand[j].eq(Mux(meta_2.bypass, held, self.acc_rd.data[j]))
        m.d.comb += [
            self.acc_wr.addr.eq(written.addr),
            self.acc_wr.data.eq(sums),
            self.acc_wr.en.eq(written.valid),
            self.overflow.eq(written.valid & wrapped.any()),
        ]

        # --- MAC counters: zero weights counted per tile on the way in, used per vector ------
        # A tile's count is complete 3 cycles after its last beat entered the array, at most 3
        # cycles after its first vector entered; so each vector is counted 4 cycles after its
        # read. Two slots (tile parity) suffice at any period, 1 included: a slot is rewritten
        # only after every vector of the tile that used it has been counted (module docstring).
        row_in = source.beats
        # The lanes of the last beat beyond `rows` are padding, not weights of the tile.
        full = rows - (beats - 1) * lanes       # the lanes of the last beat that are rows
        lane_ok = [Const(1) if r < full else row_in.p.beat != beats - 1 for r in range(lanes)]
        cells = [(r, j) for r in range(lanes) for j in range(cols)]
        # A tree of registered 4-input adds: the zero weights of 4 cells, then sums of 4 sums
        # each cycle, so that no stage adds more than 4 small numbers whatever the beat's
        # width (a 16x16 beat of 256 weights takes 4 stages), and at least the 2 stages the
        # counters are timed with (a group, then the beat's sum).
        level = [sum(~row_in.p.codes[r][j].as_value()[0] & lane_ok[r]   # bit 0 clear: a zero
                     for r, j in cells[g:g + 4]) for g in range(0, len(cells), 4)]
        stages = 0
        while True:
            regs = []
            for i, value in enumerate(level):
                reg = Signal(range(lanes * cols + 1) if len(level) == 1 else
                             range(4 ** (stages + 1) + 1), name=f"zeros_{stages}_{i}")
                m.d.sync += reg.eq(value)
                regs.append(reg)
            stages += 1
            if len(regs) == 1 and stages >= 2:
                break
            level = [sum(regs[g:g + 4]) for g in range(0, len(regs), 4)]
        row_zeros = regs[0]
        # Every stage beyond the two the counters were timed with delays the tile's count and
        # the vectors' by the same cycles, so the slots' rule (module docstring) is unchanged.
        extra = max(stages - 2, 0)
        w_par = Signal()                        # the parity of the tile whose rows are read
        with m.If(setup):
            m.d.sync += w_par.eq(0)
        with m.Elif(w_go & beat_count.last):
            m.d.sync += w_par.eq(~w_par)
        end_of_tile = _delayed(m, Cat(w_go & beat_count.last, w_par), timing.read + 2 + extra,
                               "tile_end")
        counted = _delayed(m, row_in.valid, 2 + extra, "row_counted")
        tile_zeros = Signal(range(rows * cols + 1))
        slot_zeros = [Signal(range(rows * cols + 1), name=f"zeros_slot{s}") for s in range(2)]
        with m.If(counted):
            m.d.sync += tile_zeros.eq(Mux(end_of_tile[0], 0, tile_zeros + row_zeros))
            with m.If(end_of_tile[0]):
                with m.If(end_of_tile[1]):
                    m.d.sync += slot_zeros[1].eq(tile_zeros + row_zeros)
                with m.Else():
                    m.d.sync += slot_zeros[0].eq(tile_zeros + row_zeros)
        v_par = Signal()                        # the parity of the tile whose vectors issue
        with m.If(setup):
            m.d.sync += v_par.eq(1)
        with m.Elif(next_period):
            m.d.sync += v_par.eq(~v_par)
        count = _delayed(m, Cat(v_go, v_par), 4 + extra, "vector_count")
        # The last vector is counted before the MATMUL's drain ends (`busy` falls then).
        assert 4 + extra <= timing.read + cfg.array_latency + timing.write, (extra, cfg)
        m.d.comb += [
            self.vector.eq(count[0]),
            self.zero_macs.eq(Mux(count[0], Mux(count[1], slot_zeros[1], slot_zeros[0]), 0)),
        ]

        # --- done: the last write, `read + array_latency + write` cycles after the last read -
        drain = _Countdown(range(timing.read + cfg.array_latency + timing.write + 1), "drain")
        draining = Signal()
        ending = issuing & last_vector
        if cfg.axi:
            # The prologue of a MATMUL that discarded stale words waits from the cycle after
            # `settle`: the gate, registered from `available`, no longer counts them then.
            with m.If(settle):
                m.d.sync += waiting.eq(1)
            # Its own last word taken, the MATMUL requests the prefetch (class docstring).
            took_all = Signal()
            # (A word is taken with its `w_go`; with an error registered in that cycle it was
            # not there, and the MATMUL ends instead.)
            last_take = w_go & beat_count.last & bursts.last & ~self.w_error
            with m.If(setup):
                m.d.sync += took_all.eq(0)
            with m.Elif(last_take):
                m.d.sync += took_all.eq(1)
                with m.If(args.pf.valid):
                    m.d.sync += [pf_requesting.eq(1), armed.eq(args.pf)]
            # A reader error ends the MATMUL while it needs words: nothing more is issued;
            # what is in flight drains into its own accumulators, so busy falls after the same
            # drain. Once it has taken them all, an error is the prefetch's, for later.
            abort = self.w_error & (waiting | issuing) & ~took_all
            ending = ending | abort
            m.d.comb += self.mem_error.eq(abort)
        with m.If(ending):
            m.d.sync += draining.eq(1)
            drain.load(m, timing.read + cfg.array_latency + timing.write - 1, 0)
        with m.Elif(draining):
            drain.step(m)
            with m.If(drain.last):
                m.d.sync += [draining.eq(0), running.eq(0)]
        if cfg.axi:
            with m.If(abort):
                m.d.sync += [waiting.eq(0), issuing.eq(0), w_go.eq(0), v_go.eq(0),
                             requesting.eq(0)]
            # An aborted tile leaves a partial zero count: start every MATMUL from 0.
            with m.If(setup):
                m.d.sync += tile_zeros.eq(0)
        return m
