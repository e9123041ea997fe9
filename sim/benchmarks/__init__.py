# SPDX-License-Identifier: BSD-2-Clause
"""Benchmarks: figures measured in one run, written as JSON under build/bench/.

* ``python -m sim.benchmarks.array`` (``make bench``): MATMUL cycles of the 2B-4T shapes on the
  RTL, beside the tile loop's (:mod:`golden.contract.tileloop`);
* ``python -m sim.benchmarks.cosim``: co-simulation speed of every backend;
* :mod:`.records`: the shared record build/bench/cosim.json (``make sim`` and ``python -m
  sim.generate`` add their wall times to it).

They may import golden/, hw/, firmware/ and the rest of sim/; never reports/.
"""
