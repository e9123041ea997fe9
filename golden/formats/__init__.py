# SPDX-License-Identifier: BSD-2-Clause
"""Checkpoints: the project's own format (:mod:`~golden.formats.native`, and the shipped
models) and Hugging Face transformers' BitNet format (:mod:`~golden.formats.huggingface`).

The weight packings both formats use are in :mod:`golden.contract.codecs`. This package
imports only golden/ (and PyTorch, safetensors).
"""

from .huggingface import export_hf, import_hf
from .native import BOARD_MODELS, CHECKPOINTS, SHIPPED, load_model, read_info, resolve, save_model

__all__ = ["BOARD_MODELS", "CHECKPOINTS", "SHIPPED", "export_hf", "import_hf", "load_model",
           "read_info", "resolve", "save_model"]
