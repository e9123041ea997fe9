# SPDX-License-Identifier: BSD-2-Clause
"""The MATMUL engine: the whole tile loop of one layer, with no host in the loop.

For ``n_tiles`` N-slices (outer) and ``k_tiles`` K-slices (inner), tile t = nt * k_tiles + kt:

* the weight reader streams the tile's ``rows`` rows from weight memory (consecutive rows,
  starting at ``w_addr``) into the array's idle bank, starting as soon as the previous tile
  has switched in, so loading overlaps computing (double buffering);
* once a tile is loaded, its ``m`` activation vectors issue back to back from the activation
  buffer (vector m of K-slice kt at ``a_addr + m * k_tiles + kt``), the first one switching
  tiles;
* ``array_latency`` cycles later each result vector is added into the accumulator buffer at
  ``acc_addr + nt * m + m_index`` (written instead of added on the first K-slice, unless
  ``accumulate``), a read-modify-write with the read port transparent to the write port.

A tile takes ``max(m, rows)`` cycles: prefill (m >= rows) keeps every cell busy, decode
(m = 1) runs at the weight memory's bandwidth of one row per cycle. All addresses come from
counters and adders.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.codecs import WeightCode
from golden.contract.config import AcceleratorConfig

from .array import SystolicArray
from .component import ConfiguredComponent
from .weight_source import WeightRowSource

__all__ = ["MatmulEngine", "acc_word_layout", "act_word_layout", "matmul_args_layout"]


def max_tiles(config: AcceleratorConfig) -> int:
    """An upper bound of tiles in one MATMUL: every tile needs ``rows`` weight rows."""
    return max(1, config.weight_rows // config.rows)


def matmul_args_layout(config: AcceleratorConfig) -> data.StructLayout:
    """Arguments of one MATMUL, already checked against the buffers by the controller."""
    return data.StructLayout({
        "w_addr": unsigned(ceil_log2(config.weight_depth)),
        "a_addr": unsigned(ceil_log2(config.act_depth)),
        "acc_addr": unsigned(ceil_log2(config.acc_depth)),
        "m": range(config.act_depth + 1),
        "k_tiles": range(config.act_depth + 1),
        "tiles": range(max_tiles(config) + 1),          # n_tiles * k_tiles
        "w_rows": range(config.weight_rows + 1),        # tiles * rows
        "accumulate": unsigned(1),
    })


def act_word_layout(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(signed(config.act_bits), config.rows)


def acc_word_layout(config: AcceleratorConfig) -> data.ArrayLayout:
    return data.ArrayLayout(signed(config.acc_bits), config.cols)


class MatmulEngine(ConfiguredComponent):
    """Runs one MATMUL from ``start`` until ``busy`` falls (see the module docstring).

    Members
    -------
    start : In(1)
        Pulse with valid ``args``.
    args : In(matmul_args_layout(config))
    busy : Out(1)
    w_rd, a_rd, acc_rd : In(ReadPort.Signature(...))
        Read ports of the weight memory, activation buffer and accumulator buffer.
    acc_wr : In(WritePort.Signature(...))
        Write port of the accumulator buffer; ``acc_rd`` must be transparent to it.
    vector : Out(1)
        An activation vector entered the array this cycle: ``rows * cols`` MACs.
    zero_macs : Out(range(rows * cols + 1))
        How many of those MACs meet a zero weight.
    overflow : Out(1)
        A sum written into the accumulator buffer this cycle left the ``acc_bits`` range (it
        wrapped): :attr:`golden.contract.isa.ErrorFlag.ACC_OVERFLOW`.
    """

    def __init__(self, config: AcceleratorConfig):
        cfg = config
        super().__init__(config, {
            "start": In(1),
            "args": In(matmul_args_layout(cfg)),
            "busy": Out(1),
            "w_rd": In(ReadPort.Signature(addr_width=ceil_log2(cfg.weight_depth),
                                          shape=unsigned(cfg.weight_word_bits))),
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

        m.submodules.array = array = SystolicArray(cfg)
        m.submodules.source = source = WeightRowSource(cfg)
        wiring.connect(m, wiring.flipped(self.w_rd), source.rd)

        args = Signal.like(self.args)           # latched at start
        running = Signal()
        with m.If(self.start):
            m.d.sync += [args.eq(self.args), running.eq(1)]
        m.d.comb += [
            source.start.eq(self.start),
            source.base.eq(self.args.w_addr),
            source.count.eq(self.args.w_rows),
        ]

        # --- weight rows into the array, one tile ahead of the vectors -----------------------
        n_tiles_bound = max_tiles(cfg)
        w_tile = Signal(range(n_tiles_bound + 1))    # tiles whose rows are all in the array
        w_row = Signal(range(rows))
        switched = Signal(range(n_tiles_bound + 1))  # tiles whose first vector entered
        switch_now = array.acts.valid & array.acts.p.swap
        # Tile t's rows may enter once tile t-1 has switched in (the same cycle is fine: a row
        # that enters with a switching vector lands in the new idle bank).
        gate = running & (w_tile <= switched + switch_now)
        m.d.comb += [
            array.weights.valid.eq(source.rows.valid & gate),
            array.weights.payload.eq(source.rows.payload),
            source.rows.ready.eq(array.weights.ready & gate),
        ]
        w_accept = array.weights.valid & array.weights.ready
        last_row = w_row == rows - 1
        with m.If(w_accept):
            m.d.sync += w_row.eq(Mux(last_row, 0, w_row + 1))
            with m.If(last_row):
                m.d.sync += w_tile.eq(w_tile + 1)
        with m.If(switch_now):
            m.d.sync += switched.eq(switched + 1)
        # Counted with the row being taken now: its tile's first vector may be read from the
        # activation buffer in this cycle, since it reaches the array one cycle later.
        loaded_now = w_tile + (w_accept & last_row)

        # Zero weights per tile, for the MAC counters (two slots: loading and computing).
        row_zeros = Signal(range(cols + 1))
        m.d.comb += row_zeros.eq(sum(
            (code.as_value() == WeightCode.ZERO.value) | (code.as_value() == 0b10)
            for code in (array.weights.p.codes[j] for j in range(cols))))
        tile_zeros = Signal(range(rows * cols + 1))
        slot_zeros = [Signal(range(rows * cols + 1), name=f"zeros_slot{s}") for s in range(2)]
        with m.If(w_accept):
            m.d.sync += tile_zeros.eq(Mux(last_row, 0, tile_zeros + row_zeros))
            with m.If(last_row):
                with m.If(w_tile[0]):
                    m.d.sync += slot_zeros[1].eq(tile_zeros + row_zeros)
                with m.Else():
                    m.d.sync += slot_zeros[0].eq(tile_zeros + row_zeros)

        # --- vector issue: activation buffer address, then the array ------------------------
        v_tile = Signal.like(w_tile)
        v_m = Signal.like(args.m)
        v_kt = Signal.like(args.k_tiles)
        a_base = Signal.like(args.a_addr)
        a_ptr = Signal.like(args.a_addr)
        acc_base = Signal.like(args.acc_addr)
        acc_ptr = Signal.like(args.acc_addr)
        with m.If(self.start):
            m.d.sync += [v_tile.eq(0), v_m.eq(0), v_kt.eq(0), w_tile.eq(0), w_row.eq(0),
                         switched.eq(0), tile_zeros.eq(0),
                         a_base.eq(self.args.a_addr), a_ptr.eq(self.args.a_addr),
                         acc_base.eq(self.args.acc_addr), acc_ptr.eq(self.args.acc_addr)]

        issue = running & (v_tile < args.tiles) & (v_tile < loaded_now)
        m.d.comb += [self.a_rd.addr.eq(a_ptr), self.a_rd.en.eq(issue)]
        with m.If(issue):
            with m.If(v_m == args.m - 1):
                m.d.sync += [v_m.eq(0), v_tile.eq(v_tile + 1)]
                with m.If(v_kt == args.k_tiles - 1):
                    m.d.sync += [v_kt.eq(0), a_base.eq(args.a_addr), a_ptr.eq(args.a_addr),
                                 acc_base.eq(acc_base + args.m), acc_ptr.eq(acc_base + args.m)]
                with m.Else():
                    m.d.sync += [v_kt.eq(v_kt + 1), a_base.eq(a_base + 1),
                                 a_ptr.eq(a_base + 1), acc_ptr.eq(acc_base)]
            with m.Else():
                m.d.sync += [v_m.eq(v_m + 1), a_ptr.eq(a_ptr + args.k_tiles),
                             acc_ptr.eq(acc_ptr + 1)]

        # The activation word arrives one cycle after its address: the array's input stage.
        meta_layout = data.StructLayout({"valid": 1, "addr": unsigned(len(acc_ptr)),
                                         "first": 1})
        meta = Signal(meta_layout)
        vec_swap = Signal()
        m.d.sync += [
            meta.valid.eq(issue),
            meta.addr.eq(acc_ptr),
            meta.first.eq((v_kt == 0) & ~args.accumulate),
            vec_swap.eq(v_m == 0),
        ]
        m.d.comb += [
            array.acts.valid.eq(meta.valid),
            array.acts.p.data.eq(self.a_rd.data),
            array.acts.p.swap.eq(vec_swap),
            self.vector.eq(meta.valid),
            # The vector's tile is the last one switched in, counting this cycle's switch: tile
            # switched + switch_now - 1, whose parity is switched[0] ^ switch_now ^ 1.
            self.zero_macs.eq(Mux(meta.valid,
                                  Mux(switched[0] ^ switch_now, slot_zeros[0], slot_zeros[1]),
                                  0)),
        ]

        # --- accumulate: the vector's metadata travels alongside it through the array --------
        stages = [meta]
        for d in range(cfg.array_latency):
            stage = Signal(meta_layout, name=f"meta_{d + 1}")
            m.d.sync += stage.eq(stages[-1])
            stages.append(stage)
        ahead, due = stages[-2], stages[-1]       # one cycle before the result, and with it
        m.d.comb += [
            self.acc_rd.addr.eq(ahead.addr),
            self.acc_rd.en.eq(ahead.valid),
            self.acc_wr.addr.eq(due.addr),
            self.acc_wr.en.eq(due.valid),
        ]
        overflows = []
        for j in range(cols):
            # One bit more than the accumulator: the sum wrapped if its top two bits differ.
            total = Signal(signed(cfg.acc_bits + 1), name=f"acc_sum_{j}")
            m.d.comb += [total.eq(Mux(due.first, 0, self.acc_rd.data[j]) + array.results.p[j]),
                         self.acc_wr.data[j].eq(total)]
            overflows.append(total[-1] ^ total[-2])
        m.d.comb += self.overflow.eq(due.valid & Cat(*overflows).any())

        # --- done when every vector has been issued and its result written -------------------
        in_flight = Signal(range(cfg.array_latency + 2))
        with m.If(meta.valid & ~due.valid):
            m.d.sync += in_flight.eq(in_flight + 1)
        with m.Elif(~meta.valid & due.valid):
            m.d.sync += in_flight.eq(in_flight - 1)
        with m.If(running & (v_tile == args.tiles) & ~issue & (in_flight == 0) & ~meta.valid):
            m.d.sync += running.eq(0)
        m.d.comb += self.busy.eq(running)
        return m
