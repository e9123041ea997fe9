# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""firmware.functional: the functional model against the RTL (random streams, valid and not),
truncated streams, illegal weight codes."""

import random

import numpy as np
import pytest

from firmware import commands
from firmware.compiler import compile_layer, compile_matmul, compile_weights
from firmware.functional import FunctionalAccelerator
from golden.contract.codecs import pack_weight_rows, unpack_weight_rows
from golden.contract.isa import Counter, Opcode, parse_response_header, split_responses
from sim.soak import random_stream, without_timing
from sim.testbenches.accelerator_amaranth import rtl_accelerator_amaranth
from tests.helpers import multipass_config, random_layer, ref_acc


def test_multi_pass_program_on_the_rtl(rng):
    cfg = multipass_config()
    x, w = random_layer(rng, 5, 11, 8)           # 6 K-tiles x 3 N-tiles: more than the memories
    image = compile_weights(cfg, w)
    assert len(image.blocks) > 1
    program = compile_matmul(image, x, measure=True)
    run = rtl_accelerator_amaranth(cfg, program.words, program.response_words)
    np.testing.assert_array_equal(program.decode(run.response), ref_acc(x, w))
    functional = FunctionalAccelerator(cfg).run(program.words)
    # The counters that do not depend on stream timing agree with the functional model.
    for c in (Counter.COMPUTE, Counter.MACS, Counter.ZERO_MACS):
        assert program.counters(run.response)[c] == program.counters(functional)[c]


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
def test_random_streams_match_the_functional_model(weight_format, seed):
    """Differential test: random streams, valid and not, with words dropped, duplicated and
    corrupted, give the same responses (error flags, accumulators, status) on the RTL and on
    the functional model."""
    cfg = multipass_config(weight_format=weight_format, max_load=3)
    rng = random.Random(seed)
    for _ in range(3):
        words = random_stream(cfg, rng)
        expect = FunctionalAccelerator(cfg).run(words)
        run = rtl_accelerator_amaranth(cfg, words, len(expect), p_idle=0.2, p_stall=0.3,
                                       seed=rng.randrange(1 << 30))
        assert len(run.response) == len(expect)
        assert without_timing(run.response) == without_timing(expect)


def test_a_truncated_command_waits_for_its_words():
    """As on the hardware, a command that has not fully arrived waits: the rest of it may
    come with the next words."""
    cfg = multipass_config()
    x, w = random_layer(np.random.default_rng(0), 2, 4, 3)
    program = compile_layer(cfg, x, w)
    model = FunctionalAccelerator(cfg)
    assert model.run(program.words[:5]) == []
    assert model.pending == program.words[:5]
    np.testing.assert_array_equal(program.decode(model.run(program.words[5:])), ref_acc(x, w))
    assert model.pending == []
    model.run(commands.drain(0, 1)[:2])
    model.reset()
    assert model.pending == [] and model.errors == 0


def test_the_resync_words_recover_from_any_cut(rng):
    """A program cut at any word, followed by the resync words, ends with the SYNC token, a
    flag raised only where a command was cut, and the next program runs correctly."""
    cfg = multipass_config(max_load=2)
    x, w = random_layer(rng, 2, 4, 3)
    program = compile_layer(cfg, x, w)
    for cut in range(len(program.words)):
        model = FunctionalAccelerator(cfg)
        response = model.run(program.words[:cut] + commands.resync(cfg, 0xC0FFEE))
        header, payload = split_responses(response)[-1]
        assert (header.opcode, payload, header.errors) == (Opcode.SYNC, [0xC0FFEE], 0)
        np.testing.assert_array_equal(program.decode(model.run(program.words)), ref_acc(x, w))


def test_weight_image_with_an_illegal_code(rng):
    cfg = multipass_config()
    words = pack_weight_rows(cfg, random_layer(rng, 1, 3, 4)[1])       # 4 rows of 3 columns
    words[1] = words[1] & ~(0b11 << 2) | 0b10 << 2           # row 1, column 1: code 0b10
    with pytest.raises(ValueError, match=r"illegal weight code 2 at index \(1, 1\)"):
        unpack_weight_rows(cfg, words, 4)
    status = FunctionalAccelerator(cfg).run([*commands.load_weights(cfg, 0, words),
                                             *commands.read_status()])
    assert parse_response_header(status[0]).errors.name == "ILLEGAL_WEIGHT"
