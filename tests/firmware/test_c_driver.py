# SPDX-License-Identifier: BSD-2-Clause
"""The C driver (firmware/c) end to end: its words run on the functional model and on the RTL
in amaranth.sim, and it decodes what they answer into the exact product; it checks the
device's READ_STATUS, finds its place again after a resynchronization, and refuses corrupted
responses and refused DRAINs."""

import numpy as np
import pytest

from firmware import commands
from firmware.compiler import compile_layer
from firmware.functional import FunctionalAccelerator
from golden.contract import isa
from golden.contract.config import AcceleratorConfig
from sim.testbenches.accelerator_amaranth import rtl_accelerator_amaranth
from tests.firmware.cdriver import (
    E_CONFIG,
    E_CRC,
    E_DEVICE,
    E_NO_SYNC,
    E_RESPONSE,
    E_VERSION,
    Driver,
    needs_gcc,
)

pytestmark = needs_gcc

#: Small configurations that need several passes and split loads for the layers below.
CONFIGS = {
    "2bit-a8": AcceleratorConfig(rows=2, cols=3, acc_bits=20, max_k=256, weight_depth=8,
                                 act_depth=4, acc_depth=4, max_load=3),
    "1.6bit-a16": AcceleratorConfig(rows=3, cols=2, weight_format="1.6bit", act_bits=16,
                                    max_k=64, weight_depth=2, act_depth=3, acc_depth=4,
                                    max_load=2),
    "2bit-a16-4x4": AcceleratorConfig(rows=4, cols=4, act_bits=16, max_k=64, weight_depth=8,
                                      act_depth=8, acc_depth=6, max_load=1),
    "1.6bit-a8-3x4": AcceleratorConfig(rows=3, cols=4, weight_format="1.6bit", acc_bits=16,
                                       max_k=64, weight_depth=3, act_depth=5, acc_depth=5,
                                       max_load=2),
    "2bit-a8-3x2-wide2": AcceleratorConfig(rows=3, cols=2, weight_rows_per_cycle=2,
                                           acc_bits=20, max_k=256, weight_depth=6,
                                           act_depth=4, acc_depth=4, max_load=3),
    "1.6bit-a8-4x3-wide4": AcceleratorConfig(rows=4, cols=3, weight_format="1.6bit",
                                             weight_rows_per_cycle=4, acc_bits=20, max_k=64,
                                             weight_depth=2, act_depth=4, acc_depth=4,
                                             max_load=2),
}
#: Layers in K-passes (ACCUMULATE), and in passes of several N-tiles and tokens each (which
#: pins the accumulator layout the decoder reads).
SHAPES = [(5, 9, 7), (3, 13, 10), (5, 3, 8)]


def layer(config, shape, rng):
    m, k, n = shape
    x = rng.integers(config.act_min, config.act_max + 1, size=(m, k))
    x[0, 0], x[-1, -1] = config.act_min, config.act_max
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    return x, w


def exact(x, w):
    return x.astype(np.int64) @ w.T.astype(np.int64)


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    return {name: Driver(cfg, tmp_path_factory.mktemp(name.replace(".", "_")))
            for name, cfg in CONFIGS.items()}


def encode(driver, x, w):
    status, words = driver.encode(x, w)
    assert status == 0
    return words


def passes(config, words):
    return sum(c.opcode == isa.Opcode.DRAIN for c in isa.split_commands(config, words))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CONFIGS)
def test_functional_model_round_trip(name, shape, drivers, rng):
    cfg, driver = CONFIGS[name], drivers[name]
    x, w = layer(cfg, shape, rng)
    words = encode(driver, x, w)
    assert passes(cfg, words) > 1
    response = FunctionalAccelerator(cfg).run(words)
    status, result, _ = driver.decode(x, w, response)
    assert status == 0
    np.testing.assert_array_equal(result, exact(x, w))


