# SPDX-License-Identifier: BSD-2-Clause
"""The host runtime: runs integer BitLinear products on an accelerator backend.

A :class:`Backend` executes command words and returns response words; backends are
interchangeable and must give identical integer results:

* :class:`FunctionalBackend` (here): the numpy model of :mod:`firmware.functional`;
* ``sim.backends.AmaranthBackend``: the RTL in amaranth.sim;
* ``sim.backends.VerilatorBackend``: the generated Verilog under Verilator with a native C++
  harness (no Python in the per-cycle loop), one process for the whole session;
* ``sim.backends.CocotbBackend``: the generated Verilog under cocotb (Icarus or Verilator).

Before its first program a :class:`Runtime` reads the device's READ_STATUS and refuses a
device that is not the configuration its programs are compiled for.

:class:`Runtime` compiles products for its backend's configuration, keeps weight images
resident in weight memory when the backend's memories persist between calls and the image
fits, and decodes the accumulators. :meth:`Runtime.as_matmul` gives the callable that golden
models accept as their integer backend (``matmul(x_q, w_t) -> acc``), so every BitLinear of a
model runs on the accelerator while everything else stays on the host.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from golden.contract.codecs import as_array
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import (
    CommandError,
    Counter,
    Description,
    Opcode,
    parse_response,
    parse_status,
    response_words,
)

from .commands import load_weights, read_status
from .compiler import Program, WeightImage, compile_matmul, compile_weights
from .functional import FunctionalAccelerator
from .placement import ResidentPlacement

__all__ = ["Backend", "FunctionalBackend", "LayerStats", "Runtime"]


class Backend(ABC):
    """Something that executes command words for one accelerator configuration."""

    #: Whether the accelerator's memories keep their contents from one call to the next.
    persistent: bool = True

    def __init__(self, config: AcceleratorConfig):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"config must be an AcceleratorConfig, not {type(config).__name__}")
        self.config = config

    @abstractmethod
    def exchange(self, words: list[int]) -> list[int]:
        """Run ``words``; return every response word they caused (the caller may not know
        how many: a resynchronization, a soak)."""

    def execute(self, words: list[int], n_response: int) -> list[int]:
        """Run ``words``; return exactly ``n_response`` response words (or raise)."""
        response = self.exchange(words)
        if len(response) != n_response:
            raise CommandError(f"the accelerator sent {len(response)} response words, "
                               f"{n_response} were expected")
        return response

    def run(self, program: Program) -> list[int]:
        program.check_config(self.config)
        return self.execute(program.words, program.response_words)

    def describe(self) -> Description:
        """What the device says it is (READ_STATUS)."""
        status = self.execute(read_status(), response_words(self.config, Opcode.READ_STATUS))
        return parse_status(parse_response(status, Opcode.READ_STATUS)[1])

    def check_device(self) -> Description:
        """READ_STATUS, and CommandError naming every field in which the device differs from
        this backend's configuration (the one its programs are compiled for)."""
        description = self.describe()
        description.check(self.config)
        return description

    def close(self) -> None:
        """Release what the backend holds (a simulator process, say). Calls after this fail."""
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FunctionalBackend(Backend):
    """The numpy model: exact integers, no cycles."""

    name = "functional"

    def __init__(self, config: AcceleratorConfig, *, axi_memory_bytes: int = 1 << 20):
        super().__init__(config)
        self.model = FunctionalAccelerator(config, external_bytes=axi_memory_bytes)
        self.axi_memory_bytes = len(self.model.external)

    def exchange(self, words):
        return self.model.run(words)

    def write_external(self, addr: int, data: bytes) -> None:
        """Write ``data`` into the external memory at byte ``addr`` (``weight_memory =
        "axi"``)."""
        self.model.write_external(addr, data)


@dataclass
class LayerStats:
    """What the counters said about one product (programs run with ``measure``)."""

    m: int
    k: int
    n: int
    cycles: int            # COMPUTE: cycles with a MATMUL in progress
    macs: int              # MACs issued to the array (padding included)
    zero_macs: int
    mem_bytes: int = 0     # weight bytes read over AXI (MEM_BYTES; 0 with on-chip weights)
    mem_bursts: int = 0    # AXI read bursts (MEM_BURSTS)

    @property
    def useful_macs(self) -> int:
        return self.m * self.k * self.n


