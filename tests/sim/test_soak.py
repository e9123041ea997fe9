# SPDX-License-Identifier: BSD-2-Clause
"""sim.soak and sim.hostfuzz: a few hundred soak programs on the RTL under Verilator with no
mismatch and no hang; a planted mismatch and a planted hang are caught, counted and shrunk to
the one command that causes them; valid programs raise no flag; a program replays from its
seed; every bad input at the host's API gives a clear error."""

import json
import random

import pytest

from firmware import commands
from firmware.functional import FunctionalAccelerator
from golden.contract.isa import (
    MatmulFlag,
    Opcode,
    command_header,
    parse_command_header,
    split_responses,
)
from sim.hostfuzz import CATEGORIES, cases, check_case, host_fuzz
from sim.soak import (
    BREAK,
    CONFIGS,
    RESET,
    Program,
    Reply,
    SoakModel,
    main,
    program_seed,
    random_program,
    run_program,
    shrink,
    soak,
    valid_command,
    write_summary,
)


class ModelDevice:
    """The functional model as the device under test, with a fault planted by ``plant``
    (response words, request words -> response words, or None for a hang)."""

    def __init__(self, config, plant=None):
        self.model = FunctionalAccelerator(config)
        self.plant = plant

    def run(self, words, *, reset, p_idle, p_stall, seed, max_cycles):
        if reset:
            self.model.reset()
        response = self.model.run(words)
        waiting = bool(self.model.pending)
        if self.plant is not None:
            response = self.plant(response, words)
            if response is None:
                return Reply([], int(self.model.errors), True, max_cycles)
        return Reply(response, int(self.model.errors), waiting)

    def close(self):
        pass


def _flip_sync_token(response, words):
    """Flip bit 3 of the token of every SYNC response."""
    out, pos = list(response), 0
    for header, payload in split_responses(response):
        if header.opcode == Opcode.SYNC:
            out[pos + 1] ^= 1 << 3
        pos += len(payload) + 2
    return out


def _hang_on_accumulate(response, words):
    """Never finish a request that holds a MATMUL with ACCUMULATE (the preamble and the valid
    commands have none)."""
    return None if command_header(Opcode.MATMUL, MatmulFlag.ACCUMULATE) in words else response


def _program(config_name, rng, n=12, extra=()):
    cfg = CONFIGS[config_name]
    steps = [tuple(valid_command(cfg, rng)) for _ in range(n)]
    steps[3:3] = [BREAK, RESET, *extra]
    return Program(seed=0, config=config_name, p_idle=0.3, p_stall=0.3, steps=tuple(steps),
                   malformed=False)


@pytest.mark.cosim
def test_a_short_soak_on_the_rtl(seed, tmp_path):
    """300 programs on the native Verilator harness, every configuration: no mismatch, no
    hang, and the mix the summary reports."""
    summary = soak(300, seed, out=tmp_path, progress=False)
    assert (summary.mismatches, summary.hangs) == (0, 0), summary.failures
    assert summary.programs == 300 and set(summary.by_config) == set(CONFIGS)
    assert 0.5 < summary.malformed / summary.programs < 0.9
    assert summary.flagged >= summary.malformed // 2 and summary.resets_mid_command > 0
    assert summary.rtl_cycles > 0
    write_summary(summary, tmp_path)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["ok"] and data["programs"] == 300 and 0 < data["malformed_fraction"] < 1
    assert "| **mismatches** | **0** |" in (tmp_path / "summary.md").read_text()


