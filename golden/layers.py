# SPDX-License-Identifier: BSD-2-Clause
"""The linear layers of the four model families; the decoder around them is shared.

============  ==================  =========================================================
family        class               weights, activations, output
============  ==================  =========================================================
``float``     :class:`FloatLinear`    float32 (the baseline and the OneBit teacher)
``b158``      :class:`BitLinear158`   ternary absmean per tensor (or TWN per row); int8 absmax
``bitnet1``   :class:`BitLinear1`     binary sign(W - alpha), beta per group; LayerNorm and
                                      int8 absmax (Q_b = 128) per group of input features
``onebit``    :class:`OneBitLinear`   sign(W) with value vectors g (input) and h (output);
                                      int8 absmax after the g pre-scale; non-affine LayerNorm
============  ==================  =========================================================

Every quantized layer has one forward with two ways to form its integer product:

* fake quantization (training, the default): the codes are integer-valued float32 tensors
  carrying straight-through gradients to the latent float weights, multiplied by a float matmul;
* integer mode (``int_mode = True``): the codes are int8 tensors multiplied by the pluggable
  backend of :mod:`golden.intpath` (contract A), exact int64 accumulators.

Both feed the same rescale. Products of int8 codes and ternary codes are integers, and float32
holds every integer below 2**24 exactly, so while ``128 * K < 2**24`` (K < 131072 input
features per group) the float matmul computes the exact accumulators and the two paths agree
bit for bit; the tests check this with ``torch.equal``.

The straight-through estimator is written ``codes + (u - u.detach()) * shape``: the forward value
is exactly ``codes`` (``u - u.detach()`` is exactly 0), the gradient with respect to ``u`` is
``shape`` (1 for the plain STE of BitNet; the derivative of a tanh staircase for the soft
quantizer; ``1.001 - tanh(w)^2`` for OneBit's sign, as in its reference code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_finite, check_float
from .contract.config import check_positive
from .intpath import call_backend
from .quant import (
    EPS,
    TWN_FACTOR,
    absmax_codes,
    absmean_codes,
    binary_codes,
    soft_ternary,
    ternary_init,
    twn_codes,
)

__all__ = [
    "FAMILIES",
    "BitLinear1",
    "BitLinear158",
    "FloatLinear",
    "IntWeights",
    "OneBitLinear",
    "QuantLinear",
]

#: Model families, each named by its linear layer.
FAMILIES = ("float", "b158", "bitnet1", "onebit")

_LN_EPS = 1e-5


@dataclass(frozen=True)
class IntWeights:
    """Quantized weights of one BitLinear: what the accelerator holds in weight memory.

    Members
    -------
    w_t : torch.Tensor
        int8 (N, K) codes, -1/0/+1 (binary families: -1/+1 only).
    groups : int
        The K input features are split into ``groups`` equal slices; the integer product runs
        once per slice, ``acc_g = x_q[:, slice_g] @ w_t[:, slice_g].T``.
    s_w : torch.Tensor or None
        float32 weight scale, ``w ~= w_t / s_w``: shape () per tensor (b1.58 absmean), (N,) per
        output row (TWN) or (G, 1) per group (1-bit BitNet). None for OneBit.
    g, h : torch.Tensor or None
        OneBit value vectors, float32 (K,) input pre-scale and (N,) output post-scale.

    The float output is ``sum_g acc_g / (s_w[g] * s_x_g)`` (``s_w`` itself when it has fewer
    than two dimensions), or for OneBit ``LayerNorm(acc / s_x * h)``.
    """

    w_t: torch.Tensor
    groups: int = 1
    s_w: torch.Tensor | None = None
    g: torch.Tensor | None = None
    h: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.w_t.shape)

    def group_scale(self, group: int) -> torch.Tensor:
        return self.s_w[group] if self.s_w.dim() == 2 else self.s_w


def _ste(codes: torch.Tensor, u: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
    delta = u - u.detach()
    return codes + (delta if shape is None else delta * shape)


class FloatLinear(nn.Linear):
    """A bias-free float linear layer: the full-precision baseline and the OneBit teacher."""

    family: ClassVar[str] = "float"

    def __init__(self, in_features: int, out_features: int, *, init_std: float = 0.02,
                 generator: torch.Generator | None = None, **_options):
        super().__init__(in_features, out_features, bias=False)
        self.name = ""
        with torch.no_grad():
            self.weight.copy_(torch.randn(out_features, in_features, generator=generator)
                              * init_std)


class QuantLinear(nn.Module):
    """Base of the BitLinear family: latent float weights, fake-quant and integer forward.

    Parameters
    ----------
    in_features, out_features : int
        K and N, as in :class:`torch.nn.Linear` (weights are (N, K)).
    groups : int
        Number of K slices quantized independently (1-bit BitNet only; 1 elsewhere).
    init, init_std, zero_prob, generator
        Initial latent weights, see :func:`golden.quant.ternary_init`.

    Members
    -------
    name : str
        Stable name in its model (``"layers.0.attn.q_proj"``), set by the model.
    int_mode : bool
        False: fake quantization (trainable). True: integer path through the backend.
    """

    family: ClassVar[str] = ""
    binary: ClassVar[bool] = False
    act_bits: ClassVar[int] = 8

    def __init__(self, in_features: int, out_features: int, *, groups: int = 1,
                 init: str = "normal", init_std: float = 0.02, zero_prob: float = 1 / 3,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_positive(in_features=in_features, out_features=out_features, groups=groups)
        if in_features % groups:
            raise ValueError(f"in_features={in_features} must be divisible by groups={groups}")
        self.in_features = in_features
        self.out_features = out_features
        self.groups = groups
        self.weight = nn.Parameter(ternary_init((out_features, in_features), method=init,
                                                std=init_std, zero_prob=zero_prob,
                                                generator=generator))
        self.name = ""
        self.int_mode = False
        self._frozen: IntWeights | None = None
        self._int_cache: tuple[IntWeights, list[torch.Tensor]] | None = None

    def extra_repr(self) -> str:
        g = f", groups={self.groups}" if self.groups > 1 else ""
        return f"in_features={self.in_features}, out_features={self.out_features}{g}"

    @property
    def _label(self) -> str:
        return self.name or f"{type(self).__name__}({self.in_features}, {self.out_features})"

    def _slices(self) -> list[slice]:
        step = self.in_features // self.groups
        return [slice(i * step, (i + 1) * step) for i in range(self.groups)]

    # --- family hooks -------------------------------------------------------------------------

    def _codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Float codes (N, K) of latent weights and the weight scale ``s_w`` (see IntWeights)."""
        raise NotImplementedError

    def _surrogate(self, w: torch.Tensor, s_w) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The differentiable ``u`` whose rounding gives the codes, and the gradient shape."""
        raise NotImplementedError

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _act_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return absmax_codes(x, bits=self.act_bits, name=f"activation of {self._label}")

    def _rescale(self, acc: torch.Tensor, s_x: torch.Tensor, group: int,
                 s_w: torch.Tensor | None) -> torch.Tensor:
        s = s_w[group] if s_w.dim() == 2 else s_w
        return acc / (s * s_x)

    def _finish(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def _value_vectors(self) -> dict[str, torch.Tensor]:
        return {}

    # --- quantized weights --------------------------------------------------------------------

    def int_weights(self) -> IntWeights:
        """The quantized weights (detached): loaded ones if the layer is frozen, else computed."""
        if self._frozen is not None:
            base = self._frozen
        else:
            codes, s_w = self._codes(self.weight)
            base = IntWeights(w_t=codes.to(torch.int8), groups=self.groups, s_w=s_w)
        vectors = {k: v.detach().clone() for k, v in self._value_vectors().items()}
        return IntWeights(w_t=base.w_t, groups=base.groups, s_w=base.s_w, **vectors)

    @property
    def frozen(self) -> bool:
        """True when the layer runs on loaded codes (a checkpoint) rather than latent weights."""
        return self._frozen is not None

    def load_int_weights(self, iw: IntWeights) -> None:
        """Freeze the layer on given quantized weights (checked), e.g. from a checkpoint."""
        n, k = self.out_features, self.in_features
        what = f"weights of {self._label}"
        if not isinstance(iw.w_t, torch.Tensor) or iw.w_t.dtype != torch.int8:
            raise ValueError(f"{what} must be an int8 tensor, not "
                             f"{getattr(iw.w_t, 'dtype', type(iw.w_t).__name__)}")
        if tuple(iw.w_t.shape) != (n, k):
            raise ValueError(f"{what} have shape {tuple(iw.w_t.shape)}, expected (N, K) = "
                             f"{(n, k)}")
        lo = 1 if self.binary else 0
        bad = (iw.w_t.abs() < lo) | (iw.w_t.abs() > 1)
        if bool(bad.any()):
            idx = tuple(int(i) for i in bad.nonzero()[0])
            allowed = "-1, +1" if self.binary else "-1, 0, +1"
            raise ValueError(f"{what} must be in {{{allowed}}}; found {int(iw.w_t[idx])} at "
                             f"index {idx}")
        if iw.groups != self.groups:
            raise ValueError(f"{what} have {iw.groups} group(s), the layer has {self.groups}")
        self._check_scales(iw)
        with torch.no_grad():
            for key, value in self._value_vectors().items():
                value.copy_(getattr(iw, key))
            self.weight.copy_(self._dequantize(iw))
        self.weight.requires_grad_(False)
        self._frozen = IntWeights(w_t=iw.w_t.clone(), groups=iw.groups,
                                  s_w=None if iw.s_w is None else iw.s_w.float().clone())
        self._int_cache = None

    def _expected_scale_shape(self) -> tuple[int, ...] | None:
        return ()

    def _check_scales(self, iw: IntWeights) -> None:
        want = self._expected_scale_shape()
        if want is None:
            return
        if iw.s_w is None or tuple(iw.s_w.shape) != want:
            got = None if iw.s_w is None else tuple(iw.s_w.shape)
            raise ValueError(f"weight scale of {self._label} has shape {got}, expected {want}")
        check_finite(iw.s_w, f"weight scale of {self._label}")
        if bool((iw.s_w <= 0).any()):
            raise ValueError(f"weight scale of {self._label} must be positive, found "
                             f"{float(iw.s_w.min())}")

    def _dequantize(self, iw: IntWeights) -> torch.Tensor:
        s = iw.s_w if iw.s_w.dim() < 2 else iw.s_w.repeat_interleave(
            self.in_features // self.groups, dim=0).T
        return iw.w_t.float() / (s[:, None] if s.dim() == 1 else s)

    # --- forward ------------------------------------------------------------------------------

    def set_int_mode(self, enabled: bool) -> None:
        self.int_mode = bool(enabled)
        self._int_cache = None

    def _int_state(self) -> tuple[IntWeights, list[torch.Tensor]]:
        # Built once per switch to integer mode, so that the backend sees the same w_t tensor
        # object on every call of this layer.
        if self._int_cache is None:
            iw = self.int_weights()
            parts = [iw.w_t] if self.groups == 1 else [iw.w_t[:, s].contiguous()
                                                       for s in self._slices()]
            self._int_cache = (iw, parts)
        return self._int_cache

    def _fake_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._frozen is not None:
            return self._frozen.w_t.float(), self._frozen.s_w
        codes, s_w = self._codes(self.weight)
        if not (self.weight.requires_grad and torch.is_grad_enabled()):
            return codes, s_w
        u, shape = self._surrogate(self.weight, s_w)
        return _ste(codes, u, shape), s_w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float(x, f"input of {self._label}")
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"input of {self._label} must end in {self.in_features} features, "
                             f"not shape {tuple(x.shape)}")
        check_finite(x, f"input of {self._label}")
        lead = x.shape[:-1]
        x = self._prepare(x.reshape(-1, self.in_features).float())
        if self.int_mode:
            iw, parts = self._int_state()
            s_w = iw.s_w
        else:
            w, s_w = self._fake_weights()
            parts = [w] if self.groups == 1 else [w[:, s] for s in self._slices()]
        y = None
        for group, (cols, w_part) in enumerate(zip(self._slices(), parts, strict=True)):
            xg = x if self.groups == 1 else x[:, cols]
            codes, s_x = self._act_codes(xg)
            if self.int_mode:
                acc = call_backend(codes.to(torch.int8), w_part, layer=self._label)
                acc = acc.to(torch.float32)
            else:
                acc = _ste(codes, xg * s_x) @ w_part.T
            part = self._rescale(acc, s_x, group, s_w)
            y = part if y is None else y + part
        return self._finish(y).reshape(*lead, self.out_features)


class BitLinear158(QuantLinear):
    """BitNet b1.58 linear layer: ternary weights, per-token int8 absmax activations.

    Parameters
    ----------
    weight_quant : str
        ``"absmean"`` (b1.58: one scale per tensor) or ``"twn"`` (Ternary Weight Networks:
        threshold 0.7 mean|W| and one scale per output row).
    ste : str
        ``"identity"`` (the straight-through estimator of the paper) or ``"tanh"`` (gradient of
        the soft staircase :func:`golden.quant.soft_ternary` with ``tanh_sharpness``).
    """

    family: ClassVar[str] = "b158"

    def __init__(self, in_features: int, out_features: int, *, weight_quant: str = "absmean",
                 ste: str = "identity", tanh_sharpness: float = 4.0, twn_factor: float = TWN_FACTOR,
                 **options):
        if weight_quant not in ("absmean", "twn"):
            raise ValueError(f"weight_quant must be 'absmean' or 'twn', not {weight_quant!r}")
        if ste not in ("identity", "tanh"):
            raise ValueError(f"ste must be 'identity' or 'tanh', not {ste!r}")
        if options.get("groups", 1) != 1:
            raise ValueError("BitNet b1.58 layers have one weight group, not "
                             f"{options['groups']}")
        super().__init__(in_features, out_features, **options)
        self.weight_quant = weight_quant
        self.ste = ste
        self.tanh_sharpness = tanh_sharpness
        self.twn_factor = twn_factor

    def _codes(self, w):
        if self.weight_quant == "twn":
            return twn_codes(w, factor=self.twn_factor, name=f"weight of {self._label}")
        return absmean_codes(w, name=f"weight of {self._label}")

    def _surrogate(self, w, s_w):
        u = w * (s_w[:, None] if s_w.dim() == 1 else s_w)
        if self.ste == "identity":
            return u, None
        with torch.enable_grad():
            v = u.detach().requires_grad_(True)
            (shape,) = torch.autograd.grad(soft_ternary(v, sharpness=self.tanh_sharpness).sum(), v)
        return u, shape

    def _expected_scale_shape(self):
        return (self.out_features,) if self.weight_quant == "twn" else ()


class BitLinear1(QuantLinear):
    """BitNet (1 bit) linear layer with G groups along the input features.

    Per group g of K/G input features: a non-affine LayerNorm of the activations (the paper's
    LN inside BitLinear, statistics per group), absmax int8 with ``Q_b = 128``, binary weights
    ``sign(W_g - alpha_g)`` with ``beta_g = mean|W_g|``; ``y = sum_g acc_g * beta_g * gamma_g /
    Q_b``. The paper's shift by ``eta = min(x)`` before non-linearities is not used: every
    input here is the zero-mean output of the layer's own LayerNorm, and the array takes signed
    int8.
    """

    family: ClassVar[str] = "bitnet1"
    binary: ClassVar[bool] = True

    def _codes(self, w):
        codes, scales = [], []
        for i, cols in enumerate(self._slices()):
            c, s = binary_codes(w[:, cols], center=True, name=f"weight group {i} of {self._label}")
            codes.append(c)
            scales.append(s)
        return torch.cat(codes, dim=1), torch.stack(scales)[:, None]

    def _surrogate(self, w, s_w):
        return w * s_w.repeat_interleave(self.in_features // self.groups, dim=0).T, None

    def _prepare(self, x):
        m = x.shape[0]
        k = self.in_features // self.groups
        return F.layer_norm(x.view(m, self.groups, k), (k,), eps=_LN_EPS).view(m, -1)

    def _act_codes(self, x):
        return absmax_codes(x, bits=self.act_bits, q_scale=1 << (self.act_bits - 1),
                            name=f"activation of {self._label}")

    def _expected_scale_shape(self):
        return (self.groups, 1)


class OneBitLinear(QuantLinear):
    """OneBit linear layer: ``LayerNorm(((x * g) @ sign(W)^T) * h)``, LayerNorm without affine.

    ``g`` (K) and ``h`` (N) are float value vectors (the paper keeps them in FP16; here float32,
    so that training and the integer path use the same values). The activations after the g
    pre-scale are quantized per token to int8 (absmax, 127) so that the product runs on the
    adder array; the paper keeps them in 16 bits (W1A16), this layer is its W1A8 form. sign(0)
    is -1, so that the codes are strictly binary.
    """

    family: ClassVar[str] = "onebit"
    binary: ClassVar[bool] = True

    def __init__(self, in_features: int, out_features: int, **options):
        if options.get("groups", 1) != 1:
            raise ValueError(f"OneBit layers have one weight group, not {options['groups']}")
        super().__init__(in_features, out_features, **options)
        self.g = nn.Parameter(torch.ones(in_features))
        self.h = nn.Parameter(torch.ones(out_features))

    def _codes(self, w):
        codes, _ = binary_codes(w, center=False, name=f"weight of {self._label}")
        return codes, None

    def _surrogate(self, w, s_w):
        # The reference code's sign STE: d sign(w)/dw ~= 1.001 - tanh(w)^2.
        return w, 1.001 - torch.tanh(w.detach()) ** 2

    def _prepare(self, x):
        return x * self.g

    def _rescale(self, acc, s_x, group, s_w):
        return acc / s_x * self.h

    def _finish(self, y):
        return F.layer_norm(y, (self.out_features,), eps=_LN_EPS)

    def _value_vectors(self):
        return {"g": self.g, "h": self.h}

    def _expected_scale_shape(self):
        return None

    def _check_scales(self, iw: IntWeights) -> None:
        for key, n in (("g", self.in_features), ("h", self.out_features)):
            v = getattr(iw, key)
            if v is None or tuple(v.shape) != (n,):
                got = None if v is None else tuple(v.shape)
                raise ValueError(f"value vector {key} of {self._label} has shape {got}, "
                                 f"expected ({n},)")
            check_finite(v, f"value vector {key} of {self._label}")

    def _dequantize(self, iw: IntWeights) -> torch.Tensor:
        # Latent weights only matter through their signs once the layer is frozen.
        return iw.w_t.float() * EPS
