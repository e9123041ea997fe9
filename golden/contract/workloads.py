# SPDX-License-Identifier: BSD-2-Clause
"""The workloads the project measures: BitLinear shapes of published models, and the prompt.

``make sim`` runs the BitNet b1.58 2B-4T shapes on the RTL, ``make bench`` a subset of them,
and ``make report`` prices one decoded token of every model here. The shapes are those of
REFERENCE.md section 5; the shipped tiny models' shape is checked against their checkpoints by
the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PROMPT", "MODELS", "TINY", "BitLinearShape", "ModelShape"]

#: The prompt of ``make sim`` and of the energy report's activity run: its bytes are the
#: shipped byte-level model's tokens.
DEFAULT_PROMPT = "The for statement is used to iterate over the elements of a sequence"


@dataclass(frozen=True)
class BitLinearShape:
    """One BitLinear of a block: ``n`` outputs (out_features) by ``k`` inputs (in_features)."""

    name: str
    n: int
    k: int


@dataclass(frozen=True)
class ModelShape:
    """The BitLinear shapes of a LLaMA-like decoder (attention q, k, v, o; gated FFN).

    ``kv_dim`` is the width of the key and value projections (``hidden`` without grouped-query
    attention); ``nominal_parameters`` is the size the model is known by.
    """

    name: str
    hidden: int
    ffn: int
    layers: int
    nominal_parameters: float
    kv_dim: int | None = None

    def bitlinears(self) -> list[BitLinearShape]:
        """The seven BitLinears of one block, in the order a forward pass calls them."""
        h, f, kv = self.hidden, self.ffn, self.kv_dim or self.hidden
        return [BitLinearShape("q_proj", h, h), BitLinearShape("k_proj", kv, h),
                BitLinearShape("v_proj", kv, h), BitLinearShape("o_proj", h, h),
                BitLinearShape("gate_proj", f, h), BitLinearShape("up_proj", f, h),
                BitLinearShape("down_proj", h, f)]

    @property
    def bitlinear_weights(self) -> int:
        return self.layers * sum(s.n * s.k for s in self.bitlinears())


#: Published models (REFERENCE.md section 5), smallest first.
MODELS = {m.name: m for m in (
    ModelShape("700M", hidden=1536, ffn=4096, layers=24, nominal_parameters=0.7e9),
    ModelShape("2B-4T", hidden=2560, ffn=6912, layers=30, nominal_parameters=2.0e9,
               kv_dim=640),
    ModelShape("3B", hidden=3200, ffn=8640, layers=26, nominal_parameters=3.0e9),
)}

#: The shipped tiny models (golden/checkpoints/): byte-level, 4 heads.
TINY = ModelShape("tiny", hidden=256, ffn=768, layers=4, nominal_parameters=3.4e6)
