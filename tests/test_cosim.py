# SPDX-License-Identifier: BSD-2-Clause
"""The `make sim` entry point: layers on the accelerator RTL, checked, reported."""

import json

import numpy as np
import pytest

from firmware.tiling import check_layer, tile_acts, tile_weights
from golden.config import AcceleratorConfig
from sim.__main__ import main

SMALL = ["--rows", "4", "--cols", "4", "--weight-depth", "16384", "--act-depth", "2048",
         "--acc-depth", "256"]


@pytest.mark.cosim
def test_2b4t_layers_on_verilator_are_bit_exact(tmp_path, capsys):
    out = tmp_path / "cosim.json"
    rc = main(["--model", "none", "--simulator", "verilator", "--m", "2", "--n-slice", "8",
               *SMALL, "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["all_bit_exact"] is True
    layers = report["layers"]
    assert [la["name"] for la in layers] == [f"2b4t.{n}" for n in (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")]
    for la in layers:
        assert set(la) >= {"name", "m", "k", "n", "cycles", "bit_exact", "utilization"}
        assert la["bit_exact"] and la["max_abs_diff"] == 0.0
        assert la["n"] == 8 and la["k"] in (2560, 6912) and la["m"] == 2
        # M = 2 < rows: bound by the weight memory, M * cols MACs per cycle at best.
        assert 0 < la["utilization"] <= 2 * 4 / 16
    assert "down_proj" in capsys.readouterr().out


def test_cosim_refuses_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--m", "0"])
    assert "--m must be positive, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--rows", "0"])
    assert "rows must be between 1 and 1024, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "none", "--no-2b4t"])
    assert "nothing to run" in capsys.readouterr().err


def test_tile_layout_round_trip(rng):
    """Tiles cover every weight exactly once: summing tile products gives the layer's."""
    cfg = AcceleratorConfig(rows=3, cols=4)
    x = rng.integers(-128, 128, size=(2, 7)).astype(np.int8)
    w = rng.integers(-1, 2, size=(9, 7)).astype(np.int8)
    check_layer(cfg, x, w)
    weights, acts = tile_weights(cfg, w), tile_acts(cfg, x)
    out = np.zeros((2, weights.shape[0] * cfg.cols), np.int64)
    for nt in range(weights.shape[0]):
        for kt in range(weights.shape[1]):
            out[:, nt * cfg.cols:(nt + 1) * cfg.cols] += (
                acts[:, kt].astype(np.int64) @ weights[nt, kt].astype(np.int64))
    np.testing.assert_array_equal(out[:, :9], x.astype(np.int64) @ w.T.astype(np.int64))


def test_layer_checks_name_the_problem():
    cfg = AcceleratorConfig(rows=4, cols=4, max_k=16, acc_bits=20)
    with pytest.raises(ValueError,
                       match=r"activations are \(M=2, K=3\) but weights are \(N=4, K=5\)"):
        check_layer(cfg, np.zeros((2, 3), np.int8), np.zeros((4, 5), np.int8))
    with pytest.raises(ValueError, match="K=20 exceeds max_k=16"):
        check_layer(cfg, np.zeros((2, 20), np.int8), np.zeros((4, 20), np.int8))


@pytest.mark.cosim
def test_model_layers_on_verilator_are_bit_exact(tmp_path):
    # Every BitLinear of the shipped model over a short prompt, on a small array.
    out = tmp_path / "cosim.json"
    rc = main(["--model", "tiny-b158", "--prompt", "def f", "--no-2b4t", "--simulator",
               "verilator", *SMALL, "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    layers = report["layers"]
    assert len(layers) == 28 and report["all_bit_exact"] is True
    assert all(la["bit_exact"] and la["m"] == 5 for la in layers)
    # K and N are multiples of the 4x4 array, so every MAC issued is a real one: the counters'
    # zero-weight fraction is the fraction of zeros in the layer's trained weights.
    import golden
    weights = {name: layer.int_weights().w_t
               for name, layer in golden.load_model("tiny-b158").bitlinears().items()}
    for la in layers:
        zeros = float((weights[la["name"]] == 0).double().mean())
        assert la["zero_weight_fraction"] == pytest.approx(zeros, abs=1e-12), la["name"]
