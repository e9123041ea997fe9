# SPDX-License-Identifier: BSD-2-Clause
"""The compiler, the functional model, the runtime and its interchangeable backends."""

import random

import numpy as np
import pytest
import torch

from firmware import commands
from firmware.commands import CommandError
from firmware.compiler import compile_layer, compile_matmul, compile_weights
from firmware.functional import FunctionalAccelerator, TruncatedStream
from firmware.runtime import FunctionalBackend, Runtime
from firmware.weights import pack_weight_rows, unpack_weight_rows
from golden.bitlinear import int_matmul
from golden.config import AcceleratorConfig
from golden.isa import COUNTER_WORDS, SYNC, Counter, Opcode
from sim.accel_amaranth import rtl_accel_amaranth
from sim.backends import BenchTimeout, make_backend
from sim.tools import SimulatorNotFound, check_simulator


def tiny(**kw):
    """Memories small enough that real layers need several passes."""
    base = {"rows": 2, "cols": 3, "weight_depth": 24, "act_depth": 12, "acc_depth": 8,
            "max_k": 256, "acc_bits": 18}
    return AcceleratorConfig(**{**base, **kw})


def layer(rng, m, k, n):
    return (rng.integers(-128, 128, size=(m, k)).astype(np.int8),
            rng.integers(-1, 2, size=(n, k)).astype(np.int8))


def ref(x, w):
    return int_matmul(torch.from_numpy(x), torch.from_numpy(w)).numpy()


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("m", "k", "n"), [(1, 5, 4), (3, 40, 7), (20, 9, 31), (7, 33, 26)])
def test_passes_cover_any_shape(weight_format, m, k, n, rng):
    """Layers larger than every memory run in K-, N- and M-passes, exactly."""
    cfg = tiny(weight_format=weight_format)
    x, w = layer(rng, m, k, n)
    program = compile_layer(cfg, x, w)
    response = FunctionalAccelerator(cfg).run(program.words)
    np.testing.assert_array_equal(program.decode(response), ref(x, w))


def test_multi_pass_program_on_the_rtl(rng):
    cfg = tiny()
    x, w = layer(rng, 5, 11, 8)           # 6 K-tiles x 3 N-tiles: more than the memories
    image = compile_weights(cfg, w)
    assert len(image.blocks) > 1
    program = compile_matmul(image, x, measure=True)
    run = rtl_accel_amaranth(cfg, program.words, program.response_words)
    np.testing.assert_array_equal(program.decode(run.response), ref(x, w))
    functional = FunctionalAccelerator(cfg).run(program.words)
    # The counters that do not depend on stream timing agree with the functional model.
    for c in (Counter.COMPUTE, Counter.MACS, Counter.ZERO_MACS):
        assert program.counters(run.response)[c] == program.counters(functional)[c]


def _random_stream(cfg, rng: random.Random) -> list[int]:
    """Commands with random (often invalid) arguments, garbage words and CLEARs."""
    words = []
    for _ in range(14):
        kind = rng.randrange(9)
        if kind == 0:
            words.append(rng.choice([rng.getrandbits(32), SYNC << 24 | 0xE]))
        elif kind == 1:
            n = rng.randrange(4)
            words += commands.load_weights(cfg, rng.randrange(cfg.weight_depth + 2),
                                           [rng.getrandbits(cfg.weight_word_bits)
                                            for _ in range(n)])
        elif kind == 2:
            n = rng.randrange(4)
            words += commands.load_acts(cfg, rng.randrange(cfg.act_depth + 2),
                                        [rng.getrandbits(cfg.act_word_bits) for _ in range(n)])
        elif kind in (3, 4):
            words += commands.matmul(w_addr=rng.randrange(8), a_addr=rng.randrange(6),
                                     acc_addr=rng.randrange(6), m=rng.randrange(4),
                                     k_tiles=rng.randrange(4), n_tiles=rng.randrange(3),
                                     accumulate=rng.random() < 0.5)
        elif kind == 5:
            words += commands.drain(rng.randrange(cfg.acc_depth + 1), rng.randrange(4))
        elif kind == 6:
            words += commands.read_status()
        elif kind == 7:
            words += commands.read_counters()
        else:
            words += commands.clear(counters=rng.random() < 0.5) if rng.random() < 0.8 else \
                [commands.header(Opcode.CLEAR, 3), rng.getrandbits(32)]
    return words


