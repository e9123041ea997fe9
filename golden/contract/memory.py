# SPDX-License-Identifier: BSD-2-Clause
"""Weights from external memory in the cycle model: bandwidth, latency, outstanding bursts.

When the weights stream from DRAM over AXI4 (:mod:`hw.axi`), a tile can enter the array only
once its bytes have arrived. A memory system is described by three numbers (and the burst size
the reader uses):

* ``bytes_per_cycle``: the sustained bandwidth, at the accelerator's clock;
* ``latency``: cycles from a burst's address to its first data beat;
* ``outstanding``: bursts the reader keeps in flight (:class:`hw.axi.AxiWeightReader`).

By Little's law a reader with ``outstanding`` bursts of ``burst_bytes`` in flight, each taking
``latency + burst_bytes / bytes_per_cycle`` cycles, sustains at most ``outstanding *
burst_bytes / (latency + burst_bytes / bytes_per_cycle)`` bytes per cycle: too few outstanding
bursts leave bandwidth unused however fast the memory is (:attr:`MemorySystem.sustained`).

A MATMUL then takes the longer of its array-side time (:class:`~golden.contract.tileloop.
MatmulWork`) and the time its weight bytes take to arrive, plus one latency before the first
tile (:func:`external_matmul_cycles`). For decode (M = 1) the array side is short and the
memory bounds the MATMUL: that is the regime of :func:`decode_projection`, which projects the
decode speed of a whole model from these figures.

A MATMUL whose weights were prefetched (:attr:`golden.contract.isa.Opcode.PREFETCH`) finds
its first tile in the reader: it pays :data:`PREFETCHED_WAIT` cycles instead of the latency
(``external_matmul_cycles(..., prefetched=True)``). A MATMUL that finds other, stale words
prefetched discards them first, one per cycle (``discard_words``). Both measured on the RTL
with AxiRamRead at a fixed latency (``tests/sim/test_axi_weights.py``): a stall-free MATMUL
takes the tile loop plus its first-tile wait L; prefetched, the tile loop plus 1; after a
prefetch of ``s`` other words that are all in the reader's buffer, the tile loop plus ``L +
s``. Both rules are exact when the prefetched words fit in the reader's buffer
(``axi_outstanding * axi_max_burst`` words). Beyond it, the words after the buffer's are read
only as the buffer empties, so they pay the latency again unless the memory keeps ahead (the
``max`` of :func:`external_matmul_cycles`, Little's law); and stale words beyond it arrive at
the memory's pace while they are discarded: ``s`` is then a lower bound of the discard.

What a MATMUL moves over the bus is counted here once (:func:`matmul_traffic`): the words it
reads (:func:`matmul_words`), split into bursts as the reader splits them
(:func:`axi_bursts`). The RTL's counters MEM_BYTES and MEM_BURSTS, the functional model's and
the energy report's DRAM traffic are these counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import AXI4_MAX_BURST, AXI_PAGE_BYTES, AcceleratorConfig
from .isa import MatmulFlag, Opcode, split_commands
from .tileloop import MatmulWork, layer_work, matmul_work
from .workloads import ModelShape

__all__ = ["BITNET_KV260", "PREFETCHED_WAIT", "MemorySystem", "WeightTraffic", "axi_bursts",
           "decode_projection", "external_matmul_cycles", "matmul_traffic", "matmul_words",
           "program_traffic",
           "tile_bytes"]


def axi_bursts(addr: int, length: int, *, beat_bytes: int, max_burst: int
               ) -> list[tuple[int, int]]:
    """The INCR bursts, as (byte address, beats), that the weight reader
    (:class:`hw.axi.AxiWeightReader`) splits a read of ``length`` bytes at ``addr`` into: each
    ``min(max_burst, beats to the next 4 KiB boundary, beats left)``, so that none crosses a
    4 KiB boundary (AXI4, A3.4.1) or exceeds ``max_burst``.

    >>> axi_bursts(0x0fc0, 256, beat_bytes=8, max_burst=16)   # 8 beats to the boundary
    [(4032, 8), (4096, 16), (4224, 8)]
    """
    for name, value in (("beat_bytes", beat_bytes), ("max_burst", max_burst)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if beat_bytes & (beat_bytes - 1) or beat_bytes > AXI_PAGE_BYTES:
        raise ValueError(f"beat_bytes must be a power of two up to {AXI_PAGE_BYTES}, not "
                         f"{beat_bytes}")
    longest = min(AXI4_MAX_BURST, AXI_PAGE_BYTES // beat_bytes)
    if max_burst > longest:
        raise ValueError(f"max_burst must be at most {longest} beats of {beat_bytes} bytes, "
                         f"not {max_burst}")
    if addr < 0 or addr % beat_bytes or length < 1 or length % beat_bytes:
        raise ValueError(f"a read of {length} bytes at {addr:#x} is not a positive whole number "
                         f"of {beat_bytes}-byte beats at an aligned address")
    bursts = []
    left = length // beat_bytes
    while left:
        to_page = (AXI_PAGE_BYTES - addr % AXI_PAGE_BYTES) // beat_bytes
        beats = min(max_burst, to_page, left)
        bursts.append((addr, beats))
        addr += beats * beat_bytes
        left -= beats
    return bursts


def matmul_words(config: AcceleratorConfig, work: MatmulWork) -> int:
    """Weight words a MATMUL reads: its :attr:`~MatmulWork.weight_rows` row slots in words of
    :attr:`~golden.contract.config.AcceleratorConfig.weight_rows_per_word` (``tiles x
    tile_beats`` words in the 2-bit format)."""
    return -(-work.weight_rows // config.weight_rows_per_word)


@dataclass(frozen=True)
class WeightTraffic:
    """Weight traffic over the bus: bytes of R beats and AR handshakes (bursts)."""

    bytes: int = 0
    bursts: int = 0

    def __add__(self, other: WeightTraffic) -> WeightTraffic:
        return WeightTraffic(self.bytes + other.bytes, self.bursts + other.bursts)


def matmul_traffic(config: AcceleratorConfig, work: MatmulWork, *, w_addr: int
                   ) -> WeightTraffic:
    """What a MATMUL whose weights are at byte ``w_addr`` reads over AXI4 (MEM_BYTES and
    MEM_BURSTS): its :func:`matmul_words` of ``weight_word_bits / 8`` bytes, in one request
    split by :func:`axi_bursts`. Any configuration's words may be counted this way (a 1.6-bit
    configuration's, for what its traffic would be); the accelerator's counters count only
    with ``weight_memory = "axi"``."""
    size = config.weight_word_bits // 8
    length = matmul_words(config, work) * size
    return WeightTraffic(length, len(axi_bursts(w_addr, length, beat_bytes=size,
                                                max_burst=config.axi_max_burst)))


def program_traffic(config: AcceleratorConfig, words, *, w_base: int = 0) -> WeightTraffic:
    """The weight traffic of a well-formed command stream's MATMULs (:func:`matmul_traffic`).
    Their weight addresses are byte addresses with ``weight_memory = "axi"``; otherwise word
    addresses, taken as words of ``weight_word_bits / 8`` bytes from byte ``w_base``."""
    total = WeightTraffic()
    for command in split_commands(config, words):
        if command.opcode == Opcode.MATMUL:
            w_addr, _, _, m, k_tiles, n_tiles = command.args
            work = matmul_work(config, m=m, k_tiles=k_tiles, n_tiles=n_tiles,
                               accumulate=bool(command.flags & MatmulFlag.ACCUMULATE))
            if not config.axi:
                w_addr = w_base + w_addr * (config.weight_word_bits // 8)
            total += matmul_traffic(config, work, w_addr=w_addr)
    return total


def _positive_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")


@dataclass(frozen=True)
class MemorySystem:
    """An external memory as the weight reader sees it (module docstring)."""

    bytes_per_cycle: float
    latency: int
    outstanding: int
    burst_bytes: int

    def __post_init__(self):
        _positive_number("bytes_per_cycle", self.bytes_per_cycle)
        for name, lo in (("latency", 0), ("outstanding", 1), ("burst_bytes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, not {value!r}")

    @classmethod
    def from_rates(cls, *, gbytes_per_s: float, clock_mhz: float, latency_ns: float = 100.0,
                   outstanding: int = 8, burst_bytes: int = 4096) -> MemorySystem:
        """A memory of ``gbytes_per_s`` (10^9 bytes/s) and ``latency_ns`` seen from a clock of
        ``clock_mhz``."""
        _positive_number("gbytes_per_s", gbytes_per_s)
        _positive_number("clock_mhz", clock_mhz)
        if not latency_ns >= 0:
            raise ValueError(f"latency_ns must be >= 0, not {latency_ns!r}")
        return cls(bytes_per_cycle=gbytes_per_s * 1e3 / clock_mhz,
                   latency=round(latency_ns * clock_mhz / 1e3), outstanding=outstanding,
                   burst_bytes=burst_bytes)

    @property
    def sustained(self) -> float:
        """Bytes per cycle the reader sustains: the bandwidth, or less when too few bursts are
        in flight to cover the latency (Little's law)."""
        per_burst = self.latency + self.burst_bytes / self.bytes_per_cycle
        return min(self.bytes_per_cycle, self.outstanding * self.burst_bytes / per_burst)


def tile_bytes(config: AcceleratorConfig, *, bits_per_weight: float) -> float:
    """Bytes of one ``rows x cols`` weight tile stored at ``bits_per_weight``."""
    return config.rows * config.cols * bits_per_weight / 8


#: Cycles a MATMUL whose first tile is already in the reader (prefetched) waits for it
#: beyond the tile loop: the one cycle of the prologue's wait (its gate, a register, is open
#: already). Measured (tests/sim/test_axi_weights.py).
PREFETCHED_WAIT = 1


def external_matmul_cycles(work: MatmulWork, mem: MemorySystem, *, weight_bytes: float,
                           prefetched: bool = False, discard_words: int = 0) -> float:
    """Cycles of a MATMUL whose ``weight_bytes`` stream from ``mem``: the array-side schedule
    stretched to the memory's pace, plus one latency before the first tile, or
    :data:`PREFETCHED_WAIT` if the words were ``prefetched``, plus ``discard_words`` if it
    first drops the stale words of another prefetch (module docstring).

    The array side is :attr:`MatmulWork.cycles`; of it, ``bound_cycles`` (the tiles' periods)
    are what the memory can stretch, and the rest (setup, the first tile's load, the pipeline's
    drain) is paid once either way.
    """
    if prefetched and discard_words:
        raise ValueError("a prefetched MATMUL discards nothing")
    fixed = work.cycles - work.bound_cycles
    wait = PREFETCHED_WAIT if prefetched else mem.latency + discard_words
    return fixed + wait + max(work.bound_cycles, weight_bytes / mem.sustained)


#: The best open design to compare with (REFERENCE.md): bitnet-kv260 decodes BitNet b1.58
#: 2B-4T at 16.78 tokens/s on a KV260 (fabric at 250 MHz, DDR4), streaming 483 MB of weights
#: per token (1.6 bits per weight).
#: 0.381 J per generated token is its board-level measurement (the whole KV260, DDR4 included).
BITNET_KV260 = {"tokens_per_s": 16.78, "clock_mhz": 250, "bytes_per_token": 483e6,
                "joules_per_token": 0.381,
                "source": "MerlijnW70/bitnet-kv260, docs/measurements.md"}


def decode_projection(config: AcceleratorConfig, model: ModelShape, *, mem: MemorySystem,
                      clock_mhz: float, bits_per_weight: float | None = None,
                      prefetch: bool = False) -> dict:
    """Decode speed (tokens/s) of ``model``'s BitLinears on ``config`` with weights in ``mem``.

    With ``prefetch``, every MATMUL is preceded by a PREFETCH of the next one's weights (the
    last of a token's: the first of the next token's), so each pays
    :data:`PREFETCHED_WAIT` instead of the latency (:func:`external_matmul_cycles`).

    One token runs every BitLinear of every layer once at M = 1 (one MATMUL each, the whole
    (K, N) weight matrix streamed once). A MATMUL's weight bytes are its :func:`matmul_words`
    in ``config``'s words (padding included: what the reader fetches), or, given
    ``bits_per_weight``, its tiles at that many bits per weight. Not included, and stated
    separately by the caller: the LM head and embedding, attention over the KV cache, norms
    and activations.
    """
    _positive_number("clock_mhz", clock_mhz)
    if bits_per_weight is not None:
        _positive_number("bits_per_weight", bits_per_weight)
    per_layer = []
    for shape in model.bitlinears():
        work = layer_work(config, m=1, k=shape.k, n=shape.n)
        if bits_per_weight is None:
            weight_bytes = matmul_words(config, work) * config.weight_word_bytes
        else:
            weight_bytes = work.tiles * tile_bytes(config, bits_per_weight=bits_per_weight)
        cycles = external_matmul_cycles(work, mem, weight_bytes=weight_bytes,
                                        prefetched=prefetch)
        per_layer.append({"name": shape.name, "n": shape.n, "k": shape.k, "tiles": work.tiles,
                          "weight_bytes": weight_bytes, "array_cycles": work.cycles,
                          "memory_cycles": weight_bytes / mem.sustained, "cycles": cycles})
    cycles = model.layers * sum(p["cycles"] for p in per_layer)
    weight_bytes = model.layers * sum(p["weight_bytes"] for p in per_layer)
    array_cycles = model.layers * sum(p["array_cycles"] for p in per_layer)
    memory_cycles = model.layers * sum(p["memory_cycles"] for p in per_layer)
    seconds = cycles / (clock_mhz * 1e6)
    bound = mem.bytes_per_cycle * clock_mhz * 1e6 / weight_bytes
    if bits_per_weight is None:     # what the words cost per weight of the model
        bits_per_weight = 8 * weight_bytes / model.bitlinear_weights
    return {
        "model": model.name, "rows": config.rows, "cols": config.cols,
        "clock_mhz": clock_mhz, "bits_per_weight": bits_per_weight,
        "mem_gbytes_per_s": mem.bytes_per_cycle * clock_mhz / 1e3,
        "bytes_per_cycle": mem.bytes_per_cycle, "sustained_bytes_per_cycle": mem.sustained,
        "latency_cycles": mem.latency, "outstanding": mem.outstanding, "prefetch": prefetch,
        "weight_bytes_per_token": weight_bytes, "cycles_per_token": cycles,
        "tokens_per_s": 1 / seconds, "memory_bound_tokens_per_s": bound,
        "fraction_of_memory_bound": (1 / seconds) / bound,
        "array_bound_tokens_per_s": clock_mhz * 1e6 / array_cycles,
        "bound": "memory" if memory_cycles > array_cycles else "array",
        "layers": per_layer,
    }
