# SPDX-License-Identifier: BSD-2-Clause
"""Simulation: the accelerator's RTL run against the golden model. The top layer, beside
reports/: sim/ may import golden/, hw/ and firmware/, never reports/.

Three things live here:

* **entry points and co-simulation backends**: ``python -m sim`` (:mod:`sim.cosim`, ``make
  sim``), ``python -m sim.generate`` (text generation on the RTL), the runtime backends that
  run programs on amaranth.sim, on the generated Verilog in a native Verilator harness or
  under cocotb (:mod:`sim.backends`), and the tools behind them (:mod:`sim.native`,
  :mod:`sim.simulators`, :mod:`sim.runner`); ``python -m sim.soak`` (``make soak``: random
  programs on the functional model and the RTL, compared; :mod:`sim.hostfuzz`, bad input at
  the host's API);
* **testbenches** (:mod:`sim.testbenches`): each block on each simulator, named
  ``<block>_<simulator>``;
* **benchmarks** (:mod:`sim.benchmarks`): figures measured in one run, written under
  build/bench/.
"""
