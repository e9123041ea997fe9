# SPDX-License-Identifier: BSD-2-Clause
"""Encodings shared by the hardware and the host, defined once.

Both hw/ (gateware) and firmware/ (host side) import these enums, so the two cannot disagree.
They are Amaranth enums with an explicit shape: in gateware they are signal shapes (and show by
name in waveforms); on the host they are ordinary Python enums.
"""

from amaranth.lib import enum

__all__ = ["ILLEGAL_WEIGHT_CODE", "WEIGHT_CODE_BITS", "WeightCode"]

WEIGHT_CODE_BITS = 2


class WeightCode(enum.Enum, shape=WEIGHT_CODE_BITS):
    """2-bit code of one ternary weight in weight memory.

    The code is the weight itself in 2-bit two's complement, so ``code = w & 0b11`` encodes and
    sign extension decodes. The fourth pattern, ``0b10`` (-2), is not a weight: the hardware
    treats it as zero and the firmware refuses to produce it.
    """

    ZERO = 0b00
    POS = 0b01
    NEG = 0b11


ILLEGAL_WEIGHT_CODE = 0b10
