# SPDX-License-Identifier: BSD-2-Clause
"""Lowering of integer BitLinear products onto the accelerator.

A layer with activations ``x_q`` (M, K) and ternary weights ``w_t`` (N, K) is cut into
``n_tiles x k_tiles`` tiles (:mod:`firmware.tiling`). When the whole layer does not fit the
accelerator's memories, it runs in *passes*: K-chunks summed into the same accumulators (the
first MATMUL overwrites, the next ones ACCUMULATE), N-chunks and M-chunks, each small enough for
the weight memory, the activation buffer and the accumulator buffer.

Weights and activations are compiled separately:

* :func:`compile_weights` -> :class:`WeightImage`: the weight-memory words of every pass
  block, in the configured format. A runtime may load an image once and keep it resident.
* :func:`compile_matmul` -> :class:`Program`: the commands for given activations, either with
  the weight loads inline (``weight_base=None``) or against a resident image at
  ``weight_base``.

Memory layout of one pass (``mt`` tokens, ``nt`` N-tiles, ``kt`` K-tiles): weight rows of tile
(n, k) from row slot ``((n * kt) + k) * tile_rows`` (N-slice major; ``tile_rows`` is ``rows``
rounded up to whole beats of ``weight_rows_per_cycle``), activation word ``m * kt + k``,
accumulator word ``n * mt + m``. Every program records the configuration it was built for;
:meth:`Program.check_config` refuses another.

With ``weight_memory = "axi"`` the image lives in external memory: :meth:`WeightImage.to_bytes`
is its byte image (each word ``weight_word_bytes``, little-endian, in the order of the on-chip
image), the host writes it at a byte address (the backend's ``write_external``), and
:func:`compile_matmul` with ``weight_base`` = that byte address emits MATMULs whose ``w_addr``
is the byte address of each block (there are no inline weight loads).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from golden.contract.codecs import pack_act_words, pack_weight_tiles
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    CommandError,
    Counter,
    Opcode,
    matmul_error,
    parse_counters,
    parse_response,
    response_words,
    split_commands,
)

from . import commands
from .tiling import check_acts, check_weights, tile_acts, tile_weights

__all__ = ["Block", "Program", "WeightImage", "compile_layer", "compile_matmul",
           "compile_weights", "prefetching"]


def _check_config(config) -> None:
    if not isinstance(config, AcceleratorConfig):
        raise CommandError(f"config must be an AcceleratorConfig, not {type(config).__name__}")


def _config_diff(mine: AcceleratorConfig, other: AcceleratorConfig) -> str:
    a, b = mine.to_dict(), other.to_dict()
    return ", ".join(f"{key}={b[key]!r} (program: {a[key]!r})" for key in a if a[key] != b[key])


@dataclass(frozen=True)
class Block:
    """The weights of one pass: N-tiles [nt0, nt1) x K-tiles [kt0, kt1), at ``offset``."""

    nt0: int
    nt1: int
    kt0: int
    kt1: int
    offset: int          # word offset within the image
    words: int           # words of weight memory


@dataclass(frozen=True)
class WeightImage:
    config: AcceleratorConfig
    n: int
    k: int
    words: list[int]
    blocks: list[Block]

    @property
    def k_tiles(self) -> int:
        return self.config.k_tiles(self.k)

    @property
    def n_tiles(self) -> int:
        return self.config.n_tiles(self.n)

    def to_bytes(self) -> bytes:
        """The image as bytes of external memory (``weight_memory = "axi"``): each word
        ``weight_word_bytes`` long, little-endian; block ``b`` starts at byte ``b.offset *
        weight_word_bytes``."""
        size = -(-self.config.weight_word_bits // 8)
        return b"".join(int(w).to_bytes(size, "little") for w in self.words)


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def compile_weights(config: AcceleratorConfig, w_t) -> WeightImage:
    """The weight-memory image of ternary weights (N, K), cut into pass blocks that fit."""
    _check_config(config)
    w_t = np.asarray(w_t)
    n, k = check_weights(config, w_t)
    k_tiles, n_tiles = config.k_tiles(k), config.n_tiles(n)
    tile_capacity = config.weight_rows // config.tile_rows   # tiles the weight memory holds
    if tile_capacity == 0:
        raise CommandError(f"the weight memory ({config.weight_rows} rows) cannot hold one "
                           f"tile of {config.tile_rows} rows")
    # One token of a K-chunk must fit the activation buffer; one token of an N-chunk the
    # accumulator buffer; a K-chunk x N-chunk block the weight memory.
    kt_chunk = min(k_tiles, config.act_depth, tile_capacity)
    nt_chunk = min(n_tiles, config.acc_depth, tile_capacity // kt_chunk)
    tiles = tile_weights(config, w_t)
    words, blocks = [], []
    for nt0, nt1 in _chunks(n_tiles, nt_chunk):
        for kt0, kt1 in _chunks(k_tiles, kt_chunk):
            block = pack_weight_tiles(config, tiles[nt0:nt1, kt0:kt1])
            blocks.append(Block(nt0, nt1, kt0, kt1, offset=len(words), words=len(block)))
            words += block
    return WeightImage(config=config, n=n, k=k, words=words, blocks=blocks)


#: A response segment: ("drain", m0, m1, nt0, nt1) or ("counters",).
Segment = tuple


def _segment_words(config: AcceleratorConfig, segment: Segment) -> int:
    """Response words of the command behind a segment, header included."""
    if segment[0] == "drain":
        _, m0, m1, nt0, nt1 = segment
        return response_words(config, Opcode.DRAIN, count=(m1 - m0) * (nt1 - nt0))
    return response_words(config, Opcode.READ_COUNTERS)


@dataclass(frozen=True)
class Program:
    """Commands for one integer product, and how to read the response."""

    config: AcceleratorConfig
    m: int
    n: int
    words: list[int]
    response_words: int
    segments: list[Segment]      # what the response holds, in order

    @property
    def measure(self) -> bool:
        return ("counters",) in self.segments

    def _segments(self, response):
        """(segment, words) pairs of a response of the expected length."""
        if len(response) != self.response_words:
            raise CommandError(f"expected {self.response_words} response words, "
                               f"got {len(response)}")
        pos = 0
        for segment in self.segments:
            count = _segment_words(self.config, segment)
            opcode = Opcode.DRAIN if segment[0] == "drain" else Opcode.READ_COUNTERS
            header, payload = parse_response(response[pos:pos + count], opcode)
            header.raise_on_error()
            yield segment, payload
            pos += count

    def check_config(self, config: AcceleratorConfig) -> None:
        if config != self.config:
            raise CommandError(f"this program was built for another accelerator "
                               f"configuration: {_config_diff(self.config, config)}")

    def counters(self, response) -> dict[Counter, int]:
        """The performance counters over this program's MATMULs (``measure`` programs)."""
        if not self.measure:
            raise CommandError("this program was compiled without measure=True")
        for segment, words in self._segments(response):
            if segment == ("counters",):
                return parse_counters(words)
        raise AssertionError("unreachable")

    def decode(self, response) -> np.ndarray:
        """The response -> (M, N) int64 accumulators."""
        cols, acc_bits = self.config.cols, self.config.acc_bits
        acc = np.zeros((self.m, self.config.n_tiles(self.n) * cols), dtype=np.int64)
        for segment, words in self._segments(response):
            if segment[0] != "drain":
                continue
            _, m0, m1, nt0, nt1 = segment
            raw = np.array(words, dtype=np.int64)
            raw = np.where(raw >= 1 << 31, raw - (1 << 32), raw)     # sign-extended words
            limit = 1 << (acc_bits - 1)
            if (raw < -limit).any() or (raw >= limit).any():
                raise CommandError(f"an accumulator exceeds the configured {acc_bits} bits")
            block = raw.reshape(nt1 - nt0, m1 - m0, cols).transpose(1, 0, 2)
            acc[m0:m1, nt0 * cols:nt1 * cols] = block.reshape(m1 - m0, -1)
        return acc[:, :self.n]


