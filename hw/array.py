# SPDX-License-Identifier: BSD-2-Clause
"""The weight-stationary ternary systolic array, with and without result buffering.

Dataflow (rows x cols cells, weights stationary)::

    activation vector x[0..rows-1] ──skew──►  row i enters i cycles late, moves right
    weight W[i][j] sits in cell (i, j)        partial sums move down the columns
    column j's bottom emits sum_i x[i] * W[i][j], de-skewed into one result vector

A result vector leaves :attr:`SystolicArray.results` exactly
:attr:`AcceleratorConfig.array_latency` cycles after its activation vector was accepted.

Both arrays are generic over the element type (:class:`hw.pe.Arithmetic`): the default,
:data:`hw.pe.TERNARY`, is the multiplier-free design; :mod:`hw.mac` provides the INT8 and FP16
multiply-accumulate baselines on the same skeleton (same ports, dataflow and latency).
"""

from dataclasses import dataclass

from amaranth.hdl import Const, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.config import AcceleratorConfig

from .component import ConfiguredComponent
from .pe import TERNARY, Arithmetic, ProcessingElement

__all__ = ["ArrayProbes", "BufferedArray", "SystolicArray", "act_layout", "result_layout",
           "weight_beat_layout", "weight_beat_payloads", "write_skew"]


@dataclass(frozen=True)
class ArrayProbes:
    """The probe set of one elaborated :class:`SystolicArray`: the signals an activity
    measurement observes (``reports.energy.activity`` counts their toggles), named by what
    they are rather than by the names synthesis or a waveform gives them.

    Attributes
    ----------
    pes : dict of (row, col) -> ProcessingElement
        Every cell: its ports ``a_in``, ``a_out``, ``psum_out``, its attributes ``w_banks`` and
        ``w_sel`` and, for the ternary element, ``addend`` (the adder's second operand).
    edge : tuple of Signal
        The activation vector's edge registers (the accepted vector, then a plain stage).
    skew : tuple of Signal
        The activation skew registers (row i has i of them).
    """

    pes: dict[tuple[int, int], ProcessingElement]
    edge: tuple[Signal, ...]
    skew: tuple[Signal, ...]


def weight_beat_layout(config: AcceleratorConfig,
                       arithmetic: Arithmetic = TERNARY) -> data.StructLayout:
    """One beat of a weight tile: ``W = weight_rows_per_cycle`` rows of ``cols`` weights
    (2-bit ternary codes by default), ``codes[r][j]`` for row ``beat * W + r``, column j, and
    the beat's place in its tile (``beat`` in ``0 .. tile_beats - 1``; at W = 1 the row). Rows
    ``>= rows`` of the last beat, when W does not divide ``rows``, are ignored."""
    return data.StructLayout({
        "beat": unsigned(max(1, ceil_log2(config.tile_beats))),
        "codes": data.ArrayLayout(data.ArrayLayout(arithmetic.weight_shape(config), config.cols),
                                  config.weight_rows_per_cycle),
    })


def weight_beat_payloads(config: AcceleratorConfig, rows) -> list[dict]:
    """The beats (payloads of :func:`weight_beat_layout`, in order) that load one tile:
    ``rows[i][j]`` is the stored value of weight (i, j); the rows of the last beat beyond
    ``rows`` are padded with 0."""
    lanes = config.weight_rows_per_cycle
    rows = [list(row) for row in rows]
    if len(rows) != config.rows:
        raise ValueError(f"a tile has rows={config.rows} rows, not {len(rows)}")
    padded = rows + [[0] * config.cols] * (config.tile_rows - config.rows)
    return [{"beat": k, "codes": padded[k * lanes:(k + 1) * lanes]}
            for k in range(config.tile_beats)]


def write_skew(config: AcceleratorConfig, row: int) -> int:
    """Cycles by which a weight write to ``row`` is delayed on its way in, beyond the write
    path's two edge stages: ``row - row // W`` (W = ``weight_rows_per_cycle``). Row i of beat
    k = i // W is then written as if it came k cycles after the beat, unskewed, so the hazard
    rule is per beat: beat k may be written once the last vector that used its bank entered
    k cycles ago. 0 for every row at W = 1 (the write path of the original design); ``row``
    at W = rows (a whole tile in one beat, skewed exactly like the activations: no hazard)."""
    return row - row // config.weight_rows_per_cycle


def act_layout(config: AcceleratorConfig, arithmetic: Arithmetic = TERNARY) -> data.StructLayout:
    """One activation vector (a K-slice of one token) and its tile-switch flag.

    ``swap`` makes the most recently loaded weight tile active, starting with this vector.
    """
    return data.StructLayout({
        "data": data.ArrayLayout(arithmetic.act_shape(config), config.rows),
        "swap": unsigned(1),
    })