def test_a_planted_mismatch_is_caught_and_shrunk(tmp_path):
    """A device that corrupts the token of SYNC responses: the soak counts the mismatch,
    names the seed and shrinks the program to the one SYNC command."""
    name = "2x3-2bit"
    program = _program(name, random.Random(1), extra=[tuple(commands.sync(0x1234))])
    device = ModelDevice(CONFIGS[name], _flip_sync_token)
    outcome = run_program(program, device)
    assert outcome.failure.kind == "mismatch" and "SYNC" in outcome.failure.detail
    small, failure, runs = shrink(program, device, outcome.failure, seconds=30)
    assert failure.kind == "mismatch" and runs > 1
    (step,) = small.steps                                  # one SYNC (of any token)
    assert len(step) == 3 and parse_command_header(step[0])[0] == Opcode.SYNC
    assert (small.p_idle, small.p_stall) == (0.0, 0.0)
    # Through soak(): counted, recorded, and the run is not ok.
    devices = {n: ModelDevice(c, _flip_sync_token) for n, c in CONFIGS.items()}
    summary = soak(40, 7, out=tmp_path, devices=devices, shrink_seconds=5, progress=False)
    assert summary.mismatches > 0 and summary.hangs == 0 and not summary.ok
    seeds = {f["seed"] for f in summary.failures}
    assert len(seeds) == summary.mismatches
    assert {p.name for p in (tmp_path / "failures").iterdir()} == {f"{s}.json" for s in seeds}
    record = json.loads((tmp_path / "failures" / f"{min(seeds)}.json").read_text())
    steps = [s for s in record["shrunk"]["steps"] if not isinstance(s, str)]
    assert [parse_command_header(s[0])[0] for s in steps] == [Opcode.SYNC]


def test_a_planted_hang_is_counted_and_shrunk(tmp_path):
    """A device that never finishes a request holding an accumulating MATMUL: a hang, not a
    crash of the soak; it shrinks to that MATMUL alone."""
    name = "4x4-1.6bit"
    matmul = tuple(commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1, k_tiles=1, n_tiles=1,
                                   accumulate=True))
    program = _program(name, random.Random(2), extra=[matmul])
    device = ModelDevice(CONFIGS[name], _hang_on_accumulate)
    outcome = run_program(program, device)
    assert outcome.failure.kind == "hang"
    small, failure, _ = shrink(program, device, outcome.failure, seconds=30)
    assert failure.kind == "hang" and len(small.steps) == 1
    assert small.steps[0] == matmul
    devices = {n: ModelDevice(c, _hang_on_accumulate) for n, c in CONFIGS.items()}
    summary = soak(20, 3, out=tmp_path, devices=devices, shrink_seconds=2, progress=False)
    # (A request that ends inside a command is expected to wait: there the planted "hang"
    # is a missing response instead, a mismatch.)
    assert summary.hangs > 0 and summary.programs == 20 and not summary.ok
    assert len(summary.failures) == summary.hangs + summary.mismatches


def test_the_functional_model_agrees_with_itself(tmp_path):
    """The soak of the model against the model: no failure (the comparison, the cycle bounds'
    bookkeeping and the waiting rule have no false alarms)."""
    devices = {n: ModelDevice(c) for n, c in CONFIGS.items()}
    summary = soak(300, 11, out=tmp_path, devices=devices, progress=False)
    assert summary.ok and summary.programs == 300


def test_valid_programs_raise_no_flag_and_replay_from_their_seed():
    valid = 0
    for i in range(400):
        seed = program_seed(5, i)
        program = random_program(seed)
        assert random_program(seed) == program
        if program.malformed:
            continue
        valid += 1
        model = SoakModel(program.cfg)
        for reset, words in program.requests():
            if reset:
                model.reset()
            model.run(words)
        assert not model.seen and not model.pending, program.describe()
    assert valid > 50


def test_the_cli_writes_the_summary(tmp_path, capsys):
    """``python -m sim.soak --n 0``: no program, the host fuzz, the summary files."""
    assert main(["--n", "0", "--seed", "4", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["programs"] == 0 and data["run_seed"] == 4
    assert data["host_fuzz"]["failed"] == 0 and data["host_fuzz"]["cases"] > 100
    assert "Host-side bad input" in (tmp_path / "summary.md").read_text()
    assert "run seed 4" in capsys.readouterr().out


def test_host_fuzz_counts_every_category():
    result = host_fuzz(seed=3, per_category=2)
    assert set(result["categories"]) == set(CATEGORIES)
    assert all(n > 0 for n, _ in result["categories"].values())
    assert result["failed"] == 0, result["failures"]


@pytest.mark.parametrize("case", cases(seed=1, per_category=2),
                         ids=lambda c: f"{c.category}-{c.name}")
def test_bad_host_input_gives_a_clear_error(case):
    assert check_case(case) is None