def compile_matmul(image: WeightImage, x_q, *, weight_base: int | None = None,
                   measure: bool = False) -> Program:
    """Commands computing ``x_q @ w_t.T`` for activations (M, K) and a weight image.

    ``weight_base=None``: each pass loads its weight block at address 0. Otherwise the image
    must be resident at ``weight_base`` (see :func:`firmware.runtime`): a weight-memory word,
    or with ``weight_memory = "axi"`` the byte address in external memory where
    :meth:`WeightImage.to_bytes` was written (required then: there is no weight memory to
    load).
    """
    if not isinstance(image, WeightImage):
        raise CommandError(f"image must be a WeightImage (from compile_weights), not "
                           f"{type(image).__name__}")
    config = image.config
    m, k = check_acts(config, x_q)
    x_q = np.asarray(x_q)
    if k != image.k:
        raise CommandError(f"shape mismatch: activations are (M={m}, K={k}) but the weights "
                           f"are (N={image.n}, K={image.k}); the K dimensions must agree")
    if config.axi and weight_base is None:
        raise CommandError("weights in external memory (weight_memory='axi') cannot be loaded "
                           "inline: write image.to_bytes() into the external memory and give "
                           "its byte address as weight_base")
    if (not config.axi and weight_base is not None
            and weight_base + len(image.words) > config.weight_depth):
        raise CommandError(f"a weight image of {len(image.words)} words at {weight_base} "
                           f"runs past the weight memory ({config.weight_depth} words)")
    acts = tile_acts(config, x_q)
    kt_chunk = max(b.kt1 - b.kt0 for b in image.blocks)
    nt_chunk = max(b.nt1 - b.nt0 for b in image.blocks)
    m_chunk = min(m, config.act_depth // kt_chunk, config.acc_depth // nt_chunk)
    n_ranges = sorted({(b.nt0, b.nt1) for b in image.blocks})
    passes = [(m0, m1, nt0, nt1) for m0, m1 in _chunks(m, m_chunk) for nt0, nt1 in n_ranges]

    words = [*commands.clear(errors=False)] if measure else []
    segments: list[Segment] = []
    for i, (m0, m1, nt0, nt1) in enumerate(passes):
        for block in (b for b in image.blocks if (b.nt0, b.nt1) == (nt0, nt1)):
            if weight_base is None:
                block_words = image.words[block.offset:block.offset + block.words]
                words += commands.load_weights(config, 0, block_words)
                w_addr = 0
            elif config.axi:
                w_addr = weight_base + block.offset * config.weight_word_bytes
            else:
                w_addr = weight_base + block.offset
            shape = {"m": m1 - m0, "k_tiles": block.kt1 - block.kt0, "n_tiles": nt1 - nt0}
            error = matmul_error(config, w_addr=w_addr, a_addr=0, acc_addr=0, **shape)
            if error:
                where = "byte address" if config.axi else "word address"
                raise CommandError(f"the MATMUL of block {block} at weight {where} {w_addr} "
                                   f"({w_addr:#x}) would raise {error.name}")
            words += commands.load_acts(config, 0, pack_act_words(
                config, acts[m0:m1, block.kt0:block.kt1].reshape(-1, config.rows)))
            words += commands.matmul(w_addr=w_addr, a_addr=0, acc_addr=0, **shape,
                                     accumulate=block.kt0 > 0)
        if measure and i == len(passes) - 1:
            # Counters right after the last MATMUL: they cover every MATMUL of the program.
            words += commands.read_counters()
            segments.append(("counters",))
        words += commands.drain(0, (m1 - m0) * (nt1 - nt0))
        segments.append(("drain", m0, m1, nt0, nt1))
    response = sum(_segment_words(config, s) for s in segments)
    return Program(config=config, m=m, n=image.n, words=words, response_words=response,
                   segments=segments)


def compile_layer(config: AcceleratorConfig, x_q, w_t, *, measure: bool = False) -> Program:
    """Commands for ``x_q @ w_t.T`` with the weights loaded inline: a self-contained program."""
    return compile_matmul(compile_weights(config, w_t), x_q, measure=measure)


def prefetching(program: Program, following: Program) -> Program:
    """``program`` preceded by a PREFETCH of the weights of ``following``'s first MATMUL
    (``weight_memory = "axi"``): run ``program`` and then ``following``, and that MATMUL finds
    its first tile waiting in the reader instead of paying a memory latency
    (:attr:`golden.contract.isa.Opcode.PREFETCH`). The response is ``program``'s, unchanged
    (PREFETCH answers nothing)."""
    config = program.config
    if not config.axi:
        raise CommandError("PREFETCH needs weights in external memory (weight_memory='axi'); "
                           "this configuration keeps them on chip")
    following.check_config(config)
    matmul = next((c for c in split_commands(config, following.words)
                   if c.opcode is Opcode.MATMUL), None)
    if matmul is None:
        raise CommandError("the following program has no MATMUL to prefetch for")
    w_addr, k_tiles, n_tiles = matmul.args[0], matmul.args[4], matmul.args[5]
    return replace(program, words=[*commands.prefetch(w_addr=w_addr, tiles=k_tiles * n_tiles),
                                   *program.words])
