# SPDX-License-Identifier: BSD-2-Clause
"""Every encoding of weights and memory words, with the reason each exists.

The project stores ternary weights in two 2-bit codes, and this is the one place that says why
(REFERENCE.md section 4 has the table):

* **The hardware's code** (:class:`WeightCode`): the weight itself in 2-bit two's complement,
  ``code = w & 0b11`` (00 = 0, 01 = +1, 11 = -1). Bit 0 says "nonzero" and, with bit 0, bit 1
  says "negative", so each processing element turns the code into its adder operand with no
  decoder, and sign extension decodes it. The fourth pattern, 0b10 (-2), is not a weight: the
  array treats it as zero, the accelerator refuses to load it and the firmware never writes it.
  Weight memory words hold these codes (``2bit``) or five trits per byte (``1.6bit``, decoded
  on the way into the array, see :mod:`hw.weight_source`).
* **The checkpoint's code** (:func:`pack_ternary`): ``code = w + 1`` (0, 1, 2), four per byte,
  in the layout of Hugging Face transformers' ``pack_weights``, so that the project's
  checkpoints and transformers' BitNet checkpoints share one packing. Binary (1-bit) weights
  use OneBit's layout (:func:`pack_binary`).

Memory words travel on the command stream as little-endian 32-bit words
(:func:`to_stream_words`). Everything here is numpy; nothing imports PyTorch.
"""

from __future__ import annotations

import numpy as np
from amaranth.lib import enum

from .config import WORD_BITS, AcceleratorConfig

__all__ = [
    "ILLEGAL_WEIGHT_CODE",
    "WEIGHT_CODE_BITS",
    "WeightCode",
    "as_array",
    "as_int_array",
    "decode_weight_codes",
    "encode_weight_codes",
    "from_stream_words",
    "pack_act_words",
    "pack_binary",
    "pack_ternary",
    "pack_weight_rows",
    "pack_weight_tiles",
    "to_stream_words",
    "unpack_act_words",
    "unpack_binary",
    "unpack_ternary",
    "unpack_weight_rows",
    "unpack_weight_tiles",
]

WEIGHT_CODE_BITS = 2


class WeightCode(enum.Enum, shape=WEIGHT_CODE_BITS):
    """2-bit code of one ternary weight in weight memory and in the array (module docstring):
    the weight in two's complement, so ``code = w & 0b11`` encodes and sign extension
    decodes; 0b10 (:data:`ILLEGAL_WEIGHT_CODE`) is not a weight."""

    ZERO = 0b00
    POS = 0b01
    NEG = 0b11


ILLEGAL_WEIGHT_CODE = 0b10

_CODE_MASK = (1 << WEIGHT_CODE_BITS) - 1


def as_array(values, name: str) -> np.ndarray:
    """``np.asarray(values)``, or ValueError naming ``name`` when it is no array (ragged
    nested lists, say)."""
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a rectangular array of integers: {e}") from None


def as_int_array(values, name: str) -> np.ndarray:
    """``values`` as a numpy array of integers, or ValueError naming ``name``, the dtype and,
    for floating-point values, the first one that is not an integer (NaN, an infinity, a
    fraction) with its index."""
    arr = as_array(values, name)
    if arr.dtype != object and np.issubdtype(arr.dtype, np.integer):
        return arr
    detail = ""
    if arr.dtype.kind in "fc" and arr.size:
        bad = ~np.isfinite(arr)
        if not bad.any():
            bad = arr != np.round(arr.real)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            detail = f": {arr[idx]} at index {idx}"
        else:
            detail = " (integral values: convert them with astype)"
    raise ValueError(f"{name} must be integers, not {arr.dtype}{detail}")


_as_int_array = as_int_array


def encode_weight_codes(w_t) -> np.ndarray:
    """Encode ternary weights (-1, 0, +1) as 2-bit codes (uint8 array of the same shape)."""
    w = _as_int_array(w_t, "weights")
    bad = (w < -1) | (w > 1)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"weights must be ternary (-1, 0, +1); found {int(w[idx])} at index {idx}")
    return (w.astype(np.int64) & _CODE_MASK).astype(np.uint8)


def decode_weight_codes(codes) -> np.ndarray:
    """Decode 2-bit codes back to ternary weights (int8); the illegal code 0b10 is an error."""
    c = _as_int_array(codes, "weight codes")
    bad = (c < 0) | (c > _CODE_MASK) | (c == ILLEGAL_WEIGHT_CODE)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"illegal weight code {int(c[idx])} at index {idx}; "
                         f"valid codes are 0 (zero), 1 (+1) and 3 (-1)")
    w = c.astype(np.int8)
    w[w == _CODE_MASK] = -1
    return w


