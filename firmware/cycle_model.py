# SPDX-License-Identifier: BSD-2-Clause
"""Analytical cycle model of the accelerator's MATMUL (exact for the RTL's COMPUTE counter).

With ``R = rows``, ``C = cols``, ``T = ceil(K / R) * ceil(N / C)`` tiles and ``M`` tokens:

* the first tile's ``R`` weight rows load in ``R`` cycles (one row per cycle);
* each tile then occupies the array for ``P = max(M, R)`` cycles: ``M`` vectors back to back,
  or, when ``M < R``, the ``R`` cycles it takes to load the next tile (the weight memory
  delivers one row per cycle; loading overlaps computing, so this is the only cost);
* the last tile's ``M`` vectors are followed by the array's latency ``R + C + 1``
  (:attr:`AcceleratorConfig.array_latency`) and one cycle to write the last accumulator, plus
  one cycle for the engine to start.

::

    cycles = R + (T - 1) * P + M + (R + C + 1) + 1

The bound that no schedule on this hardware can beat is ``T * P``: every tile needs ``M``
vector slots and ``R`` weight-row slots, and each resource delivers one per cycle. Prefill
(``M >= R``) is bound by the array (``R * C`` MACs per cycle), decode (``M < R``) by the
weight memory (``C`` weights per cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.config import AcceleratorConfig, check_positive

__all__ = ["MatmulEstimate", "matmul_cycles"]


@dataclass(frozen=True)
class MatmulEstimate:
    m: int
    k: int
    n: int
    tiles: int
    cycles: int            # predicted COMPUTE cycles
    bound_cycles: int      # T * max(M, R)
    macs: int              # useful multiply-accumulates, M * K * N
    array_macs: int        # MACs issued to the array (zero padding included)
    peak_macs_per_cycle: int

    @property
    def utilization(self) -> float:
        """Useful MACs per cycle over the array's rows * cols."""
        return self.macs / (self.cycles * self.peak_macs_per_cycle)

    @property
    def bound_fraction(self) -> float:
        """Predicted cycles against the bound (1.0 = the bound itself)."""
        return self.bound_cycles / self.cycles


def matmul_cycles(config: AcceleratorConfig, *, m: int, k: int, n: int) -> MatmulEstimate:
    check_positive(m=m, k=k, n=n)
    r, c = config.rows, config.cols
    tiles = config.k_tiles(k) * config.n_tiles(n)
    period = max(m, r)
    cycles = r + (tiles - 1) * period + m + config.array_latency + 1
    return MatmulEstimate(m=m, k=k, n=n, tiles=tiles, cycles=cycles,
                          bound_cycles=tiles * period, macs=m * k * n,
                          array_macs=m * tiles * r * c, peak_macs_per_cycle=r * c)
