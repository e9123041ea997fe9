# SPDX-License-Identifier: BSD-2-Clause
"""The golden quantizers against hand-worked examples, and the integer path against brute force."""

import itertools

import pytest
import torch

from golden.bitlinear import int_matmul, ref_bitlinear, rescale
from golden.quant import EPS, absmax_quantize, absmean_ternary

I8 = torch.int8


def test_absmean_hand_worked():
    w = torch.tensor([[0.5, -1.5], [0.0, 2.0]])
    # mean |w| = 1.0 -> s_w = 1; round(0.5) = 0 (half to even), round(-1.5) = -2 -> clamp -1.
    w_t, s_w = absmean_ternary(w)
    assert s_w.item() == 1.0
    assert torch.equal(w_t, torch.tensor([[0, -1], [0, 1]], dtype=torch.int8))


def test_absmean_rounds_half_to_even():
    # mean |w| = 0.5 -> s_w = 2: w * s_w = [0.5, 1.5, -0.5, -1.5] rounds half to even to
    # [0, 2, 0, -2], clamped to [0, 1, 0, -1]. (Round half away from zero would give 1, -1.)
    w = torch.tensor([0.25, 0.75, -0.25, -0.75])
    w_t, s_w = absmean_ternary(w)
    assert s_w.item() == 2.0
    assert torch.equal(w_t, torch.tensor([0, 1, 0, -1], dtype=torch.int8))


def test_absmean_all_zero_tensor_hits_the_clamp():
    w_t, s_w = absmean_ternary(torch.zeros(3, 4))
    assert s_w.item() == pytest.approx(1 / EPS)
    assert torch.equal(w_t, torch.zeros(3, 4, dtype=torch.int8))


def test_absmax_hand_worked():
    x = torch.tensor([[1.0, -0.5, 0.25, 0.0], [-4.0, 2.0, 1.0, 3.0]])
    x_q, s_x = absmax_quantize(x)
    assert torch.equal(s_x, torch.tensor([[127.0], [127.0 / 4]]))
    # Row 0: 127, -63.5 -> -64 (half to even), 31.75 -> 32, 0.
    # Row 1: -127, 63.5 -> 64, 31.75 -> 32, 95.25 -> 95.
    assert torch.equal(x_q, torch.tensor([[127, -64, 32, 0], [-127, 64, 32, 95]],
                                         dtype=torch.int8))


def test_absmax_all_zero_row_hits_the_clamp():
    x_q, s_x = absmax_quantize(torch.tensor([[0.0, 0.0], [1.0, -1.0]]))
    assert s_x[0, 0].item() == pytest.approx(127 / EPS)
    assert torch.equal(x_q[0], torch.zeros(2, dtype=torch.int8))


def test_absmax_clamps_at_minus_128_for_narrow_codes():
    # With 4-bit codes, qmax = 7: the symmetric scale never produces -8, but the clamp bound is
    # -8; a value rounding beyond 7 in magnitude cannot occur, so check the bounds directly.
    x = torch.tensor([[-1.0, 1.0, -0.99]])
    x_q, _ = absmax_quantize(x, bits=4)
    assert x_q.min().item() >= -8 and x_q.max().item() <= 7
    assert torch.equal(x_q, torch.tensor([[-7, 7, -7]], dtype=torch.int8))


def test_int_matmul_equals_brute_force(rng):
    m, k, n = 5, 37, 7
    x = torch.from_numpy(rng.integers(-128, 128, size=(m, k)).astype("int8"))
    w = torch.from_numpy(rng.integers(-1, 2, size=(n, k)).astype("int8"))
    acc = int_matmul(x, w)
    for i, j in itertools.product(range(m), range(n)):
        expect = 0
        for kk in range(k):
            if w[j, kk] == 1:
                expect += int(x[i, kk])
            elif w[j, kk] == -1:
                expect -= int(x[i, kk])
        assert acc[i, j].item() == expect
    assert acc.dtype == torch.int64


def test_int_matmul_extremes_are_exact():
    k = 6912
    x = torch.full((2, k), -128, dtype=torch.int8)
    x[1] = 127
    w = torch.ones(3, k, dtype=torch.int8)
    w[1] = -1
    acc = int_matmul(x, w)
    assert acc.tolist() == [[-128 * k, 128 * k, -128 * k], [127 * k, -127 * k, 127 * k]]


def test_ref_bitlinear_matches_its_parts(rng):
    x = torch.from_numpy(rng.standard_normal((4, 24)).astype("float32"))
    w = torch.from_numpy(rng.standard_normal((6, 24)).astype("float32"))
    tr = ref_bitlinear(x, w)
    x_q, s_x = absmax_quantize(x)
    w_t, s_w = absmean_ternary(w)
    assert torch.equal(tr.acc, int_matmul(x_q, w_t))
    assert torch.equal(tr.y, tr.acc.float() / (s_w * s_x))
    # The integer path approximates the float product (ternary weights are coarse).
    rel = (tr.y - x @ w.T).norm() / (x @ w.T).norm()
    assert rel < 0.6


@pytest.mark.parametrize(("call", "message"), [
    (lambda: int_matmul(torch.zeros(2, 3, dtype=I8), torch.full((4, 3), 2, dtype=I8)),
     r"weights must be ternary \(-1, 0, \+1\); found 2 at index \(0, 0\)"),
    (lambda: int_matmul(torch.zeros(2, 3, dtype=torch.int8), torch.zeros(4, 5, dtype=torch.int8)),
     r"shape mismatch: activations are \(M=2, K=3\) but weights are \(N=4, K=5\)"),
    (lambda: int_matmul(torch.zeros(2, 3), torch.zeros(4, 3, dtype=torch.int8)),
     "activations must be an integer tensor, not torch.float32"),
    (lambda: int_matmul(torch.full((2, 3), 200, dtype=torch.int16), torch.zeros(4, 3, dtype=I8)),
     r"activations must lie in \[-128, 127\]; found 200 at index \(0, 0\)"),
    (lambda: int_matmul(torch.zeros(3, dtype=torch.int8), torch.zeros(4, 3, dtype=torch.int8)),
     r"activations must be a 2-D matrix, not shape \(3,\)"),
    (lambda: absmax_quantize(torch.tensor([[1.0, float("nan")]])),
     r"activation contains nan at index \(0, 1\)"),
    (lambda: absmean_ternary(torch.tensor([1.0, float("inf")])),
     r"weight contains inf at index \(1,\)"),
    (lambda: absmean_ternary(torch.ones(2, 2, dtype=torch.int8)),
     "weight must be a floating-point tensor, not torch.int8"),
    (lambda: ref_bitlinear(torch.zeros(2, 3), torch.zeros(4, 5)),
     r"shape mismatch: input is \(M=2, K=3\) but weight is \(N=4, K=5\)"),
    (lambda: rescale(torch.zeros(2, 3, dtype=torch.int64), torch.tensor(1.0), torch.ones(3, 1)),
     r"activation scales must have shape \(2, 1\)"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
