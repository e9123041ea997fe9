# SPDX-License-Identifier: BSD-2-Clause
"""golden.contract.codecs: the hardware's weight code, the 1.6-bit format, memory and stream
words, and the checkpoint's codes (transformers' packing, OneBit's)."""

import itertools

import numpy as np
import pytest

from golden.contract.codecs import (
    ILLEGAL_WEIGHT_CODE,
    WeightCode,
    decode_weight_codes,
    encode_weight_codes,
    from_stream_words,
    pack_act_words,
    pack_binary,
    pack_ternary,
    pack_weight_rows,
    pack_weight_tiles,
    to_stream_words,
    unpack_act_words,
    unpack_binary,
    unpack_ternary,
    unpack_weight_rows,
    unpack_weight_tiles,
)
from golden.contract.config import AcceleratorConfig


def test_codes_are_the_enum():
    codes = encode_weight_codes(np.array([-1, 0, 1]))
    assert codes.tolist() == [WeightCode.NEG.value, WeightCode.ZERO.value, WeightCode.POS.value]


def test_round_trip(rng):
    w = rng.integers(-1, 2, size=(7, 9)).astype(np.int8)
    assert np.array_equal(decode_weight_codes(encode_weight_codes(w)), w)


def test_non_ternary_weight_is_named():
    with pytest.raises(ValueError, match=r"ternary \(-1, 0, \+1\); found -2 at index \(1, 0\)"):
        encode_weight_codes(np.array([[0, 1], [-2, 0]]))


def test_illegal_code_is_named():
    with pytest.raises(ValueError,
                       match=rf"illegal weight code {ILLEGAL_WEIGHT_CODE} at index \(2,\)"):
        decode_weight_codes(np.array([0, 1, ILLEGAL_WEIGHT_CODE]))


def test_float_weights_are_refused():
    with pytest.raises(ValueError, match="weights must be integers, not float64"):
        encode_weight_codes(np.array([0.0, 1.0]))


# --- memory words --------------------------------------------------------------------------------

@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
def test_weight_rows_round_trip(weight_format, rng):
    cfg = AcceleratorConfig(rows=4, cols=5, weight_format=weight_format)
    rows = rng.integers(-1, 2, size=(13, 5)).astype(np.int8)
    words = pack_weight_rows(cfg, rows)
    assert len(words) == (13 if weight_format == "2bit" else 3)
    np.testing.assert_array_equal(unpack_weight_rows(cfg, words, 13), rows)


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize("lanes", [2, 3])
def test_wide_weight_words_are_lanes_of_narrow_ones(weight_format, lanes, rng):
    """A word of W rows per cycle is W words of the one-row-per-cycle format side by side:
    lane r holds row r of each beat (2bit: one beat per word; 1.6bit: five beats per word, the
    byte of lane r holding rows r, r + W, ..., r + 4W)."""
    wide = AcceleratorConfig(rows=3, cols=5, weight_format=weight_format,
                             weight_rows_per_cycle=lanes)
    narrow = AcceleratorConfig(rows=3, cols=5, weight_format=weight_format)
    rows = rng.integers(-1, 2, size=(4 * wide.weight_rows_per_word, 5)).astype(np.int8)
    words = pack_weight_rows(wide, rows)
    assert len(words) == 4 and all(w < 1 << wide.weight_word_bits for w in words)
    np.testing.assert_array_equal(unpack_weight_rows(wide, words, len(rows)), rows)
    bits = narrow.weight_word_bits
    for g, word in enumerate(words):
        block = rows[g * wide.weight_rows_per_word:(g + 1) * wide.weight_rows_per_word]
        for r in range(lanes):
            (lane,) = pack_weight_rows(narrow, block[r::lanes])
            assert (word >> (r * bits)) & ((1 << bits) - 1) == lane


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
def test_weight_tiles_take_whole_beats(weight_format, rng):
    cfg = AcceleratorConfig(rows=3, cols=2, weight_format=weight_format,
                            weight_rows_per_cycle=2)        # 2 beats, 4 row slots per tile
    tiles = rng.integers(-1, 2, size=(5, 3, 2)).astype(np.int8)
    words = pack_weight_tiles(cfg, tiles)
    slots = unpack_weight_rows(cfg, words, 5 * 4).reshape(5, 4, 2)
    np.testing.assert_array_equal(slots[:, :3], tiles)
    assert not slots[:, 3].any()                            # the padding row
    np.testing.assert_array_equal(unpack_weight_tiles(cfg, words, 5), tiles)


def test_every_five_trit_group_decodes():
    """All 243 combinations of five trits survive the 1.6-bit byte (REFERENCE.md section 4)."""
    cfg = AcceleratorConfig(rows=5, cols=1, weight_format="1.6bit")
    for combo in itertools.product([-1, 0, 1], repeat=5):
        rows = np.array(combo, dtype=np.int8).reshape(5, 1)
        (word,) = pack_weight_rows(cfg, rows)
        assert word < 256
        np.testing.assert_array_equal(unpack_weight_rows(cfg, [word], 5), rows)


