# SPDX-License-Identifier: BSD-2-Clause
"""Weight memory reader: a stream of weight beats for the array, in either storage format.

A beat is ``W = weight_rows_per_cycle`` rows (one at W = 1), the array's weight input per cycle.
A memory word is W lanes side by side (lane r in bits ``[r * L, (r + 1) * L)``), and lane r
gives row r of each beat:

``2bit``: one memory word per beat; a lane holds ``cols`` 2-bit codes
(:class:`~golden.contract.codecs.WeightCode`), column j in bits [2j, 2j+2).

``1.6bit``: one memory word per five beats: byte j of lane r holds column j's weights of rows
r, r + W, ..., r + 4W of the word (row r of each of its five beats) as five trits
``t = w + 1``, first row most significant, stored as the 8-bit fraction
``q = ceil(v * 256 / 243)`` of their base-3 value ``v``. Multiplying that fraction by 3 moves
the next trit into the two bits above the byte, so each row costs one 10-bit add per column
(``3q = q + 2q``) and no division, table or multiplier: row k of a word is the top of
``3 * x_k`` with ``x_0 = q`` and ``x_{k+1} = (3 * x_k) mod 256``. (The fixed-point trick is the
one of llama.cpp's TQ1_0 format; it is exact for all 243 values, which the tests check.) Every
lane decodes one row per cycle, so a wide word still costs one 10-bit add per byte per beat.

``1.6bit`` over AXI (:attr:`~golden.contract.config.AcceleratorConfig.weight_parallel_decode`):
the same layout with ``L = W / 5`` lanes, decoded whole: a word is one beat of 5L rows, row
``r + k * L`` of the beat being trit k of lane r. The five steps are not chained: since
``x_k = 3^k q mod 256``, each ``x_k`` is a constant multiple of the byte, at most two 8-bit
shift-adds deep (``3q = q + 2q``, ``9q = q + 8q``, ``27q = 3q + 8 * 3q``, ``81q = 9q + 8 *
9q``, all mod 256). They are computed between the two registers that stand for the memory's
read (the second register holds the five ``x_k`` of every byte, 40 bits per byte), and after
it each row costs the one 10-bit add ``3 * x_k`` of the serial decode. So the beat still
reaches the array ``read`` cycles after its ``go``, and the schedule is the same.

With ``weight_memory = "axi"`` the words come from the head of the AXI reader's buffer
(:class:`hw.axi.AxiWeightReader`) instead of the memory's read port: a ``go`` takes the head
word, which goes through two registers (standing for the memory's read and the register on its
output), so a beat reaches the array ``read`` cycles after its ``go`` as before. The engine
issues a run of ``go`` only once the reader holds the whole run (its gate), so the head is
always there when taken.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.contract.codecs import WeightCode
from golden.contract.config import AcceleratorConfig
from golden.contract.tileloop import ENGINE_TIMING

from .array import weight_beat_layout
from .axi import beat_layout
from .component import ConfiguredComponent, registered_read

__all__ = ["WeightRowSource", "trit_to_code"]


def trit_to_code(trit):
    """Trit 0, 1, 2 (weight -1, 0, +1) to its 2-bit :class:`WeightCode` (an Amaranth value)."""
    return Mux(trit == 0, WeightCode.NEG, Mux(trit == 2, WeightCode.POS, WeightCode.ZERO))


def _times_nine(x):
    """``9 * x mod 256`` of an 8-bit value: one 8-bit add."""
    return (x + (x << 3))[:8]


def _trit_fractions(word) -> list:
    """The bytes q of ``word``, then ``3q``, ``9q``, ``27q``, ``81q`` (each mod 256) of every
    byte: the five fractions ``x_k`` whose ``3 * x_k`` gives trit k (module docstring), each
    as wide as ``word``, at most two shift-adds deep."""
    qs = [word[i:i + 8] for i in range(0, len(word), 8)]
    x1 = [(q + (q << 1))[:8] for q in qs]
    x2 = [_times_nine(q) for q in qs]
    x3 = [_times_nine(x) for x in x1]
    x4 = [_times_nine(x) for x in x2]
    return [Cat(*xs) for xs in (qs, x1, x2, x3, x4)]


class WeightRowSource(ConfiguredComponent):
    """Reads weight beats from ``base`` on, one per ``go``, and emits each exactly
    :attr:`~golden.contract.tileloop.EngineTiming.read` cycles later (the weight memory's read,
    then a register on its output).

    The engine's schedule decides when beats are read, so the source has no backpressure: its
    output is valid in the cycles the schedule gave it. A memory word is read at the first of
    its beats (every beat in ``2bit``, every fifth in ``1.6bit``); the register on the read
    port holds it while the following beats of the word are decoded.

    Members
    -------
    start : In(1)
        Pulse: latch ``base``; the next row is the first of a tile.
    base : In(addr_width)
        Word address of the first row.
    go : In(1)
        Read the next beat.
    rd : In(ReadPort.Signature(...))
        Read port of the weight memory (driven by this component). On-chip weights only.
    words : In(stream.Signature(beat_layout(weight_word_bits)))
        ``weight_memory = "axi"`` only, instead of ``rd``: the reader's words; ``ready`` is a
        ``go`` (the engine's gate guarantees ``valid`` then).
    beats : Out(stream.Signature(weight_beat_layout(config), always_ready=True))
        The beats, ``read`` cycles after their ``go``; ``beat`` counts 0..tile_beats-1 and
        wraps, the beat's place in its tile.
    """

    def __init__(self, config: AcceleratorConfig):
        addr_width = ceil_log2(config.weight_depth)
        if config.axi:
            words = {"words": In(stream.Signature(beat_layout(config.weight_word_bits)))}
        else:
            words = {"rd": In(ReadPort.Signature(addr_width=addr_width,
                                                 shape=unsigned(config.weight_word_bits)))}
        super().__init__(config, {
            "start": In(1),
            "base": In(addr_width),
            "go": In(1),
            **words,
            "beats": Out(stream.Signature(weight_beat_layout(config), always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        per_word = cfg.weight_beats_per_word
        latency = ENGINE_TIMING.read

        addr = Signal.like(self.base)
        sub = Signal(range(per_word))              # beat within the current word
        tile_beat = Signal(range(cfg.tile_beats))
        first = sub == 0
        if cfg.axi:
            # The head word, taken with `go`, then two registers: the memory's read latency.
            taken = Signal(cfg.weight_word_bits, reset_less=True, name="taken")
            take = self.go & first
            m.d.comb += self.words.ready.eq(take)
            with m.If(take):
                m.d.sync += taken.eq(self.words.payload.data)
            landed = Signal(name="word_landed")
            m.d.sync += landed.eq(take)
            if cfg.weight_parallel_decode:
                # Between the registers: x_k = 3^k q mod 256 of every byte q (module docstring).
                word = Signal(5 * cfg.weight_word_bits, reset_less=True, name="word")
                with m.If(landed):
                    m.d.sync += word.eq(Cat(*_trit_fractions(taken)))
            else:
                word = Signal(cfg.weight_word_bits, reset_less=True, name="word")
                with m.If(landed):
                    m.d.sync += word.eq(taken)
        else:
            m.d.comb += [self.rd.addr.eq(addr), self.rd.en.eq(self.go & first)]
        with m.If(self.start):
            m.d.sync += [addr.eq(self.base), sub.eq(0), tile_beat.eq(0)]
        with m.Elif(self.go):
            m.d.sync += [
                sub.eq(Mux(sub == per_word - 1, 0, sub + 1)),
                tile_beat.eq(Mux(tile_beat == cfg.tile_beats - 1, 0, tile_beat + 1)),
            ]
            if not cfg.axi:
                with m.If(first):
                    m.d.sync += addr.eq(addr + 1)
        if not cfg.axi:
            word = registered_read(m, self.rd, name="word")

        # The beat's place in the tile and in its word travel with the read.
        valid, beat, beat_first = self.go, tile_beat, first
        for d in range(latency):
            valid_d = Signal(name=f"valid_{d + 1}")
            beat_d = Signal.like(tile_beat, name=f"beat_{d + 1}")
            first_d = Signal(name=f"first_{d + 1}")
            m.d.sync += [valid_d.eq(valid), beat_d.eq(beat), first_d.eq(beat_first)]
            valid, beat, beat_first = valid_d, beat_d, first_d
        m.d.comb += [self.beats.valid.eq(valid), self.beats.p.beat.eq(beat)]

        if cfg.weight_format == "2bit":
            m.d.comb += self.beats.p.codes.as_value().eq(word)
        elif cfg.weight_parallel_decode:
            lanes, bits = cfg.weight_lanes, cfg.weight_word_bits
            for k in range(5):
                for r in range(lanes):
                    for j in range(cfg.cols):
                        lsb = k * bits + 8 * (r * cfg.cols + j)
                        x = word[lsb:lsb + 8]
                        triple = Signal(10, name=f"triple_{k}_{r}_{j}")
                        m.d.comb += [
                            triple.eq(x + (x << 1)),
                            self.beats.p.codes[r + k * lanes][j].eq(trit_to_code(triple[8:10])),
                        ]
        else:
            for r in range(cfg.weight_rows_per_cycle):
                for j in range(cfg.cols):
                    frac = Signal(8, name=f"frac_{r}_{j}")  # the byte after the rows taken
                    lsb = 8 * (r * cfg.cols + j)
                    x = Mux(beat_first, word[lsb:lsb + 8], frac)
                    triple = Signal(10, name=f"triple_{r}_{j}")
                    m.d.comb += [
                        triple.eq(x + (x << 1)),
                        self.beats.p.codes[r][j].eq(trit_to_code(triple[8:10])),
                    ]
                    with m.If(valid):
                        m.d.sync += frac.eq(triple[:8])
        return m
