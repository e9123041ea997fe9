# SPDX-License-Identifier: BSD-2-Clause
"""The generated C header and the C encoder (firmware/c) against the Python compiler: the
same words for the same layer, passes and split loads included."""

import re

import numpy as np
import pytest

from firmware import commands
from firmware.cheader import render_header
from firmware.compiler import compile_layer, compile_weights
from golden.contract import isa
from golden.contract.config import AcceleratorConfig
from tests.firmware.cdriver import E_ARG, Driver, needs_gcc


def defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) +(.+?)\s*(?:/\*.*)?$", text, re.MULTILINE))


@pytest.mark.parametrize(("config", "shape"), [
    (AcceleratorConfig(rows=4, cols=4, max_load=3), (3, 9, 7)),
    # rows not a multiple of 5: groups span tiles; 16-bit activations
    (AcceleratorConfig(rows=3, cols=5, weight_format="1.6bit", act_bits=16, max_k=256,
                       max_load=2), (2, 14, 11)),
    (AcceleratorConfig(rows=16, cols=16, max_load=5), (4, 40, 35)),
    # memory words wider than 32 bits
    (AcceleratorConfig(rows=8, cols=20, weight_format="1.6bit", max_load=1), (2, 17, 41)),
    (AcceleratorConfig(rows=4, cols=24, act_bits=16, max_k=1024), (1, 6, 30)),
    # several passes: K-chunks (ACCUMULATE), N-chunks and M-chunks
    (AcceleratorConfig(rows=4, cols=4, weight_depth=8, act_depth=8, acc_depth=4, max_load=3),
     (5, 13, 9)),
    (AcceleratorConfig(rows=3, cols=2, weight_format="1.6bit", act_bits=16, max_k=256,
                       weight_depth=2, act_depth=3, acc_depth=5, max_load=2), (4, 11, 7)),
    (AcceleratorConfig(rows=5, cols=3, act_bits=12, max_k=1024, weight_depth=40,
                       act_depth=16, acc_depth=7, max_load=4), (9, 37, 20)),
])
@needs_gcc
def test_c_encoder_matches_the_python_compiler(config, shape, rng, tmp_path):
    m, k, n = shape
    x = rng.integers(config.act_min, config.act_max + 1, size=(m, k))
    x[0, 0], x[-1, -1] = config.act_min, config.act_max
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    status, words = Driver(config, tmp_path).encode(x, w)
    assert status == 0
    assert words == compile_layer(config, x, w).words


def test_the_multipass_cases_are_multipass():
    """The cases above that claim passes and split loads have them (else they test less)."""
    cfg = AcceleratorConfig(rows=4, cols=4, weight_depth=8, act_depth=8, acc_depth=4,
                            max_load=3)
    image = compile_weights(cfg, np.ones((9, 13), np.int8))
    assert len({(b.kt0, b.kt1) for b in image.blocks}) > 1           # K-chunks
    assert len({(b.nt0, b.nt1) for b in image.blocks}) > 1           # N-chunks
    prog = compile_layer(cfg, np.ones((5, 13), np.int8), np.ones((9, 13), np.int8))
    assert len({s[1] for s in prog.segments}) > 1                    # M-chunks
    loads = [c for c in isa.split_commands(cfg, prog.words) if c.opcode == isa.Opcode.LOAD_ACTS]
    assert any(c.args[0] > 0 for c in loads)                         # a split load


@needs_gcc
def test_c_encoder_refuses_bad_layers(rng, tmp_path):
    cfg = AcceleratorConfig(rows=4, cols=4, weight_depth=64, act_depth=64, acc_depth=8)
    driver = Driver(cfg, tmp_path)
    x = rng.integers(-128, 128, size=(2, 8))
    w = np.zeros((4, 8), np.int8)
    assert driver.encode(x, w)[0] == 0
    w[1, 2] = 2
    assert driver.encode(x, w)[0] == E_ARG                           # not ternary
    w[1, 2] = 0
    x[1, 3] = 128
    assert driver.encode(x, w)[0] == E_ARG                           # not 8 bits
    x[1, 3] = -129
    assert driver.encode(x, w)[0] == E_ARG
    k = cfg.max_k + 1
    assert driver.encode(np.zeros((1, k), int), np.zeros((1, k), np.int8))[0] == E_ARG


@needs_gcc
def test_c_resync_and_status_query_match_python(tmp_path):
    cfg = AcceleratorConfig(rows=2, cols=3, weight_format="1.6bit", max_load=7)
    token = 0xDEADBEEF
    assert Driver(cfg, tmp_path).query(token) == (commands.resync(cfg, token)
                                                 + commands.read_status())


def test_header_names_every_opcode_flag_and_status_field():
    cfg = AcceleratorConfig(max_load=17)
    d = defines(render_header(cfg))
    for op in isa.Opcode:
        assert d[f"ACCEL_OP_{op.name}"] == f"{op.value:#x}u"
        assert d[f"ACCEL_ARGS_{op.name}"] == f"{isa.ARG_WORDS[op]}u"
    assert d["ACCEL_OPCODES"] == f"{len(isa.Opcode)}u"
    for flag in isa.ErrorFlag:
        assert d[f"ACCEL_ERROR_{flag.name}"] == f"{flag.value:#x}u"
        assert f'"{flag.name}"' in d["ACCEL_ERROR_NAMES"]
    names = re.findall(r'"(\w+)"|\b0\b', d["ACCEL_ERROR_NAMES"])
    assert [n for n in names if n] == [f.name for f in isa.ErrorFlag]       # in bit order
    for i, field in enumerate(isa.STATUS_FIELDS):
        assert d[f"ACCEL_STATUS_{field.upper()}"] == f"{i}u"
    assert d["ACCEL_STATUS_WORDS"] == f"{isa.STATUS_WORDS}u"
    assert d["ACCEL_VERSION"] == f"{isa.VERSION}u"
    assert d["ACCEL_CRC_WORDS"] == f"{isa.CRC_WORDS}u"
    assert d["ACCEL_MAX_LOAD"] == "17u"
    assert d["ACCEL_MAX_COMMAND_WORDS"] == f"{isa.max_command_words(cfg)}u"
    assert d["ACCEL_ROWS"] == "16u" and d["ACCEL_SYNC"] == "0xb5u"
    assert d["ACCEL_ACT_BITS"] == "8u" and d["ACCEL_ACT_MIN"] == "(-128)"


def test_header_states_what_the_device_reports():
    cfg = AcceleratorConfig(rows=3, cols=7, weight_format="1.6bit", max_load=9)
    text = render_header(cfg)
    expected = dict(re.findall(r"X\((\w+), \d+u, (\d+)u\)", text))
    payload = isa.status_payload(cfg, 0)
    assert expected == {name: str(payload[i]) for i, name in enumerate(isa.STATUS_FIELDS)
                        if name != "errors"}


def test_the_header_carries_the_contracts_crc():
    text = render_header(AcceleratorConfig())
    assert f"#define ACCEL_CRC32_POLY {isa.CRC32_POLY:#x}u" in text
    assert f"#define ACCEL_CRC32_INIT {isa.CRC32_INIT:#x}u" in text
