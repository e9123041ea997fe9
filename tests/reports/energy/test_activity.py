# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""reports.energy.activity: toggle counting, by hand and on the RTL's probe set."""

import numpy as np
import pytest

from golden.contract.codecs import WeightCode
from golden.contract.config import AcceleratorConfig
from reports.energy.activity import ToggleCounter


def test_count_toggles_by_hand():
    """One element: the activation input, the selected code, the operand and the partial sum,
    sampled over four cycles."""
    counter = ToggleCounter(["addend", "psum"], cells=1, act_bits=8)
    zero, pos, neg = (WeightCode.ZERO.value, WeightCode.POS.value, WeightCode.NEG.value)
    #             addend  psum   a_in   w_sel
    counter.add([0x00, 0x000, 0x00, zero])
    counter.add([0x00, 0x000, 0xFF, zero])      # operand isolated: the activation toggles
    counter.add([0x0F, 0x00F, 0x0F, pos])
    counter.add([0xF3, 0x00F, 0x0C, neg])       # -12: ~0x0C
    t = counter.toggles()
    # addend 0 -> 0x0F (4 bits) -> 0xF3 (6 bits)
    assert t.by_class["addend"] == 10 and t.addend_replayed == 10
    # without isolation the operand follows the activation under the zero weight:
    # 0 -> 0xFF (8) -> 0x0F (4) -> ~0x0C = 0xF3 (6)
    assert t.addend_no_isolation == 18
    assert t.by_class["psum"] == 4 and t.cycles == 4
    assert t.signals == {"addend": 1, "psum": 1, "activation pipeline": 0, "weight banks": 0}
    assert t.isolation_saving == pytest.approx(1 - 10 / 18)


def test_toggle_counter_refuses_bad_input():
    with pytest.raises(ValueError, match="unknown signal class"):
        ToggleCounter(["adder"], cells=1, act_bits=8)
    with pytest.raises(ValueError, match="no processing elements"):
        ToggleCounter(["psum"], cells=0, act_bits=8)
    counter = ToggleCounter(["psum"], cells=1, act_bits=8)
    with pytest.raises(ValueError, match="a sample has 2 values, not 3"):
        counter.add([0, 0])


def test_probe_set_covers_every_element():
    """The counter reads the array's documented probe set: every element, the skew and edge
    registers, nothing found by name."""
    from amaranth.sim import Simulator

    from hw.array import SystolicArray

    cfg = AcceleratorConfig(rows=3, cols=2)
    dut = SystolicArray(cfg)
    with pytest.raises(RuntimeError, match="not been elaborated"):
        _ = dut.probes
    Simulator(dut)
    counter, values = ToggleCounter.of(dut.probes, act_bits=cfg.act_bits)
    assert counter.cells == 6
    signals = counter.toggles().signals
    assert signals["addend"] == signals["psum"] == 6
    assert signals["weight banks"] == 3 * 6
    assert signals["activation pipeline"] == 6 + (0 + 1 + 2) + 2
    assert len(values) == len(counter.classes) + 2 * 6


@pytest.mark.cosim
@pytest.mark.parametrize("weight", [0, 1])
def test_isolation_in_rtl(rng, weight):
    """All-zero weights: the operand never toggles (saving 100%); all +1: nothing to save.
    The replayed operand agrees with the sampled one."""
    from reports.energy.activity import run_activity

    cfg = AcceleratorConfig(rows=4, cols=4)
    x = rng.integers(-128, 128, size=(12, 8)).astype(np.int8)
    w = np.full((4, 8), weight, dtype=np.int8)
    r = run_activity(cfg, x, w, label=f"w{weight}")
    assert r.bit_exact
    t = r.toggles
    assert t.addend_replayed == t.by_class["addend"]
    assert t.addend_no_isolation > 0
    assert t.by_class["activation pipeline"] > 0
    if weight == 0:
        assert t.by_class["addend"] == 0 and t.isolation_saving == 1.0
        assert t.by_class["psum"] == 0          # the sums stay 0
    else:
        assert t.by_class["addend"] == t.addend_no_isolation
        assert t.by_class["psum"] > 0
