# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""sim.backends and sim.simulators: every backend gives the same integers through the same
runtime, programs longer than the harness run in parts, hangs and missing tools are named."""

import numpy as np
import pytest

from firmware import commands
from firmware.compiler import compile_layer
from firmware.runtime import Runtime
from sim.backends import BenchTimeout, make_backend
from sim.simulators import SimulatorNotFound, check_simulator
from tests.helpers import multipass_config, random_layer, ref_acc


def test_truncated_stream_times_out_on_the_rtl():
    """The hardware waits for the rest of the command; the bench gives up instead of
    hanging."""
    cfg = multipass_config()
    backend = make_backend("amaranth", cfg, max_cycles=500)
    words = commands.load_acts(cfg, 0, [1, 2, 3])[:-1] + commands.read_status()
    with pytest.raises(BenchTimeout, match="did not finish within 500 cycles"):
        backend.execute(words, 5)


def test_missing_simulator_is_named(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SimulatorNotFound, match="apt-get install -y iverilog"):
        check_simulator("icarus")
    with pytest.raises(ValueError, match="unknown simulator 'modelsim'"):
        check_simulator("modelsim")


@pytest.mark.cosim
@pytest.mark.parametrize("backend_name", ["functional", "amaranth", "icarus", "verilator"])
def test_backends_give_identical_results(backend_name, rng, tmp_path):
    """The same products on every backend, through the same runtime: identical integers."""
    cfg = multipass_config(weight_format="1.6bit", weight_depth=48)
    options = {"work_dir": tmp_path, "p_idle": 0.2, "p_stall": 0.2} \
        if backend_name in ("icarus", "verilator") else {}
    layers = [random_layer(rng, 3, 7, 5), random_layer(rng, 4, 30, 10), random_layer(rng, 1, 7, 5)]
    with make_backend(backend_name, cfg, **options) as backend:
        runtime = Runtime(backend, measure=True)
        for x, w in layers:
            np.testing.assert_array_equal(runtime.matmul(x, w), ref_acc(x, w))
        runtime.matmul(*layers[0])          # again: resident weights where persistent
    assert [s.macs for s in runtime.stats][:3] == [
        x.shape[0] * cfg.k_tiles(w.shape[1]) * cfg.n_tiles(w.shape[0]) * 6 for x, w in layers]


@pytest.mark.cosim
def test_programs_longer_than_the_harness_run_in_parts(rng, tmp_path):
    """A multi-pass program of 14240 words, on a harness that holds 8192: split between
    commands into two runs of one simulator session, with the same result."""
    cfg = multipass_config(weight_format="1.6bit", weight_depth=48)
    x, w = random_layer(rng, 40, 64, 48)
    program = compile_layer(cfg, x, w)
    with make_backend("verilator", cfg, work_dir=tmp_path) as backend:
        assert len(program.words) > backend.depth["SRC_DEPTH"]
        np.testing.assert_array_equal(program.decode(backend.run(program)), ref_acc(x, w))
        assert backend._calls == 2
