# SPDX-License-Identifier: BSD-2-Clause
"""Checkpoints: weight packing, the project's safetensors format, and transformers' BitNet format.

Packing
    Ternary weights are stored at 2 bits in the layout of transformers' ``pack_weights``
    (``integrations/bitnet.py``): ``code = w + 1`` (0, 1, 2; code 3 is illegal), four codes per
    byte along out_features, packed shape ``(ceil(N/4), K)``, bits ``2i..2i+1`` of ``packed[r]``
    holding row ``r + i * ceil(N/4)``. Binary weights are stored at 1 bit in the layout of
    OneBit's inference checkpoints: ``bit = (1 - w) / 2``, eight per byte along in_features,
    least significant bit first, packed shape ``(N, ceil(K/8))``.

The project's format (:func:`save_model`, :func:`load_model`)
    One safetensors file. Metadata: ``format = "golden-decoder"``, ``format_version``,
    ``model_config`` (JSON of :class:`golden.model.ModelConfig`) and ``info`` (JSON: training
    and evaluation record). Tensors: every float parameter under its module name (embeddings,
    norms; all weights of a float model) as float32, and per BitLinear ``<name>.weight`` (packed
    uint8) with ``<name>.weight_scale`` (``s_w``, :class:`golden.layers.IntWeights`) or, for
    OneBit, ``<name>.g`` and ``<name>.h``.

transformers' format (:func:`export_hf`, :func:`import_hf`)
    A directory with ``config.json`` (``quantization_config.quant_method = "bitnet"``) and
    ``model.safetensors``. A model without SubLN and with SiLU is a ``LlamaForCausalLM``; with
    SubLN and relu^2 it is a ``BitNetForCausalLM`` (BitNet b1.58 2B-4T). ``weight_scale`` has
    shape (1,); for the default ``linear_class = "bitlinear"`` the output is ``acc / (s_x *
    weight_scale)``, so ``weight_scale`` is our ``s_w``; ``"autobitlinear"`` multiplies by it,
    so ``s_w = 1 / weight_scale`` on import; ``quantization_mode = "online"`` checkpoints hold
    float weights, which become latent weights quantized on the fly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .checks import check_finite
from .layers import IntWeights, OneBitLinear, QuantLinear
from .model import Decoder, ModelConfig

__all__ = [
    "CHECKPOINT_DIR",
    "SHIPPED",
    "export_hf",
    "import_hf",
    "load_model",
    "pack_binary",
    "pack_ternary",
    "save_model",
    "unpack_binary",
    "unpack_ternary",
]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"

#: The models that ship with the project, by name (files in golden/checkpoints/).
SHIPPED = {
    "tiny-b158": "tiny-b158.safetensors",
    "tiny-bitnet1": "tiny-bitnet1.safetensors",
    "tiny-onebit": "tiny-onebit.safetensors",
}

FORMAT = "golden-decoder"
FORMAT_VERSION = "1"


# --- packing ------------------------------------------------------------------------------------

def _check_codes(w: torch.Tensor, name: str, allowed: tuple[int, ...]) -> None:
    if not isinstance(w, torch.Tensor) or w.dtype not in (torch.int8, torch.int16, torch.int32,
                                                          torch.int64):
        raise ValueError(f"{name} must be a signed integer tensor, not "
                         f"{getattr(w, 'dtype', type(w).__name__)}")
    if w.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (out_features, in_features) matrix, not shape "
                         f"{tuple(w.shape)}")
    bad = ~torch.isin(w, torch.tensor(allowed, dtype=w.dtype))
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} must hold only {allowed}; found {int(w[idx])} at index {idx}")


def _check_packed(packed: torch.Tensor, name: str, *, dim: int, per_byte: int, count: int,
                  what: str) -> None:
    """A uint8 matrix whose dimension ``dim`` packs ``count`` values, ``per_byte`` per byte."""
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        raise ValueError(f"packed {name} must be a uint8 tensor, not "
                         f"{getattr(packed, 'dtype', type(packed).__name__)}")
    if packed.dim() != 2:
        raise ValueError(f"packed {name} must be 2-D, not shape {tuple(packed.shape)}")
    have = packed.shape[dim]
    if not per_byte * (have - 1) < count <= per_byte * have:
        raise ValueError(f"packed {name} of shape {tuple(packed.shape)} holds "
                         f"{per_byte * (have - 1) + 1} to {per_byte * have} {what}, not {count}")


def pack_ternary(w_t: torch.Tensor, *, name: str = "weights") -> torch.Tensor:
    """Pack ternary codes (N, K) into uint8 (ceil(N/4), K), transformers' layout (module doc)."""
    _check_codes(w_t, name, (-1, 0, 1))
    n, k = w_t.shape
    rows = -(-n // 4)
    codes = torch.zeros(4 * rows, k, dtype=torch.uint8)
    codes[:n] = (w_t + 1).to(torch.uint8)
    packed = torch.zeros(rows, k, dtype=torch.uint8)
    for i in range(4):
        packed |= codes[i * rows:(i + 1) * rows] << (2 * i)
    return packed


def unpack_ternary(packed: torch.Tensor, *, rows: int, name: str = "weights") -> torch.Tensor:
    """Ternary codes int8 (rows, K) from transformers' packed layout; code 3 is an error."""
    _check_packed(packed, name, dim=0, per_byte=4, count=rows, what="rows")
    codes = torch.cat([(packed >> (2 * i)) & 3 for i in range(4)])
    bad = codes == 3
    if bool(bad.any()):
        r, c = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"packed {name} holds the illegal 2-bit code 3 (legal: 0, 1, 2 for "
                         f"-1, 0, +1) for row {r}, column {c} (byte [{r % packed.shape[0]}, {c}],"
                         f" bits {2 * (r // packed.shape[0])}..{2 * (r // packed.shape[0]) + 1})")
    return codes[:rows].to(torch.int8) - 1


