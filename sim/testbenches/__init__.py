# SPDX-License-Identifier: BSD-2-Clause
"""Testbenches: each block of hw/ on each simulator, named ``<block>_<simulator>``.

=====================  ===============================  =====================================
block                  amaranth.sim                     generated Verilog under cocotb
=====================  ===============================  =====================================
``BufferedArray``      :mod:`.array_amaranth`           :mod:`.array_cocotb`
``SystolicArray`` core :mod:`.core_amaranth`            :mod:`.core_cocotb` (RTL or netlist)
``Accelerator``        :mod:`.accelerator_amaranth`     :mod:`.accelerator_cocotb`
=====================  ===============================  =====================================

:mod:`.scenario` computes the array benches' stimulus and golden results once, for every
simulator; :mod:`.streams` holds the amaranth.sim stream drivers (random idle cycles in,
random backpressure out); :mod:`.cocotb_modules` the code that runs inside a cocotb simulator;
``hdl/accel_harness.v`` the Verilog harness that streams whole programs at simulator speed.
The host side imports golden/, hw/ and firmware/; the cocotb modules import nothing of the
project.
"""
