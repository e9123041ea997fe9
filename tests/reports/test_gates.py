# SPDX-License-Identifier: BSD-2-Clause
"""reports.gates: gate-count ratios against the published areas, and real gate counts."""

import json

import pytest

from golden.contract.config import AcceleratorConfig
from hw.designs import get_design
from hw.yosys import ReportError
from reports.gates import GateRecord, gate_count, published_ratios, ratios


def test_gate_ratios_and_published_ratios():
    def rec(design, policy, transistors, gates=10, ffs=2):
        return GateRecord(design, "pe", 16, 16, policy, 8, gates, ffs, transistors)
    records = [rec("ternary", "bit growth", 100, 10, 2), rec("int8", "bit growth", 650, 50, 10),
               rec("fp16", "bit growth", 1200), rec("ternary", "32-bit", 300),
               rec("int8", "32-bit", 900)]
    assert ratios(records, kind="pe", rows=16, cols=16, policy="bit growth") == \
        {"ternary": 1.0, "int8": 6.5, "fp16": 12.0}
    assert ratios(records, kind="pe", rows=16, cols=16, policy="bit growth",
                  metric="cells") == {"ternary": 1.0, "int8": 5.0, "fp16": 1.0}
    # FP16 keeps its 16-bit sums under the 32-bit policy.
    assert ratios(records, kind="pe", rows=16, cols=16, policy="32-bit") == \
        {"ternary": 1.0, "int8": 3.0, "fp16": 4.0}
    with pytest.raises(ReportError, match="no ternary array of 4x4"):
        ratios(records, kind="array", rows=4, cols=4, policy="bit growth")
    # Published 45 nm areas (REFERENCE.md section 7): 16b add 67, 32b add 137, 8b mult 282,
    # FP16 add 1360, FP16 mult 1640.
    assert published_ratios("bit growth") == pytest.approx(
        {"ternary": 1.0, "int8": (282 + 137) / 67, "fp16": (1640 + 1360) / 67})
    assert published_ratios("32-bit") == pytest.approx(
        {"ternary": 1.0, "int8": (282 + 137) / 137, "fp16": (1640 + 1360) / 137})


@pytest.mark.synth
def test_processing_elements_gate_counts(tmp_path):
    """The generic gate flow on real elements: the ternary one is the smallest by far, and the
    parsed counts add up to Yosys' own total."""
    cfg = AcceleratorConfig()
    counts = {}
    for name in ("ternary", "int8"):
        pe = get_design(name).pe(cfg)
        counts[name] = gate_count(pe, name=f"pe_{name}", workdir=tmp_path / name)
        stat = json.loads((tmp_path / name / f"pe_{name}.stat.json").read_text())
        module = stat["modules"][f"\\pe_{name}"]
        assert sum(counts[name][:2]) == module["num_cells"]
        assert counts[name][2] == int(module["estimated_num_transistors"])
    (t_gates, t_ffs, _), (i_gates, i_ffs, _) = counts["ternary"], counts["int8"]
    # 13 partial-sum bits, 8 activation bits, 1 bank bit, 2 x 2 weight bits, 2 bits of the
    # selected weight, 2 write-enable bits passed to the right neighbour.
    assert t_ffs == 13 + 8 + 1 + 4 + 2 + 2
    assert 5 * (t_gates + t_ffs) <= i_gates + i_ffs
