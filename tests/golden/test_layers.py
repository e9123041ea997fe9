# SPDX-License-Identifier: BSD-2-Clause
"""The BitLinear layers of the three families: integer path against fake quantization, the
pluggable backend (contract A), group quantization, straight-through gradients, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from golden import intpath
from golden.bitlinear import int_matmul, ref_bitlinear
from golden.layers import BitLinear1, BitLinear158, IntWeights, OneBitLinear
from golden.quant import absmax_quantize, binary_sign, bitnet_act_quantize

# (class, options) of every quantized layer variant.
VARIANTS = {
    "b158-absmean": (BitLinear158, {}),
    "b158-twn": (BitLinear158, {"weight_quant": "twn"}),
    "b158-tanh-ste": (BitLinear158, {"ste": "tanh"}),
    "bitnet1-g1": (BitLinear1, {}),
    "bitnet1-g4": (BitLinear1, {"groups": 4}),
    "onebit": (OneBitLinear, {}),
}


def make_layer(variant, seed, k=48, n=20):
    cls, options = VARIANTS[variant]
    gen = torch.Generator().manual_seed(seed)
    layer = cls(k, n, init_std=0.5, generator=gen, **options)
    layer.name = f"test.{variant}"
    if isinstance(layer, OneBitLinear):
        with torch.no_grad():  # value vectors away from their all-ones start
            layer.g.copy_(torch.rand(k, generator=gen) + 0.5)
            layer.h.copy_(torch.rand(n, generator=gen) + 0.5)
    return layer


def inputs(seed, shape=(2, 5, 48)):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen) * 3


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("grad", [False, True], ids=["eval", "train"])
def test_integer_path_equals_fake_quant_exactly(variant, grad, seed):
    # Both paths multiply the same integer codes; float32 holds every partial sum exactly
    # (|acc| <= 128 * 48 < 2**24), so the outputs must be identical, not just close.
    layer = make_layer(variant, seed)
    x = inputs(seed + 1)
    with torch.set_grad_enabled(grad):
        fake = layer(x)
    layer.set_int_mode(True)
    with torch.no_grad():
        exact = layer(x)
    assert exact.shape == (2, 5, 20)
    assert torch.equal(fake.detach(), exact)


def test_b158_layer_is_the_reference_bitlinear(seed):
    layer = make_layer("b158-absmean", seed)
    x = inputs(seed + 1, shape=(7, 48))
    layer.set_int_mode(True)
    seen = []

    def recording(x_q, w_t):
        acc = int_matmul(x_q, w_t)
        seen.append(acc)
        return acc

    with torch.no_grad(), intpath.use_backend(recording):
        y = layer(x)
    ref = ref_bitlinear(x, layer.weight.detach())
    assert torch.equal(seen[0], ref.acc)
    assert torch.equal(y, ref.y)


@pytest.mark.parametrize("variant", ["b158-absmean", "b158-twn"])
def test_integer_path_matches_the_textbook_dequantized_forward(variant, seed):
    # The usual fake-quant formula F.linear(x_q / s_x, w_t / s_w) rounds twice per operand
    # and then sums K float products. Standard error analysis of a K-term float32 dot product
    # (Higham, Accuracy and Stability, eq. 3.5) bounds its error by gamma_K * sum |x_k w_k| with
    # gamma_K ~ K * 2**-24; the two extra operand roundings and the final division add three
    # more units. The exact integer path must lie within that bound of it, and does not
    # need to be closer.
    layer = make_layer(variant, seed)
    x = inputs(seed + 1, shape=(9, 48))
    iw = layer.int_weights()
    x_q, s_x = absmax_quantize(x)
    s_w = iw.s_w[:, None] if iw.s_w.dim() == 1 else iw.s_w
    x_dq, w_dq = x_q.float() / s_x, iw.w_t.float() / s_w
    textbook = F.linear(x_dq, w_dq)
    layer.set_int_mode(True)
    with torch.no_grad():
        exact = layer(x)
    k = x.shape[1]
    bound = (k + 3) * 2.0 ** -24 * (x_dq.abs() @ w_dq.abs().T)
    assert bool(((textbook - exact).abs() <= bound).all())


def test_group_quantization_by_hand(seed):
    # G = 4 groups of 12 input features: LayerNorm statistics, gamma, alpha and beta per group.
    layer = make_layer("bitnet1-g4", seed)
    x = inputs(seed + 1, shape=(6, 48))
    w = layer.weight.detach()
    expect = torch.zeros(6, 20)
    for g in range(4):
        cols = slice(12 * g, 12 * (g + 1))
        xg = F.layer_norm(x[:, cols], (12,), eps=1e-5)
        x_q, s_x = bitnet_act_quantize(xg)
        w_b, s_w = binary_sign(w[:, cols])
        expect = expect + int_matmul(x_q, w_b).float() / (s_w * s_x)
    iw = layer.int_weights()
    assert iw.groups == 4 and iw.s_w.shape == (4, 1)
    layer.set_int_mode(True)
    with torch.no_grad():
        assert torch.equal(layer(x), expect)
    # Per-group statistics really differ from per-tensor ones.
    whole = BitLinear1(48, 20)
    whole.load_int_weights(IntWeights(w_t=iw.w_t, s_w=iw.s_w[:1]))
    whole.set_int_mode(True)
    with torch.no_grad():
        assert not torch.allclose(whole(x), expect)


def test_onebit_layer_by_hand(seed):
    layer = make_layer("onebit", seed)
    x = inputs(seed + 1, shape=(6, 48))
    w_b = torch.where(layer.weight.detach() > 0, 1, -1).to(torch.int8)
    x_q, s_x = absmax_quantize(x * layer.g.detach())
    pre = int_matmul(x_q, w_b).float() / s_x * layer.h.detach()
    expect = F.layer_norm(pre, (20,), eps=1e-5)
    layer.set_int_mode(True)
    with torch.no_grad():
        assert torch.equal(layer(x), expect)


@pytest.mark.parametrize("variant", VARIANTS)
def test_backend_sees_int8_codes_once_per_group(variant, seed):
    layer = make_layer(variant, seed)
    layer.set_int_mode(True)
    calls = []

    def recording(x_q, w_t):
        calls.append((intpath.current_layer(), x_q, w_t))
        return int_matmul(x_q, w_t)

    x = inputs(seed + 1)
    with torch.no_grad(), intpath.use_backend(recording):
        layer(x)
        layer(x)
    groups = layer.groups
    assert len(calls) == 2 * groups
    assert intpath.current_layer() is None
    for i, (name, x_q, w_t) in enumerate(calls):
        assert name == f"test.{variant}"
        assert x_q.dtype == torch.int8 and x_q.shape == (10, 48 // groups)
        assert w_t.dtype == torch.int8 and w_t.shape == (20, 48 // groups)
        allowed = {-1, 1} if layer.binary else {-1, 0, 1}
        assert set(torch.unique(w_t).tolist()) <= allowed
        assert calls[i % groups][2] is w_t  # the same weight tensor object on every call


def test_backend_output_is_used(seed):
    layer = make_layer("b158-absmean", seed)
    layer.set_int_mode(True)
    x = inputs(seed + 1)
    with torch.no_grad():
        y = layer(x)
        with intpath.use_backend(lambda x_q, w_t: int_matmul(x_q, w_t) + 1):
            shifted = layer(x)
        assert not torch.equal(y, shifted)
        assert torch.equal(layer(x), y)  # the default is back after the with block


def test_independent_backend_gives_identical_outputs(seed):
    def numpy_matmul(x_q, w_t):  # a different implementation of the same integers
        return torch.from_numpy(x_q.numpy().astype(np.int64) @ w_t.numpy().astype(np.int64).T)

    for variant in VARIANTS:
        layer = make_layer(variant, seed)
        layer.set_int_mode(True)
        x = inputs(seed + 1)
        with torch.no_grad():
            y = layer(x)
            with intpath.use_backend(numpy_matmul):
                assert torch.equal(layer(x), y), variant


def test_use_backend_restores_after_an_exception():
    def broken(x_q, w_t):
        raise RuntimeError("simulated RTL failure")

    with pytest.raises(RuntimeError, match="simulated"), intpath.use_backend(broken):
        raise RuntimeError("simulated RTL failure")
    assert intpath.current_backend() is int_matmul


@pytest.mark.parametrize(("backend", "message"), [
    (lambda x_q, w_t: int_matmul(x_q, w_t).float(), "returned a torch.float32 tensor"),
    (lambda x_q, w_t: int_matmul(x_q, w_t)[:, :3], r"returned shape \(10, 3\), expected"),
    (lambda x_q, w_t: int_matmul(x_q, w_t).tolist(), "returned list, not a torch.Tensor"),
])
def test_bad_backend_output_names_the_layer(backend, message, seed):
    layer = make_layer("b158-absmean", seed)
    layer.set_int_mode(True)
    with pytest.raises(ValueError, match=f"for layer 'test.b158-absmean' {message}"), \
            intpath.use_backend(backend):
        layer(inputs(seed))


def test_straight_through_gradient_is_the_textbook_one(seed):
    # BitNet's STE: d y / d W = d y / d (w_t / s_w), so grad W = grad_y^T @ (x_q / s_x).
    layer = make_layer("b158-absmean", seed)
    x = inputs(seed + 1, shape=(8, 48)).requires_grad_(True)
    gy = inputs(seed + 2, shape=(8, 20))
    (layer(x) * gy).sum().backward()
    x_q, s_x = absmax_quantize(x.detach())
    iw = layer.int_weights()
    grad_w = gy.T @ (x_q.float() / s_x)
    grad_x = gy @ (iw.w_t.float() / iw.s_w)
    # Same products in another association order: float32 rounding only (a few ulps of the
    # largest term, far below 1e-4 relative).
    assert torch.allclose(layer.weight.grad, grad_w, rtol=1e-4, atol=1e-4)
    assert torch.allclose(x.grad, grad_x, rtol=1e-4, atol=1e-4)


def test_tanh_ste_damps_far_weights(seed):
    # The soft staircase is flat far from the rounding thresholds: weights at |w s_w| >= 3
    # get (almost) no gradient with ste="tanh" but the full one with the identity STE.
    results = {}
    for variant in ("b158-absmean", "b158-tanh-ste"):
        layer = make_layer(variant, seed)
        with torch.no_grad():
            layer.weight[0, 0] = 10 * layer.weight.abs().mean()
        x = inputs(seed + 1, shape=(8, 48))
        layer(x).sum().backward()
        results[variant] = layer.weight.grad[0, 0].abs().item()
    assert results["b158-absmean"] > 1e-3
    assert results["b158-tanh-ste"] < 1e-6 * results["b158-absmean"] + 1e-12


def test_onebit_sign_gradient_reaches_latent_and_value_vectors(seed):
    layer = make_layer("onebit", seed)
    layer(inputs(seed + 1)).square().sum().backward()
    for p in (layer.weight, layer.g, layer.h):
        assert p.grad is not None and bool(torch.isfinite(p.grad).all())
        assert p.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("int_mode", [False, True])
def test_non_finite_activations_name_the_layer(bad, int_mode, seed):
    layer = make_layer("b158-absmean", seed)
    layer.set_int_mode(int_mode)
    x = inputs(seed)
    x[1, 2, 3] = bad
    with pytest.raises(ValueError, match=rf"input of test.b158-absmean contains {bad} at index "
                                         r"\(1, 2, 3\)"):
        layer(x)


@pytest.mark.parametrize(("call", "message"), [
    (lambda layer: layer(torch.zeros(3, 47)), r"must end in 48 features, not shape \(3, 47\)"),
    (lambda layer: layer(torch.zeros(3, 48, dtype=torch.int8)), "must be a floating-point"),
    (lambda layer: layer.load_int_weights(IntWeights(w_t=torch.zeros(20, 47, dtype=torch.int8),
                                                     s_w=torch.tensor(1.0))),
     r"have shape \(20, 47\), expected \(N, K\) = \(20, 48\)"),
    (lambda layer: layer.load_int_weights(IntWeights(w_t=torch.full((20, 48), 2,
                                                                    dtype=torch.int8),
                                                     s_w=torch.tensor(1.0))),
     r"must be in \{-1, 0, \+1\}; found 2 at index \(0, 0\)"),
    (lambda layer: layer.load_int_weights(IntWeights(w_t=torch.zeros(20, 48, dtype=torch.int8),
                                                     s_w=torch.ones(3))),
     r"weight scale of test.b158-absmean has shape \(3,\), expected \(\)"),
    (lambda layer: layer.load_int_weights(IntWeights(w_t=torch.zeros(20, 48, dtype=torch.int8),
                                                     s_w=torch.tensor(-1.0))),
     "must be positive"),
])
def test_bad_input_names_the_problem(call, message, seed):
    with pytest.raises(ValueError, match=message):
        call(make_layer("b158-absmean", seed))


def test_binary_layers_refuse_zero_codes(seed):
    for variant in ("bitnet1-g1", "onebit"):
        layer = make_layer(variant, seed)
        iw = layer.int_weights()
        w_t = iw.w_t.clone()
        w_t[3, 5] = 0
        with pytest.raises(ValueError, match=r"must be in \{-1, \+1\}; found 0 at index \(3, 5\)"):
            layer.load_int_weights(IntWeights(w_t=w_t, groups=iw.groups, s_w=iw.s_w, g=iw.g,
                                              h=iw.h))


@pytest.mark.parametrize(("cls", "options", "message"), [
    (BitLinear158, {"weight_quant": "median"}, "weight_quant must be 'absmean' or 'twn'"),
    (BitLinear158, {"groups": 2}, "one weight group"),
    (BitLinear1, {"groups": 5}, "in_features=48 must be divisible by groups=5"),
    (OneBitLinear, {"groups": 2}, "one weight group"),
    (BitLinear1, {"groups": 0}, "groups must be a positive integer, not 0"),
])
def test_bad_layer_options(cls, options, message):
    with pytest.raises(ValueError, match=message):
        cls(48, 20, **options)
