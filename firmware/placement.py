# SPDX-License-Identifier: BSD-2-Clause
"""Which weights stay resident in weight memory: the one placement rule.

Weight images are placed in the order they are first used, each right after the previous
resident one, as long as it fits; an image that does not fit beside the earlier ones is not
resident (its product loads its weights inline, pass by pass). Nothing is ever evicted. The
runtime (:class:`firmware.runtime.Runtime`) places images in weight-memory words; the energy
model (:mod:`reports.energy`) places layers by the same rule in bits, for array types whose
weights are wider or narrower than the accelerator's.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["ResidentPlacement"]


class ResidentPlacement:
    """First-use, first-fit placement of items in a memory of ``capacity`` units.

    :meth:`place` returns the item's offset, placing it on its first call if it fits beside
    the items placed before; None if it does not (and never will: nothing is evicted).
    """

    def __init__(self, capacity: float):
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, not {capacity!r}")
        self.capacity = capacity
        self.used = 0
        self._offsets: dict[Hashable, float] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._offsets

    def place(self, key: Hashable, size: float) -> float | None:
        if key in self._offsets:
            return self._offsets[key]
        if size < 0:
            raise ValueError(f"size must not be negative, not {size!r}")
        if self.used + size > self.capacity:
            return None
        self._offsets[key] = self.used
        self.used += size
        return self._offsets[key]