def _without_timing(cfg, response: list[int]) -> list:
    """Responses with the counters that depend on stream timing blanked out."""
    out, pos = [], 0
    while pos < len(response):
        header = commands.parse_response_header(response[pos])
        n = {Opcode.READ_COUNTERS: COUNTER_WORDS, Opcode.READ_STATUS: 4}.get(header.opcode)
        if n is None:                        # DRAIN: the payload length follows from the flags
            n = len(response) - pos - 1
            nxt = next((i for i in range(pos + 1, len(response))
                        if response[i] >> 24 == SYNC and response[i] & 0xFFFF00F0 ==
                        SYNC << 24 and 4 <= response[i] & 0xF <= 6), len(response))
            n = nxt - pos - 1
        payload = response[pos + 1:pos + 1 + n]
        if header.opcode == Opcode.READ_COUNTERS:
            counters = commands.parse_counters(payload)
            payload = [counters[c] for c in (Counter.COMPUTE, Counter.MACS, Counter.ZERO_MACS)]
        out.append((header, payload))
        pos += 1 + n
    return out


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
def test_random_streams_match_the_functional_model(weight_format, seed):
    """Differential test: random streams, valid and not, give the same responses (error
    flags, accumulators, status) on the RTL and on the functional model."""
    cfg = tiny(weight_format=weight_format)
    rng = random.Random(seed)
    for _ in range(3):
        words = _random_stream(cfg, rng)
        expect = FunctionalAccelerator(cfg).run(words)
        run = rtl_accel_amaranth(cfg, words, len(expect), p_idle=0.2, p_stall=0.3,
                                 seed=rng.randrange(1 << 30))
        assert len(run.response) == len(expect)
        assert _without_timing(cfg, run.response) == _without_timing(cfg, expect)


def test_truncated_stream_is_refused():
    cfg = tiny()
    words = compile_layer(cfg, *layer(np.random.default_rng(0), 2, 4, 3)).words
    with pytest.raises(TruncatedStream, match="ends inside the data of LOAD_WEIGHTS"):
        FunctionalAccelerator(cfg).run(words[:5])
    with pytest.raises(TruncatedStream, match="ends inside the arguments of MATMUL"):
        FunctionalAccelerator(cfg).run(commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1,
                                                       k_tiles=1, n_tiles=1)[:4])


def test_truncated_stream_times_out_on_the_rtl():
    """The hardware waits for the rest of the command; the bench gives up instead of
    hanging."""
    cfg = tiny()
    backend = make_backend("amaranth", cfg, max_cycles=500)
    words = commands.load_acts(cfg, 0, [1, 2, 3])[:-1] + commands.read_status()
    with pytest.raises(BenchTimeout, match="did not finish within 500 cycles"):
        backend.execute(words, 5)


def test_program_for_another_configuration_is_refused(rng):
    program = compile_layer(tiny(), *layer(rng, 2, 4, 3))
    backend = FunctionalBackend(tiny(cols=4))
    with pytest.raises(CommandError, match=r"another accelerator configuration: cols=4 "
                                           r"\(program: 3\)"):
        backend.run(program)


