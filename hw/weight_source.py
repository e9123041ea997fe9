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
from golden.contract.tileloop import ENGINE_TIMING

from .array import weight_row_layout
from .component import ConfiguredComponent, registered_read

__all__ = ["WeightRowSource", "trit_to_code"]


def trit_to_code(trit):
    """Trit 0, 1, 2 (weight -1, 0, +1) to its 2-bit :class:`WeightCode` (an Amaranth value)."""
    return Mux(trit == 0, WeightCode.NEG, Mux(trit == 2, WeightCode.POS, WeightCode.ZERO))


class WeightRowSource(ConfiguredComponent):
    """Reads weight rows from ``base`` on, one per ``go``, and emits each exactly
    :attr:`~golden.contract.tileloop.EngineTiming.read` cycles later (the weight memory's read,
    then a register on its output).

    The engine's schedule decides when rows are read, so the source has no backpressure: its
    output is valid in the cycles the schedule gave it. A memory word is read at the first of
    its rows (every row in ``2bit``, every fifth in ``1.6bit``); the register on the read port
    holds it while the following rows of the word are decoded.

    Members
    -------
    start : In(1)
        Pulse: latch ``base``; the next row is the first of a tile.
    base : In(addr_width)
        Word address of the first row.
    go : In(1)
        Read the next row.
    rd : In(ReadPort.Signature(...))
        Read port of the weight memory (driven by this component).
    rows : Out(stream.Signature(weight_row_layout(config), always_ready=True))
        The rows, ``read`` cycles after their ``go``; ``row`` counts 0..rows-1 and wraps, the
        row's place in its tile.
    """

    def __init__(self, config: AcceleratorConfig):
        addr_width = ceil_log2(config.weight_depth)
        super().__init__(config, {
            "start": In(1),
            "base": In(addr_width),
            "go": In(1),
            "rd": In(ReadPort.Signature(addr_width=addr_width,
                                        shape=unsigned(config.weight_word_bits))),
            "rows": Out(stream.Signature(weight_row_layout(config), always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        per_word = cfg.weight_rows_per_word
        latency = ENGINE_TIMING.read

        addr = Signal.like(self.base)
        sub = Signal(range(per_word))              # row within the current word
        tile_row = Signal(range(cfg.rows))
        first = sub == 0
        m.d.comb += [self.rd.addr.eq(addr), self.rd.en.eq(self.go & first)]
        with m.If(self.start):
            m.d.sync += [addr.eq(self.base), sub.eq(0), tile_row.eq(0)]
        with m.Elif(self.go):
            m.d.sync += [
                sub.eq(Mux(sub == per_word - 1, 0, sub + 1)),
                tile_row.eq(Mux(tile_row == cfg.rows - 1, 0, tile_row + 1)),
            ]
            with m.If(first):
                m.d.sync += addr.eq(addr + 1)
        word = registered_read(m, self.rd, name="word")

        # The row's place in the tile and in its word travel with the read.
        valid, row, row_first = self.go, tile_row, first
        for d in range(latency):
            valid_d = Signal(name=f"valid_{d + 1}")
            row_d = Signal.like(tile_row, name=f"row_{d + 1}")
            first_d = Signal(name=f"first_{d + 1}")
            m.d.sync += [valid_d.eq(valid), row_d.eq(row), first_d.eq(row_first)]
            valid, row, row_first = valid_d, row_d, first_d
        m.d.comb += [self.rows.valid.eq(valid), self.rows.p.row.eq(row)]

        if cfg.weight_format == "2bit":
            m.d.comb += self.rows.p.codes.as_value().eq(word)
        else:
            for j in range(cfg.cols):
                frac = Signal(8, name=f"frac_{j}")     # the byte after the rows taken so far
                x = Mux(row_first, word[8 * j:8 * j + 8], frac)
                triple = Signal(10, name=f"triple_{j}")
                m.d.comb += [
                    triple.eq(x + (x << 1)),
                    self.rows.p.codes[j].eq(trit_to_code(triple[8:10])),
                ]
                with m.If(valid):
                    m.d.sync += frac.eq(triple[:8])
        return m
