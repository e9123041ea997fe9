# SPDX-License-Identifier: BSD-2-Clause
"""The LLaMA-like decoder shared by every family; the families differ only in their linear layer.

Blocks are pre-norm: ``x += attn(RMSNorm(x)); x += mlp(RMSNorm(x))``, with rotary position
embeddings (RoPE, the "rotate half" convention of LLaMA and transformers), causal grouped-query
attention with a KV cache for generation, a gated FFN ``down(act(gate(x)) * up(x))`` and no
biases. ``subln=True`` with ``act="relu2"`` is the BitNet b1.58 2B-4T variant: an RMSNorm before
``o_proj`` and one before ``down_proj``, and ``relu(x)^2`` instead of SiLU. The projections
q, k, v, o, gate, up, down are the family's linear layer; the embeddings, norms, attention
products and the (tied) output head stay in float, as in the papers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .contract.config import check_positive
from .layers import FAMILIES, BitLinear1, BitLinear158, FloatLinear, OneBitLinear, QuantLinear
from .quant import TERNARY_INITS, TWN_FACTOR

__all__ = ["Decoder", "KVCache", "ModelConfig", "RMSNorm"]

_LINEARS = {"float": FloatLinear, "b158": BitLinear158, "bitnet1": BitLinear1,
            "onebit": OneBitLinear}


@dataclass(frozen=True)
class ModelConfig:
    """Shape and quantization of a decoder.

    Parameters
    ----------
    family : str
        ``"float"``, ``"b158"``, ``"bitnet1"`` or ``"onebit"`` (see :mod:`golden.layers`).
    vocab_size, dim, n_layers, n_heads, ffn_dim, max_seq_len : int
        Model shape; ``dim`` must be divisible by ``n_heads``.
    n_kv_heads : int or None
        Key/value heads for grouped-query attention (None: ``n_heads``).
    act : str
        ``"silu"`` (LLaMA) or ``"relu2"`` (BitNet b1.58 2B-4T).
    subln : bool
        Extra RMSNorms before ``o_proj`` and ``down_proj`` (SubLN of b1.58 2B-4T).
    weight_quant, ste, tanh_sharpness, twn_factor
        b1.58 only, see :class:`golden.layers.BitLinear158`.
    groups : int
        1-bit BitNet only: weight and activation groups along the input features.
    init, init_std, zero_prob
        Latent weight initialization of the BitLinears, see :func:`golden.quant.ternary_init`.
    """

    family: str = "b158"
    vocab_size: int = 256
    dim: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    ffn_dim: int = 768
    max_seq_len: int = 256
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    act: str = "silu"
    subln: bool = False
    tie_embeddings: bool = True
    weight_quant: str = "absmean"
    ste: str = "identity"
    tanh_sharpness: float = 4.0
    twn_factor: float = TWN_FACTOR
    groups: int = 1
    init: str = "normal"
    init_std: float = 0.02
    zero_prob: float = 1 / 3

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; choose one of "
                             f"{', '.join(FAMILIES)}")
        check_positive(**{name: getattr(self, name) for name in (
            "vocab_size", "dim", "n_layers", "n_heads", "ffn_dim", "max_seq_len", "groups")})
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise ValueError(f"dim={self.dim} must split into n_heads={self.n_heads} heads of "
                             f"even size (RoPE rotates pairs)")
        if self.n_kv_heads is not None:
            check_positive(n_kv_heads=self.n_kv_heads)
            if self.n_heads % self.n_kv_heads:
                raise ValueError(f"n_heads={self.n_heads} must be a multiple of "
                                 f"n_kv_heads={self.n_kv_heads}")
        if self.act not in ("silu", "relu2"):
            raise ValueError(f"act must be 'silu' or 'relu2', not {self.act!r}")
        if self.groups > 1 and self.family != "bitnet1":
            raise ValueError(f"groups={self.groups} applies to the bitnet1 family only, not "
                             f"{self.family}")
        for name in ("dim", "ffn_dim"):
            if getattr(self, name) % self.groups:
                raise ValueError(f"{name}={getattr(self, name)} must be divisible by "
                                 f"groups={self.groups}")
        if self.init not in TERNARY_INITS:
            raise ValueError(f"unknown init {self.init!r}; choose one of "
                             f"{', '.join(TERNARY_INITS)}")
        for name in ("rope_theta", "norm_eps", "init_std", "tanh_sharpness"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    def linear_options(self) -> dict:
        common = {"init": self.init, "init_std": self.init_std, "zero_prob": self.zero_prob}
        if self.family == "float":
            return {"init_std": self.init_std}
        if self.family == "b158":
            return {**common, "weight_quant": self.weight_quant, "ste": self.ste,
                    "tanh_sharpness": self.tanh_sharpness, "twn_factor": self.twn_factor}
        if self.family == "bitnet1":
            return {**common, "groups": self.groups}
        return common

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        if not isinstance(data, dict):
            raise ValueError(f"model configuration must be a mapping, not {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown model configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight``, statistics in float32."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def _rotate(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """RoPE on (B, H, T, D): pairs (i, i + D/2) rotate by ``position * theta**(-2i/D)``."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angles = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((angles, angles), dim=-1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * emb.cos() + torch.cat((-x2, x1), dim=-1) * emb.sin()


