# SPDX-License-Identifier: BSD-2-Clause
"""The one configuration object shared by hardware, golden model, firmware, benches and reports.

This module deliberately imports nothing from Amaranth or PyTorch, so that every layer of the
project (and a user's own scripts) can read a configuration without pulling in a toolchain.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, fields

__all__ = ["AcceleratorConfig", "signed_bits_for"]


def signed_bits_for(magnitude: int) -> int:
    """Width of a two's-complement integer that holds every value in ``[-magnitude, magnitude]``.

    >>> signed_bits_for(128)      # one int8 x ternary product: -128 * -1 = +128
    9
    """
    if magnitude < 0:
        raise ValueError(f"magnitude must be non-negative, not {magnitude}")
    return magnitude.bit_length() + 1


def _check_int(name: str, value, *, lo: int, hi: int | None = None) -> None:
    # bool is an int subclass; a True where a count belongs is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be {bound}, not {value}")


@dataclass(frozen=True)
class AcceleratorConfig:
    """Parameters of the ternary systolic array and everything built around it.

    Parameters
    ----------
    rows : int
        Processing-element rows: the slice of the reduction dimension K that the array sums in
        one pass. Activations enter on the left, one int per row.
    cols : int
        Processing-element columns: the slice of the output dimension N computed in parallel.
    act_bits : int
        Width of a quantized activation (8 for BitNet's absmax int8).
    acc_bits : int
        Width of the accumulators that sum partial results across K tiles. Must hold
        ``max_k`` products without overflow.
    max_k : int
        Largest reduction length (input features) the accumulators are sized for.
    fifo_depth : int
        Depth of the result FIFO of :class:`hw.array.BufferedArray`. 0 (the default) picks the
        smallest depth that sustains one result per cycle: the array's latency plus 2.

    The partial-sum path inside the array is sized by bit growth rather than by ``acc_bits``:
    after ``r`` rows a partial sum needs :meth:`psum_bits` ``(r)`` bits.
    """

    rows: int = 16
    cols: int = 16
    act_bits: int = 8
    acc_bits: int = 32
    max_k: int = 65536
    fifo_depth: int = 0

    def __post_init__(self):
        _check_int("rows", self.rows, lo=1, hi=1024)
        _check_int("cols", self.cols, lo=1, hi=1024)
        _check_int("act_bits", self.act_bits, lo=2, hi=16)
        _check_int("acc_bits", self.acc_bits, lo=2, hi=64)
        _check_int("max_k", self.max_k, lo=1)
        _check_int("fifo_depth", self.fifo_depth, lo=0)
        need = self.psum_bits(max(self.max_k, self.rows))
        if self.acc_bits < need:
            raise ValueError(
                f"acc_bits={self.acc_bits} could overflow: a sum of max(max_k, rows)="
                f"{max(self.max_k, self.rows)} products of {self.act_bits}-bit activations and "
                f"ternary weights needs {need} bits")
        if self.fifo_depth and self.fifo_depth < self.array_latency + 2:
            raise ValueError(
                f"fifo_depth={self.fifo_depth} cannot sustain one result per cycle: the array "
                f"keeps {self.array_latency} results in flight, so at least "
                f"{self.array_latency + 2} entries are needed (or 0 for automatic)")

    # --- arithmetic of the datapath -------------------------------------------------------

    @property
    def act_min(self) -> int:
        return -(1 << (self.act_bits - 1))

    @property
    def act_max(self) -> int:
        return (1 << (self.act_bits - 1)) - 1

    @property
    def act_qmax(self) -> int:
        """Largest magnitude the symmetric absmax quantizer produces (127 for 8 bits)."""
        return self.act_max

    def psum_bits(self, terms: int) -> int:
        """Bits of a signed sum of ``terms`` activation x ternary products.

        The extreme is every activation at the most negative value times a -1 weight:
        ``terms * 2**(act_bits-1)``, so 8-bit activations need ``9 + ceil(log2(terms))`` bits.
        """
        _check_int("terms", terms, lo=1)
        return signed_bits_for(terms * (1 << (self.act_bits - 1)))

    @property
    def result_bits(self) -> int:
        """Width of the array's column outputs: a sum over all ``rows``."""
        return self.psum_bits(self.rows)

    @property
    def array_latency(self) -> int:
        """Cycles from accepting an activation vector to its results leaving the array."""
        return self.rows + self.cols

    @property
    def result_fifo_depth(self) -> int:
        return self.fifo_depth or self.array_latency + 2

    # --- serialization --------------------------------------------------------------------

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AcceleratorConfig:
        if not isinstance(data, dict):
            raise ValueError(f"configuration must be a mapping, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AcceleratorConfig:
        return cls.from_dict(json.loads(text))

    def tag(self) -> str:
        """Short human-readable name, e.g. ``r16c16a8s32``, for build directories and reports."""
        return f"r{self.rows}c{self.cols}a{self.act_bits}s{self.acc_bits}"

    # --- command line ---------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--field`` option per configuration field, defaults from the dataclass."""
        group = parser.add_argument_group("accelerator configuration")
        for f in fields(cls):
            group.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=f.default,
                               metavar="N", help=f"(default: {f.default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace,
                  parser: argparse.ArgumentParser | None = None) -> AcceleratorConfig:
        """The configuration given by options from :meth:`add_arguments`. With ``parser``, a
        bad value ends the program through ``parser.error`` (usage and message, exit code 2)."""
        try:
            return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
        except ValueError as e:
            if parser is None:
                raise
            parser.error(str(e))
