# SPDX-License-Identifier: BSD-2-Clause
"""Weight images: ternary weights as the 2-bit codes of :class:`golden.isa.WeightCode`."""

from __future__ import annotations

import numpy as np

from golden.isa import ILLEGAL_WEIGHT_CODE, WEIGHT_CODE_BITS

__all__ = ["decode_weight_codes", "encode_weight_codes"]

_CODE_MASK = (1 << WEIGHT_CODE_BITS) - 1


def _as_int_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, not {arr.dtype}")
    return arr


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
    """Base-3 values 0..242 -> bytes q = ceil(v * 256 / 243) (see hw.weight_source)."""
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


def pack_weight_rows(config, rows) -> list[int]:
    """Ternary weight rows (n, cols) -> weight memory words (ints) in ``config.weight_format``.

    ``2bit``: one word per row, column j's code in bits [2j, 2j+2). ``1.6bit``: one word per
    five rows (padded with zero weights), column j's byte in bits [8j, 8j+8).
    """
    rows = _check_rows(config, rows)
    if config.weight_format == "2bit":
        return _fields_to_words(encode_weight_codes(rows), WEIGHT_CODE_BITS)
    pad = -len(rows) % 5
    trits = np.concatenate([rows, np.zeros((pad, config.cols), np.int64)]) + 1
    groups = trits.reshape(-1, 5, config.cols)
    values = np.einsum("gkc,k->gc", groups, _TRIT_POWERS)
    return _fields_to_words(_trit_byte(values), 8)


def unpack_weight_rows(config, words, n_rows: int, *, strict: bool = True) -> np.ndarray:
    """Weight memory words -> the first ``n_rows`` ternary rows (int8, (n_rows, cols)).

    ``strict``: raise ValueError on an illegal 2-bit code or a 1.6-bit byte that the packer
    never produces (one of the 13 of 256 outside the code's image). Otherwise decode them as
    the hardware does: the illegal code as zero, any byte by the same x3 extraction.
    """
    words = [int(w) for w in words]
    cols = config.cols
    if config.weight_format == "2bit":
        codes = _words_to_fields(words, cols, WEIGHT_CODE_BITS)
        if not strict:
            codes[codes == ILLEGAL_WEIGHT_CODE] = 0
        rows = decode_weight_codes(codes)
    else:
        qs = _words_to_fields(words, cols, 8)
        trits = np.zeros((len(words), 5, cols), dtype=np.int64)
        x = qs.copy()
        for k in range(5):
            triple = 3 * x
            trits[:, k, :] = triple >> 8
            x = triple & 0xFF
        values = np.einsum("gkc,k->gc", trits, _TRIT_POWERS)
        bad = _trit_byte(values) != qs
        if strict and bad.any():
            g, j = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"weight memory word {g}, column {j}: byte {int(qs[g, j])} is not "
                             f"a valid five-trit code")
        rows = (trits.reshape(-1, cols) - 1).astype(np.int8)
    if n_rows > len(rows):
        raise ValueError(f"{len(words)} weight memory words hold {len(rows)} rows, "
                         f"not {n_rows}")
    return rows[:n_rows]


def stream_words(word: int, bits: int) -> list[int]:
    """One memory word of ``bits`` bits as little-endian 32-bit stream words."""
    n = -(-bits // 32)
    if word < 0 or word >> bits:
        raise ValueError(f"memory word {word:#x} does not fit in {bits} bits")
    return [(word >> (32 * i)) & 0xFFFF_FFFF for i in range(n)]
