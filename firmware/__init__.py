# SPDX-License-Identifier: BSD-2-Clause
"""The host side: the middle layer. firmware/ may import golden/; never hw/, sim/ or reports/.

* :mod:`firmware.compiler` lowers integer BitLinear products to weight images and command
  programs (:mod:`firmware.commands` encodes each command, :mod:`firmware.tiling` lays out the
  tiles);
* :mod:`firmware.runtime` runs programs on interchangeable backends, keeping weights resident
  by :mod:`firmware.placement`'s rule; :mod:`firmware.functional` is the numpy model of the
  accelerator, the fast backend and the reference of the differential tests;
* :mod:`firmware.cheader` generates the C header of the command set for ``firmware/c/``, the C
  command encoder of a CPU next to the accelerator.
"""
