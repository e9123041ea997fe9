# SPDX-License-Identifier: BSD-2-Clause
import numpy as np
import pytest

from firmware.weights import decode_weight_codes, encode_weight_codes
from golden.isa import ILLEGAL_WEIGHT_CODE, WeightCode


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
