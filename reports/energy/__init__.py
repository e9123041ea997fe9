# SPDX-License-Identifier: BSD-2-Clause
"""The energy and area model (``make report``, ``python -m reports energy``), by job:

* :mod:`.data`: the published figures (``energy_data.toml``, each with its source) and the
  rules that derive what the sources lack;
* :mod:`.workload`: what a product does on the accelerator, counted by the tile loop over the
  firmware's program (:mod:`golden.contract.tileloop`), and which weights stay resident;
* :mod:`.pricing`: the published convention and the honest total of one workload on one array
  type (ternary, binary, INT4, INT8, FP16, FP32);
* :mod:`.activity`: toggle counts of the array's probe set in RTL simulation;
* :mod:`.traffic`: DRAM weight traffic per decoded token with the weights over AXI4, by the
  rule of the MEM_BYTES / MEM_BURSTS counters (or those counters, from an AXI ``make sim``);
* :mod:`.collect`: every figure of the report, as one dictionary (the JSON);
* :mod:`.render` and :mod:`.plots`: Markdown and figures from those values only;
* :mod:`.report`: the files under build/reports/.

It may import golden/, hw/ and firmware/; of sim/ it reads build/sim/cosim.json, or calls
:func:`sim.cosim.cosimulate` (the functional model) when that file is missing.
"""
