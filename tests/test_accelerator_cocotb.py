# SPDX-License-Identifier: BSD-2-Clause
"""The generated accelerator Verilog under cocotb (Icarus and Verilator), whole layers.

Each run streams the program through sim/hdl/accel_harness.v with random idle cycles on the
command stream and random backpressure on the response stream, checks the accumulators against
golden and the MATMUL's COMPUTE counter against the analytical cycle model.
"""

import numpy as np
import pytest
import torch

from firmware.compiler import compile_layer
from firmware.cycle_model import matmul_cycles
from golden.bitlinear import int_matmul
from golden.config import AcceleratorConfig
from golden.isa import Counter
from sim.accel_cocotb import Program, rtl_accel_cocotb

pytestmark = pytest.mark.cosim

# (simulator, rows, cols, weight format, layer M x K x N): every shape on Verilator, the small
# ones on Icarus too (Icarus runs a 16x16 array at a few hundred cycles per second).
CASES = [
    ("icarus", 2, 2, "2bit", (3, 9, 5)),
    ("icarus", 4, 8, "1.6bit", (2, 13, 19)),
    ("verilator", 2, 2, "1.6bit", (4, 7, 3)),
    ("verilator", 4, 8, "2bit", (5, 21, 17)),
    ("verilator", 8, 8, "1.6bit", (3, 30, 20)),
    ("verilator", 16, 16, "2bit", (20, 40, 35)),
]


@pytest.mark.parametrize(("simulator", "rows", "cols", "weight_format", "shape"), CASES,
                         ids=[f"{c[0]}-{c[1]}x{c[2]}-{c[3]}" for c in CASES])
def test_accelerator_verilog_is_bit_exact(simulator, rows, cols, weight_format, shape, rng,
                                          seed, waves, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_format=weight_format,
                            weight_depth=512, act_depth=256, acc_depth=128, max_k=4096,
                            acc_bits=24)
    m, k, n = shape
    layers = []
    for _ in range(2):      # two programs in one simulator process, on the same memories
        x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
        w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
        layers.append((x, w, compile_layer(cfg, x, w, measure=True)))
    runs = rtl_accel_cocotb(cfg, [Program(p.words, p.response_words) for *_, p in layers],
                            simulator=simulator, test_dir=tmp_path, p_idle=0.25, p_stall=0.35,
                            seed=seed, waves=waves)
    for (x, w, prog), run in zip(layers, runs, strict=True):
        expect = int_matmul(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        np.testing.assert_array_equal(prog.decode(run.response), expect)
        counters = prog.counters(run.response)
        assert counters[Counter.COMPUTE] == matmul_cycles(cfg, m=m, k=k, n=n).cycles
        assert counters[Counter.MACS] == m * cfg.k_tiles(k) * cfg.n_tiles(n) * rows * cols
