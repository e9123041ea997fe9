# SPDX-License-Identifier: BSD-2-Clause
"""golden.contract.isa: header layouts, the stream parser, the extent rules, payloads."""

import pytest

from firmware import commands
from firmware.compiler import compile_layer
from golden.contract.config import MAX_DEPTH, AcceleratorConfig
from golden.contract.isa import (
    ARG_LIMIT_BITS,
    ARG_WORDS,
    COUNTER_BITS,
    COUNTER_WORDS,
    STATUS_WORDS,
    SYNC,
    VERSION,
    CommandError,
    Counter,
    ErrorFlag,
    Opcode,
    TruncatedStream,
    command_header,
    counter_words,
    data_words,
    drain_error,
    load_error,
    matmul_error,
    parse_command_header,
    parse_counters,
    parse_response_header,
    response_header,
    response_words,
    split_commands,
    status_payload,
)
from tests.helpers import random_layer, small_config


def test_header_layouts_as_documented():
    # [31:24] SYNC, [23:8] reserved, [7:4] flags, [3:0] opcode.
    assert command_header(Opcode.MATMUL, 1) == 0xB500_0013
    # [31:24] SYNC, [23:16] reserved, [15:8] errors, [7:4] 0, [3:0] opcode.
    assert response_header(Opcode.DRAIN, ErrorFlag.OVERRUN | ErrorFlag.BAD_MAGIC) == 0xB500_1204


@pytest.mark.parametrize("opcode", list(Opcode))
def test_headers_round_trip(opcode):
    for flags in (0, 1, 15):
        assert parse_command_header(command_header(opcode, flags)) == (opcode, flags)
    for errors in (ErrorFlag(0), ErrorFlag.BAD_HEADER | ErrorFlag.ILLEGAL_WEIGHT):
        header = parse_response_header(response_header(opcode, errors))
        assert (header.opcode, header.errors) == (opcode, errors)


@pytest.mark.parametrize("word", [0x1234_5678, SYNC << 24 | 0xF, SYNC << 24 | 1 << 8,
                                  SYNC << 24 | 1 << 23])
def test_words_that_are_not_headers(word):
    assert parse_command_header(word) is None


def test_bad_headers_are_named():
    with pytest.raises(CommandError, match="flags must fit in 4 bits, not 16"):
        command_header(Opcode.NOP, 16)
    with pytest.raises(CommandError, match="opcode must be an Opcode, not 3"):
        command_header(3)
    with pytest.raises(CommandError, match="malformed response header 0x12345678"):
        parse_response_header(0x1234_5678)
    with pytest.raises(CommandError, match="response header 0xb500000f names no opcode"):
        parse_response_header(SYNC << 24 | 0xF)
    with pytest.raises(CommandError, match="unsigned 32-bit integer, not -1"):
        parse_command_header(-1)


def test_argument_limit_follows_the_largest_memory():
    assert ARG_LIMIT_BITS == 25 and MAX_DEPTH == 1 << 24


def test_split_commands_finds_every_command_of_a_program(rng):
    cfg = small_config(weight_format="1.6bit")
    x, w = random_layer(rng, 3, 9, 5)
    program = compile_layer(cfg, x, w, measure=True)
    found = split_commands(cfg, program.words)
    assert sum(c.length for c in found) == len(program.words)
    assert [c.start for c in found] == [sum(c.length for c in found[:i])
                                        for i in range(len(found))]
    for c in found:
        assert len(c.args) == ARG_WORDS[c.opcode]
        count = c.args[1] if c.opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS) else 0
        assert len(c.data) == data_words(cfg, c.opcode, count)
    assert sum(c.response_words(cfg) for c in found) == program.response_words


def test_split_commands_takes_a_bad_word_as_one_command():
    cfg = small_config()
    found = split_commands(cfg, [0xFFFF_FFFF, *commands.nop()])
    assert [(c.opcode, c.length) for c in found] == [(None, 1), (Opcode.NOP, 1)]


def test_a_truncated_stream_is_named():
    cfg = small_config()
    sub = cfg.stream_words(cfg.act_word_bits)
    with pytest.raises(TruncatedStream, match=rf"inside LOAD_ACTS: it starts at word 1 and "
                                              rf"needs {4 + 2 * sub} words, the stream has 3"):
        split_commands(cfg, [*commands.nop(), *commands.load_acts(cfg, 0, [1, 2])[:3]])
    with pytest.raises(TruncatedStream, match="inside DRAIN: it starts at word 0 and needs 3 "
                                              "words, the stream has 2"):
        split_commands(cfg, commands.drain(0, 1)[:2])


def test_extent_rules():
    cfg = small_config()                     # weight 256, act 128, acc 64 words; rows 2
    assert load_error(cfg, Opcode.LOAD_ACTS, 127, 1) == 0
    assert load_error(cfg, Opcode.LOAD_ACTS, 127, 2) == ErrorFlag.OVERRUN
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 0, 256) == 0
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 1 << ARG_LIMIT_BITS, 0) == ErrorFlag.OVERRUN
    assert drain_error(cfg, 60, 4) == 0 and drain_error(cfg, 60, 5) == ErrorFlag.OVERRUN
    ok = {"w_addr": 0, "a_addr": 0, "acc_addr": 0, "m": 3, "k_tiles": 2, "n_tiles": 2}
    assert matmul_error(cfg, **ok) == 0
    for bad, flag in (({"m": 0}, ErrorFlag.BAD_SHAPE), ({"k_tiles": 513}, ErrorFlag.BAD_SHAPE),
                      ({"n_tiles": 1 << ARG_LIMIT_BITS}, ErrorFlag.BAD_SHAPE),
                      ({"w_addr": 253}, ErrorFlag.OVERRUN),       # 8 rows from 253: 261 > 256
                      ({"a_addr": 123}, ErrorFlag.OVERRUN),       # 6 words from 123
                      ({"acc_addr": 59}, ErrorFlag.OVERRUN)):     # 6 words from 59
        assert matmul_error(cfg, **{**ok, **bad}) == flag, bad


def test_payloads():
    cfg = AcceleratorConfig(rows=4, cols=8, weight_format="1.6bit")
    payload = status_payload(cfg, ErrorFlag.OVERRUN)
    assert len(payload) == STATUS_WORDS
    assert payload == [2, 4 | 8 << 16, 8 | 32 << 8 | 1 << 16, VERSION]
    values = dict.fromkeys(Counter, 0) | {Counter.MACS: (1 << COUNTER_BITS) + 5,
                                          Counter.CYCLES: 1 << 40}
    words = counter_words(values)
    assert len(words) == COUNTER_WORDS
    assert parse_counters(words)[Counter.MACS] == 5               # wraps at COUNTER_BITS
    assert parse_counters(words)[Counter.CYCLES] == 1 << 40
    assert response_words(cfg, Opcode.DRAIN, count=3) == 1 + 3 * 8
    assert response_words(cfg, Opcode.LOAD_ACTS) == 0
    with pytest.raises(CommandError, match="expected 14 counter words, not 2"):
        parse_counters([0, 0])
