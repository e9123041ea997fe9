# SPDX-License-Identifier: BSD-2-Clause
"""firmware.tiling: the tile layout of a layer, and the checks that it fits a configuration."""

import numpy as np
import pytest

from firmware.tiling import check_layer, tile_acts, tile_weights
from golden.contract.config import AcceleratorConfig


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
