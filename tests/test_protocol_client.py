# SPDX-License-Identifier: BSD-2-Clause
"""A client written from PROTOCOL.md alone, against the RTL.

Nothing of firmware/ or golden/contract/ encodes or decodes here: the opcodes, flags and status
fields are read from the tables of the committed PROTOCOL.md, the CRC is zlib's, and the words
are built and parsed by hand as a driver author would from the document. Only the device (the
Amaranth design in amaranth.sim) and the fault injection of the tests come from the project.
"""

import random
import re
import zlib

import numpy as np
import pytest

from golden.contract.config import AcceleratorConfig
from golden.contract.paths import repo_root
from sim.soak import FAULTS, with_fault
from sim.testbenches.accelerator_amaranth import rtl_accelerator_amaranth

DOC = (repo_root() / "PROTOCOL.md").read_text()
SYNC_BYTE = 0xB5
MAGIC = int(re.search(r"magic word is (0x[0-9a-f]+)", DOC).group(1), 16)


def _table(header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line starts with ``header``."""
    lines = DOC[DOC.index(header):].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


OP = {row[1]: int(row[0]) for row in _table("| opcode | command |")}
FLAG = {row[1]: int(row[0]) for row in _table("| bit value | flag |")}
STATUS = [row[1] for row in _table("| word | field |")]
COUNTERS = [row[1] for row in _table("| index | counter |")]
VERSION = int(re.search(r"Command-set version (\d+)", DOC).group(1))
CLEAR_COUNTERS = int(re.search(r"CLEAR flags: COUNTERS = (\d+)", DOC).group(1))
CONFIG = AcceleratorConfig(rows=2, cols=2, acc_bits=20, max_k=64, weight_depth=32,
                           act_depth=16, acc_depth=8, max_load=4)


def crc(words):
    return zlib.crc32(b"".join(w.to_bytes(4, "little") for w in words))


def command(name, *args, flags=0):
    words = [SYNC_BYTE << 24 | flags << 4 | OP[name], *args]
    return words if name == "NOP" else [*words, crc(words)]


def load(name, addr, words):
    out = []
    for i in range(0, len(words), CONFIG.max_load):          # at most max_load per command
        chunk = words[i:i + CONFIG.max_load]
        out += command(name, addr + i, len(chunk), *chunk)
    return out


def responses(words):
    """(opcode, flags, payload) of each response; the payload ends where the CRC matches."""
    out, pos = [], 0
    while pos < len(words):
        head = words[pos]
        assert head >> 24 == SYNC_BYTE
        end = next(e for e in range(pos + 1, len(words)) if crc(words[pos:e]) == words[e])
        out.append((head & 0xF, head >> 8 & 0xFF, words[pos + 1:end]))
        pos = end + 1
    return out


def layer_program(x, w):
    """One pass for a 2x2 device: weights (N=2, K=4) and activations (M, K=4)."""
    rows = []                                  # tile k: rows 2k, 2k+1; column j's code 2j
    for i in range(4):
        rows.append(sum((int(w[j, i]) & 3) << (2 * j) for j in range(2)))
    acts = [(int(x[t, 2 * kt]) & 0xFF) | (int(x[t, 2 * kt + 1]) & 0xFF) << 8
            for t in range(len(x)) for kt in range(2)]
    return [*load("LOAD_WEIGHTS", 0, rows), *load("LOAD_ACTS", 0, acts),
            *command("MATMUL", 0, 0, 0, len(x), 2, 1), *command("DRAIN", 0, len(x))]


def run(words, n_response, seed=0):
    return rtl_accelerator_amaranth(CONFIG, words, n_response, p_idle=0.2, p_stall=0.2,
                                    seed=seed).response


def test_the_device_describes_itself_as_documented():
    answer = responses(run(command("READ_STATUS"), 2 + len(STATUS)))
    assert len(answer) == 1 and answer[0][0] == OP["READ_STATUS"]
    fields = dict(zip(STATUS, answer[0][2], strict=True))
    assert fields["errors"] == 0 and fields["version"] == VERSION
    for name in ("rows", "cols", "act_bits", "acc_bits", "weight_depth", "act_depth",
                 "acc_depth", "max_k", "max_load", "weight_rows_per_cycle"):
        assert fields[name] == getattr(CONFIG, name), name


def test_a_layer_as_the_document_describes_it(rng):
    x = rng.integers(-128, 128, size=(3, 4))
    w = rng.integers(-1, 2, size=(2, 4))
    answer = responses(run(layer_program(x, w), 2 + 3 * 2))
    (opcode, flags, payload), = answer
    assert (opcode, flags) == (OP["DRAIN"], 0)
    signed = [v - (1 << 32) if v >> 31 else v for v in payload]
    assert np.array_equal(np.array(signed).reshape(3, 2), x @ w.T)


def test_the_counters_as_documented(rng):
    """READ_COUNTERS after a layer: two words per documented counter, low first; the layer's
    MACs (4 vectors of K-tiles through the 2x2 array), and no weight traffic on chip."""
    x = rng.integers(-128, 128, size=(2, 4))
    w = rng.integers(-1, 2, size=(2, 4))
    words = [*command("CLEAR", MAGIC, flags=CLEAR_COUNTERS), *layer_program(x, w),
             *command("READ_COUNTERS")]
    answer = responses(run(words, (2 + 2 * 2) + (2 + 2 * len(COUNTERS))))    # DRAIN, counters
    opcode, _, payload = answer[-1]
    assert opcode == OP["READ_COUNTERS"] and len(payload) == 2 * len(COUNTERS)
    value = {name: payload[2 * i] | payload[2 * i + 1] << 32 for i, name in enumerate(COUNTERS)}
    assert value["MACS"] == 2 * 2 * CONFIG.rows * CONFIG.cols      # m x k_tiles vectors
    assert value["MEM_BYTES"] == value["MEM_BURSTS"] == 0


@pytest.mark.parametrize(("words", "flag"), [
    ([0xDEAD_BEEF], "BAD_HEADER"),
    ([*command("LOAD_ACTS", 0, 0)[:-1]], "BAD_SHAPE"),         # refused count: no CRC word
    (command("LOAD_ACTS", 15, 2, 1, 2), "OVERRUN"),
    (command("LOAD_WEIGHTS", 0, 1, 0b10), "ILLEGAL_WEIGHT"),
    (command("CLEAR", 1, flags=2), "BAD_MAGIC"),
    ([*command("DRAIN", 0, 1)[:-1], 0], "BAD_CRC"),
])
def test_each_documented_flag(words, flag):
    answer = responses(run([*words, *command("READ_STATUS")], 2 + len(STATUS)))
    assert answer[-1][2][0] == FLAG[flag]
    assert answer[-1][1] == FLAG[flag]                 # and in the response header


def _resync(token):
    longest = 1 + 2 + CONFIG.max_load * 1 + 1           # memory words of one stream word here
    return [*command("NOP")] * max(longest, 8) + command("READ_STATUS") + command("SYNC", token)


def test_faults_end_in_a_flag_and_recover_without_reset(seed):
    """A word dropped, duplicated or corrupted anywhere in a program: after the documented
    resynchronization the status shows a flag (or the results came out right), and after
    CLEAR the same program runs right."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    for trial in range(6):
        x = nprng.integers(-128, 128, size=(2, 4))
        w = nprng.integers(-1, 2, size=(2, 4))
        good = layer_program(x, w)
        bad, fault, at = with_fault(good, rng, trial % len(FAULTS))
        token = rng.getrandbits(32)
        words = [*bad, *_resync(token), *command("CLEAR", MAGIC, flags=3), *good]
        # Responses: whatever the faulty part sent, the status, the SYNC and the good DRAIN.
        tail = (2 + len(STATUS)) + 3 + (2 + 2 * 2)
        stream = run(words, None, seed=trial)
        assert len(stream) >= tail
        answer = responses(stream)
        sync = max(i for i, r in enumerate(answer) if r[0] == OP["SYNC"] and r[2] == [token])
        status, last = answer[sync - 1], answer[-1]
        assert status[0] == OP["READ_STATUS"]
        before = [r for r in answer[:sync - 1] if r[0] == OP["DRAIN"] and r[2]]
        exact = [np.array([v - (1 << 32) if v >> 31 else v for v in r[2]]).reshape(2, 2)
                 for r in before]
        assert status[2][0] != 0 or any(np.array_equal(e, x @ w.T) for e in exact), \
            f"a {FAULTS[fault]} at word {at} went unnoticed"
        signed = [v - (1 << 32) if v >> 31 else v for v in last[2]]
        assert last[1] == 0 and np.array_equal(np.array(signed).reshape(2, 2), x @ w.T)
