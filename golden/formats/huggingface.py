# SPDX-License-Identifier: BSD-2-Clause
"""Hugging Face transformers' BitNet checkpoints: :func:`export_hf` and :func:`import_hf`.

A directory with ``config.json`` (``quantization_config.quant_method = "bitnet"``) and
``model.safetensors`` (or an index and its shards). The block layout follows the model type:
``BitNetForCausalLM`` (``model_type = "bitnet"``) has SubLN, ``LlamaForCausalLM`` has none, and
either runs SiLU or relu^2 (``hidden_act``). Ternary weights are packed as transformers'
``pack_weights`` packs them (:func:`golden.contract.codecs.pack_ternary`).

The configuration is read as transformers (5.x) reads it: the RoPE base from
``rope_parameters`` (``rope_scaling`` when set), then the top-level ``rope_theta``, then the
model type's default (10000 for LLaMA, 500000 for BitNet); every other key missing from
``config.json`` takes the default of ``LlamaConfig`` or ``BitNetConfig`` (:data:`DEFAULTS`). A
key that changes the forward pass in a way this model does not implement (RoPE scaling, biases,
another activation, ``use_rms_norm``, a float projection or a quantized head) is refused, named
with its value. The head is tied as transformers ties it: with ``tie_word_embeddings`` unless
the checkpoint holds an ``lm_head.weight`` that differs from the embedding.

Weight layouts, by ``quantization_config``:

- ``linear_class = "bitlinear"`` (the default, whatever ``quantization_mode`` says): packed uint8
  codes (N/4, K) and ``weight_scale`` of shape (1,); the output is
  ``acc / (s_x * weight_scale)``, so ``weight_scale`` is our ``s_w``. Same arithmetic as the
  integer path: the logits are bit-equal to transformers' in float32.
- ``"autobitlinear"``, ``quantization_mode = "offline"``: codes packed as above or unpacked
  (N, K) in a float dtype (as transformers saves them after loading), multiplied by
  ``weight_scale``, so ``s_w = 1 / weight_scale``.
- ``"autobitlinear"``, ``"online"``: float weights quantized by absmean on every forward; they
  become latent weights. These two compute in float (dequantized activations times the weights)
  where we accumulate integers, so they agree to float rounding, not bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..contract.codecs import pack_ternary, unpack_ternary
from ..layers import IntWeights
from ..model import Decoder, ModelConfig
from .tensors import CheckpointTensors, finish, float_params

__all__ = ["DEFAULTS", "export_hf", "import_hf"]

#: transformers' defaults (``LlamaConfig``, ``BitNetConfig``) of the keys the import reads
#: when ``config.json`` leaves them out; ``rope_theta`` is the class's ``default_theta``.
DEFAULTS = {
    "llama": {"hidden_act": "silu", "num_key_value_heads": None, "max_position_embeddings": 2048,
              "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "rope_theta": 10000.0,
              "initializer_range": 0.02, "attention_bias": False, "mlp_bias": False,
              "head_dim": None},
    "bitnet": {"hidden_act": "relu2", "num_key_value_heads": 5, "max_position_embeddings": 2048,
               "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "rope_theta": 500000.0,
               "initializer_range": 0.02, "attention_bias": False, "head_dim": None},
}
_ARCHITECTURES = {"llama": "LlamaForCausalLM", "bitnet": "BitNetForCausalLM"}
#: transformers' activation names (``ACT2FN``) that these decoders implement.
_ACTS = {"silu": "silu", "swish": "silu", "relu2": "relu2"}
_SHAPE_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
               "num_attention_heads")


def _hf_names(config: ModelConfig) -> dict[str, str]:
    """Our parameter and BitLinear names -> transformers' names."""
    names = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight"}
    if not config.tie_embeddings:
        names["lm_head.weight"] = "lm_head.weight"
    for i in range(config.n_layers):
        ours, theirs = f"layers.{i}", f"model.layers.{i}"
        names[f"{ours}.attn_norm.weight"] = f"{theirs}.input_layernorm.weight"
        names[f"{ours}.mlp_norm.weight"] = f"{theirs}.post_attention_layernorm.weight"
        for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names[f"{ours}.attn.{p}"] = f"{theirs}.self_attn.{p}"
        for p in ("gate_proj", "up_proj", "down_proj"):
            names[f"{ours}.mlp.{p}"] = f"{theirs}.mlp.{p}"
        if config.subln:
            names[f"{ours}.attn.sub_norm.weight"] = f"{theirs}.self_attn.attn_sub_norm.weight"
            names[f"{ours}.mlp.sub_norm.weight"] = f"{theirs}.mlp.ffn_sub_norm.weight"
    return names


