# SPDX-License-Identifier: BSD-2-Clause
"""The C encoder (firmware/c) against the Python compiler: the same bytes for the same layer."""

import shutil
import struct
import subprocess

import numpy as np
import pytest

from firmware.cheader import render_header
from firmware.compiler import compile_layer
from golden.contract.config import AcceleratorConfig
from golden.contract.paths import repo_root

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="gcc is not installed (the C encoder cannot be built)")

C_DIR = repo_root() / "firmware" / "c"


def build_encoder(config, tmp_path):
    (tmp_path / "accel_isa.h").write_text(render_header(config))
    exe = tmp_path / "encode_layer"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{tmp_path}",
                    f"-I{C_DIR}", str(C_DIR / "accel.c"), str(C_DIR / "encode_layer.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    return exe


def run_encoder(exe, x, w, tmp_path):
    (m, k), n = x.shape, w.shape[0]
    layer = tmp_path / "layer.bin"
    layer.write_bytes(struct.pack("<3I", m, k, n) + x.astype(np.int8).tobytes()
                      + w.astype(np.int8).tobytes())
    out = tmp_path / "words.bin"
    proc = subprocess.run([str(exe), str(layer), str(out)], capture_output=True, text=True)
    if proc.returncode:
        return proc.returncode, None
    data = out.read_bytes()
    return 0, list(struct.unpack(f"<{len(data) // 4}I", data))


@pytest.mark.parametrize(("rows", "cols", "weight_format", "shape"), [
    (4, 4, "2bit", (3, 9, 7)),
    (3, 5, "1.6bit", (2, 14, 11)),      # rows not a multiple of 5: groups span tiles
    (16, 16, "2bit", (4, 40, 35)),
    (8, 20, "1.6bit", (2, 17, 41)),     # memory words wider than 32 bits
    (4, 24, "2bit", (1, 6, 30)),
])
def test_c_encoder_matches_the_python_compiler(rows, cols, weight_format, shape, rng, tmp_path):
    cfg = AcceleratorConfig(rows=rows, cols=cols, weight_format=weight_format,
                            weight_depth=1024, act_depth=256, acc_depth=128)
    m, k, n = shape
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    w = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    exe = build_encoder(cfg, tmp_path)
    status, words = run_encoder(exe, x, w, tmp_path)
    assert status == 0
    assert words == compile_layer(cfg, x, w).words


def test_c_encoder_refuses_bad_layers(rng, tmp_path):
    cfg = AcceleratorConfig(rows=4, cols=4, weight_depth=64, act_depth=64, acc_depth=8)
    exe = build_encoder(cfg, tmp_path)
    x = rng.integers(-128, 128, size=(2, 8)).astype(np.int8)
    w = np.zeros((4, 8), np.int8)
    w[1, 2] = 2
    assert run_encoder(exe, x, w, tmp_path)[0] == 2          # ACCEL_E_ARG: not ternary
    big = np.zeros((40, 8), np.int8)                           # 10 N-tiles x 2 tokens > 8
    assert run_encoder(exe, x, big, tmp_path)[0] == 3          # ACCEL_E_FIT


def test_header_names_every_opcode():
    text = render_header(AcceleratorConfig())
    for name in ("NOP", "LOAD_WEIGHTS", "LOAD_ACTS", "MATMUL", "DRAIN", "READ_COUNTERS",
                 "READ_STATUS", "CLEAR"):
        assert f"#define ACCEL_OP_{name}" in text
    assert "#define ACCEL_ROWS 16u" in text and "#define ACCEL_SYNC 0xb5u" in text