@dataclass
class Runtime:
    """Runs integer products on ``backend`` (see the module docstring).

    Parameters
    ----------
    backend : Backend
    measure : bool
        Read the counters around every product and keep them in :attr:`stats`.
    """

    backend: Backend
    measure: bool = False
    stats: list[LayerStats] = field(default_factory=list)
    _images: dict = field(default_factory=dict)
    _resident: ResidentPlacement | None = None
    _checked: bool = False

    def __post_init__(self):
        if not isinstance(self.backend, Backend):
            raise TypeError(f"backend must be a firmware.runtime.Backend (FunctionalBackend, "
                            f"or sim.backends.make_backend), not {type(self.backend).__name__}")

    @property
    def config(self) -> AcceleratorConfig:
        return self.backend.config

    def _image(self, w_t: np.ndarray) -> tuple[str, WeightImage]:
        # The dtype is part of the key: bool or uint8 weights have the bytes of int8 ones.
        key = hashlib.sha1(w_t.tobytes() + str((w_t.shape, w_t.dtype.str)).encode()).hexdigest()
        if key not in self._images:
            self._images[key] = compile_weights(self.config, w_t)
        return key, self._images[key]

    def _place(self, key: str, image: WeightImage) -> int | None:
        """Weight-memory address of a resident image, loading it if needed; None when the
        backend forgets its memories or the image does not fit beside the resident ones.
        With weights in external memory (``weight_memory = "axi"``) the image's byte address
        there, written once through the backend's ``write_external``."""
        if self.config.axi:
            return self._place_external(key, image)
        if not self.backend.persistent:
            return None
        if self._resident is None:
            self._resident = ResidentPlacement(self.config.weight_depth)
        if key in self._resident:
            return self._resident.place(key, len(image.words))
        base = self._resident.place(key, len(image.words))
        if base is not None:
            self.backend.execute(load_weights(self.config, base, image.words), 0)
        return base

    def _place_external(self, key: str, image: WeightImage) -> int:
        write = getattr(self.backend, "write_external", None)
        if write is None:
            raise CommandError(f"the {self.backend.name} backend has no external memory for "
                               f"weight_memory='axi'")
        size = self.config.weight_word_bytes
        if self._resident is None:
            self._resident = ResidentPlacement(self.backend.axi_memory_bytes // size)
        known = key in self._resident
        base = self._resident.place(key, len(image.words))
        if base is None:
            raise CommandError(f"a weight image of {len(image.words)} words does not fit the "
                               f"external memory ({self.backend.axi_memory_bytes} bytes) beside "
                               f"the {self._resident.used} words placed before it")
        if not known:
            write(base * size, image.to_bytes())
        return base * size

    def matmul(self, x_q, w_t) -> np.ndarray:
        """``x_q @ w_t.T`` on the backend: int8 activations (M, K), ternary weights (N, K) ->
        int64 accumulators (M, N)."""
        x_q, w_t = as_array(x_q, "activations"), as_array(w_t, "weights")
        if not self._checked:
            # Before the first program: is the device the one the programs are built for?
            self.backend.check_device()
            self._checked = True
        key, image = self._image(w_t)
        program = compile_matmul(image, x_q, weight_base=self._place(key, image),
                                 measure=self.measure)
        response = self.backend.run(program)
        if self.measure:
            counters = program.counters(response)
            self.stats.append(LayerStats(m=program.m, k=image.k, n=image.n,
                                         cycles=counters[Counter.COMPUTE],
                                         macs=counters[Counter.MACS],
                                         zero_macs=counters[Counter.ZERO_MACS],
                                         mem_bytes=counters[Counter.MEM_BYTES],
                                         mem_bursts=counters[Counter.MEM_BURSTS]))
        return program.decode(response)

    def as_matmul(self):
        """A ``matmul(x_q, w_t) -> acc`` callable on torch tensors, for golden models."""
        import torch

        def numpy(t):
            if isinstance(t, torch.Tensor):
                t = t.detach().cpu()
                return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
            return t

        def matmul(x_q, w_t):
            return torch.from_numpy(self.matmul(numpy(x_q), numpy(w_t)))
        return matmul