class KVCache:
    """Keys and values of every layer for the tokens seen so far (batch, kv heads, T, head dim)."""

    def __init__(self, n_layers: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers

    def __len__(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def append(self, layer: int, k: torch.Tensor,
               v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys[layer] is not None:
            k = torch.cat((self.keys[layer], k), dim=2)
            v = torch.cat((self.values[layer], v), dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, make_linear):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q_proj = make_linear(cfg.dim, cfg.n_heads * hd)
        self.k_proj = make_linear(cfg.dim, cfg.kv_heads * hd)
        self.v_proj = make_linear(cfg.dim, cfg.kv_heads * hd)
        self.sub_norm = RMSNorm(cfg.n_heads * hd, cfg.norm_eps) if cfg.subln else None
        self.o_proj = make_linear(cfg.n_heads * hd, cfg.dim)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cache: KVCache | None,
                layer: int) -> torch.Tensor:
        cfg = self.cfg
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, cfg.n_heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        q = _rotate(q, positions, cfg.rope_theta)
        k = _rotate(k, positions, cfg.rope_theta)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        rep = cfg.n_heads // cfg.kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        # Query i sits at absolute position positions[i] and sees keys 0 .. positions[i].
        visible = torch.arange(k.shape[2])[None, :] <= positions[:, None]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        out = out.transpose(1, 2).reshape(b, t, -1)
        if self.sub_norm is not None:
            out = self.sub_norm(out)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, make_linear):
        super().__init__()
        self.act = cfg.act
        self.gate_proj = make_linear(cfg.dim, cfg.ffn_dim)
        self.up_proj = make_linear(cfg.dim, cfg.ffn_dim)
        self.sub_norm = RMSNorm(cfg.ffn_dim, cfg.norm_eps) if cfg.subln else None
        self.down_proj = make_linear(cfg.ffn_dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.gate_proj(x)
        gate = F.silu(gate) if self.act == "silu" else F.relu(gate).square()
        h = gate * self.up_proj(x)
        if self.sub_norm is not None:
            h = self.sub_norm(h)
        return self.down_proj(h)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, make_linear):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, make_linear)
        self.mlp_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = MLP(cfg, make_linear)

    def forward(self, x, positions, cache, layer):
        x = x + self.attn(self.attn_norm(x), positions, cache, layer)
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    """A decoder-only language model of any family.

    Parameters
    ----------
    config : ModelConfig
    seed : int
        Seed of the initial weights (one generator, drawn in module order).
    """

    def __init__(self, config: ModelConfig, *, seed: int = 0):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config must be a ModelConfig, not {type(config).__name__}")
        self.config = config
        gen = torch.Generator().manual_seed(seed)
        linear_cls = _LINEARS[config.family]
        options = config.linear_options()

        def make_linear(k, n):
            return linear_cls(k, n, generator=gen, **options)

        self.embed = nn.Embedding(config.vocab_size, config.dim)
        with torch.no_grad():
            self.embed.weight.copy_(torch.randn(config.vocab_size, config.dim, generator=gen)
                                    * config.init_std)
        self.layers = nn.ModuleList(Block(config, make_linear) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.lm_head = None
        if not config.tie_embeddings:
            self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
            with torch.no_grad():
                self.lm_head.weight.copy_(torch.randn(config.vocab_size, config.dim,
                                                      generator=gen) * config.init_std)
        for name, module in self.named_modules():
            if isinstance(module, (QuantLinear, FloatLinear)):
                module.name = name

    # --- the BitLinears -----------------------------------------------------------------------

    def bitlinears(self) -> dict[str, QuantLinear]:
        """Every BitLinear-family layer by stable name, in forward order (empty for float)."""
        return {m.name: m for m in self.modules() if isinstance(m, QuantLinear)}

    def linears(self) -> dict[str, nn.Module]:
        """The family's linear layers (quantized or float) by name, in forward order."""
        return {m.name: m for m in self.modules() if isinstance(m, (QuantLinear, FloatLinear))}

    def set_int_mode(self, enabled: bool = True) -> Decoder:
        """Switch every BitLinear to the integer path (True) or fake quantization (False)."""
        if self.config.family == "float":
            raise ValueError("the float family has no integer path; int mode needs b158, "
                             "bitnet1 or onebit")
        for layer in self.bitlinears().values():
            layer.set_int_mode(enabled)
        return self

    @property
    def int_mode(self) -> bool:
        return any(layer.int_mode for layer in self.bitlinears().values())

    # --- forward ------------------------------------------------------------------------------

    def _check_tokens(self, tokens) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor):
            raise ValueError(f"tokens must be a torch.Tensor, not {type(tokens).__name__}")
        if tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise ValueError(f"tokens must be an integer tensor, not {tokens.dtype}")
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(f"tokens must have shape (batch, length >= 1), not "
                             f"{tuple(tokens.shape)}")
        bad = (tokens < 0) | (tokens >= self.config.vocab_size)
        if bool(bad.any()):
            idx = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(f"token {int(tokens[idx])} at index {idx} is outside the "
                             f"vocabulary [0, {self.config.vocab_size})")
        return tokens.long()

    def forward(self, tokens: torch.Tensor, *, cache: KVCache | None = None,
                return_hidden: bool = False):
        """Logits (B, T, vocab) of tokens (B, T); with ``cache``, continue after its tokens.

        With ``return_hidden``, also the list of hidden states after every block.
        """
        tokens = self._check_tokens(tokens)
        start = 0 if cache is None else len(cache)
        positions = torch.arange(start, start + tokens.shape[1])
        x = self.embed(tokens)
        hidden = []
        for i, block in enumerate(self.layers):
            x = block(x, positions, cache, i)
            hidden.append(x)
        x = self.norm(x)
        head = self.embed.weight if self.lm_head is None else self.lm_head.weight
        logits = x @ head.T
        return (logits, hidden) if return_hidden else logits

    @torch.no_grad()
    def generate(self, prompt: Sequence[int] | torch.Tensor, *, max_new_tokens: int,
                 temperature: float = 0.0, top_k: int | None = None,
                 seed: int = 0) -> list[int]:
        """Continue ``prompt`` (token ids) by ``max_new_tokens`` tokens; returns the new ones.

        ``temperature == 0`` is greedy decoding (argmax, ties to the lowest id); otherwise
        tokens are sampled from ``softmax(logits / temperature)`` (restricted to the ``top_k``
        most likely) with a generator seeded by ``seed``, so a fixed prompt and seed give the
        same tokens every time. When the context reaches ``max_seq_len``, the cache is rebuilt
        from the last half of it.
        """
        tokens = torch.as_tensor(list(prompt) if not isinstance(prompt, torch.Tensor)
                                 else prompt.flatten(), dtype=torch.int64)
        if tokens.numel() == 0:
            raise ValueError("the prompt is empty; give at least one token")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
                or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative integer, not "
                             f"{max_new_tokens!r}")
        if not temperature >= 0 or math.isinf(temperature):
            raise ValueError(f"temperature must be finite and >= 0, not {temperature}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, not {top_k!r}")
        limit = self.config.max_seq_len
        context = tokens[-limit:].tolist()
        gen = torch.Generator().manual_seed(seed)
        cache = KVCache(self.config.n_layers)
        logits = self(torch.tensor([context]), cache=cache)[0, -1]
        out: list[int] = []
        for step in range(max_new_tokens):
            nxt = self._pick(logits, temperature, top_k, gen)
            out.append(nxt)
            context.append(nxt)
            if step == max_new_tokens - 1:
                break
            if len(cache) >= limit:
                context = context[-(limit // 2):]
                cache = KVCache(self.config.n_layers)
                logits = self(torch.tensor([context]), cache=cache)[0, -1]
            else:
                logits = self(torch.tensor([[nxt]]), cache=cache)[0, -1]
        return out

    @staticmethod
    def _pick(logits: torch.Tensor, temperature: float, top_k: int | None,
              gen: torch.Generator) -> int:
        if temperature == 0:
            return int(torch.argmax(logits))
        logits = logits.double() / temperature
        if top_k is not None and top_k < logits.numel():
            kth = torch.topk(logits, top_k).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return int(torch.multinomial(probs, 1, generator=gen))
