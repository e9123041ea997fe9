# SPDX-License-Identifier: BSD-2-Clause
"""The quantizers of the three families and their training helpers, against hand-worked examples."""

import math

import pytest
import torch

from golden.quant import (
    EPS,
    absmax_codes,
    absmean_codes,
    absmean_ternary,
    binary_sign,
    bitnet_act_quantize,
    soft_ternary,
    svid,
    ternary_init,
    twn_ternary,
)

I8 = torch.int8


def test_codes_and_int8_quantizers_agree(rng):
    w = torch.from_numpy(rng.standard_normal((7, 9)).astype("float32"))
    codes, s = absmean_codes(w)
    w_t, s2 = absmean_ternary(w)
    assert torch.equal(codes.to(I8), w_t) and torch.equal(s, s2)
    assert codes.dtype == torch.float32 and torch.equal(codes, codes.round())


def test_twn_hand_worked():
    w = torch.tensor([[0.1, -1.0, 0.5, 0.0],
                      [0.3, 0.3, -0.3, 0.3],
                      [0.0, 0.0, 0.0, 0.0]])
    w_t, s_w = twn_ternary(w)
    # Row 0: mean|w| = 0.4, delta = 0.28: keeps -1.0 and 0.5; alpha = 0.75.
    # Row 1: every |w| = 0.3 > delta = 0.21: all kept; alpha = 0.3.
    # Row 2: all zero: nothing kept, alpha = 0 hits the 1e-5 clamp.
    assert torch.equal(w_t, torch.tensor([[0, -1, 1, 0], [1, 1, -1, 1], [0, 0, 0, 0]], dtype=I8))
    assert s_w[0].item() == pytest.approx(1 / 0.75)
    assert s_w[1].item() == pytest.approx(1 / 0.3)
    assert s_w[2].item() == pytest.approx(1 / EPS)


def test_twn_threshold_is_strict():
    # mean|w| = 1.0, delta = 0.7: an entry of exactly 0.7 (0.7 + 1.3 + 1.0 = 3.0) is zeroed.
    w = torch.tensor([[0.7, 1.3, -1.0]], dtype=torch.float64)
    w_t, _ = twn_ternary(w)
    assert torch.equal(w_t, torch.tensor([[0, 1, -1]], dtype=I8))


def test_binary_sign_hand_worked():
    w = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    # alpha = mean(w) = 0.25: w - alpha = [0.25, -0.75, 0.75, -0.25]; beta = mean|w| = 0.5.
    w_b, s_w = binary_sign(w)
    assert torch.equal(w_b, torch.tensor([[1, -1], [1, -1]], dtype=I8))
    assert s_w.item() == 2.0


def test_binary_sign_of_zero_is_minus_one():
    w = torch.tensor([[1.0, -1.0], [0.0, 0.0]])  # alpha = 0, so W - alpha has two zeros
    w_b, _ = binary_sign(w)
    assert torch.equal(w_b, torch.tensor([[1, -1], [-1, -1]], dtype=I8))
    w_b, _ = binary_sign(torch.tensor([[0.0, 2.0]]), center=False)  # OneBit's plain sign(W)
    assert torch.equal(w_b, torch.tensor([[-1, 1]], dtype=I8))


def test_binary_all_zero_tensor_hits_the_clamp():
    w_b, s_w = binary_sign(torch.zeros(2, 3))
    assert s_w.item() == pytest.approx(1 / EPS)
    assert torch.equal(w_b, torch.full((2, 3), -1, dtype=I8))


def test_bitnet_activations_clamp_at_minus_128_and_127():
    x = torch.tensor([[-2.0, 1.0, 2.0, 0.5, 0.0078125 * 1.5]])
    x_q, s_x = bitnet_act_quantize(x)
    # gamma = 2, Q_b = 128: s_x = 64. -2 -> -128 (in range), 2 -> 128 -> clamped to 127,
    # 0.01171875 * 64 = 0.75 -> 1.
    assert s_x.item() == 64.0
    assert torch.equal(x_q, torch.tensor([[-128, 64, 127, 32, 1]], dtype=I8))


def test_bitnet_activations_all_zero_row_hits_the_clamp():
    x_q, s_x = bitnet_act_quantize(torch.zeros(2, 3))
    assert torch.equal(s_x, torch.full((2, 1), 128 / EPS))
    assert torch.equal(x_q, torch.zeros(2, 3, dtype=I8))


