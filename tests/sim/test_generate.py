# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end generation with every BitLinear on the accelerator RTL: the tokens must equal
golden's, for each shipped model family."""

import json

import pytest
import torch

from golden.bitlinear import int_matmul
from golden.formats import SHIPPED, load_model
from golden.intpath import use_backend
from sim.generate import main


def _products_per_forward(name: str) -> int:
    """Integer products of one forward pass of model ``name`` (a grouped 1-bit BitLinear
    makes one per group)."""
    calls = []

    def count(x_q, w_t):
        calls.append(1)
        return int_matmul(x_q, w_t)

    model = load_model(name)
    with use_backend(count), torch.no_grad():
        model(torch.tensor([[65]]))
    return len(calls)


@pytest.mark.cosim
def test_shipped_models_generate_the_same_tokens_on_verilator(tmp_path):
    # One test (one xdist worker) for all families: they share the Verilator build.
    for name in SHIPPED:
        out = tmp_path / f"{name}.json"
        rc = main(["--model", name, "--prompt", "The ", "--tokens", "3", "--simulator",
                   "verilator", "--rows", "8", "--cols", "8", "--out", str(out)])
        result = json.loads(out.read_text())
        assert rc == 0 and result["tokens_equal"], (name, result)
        assert len(result["rtl_tokens"]) == len(result["golden_tokens"]) == 3
        # Prefill, then one forward pass per new token (the last token is not fed back).
        assert result["bitlinear_calls"] == 3 * _products_per_forward(name)


def test_generate_refuses_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--tokens", "0", "--simulator", "functional"])
    assert "--tokens must be positive, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "no-such-model", "--simulator", "functional"])
    assert "no-such-model" in capsys.readouterr().err
