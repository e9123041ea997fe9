# SPDX-License-Identifier: BSD-2-Clause
"""The one configuration object shared by hardware, golden model, firmware, benches and reports.

This module deliberately imports nothing from Amaranth or PyTorch, so that every layer of the
project (and a user's own scripts) can read a configuration without pulling in a toolchain. It
also holds the arithmetic of bit growth (:func:`signed_bits_for`, :func:`sum_bits`), which the
ternary array, the INT8 baseline and the energy model all size their adders by.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field, fields

__all__ = ["AXI4_MAX_BURST", "AXI_ADDR_WIDTHS", "AXI_PAGE_BYTES", "MAX_DEPTH", "MAX_LOAD",
           "WEIGHT_FORMATS", "WEIGHT_MEMORIES", "WORD_BITS", "AcceleratorConfig",
           "check_positive", "signed_bits_for", "sum_bits"]

#: Width of the words of the command and response streams (see :mod:`golden.contract.isa`).
WORD_BITS = 32
#: Largest depth (words) of any of the accelerator's memories.
MAX_DEPTH = 1 << 24
#: Largest :attr:`AcceleratorConfig.max_load` (memory words staged for one load).
MAX_LOAD = 4096
#: Weight memory formats: 2-bit codes ("2bit"); or five trits per byte ("1.6bit"), each byte
#: holding one column's weights of five rows. A word holds :attr:`AcceleratorConfig.weight_lanes`
#: lanes of either (see :attr:`AcceleratorConfig.weight_rows_per_word`).
WEIGHT_FORMATS = ("2bit", "1.6bit")
#: Where the weights live: the on-chip weight memory, loaded by LOAD_WEIGHTS ("onchip"), or
#: external memory read over AXI4 by the MATMUL itself ("axi", :mod:`hw.axi`).
WEIGHT_MEMORIES = ("onchip", "axi")
#: AXI address widths a configuration may ask for: MATMUL's weight address is one 32-bit
#: argument word, so a wider bus could not be addressed beyond its first 4 GiB.
AXI_ADDR_WIDTHS = (32,)
#: Longest AXI4 INCR burst (ARLEN is 8 bits) and the page it may not cross (AXI4, A3.4.1).
AXI4_MAX_BURST, AXI_PAGE_BYTES = 256, 4096


def signed_bits_for(magnitude: int) -> int:
    """Width of a two's-complement integer that holds every value in ``[-magnitude, magnitude]``.

    >>> signed_bits_for(128)      # one int8 x ternary product: -128 * -1 = +128
    9
    """
    if magnitude < 0:
        raise ValueError(f"magnitude must be non-negative, not {magnitude}")
    return magnitude.bit_length() + 1


def sum_bits(terms: int, product_max: int) -> int:
    """Bits of a signed sum of ``terms`` products, each in ``[-product_max, product_max]``:
    the bit growth by which every partial sum of every array is sized.

    >>> sum_bits(16, 128)         # 16 rows of int8 x ternary products
    13
    """
    _check_int("terms", terms, lo=1)
    _check_int("product_max", product_max, lo=0)
    return signed_bits_for(terms * product_max)


def check_positive(**values) -> None:
    """Raise ValueError naming the first of ``values`` that is not a positive integer (a bool
    is not one: a True where a count belongs is a bug, not a 1)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _check_int(name: str, value, *, lo: int, hi: int | None = None) -> None:
    # bool is an int subclass; a True where a count belongs is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be {bound}, not {value}")