def export_hf(model: Decoder, directory: str | Path) -> Path:
    """Write a b1.58 model as a transformers BitNet checkpoint (``config.json``, safetensors).

    Needs one weight scale per tensor (absmean; TWN's per-row scales do not fit transformers'
    ``weight_scale`` of shape (1,)) and out_features divisible by 4 (transformers allocates
    ``out_features // 4`` packed rows). A model with SubLN becomes a ``BitNetForCausalLM``, one
    without a ``LlamaForCausalLM`` (load it with that class or ``AutoModelForCausalLM``:
    ``BitNetForCausalLM`` would add two sub-norms the checkpoint lacks), either with its own
    activation. The layers are ``bitlinear`` (packed codes), so transformers' float32 logits
    equal the integer path's. Byte-level models have no special tokens: the token ids are null.
    """
    cfg = model.config
    if cfg.family != "b158" or cfg.weight_quant != "absmean":
        raise ValueError(f"the transformers bitnet format holds b1.58 models with one absmean "
                         f"weight scale per tensor, not family={cfg.family}, "
                         f"weight_quant={cfg.weight_quant}")
    model_type = "bitnet" if cfg.subln else "llama"
    names = _hf_names(cfg)
    tensors = {}
    for name, p in float_params(model).items():
        tensors[names[name]] = p.detach().float().contiguous()
    for name, layer in model.bitlinears().items():
        if layer.out_features % 4:
            raise ValueError(f"{name} has out_features={layer.out_features}, not a multiple of "
                             f"4 as transformers' BitLinear needs")
        iw = layer.int_weights()
        tensors[f"{names[name]}.weight"] = torch.from_numpy(
            pack_ternary(iw.w_t.numpy(), name=f"weights of {name}"))
        tensors[f"{names[name]}.weight_scale"] = iw.s_w.float().reshape(1)
    hf_config = {
        "architectures": [_ARCHITECTURES[model_type]], "model_type": model_type,
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.dim, "intermediate_size": cfg.ffn_dim,
        "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.kv_heads, "head_dim": cfg.head_dim, "hidden_act": cfg.act,
        "max_position_embeddings": cfg.max_seq_len, "rms_norm_eps": cfg.norm_eps,
        # transformers 5.x reads rope_parameters; 4.x reads only the top-level rope_theta.
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_theta": cfg.rope_theta, "tie_word_embeddings": cfg.tie_embeddings,
        "initializer_range": cfg.init_std, "attention_bias": False, "mlp_bias": False,
        "bos_token_id": None, "eos_token_id": None, "pad_token_id": None, "dtype": "float32",
        "quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear",
                                "quantization_mode": "offline", "use_rms_norm": False,
                                "modules_to_not_convert": ["lm_head"]},
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def _number(value, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{path} has {key}={value!r}, not a positive number")
    return float(value)


def _count(value, key: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{path} has {key}={value!r}, not a positive integer")
    return value


def _rope_theta(hf: dict, model_type: str, path: Path) -> float:
    """The RoPE base as transformers reads it; any RoPE but the default is refused."""
    # PreTrainedConfig: a truthy rope_scaling replaces rope_parameters; rope_theta defaults to
    # the top-level key, then to the class's default_theta; rope_type falls back to "type".
    key = "rope_scaling" if hf.get("rope_scaling") else "rope_parameters"
    params = hf.get(key) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path} has {key}={params!r}, not a mapping")
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"{path} has {key} with rope_type {rope_type!r}; only the default "
                         f"RoPE (no scaling) is implemented")
    if "rope_theta" in params:
        return _number(params["rope_theta"], f"{key}.rope_theta", path)
    return _number(hf.get("rope_theta", DEFAULTS[model_type]["rope_theta"]), "rope_theta", path)


def _kept_in_float(patterns: list[str], module: str) -> bool:
    """transformers' ``should_convert_module``, negated: does a pattern name ``module``?"""
    boundary = r"(?:(?<=\.)|(?=\.|$))"
    return any(re.match(rf"(?:{p}){boundary}", module) or module.endswith(p) for p in patterns)


