# SPDX-License-Identifier: BSD-2-Clause
"""Small helpers shared by several test modules (fixtures are in conftest.py)."""

import numpy as np
import torch
from amaranth.sim import Simulator

from golden.bitlinear import int_matmul
from golden.contract.config import AcceleratorConfig

__all__ = ["multipass_config", "random_layer", "ref_acc", "simulate", "small_config"]


def small_config(**kw) -> AcceleratorConfig:
    """A small accelerator that simulates quickly (fields in ``kw`` override)."""
    base = {"rows": 2, "cols": 3, "weight_depth": 256, "act_depth": 128, "acc_depth": 64,
            "max_k": 1024, "acc_bits": 20}
    return AcceleratorConfig(**{**base, **kw})


def multipass_config(**kw) -> AcceleratorConfig:
    """Memories small enough that real layers need several passes (fields in ``kw``
    override)."""
    base = {"rows": 2, "cols": 3, "weight_depth": 24, "act_depth": 12, "acc_depth": 8,
            "max_k": 256, "acc_bits": 18}
    return AcceleratorConfig(**{**base, **kw})


def random_layer(rng, m, k, n, *, binary=False):
    """Random int8 activations (m, k) and ternary (or binary) weights (n, k)."""
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    w = (rng.choice(np.array([-1, 1], np.int8), size=(n, k)) if binary
         else rng.integers(-1, 2, size=(n, k)).astype(np.int8))
    return x, w


def ref_acc(x, w):
    """Golden's exact integer product of numpy activations and weights."""
    return int_matmul(torch.from_numpy(x), torch.from_numpy(w)).numpy()


def simulate(top, *benches, vcd=None):
    """Run amaranth.sim testbenches against ``top`` with a 100 MHz clock (and a VCD dump at
    the path ``vcd``, if given)."""
    sim = Simulator(top)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(str(vcd)):
            sim.run()
    else:
        sim.run()
