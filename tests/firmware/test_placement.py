# SPDX-License-Identifier: BSD-2-Clause
"""firmware.placement: first use, first fit, nothing evicted."""

import pytest

from firmware.placement import ResidentPlacement


def test_first_use_first_fit():
    memory = ResidentPlacement(10)
    assert memory.place("a", 4) == 0
    assert memory.place("b", 7) is None             # does not fit beside a
    assert memory.place("c", 6) == 4                # fits exactly
    assert memory.place("a", 4) == 0 and "a" in memory and "b" not in memory
    assert memory.place("d", 0) == 10 and memory.used == 10


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="capacity must not be negative, not -1"):
        ResidentPlacement(-1)
    with pytest.raises(ValueError, match="size must not be negative, not -2"):
        ResidentPlacement(4).place("x", -2)
