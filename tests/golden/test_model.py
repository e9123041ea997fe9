# SPDX-License-Identifier: BSD-2-Clause
"""The shared decoder: integer mode against fake quantization for every family, the KV cache,
deterministic generation (contract B), BitLinear enumeration (contract A), and training."""

import dataclasses

import numpy as np
import pytest
import torch

from golden import intpath
from golden.bitlinear import int_matmul
from golden.data import load_corpus, random_batch
from golden.model import Decoder, KVCache, ModelConfig
from golden.train import TrainConfig, evaluate, init_onebit_from_teacher, lr_at, train

TINY = {"vocab_size": 256, "dim": 32, "n_layers": 2, "n_heads": 4, "ffn_dim": 64,
        "max_seq_len": 32, "init_std": 0.1}

CONFIGS = {
    "b158": {"family": "b158"},
    "b158-twn": {"family": "b158", "weight_quant": "twn"},
    "b158-2b4t": {"family": "b158", "subln": True, "act": "relu2", "n_kv_heads": 2},
    "bitnet1-g2": {"family": "bitnet1", "groups": 2},
    "onebit": {"family": "onebit"},
}


def tiny(name="b158", seed=0, **extra):
    return Decoder(ModelConfig(**{**TINY, **CONFIGS.get(name, {"family": name}), **extra}),
                   seed=seed)


def tokens(seed, shape=(2, 12)):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=gen)


def numpy_matmul(x_q, w_t):
    """An independent integer product: the same integers from another implementation."""
    return torch.from_numpy(x_q.numpy().astype(np.int64) @ w_t.numpy().astype(np.int64).T)


@pytest.mark.parametrize("name", CONFIGS)
def test_int_mode_logits_equal_fake_quant_logits(name, seed):
    model = tiny(name, seed=seed % 1000).eval()
    t = tokens(seed)
    with torch.no_grad():
        fake = model(t)
        model.set_int_mode(True)
        exact = model(t)
    assert model.int_mode
    assert torch.equal(fake, exact)


def test_bitlinears_have_stable_names_and_shapes():
    model = tiny("b158-2b4t")
    layers = model.bitlinears()
    expect = []
    for i in range(2):
        expect += [(f"layers.{i}.attn.q_proj", (32, 32)), (f"layers.{i}.attn.k_proj", (16, 32)),
                   (f"layers.{i}.attn.v_proj", (16, 32)), (f"layers.{i}.attn.o_proj", (32, 32)),
                   (f"layers.{i}.mlp.gate_proj", (64, 32)), (f"layers.{i}.mlp.up_proj", (64, 32)),
                   (f"layers.{i}.mlp.down_proj", (32, 64))]
    assert [(n, layer.int_weights().shape) for n, layer in layers.items()] == expect
    assert all(layer.name == n for n, layer in layers.items())
    assert tiny("float").bitlinears() == {}


def test_every_bitlinear_goes_through_the_backend(seed):
    model = tiny("bitnet1-g2").eval().set_int_mode(True)
    names = []

    def recording(x_q, w_t):
        names.append(intpath.current_layer())
        return int_matmul(x_q, w_t)

    with torch.no_grad(), intpath.use_backend(recording):
        model(tokens(seed))
    assert names == [n for n in model.bitlinears() for _ in range(2)]  # two groups each


def test_kv_cache_continues_the_full_forward(seed):
    model = tiny("b158").eval().set_int_mode(True)
    t = tokens(seed, shape=(1, 10))
    with torch.no_grad():
        full = model(t)
        cache = KVCache(2)
        parts = [model(t[:, :6], cache=cache)] + [model(t[:, i:i + 1], cache=cache)
                                                  for i in range(6, 10)]
    # Integer products are per token and exact; only the float attention and norms see other
    # matrix shapes (rows 1 and T), so a few float32 ulps of the logits (~10) are expected.
    assert len(cache) == 10
    assert torch.allclose(torch.cat(parts, dim=1), full, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["b158", "bitnet1-g2", "onebit"])
def test_integer_generation_is_deterministic(name, seed):
    model = tiny(name, seed=seed % 1000).eval().set_int_mode(True)
    prompt = [72, 101, 108, 108, 111]
    for temperature in (0.0, 0.9):
        first = model.generate(prompt, max_new_tokens=40, temperature=temperature, seed=5)
        again = model.generate(prompt, max_new_tokens=40, temperature=temperature, seed=5)
        with intpath.use_backend(numpy_matmul):
            swapped = model.generate(prompt, max_new_tokens=40, temperature=temperature, seed=5)
        assert len(first) == 40 and first == again == swapped


def test_sampling_depends_on_the_seed(seed):
    model = tiny("b158", init_std=0.02).eval().set_int_mode(True)  # a near-uniform model
    runs = {tuple(model.generate([1, 2], max_new_tokens=20, temperature=1.0, seed=s))
            for s in range(3)}
    assert len(runs) == 3


def test_generation_past_the_context_rebuilds_the_cache(seed):
    model = tiny("b158").eval().set_int_mode(True)
    out = model.generate(list(range(30)), max_new_tokens=50, seed=seed)
    assert len(out) == 50 and all(0 <= t < 256 for t in out)


