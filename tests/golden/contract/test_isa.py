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
    crc32_words,
    data_words,
    drain_error,
    load_error,
    matmul_error,
    max_command_words,
    parse_command_header,
    parse_counters,
    parse_response,
    parse_response_header,
    parse_status,
    response_header,
    response_words,
    split_commands,
    split_responses,
    status_payload,
    with_crc,
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
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 192, 64) == 0                # max_load 64
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 0, 65) == ErrorFlag.BAD_SHAPE
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 0, 0) == ErrorFlag.BAD_SHAPE
    assert load_error(cfg, Opcode.LOAD_WEIGHTS, 1 << ARG_LIMIT_BITS, 1) == ErrorFlag.OVERRUN
    assert drain_error(cfg, 60, 4) == 0 and drain_error(cfg, 60, 5) == ErrorFlag.OVERRUN
    assert drain_error(cfg, 0, 0) == ErrorFlag.BAD_SHAPE
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
    assert payload == [2, VERSION, 4, 8, 8, 32, 1, 32768, 32768, 1024, 65536, 64, 1, 0, 32, 16, 4]
    assert parse_status(payload).config == cfg
    assert parse_status(payload).errors == ErrorFlag.OVERRUN
    with pytest.raises(CommandError, match=r"cols=8 \(program: 4\), weight_format='1.6bit' "
                                           r"\(program: '2bit'\)"):
        parse_status(payload).check(AcceleratorConfig(rows=4, cols=4))
    with pytest.raises(CommandError, match="weight format 7, which this host does not know"):
        parse_status([*payload[:6], 7, *payload[7:]])
    with pytest.raises(CommandError, match=f"version 9; this host speaks version {VERSION}"):
        parse_status([payload[0], 9, *payload[2:]]).check(cfg)
    values = dict.fromkeys(Counter, 0) | {Counter.MACS: (1 << COUNTER_BITS) + 5,
                                          Counter.CYCLES: 1 << 40}
    words = counter_words(values)
    assert len(words) == COUNTER_WORDS
    assert parse_counters(words)[Counter.MACS] == 5               # wraps at COUNTER_BITS
    assert parse_counters(words)[Counter.CYCLES] == 1 << 40
    assert response_words(cfg, Opcode.DRAIN, count=3) == 1 + 3 * 8 + 1
    assert response_words(cfg, Opcode.LOAD_ACTS) == 0
    with pytest.raises(CommandError, match=f"expected {COUNTER_WORDS} counter words, not 2"):
        parse_counters([0, 0])


def test_crc_is_zlib_crc32_of_the_little_endian_bytes():
    import zlib
    words = [command_header(Opcode.DRAIN), 3, 0x0102_0304]
    raw = b"".join(w.to_bytes(4, "little") for w in words)
    assert crc32_words(words) == zlib.crc32(raw)
    assert commands.drain(3, 0x0102_0304)[-1] == zlib.crc32(raw)
    # A worked example, as in the protocol document: NOP-free READ_STATUS.
    assert commands.read_status() == [0xB500_0006, zlib.crc32(bytes([6, 0, 0, 0xB5]))]


def test_a_corrupted_command_fails_its_crc():
    cfg = small_config()
    words = commands.matmul(w_addr=1, a_addr=2, acc_addr=3, m=4, k_tiles=1, n_tiles=1)
    assert split_commands(cfg, words)[0].crc_ok
    for i in range(len(words)):
        bad = list(words)
        bad[i] ^= 1 << (i % 32)
        command = split_commands(cfg, bad)[0] if i else None
        assert command is None or not command.crc_ok


def test_resync_is_longer_than_any_command():
    cfg = small_config(max_load=5)
    longest = commands.load_acts(cfg, 0, [0] * 5)
    assert len(longest) == max_command_words(cfg)
    assert max_command_words(small_config(max_load=1)) == 8           # MATMUL
    words = commands.resync(cfg, 0x1234)
    assert words[:max_command_words(cfg)] == [command_header(Opcode.NOP)] * len(longest)
    # From any word of the longest command, the resync words end on the SYNC command.
    for cut in range(1, len(longest)):
        tail = longest[:cut] + words
        found = split_commands(cfg, tail)
        assert found[-1].opcode == Opcode.SYNC and found[-1].crc_ok
        assert found[-2].opcode == Opcode.CLEAR and found[-2].crc_ok


def test_responses_split_on_their_crc():
    stream = [*with_crc([response_header(Opcode.DRAIN, 0), 5, 6, 7]),
              *with_crc([response_header(Opcode.DRAIN, ErrorFlag.OVERRUN)]),
              *with_crc([response_header(Opcode.SYNC, 0), 99])]
    found = split_responses(stream)
    assert [(h.opcode, h.errors, p) for h, p in found] == [
        (Opcode.DRAIN, 0, [5, 6, 7]), (Opcode.DRAIN, ErrorFlag.OVERRUN, []),
        (Opcode.SYNC, 0, [99])]
    assert parse_response(stream[:5], Opcode.DRAIN)[1] == [5, 6, 7]
    with pytest.raises(CommandError, match="CRC of a DRAIN response does not match"):
        parse_response([*stream[:4], stream[4] ^ 1], Opcode.DRAIN)
    with pytest.raises(CommandError, match="expected a SYNC response, got DRAIN"):
        parse_response(stream[:5], Opcode.SYNC)
    with pytest.raises(CommandError, match="no CRC word closes the DRAIN response at word 0"):
        split_responses([*stream[:4], stream[4] ^ 1])


def test_crc_polynomial_is_zlibs():
    """CRC32_POLY and CRC32_INIT, processed bit by bit as the gateware and the C driver do,
    give zlib's CRC-32."""
    import zlib

    from golden.contract.isa import CRC32_INIT, CRC32_POLY

    data = bytes(range(256)) * 3
    crc = CRC32_INIT
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (CRC32_POLY if crc & 1 else 0)
    assert crc ^ CRC32_INIT == zlib.crc32(data)
