# SPDX-License-Identifier: BSD-2-Clause
"""reports.energy.workload: op counts from the firmware's programs and the tile loop, zero-weight
MACs against the counters, weights placed like the runtime's."""

import re

import numpy as np
import pytest

from firmware.compiler import compile_layer
from firmware.runtime import FunctionalBackend, Runtime
from golden.contract.config import AcceleratorConfig
from reports.energy.workload import place_weights, program_work, shape_work


def test_program_counts_match_the_dataflow(rng):
    cfg = AcceleratorConfig(rows=4, cols=4)
    m, k, n = 3, 10, 7
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    work = program_work(compile_layer(cfg, x, w), name="l", k=k,
                        nonzero_weights=int((w != 0).sum()))
    kt, nt = 3, 2                        # ceil(10/4), ceil(7/4)
    assert work.array_vectors == m * kt * nt
    assert work.weight_reads == kt * nt * 16 == work.weight_loads
    assert work.act_reads == m * kt * nt * 4
    assert work.acc_writes == m * kt * nt * 4
    assert work.acc_reads == m * (kt - 1) * nt * 4
    assert work.acc_drains == m * nt * 4
    assert work.zero_macs == m * kt * nt * 16 - m * int((w != 0).sum())


def test_zero_macs_agree_with_the_counters(rng):
    cfg = AcceleratorConfig(rows=4, cols=4)
    w = rng.integers(-1, 2, size=(9, 13)).astype(np.int8)
    x = rng.integers(-128, 128, size=(5, 13)).astype(np.int8)
    runtime = Runtime(FunctionalBackend(cfg), measure=True)
    runtime.matmul(x, w)
    stats = runtime.stats[-1]
    work = program_work(compile_layer(cfg, x, w), name="l", k=13,
                        nonzero_weights=int((w != 0).sum()))
    assert work.zero_macs == stats.zero_macs
    assert work.array_macs == stats.macs


def test_bad_shape():
    with pytest.raises(ValueError, match=re.escape("-3")):
        shape_work(AcceleratorConfig(), name="l", m=1, k=-3, n=4, zero_fraction=0)
    with pytest.raises(ValueError, match=re.escape("1.5")):
        shape_work(AcceleratorConfig(), name="l", m=1, k=3, n=4, zero_fraction=1.5)


def test_weights_placed_like_the_runtime():
    # 1 Mbit weight memory: 256 x 256 ternary weights are 128 Kbit, 768 x 256 are 384 Kbit
    cfg = AcceleratorConfig()
    works = [shape_work(cfg, name=f"l{i}", m=1, k=256, n=n, zero_fraction=0.0)
             for i, n in enumerate((768, 768, 256, 768, 256))]
    assert place_weights(cfg, works, 2) == [True, True, True, False, True]
    # FP16: 3 Mbit, 3 Mbit, 1 Mbit (exactly the memory), ...
    assert place_weights(cfg, works, 16) == [False, False, True, False, False]
