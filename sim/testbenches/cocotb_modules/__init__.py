# SPDX-License-Identifier: BSD-2-Clause
"""cocotb test modules: the code that runs inside the simulator process.

They import neither PyTorch nor Amaranth (the simulator process stays light): stimulus arrives
pre-packed as JSON written by the host side (:mod:`sim.testbenches`), raw results go back as
JSON. :mod:`.drivers` holds what they share. They import cocotb and each other, nothing else
of the project.
"""