def result_layout(config: AcceleratorConfig, arithmetic: Arithmetic = TERNARY) -> data.ArrayLayout:
    """One result vector: ``cols`` column sums of ``rows`` products each."""
    return data.ArrayLayout(arithmetic.result_shape(config), config.cols)


class _ArrayComponent(ConfiguredComponent):
    """The streams of an array, with (:attr:`backpressure`) or without backpressure on
    activations and results, and its probe set.

    Parameters
    ----------
    config : AcceleratorConfig
    arithmetic : Arithmetic
        Element type of the cells (keyword only); :data:`hw.pe.TERNARY` by default.
    """

    #: Whether the activation and result streams have a ``ready``.
    backpressure: bool = False

    def __init__(self, config: AcceleratorConfig, *, arithmetic: Arithmetic = TERNARY):
        if not isinstance(arithmetic, Arithmetic):
            raise TypeError(f"arithmetic must be an hw.pe.Arithmetic, not {arithmetic!r}")
        self._arithmetic = arithmetic
        self._probes = None             # set by elaboration: the probes, or the core
        free_running = not self.backpressure
        super().__init__(config, {
            "weights": In(stream.Signature(weight_beat_layout(config, arithmetic))),
            "acts": In(stream.Signature(act_layout(config, arithmetic),
                                        always_ready=free_running)),
            "results": Out(stream.Signature(result_layout(config, arithmetic),
                                            always_ready=free_running)),
        })

    @property
    def arithmetic(self) -> Arithmetic:
        return self._arithmetic

    @property
    def probes(self) -> ArrayProbes:
        """The :class:`ArrayProbes` of the last elaboration (a simulator elaborates the design
        when it is constructed, so a testbench may use them)."""
        probes = self._probes.probes if isinstance(self._probes, SystolicArray) else self._probes
        if probes is None:
            raise RuntimeError("the array has not been elaborated yet: its probes exist once "
                               "a simulator (or a back end) has elaborated it")
        return probes


