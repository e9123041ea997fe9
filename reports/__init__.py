# SPDX-License-Identifier: BSD-2-Clause
"""Reports: the top layer, beside sim/. reports/ may import golden/, hw/ and firmware/; it
reads what sim/ wrote (build/sim/cosim.json) or calls sim's documented API
(:func:`sim.cosim.cosimulate`), never a ``__main__``.

* ``python -m reports fpga`` (``make fpga``): :mod:`reports.fpga` (FPGA builds of every
  registered design) and :mod:`reports.gates` (gate counts);
* ``python -m reports energy`` (``make report``) and ``summary`` (after ``make sim``): the
  energy and area model, :mod:`reports.energy`.

``FPGA.md`` and ``ENERGY.md`` are measured tables, committed from one run.
"""
