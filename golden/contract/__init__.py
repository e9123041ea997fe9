# SPDX-License-Identifier: BSD-2-Clause
"""The contract between the hardware and everything that talks to it, defined once.

* :mod:`~golden.contract.config`: :class:`~golden.contract.config.AcceleratorConfig`, the one
  configuration, and the arithmetic of bit growth;
* :mod:`~golden.contract.isa`: the command set (opcodes, flags, header layouts, argument
  limits, error rules, counters, version) and the parser of command streams;
* :mod:`~golden.contract.codecs`: weight codes (the hardware's and the checkpoint's, with the
  reason for each), the 1.6-bit format, memory and stream words;
* :mod:`~golden.contract.tileloop`: the tile loop of a MATMUL, the one description of the
  hardware's timing and work (cycles, bounds, op counts);
* :mod:`~golden.contract.workloads`: model shapes and the default prompt;
* :mod:`~golden.contract.paths`: where generated files go.

The gateware (hw/), the host side (firmware/), the golden model, the benches (sim/) and the
reports all read these modules. This package imports nothing but the standard library, numpy
and Amaranth's enum and data layouts: never PyTorch, and nothing else of the project.
"""
