# SPDX-License-Identifier: BSD-2-Clause
"""Hugging Face transformers' BitNet checkpoints: :func:`export_hf` and :func:`import_hf`.

A directory with ``config.json`` (``quantization_config.quant_method = "bitnet"``) and
``model.safetensors``. A model without SubLN and with SiLU is a ``LlamaForCausalLM``; with
SubLN and relu^2 it is a ``BitNetForCausalLM`` (BitNet b1.58 2B-4T). Ternary weights are
packed as transformers' ``pack_weights`` packs them (:func:`golden.contract.codecs.pack_ternary`).
``weight_scale`` has shape (1,); for the default ``linear_class = "bitlinear"`` the output is
``acc / (s_x * weight_scale)``, so ``weight_scale`` is our ``s_w``; ``"autobitlinear"``
multiplies by it, so ``s_w = 1 / weight_scale`` on import; ``quantization_mode = "online"``
checkpoints hold float weights, which become latent weights quantized on the fly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..contract.codecs import pack_ternary, unpack_ternary
from ..layers import IntWeights
from ..model import Decoder, ModelConfig
from .tensors import CheckpointTensors, finish, float_params

__all__ = ["export_hf", "import_hf"]


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
    ``weight_scale`` of shape (1,)), out_features divisible by 4 (transformers allocates
    ``out_features // 4`` packed rows) and either the LLaMA block (SiLU, no SubLN) or the
    b1.58 2B-4T block (relu^2 with SubLN).
    """
    cfg = model.config
    if cfg.family != "b158" or cfg.weight_quant != "absmean":
        raise ValueError(f"the transformers bitnet format holds b1.58 models with one absmean "
                         f"weight scale per tensor, not family={cfg.family}, "
                         f"weight_quant={cfg.weight_quant}")
    if (cfg.act, cfg.subln) == ("silu", False):
        model_type, arch = "llama", "LlamaForCausalLM"
    elif (cfg.act, cfg.subln) == ("relu2", True):
        model_type, arch = "bitnet", "BitNetForCausalLM"
    else:
        raise ValueError(f"act={cfg.act!r} with subln={cfg.subln} is neither a LLaMA block "
                         f"(silu, no SubLN) nor a BitNet 2B-4T block (relu2 with SubLN)")
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
        "architectures": [arch], "model_type": model_type, "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.dim, "intermediate_size": cfg.ffn_dim,
        "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.kv_heads, "hidden_act": cfg.act,
        "max_position_embeddings": cfg.max_seq_len, "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta, "tie_word_embeddings": cfg.tie_embeddings,
        "initializer_range": cfg.init_std,
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
        "quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear",
                                "quantization_mode": "offline",
                                "modules_to_not_convert": ["lm_head"]},
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def _hf_config(directory: Path) -> tuple[ModelConfig, dict]:
    path = directory / "config.json"
    if not path.is_file():
        raise ValueError(f"{directory} has no config.json; a transformers checkpoint is a "
                         f"directory with config.json and model.safetensors")
    try:
        hf = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    quant = hf.get("quantization_config") or {}
    if quant.get("quant_method") != "bitnet":
        raise ValueError(f"{path} has quant_method {quant.get('quant_method')!r}, not "
                         f"'bitnet'; only transformers BitNet checkpoints can be imported")
    model_type = hf.get("model_type")
    if model_type not in ("llama", "bitnet"):
        raise ValueError(f"{path} has model_type {model_type!r}; 'llama' and 'bitnet' are "
                         f"supported")
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key):
            raise ValueError(f"{path} sets {key}; these decoders have no biases")
    if hf.get("rope_scaling"):
        raise ValueError(f"{path} uses rope_scaling {hf['rope_scaling']!r}, which is not "
                         f"supported")
    heads = hf.get("num_attention_heads")
    if hf.get("head_dim") not in (None, hf.get("hidden_size", 0) // max(heads or 1, 1)):
        raise ValueError(f"{path} sets head_dim={hf['head_dim']}, not hidden_size / heads")
    kv_heads = hf.get("num_key_value_heads")
    act = hf.get("hidden_act", "silu" if model_type == "llama" else "relu2")
    try:
        cfg = ModelConfig(
            family="b158", vocab_size=hf["vocab_size"], dim=hf["hidden_size"],
            n_layers=hf["num_hidden_layers"], n_heads=heads,
            n_kv_heads=None if kv_heads in (None, heads) else kv_heads,
            ffn_dim=hf["intermediate_size"],
            max_seq_len=hf.get("max_position_embeddings", 2048),
            rope_theta=float(hf.get("rope_theta", 10000.0)),
            norm_eps=float(hf.get("rms_norm_eps", 1e-6)), act=act,
            subln=model_type == "bitnet", init_std=float(hf.get("initializer_range", 0.02)),
            tie_embeddings=bool(hf.get("tie_word_embeddings", model_type == "llama")))
    except KeyError as e:
        raise ValueError(f"{path} lacks the field {e.args[0]!r}") from e
    return cfg, quant


def import_hf(directory: str | Path, *, int_mode: bool = True) -> Decoder:
    """Load a transformers BitNet checkpoint directory (see the module doc) as a b1.58 model."""
    directory = Path(directory)
    cfg, quant = _hf_config(directory)
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        files = sorted({directory / f for f in weight_map.values()})
    else:
        files = [directory / "model.safetensors"]
    tensors = CheckpointTensors(files)
    if cfg.tie_embeddings and "lm_head.weight" in tensors:
        tensors.used.add("lm_head.weight")  # a tied head saved twice
    linear_class = quant.get("linear_class", "bitlinear")
    if linear_class not in ("bitlinear", "autobitlinear"):
        raise ValueError(f"unknown linear_class {linear_class!r} in the quantization config")
    model = Decoder(cfg)
    names = _hf_names(cfg)
    with torch.no_grad():
        for name, param in float_params(model).items():
            param.copy_(tensors.get(names[name], shape=tuple(param.shape), dtype="float"))
        for name, layer in model.bitlinears().items():
            key = names[name]
            n, k = layer.out_features, layer.in_features
            if quant.get("quantization_mode", "offline") == "online":
                # Float weights, quantized by absmean on every forward: they are latent weights.
                layer.weight.copy_(tensors.get(f"{key}.weight", shape=(n, k), dtype="float"))
                continue
            packed = tensors.get(f"{key}.weight", shape=(-(-n // 4), k), dtype=torch.uint8)
            w_t = torch.from_numpy(unpack_ternary(packed.numpy(), rows=n,
                                                  name=f"{key}.weight"))
            scale = tensors.get(f"{key}.weight_scale", dtype="float").reshape(-1)
            if scale.numel() != 1:
                raise ValueError(f"tensor {key + '.weight_scale'!r} has {scale.numel()} values;"
                                 f" transformers' BitLinear has one scale per tensor")
            s_w = scale[0] if linear_class == "bitlinear" else 1.0 / scale[0]
            layer.load_int_weights(IntWeights(w_t=w_t, s_w=s_w))
    tensors.check_all_used()
    return finish(model, int_mode)