def test_the_layers_have_every_kind_of_pass():
    segments = [s for cfg in CONFIGS.values() for shape in SHAPES
                for s in compile_layer(cfg, *layer(cfg, shape, np.random.default_rng(0)))
                .segments]
    assert any(s[2] - s[1] > 1 and s[4] - s[3] > 1 for s in segments)


@pytest.mark.parametrize(("name", "shape", "p_idle", "p_stall"), [
    ("2bit-a8", (5, 3, 8), 0.0, 0.0),
    ("1.6bit-a16", (3, 7, 6), 0.3, 0.3),
    ("2bit-a16-4x4", (5, 3, 8), 0.2, 0.0),
    ("1.6bit-a8-3x4", (3, 7, 6), 0.0, 0.3),
    ("2bit-a8-3x2-wide2", (2, 9, 5), 0.2, 0.2),
    ("1.6bit-a8-4x3-wide4", (1, 9, 7), 0.0, 0.3),
])
def test_rtl_round_trip(name, shape, p_idle, p_stall, drivers, rng, seed):
    cfg, driver = CONFIGS[name], drivers[name]
    x, w = layer(cfg, shape, rng)
    words = encode(driver, x, w)
    n_response = len(FunctionalAccelerator(cfg).run(words))
    run = rtl_accelerator_amaranth(cfg, words, n_response, p_idle=p_idle, p_stall=p_stall,
                                   seed=seed)
    status, result, _ = driver.decode(x, w, run.response)
    assert status == 0
    np.testing.assert_array_equal(result, exact(x, w))


def test_decoder_refuses_corrupted_and_misframed_responses(drivers, rng):
    cfg, driver = CONFIGS["2bit-a8"], drivers["2bit-a8"]
    x, w = layer(cfg, SHAPES[0], rng)
    words = encode(driver, x, w)
    response = FunctionalAccelerator(cfg).run(words)
    assert driver.decode(x, w, response)[0] == 0
    for at in (1, 3, len(response) - 1):            # a payload word, the last CRC word
        bad = list(response)
        bad[at] ^= 1 << 7
        assert driver.decode(x, w, bad)[0] == E_CRC
    assert driver.decode(x, w, response[:-1])[0] == E_RESPONSE
    assert driver.decode(x, w, [*response, 0])[0] == E_RESPONSE
    bad = list(response)
    bad[0] ^= 1 << 20                                # a reserved bit of the header
    assert driver.decode(x, w, bad)[0] == E_RESPONSE
    # The first DRAIN's response as if it answered another command, with a good CRC.
    drain = next(c for c in isa.split_commands(cfg, words) if c.opcode == isa.Opcode.DRAIN)
    first = isa.response_words(cfg, isa.Opcode.DRAIN, count=drain.args[1])
    other = isa.with_crc([isa.response_header(isa.Opcode.SYNC, 0), *response[1:first - 1]])
    assert driver.decode(x, w, other + response[first:])[0] == E_RESPONSE


def test_decoder_names_the_flags_of_a_refused_drain(drivers, rng):
    cfg, driver = CONFIGS["1.6bit-a16"], drivers["1.6bit-a16"]
    x, w = layer(cfg, SHAPES[1], rng)
    words = encode(driver, x, w)
    # A CLEAR with a wrong magic word first: every DRAIN is refused (header and CRC alone).
    bad_clear = isa.with_crc([isa.command_header(isa.Opcode.CLEAR, isa.ClearFlag.ERRORS), 1])
    response = FunctionalAccelerator(cfg).run(bad_clear + words)
    status, _, stderr = driver.decode(x, w, response)
    assert status == E_DEVICE
    assert "BAD_MAGIC" in stderr and "BAD_CRC" not in stderr
    # A corrupted MATMUL: BAD_CRC.
    device = FunctionalAccelerator(cfg)
    corrupted = list(words)
    matmul = next(c for c in isa.split_commands(cfg, words) if c.opcode == isa.Opcode.MATMUL)
    corrupted[matmul.start + 4] ^= 1
    status, _, stderr = driver.decode(x, w, device.run(corrupted))
    assert status == E_DEVICE and "BAD_CRC" in stderr