def test_greedy_generation_follows_the_argmax(seed):
    model = tiny("b158").eval().set_int_mode(True)
    prompt = [5, 6, 7]
    out = model.generate(prompt, max_new_tokens=3)
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(3):
            seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    assert out == seq[3:]


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.generate([], max_new_tokens=3), "the prompt is empty"),
    (lambda m: m.generate([300], max_new_tokens=3),
     r"token 300 at index \(0, 0\) is outside the vocabulary \[0, 256\)"),
    (lambda m: m.generate([1], max_new_tokens=-1), "max_new_tokens must be a non-negative"),
    (lambda m: m.generate([1], max_new_tokens=2, temperature=-1.0), "temperature must be"),
    (lambda m: m.generate([1], max_new_tokens=2, temperature=1.0, top_k=0), "top_k must be"),
    (lambda m: m(torch.zeros(2, 0, dtype=torch.long)), r"shape \(batch, length >= 1\)"),
    (lambda m: m(torch.zeros(2, 3)), "tokens must be an integer tensor"),
])
def test_bad_model_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny("b158").eval())


def test_nan_inside_the_model_names_the_layer():
    model = tiny("b158").eval()
    with torch.no_grad():
        model.layers[0].attn_norm.weight[3] = float("nan")
    with pytest.raises(ValueError, match=r"input of layers.0.attn.q_proj contains nan at index "
                                         r"\(0, 0, 3\)"):
        model(tokens(0, shape=(1, 4)))


@pytest.mark.parametrize(("options", "message"), [
    ({"family": "ternary"}, "unknown family 'ternary'"),
    ({"dim": 30}, "dim=30 must split into n_heads=4 heads of even size"),
    ({"n_kv_heads": 3}, "n_heads=4 must be a multiple of n_kv_heads=3"),
    ({"groups": 2}, "groups=2 applies to the bitnet1 family only"),
    ({"family": "bitnet1", "groups": 3}, "dim=32 must be divisible by groups=3"),
    ({"act": "gelu"}, "act must be 'silu' or 'relu2'"),
    ({"n_layers": 0}, "n_layers must be a positive integer, not 0"),
])
def test_bad_model_config(options, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**TINY, **options})


def test_float_family_has_no_integer_path():
    with pytest.raises(ValueError, match="the float family has no integer path"):
        tiny("float").set_int_mode(True)


def test_lr_schedules_by_hand():
    tc = TrainConfig(steps=110, warmup=10, lr=1.0, min_lr=0.0, schedule="twostage",
                     weight_decay=0.1)
    assert lr_at(0, tc) == (0.1, 0.1)                              # warmup 1/10
    assert lr_at(10, tc) == (1.0, 0.1)                             # peak
    assert lr_at(35, tc) == (pytest.approx(0.8), 0.1)              # halfway down to 0.6
    assert lr_at(60, tc) == (pytest.approx(0.3), 0.0)              # the drop; no decay
    assert lr_at(109, tc)[0] == pytest.approx(0.0, abs=1e-3)       # cosine to min_lr
    cos = dataclasses.replace(tc, schedule="cosine")
    assert lr_at(60, cos) == (pytest.approx(0.5), 0.1)


def _short_run(family, steps, corpus, teacher=None, **extra):
    cfg = ModelConfig(**{**TINY, "family": family, "init_std": 0.02, **extra})
    tc = TrainConfig(steps=steps, batch_size=4, seq_len=32, lr=3e-3, warmup=2, eval_every=0,
                     seed=3, threads=1)
    return cfg, tc, train(cfg, tc, corpus=corpus, teacher=teacher, progress=False)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


@pytest.mark.parametrize("family", ["float", "b158", "bitnet1", "onebit"])
def test_short_training_lowers_the_loss(family, corpus):
    cfg, tc, result = _short_run(family, 30, corpus)
    batch = random_batch(corpus.val, batch_size=8, seq_len=32,
                         generator=torch.Generator().manual_seed(0))
    untrained = Decoder(cfg, seed=tc.seed).eval()
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(untrained(batch[0]).flatten(0, 1),
                                                   batch[1].flatten())
        after = torch.nn.functional.cross_entropy(result.model(batch[0]).flatten(0, 1),
                                                  batch[1].flatten())
    # ln(256) = 5.5 nats for a uniform guess; 30 steps learn at least the byte frequencies.
    assert float(before) > 5.0
    assert float(after) < float(before) - 1.0
    assert result.final["ppl"] < 60


def test_training_is_reproducible_from_the_seed(corpus):
    _, _, a = _short_run("b158", 4, corpus)
    _, _, b = _short_run("b158", 4, corpus)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(),
                                                 strict=True))


def test_onebit_distillation_from_a_float_teacher(corpus):
    _, _, teacher = _short_run("float", 30, corpus)
    student = Decoder(ModelConfig(**{**TINY, "family": "onebit"}))
    init_onebit_from_teacher(student, teacher.model, method="svd")
    # SVID: every layer's h sign(W) g is the best rank-1 magnitude fit of the teacher weight.
    for name, layer in student.bitlinears().items():
        w = teacher.model.linears()[name].weight.detach()
        assert torch.equal(layer.int_weights().w_t, torch.where(w > 0, 1, -1).to(torch.int8))
        s = torch.linalg.svdvals(w.abs().double())
        approx = layer.h.detach()[:, None] * torch.sign(w) * layer.g.detach()[None, :]
        assert float((w - approx).double().norm()) == pytest.approx(
            float(s[1:].square().sum().sqrt()), rel=1e-4)
    _, _, distilled = _short_run("onebit", 20, corpus, teacher=teacher.model)
    first, last = distilled.history[0]["loss"], distilled.history[-1]["loss"]
    assert last < first
    assert evaluate(distilled.model, corpus.val[:2000], seq_len=32)["ppl"] < 60


def test_svid_needs_matching_families():
    with pytest.raises(ValueError, match="SVID initializes a onebit student from a float"):
        init_onebit_from_teacher(tiny("b158"), tiny("float"))