def test_shapes_that_do_not_match_are_refused(rng):
    cfg = tiny()
    image = compile_weights(cfg, layer(rng, 1, 6, 4)[1])
    with pytest.raises(CommandError, match=r"activations are \(M=2, K=5\) but the weights "
                                           r"are \(N=4, K=6\)"):
        compile_matmul(image, layer(rng, 2, 5, 4)[0])
    with pytest.raises(ValueError, match=r"weights must be ternary \(-1, 0, \+1\); found 2"):
        compile_weights(cfg, np.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"activation 200 at index \(0, 1\) does not fit"):
        compile_matmul(image, np.array([[0, 200, 0, 0, 0, 0]]))
    program = compile_matmul(image, layer(rng, 2, 6, 4)[0])
    with pytest.raises(CommandError, match="expected 13 response words, got 12"):
        program.decode([0] * 12)


def test_weight_image_with_an_illegal_code(rng):
    cfg = tiny()
    words = pack_weight_rows(cfg, layer(rng, 1, 3, 4)[1])       # 4 rows of 3 columns
    words[1] = words[1] & ~(0b11 << 2) | 0b10 << 2           # row 1, column 1: code 0b10
    with pytest.raises(ValueError, match=r"illegal weight code 2 at index \(1, 1\)"):
        unpack_weight_rows(cfg, words, 4)
    status = FunctionalAccelerator(cfg).run([*commands.load_weights(cfg, 0, words),
                                             *commands.read_status()])
    assert commands.parse_response_header(status[0]).errors.name == "ILLEGAL_WEIGHT"


def test_missing_simulator_is_named(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SimulatorNotFound, match="apt-get install -y iverilog"):
        check_simulator("icarus")
    with pytest.raises(ValueError, match="unknown simulator 'modelsim'"):
        check_simulator("modelsim")


def test_resident_weights_are_loaded_once(rng):
    cfg = tiny(weight_depth=64)
    backend = FunctionalBackend(cfg)
    runtime = Runtime(backend)
    x, w = layer(rng, 2, 5, 4)
    sent = []
    execute = backend.execute
    backend.execute = lambda words, n: sent.append(words) or execute(words, n)
    for _ in range(2):
        np.testing.assert_array_equal(runtime.matmul(x, w), ref(x, w))
    loads = [sum(1 for i, word in enumerate(words)
                 if word == commands.header(Opcode.LOAD_WEIGHTS)) for words in sent]
    assert loads == [1, 0, 0]        # the image once, then the two products without it


@pytest.mark.cosim
@pytest.mark.parametrize("backend_name", ["functional", "amaranth", "icarus", "verilator"])
def test_backends_give_identical_results(backend_name, rng, tmp_path):
    """The same products on every backend, through the same runtime: identical integers."""
    cfg = tiny(weight_format="1.6bit", weight_depth=48)
    options = {"work_dir": tmp_path, "p_idle": 0.2, "p_stall": 0.2} \
        if backend_name in ("icarus", "verilator") else {}
    layers = [layer(rng, 3, 7, 5), layer(rng, 4, 30, 10), layer(rng, 1, 7, 5)]
    with make_backend(backend_name, cfg, **options) as backend:
        runtime = Runtime(backend, measure=True)
        for x, w in layers:
            np.testing.assert_array_equal(runtime.matmul(x, w), ref(x, w))
        runtime.matmul(*layers[0])          # again: resident weights where persistent
    assert [s.macs for s in runtime.stats][:3] == [
        x.shape[0] * cfg.k_tiles(w.shape[1]) * cfg.n_tiles(w.shape[0]) * 6 for x, w in layers]


@pytest.mark.cosim
def test_programs_longer_than_the_harness_run_in_parts(rng, tmp_path):
    """A multi-pass program of 14240 words, on a harness that holds 8192: split between
    commands into two runs of one simulator session, with the same result."""
    cfg = tiny(weight_format="1.6bit", weight_depth=48)
    x, w = layer(rng, 40, 64, 48)
    program = compile_layer(cfg, x, w)
    with make_backend("verilator", cfg, work_dir=tmp_path) as backend:
        assert len(program.words) > backend.depth["SRC_DEPTH"]
        np.testing.assert_array_equal(program.decode(backend.run(program)), ref(x, w))
        assert backend._calls == 2