@dataclass(frozen=True)
class AcceleratorConfig:
    """Parameters of the ternary systolic array and everything built around it.

    Parameters
    ----------
    rows : int
        Processing-element rows: the slice of the reduction dimension K that the array sums in
        one pass. Activations enter on the left, one int per row.
    cols : int
        Processing-element columns: the slice of the output dimension N computed in parallel.
    act_bits : int
        Width of a quantized activation (8 for BitNet's absmax int8).
    acc_bits : int
        Width of the accumulators that sum partial results across K tiles. Must hold
        ``max_k`` products without overflow.
    max_k : int
        Largest reduction length (input features) the accumulators are sized for.
    fifo_depth : int
        Depth of the result FIFO of :class:`hw.array.BufferedArray`. 0 (the default) picks the
        smallest depth that sustains one result per cycle: the array's latency plus 2.
    weight_depth : int
        Words of the accelerator's weight memory (a word holds :attr:`weight_rows_per_word`
        rows of ``cols`` weights).
    act_depth : int
        Words of the activation buffer (a word holds ``rows`` activations: one K-slice of one
        token).
    acc_depth : int
        Words of the accumulator buffer (a word holds ``cols`` accumulators: one N-slice of
        one token).
    weight_format : str
        ``"2bit"`` (2-bit codes) or ``"1.6bit"`` (five trits per byte, decoded on the way to
        the array: 20% less weight memory and weight bandwidth).
    max_load : int
        Most memory words one LOAD_WEIGHTS or LOAD_ACTS may carry. A load is staged in a
        buffer of this depth and written only once it is whole and its CRC checks, so a
        load is all-or-nothing; it also bounds the longest command, which is what the
        resynchronization rule of :mod:`golden.contract.isa` relies on.
    weight_rows_per_cycle : int
        Weight rows that enter the array per cycle (a *beat*), 1 to ``rows``: a tile loads in
        :attr:`tile_beats` = ``ceil(rows / weight_rows_per_cycle)`` cycles, so at ``rows`` a
        whole tile loads in one. The weight memory word grows with it (one beat per word in
        ``2bit``, five in ``1.6bit`` on chip, one in ``1.6bit`` over AXI: see
        ``weight_memory``). A tile occupies whole beats in weight memory
        (:attr:`tile_rows`; the rows beyond ``rows`` in its last beat are padding), so a value
        that divides ``rows`` wastes no memory. 1 (the default) is the original design.
        ``weight_depth`` counts words, so the same depth holds W times the rows (divide it by
        W to keep the capacity); the loader's staging buffer is as wide as the wider word.
    weight_memory : str
        ``"onchip"`` (the default: a weight memory of ``weight_depth`` words, filled by
        LOAD_WEIGHTS) or ``"axi"``: no weight memory; each MATMUL reads its tiles from external
        memory over an AXI4 read port (``m_axi``), its ``w_addr`` a *byte* address there
        (:func:`golden.contract.isa.matmul_error`), and LOAD_WEIGHTS is refused (OVERRUN).
        The AXI data width is the weight word, :attr:`weight_word_bits`, which must then be a
        power of two from 64 to 1024 bits; ``weight_depth`` is unused. In ``1.6bit`` a word's
        five rows per byte are decoded in the same cycle (:attr:`weight_parallel_decode`): a
        word of L lanes is one beat of 5L rows, so ``weight_rows_per_cycle`` must be a
        multiple of 5 (the word holds ``weight_rows_per_cycle / 5`` lanes).
    axi_addr_width : int
        AXI address bits (``"axi"`` only): 32, the reach of MATMUL's 32-bit ``w_addr``.
    axi_max_burst : int
        Beats of the longest AXI burst (``"axi"`` only), 1 to 256 and at most 4 KiB of data.
    axi_outstanding : int
        AXI bursts in flight at once (``"axi"`` only), 1 to 64. The reader's buffer holds
        ``axi_outstanding * axi_max_burst`` words, which must hold one tile
        (:attr:`tile_beats` words): a tile's vectors start only once all of it has arrived.

    The partial-sum path inside the array is sized by bit growth rather than by ``acc_bits``:
    after ``r`` rows a partial sum needs :meth:`psum_bits` ``(r)`` bits.
    """

    rows: int = 16
    cols: int = 16
    act_bits: int = 8
    acc_bits: int = 32
    max_k: int = 65536
    fifo_depth: int = 0
    weight_depth: int = 32768
    act_depth: int = 32768
    acc_depth: int = 1024
    weight_format: str = field(default="2bit", metadata={"choices": WEIGHT_FORMATS})
    max_load: int = 64
    weight_rows_per_cycle: int = 1
    weight_memory: str = field(default="onchip", metadata={"choices": WEIGHT_MEMORIES})
    axi_addr_width: int = 32
    axi_max_burst: int = 16
    axi_outstanding: int = 4

    def __post_init__(self):
        _check_int("rows", self.rows, lo=1, hi=1024)
        _check_int("cols", self.cols, lo=1, hi=1024)
        _check_int("act_bits", self.act_bits, lo=2, hi=16)
        # One accumulator per response word.
        _check_int("acc_bits", self.acc_bits, lo=2, hi=WORD_BITS)
        _check_int("max_k", self.max_k, lo=1)
        _check_int("fifo_depth", self.fifo_depth, lo=0)
        for name in ("weight_depth", "act_depth", "acc_depth"):
            _check_int(name, getattr(self, name), lo=1, hi=MAX_DEPTH)
        _check_int("max_load", self.max_load, lo=1, hi=MAX_LOAD)
        if (isinstance(self.weight_rows_per_cycle, bool)
                or not isinstance(self.weight_rows_per_cycle, int)
                or not 1 <= self.weight_rows_per_cycle <= self.rows):
            raise ValueError(
                f"weight_rows_per_cycle must be an integer from 1 to rows={self.rows} (the "
                f"weight rows that enter the array per cycle; at rows a whole tile loads in one "
                f"cycle), not {self.weight_rows_per_cycle!r}")
        if self.weight_format not in WEIGHT_FORMATS:
            raise ValueError(f"weight_format must be one of {', '.join(WEIGHT_FORMATS)}, "
                             f"not {self.weight_format!r}")
        self._check_axi()
        need = self.psum_bits(max(self.max_k, self.rows))
        if self.acc_bits < need:
            raise ValueError(
                f"acc_bits={self.acc_bits} could overflow: a sum of max(max_k, rows)="
                f"{max(self.max_k, self.rows)} products of {self.act_bits}-bit activations and "
                f"ternary weights needs {need} bits")
        if self.fifo_depth and self.fifo_depth < self.array_latency + 2:
            raise ValueError(
                f"fifo_depth={self.fifo_depth} cannot sustain one result per cycle: the array "
                f"keeps {self.array_latency} results in flight, so at least "
                f"{self.array_latency + 2} entries are needed (or 0 for automatic)")

    def _check_axi(self) -> None:
        if self.weight_memory not in WEIGHT_MEMORIES:
            raise ValueError(f"weight_memory must be one of {', '.join(WEIGHT_MEMORIES)}, "
                             f"not {self.weight_memory!r}")
        if self.axi_addr_width not in AXI_ADDR_WIDTHS:
            raise ValueError(
                f"axi_addr_width must be 32, not {self.axi_addr_width!r}: MATMUL's weight "
                f"address is one 32-bit argument word, so it reaches the first 4 GiB only")
        _check_int("axi_max_burst", self.axi_max_burst, lo=1, hi=AXI4_MAX_BURST)
        _check_int("axi_outstanding", self.axi_outstanding, lo=1, hi=64)
        if not self.axi:
            return
        w = self.weight_rows_per_cycle
        if self.weight_format == "1.6bit" and w % 5:
            raise ValueError(
                f"weight_memory='axi' with weight_format='1.6bit' decodes all five rows of a "
                f"byte in one cycle (a word of L lanes is one beat of 5L rows), so "
                f"weight_rows_per_cycle must be a multiple of 5, not {w}")
        bits = self.weight_word_bits
        if bits < 64 or bits > 1024 or bits & (bits - 1):
            if self.weight_format == "1.6bit":
                width, lanes = f"8 x cols={self.cols} x weight_rows_per_cycle={w} / 5", \
                    "cols x weight_rows_per_cycle / 5 is a power of two from 8 to 128"
            else:
                width, lanes = f"2 x cols={self.cols} x weight_rows_per_cycle={w}", \
                    "cols x weight_rows_per_cycle is a power of two from 32 to 512"
            raise ValueError(
                f"weight_memory='axi' needs a weight word (the AXI data width: {width}) "
                f"that is a power of two from 64 to 1024 bits, not {bits}: change "
                f"weight_rows_per_cycle (or cols) so that {lanes}")
        page = AXI_PAGE_BYTES // (bits // 8)
        if self.axi_max_burst > page:
            raise ValueError(f"axi_max_burst must be at most {page} beats of {bits} bits (a "
                             f"burst may not cross 4 KiB), not {self.axi_max_burst}")
        if self.axi_outstanding * self.axi_max_burst < self.tile_beats:
            raise ValueError(
                f"axi_outstanding={self.axi_outstanding} x axi_max_burst="
                f"{self.axi_max_burst} words of buffer cannot hold one tile of "
                f"{self.tile_beats} words: raise either")

    @property
    def axi(self) -> bool:
        """Whether the weights come from external memory over AXI4."""
        return self.weight_memory == "axi"

    @property
    def weight_word_bytes(self) -> int:
        """Bytes of a weight word in external memory (``"axi"``): the AXI beat."""
        return self.weight_word_bits // 8

    @property
    def weight_words(self) -> int:
        """Weight words a MATMUL can address: ``weight_depth`` on chip; with ``"axi"``, the
        words of the ``2**axi_addr_width``-byte address space."""
        if self.axi:
            return (1 << self.axi_addr_width) // self.weight_word_bytes
        return self.weight_depth

    # --- arithmetic of the datapath -------------------------------------------------------

    @property
    def act_min(self) -> int:
        return -(1 << (self.act_bits - 1))

    @property
    def act_max(self) -> int:
        return (1 << (self.act_bits - 1)) - 1

    @property
    def act_qmax(self) -> int:
        """Largest magnitude the symmetric absmax quantizer produces (127 for 8 bits)."""
        return self.act_max

    def psum_bits(self, terms: int) -> int:
        """Bits of a signed sum of ``terms`` activation x ternary products.

        The extreme is every activation at the most negative value times a -1 weight:
        ``terms * 2**(act_bits-1)``, so 8-bit activations need ``9 + ceil(log2(terms))`` bits.
        """
        return sum_bits(terms, 1 << (self.act_bits - 1))

    @property
    def result_bits(self) -> int:
        """Width of the array's column outputs: a sum over all ``rows``."""
        return self.psum_bits(self.rows)

    @property
    def array_latency(self) -> int:
        """Cycles from accepting an activation vector to its results leaving the array."""
        return self.rows + self.cols + 1

    @property
    def result_fifo_depth(self) -> int:
        return self.fifo_depth or self.array_latency + 2

    # --- memories and their words on the streams -------------------------------------------

    @property
    def tile_beats(self) -> int:
        """Cycles (beats of :attr:`weight_rows_per_cycle` rows) that load one weight tile:
        ``ceil(rows / weight_rows_per_cycle)``."""
        return -(-self.rows // self.weight_rows_per_cycle)

    @property
    def tile_rows(self) -> int:
        """Weight-row slots one tile occupies in weight memory: ``rows`` rounded up to whole
        beats (the slots beyond ``rows`` hold zero weights that never enter the array)."""
        return self.tile_beats * self.weight_rows_per_cycle

    @property
    def weight_parallel_decode(self) -> bool:
        """Whether a ``1.6bit`` word is decoded whole in one cycle (its five rows per byte at
        once): with ``weight_memory = "axi"``, where the AXI beat (at most 1024 bits) bounds
        the word and a serial decode could never feed more than ``cols x 1024 / (8 x cols)``
        = 128 weights per cycle. On chip the word is decoded one beat per cycle."""
        return self.weight_format == "1.6bit" and self.axi

    @property
    def weight_lanes(self) -> int:
        """Lanes of a weight memory word (bytes or 2-bit codes of ``cols`` columns each):
        ``weight_rows_per_cycle``, or a fifth of it with :attr:`weight_parallel_decode` (each
        lane then gives five rows of the beat)."""
        w = self.weight_rows_per_cycle
        return w // 5 if self.weight_parallel_decode else w

    @property
    def weight_beats_per_word(self) -> int:
        """Beats in one weight memory word: 1 (``2bit``), 5 (``1.6bit`` on chip, decoded one
        beat per cycle) or 1 (``1.6bit`` over AXI, :attr:`weight_parallel_decode`)."""
        return 5 if self.weight_format == "1.6bit" and not self.weight_parallel_decode else 1

    @property
    def weight_rows_per_word(self) -> int:
        """Weight-row slots in one weight memory word: :attr:`weight_beats_per_word` beats of
        :attr:`weight_rows_per_cycle` rows (five rows per lane in ``1.6bit``, one in
        ``2bit``)."""
        return self.weight_beats_per_word * self.weight_rows_per_cycle

    @property
    def weight_word_bits(self) -> int:
        """A word is :attr:`weight_lanes` lanes, lane r in bits ``[r * L, (r + 1) * L)``
        with L = 2 x cols (``2bit``: row r of the beat) or 8 x cols (``1.6bit``: one byte per
        column holding rows r, r + N, r + 2N, r + 3N, r + 4N of the word's 5N rows, N =
        ``weight_lanes``; :func:`golden.contract.codecs.pack_weight_rows`)."""
        return (8 if self.weight_format == "1.6bit" else 2) * self.cols * self.weight_lanes

    @property
    def act_word_bits(self) -> int:
        return self.rows * self.act_bits

    @property
    def acc_word_bits(self) -> int:
        return self.cols * self.acc_bits

    @staticmethod
    def stream_words(bits: int) -> int:
        """Stream words that carry one memory word of ``bits`` bits."""
        return -(-bits // WORD_BITS)

    def k_tiles(self, k: int) -> int:
        """Tiles along the reduction: ``ceil(k / rows)``."""
        return -(-k // self.rows)

    def n_tiles(self, n: int) -> int:
        """Tiles along the outputs: ``ceil(n / cols)``."""
        return -(-n // self.cols)

    @property
    def weight_rows(self) -> int:
        """Weight-row slots a MATMUL can address (a tile takes :attr:`tile_rows`): the weight
        memory's, or with ``"axi"`` the address space's (:attr:`weight_words`)."""
        return self.weight_words * self.weight_rows_per_word

    @property
    def max_load_words(self) -> int:
        """Stream words of data in the longest load (:attr:`max_load` memory words of the
        wider memory)."""
        return self.max_load * max(self.stream_words(self.weight_word_bits),
                                   self.stream_words(self.act_word_bits))

    # --- serialization --------------------------------------------------------------------

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AcceleratorConfig:
        if not isinstance(data, dict):
            raise ValueError(f"configuration must be a mapping, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AcceleratorConfig:
        return cls.from_dict(json.loads(text))


    # --- command line ---------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--field`` option per configuration field, defaults from the dataclass."""
        group = parser.add_argument_group("accelerator configuration")
        for f in fields(cls):
            choices = f.metadata.get("choices")
            group.add_argument(f"--{f.name.replace('_', '-')}", default=f.default,
                               type=str if choices else int, choices=choices,
                               metavar=None if choices else "N", help=f"(default: {f.default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace,
                  parser: argparse.ArgumentParser | None = None) -> AcceleratorConfig:
        """The configuration given by options from :meth:`add_arguments`. With ``parser``, a
        bad value ends the program through ``parser.error`` (usage and message, exit code 2)."""
        try:
            return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
        except ValueError as e:
            if parser is None:
                raise
            parser.error(str(e))
