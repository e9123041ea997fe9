# SPDX-License-Identifier: BSD-2-Clause
"""Building and running the C driver's example program (firmware/c/encode_layer.c) in tests:
one executable per configuration, files in and out."""

import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from firmware.cheader import render_header
from golden.contract.paths import repo_root

C_DIR = repo_root() / "firmware" / "c"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]

#: The ACCEL_E_* codes, read from accel.h (encode_layer exits with them).
CODES = {name: int(value) for name, value in
         re.findall(r"\bACCEL_E_(\w+)\s*=\s*(\d+)", (C_DIR / "accel.h").read_text())}
E_FULL, E_ARG, E_FIT, E_CRC, E_RESPONSE, E_DEVICE, E_VERSION, E_CONFIG, E_NO_SYNC = (
    CODES[name] for name in ("FULL", "ARG", "FIT", "CRC", "RESPONSE", "DEVICE", "VERSION",
                             "CONFIG", "NO_SYNC"))

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None,
                               reason="gcc is not installed: the C driver cannot be built")


class Driver:
    """encode_layer built for one configuration, in its own directory."""

    def __init__(self, config, directory):
        self.config, self.dir = config, directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "accel_isa.h").write_text(render_header(config))
        self.exe = directory / "encode_layer"
        proc = subprocess.run(["gcc", *CFLAGS, f"-I{directory}", f"-I{C_DIR}",
                               str(C_DIR / "accel.c"), str(C_DIR / "encode_layer.c"),
                               "-o", str(self.exe)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

    def _run(self, *args):
        return subprocess.run([str(self.exe), *map(str, args)], capture_output=True, text=True)

    def _write_layer(self, x, w):
        (m, k), n = x.shape, w.shape[0]
        path = self.dir / "layer.bin"
        path.write_bytes(struct.pack("<3I", m, k, n) + x.astype("<i2").tobytes()
                         + w.astype(np.int8).tobytes())
        return path

    def _write_words(self, name, words):
        path = self.dir / name
        path.write_bytes(np.asarray(words, dtype="<u4").tobytes())
        return path

    def _read(self, name, dtype):
        return np.frombuffer((self.dir / name).read_bytes(), dtype=dtype)

    def encode(self, x, w):
        """(exit status, command words or None)."""
        proc = self._run(self._write_layer(x, w), self.dir / "words.bin")
        if proc.returncode:
            return proc.returncode, None
        return 0, [int(v) for v in self._read("words.bin", "<u4")]

    def decode(self, x, w, response):
        """(exit status, (M, N) int64 result or None, stderr)."""
        proc = self._run("-d", self._write_layer(x, w), self._write_words("resp.bin", response),
                         self.dir / "result.bin")
        if proc.returncode:
            return proc.returncode, None, proc.stderr
        result = self._read("result.bin", "<i4").astype(np.int64)
        return 0, result.reshape(x.shape[0], w.shape[0]), proc.stderr

    def query(self, token):
        """The words of resync(token) and READ_STATUS."""
        proc = self._run("-q", hex(token), self.dir / "query.bin")
        assert proc.returncode == 0, proc.stderr
        return [int(v) for v in self._read("query.bin", "<u4")]

    def prefetch(self, w_addr, tiles):
        """The words of PREFETCH(w_addr, tiles)."""
        proc = self._run("-p", hex(w_addr), tiles, self.dir / "prefetch.bin")
        assert proc.returncode == 0, proc.stderr
        return [int(v) for v in self._read("prefetch.bin", "<u4")]

    def status(self, token, response):
        """(exit status, stdout, stderr) of parsing and checking the status response."""
        proc = self._run("-s", hex(token), self._write_words("status.bin", response))
        return proc.returncode, proc.stdout, proc.stderr