def pack_binary(w_b: torch.Tensor, *, name: str = "weights") -> torch.Tensor:
    """Pack binary codes (N, K) into uint8 (N, ceil(K/8)): bit = (1 - w) / 2, LSB first."""
    _check_codes(w_b, name, (-1, 1))
    n, k = w_b.shape
    cols = -(-k // 8)
    bits = torch.zeros(n, 8 * cols, dtype=torch.uint8)
    bits[:, :k] = (w_b < 0).to(torch.uint8)
    bits = bits.view(n, cols, 8)
    packed = torch.zeros(n, cols, dtype=torch.uint8)
    for i in range(8):
        packed |= bits[:, :, i] << i
    return packed


def unpack_binary(packed: torch.Tensor, *, cols: int, name: str = "weights") -> torch.Tensor:
    """Binary codes int8 (N, cols) in {-1, +1} from OneBit's packed layout."""
    _check_packed(packed, name, dim=1, per_byte=8, count=cols, what="columns")
    bits = torch.stack([(packed >> i) & 1 for i in range(8)], dim=-1).flatten(1)
    return (1 - 2 * bits[:, :cols].to(torch.int8)).to(torch.int8)


# --- reading tensors with checks ----------------------------------------------------------------

class _Tensors:
    """Tensors of one or more safetensors files, read by name with errors that name the file."""

    def __init__(self, files: list[Path]):
        self.where: dict[str, Path] = {}
        self.metadata: dict[str, str] = {}
        self.used: set[str] = set()
        for path in files:
            if not path.is_file():
                raise ValueError(f"checkpoint file {path} does not exist")
            try:
                with safe_open(str(path), "pt") as f:
                    self.metadata.update(f.metadata() or {})
                    self.where.update(dict.fromkeys(f.keys(), path))
            except Exception as e:  # safetensors raises its own error type for a bad header
                raise ValueError(f"{path} is not a readable safetensors file: {e}") from e
        self.label = ", ".join(str(p) for p in files)

    def __contains__(self, key: str) -> bool:
        return key in self.where

    def get(self, key: str, *, shape: tuple[int, ...] | None = None, dtype=None) -> torch.Tensor:
        if key not in self.where:
            raise ValueError(f"checkpoint {self.label} is missing tensor {key!r}")
        with safe_open(str(self.where[key]), "pt") as f:
            t = f.get_tensor(key)
        self.used.add(key)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise ValueError(f"tensor {key!r} in {self.label} has shape {tuple(t.shape)}, "
                             f"expected {tuple(shape)}")
        if dtype == "float":
            if not t.is_floating_point():
                raise ValueError(f"tensor {key!r} in {self.label} must be floating point, not "
                                 f"{t.dtype}")
            t = t.float()
            check_finite(t, f"tensor {key!r} in {self.label}")
        elif dtype is not None and t.dtype != dtype:
            raise ValueError(f"tensor {key!r} in {self.label} must be {dtype}, not {t.dtype}")
        return t

    def check_all_used(self) -> None:
        extra = sorted(set(self.where) - self.used)
        if extra:
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            raise ValueError(f"checkpoint {self.label} has unexpected tensor(s) "
                             f"{', '.join(map(repr, extra[:5]))}{more}; it does not match the "
                             f"model configuration")


# --- the project's format -----------------------------------------------------------------------

def _float_params(model: Decoder) -> dict[str, torch.Tensor]:
    """Float parameters that are not inside a BitLinear (all of them for a float model)."""
    prefixes = tuple(f"{n}." for n in model.bitlinears())
    return {n: p for n, p in model.named_parameters() if not n.startswith(prefixes)}


def _bitlinear_tensors(layer: QuantLinear) -> dict[str, torch.Tensor]:
    iw = layer.int_weights()
    if layer.binary:
        out = {"weight": pack_binary(iw.w_t, name=f"weights of {layer.name}")}
    else:
        out = {"weight": pack_ternary(iw.w_t, name=f"weights of {layer.name}")}
    if isinstance(layer, OneBitLinear):
        out.update(g=iw.g.float(), h=iw.h.float())
    else:
        out["weight_scale"] = iw.s_w.float()
    return out


def save_model(model: Decoder, path: str | Path, *, info: dict | None = None) -> Path:
    """Write ``model`` in the project's format (quantized families: packed codes and scales)."""
    if not isinstance(model, Decoder):
        raise ValueError(f"model must be a golden.model.Decoder, not {type(model).__name__}")
    tensors = {n: p.detach().float().contiguous() for n, p in _float_params(model).items()}
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
    """Path of a shipped model name (see :data:`SHIPPED`) or of a checkpoint file."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED:
        return CHECKPOINT_DIR / SHIPPED[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"no checkpoint {str(name_or_path)!r}: not a file and not one of the "
                         f"shipped models {', '.join(SHIPPED)}")
    return path


def read_info(name_or_path: str | Path) -> dict:
    """The ``info`` record (training and evaluation) stored in a checkpoint."""
    tensors = _Tensors([resolve(name_or_path)])
    return json.loads(tensors.metadata.get("info", "{}"))


def _load_bitlinear(layer: QuantLinear, tensors: _Tensors, name: str) -> None:
    n, k = layer.out_features, layer.in_features
    if layer.binary:
        packed = tensors.get(f"{name}.weight", shape=(n, -(-k // 8)), dtype=torch.uint8)
        w_t = unpack_binary(packed, cols=k, name=f"{name}.weight")
    else:
        packed = tensors.get(f"{name}.weight", shape=(-(-n // 4), k), dtype=torch.uint8)
        w_t = unpack_ternary(packed, rows=n, name=f"{name}.weight")
    if isinstance(layer, OneBitLinear):
        iw = IntWeights(w_t=w_t, g=tensors.get(f"{name}.g", shape=(k,), dtype="float"),
                        h=tensors.get(f"{name}.h", shape=(n,), dtype="float"))
    else:
        iw = IntWeights(w_t=w_t, groups=layer.groups, s_w=tensors.get(
            f"{name}.weight_scale", shape=layer._expected_scale_shape(), dtype="float"))
    layer.load_int_weights(iw)


def _finish(model: Decoder, int_mode: bool) -> Decoder:
    model.eval()
    if int_mode and model.config.family != "float":
        model.set_int_mode(True)
    return model


def load_model(name_or_path: str | Path = "tiny-b158", *, int_mode: bool = True) -> Decoder:
    """Load a model in one call: a shipped name (``"tiny-b158"``, ...) or a checkpoint path.

    The model comes back in eval mode and, for the quantized families, in integer mode
    (``int_mode=False`` gives the fake-quantized forward, which computes the same numbers).
    """
    path = resolve(name_or_path)
    tensors = _Tensors([path])
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
        for pname, param in _float_params(model).items():
            param.copy_(tensors.get(pname, shape=tuple(param.shape), dtype="float"))
    for name, layer in model.bitlinears().items():
        _load_bitlinear(layer, tensors, name)
    tensors.check_all_used()
    return _finish(model, int_mode)


# --- transformers' format -----------------------------------------------------------------------

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
    for name, p in _float_params(model).items():
        tensors[names[name]] = p.detach().float().contiguous()
    for name, layer in model.bitlinears().items():
        if layer.out_features % 4:
            raise ValueError(f"{name} has out_features={layer.out_features}, not a multiple of "
                             f"4 as transformers' BitLinear needs")
        iw = layer.int_weights()
        tensors[f"{names[name]}.weight"] = pack_ternary(iw.w_t, name=f"weights of {name}")
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
    tensors = _Tensors(files)
    if cfg.tie_embeddings and "lm_head.weight" in tensors:
        tensors.used.add("lm_head.weight")  # a tied head saved twice
    linear_class = quant.get("linear_class", "bitlinear")
    if linear_class not in ("bitlinear", "autobitlinear"):
        raise ValueError(f"unknown linear_class {linear_class!r} in the quantization config")
    model = Decoder(cfg)
    names = _hf_names(cfg)
    with torch.no_grad():
        for name, param in _float_params(model).items():
            param.copy_(tensors.get(names[name], shape=tuple(param.shape), dtype="float"))
        for name, layer in model.bitlinears().items():
            key = names[name]
            n, k = layer.out_features, layer.in_features
            if quant.get("quantization_mode", "offline") == "online":
                # Float weights, quantized by absmean on every forward: they are latent weights.
                layer.weight.copy_(tensors.get(f"{key}.weight", shape=(n, k), dtype="float"))
                continue
            packed = tensors.get(f"{key}.weight", shape=(-(-n // 4), k), dtype=torch.uint8)
            w_t = unpack_ternary(packed, rows=n, name=f"{key}.weight")
            scale = tensors.get(f"{key}.weight_scale", dtype="float").reshape(-1)
            if scale.numel() != 1:
                raise ValueError(f"tensor {key + '.weight_scale'!r} has {scale.numel()} values;"
                                 f" transformers' BitLinear has one scale per tensor")
            s_w = scale[0] if linear_class == "bitlinear" else 1.0 / scale[0]
            layer.load_int_weights(IntWeights(w_t=w_t, s_w=s_w))
    tensors.check_all_used()
    return _finish(model, int_mode)
