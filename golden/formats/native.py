# SPDX-License-Identifier: BSD-2-Clause
"""The project's checkpoint format, and the shipped models.

One safetensors file. Metadata: ``format = "golden-decoder"``, ``format_version``,
``model_config`` (JSON of :class:`golden.model.ModelConfig`) and ``info`` (JSON: training and
evaluation record). Tensors: every float parameter under its module name (embeddings, norms;
all weights of a float model) as float32, and per BitLinear ``<name>.weight`` (packed uint8:
ternary weights by :func:`golden.contract.codecs.pack_ternary`, binary ones by
:func:`golden.contract.codecs.pack_binary`) with ``<name>.weight_scale`` (``s_w``,
:class:`golden.layers.IntWeights`) or, for OneBit, ``<name>.g`` and ``<name>.h``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..contract.codecs import pack_binary, pack_ternary, unpack_binary, unpack_ternary
from ..layers import IntWeights, OneBitLinear, QuantLinear
from ..model import Decoder, ModelConfig
from .tensors import CheckpointTensors, finish, float_params

__all__ = ["BOARD_MODELS", "CHECKPOINTS", "CHECKPOINT_DIR", "SHIPPED", "load_model", "read_info",
           "resolve", "save_model"]

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"

#: The models that ship with the project, by name (files in golden/checkpoints/).
SHIPPED = {
    "tiny-b158": "tiny-b158.safetensors",
    "tiny-bitnet1": "tiny-bitnet1.safetensors",
    "tiny-onebit": "tiny-onebit.safetensors",
}

#: Models sized for a board's weight memory (hw/boards.py), by name: every BitLinear of the
#: model stays resident in the board's accelerator (golden/experiments.py has their presets).
BOARD_MODELS = {
    "icebreaker-b158": "icebreaker-b158.safetensors",
    "ulx3s-b158": "ulx3s-b158.safetensors",
}

#: Every committed checkpoint, by name.
CHECKPOINTS = {**SHIPPED, **BOARD_MODELS}

FORMAT = "golden-decoder"
FORMAT_VERSION = "1"


def _bitlinear_tensors(layer: QuantLinear) -> dict[str, torch.Tensor]:
    iw = layer.int_weights()
    if layer.binary:
        out = {"weight": torch.from_numpy(pack_binary(iw.w_t.numpy(),
                                                      name=f"weights of {layer.name}"))}
    else:
        out = {"weight": torch.from_numpy(pack_ternary(iw.w_t.numpy(),
                                                       name=f"weights of {layer.name}"))}
    if isinstance(layer, OneBitLinear):
        out.update(g=iw.g.float(), h=iw.h.float())
    else:
        out["weight_scale"] = iw.s_w.float()
    return out


def save_model(model: Decoder, path: str | Path, *, info: dict | None = None) -> Path:
    """Write ``model`` in the project's format (quantized families: packed codes and scales)."""
    if not isinstance(model, Decoder):
        raise ValueError(f"model must be a golden.model.Decoder, not {type(model).__name__}")
    tensors = {n: p.detach().float().contiguous() for n, p in float_params(model).items()}
    for name, layer in model.bitlinears().items():
        for key, t in _bitlinear_tensors(layer).items():
            tensors[f"{name}.{key}"] = t.contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "model_config": model.config.to_json(), "info": json.dumps(info or {}, sort_keys=True)})
    return path


def resolve(name_or_path: str | Path) -> Path:
    """Path of a committed model's name (see :data:`CHECKPOINTS`) or of a checkpoint file."""
    if isinstance(name_or_path, str) and name_or_path in CHECKPOINTS:
        return CHECKPOINT_DIR / CHECKPOINTS[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"no checkpoint {str(name_or_path)!r}: not a file and not one of the "
                         f"shipped models {', '.join(CHECKPOINTS)}")
    return path


def read_info(name_or_path: str | Path) -> dict:
    """The ``info`` record (training and evaluation) stored in a checkpoint."""
    tensors = CheckpointTensors([resolve(name_or_path)])
    return json.loads(tensors.metadata.get("info", "{}"))


def _load_bitlinear(layer: QuantLinear, tensors: CheckpointTensors, name: str) -> None:
    n, k = layer.out_features, layer.in_features
    if layer.binary:
        packed = tensors.get(f"{name}.weight", shape=(n, -(-k // 8)), dtype=torch.uint8)
        w_t = torch.from_numpy(unpack_binary(packed.numpy(), cols=k, name=f"{name}.weight"))
    else:
        packed = tensors.get(f"{name}.weight", shape=(-(-n // 4), k), dtype=torch.uint8)
        w_t = torch.from_numpy(unpack_ternary(packed.numpy(), rows=n, name=f"{name}.weight"))
    if isinstance(layer, OneBitLinear):
        iw = IntWeights(w_t=w_t, g=tensors.get(f"{name}.g", shape=(k,), dtype="float"),
                        h=tensors.get(f"{name}.h", shape=(n,), dtype="float"))
    else:
        iw = IntWeights(w_t=w_t, groups=layer.groups, s_w=tensors.get(
            f"{name}.weight_scale", shape=layer._expected_scale_shape(), dtype="float"))
    layer.load_int_weights(iw)


def load_model(name_or_path: str | Path = "tiny-b158", *, int_mode: bool = True) -> Decoder:
    """Load a model in one call: a shipped name (``"tiny-b158"``, ...) or a checkpoint path.

    The model comes back in eval mode and, for the quantized families, in integer mode
    (``int_mode=False`` gives the fake-quantized forward, which computes the same numbers).
    """
    path = resolve(name_or_path)
    tensors = CheckpointTensors([path])
    meta = tensors.metadata
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a golden checkpoint (metadata format is "
                         f"{meta.get('format')!r}, expected {FORMAT!r}); for a transformers "
                         f"checkpoint use import_hf")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {meta.get('format_version')!r}; this "
                         f"code reads version {FORMAT_VERSION}")
    try:
        config = ModelConfig.from_json(meta["model_config"])
    except (KeyError, json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{path} has no valid model_config metadata: {e}") from e
    model = Decoder(config)
    with torch.no_grad():
        for pname, param in float_params(model).items():
            param.copy_(tensors.get(pname, shape=tuple(param.shape), dtype="float"))
    for name, layer in model.bitlinears().items():
        _load_bitlinear(layer, tensors, name)
    tensors.check_all_used()
    return finish(model, int_mode)
