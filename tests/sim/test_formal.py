# SPDX-License-Identifier: BSD-2-Clause
"""The formal checks of :mod:`sim.formal` catch what they claim to: every planted bug makes its
check fail (SymbiYosys finds a counterexample), and the real blocks pass the cheaper checks.
The full set, with depths and times, is ``make formal``."""

import pytest

from sim.formal import CHECKS, run_check

pytestmark = pytest.mark.formal

BUGS = [(name, bug) for name, check in CHECKS.items() for bug in check.bugs]


def test_every_property_has_a_planted_bug():
    properties = {"array", "controller_sticky", "controller_clear", "controller_progress",
                  "streams", "accumulators", "resp_beats", "load_words", "axi_reader",
                  "axi_errors"}
    with_bugs = {name.split("_")[0] if name.startswith("array") else name
                 for name, _ in BUGS}
    assert properties <= with_bugs
    # Every check but array_2x2 (two rows: no write ever waits) has a planted bug.
    assert {name for name in CHECKS if name != "array_2x2"} == {name for name, _ in BUGS}


@pytest.mark.parametrize(("name", "bug"), BUGS, ids=[f"{n}-{b}" for n, b in BUGS])
def test_planted_bug_is_caught(name, bug, tmp_path):
    record = run_check(CHECKS[name], bug=bug, tasks=("check",), root=tmp_path)
    assert record["check"] == "FAIL", record


@pytest.mark.parametrize("name", ["array_3x2", "array_5x1_w2", "controller_sticky"])
def test_design_passes(name, tmp_path):
    record = run_check(CHECKS[name], root=tmp_path)
    assert (record["check"], record["cover"]) == ("PASS", "PASS"), record
