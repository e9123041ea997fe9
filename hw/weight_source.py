# SPDX-License-Identifier: BSD-2-Clause
"""Weight memory reader: a stream of weight rows for the array, in either storage format.

``2bit``: one memory word per row, ``cols`` 2-bit codes
(:class:`~golden.contract.codecs.WeightCode`), column j in bits [2j, 2j+2).

``1.6bit``: one memory word per five rows: byte j holds column j's weights of five consecutive
rows as five trits ``t = w + 1``, first row most significant, stored as the 8-bit fraction
``q = ceil(v * 256 / 243)`` of their base-3 value ``v``. Multiplying that fraction by 3 moves
the next trit into the two bits above the byte, so each row costs one 10-bit add per column
(``3q = q + 2q``) and no division, table or multiplier: row k of a word is the top of
``3 * x_k`` with ``x_0 = q`` and ``x_{k+1} = (3 * x_k) mod 256``. (The fixed-point trick is the
one of llama.cpp's TQ1_0 format; it is exact for all 243 values, which the tests check.)
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.codecs import WeightCode
from golden.contract.config import AcceleratorConfig

from .array import weight_row_layout
from .component import ConfiguredComponent

__all__ = ["WeightRowSource", "trit_to_code"]


def trit_to_code(trit):
    """Trit 0, 1, 2 (weight -1, 0, +1) to its 2-bit :class:`WeightCode` (an Amaranth value)."""
    return Mux(trit == 0, WeightCode.NEG, Mux(trit == 2, WeightCode.POS, WeightCode.ZERO))


class WeightRowSource(ConfiguredComponent):
    """Reads ``count`` weight rows from ``base`` and streams them to the array.

    The memory's read port holds its data while not enabled, so the word being emitted stays
    on the port and the next word is read in the cycle its predecessor's last row is taken:
    one row per cycle under any backpressure, without a FIFO.

    Members
    -------
    start : In(1)
        Pulse: latch ``base`` and ``count`` and begin.
    base : In(addr_width)
        Word address of the first row.
    count : In(range(config.weight_rows + 1))
        Rows to emit.
    rd : In(ReadPort.Signature(...))
        Read port of the weight memory (driven by this component).
    rows : Out(stream.Signature(weight_row_layout(config)))
        The rows; ``row`` counts 0..rows-1 and wraps, the row's place in its tile.
    """

    def __init__(self, config: AcceleratorConfig):
        addr_width = ceil_log2(config.weight_depth)
        super().__init__(config, {
            "start": In(1),
            "base": In(addr_width),
            "count": In(range(config.weight_rows + 1)),
            "rd": In(ReadPort.Signature(addr_width=addr_width,
                                        shape=unsigned(config.weight_word_bits))),
            "rows": Out(stream.Signature(weight_row_layout(config))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        per_word = cfg.weight_rows_per_word

        remaining = Signal.like(self.count)
        next_addr = Signal.like(self.base)
        sub = Signal(range(per_word))              # row within the current word
        tile_row = Signal(range(cfg.rows))
        accept = self.rows.valid & self.rows.ready
        word_done = accept & (sub == per_word - 1)

        m.d.comb += [
            self.rows.valid.eq(remaining != 0),
            self.rows.p.row.eq(tile_row),
            self.rd.addr.eq(Mux(self.start, self.base, next_addr)),
            self.rd.en.eq(self.start | word_done),
        ]
        with m.If(self.start):
            m.d.sync += [remaining.eq(self.count), next_addr.eq(self.base + 1), sub.eq(0),
                         tile_row.eq(0)]
        with m.Elif(accept):
            m.d.sync += [
                remaining.eq(remaining - 1),
                tile_row.eq(Mux(tile_row == cfg.rows - 1, 0, tile_row + 1)),
                sub.eq(Mux(word_done, 0, sub + 1)),
            ]
            with m.If(word_done):
                m.d.sync += next_addr.eq(next_addr + 1)

        if cfg.weight_format == "2bit":
            m.d.comb += self.rows.p.codes.as_value().eq(self.rd.data)
        else:
            for j in range(cfg.cols):
                frac = Signal(8, name=f"frac_{j}")     # the byte after `sub` extractions
                x = Mux(sub == 0, self.rd.data[8 * j:8 * j + 8], frac)
                triple = Signal(10, name=f"triple_{j}")
                m.d.comb += [
                    triple.eq(x + (x << 1)),
                    self.rows.p.codes[j].eq(trit_to_code(triple[8:10])),
                ]
                with m.If(accept):
                    m.d.sync += frac.eq(triple[:8])
        return m