def garbage(config):
    """The start of a load that the stream then abandons: the device waits inside it."""
    return [isa.command_header(isa.Opcode.LOAD_ACTS), 0, config.max_load, 0x1234, 0x5678]


@pytest.mark.parametrize("name", CONFIGS)
def test_status_after_resync_on_the_functional_model(name, drivers):
    cfg, driver = CONFIGS[name], drivers[name]
    token = 0x5EED0000 + len(name)
    device = FunctionalAccelerator(cfg)
    stale = device.run(commands.sync(token ^ 1) + garbage(cfg))
    response = stale + device.run(driver.query(token))
    status, out, stderr = driver.status(token, response)
    assert status == 0, stderr
    fields = dict(line.split() for line in out.splitlines())
    assert list(fields) == list(isa.STATUS_FIELDS)
    assert int(fields["errors"]) == 0                 # the resync cleared BAD_CRC
    assert int(fields["max_load"]) == cfg.max_load and int(fields["version"]) == isa.VERSION
    # Without the SYNC response carrying the token, nothing is found.
    assert driver.status(token ^ 2, response)[0] == E_NO_SYNC


def test_status_on_the_rtl(drivers):
    cfg, driver = CONFIGS["1.6bit-a16"], drivers["1.6bit-a16"]
    token = 0xA5A5_0001
    words = garbage(cfg) + driver.query(token)
    n_response = len(FunctionalAccelerator(cfg).run(words))
    run = rtl_accelerator_amaranth(cfg, words, n_response, p_idle=0.2, p_stall=0.2)
    status, out, stderr = driver.status(token, run.response)
    assert status == 0, stderr
    assert f"weight_format {isa.status_payload(cfg, 0)[6]}" in out


@pytest.mark.parametrize(("change", "field"), [
    ({"max_load": 5}, "max_load"),
    ({"rows": 4, "max_k": 64}, "rows"),
    ({"weight_format": "2bit"}, "weight_format"),
    ({"acc_depth": 7}, "acc_depth"),
    ({"act_bits": 12}, "act_bits"),
])
def test_status_refuses_another_configuration(change, field, drivers):
    cfg, driver = CONFIGS["1.6bit-a16"], drivers["1.6bit-a16"]
    other = AcceleratorConfig(**{**cfg.to_dict(), **change})
    device = FunctionalAccelerator(other)
    status, _, stderr = driver.status(7, device.run(driver.query(7)))
    assert status == E_CONFIG
    assert f"differs from accel_isa.h in {field}" in stderr


def test_status_refuses_another_version_and_a_corrupted_response(drivers):
    cfg, driver = CONFIGS["2bit-a8"], drivers["2bit-a8"]
    response = FunctionalAccelerator(cfg).run(driver.query(9))
    assert driver.status(9, response)[0] == 0
    sync, status_response = response[:3], response[3:]
    payload = isa.status_payload(cfg, 0)
    payload[isa.STATUS_FIELDS.index("version")] = isa.VERSION + 1
    future = isa.with_crc([isa.response_header(isa.Opcode.READ_STATUS, 0), *payload])
    assert driver.status(9, sync + future)[0] == E_VERSION
    bad = list(status_response)
    bad[5] ^= 1 << 3
    assert driver.status(9, sync + bad)[0] == E_CRC


def test_prefetch_words_equal_the_python_encoders(drivers):
    driver = next(iter(drivers.values()))
    for w_addr, tiles in ((0, 1), (0x1234_5640, 300), (0xFFFF_FFC0, 1)):
        assert driver.prefetch(w_addr, tiles) == commands.prefetch(w_addr=w_addr, tiles=tiles)