def _check_quantization(quant: dict, cfg: ModelConfig, path: Path) -> None:
    for key, allowed in (("linear_class", ("bitlinear", "autobitlinear")),
                         ("quantization_mode", ("offline", "online"))):
        value = quant.get(key, allowed[0])
        if value not in allowed:
            raise ValueError(f"{path} has quantization_config.{key}={value!r}; transformers "
                             f"knows {' and '.join(map(repr, allowed))}")
    if quant.get("use_rms_norm"):
        raise ValueError(f"{path} has quantization_config.use_rms_norm="
                         f"{quant['use_rms_norm']!r} (an RMSNorm inside every BitLinear), which "
                         f"is not implemented")
    patterns = quant.get("modules_to_not_convert")
    if patterns is None:
        return  # transformers then keeps the output head (and nothing else) in float
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"{path} has quantization_config.modules_to_not_convert={patterns!r}, "
                         f"not a list of names")
    projections = [f"model.layers.{i}.{block}.{p}" for i in range(cfg.n_layers)
                   for block, ps in (("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
                                     ("mlp", ("gate_proj", "up_proj", "down_proj")))
                   for p in ps]
    try:
        floats = [m for m in projections if _kept_in_float(patterns, m)]
        head_quantized = not _kept_in_float(patterns, "lm_head")
    except re.error as e:
        raise ValueError(f"{path} has quantization_config.modules_to_not_convert={patterns!r}, "
                         f"which is not a list of regular expressions: {e}") from e
    if floats:
        raise ValueError(f"{path} has quantization_config.modules_to_not_convert={patterns!r}, "
                         f"which keeps {floats[0]} in float; only ternary projections are "
                         f"implemented")
    if head_quantized:
        raise ValueError(f"{path} has quantization_config.modules_to_not_convert={patterns!r}, "
                         f"which does not name lm_head, so transformers quantizes the output "
                         f"head; a ternary head is not implemented")


def _hf_config(directory: Path) -> tuple[ModelConfig, dict]:
    path = directory / "config.json"
    if not path.is_file():
        raise ValueError(f"{directory} has no config.json; a transformers checkpoint is a "
                         f"directory with config.json and model.safetensors")
    try:
        hf = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(hf, dict):
        raise ValueError(f"{path} holds {type(hf).__name__}, not a configuration mapping")
    quant = hf.get("quantization_config") or {}
    if not isinstance(quant, dict) or quant.get("quant_method") != "bitnet":
        method = quant.get("quant_method") if isinstance(quant, dict) else quant
        raise ValueError(f"{path} has quant_method {method!r}, not 'bitnet'; only transformers "
                         f"BitNet checkpoints can be imported")
    model_type = hf.get("model_type")
    if model_type not in DEFAULTS:
        raise ValueError(f"{path} has model_type {model_type!r}; 'llama' and 'bitnet' are "
                         f"supported")
    missing = [key for key in _SHAPE_KEYS if key not in hf]
    if missing:
        raise ValueError(f"{path} lacks the field {missing[0]!r}")
    defaults = DEFAULTS[model_type]
    known = {**defaults, **{k: v for k, v in hf.items() if k in defaults}}
    for key in _SHAPE_KEYS:
        _count(hf[key], key, path)
    for key in ("max_position_embeddings", "num_key_value_heads", "head_dim"):
        if known[key] is not None:
            _count(known[key], key, path)
    # BitNetMLP has no biases whatever mlp_bias says; LlamaMLP has them when it is set.
    for key in ("attention_bias", "mlp_bias") if model_type == "llama" else ("attention_bias",):
        if known[key]:
            raise ValueError(f"{path} has {key}={known[key]!r}; these decoders have no biases")
    act = known["hidden_act"]
    if not isinstance(act, str) or act not in _ACTS:
        raise ValueError(f"{path} has hidden_act={act!r}; {', '.join(_ACTS)} are implemented")
    heads, dim = hf["num_attention_heads"], hf["hidden_size"]
    if known["head_dim"] is not None and known["head_dim"] * heads != dim:
        raise ValueError(f"{path} has head_dim={known['head_dim']}, not hidden_size / "
                         f"num_attention_heads = {dim} / {heads}")
    kv_heads = known["num_key_value_heads"]
    tie = known["tie_word_embeddings"]
    if not isinstance(tie, bool):
        raise ValueError(f"{path} has tie_word_embeddings={tie!r}, not true or false")
    rope_theta = _rope_theta(hf, model_type, path)
    norm_eps = _number(known["rms_norm_eps"], "rms_norm_eps", path)
    init_std = _number(known["initializer_range"], "initializer_range", path)
    try:
        cfg = ModelConfig(
            family="b158", vocab_size=hf["vocab_size"], dim=dim,
            n_layers=hf["num_hidden_layers"], n_heads=heads,
            n_kv_heads=None if kv_heads in (None, heads) else kv_heads,
            ffn_dim=hf["intermediate_size"], max_seq_len=known["max_position_embeddings"],
            rope_theta=rope_theta, norm_eps=norm_eps, act=_ACTS[act],
            subln=model_type == "bitnet", init_std=init_std, tie_embeddings=tie)
    except ValueError as e:  # e.g. heads not a multiple of the KV heads
        raise ValueError(f"{path} describes no model these decoders hold: {e}") from e
    _check_quantization(quant, cfg, path)
    return cfg, quant


def _ternary_codes(tensors: CheckpointTensors, key: str, n: int, k: int,
                   linear_class: str) -> torch.Tensor:
    """int8 codes (N, K) of a projection: packed, or (autobitlinear) unpacked float codes."""
    name = f"{key}.weight"
    stored = tensors.get(name) if name in tensors else None
    if linear_class == "autobitlinear" and stored is not None \
            and not (stored.dim() == 2 and stored.shape[0] * 4 == n):
        # transformers unpacks only a tensor of N/4 rows; any other is the weight itself.
        codes = tensors.get(name, shape=(n, k), dtype="float")
        if not bool(((codes == -1) | (codes == 0) | (codes == 1)).all()):
            bad = tuple(int(i) for i in ((codes != codes.round()) | (codes.abs() > 1))
                        .nonzero()[0])
            raise ValueError(f"tensor {name!r} holds {float(codes[bad])} at {bad}; offline "
                             f"AutoBitLinear weights must be ternary codes -1, 0, +1")
        return codes.to(torch.int8)
    if n % 4:
        raise ValueError(f"{key} has out_features={n}, not a multiple of 4 as transformers' "
                         f"BitLinear needs")
    packed = tensors.get(name, shape=(n // 4, k), dtype=torch.uint8)
    return torch.from_numpy(unpack_ternary(packed.numpy(), rows=n, name=name))


def import_hf(directory: str | Path, *, int_mode: bool = True) -> Decoder:
    """Load a transformers BitNet checkpoint directory (see the module doc) as a b1.58 model."""
    directory = Path(directory)
    cfg, quant = _hf_config(directory)
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            files = sorted({directory / f for f in weight_map.values()})
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{index} is not a safetensors index with a weight_map of file "
                             f"names: {e!r}") from e
    else:
        files = [directory / "model.safetensors"]
    tensors = CheckpointTensors(files)
    embed, head = "model.embed_tokens.weight", "lm_head.weight"
    if cfg.tie_embeddings and head in tensors:
        # transformers ties only what is equal; a differing head stays a head of its own.
        if embed in tensors and not torch.equal(tensors.get(embed, dtype="float"),
                                                tensors.get(head, dtype="float")):
            cfg = dataclasses.replace(cfg, tie_embeddings=False)
        tensors.used.add(head)
    names = _hf_names(cfg)
    if cfg.tie_embeddings and embed not in tensors and head in tensors:
        names["embed.weight"] = head  # transformers ties the embedding to a lone saved head
    linear_class = quant.get("linear_class", "bitlinear")
    online = linear_class == "autobitlinear" and quant.get("quantization_mode") == "online"
    model = Decoder(cfg)
    with torch.no_grad():
        for name, param in float_params(model).items():
            param.copy_(tensors.get(names[name], shape=tuple(param.shape), dtype="float"))
        for name, layer in model.bitlinears().items():
            key = names[name]
            n, k = layer.out_features, layer.in_features
            if online:
                # Float weights, quantized by absmean on every forward: they are latent weights.
                layer.weight.copy_(tensors.get(f"{key}.weight", shape=(n, k), dtype="float"))
                continue
            w_t = _ternary_codes(tensors, key, n, k, linear_class)
            scale = tensors.get(f"{key}.weight_scale", dtype="float").reshape(-1)
            if scale.numel() != 1:
                raise ValueError(f"tensor {key + '.weight_scale'!r} has {scale.numel()} values;"
                                 f" transformers' BitLinear has one scale per tensor")
            s_w = scale[0] if linear_class == "bitlinear" else 1.0 / scale[0]
            layer.load_int_weights(IntWeights(w_t=w_t, s_w=s_w))
    tensors.check_all_used()
    return finish(model, int_mode)
