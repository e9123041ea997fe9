# SPDX-License-Identifier: BSD-2-Clause
"""The generated Verilog of the array under cocotb, on Icarus and Verilator."""

import numpy as np
import pytest

from golden.config import AcceleratorConfig
from sim.cocotb_bench import rtl_array_cocotb
from sim.scenario import random_scenario

pytestmark = pytest.mark.cosim


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (3, 5)])
def test_array_verilog_is_bit_exact(simulator, rows, cols, rng, seed, waves, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    sc = random_scenario(cfg, rng, n_tiles=8)
    run = rtl_array_cocotb(sc, simulator=simulator, test_dir=tmp_path, p_idle=0.3, p_stall=0.4,
                           seed=seed, waves=waves)
    np.testing.assert_array_equal(run.results, sc.expected())
