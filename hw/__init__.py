# SPDX-License-Identifier: BSD-2-Clause
"""The gateware, in Amaranth: the middle layer. hw/ may import golden/ (the contract, never
PyTorch); never firmware/, sim/ or reports/.

* the array: :mod:`hw.pe` (processing elements and element types), :mod:`hw.array`
  (``SystolicArray``, ``BufferedArray`` and the probe set), :mod:`hw.mac` and :mod:`hw.fp16`
  (the INT8 and FP16 baselines on the same skeleton);
* the accelerator: :mod:`hw.accelerator` (the top: memories and wiring) of
  :mod:`hw.controller`, :mod:`hw.loader`, :mod:`hw.engine` (with :mod:`hw.weight_source`),
  :mod:`hw.responder` and :mod:`hw.counters`; :mod:`hw.serial_mul` for the controller's checks;
  :mod:`hw.component`, the base of every configured block;
* the flow: :mod:`hw.designs` (the one registry of buildable designs), :mod:`hw.verilog`
  (Verilog generation), :mod:`hw.yosys` (the one way to run Yosys: scripts and statistics),
  :mod:`hw.fpga` (devices, nextpnr) and :mod:`hw.harness` (the IO harness of FPGA builds);
  ``python -m hw`` writes a design's Verilog.
"""