# --- weight memory words ----------------------------------------------------------------------

_TRIT_POWERS = np.array([81, 27, 9, 3, 1], dtype=np.int64)     # first row most significant


def _trit_byte(values: np.ndarray) -> np.ndarray:
    """Base-3 values 0..242 -> bytes q = ceil(v * 256 / 243) (see :mod:`hw.weight_source`)."""
    return (values * 256 + 242) // 243


def _check_rows(config, rows) -> np.ndarray:
    rows = _as_int_array(rows, "weight rows")
    if rows.ndim != 2 or rows.shape[1] != config.cols:
        raise ValueError(f"weight rows must have shape (n, cols={config.cols}), "
                         f"not {rows.shape}")
    encode_weight_codes(rows)     # raises on a non-ternary weight, naming it
    return rows.astype(np.int64)


def _fields_to_words(fields: np.ndarray, bits: int) -> list[int]:
    """Rows of unsigned ``bits``-bit fields (``bits`` divides 8) -> one int per row, field j in
    bits [bits*j, bits*(j+1)). Vectorized: a weight image has tens of thousands of words."""
    per_byte = 8 // bits
    n, cols = fields.shape
    padded = np.zeros((n, -(-cols // per_byte) * per_byte), np.uint8)
    padded[:, :cols] = fields
    shifts = (np.arange(per_byte) * bits).astype(np.uint8)
    packed = np.bitwise_or.reduce(padded.reshape(n, -1, per_byte) << shifts, axis=2)
    return [int.from_bytes(row.tobytes(), "little") for row in packed.astype(np.uint8)]


def _words_to_fields(words: list[int], cols: int, bits: int) -> np.ndarray:
    """Inverse of :func:`_fields_to_words` ((len(words), cols) int64); bits above the row are
    ignored, as the hardware ignores them."""
    per_byte = 8 // bits
    nbytes = -(-cols // per_byte)
    mask = (1 << (8 * nbytes)) - 1
    buf = b"".join((w & mask).to_bytes(nbytes, "little") for w in words)
    b = np.frombuffer(buf, np.uint8).reshape(len(words), nbytes).astype(np.int64)
    shifts = np.arange(per_byte) * bits
    fields = (b[:, :, None] >> shifts) & ((1 << bits) - 1)
    return fields.reshape(len(words), -1)[:, :cols]


def pack_weight_rows(config: AcceleratorConfig, rows) -> list[int]:
    """Ternary weight rows (n, cols) -> weight memory words (ints) in ``config.weight_format``.

    The rows are weight-row slots in order (:func:`pack_weight_tiles` lays tiles out in them).
    A word holds ``L = weight_lanes`` lanes (:attr:`AcceleratorConfig.weight_word_bits`):

    * ``2bit``: one word per beat of L = W rows (padded with zero weights), row r of the beat
      in lane r, column j's code in bits [2j, 2j+2) of the lane;
    * ``1.6bit``: one word per 5L rows (padded), lane r holding rows r, r + L, ..., r + 4L of
      the word as one byte per column (bits [8j, 8j+8) of the lane), the first of them most
      significant. On chip (L = W) every lane decodes one row per cycle, so the word gives
      one beat per cycle for five cycles; over AXI (L = W / 5) every lane decodes its five
      rows at once, so the word is one beat. The layout is the same.

    At W = 1 both are the original formats (one row per word; five rows per word).
    """
    rows = _check_rows(config, rows)
    lanes = config.weight_lanes
    pad = -len(rows) % config.weight_rows_per_word
    rows = np.concatenate([rows, np.zeros((pad, config.cols), np.int64)])
    beats = rows.reshape(-1, lanes * config.cols)      # lane r of a beat: columns [r*cols, ...)
    if config.weight_format == "2bit":
        return _fields_to_words(encode_weight_codes(beats), WEIGHT_CODE_BITS)
    groups = beats.reshape(-1, 5, lanes * config.cols) + 1
    values = np.einsum("gkc,k->gc", groups, _TRIT_POWERS)
    return _fields_to_words(_trit_byte(values), 8)


def unpack_weight_rows(config: AcceleratorConfig, words, n_rows: int, *,
                       strict: bool = True) -> np.ndarray:
    """Weight memory words -> the first ``n_rows`` ternary rows (int8, (n_rows, cols)).

    ``strict``: raise ValueError on an illegal 2-bit code or a 1.6-bit byte that the packer
    never produces (one of the 13 of 256 outside the code's image). Otherwise decode them as
    the hardware does: the illegal code as zero, any byte by the same x3 extraction.
    """
    words = [int(w) for w in words]
    cols, lanes = config.cols, config.weight_lanes
    width = lanes * cols                    # the columns of all lanes side by side
    if config.weight_format == "2bit":
        codes = _words_to_fields(words, width, WEIGHT_CODE_BITS)
        if not strict:
            codes[codes == ILLEGAL_WEIGHT_CODE] = 0
        beats = decode_weight_codes(codes)
    else:
        qs = _words_to_fields(words, width, 8)
        trits = np.zeros((len(words), 5, width), dtype=np.int64)
        x = qs.copy()
        for k in range(5):
            triple = 3 * x
            trits[:, k, :] = triple >> 8
            x = triple & 0xFF
        values = np.einsum("gkc,k->gc", trits, _TRIT_POWERS)
        bad = _trit_byte(values) != qs
        if strict and bad.any():
            g, j = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"weight memory word {g}, lane {j // cols}, column {j % cols}: "
                             f"byte {int(qs[g, j])} is not a valid five-trit code")
        beats = (trits.reshape(-1, width) - 1).astype(np.int8)
    rows = beats.reshape(-1, cols)
    if n_rows > len(rows):
        raise ValueError(f"{len(words)} weight memory words hold {len(rows)} rows, "
                         f"not {n_rows}")
    return rows[:n_rows]


def pack_weight_tiles(config: AcceleratorConfig, tiles) -> list[int]:
    """Weight tiles (..., rows, cols), in order -> weight memory words: each tile's rows
    padded with zero rows to :attr:`AcceleratorConfig.tile_rows` (whole beats), then
    :func:`pack_weight_rows`. The layout the MATMUL engine reads (tile t of a MATMUL from
    row slot ``w_addr * weight_rows_per_word + t * tile_rows``)."""
    tiles = _as_int_array(tiles, "weight tiles")
    if tiles.ndim < 2 or tiles.shape[-2:] != (config.rows, config.cols):
        raise ValueError(f"weight tiles must have shape (..., rows={config.rows}, "
                         f"cols={config.cols}), not {tiles.shape}")
    tiles = tiles.reshape(-1, config.rows, config.cols)
    padded = np.zeros((len(tiles), config.tile_rows, config.cols), np.int64)
    padded[:, :config.rows] = tiles
    return pack_weight_rows(config, padded.reshape(-1, config.cols))


def unpack_weight_tiles(config: AcceleratorConfig, words, n_tiles: int, *,
                        strict: bool = True) -> np.ndarray:
    """Inverse of :func:`pack_weight_tiles`: the first ``n_tiles`` tiles (int8, (n_tiles,
    rows, cols)), their padding dropped."""
    rows = unpack_weight_rows(config, words, n_tiles * config.tile_rows, strict=strict)
    return rows.reshape(n_tiles, config.tile_rows, config.cols)[:, :config.rows]


# --- activation words and stream words -------------------------------------------------------

def pack_act_words(config: AcceleratorConfig, acts) -> list[int]:
    """Activation-buffer words of activation vectors (n, rows): lane i of a word in bits
    [act_bits * i, act_bits * (i + 1)), two's complement."""
    acts = _as_int_array(acts, "activations")
    if acts.ndim != 2 or acts.shape[1] != config.rows:
        raise ValueError(f"activation vectors must have shape (n, rows={config.rows}), "
                         f"not {acts.shape}")
    bits = config.act_bits
    lanes = acts.astype(np.int64) & ((1 << bits) - 1)
    shifts = [bits * i for i in range(config.rows)]
    return [sum(int(v) << s for v, s in zip(word, shifts, strict=True)) for word in lanes]


def unpack_act_words(config: AcceleratorConfig, words) -> np.ndarray:
    """Inverse of :func:`pack_act_words`: (len(words), rows) int64, sign-extended lanes (bits
    above the word are ignored, as the hardware ignores them)."""
    bits, words = config.act_bits, [int(w) for w in words]
    if 8 % bits == 0:                # whole lanes per byte: vectorized
        lanes = _words_to_fields(words, config.rows, bits) if words else \
            np.zeros((0, config.rows), np.int64)
    else:
        mask = (1 << bits) - 1
        lanes = np.array([[(w >> (bits * i)) & mask for i in range(config.rows)]
                          for w in words], dtype=np.int64).reshape(-1, config.rows)
    return np.where(lanes >= 1 << (bits - 1), lanes - (1 << bits), lanes)


def to_stream_words(word: int, bits: int) -> list[int]:
    """One memory word of ``bits`` bits as little-endian 32-bit stream words."""
    n = -(-bits // WORD_BITS)
    if word < 0 or word >> bits:
        raise ValueError(f"memory word {word:#x} does not fit in {bits} bits")
    return [(word >> (WORD_BITS * i)) & ((1 << WORD_BITS) - 1) for i in range(n)]


def from_stream_words(words, bits: int) -> int:
    """The memory word of ``bits`` bits that little-endian stream ``words`` carry (bits above
    it ignored, as the hardware ignores them)."""
    word = sum(int(w) << (WORD_BITS * i) for i, w in enumerate(words))
    return word & ((1 << bits) - 1)


# --- the checkpoint's codes ----------------------------------------------------------------------

def _check_codes(w, name: str, allowed: tuple[int, ...]) -> np.ndarray:
    w = np.asarray(w)
    if w.dtype.kind != "i":
        raise ValueError(f"{name} must be a signed integer matrix, not {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (out_features, in_features) matrix, not shape "
                         f"{tuple(w.shape)}")
    bad = ~np.isin(w, allowed)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must hold only {allowed}; found {int(w[idx])} at index {idx}")
    return w


def _check_packed(packed, name: str, *, dim: int, per_byte: int, count: int,
                  what: str) -> np.ndarray:
    """A uint8 matrix whose dimension ``dim`` packs ``count`` values, ``per_byte`` per byte."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise ValueError(f"packed {name} must be a uint8 matrix, not {packed.dtype}")
    if packed.ndim != 2:
        raise ValueError(f"packed {name} must be 2-D, not shape {tuple(packed.shape)}")
    have = packed.shape[dim]
    if not per_byte * (have - 1) < count <= per_byte * have:
        raise ValueError(f"packed {name} of shape {tuple(packed.shape)} holds "
                         f"{per_byte * (have - 1) + 1} to {per_byte * have} {what}, not {count}")
    return packed


def pack_ternary(w_t, *, name: str = "weights") -> np.ndarray:
    """Ternary weights (N, K) -> uint8 (ceil(N/4), K) in transformers' ``pack_weights`` layout:
    ``code = w + 1``, four codes per byte along out_features, bits ``2i..2i+1`` of
    ``packed[r]`` holding row ``r + i * ceil(N/4)``."""
    w_t = _check_codes(w_t, name, (-1, 0, 1))
    n, k = w_t.shape
    rows = -(-n // 4)
    codes = np.zeros((4 * rows, k), dtype=np.uint8)
    codes[:n] = (w_t + 1).astype(np.uint8)
    packed = np.zeros((rows, k), dtype=np.uint8)
    for i in range(4):
        packed |= codes[i * rows:(i + 1) * rows] << (2 * i)
    return packed


def unpack_ternary(packed, *, rows: int, name: str = "weights") -> np.ndarray:
    """int8 ternary weights (rows, K) from :func:`pack_ternary`'s layout; code 3 is an error."""
    packed = _check_packed(packed, name, dim=0, per_byte=4, count=rows, what="rows")
    codes = np.concatenate([(packed >> (2 * i)) & 3 for i in range(4)])
    bad = codes == 3
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"packed {name} holds the illegal 2-bit code 3 (legal: 0, 1, 2 for "
                         f"-1, 0, +1) for row {r}, column {c} (byte [{r % packed.shape[0]}, {c}],"
                         f" bits {2 * (r // packed.shape[0])}..{2 * (r // packed.shape[0]) + 1})")
    return codes[:rows].astype(np.int8) - 1


def pack_binary(w_b, *, name: str = "weights") -> np.ndarray:
    """Binary weights (N, K) -> uint8 (N, ceil(K/8)) in OneBit's layout: ``bit = (1 - w) / 2``,
    eight per byte along in_features, least significant bit first."""
    w_b = _check_codes(w_b, name, (-1, 1))
    n, k = w_b.shape
    cols = -(-k // 8)
    bits = np.zeros((n, 8 * cols), dtype=np.uint8)
    bits[:, :k] = w_b < 0
    return np.packbits(bits.reshape(n, cols, 8), axis=2, bitorder="little").reshape(n, cols)


def unpack_binary(packed, *, cols: int, name: str = "weights") -> np.ndarray:
    """int8 binary weights (N, cols) in {-1, +1} from :func:`pack_binary`'s layout."""
    packed = _check_packed(packed, name, dim=1, per_byte=8, count=cols, what="columns")
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, :cols]
    return (1 - 2 * bits.astype(np.int8)).astype(np.int8)
