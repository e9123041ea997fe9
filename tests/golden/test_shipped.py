# SPDX-License-Identifier: BSD-2-Clause
"""The committed checkpoints: they load in one call, run the integer path deterministically,
generate readable text about Python, and are the models of the perplexity table."""

import re

import numpy as np
import pytest
import torch

from golden import intpath
from golden.data import decode, encode, eval_windows, load_corpus
from golden.formats.native import SHIPPED, load_model, read_info

from .checkpoints import RESULTS, load_committed

FAMILY = {"tiny-b158": "b158", "tiny-bitnet1": "bitnet1", "tiny-onebit": "onebit"}

# Words a page of the Python reference uses; a model that learned the corpus says some of them.
TOPIC_WORDS = {"statement", "object", "objects", "function", "value", "values", "expression",
               "class", "method", "attribute", "argument", "arguments", "name", "names", "list",
               "type", "module", "exception", "sequence", "keyword", "variable", "integer",
               "string", "operator", "operand", "operands", "number", "numbers", "element",
               "items", "code", "called", "defined", "instance", "section", "returns"}


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


@pytest.fixture(scope="module")
def vocabulary(corpus):
    return set(re.findall(r"[a-z]+", decode(corpus.train.tolist()).lower()))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_in_one_call(name):
    model = load_committed(name, SHIPPED[name], max_bytes=5_000_000)
    assert model.config.family == FAMILY[name]
    assert len(model.bitlinears()) == 7 * model.config.n_layers


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_the_one_in_the_table(name, corpus):
    # The table row of this run shows the perplexity recorded in the checkpoint itself.
    info = read_info(name)
    row = next(line for line in RESULTS.read_text().splitlines()
               if line.startswith(f"| {name} |"))
    assert f"| {info['final_fake_quant']['ppl']:.3f} |" in row
    # And the checkpoint still measures it: the first windows of the validation text, through
    # the integer path and through fake quantization, identically.
    model = load_model(name)
    x, y = eval_windows(corpus.val[:4 * 256 + 1], seq_len=256)
    # One thread: the float path's sums in one fixed order (seen to differ once under a
    # loaded machine with two threads, a rounding tie flipping a quantized activation).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            exact = model(x)
            model.set_int_mode(False)
            fake = model(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(exact, fake)
    loss = torch.nn.functional.cross_entropy(exact.flatten(0, 1), y.flatten())
    # A unigram byte model of English text needs about 4.5 bits per byte (ppl ~ 22).
    assert float(loss.exp()) < 10


def _words(text):
    return re.findall(r"[a-z]+", text.lower())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_writes_readable_python_prose(name, vocabulary):
    model = load_model(name)
    prompt = "The for statement"
    # Sampled text (temperature 0.7, a fixed seed): greedy decoding of a small model loops on
    # its likeliest phrase, which is spelled right but says little; it is checked for spelling.
    text = decode(model.generate(encode(prompt), max_new_tokens=300, temperature=0.7, seed=0))
    greedy = decode(model.generate(encode(prompt), max_new_tokens=100))
    for sample in (text, greedy):
        printable = sum(c.isprintable() or c in "\n\t" for c in sample) / len(sample)
        words = [w for w in _words(sample) if len(w) > 1]
        known = sum(w in vocabulary for w in words) / max(len(words), 1)
        assert printable > 0.98, sample
        assert known > 0.75, sample                   # words of the corpus, spelled right
    words = [w for w in _words(text) if len(w) > 1]
    assert len(set(words)) >= 20, text                # prose, not one phrase repeated
    assert len(TOPIC_WORDS & set(words)) >= 2, text   # about the topic


def numpy_matmul(x_q, w_t):
    return torch.from_numpy(x_q.numpy().astype(np.int64) @ w_t.numpy().astype(np.int64).T)


def test_shipped_generation_is_deterministic_across_backends():
    model = load_model("tiny-b158")
    prompt = encode("Exceptions are")
    runs = [model.generate(prompt, max_new_tokens=24, temperature=0.8, seed=11) for _ in range(2)]
    with intpath.use_backend(numpy_matmul):
        runs.append(model.generate(prompt, max_new_tokens=24, temperature=0.8, seed=11))
    assert runs[0] == runs[1] == runs[2]
    assert intpath.current_backend() is not numpy_matmul


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_models_have_the_tiny_shape_of_the_contract(name):
    """golden.contract.workloads.TINY is the shape the shipped checkpoints really have."""
    from golden.contract.workloads import TINY

    model = load_model(name)
    shapes = {n.rsplit(".", 1)[-1]: (layer.out_features, layer.in_features)
              for n, layer in model.bitlinears().items() if n.startswith("layers.0.")}
    assert shapes == {s.name: (s.n, s.k) for s in TINY.bitlinears()}
    assert model.config.n_layers == TINY.layers

