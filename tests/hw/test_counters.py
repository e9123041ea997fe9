# SPDX-License-Identifier: BSD-2-Clause
"""hw.counters: the split counters (low half, registered carry, high half), read through the
snapshot, equal one whole count per counter at the snapshot's cycle (amaranth.sim), with a
low half of 5 bits so that its carry is taken hundreds of times, some of them in the very
cycle of a snapshot."""

import random

import pytest
from amaranth.sim import Simulator

from golden.contract.config import AcceleratorConfig
from golden.contract.isa import COUNTER_WORDS, Counter
from hw.counters import Counters

EVENTS = ("busy", "compute", "stall_in", "stall_out", "vector", "zero_macs")
OWN = [c for c in Counter if c not in (Counter.MEM_BYTES, Counter.MEM_BURSTS)]


class _SmallLowHalf(Counters):
    LOW_BITS = 5


def _increments(late: dict, macs: int) -> dict:
    """What each counter adds in a cycle, from the events registered the cycle before."""
    return {Counter.CYCLES: 1, Counter.BUSY: late["busy"], Counter.COMPUTE: late["compute"],
            Counter.STALL_IN: late["stall_in"], Counter.STALL_OUT: late["stall_out"],
            Counter.MACS: macs * late["vector"], Counter.ZERO_MACS: late["zero_macs"]}


def _run(seed: int, snapshots: int = 25):
    """Random events every cycle and a rare clear; now and then a snapshot, then (from three
    cycles later, as the responder) every word read: its index held two cycles, the word
    then sampled. Returns, per snapshot, the words read, the reference counts at the
    snapshot's cycle and which counters had a carry in its register in that cycle."""
    cfg = AcceleratorConfig(rows=2, cols=3)
    dut = _SmallLowHalf(cfg)
    macs, low = cfg.rows * cfg.cols, _SmallLowHalf.LOW_BITS
    rng = random.Random(seed)
    results = []

    async def bench(ctx):
        count = dict.fromkeys(OWN, 0)            # the whole count, cycle by cycle
        late = dict.fromkeys(EVENTS, 0)          # the registered events
        carrying = dict.fromkeys(OWN, False)     # a carry from the low half not yet added

        async def cycle(*, snapshot=0, clear=0, index=0):
            nonlocal late
            events = {e: int(rng.random() < 0.5) for e in EVENTS[:-1]}
            events["zero_macs"] = rng.randrange(macs + 1) if events["vector"] else 0
            for name, value in events.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.snapshot, snapshot)
            ctx.set(dut.clear, clear)
            ctx.set(dut.index, index)
            await ctx.tick()
            add = _increments(late, macs)
            for c in OWN:
                carrying[c] = not clear and (count[c] % (1 << low)) + add[c] >= 1 << low
                count[c] = 0 if clear else count[c] + add[c]
            late = events

        for _ in range(snapshots):
            for _ in range(rng.randrange(5, 60)):
                await cycle(clear=int(rng.random() < 0.01))
            at_snapshot = dict(count), dict(carrying)
            await cycle(snapshot=1)
            for _ in range(2):
                await cycle()
            words = []
            for index in range(COUNTER_WORDS):
                await cycle(index=index)
                await cycle(index=index)
                words.append(ctx.get(dut.word))
            results.append((words, *at_snapshot))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


@pytest.mark.parametrize("seed", [1, 2])
def test_split_counters_read_whole_counts(seed):
    results = _run(seed)
    highs = carries = 0
    for words, counts, carrying in results:
        for c in OWN:
            value = words[2 * c] | words[2 * c + 1] << 32
            assert value == counts[c], (c.name, value, counts[c])
            highs += counts[c] >= 1 << _SmallLowHalf.LOW_BITS
            # A snapshot with a carry in its register: had the high half been taken in the
            # same cycle as the low one, it would be one short here.
            carries += carrying[c]
    assert highs > 0 and carries > 0
