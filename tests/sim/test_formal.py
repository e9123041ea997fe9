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
                  "streams", "accumulators", "resp_beats", "load_words", "command_words",
                  "axi_reader", "axi_errors"}
    with_bugs = {name.split("_")[0] if name.startswith("array") else name
                 for name, _ in BUGS}
    assert properties <= with_bugs
    # Every check has a planted bug but the arrays whose tiles have at most two beats (two
    # rows, or two or three rows at two or three rows per cycle): there no write ever waits.
    assert {name for name in CHECKS if not CHECKS[name].bugs} == {
        "array_2x2", "array_3x2_w2", "array_3x2_w3"}


@pytest.mark.parametrize(("name", "bug"), BUGS, ids=[f"{n}-{b}" for n, b in BUGS])
def test_planted_bug_is_caught(name, bug, tmp_path):
    record = run_check(CHECKS[name], bug=bug, tasks=("check",), root=tmp_path)
    assert record["check"] == "FAIL", record


@pytest.mark.parametrize("name", ["array_3x2", "array_5x1_w2", "controller_sticky"])
def test_design_passes(name, tmp_path):
    record = run_check(CHECKS[name], root=tmp_path)
    assert (record["check"], record["cover"]) == ("PASS", "PASS"), record
