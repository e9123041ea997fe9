# SPDX-License-Identifier: BSD-2-Clause
"""CRC-32 of 32-bit stream words, one word per cycle: the check word of every command and
response (:func:`golden.contract.isa.crc32_words`, which is :func:`zlib.crc32` of the words'
little-endian bytes).

The CRC of IEEE 802.3 is linear over GF(2): one step over a 32-bit word makes each bit of the
new remainder the XOR of some bits of the old remainder and of the word. :func:`crc32_step`
finds those sets once, in Python, by running the bitwise algorithm on symbols, and the
gateware is the 32 XOR trees, with no loop and no table. With words as wide as the remainder,
bit ``i`` of the word always enters where bit ``i`` of the remainder does, so each tree is over
bits of ``remainder ^ word`` (12 to 17 of them): 32 two-input XORs, then 32 small trees.

One :class:`Crc32` serves the whole accelerator: the controller feeds it the words of a
command, and lends it to the responder for the words of a response (the two never overlap).
"""

from functools import cache

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.config import WORD_BITS
from golden.contract.isa import CRC32_INIT, CRC32_POLY

__all__ = ["Crc32", "crc32_step", "crc32_taps"]


@cache
def crc32_taps() -> tuple[tuple[int, int], ...]:
    """For each bit of the next remainder, (mask of remainder bits, mask of word bits) whose
    XOR it is."""
    # Each bit is a symbol: a 64-bit mask over the remainder (bits 0-31) and the word (32-63).
    state = [1 << i for i in range(WORD_BITS)]
    for i in range(WORD_BITS):
        feedback = state[0] ^ (1 << (WORD_BITS + i))
        state = [state[j + 1] if j + 1 < WORD_BITS else 0 for j in range(WORD_BITS)]
        state = [s ^ (feedback if CRC32_POLY >> j & 1 else 0) for j, s in enumerate(state)]
    mask = (1 << WORD_BITS) - 1
    return tuple((s & mask, s >> WORD_BITS) for s in state)


def crc32_step(remainder, word):
    """The remainder after ``word`` (Amaranth values of 32 bits), as 32 XOR trees over
    ``remainder ^ word``."""
    mixed = remainder ^ word
    bits = []
    for state_mask, word_mask in crc32_taps():
        assert state_mask == word_mask        # word bit i enters with remainder bit i
        bits.append(Cat(*(mixed[j] for j in range(WORD_BITS) if state_mask >> j & 1)).xor())
    return Cat(*bits)


class Crc32(wiring.Component):
    """The running CRC of the words of one command or response.

    The remainder is a register: ``check`` covers the words added up to the previous cycle.

    Members
    -------
    clear : In(1)
        Restart: the remainder returns to :data:`CRC32_INIT` (``en`` is ignored). The next
        word added is the first of a new command or response.
    en : In(1)
        Add ``word``.
    word : In(32)
    check : Out(32)
        The check word of the words added since the last ``clear``: what the CRC word must
        equal.
    """

    def __init__(self):
        super().__init__({"clear": In(1), "en": In(1), "word": In(WORD_BITS),
                          "check": Out(WORD_BITS)})

    def elaborate(self, platform):
        m = Module()
        remainder = Signal(WORD_BITS, init=CRC32_INIT)
        # A synchronous restart (not a multiplexer in front of the trees, as a `start` that
        # adds the first word to CRC32_INIT would be) keeps each tree's inputs to remainder and
        # word bits alone: about half the LUTs.
        with m.If(self.clear):
            m.d.sync += remainder.eq(CRC32_INIT)
        with m.Elif(self.en):
            m.d.sync += remainder.eq(crc32_step(remainder, self.word))
        m.d.comb += self.check.eq(remainder ^ CRC32_INIT)
        return m