def test_absmax_codes_rounds_half_to_even():
    # absmax 127 -> s_x = 1: 0.5, 1.5, 2.5, -0.5, -2.5 round to 0, 2, 2, -0, -2.
    codes, s_x = absmax_codes(torch.tensor([[127.0, 0.5, 1.5, 2.5, -0.5, -2.5]]))
    assert s_x.item() == 1.0
    assert codes.tolist() == [[127.0, 0.0, 2.0, 2.0, 0.0, -2.0]]


def test_soft_ternary_tends_to_the_hard_staircase():
    u = torch.tensor([-3.0, -0.8, -0.2, 0.0, 0.2, 0.8, 3.0])
    hard = u.round().clamp(-1, 1)
    # |u -+ 0.5| >= 0.3 everywhere, so each tanh is within 2 exp(-2 * 50 * 0.3) ~ 2e-13 of +-1;
    # 1e-6 leaves room for float32 rounding only.
    assert torch.allclose(soft_ternary(u, sharpness=50.0), hard, atol=1e-6, rtol=0)
    assert soft_ternary(torch.tensor([0.5]), sharpness=4.0).item() == pytest.approx(
        0.5 * math.tanh(4.0))


def test_ternary_inits():
    gen = torch.Generator().manual_seed(0)
    n, k, std = 200, 500, 0.05  # 100k draws: a frequency's standard error is below 0.0016
    for method, p0 in (("uniform", 1 / 3), ("zero_biased", 0.6)):
        w = ternary_init((n, k), method=method, std=std, zero_prob=p0, generator=gen)
        values = torch.unique(w)
        assert len(values) == 3 and values[0] == -values[2] and values[1] == 0
        assert abs(float((w == 0).float().mean()) - p0) < 0.01
        assert float(w.std()) == pytest.approx(std, rel=0.03)
    w = ternary_init((n, k), method="kaiming_rounded", generator=gen)
    assert len(torch.unique(w)) == 3
    # Already ternary: quantizing again keeps the codes (the scale changes with the zero count).
    codes, _ = absmean_codes(w)
    assert torch.equal(codes, torch.sign(w))
    w = ternary_init((n, k), method="normal", std=std, generator=gen)
    assert float(w.std()) == pytest.approx(std, rel=0.03)


def test_svid_hand_worked():
    # |W| = [[2, 1], [4, 2]] = [1, 2]^T [2, 1]: rank 1, and |h| = |g| = sqrt(5) already.
    w = torch.tensor([[2.0, -1.0], [-4.0, 2.0]])
    for method in ("nmf", "svd"):
        w_b, h, g = svid(w, method=method)
        assert torch.equal(w_b, torch.tensor([[1, -1], [-1, 1]], dtype=I8))
        # float32 results of float64 iterations: 1e-6 relative is a few ulps.
        assert torch.allclose(h, torch.tensor([1.0, 2.0]), rtol=1e-6, atol=0)
        assert torch.allclose(g, torch.tensor([2.0, 1.0]), rtol=1e-6, atol=0)


def test_svid_reaches_the_best_rank_one_error(rng):
    w = torch.from_numpy(rng.standard_normal((12, 9)).astype("float32"))
    s = torch.linalg.svdvals(w.abs().double())
    best = float(s[1:].square().sum().sqrt())  # Eckart-Young: the optimum of any rank-1 fit
    for method in ("nmf", "svd"):
        w_b, h, g = svid(w, method=method)
        approx = h[:, None] * w_b.float() * g[None, :]
        err = float((w - approx).double().norm())
        # NMF converges geometrically (ratio s2/s1); 200 iterations leave float32 noise only.
        assert err == pytest.approx(best, rel=1e-4)
        assert bool((h >= 0).all() and (g >= 0).all())


@pytest.mark.parametrize(("call", "message"), [
    (lambda: twn_ternary(torch.ones(3)), r"2-D \(out_features, in_features\) matrix"),
    (lambda: twn_ternary(torch.ones(2, 2), factor=2.0), "factor must lie in"),
    (lambda: svid(torch.ones(2, 2), method="pca"), "unknown SVID method 'pca'"),
    (lambda: svid(torch.tensor([[1.0, float("nan")]])), r"weight contains nan at index \(0, 1\)"),
    (lambda: ternary_init((2, 2), method="ones"), "unknown ternary initialization 'ones'"),
    (lambda: ternary_init((2, 2), method="zero_biased", zero_prob=1.0), "zero_prob"),
    (lambda: soft_ternary(torch.ones(1), sharpness=0), "sharpness must be positive"),
    (lambda: bitnet_act_quantize(torch.tensor([[float("inf")]])),
     r"activation contains inf at index \(0, 0\)"),
    (lambda: absmax_codes(torch.ones(2, 2), bits=True), "bits must be an integer"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