class SystolicArray(_ArrayComponent):
    """The free-running array core: it never stalls, so no enable fans out across the grid.

    Weight loading is double-buffered. A beat on :attr:`weights` writes ``W =
    weight_rows_per_cycle`` rows of the *shadow* tile; an activation vector with ``swap`` set
    makes the shadow tile active for itself and every later vector, and the former active tile
    becomes the shadow. A beat written before a swapping vector is used by it, a beat written
    in the same cycle or later goes to the next tile.

    A write travels along its row with the same skew as the activations. Row i of a beat also
    enters its row :func:`write_skew` ``= i - i // W`` cycles late, so the beat's rows behave
    as if beat k had been written k cycles after its issue, unskewed: it only has to wait
    (``weights.ready`` low) while the last vector that used the target bank entered fewer than
    k cycles ago (at W = 1, row i waits i cycles: the original rule; at W = rows the write is
    skewed exactly like the activations and never waits). Beats written in order right behind
    a switching vector never wait, so a tile of ``tile_beats`` beats loads while the previous
    one computes, and a tile switch costs ``max(vectors, tile_beats)`` cycles for any shape:
    one vector per tile (decode) runs at the full weight bandwidth of one beat per cycle.

    Members
    -------
    weights : In(stream.Signature(weight_beat_layout(config, arithmetic)))
    acts : In(stream.Signature(act_layout(config, arithmetic), always_ready=True))
    results : Out(stream.Signature(result_layout(config, arithmetic), always_ready=True))
        Valid exactly ``config.array_latency`` cycles after the activation vector. The consumer
        must take every result; :class:`BufferedArray` adds backpressure.
    probes : ArrayProbes
        After elaboration: the signals an activity measurement observes.
    """

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        arith = self._arithmetic
        rows, cols = cfg.rows, cfg.cols

        # --- the grid -------------------------------------------------------------------------
        top_shape, top_value = arith.top_psum(cfg)
        pes = [[None] * cols for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                pe = arith.pe(cfg, i)
                m.submodules[f"pe_{i}_{j}"] = pes[i][j] = pe
                if j:
                    m.d.comb += [pe.a_in.eq(pes[i][j - 1].a_out),
                                 pe.bank_in.eq(pes[i][j - 1].bank_out),
                                 pe.w_we.eq(pes[i][j - 1].w_we_out)]
                m.d.comb += pe.psum_in.eq(pes[i - 1][j].psum_out if i
                                          else Const(top_value, top_shape))

        # --- activation feed: bank selection, then a skew of i cycles for row i --------------
        cur_bank = Signal()                    # bank of the active tile after the last vector
        tok_bank = Signal()                    # bank of the vector accepted this cycle
        accept = self.acts.valid
        m.d.comb += tok_bank.eq(cur_bank ^ self.acts.p.swap)
        with m.If(accept):
            m.d.sync += cur_bank.eq(tok_bank)

        # The edge register holds the last vector through idle cycles, so a bubble repeats the
        # previous operands and nothing in the grid toggles; its results are simply not valid.
        # Like every datapath register (see ProcessingElement.register) it has no reset: only
        # the valid bits and the bank state need one.
        edge_data = Signal.like(self.acts.p.data, reset_less=True)
        edge_bank = Signal(reset_less=True)
        with m.If(accept):
            m.d.sync += [edge_data.eq(self.acts.p.data), edge_bank.eq(tok_bank)]
        # A second edge stage (a plain register) keeps the input stream's logic out of the
        # grid: nothing in a cell depends on ``acts`` within a cycle. The bank bit runs one
        # cycle ahead of its activation (see ProcessingElement), so row i gets ``edge_bank``
        # delayed i cycles and the data of the second stage delayed i.
        edge_data2 = Signal.like(edge_data, reset_less=True)
        m.d.sync += edge_data2.eq(edge_data)
        skew = []
        for i in range(rows):
            a, bank = edge_data2[i], edge_bank
            for d in range(i):
                a_d = Signal(arith.act_shape(cfg), name=f"skew_a_{i}_{d}", reset_less=True)
                bank_d = Signal(name=f"skew_bank_{i}_{d}", reset_less=True)
                m.d.sync += [a_d.eq(a), bank_d.eq(bank)]
                a, bank = a_d, bank_d
                skew.append(a_d)
            m.d.comb += [pes[i][0].a_in.eq(a), pes[i][0].bank_in.eq(bank)]
        self._probes = ArrayProbes(pes={(i, j): pes[i][j] for i in range(rows)
                                        for j in range(cols)},
                                   edge=(edge_data, edge_data2), skew=tuple(skew))

        # --- weight loading into the shadow bank ---------------------------------------------
        # A write moves along its row one column per cycle, like the activations, so it meets
        # every cell of row i exactly i cycles ahead of (or behind) a vector issued with it.
        # Row i of beat k = i // W is delayed write_skew(i) = i - k cycles more on its way in,
        # so it reaches the row as an unskewed write issued k cycles after the beat would.
        # age[b]: cycles since the last vector that used bank b was accepted (saturating);
        # beat k of bank b may be written once age >= k, i.e. right behind that vector. One
        # comparator per bank against the incoming beat number, both in parallel with the bank
        # choice (which depends on the activation input in the same cycle).
        lanes, beats = cfg.weight_rows_per_cycle, cfg.tile_beats
        sat = beats
        age = [Signal(range(sat + 1), init=sat, name=f"bank{b}_age") for b in range(2)]
        for b in range(2):
            used = accept & (tok_bank == b)
            m.d.sync += age[b].eq(Mux(used, 1, Mux(age[b] == sat, sat, age[b] + 1)))

        shadow = Signal()                      # the bank a write accepted this cycle goes to
        m.d.comb += shadow.eq(~Mux(accept, tok_bank, cur_bank))
        beat = self.weights.p.beat
        beat_free = [Signal(name=f"bank{b}_beat_free") for b in range(2)]
        m.d.comb += [beat_free[b].eq(age[b] >= beat) for b in range(2)]
        m.d.comb += self.weights.ready.eq(Mux(shadow, beat_free[1], beat_free[0]))

        # An accepted beat is written two cycles later, through two register stages (the
        # activations take the same two stages at the edge, so the hazard rule above is that of
        # an unregistered write). Stage 1 registers the beat as it is, so the beat number feeds
        # only the two comparators and ``ready`` only one flip-flop (``wr_valid``); stage 2
        # decodes the beat into every row's two write enables, each a flip-flop of its own, so
        # the enable that enters row i is not a gate shared with every other row. The codes are
        # registered every cycle (no enable to fan out): only the cycles after an accepted beat
        # write, with its codes.
        wr_valid = Signal()
        wr_bank = Signal(reset_less=True)
        wr_beat = Signal.like(beat, reset_less=True)
        wr_codes = Signal.like(self.weights.p.codes, reset_less=True)
        wr_codes2 = Signal.like(wr_codes, reset_less=True)
        m.d.sync += [
            wr_valid.eq(self.weights.valid & self.weights.ready),
            wr_bank.eq(shadow),
            wr_beat.eq(beat),
            wr_codes.eq(self.weights.p.codes),
            wr_codes2.eq(wr_codes),
        ]
        # Row i's write enable is delayed write_skew(i) cycles, enters cell (i, 0) and is
        # passed right by the cells. The codes of lane r, column j are delayed j cycles to meet
        # it, then go down one delay line per lane and column that every row of the lane taps
        # at its own write_skew (so lanes, not rows, pay for the column skew).
        for i in range(rows):
            row_we = Signal(2, name=f"row_we_{i}")
            m.d.sync += row_we.eq(Mux(wr_valid & (wr_beat == i // lanes),
                                      Mux(wr_bank, 0b10, 0b01), 0))
            for d in range(write_skew(cfg, i)):
                # Write enables are control, not pipeline: they keep their reset.
                we_d = Signal(2, name=f"skew_we_{i}_{d}")
                m.d.sync += we_d.eq(row_we)
                row_we = we_d
            m.d.comb += pes[i][0].w_we.eq(row_we)
        for r in range(lanes):
            lane_rows = range(r, rows, lanes)
            for j in range(cols):
                code = wr_codes2[r][j]
                for d in range(j):
                    code_d = Signal(arith.weight_shape(cfg), name=f"skew_w_{r}_{j}_{d}",
                                    reset_less=True)
                    m.d.sync += code_d.eq(code)
                    code = code_d
                taps = [code]
                for d in range(max(write_skew(cfg, i) for i in lane_rows)):
                    code_d = Signal(arith.weight_shape(cfg), name=f"lane_w_{r}_{j}_{d}",
                                    reset_less=True)
                    m.d.sync += code_d.eq(taps[-1])
                    taps.append(code_d)
                for i in lane_rows:
                    m.d.comb += pes[i][j].w_code.eq(taps[write_skew(cfg, i)])

        # --- results: column j leaves the grid j cycles late; delay the others to align ------
        for j in range(cols):
            out = pes[rows - 1][j].psum_out
            for d in range(cols - 1 - j):
                out_d = Signal(arith.result_shape(cfg), name=f"deskew_{j}_{d}", reset_less=True)
                m.d.sync += out_d.eq(out)
                out = out_d
            m.d.comb += self.results.p[j].eq(out)

        valid = accept
        for d in range(cfg.array_latency):
            valid_d = Signal(name=f"valid_{d}")
            m.d.sync += valid_d.eq(valid)
            valid = valid_d
        m.d.comb += self.results.valid.eq(valid)
        return m


class BufferedArray(_ArrayComponent):
    """The array with backpressure on its results: the foundation's stand-alone top level.

    A FIFO of ``config.result_fifo_depth`` result vectors sits behind the free-running core.
    Instead of stalling the grid when the consumer is not ready, the input accepts a vector
    only while ``vectors in flight + FIFO level < depth``: every vector has a FIFO slot
    reserved before it enters (credit-based flow control), so nothing is ever dropped and the
    grid needs no stall signal. The default depth (latency + 2) sustains one vector per cycle.

    Members
    -------
    weights : In(stream.Signature(weight_beat_layout(config, arithmetic)))
    acts : In(stream.Signature(act_layout(config, arithmetic)))
    results : Out(stream.Signature(result_layout(config, arithmetic)))
    probes : ArrayProbes
        After elaboration: the core's (:attr:`SystolicArray.probes`).
    """

    backpressure = True

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        depth = cfg.result_fifo_depth

        m.submodules.core = core = SystolicArray(cfg, arithmetic=self._arithmetic)
        self._probes = core
        width = Shape.cast(result_layout(cfg, self._arithmetic)).width
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=width, depth=depth)

        wiring.connect(m, wiring.flipped(self.weights), core.weights)

        in_flight = Signal(range(depth + 1))
        m.d.comb += self.acts.ready.eq(in_flight + fifo.level < depth)
        accept = self.acts.valid & self.acts.ready
        m.d.comb += [
            core.acts.valid.eq(accept),
            core.acts.payload.eq(self.acts.payload),
        ]
        with m.If(accept & ~core.results.valid):
            m.d.sync += in_flight.eq(in_flight + 1)
        with m.Elif(~accept & core.results.valid):
            m.d.sync += in_flight.eq(in_flight - 1)

        m.d.comb += [
            fifo.w_en.eq(core.results.valid),
            fifo.w_data.eq(core.results.payload),
            self.results.valid.eq(fifo.r_rdy),
            self.results.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.results.ready),
        ]
        return m
