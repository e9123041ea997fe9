# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""sim.backends, sim.native and sim.simulators: every backend gives the same integers through
the same runtime, the native Verilator harness is bit-exact against the functional model under
random stalls and runs programs of any length in one request, the cocotb harness runs long ones
in parts, reset clears flags and counters but keeps the memories, hangs and missing tools and
bad options are named."""

import numpy as np
import pytest

from firmware import commands
from firmware.compiler import compile_layer
from firmware.runtime import FunctionalBackend, Runtime
from golden.contract.isa import Counter, ErrorFlag, parse_counters, parse_response_header
from sim.backends import SIMULATOR_BACKENDS, BenchTimeout, VerilatorBackend, make_backend
from sim.native import errors_width
from sim.simulators import SimulatorNotFound, check_simulator
from tests.helpers import multipass_config, random_layer, ref_acc


def test_truncated_stream_times_out_on_the_rtl():
    """The hardware waits for the rest of the command; the bench gives up instead of
    hanging."""
    cfg = multipass_config()
    backend = make_backend("amaranth", cfg, max_cycles=500)
    words = commands.load_acts(cfg, 0, [1, 2, 3])[:-1]         # no CRC word: it waits
    with pytest.raises(BenchTimeout, match="did not finish within 500 cycles"):
        backend.execute(words, 0)


def test_missing_simulator_is_named(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SimulatorNotFound, match="apt-get install -y iverilog"):
        check_simulator("icarus")
    with pytest.raises(ValueError, match="unknown simulator 'modelsim'"):
        check_simulator("modelsim")


@pytest.mark.cosim
@pytest.mark.parametrize("backend_name", ["functional", "amaranth", "icarus", "cocotb-verilator",
                                          "verilator"])
def test_backends_give_identical_results(backend_name, rng, tmp_path):
    """The same products on every backend, through the same runtime: identical integers."""
    cfg = multipass_config(weight_format="1.6bit", weight_depth=48)
    options = {"work_dir": tmp_path, "p_idle": 0.2, "p_stall": 0.2} \
        if backend_name in SIMULATOR_BACKENDS else {}
    layers = [random_layer(rng, 3, 7, 5), random_layer(rng, 4, 30, 10), random_layer(rng, 1, 7, 5)]
    with make_backend(backend_name, cfg, **options) as backend:
        runtime = Runtime(backend, measure=True)
        for x, w in layers:
            np.testing.assert_array_equal(runtime.matmul(x, w), ref_acc(x, w))
        runtime.matmul(*layers[0])          # again: resident weights where persistent
    assert [s.macs for s in runtime.stats][:3] == [
        x.shape[0] * cfg.k_tiles(w.shape[1]) * cfg.n_tiles(w.shape[0]) * 6 for x, w in layers]


@pytest.mark.cosim
@pytest.mark.parametrize("backend_name", ["cocotb-verilator", "verilator"])
def test_programs_longer_than_the_harness_run_in_parts(backend_name, rng, tmp_path):
    """A multi-pass program of 14240 words, on a cocotb harness that holds 8192: split between
    commands into two runs of one simulator session, with the same result. The native harness
    has no memory of its own: one request."""
    cfg = multipass_config(weight_format="1.6bit", weight_depth=48)
    x, w = random_layer(rng, 40, 64, 48)
    program = compile_layer(cfg, x, w)
    with make_backend(backend_name, cfg, work_dir=tmp_path) as backend:
        if backend_name == "cocotb-verilator":
            assert len(program.words) > backend.depth["SRC_DEPTH"]
        np.testing.assert_array_equal(program.decode(backend.run(program)), ref_acc(x, w))
        assert backend._calls == (2 if backend_name == "cocotb-verilator" else 1)


def _functional(cfg, words) -> list[int]:
    """What a fresh functional model answers to ``words`` (however many words that is)."""
    return FunctionalBackend(cfg).model.run(words)


@pytest.mark.cosim
@pytest.mark.parametrize("rows, cols, weight_format", [(4, 4, "2bit"), (3, 5, "1.6bit")])
def test_native_verilator_is_bit_exact(rows, cols, weight_format, rng, tmp_path):
    """Random layers (multi-pass ones included) under random idle cycles and backpressure:
    the native harness's response words equal the functional model's, word for word, in one
    session whose memories persist (the functional model runs the same stream)."""
    cfg = multipass_config(rows=rows, cols=cols, weight_format=weight_format, weight_depth=48)
    p_idle, p_stall = rng.uniform(0.0, 0.6, size=2)
    functional = FunctionalBackend(cfg)
    with make_backend("verilator", cfg, work_dir=tmp_path, p_idle=p_idle, p_stall=p_stall,
                      seed=int(rng.integers(1 << 31))) as backend:
        assert isinstance(backend, VerilatorBackend)
        for _ in range(4):
            m, k, n = (int(v) for v in rng.integers(1, [9, 70, 24]))
            x, w = random_layer(rng, m, k, n)
            program = compile_layer(cfg, x, w, measure=bool(rng.integers(2)))
            expect = functional.run(program)
            got = backend.run(program)
            if program.measure:                     # the counters' cycles are the RTL's own
                np.testing.assert_array_equal(program.decode(got), program.decode(expect))
                assert program.counters(got)[Counter.MACS] == \
                    program.counters(expect)[Counter.MACS]
            else:
                assert got == expect
            np.testing.assert_array_equal(program.decode(got), ref_acc(x, w))
            assert backend.last_cycles >= len(program.words)
        assert backend.cycles > 0 and backend.last_errors == 0


@pytest.mark.cosim
def test_native_verilator_hang_gives_bench_timeout(tmp_path):
    """A truncated command leaves the accelerator waiting: the harness stops at its cycle
    limit (and a reset recovers the session), or the wall-clock limit kills the process;
    neither hangs."""
    cfg = multipass_config()
    truncated = commands.load_acts(cfg, 0, [1, 2, 3])[:-1]
    status = commands.read_status()
    with make_backend("verilator", cfg, work_dir=tmp_path, max_compute_cycles=1000) as backend:
        with pytest.raises(BenchTimeout, match="did not finish a program of"):
            backend.execute(truncated, 0)
        backend.reset()
        response = backend.execute(status, len(_functional(cfg, status)))
        assert response == _functional(cfg, status)
    with make_backend("verilator", cfg, work_dir=tmp_path, max_compute_cycles=10**12,
                      reply_timeout=1.0) as backend:
        with pytest.raises(BenchTimeout, match=r"gave no answer within 1\.0 s"):
            backend.execute(truncated, 0)
        with pytest.raises(RuntimeError, match="closed"):
            backend.execute(status, 5)


@pytest.mark.cosim
def test_native_verilator_reset_clears_flags_and_counters(rng, tmp_path):
    """Reset returns the accelerator to its start-up state (hw/DESIGN.md): error flags and
    counters cleared, while the memories keep their contents (resident weights still give
    the right product)."""
    cfg = multipass_config(weight_format="1.6bit", weight_depth=48)
    probe = [*commands.read_status(), *commands.read_counters()]
    n_status = len(_functional(cfg, commands.read_status()))
    x, w = random_layer(rng, 3, 20, 6)
    with make_backend("verilator", cfg, work_dir=tmp_path) as backend:
        runtime = Runtime(backend)
        np.testing.assert_array_equal(runtime.matmul(x, w), ref_acc(x, w))
        garbage = [0xFFFF_FFFF]                                    # a sticky flag
        backend.execute(garbage, len(_functional(cfg, garbage)))
        assert backend.last_errors & ErrorFlag.BAD_HEADER
        before = backend.execute(probe, len(_functional(cfg, probe)))
        assert parse_response_header(before[0]).errors == ErrorFlag.BAD_HEADER
        counters_before = parse_counters(before[n_status + 1:-1])     # header ... CRC
        cycles_before = counters_before[Counter.CYCLES]
        assert counters_before[Counter.MACS] > 0
        backend.reset()
        assert backend.last_errors == 0
        after = backend.execute(probe, len(_functional(cfg, probe)))
        assert after[:n_status] == _functional(cfg, commands.read_status())
        counters = parse_counters(after[n_status + 1:-1])
        for counter in (Counter.COMPUTE, Counter.MACS, Counter.ZERO_MACS, Counter.STALL_OUT):
            assert counters[counter] == 0, counter.name
        assert 0 < counters[Counter.CYCLES] <= backend.last_cycles + 40 < cycles_before
        x2, _ = random_layer(rng, 2, 20, 6)
        np.testing.assert_array_equal(runtime.matmul(x2, w), ref_acc(x2, w))    # resident


def test_bad_backend_options_are_named():
    cfg = multipass_config()
    with pytest.raises(ValueError, match="unknown backend 'modelsim'"):
        make_backend("modelsim", cfg)
    for p in (1.0, -0.1, float("nan"), "0.5"):
        with pytest.raises(ValueError, match=r"p_idle must be a probability in \[0, 1\)"):
            make_backend("verilator", cfg, p_idle=p)
    with pytest.raises(ValueError, match="p_stall must be a probability"):
        make_backend("cocotb-verilator", cfg, p_stall=1.5)
    with pytest.raises(ValueError, match="writes no waveforms"):
        make_backend("verilator", cfg, waves=True)
    with pytest.raises(ValueError, match="max_compute_cycles must be a positive integer"):
        make_backend("verilator", cfg, max_compute_cycles=0)


def test_errors_width_comes_from_the_verilog():
    verilog = "module accelerator(clk, errors);\n  input clk;\n  output [6:0] errors;\n" \
              "endmodule\n"
    assert errors_width(verilog) == 7
    assert errors_width(verilog.replace("[6:0] ", "")) == 1
    with pytest.raises(ValueError, match="no output port 'errors'"):
        errors_width(verilog.replace("errors", "flags"))
