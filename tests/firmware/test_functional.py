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
from golden.contract.isa import (
    COUNTER_WORDS,
    SYNC,
    Counter,
    Opcode,
    TruncatedStream,
    command_header,
    parse_counters,
    parse_response_header,
)
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
                [command_header(Opcode.CLEAR, 3), rng.getrandbits(32)]
    return words


def _without_timing(cfg, response: list[int]) -> list:
    """Responses with the counters that depend on stream timing blanked out."""
    out, pos = [], 0
    while pos < len(response):
        header = parse_response_header(response[pos])
        n = {Opcode.READ_COUNTERS: COUNTER_WORDS, Opcode.READ_STATUS: 4}.get(header.opcode)
        if n is None:                        # DRAIN: the payload length follows from the flags
            n = len(response) - pos - 1
            nxt = next((i for i in range(pos + 1, len(response))
                        if response[i] >> 24 == SYNC and response[i] & 0xFFFF00F0 ==
                        SYNC << 24 and 4 <= response[i] & 0xF <= 6), len(response))
            n = nxt - pos - 1
        payload = response[pos + 1:pos + 1 + n]
        if header.opcode == Opcode.READ_COUNTERS:
            counters = parse_counters(payload)
            payload = [counters[c] for c in (Counter.COMPUTE, Counter.MACS, Counter.ZERO_MACS)]
        out.append((header, payload))
        pos += 1 + n
    return out


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
def test_random_streams_match_the_functional_model(weight_format, seed):
    """Differential test: random streams, valid and not, give the same responses (error
    flags, accumulators, status) on the RTL and on the functional model."""
    cfg = multipass_config(weight_format=weight_format)
    rng = random.Random(seed)
    for _ in range(3):
        words = _random_stream(cfg, rng)
        expect = FunctionalAccelerator(cfg).run(words)
        run = rtl_accelerator_amaranth(cfg, words, len(expect), p_idle=0.2, p_stall=0.3,
                                 seed=rng.randrange(1 << 30))
        assert len(run.response) == len(expect)
        assert _without_timing(cfg, run.response) == _without_timing(cfg, expect)


def test_truncated_stream_is_refused():
    cfg = multipass_config()
    words = compile_layer(cfg, *random_layer(np.random.default_rng(0), 2, 4, 3)).words
    with pytest.raises(TruncatedStream, match="ends inside the data of LOAD_WEIGHTS"):
        FunctionalAccelerator(cfg).run(words[:5])
    with pytest.raises(TruncatedStream, match="ends inside the arguments of MATMUL"):
        FunctionalAccelerator(cfg).run(commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1,
                                                       k_tiles=1, n_tiles=1)[:4])


def test_weight_image_with_an_illegal_code(rng):
    cfg = multipass_config()
    words = pack_weight_rows(cfg, random_layer(rng, 1, 3, 4)[1])       # 4 rows of 3 columns
    words[1] = words[1] & ~(0b11 << 2) | 0b10 << 2           # row 1, column 1: code 0b10
    with pytest.raises(ValueError, match=r"illegal weight code 2 at index \(1, 1\)"):
        unpack_weight_rows(cfg, words, 4)
    status = FunctionalAccelerator(cfg).run([*commands.load_weights(cfg, 0, words),
                                             *commands.read_status()])
    assert parse_response_header(status[0]).errors.name == "ILLEGAL_WEIGHT"
