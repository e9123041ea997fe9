# SPDX-License-Identifier: BSD-2-Clause
"""The `make sim` entry point: a BitLinear layer co-simulated on the RTL, report and all."""

import json

import numpy as np
import pytest

from firmware.tiling import plan_tiles, tile_acts, tile_weights
from golden.config import AcceleratorConfig
from sim.__main__ import main

pytestmark = pytest.mark.cosim


def test_cosim_reports_every_layer_bit_exact(tmp_path, capsys):
    out = tmp_path / "cosim.json"
    # K = 21 and N = 10 are not multiples of the 4x4 array: the edges are padded.
    rc = main(["--simulator", "verilator", "--rows", "4", "--cols", "4",
               "--layer", "3x21x10", "--layer", "5x8x4", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["all_bit_exact"] is True
    assert [(la["name"], la["m"], la["k"], la["n"]) for la in report["layers"]] == [
        ("bitlinear_21x10", 3, 21, 10), ("bitlinear_8x4", 5, 8, 4)]
    for layer in report["layers"]:
        assert layer["bit_exact"] is True and layer["max_abs_diff"] == 0.0
        # At least one cycle per activation vector of every tile went through the array.
        tiles = -(-layer["k"] // 4) * -(-layer["n"] // 4)
        assert layer["cycles"] >= tiles * layer["m"]
    assert "bitlinear_21x10" in capsys.readouterr().out


def test_cosim_refuses_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--layer", "3x0x4"])
    assert "layer dimensions must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--rows", "0"])
    assert "rows must be between 1 and 1024, not 0" in capsys.readouterr().err


def test_tiling_round_trip(rng):
    """Tiles cover every weight exactly once and gather puts sums back where they belong."""
    cfg = AcceleratorConfig(rows=3, cols=4)
    x = rng.integers(-128, 128, size=(2, 7)).astype(np.int8)
    w = rng.integers(-1, 2, size=(9, 7)).astype(np.int8)
    plan = plan_tiles(cfg, x, w)
    weights, acts = tile_weights(cfg, w), tile_acts(cfg, x)
    results = np.concatenate([acts[:, kt].astype(np.int64) @ weights[nt, kt].astype(np.int64)
                              for nt, kt in plan.tiles()])
    np.testing.assert_array_equal(plan.gather(results), x.astype(np.int64) @ w.T.astype(np.int64))


def test_tiling_refuses_bad_shapes():
    cfg = AcceleratorConfig(rows=4, cols=4, max_k=16, acc_bits=20)
    with pytest.raises(ValueError,
                       match=r"activations are \(M=2, K=3\) but weights are \(N=4, K=5\)"):
        plan_tiles(cfg, np.zeros((2, 3), np.int8), np.zeros((4, 5), np.int8))
    with pytest.raises(ValueError, match="K=20 exceeds max_k=16"):
        plan_tiles(cfg, np.zeros((2, 20), np.int8), np.zeros((4, 20), np.int8))