def test_bytes_the_packer_never_writes_are_refused_or_decoded_as_the_hardware_does():
    cfg = AcceleratorConfig(rows=5, cols=1, weight_format="1.6bit")
    made = {pack_weight_rows(cfg, np.array(c, np.int8).reshape(5, 1))[0]
            for c in itertools.product([-1, 0, 1], repeat=5)}
    bad = next(b for b in range(256) if b not in made)
    with pytest.raises(ValueError, match=f"byte {bad} is not a valid five-trit code"):
        unpack_weight_rows(cfg, [bad], 5)
    assert unpack_weight_rows(cfg, [bad], 5, strict=False).shape == (5, 1)


def test_activation_words_are_twos_complement_lanes(rng):
    cfg = AcceleratorConfig(rows=3, act_bits=8)
    assert pack_act_words(cfg, [[1, -1, -128]]) == [1 | 0xFF << 8 | 0x80 << 16]
    acts = rng.integers(-128, 128, size=(6, 3))
    np.testing.assert_array_equal(unpack_act_words(cfg, pack_act_words(cfg, acts)), acts)
    odd = AcceleratorConfig(rows=3, act_bits=6, acc_bits=32)    # lanes across byte boundaries
    acts = rng.integers(-32, 32, size=(6, 3))
    np.testing.assert_array_equal(unpack_act_words(odd, pack_act_words(odd, acts)), acts)
    with pytest.raises(ValueError, match=r"shape \(n, rows=3\), not \(2, 2\)"):
        pack_act_words(cfg, np.zeros((2, 2), np.int8))


def test_stream_words_are_little_endian():
    assert to_stream_words(0x1_2345_6789, 40) == [0x2345_6789, 0x1]
    assert from_stream_words([0x2345_6789, 0xFFFF_FF01], 40) == 0x1_2345_6789
    with pytest.raises(ValueError, match="does not fit in 8 bits"):
        to_stream_words(256, 8)


# --- the checkpoint's codes ----------------------------------------------------------------------

def test_unpack_ternary_matches_the_transformers_docstring_example():
    # The worked example of transformers' unpack_weights docstring (integrations/bitnet.py).
    packed = np.array([[0b10100001, 0b00011000],
                           [0b10010000, 0b00001010]], dtype=np.uint8)
    expect = np.array([[0, -1], [-1, 1], [-1, 1], [-1, 1], [1, 0], [0, -1], [1, -1],
                           [1, -1]], dtype=np.int8)
    np.testing.assert_array_equal(unpack_ternary(packed, rows=8), expect)
    np.testing.assert_array_equal(pack_ternary(expect), packed)


def test_pack_ternary_hand_worked_with_padding():
    # N = 5 -> ceil(5/4) = 2 packed rows; rows 0, 2, 4 live in packed row 0 (bits 0-1, 2-3,
    # 4-5), rows 1, 3 in packed row 1; codes w + 1; missing rows 5..7 are zero bits.
    w = np.array([[1], [-1], [0], [1], [-1]], dtype=np.int8)
    packed = pack_ternary(w)
    assert packed.tolist() == [[0b00_00_01_10 | (0 << 4)], [0b00_00_10_00]]
    np.testing.assert_array_equal(unpack_ternary(packed, rows=5), w)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (4, 3), (5, 7), (7, 2), (13, 11)])
def test_ternary_round_trip(n, k, rng):
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    packed = pack_ternary(w)
    assert packed.shape == (-(-n // 4), k) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_ternary(packed, rows=n), w)


def test_pack_binary_hand_worked():
    # bit = (1 - w) / 2, LSB first: [1,-1,-1,1,1,1,1,-1 | -1] -> 0b10000110, 0b00000001.
    w = np.array([[1, -1, -1, 1, 1, 1, 1, -1, -1]], dtype=np.int8)
    packed = pack_binary(w)
    assert packed.tolist() == [[0b10000110, 0b00000001]]
    np.testing.assert_array_equal(unpack_binary(packed, cols=9), w)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (3, 7), (2, 8), (5, 9), (4, 17)])
def test_binary_round_trip(n, k, rng):
    w = rng.choice([-1, 1], size=(n, k)).astype(np.int8)
    packed = pack_binary(w)
    assert packed.shape == (n, -(-k // 8))
    np.testing.assert_array_equal(unpack_binary(packed, cols=k), w)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: unpack_ternary(np.array([[0b00_11_00_01]], dtype=np.uint8), rows=4),
     r"illegal 2-bit code 3 .* for row 2, column 0 \(byte \[0, 0\], bits 4..5\)"),
    (lambda: unpack_ternary(np.zeros((2, 3), dtype=np.uint8), rows=9),
     r"holds 5 to 8 rows, not 9"),
    (lambda: unpack_ternary(np.zeros((2, 3), dtype=np.int8), rows=8), "must be a uint8"),
    (lambda: unpack_binary(np.zeros((2, 2), dtype=np.uint8), cols=8),
     r"holds 9 to 16 columns, not 8"),
    (lambda: pack_ternary(np.array([[2]], dtype=np.int8)),
     r"must hold only \(-1, 0, 1\); found 2 at index \(0, 0\)"),
    (lambda: pack_binary(np.array([[0]], dtype=np.int8)), r"must hold only \(-1, 1\); found 0"),
    (lambda: pack_ternary(np.ones((2, 2))), "must be a signed integer matrix"),
])
def test_bad_packing_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
