# SPDX-License-Identifier: BSD-2-Clause
"""Weight and activation quantizers of the three model families, and their training helpers.

BitNet b1.58 (Ma et al. 2024, arXiv 2402.17764, and its Training Tips FAQ). Weights, per tensor
("absmean")::

    s_w = 1 / max(mean(|W|), 1e-5);   W_t = clamp(round(W * s_w), -1, 1)

Activations, per token ("absmax", 8 bits)::

    s_x = 127 / max(max_j |x_j|, 1e-5);   x_q = clamp(round(x * s_x), -128, 127)

Ternary Weight Networks (Li and Liu 2016, arXiv 1605.04711), here per output row::

    delta = 0.7 * mean(|W_row|);   W_t = sign(W) * (|W| > delta)
    alpha = mean(|W| over the kept entries);   s_w = 1 / max(alpha, 1e-5)

BitNet, 1 bit (Wang et al. 2023, arXiv 2310.11453), per tensor or per group::

    alpha = mean(W);  beta = max(mean(|W|), 1e-5);  s_w = 1 / beta
    W_b = sign(W - alpha)                        # sign(0) = -1, as in the paper
    s_x = Q_b / max(max_j |x_j|, 1e-5);          # Q_b = 2**(bits-1) = 128
    x_q = clamp(round(x * s_x), -128, 127)

``round`` is :func:`torch.round`, which rounds half to even. Scales are float32 tensors; the
quantized values are integer tensors (int8), the dtype the hardware consumes. Every quantizer is
written once as a ``*_codes`` function that returns the codes as integer-valued float32 (what a
fake-quantized training forward multiplies) and wrapped by a function returning int8 (what the
integer path and the hardware consume), so the two paths cannot disagree on a code.
"""

from __future__ import annotations

import math

import torch

from .checks import check_finite, check_float

__all__ = [
    "EPS",
    "SVID_METHODS",
    "TERNARY_INITS",
    "TWN_FACTOR",
    "absmax_codes",
    "absmax_quantize",
    "absmean_codes",
    "absmean_ternary",
    "binary_codes",
    "binary_sign",
    "bitnet_act_quantize",
    "soft_ternary",
    "svid",
    "ternary_init",
    "twn_codes",
    "twn_ternary",
]

#: Lower clamp of the absmean and absmax statistics, as in the reference code.
EPS = 1e-5

#: Threshold factor of Ternary Weight Networks: delta = 0.7 * mean(|W|).
TWN_FACTOR = 0.7

#: Initializations accepted by :func:`ternary_init`.
TERNARY_INITS = ("normal", "uniform", "zero_biased", "kaiming_rounded")


def _check_weight(w, name: str) -> torch.Tensor:
    check_float(w, name)
    check_finite(w, name)
    return w.detach().float()


def _check_activation(x, name: str, bits) -> torch.Tensor:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer between 2 and 16, not {bits!r}")
    check_float(x, name)
    check_finite(x, name)
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last dimension, not shape {tuple(x.shape)}")
    return x.detach().float()


def _int_dtype(bits: int) -> torch.dtype:
    return torch.int8 if bits <= 8 else torch.int16


# --- BitNet b1.58 -------------------------------------------------------------------------------

def absmean_codes(w: torch.Tensor, *, name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Absmean ternary codes as float32 (values -1.0, 0.0, 1.0) and the per-tensor scale ``s_w``."""
    w = _check_weight(w, name)
    s_w = 1.0 / w.abs().mean().clamp(min=EPS)
    return (w * s_w).round().clamp(-1, 1), s_w


def absmean_ternary(w: torch.Tensor, *, name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a float weight tensor to ternary codes with one per-tensor scale.

    Returns
    -------
    (w_t, s_w)
        ``w_t``: int8 tensor with values in {-1, 0, +1}, same shape as ``w``.
        ``s_w``: 0-dim float32 tensor; ``w ~= w_t / s_w``.
    """
    codes, s_w = absmean_codes(w, name=name)
    return codes.to(torch.int8), s_w


def absmax_codes(x: torch.Tensor, *, bits: int = 8, q_scale: int | None = None,
                 name: str = "activation") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token absmax codes as integer-valued float32 and the scales ``s_x`` (shape ``(..., 1)``).

    ``q_scale`` is the value the largest magnitude maps to: ``2**(bits-1) - 1`` (127, b1.58, the
    default) or ``2**(bits-1)`` (128, Q_b of the 1-bit BitNet). Codes are clamped to the signed
    ``bits``-bit range either way, so 128 becomes 127 and -128 stays.
    """
    x = _check_activation(x, name, bits)
    qmax = (1 << (bits - 1)) - 1
    if q_scale is None:
        q_scale = qmax
    s_x = q_scale / x.abs().amax(dim=-1, keepdim=True).clamp(min=EPS)
    return (x * s_x).round().clamp(-qmax - 1, qmax), s_x


def absmax_quantize(x: torch.Tensor, *, bits: int = 8,
                    name: str = "activation") -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize activations per token (per row of the last dimension) to signed ``bits``-bit ints.

    Returns
    -------
    (x_q, s_x)
        ``x_q``: integer tensor (int8 for ``bits <= 8``, else int16), same shape as ``x``.
        ``s_x``: float32 tensor of shape ``x.shape[:-1] + (1,)``; ``x ~= x_q / s_x``.
    """
    codes, s_x = absmax_codes(x, bits=bits, name=name)
    return codes.to(_int_dtype(bits)), s_x


def bitnet_act_quantize(x: torch.Tensor, *, bits: int = 8,
                        name: str = "activation") -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax activations of the 1-bit BitNet: ``s_x = Q_b / gamma`` with ``Q_b = 2**(bits-1)``.

    The paper clips ``x * Q_b / gamma`` into ``[-Q_b + eps, Q_b - eps]``; with rounding to integers
    that is ``[-Q_b, Q_b - 1]``: a token's most negative extreme maps to -128, its positive
    extreme to 128 and is clamped to 127.
    """
    codes, s_x = absmax_codes(x, bits=bits, q_scale=1 << (bits - 1), name=name)
    return codes.to(_int_dtype(bits)), s_x


# --- Ternary Weight Networks --------------------------------------------------------------------

def twn_codes(w: torch.Tensor, *, factor: float = TWN_FACTOR,
              name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """TWN threshold codes per output row (float32, -1/0/+1) and per-row scales ``s_w`` (N,)."""
    w = _check_weight(w, name)
    if w.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (out_features, in_features) matrix for per-row "
                         f"threshold ternarization, not shape {tuple(w.shape)}")
    if not 0.0 <= factor < 1.5:
        raise ValueError(f"the TWN threshold factor must lie in [0, 1.5), not {factor}")
    a = w.abs()
    delta = factor * a.mean(dim=1, keepdim=True)
    keep = a > delta
    # A row whose entries are all at or below the threshold (an all-zero row, say) keeps
    # nothing; its scale hits the same 1e-5 clamp as absmean's.
    alpha = (a * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)
    s_w = 1.0 / alpha.clamp(min=EPS)
    return torch.sign(w) * keep, s_w


def twn_ternary(w: torch.Tensor, *, factor: float = TWN_FACTOR,
                name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Ternary Weight Networks: int8 codes (N, K), per-row scales ``s_w`` (N,), w ~= w_t / s_w."""
    codes, s_w = twn_codes(w, factor=factor, name=name)
    return codes.to(torch.int8), s_w


# --- BitNet (1 bit) and OneBit ------------------------------------------------------------------

def binary_codes(w: torch.Tensor, *, center: bool = True,
                 name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Binary codes ``sign(W - alpha)`` as float32 (sign(0) = -1) and ``s_w = 1 / mean(|W|)``.

    With ``center=False``, ``alpha = 0``: plain ``sign(W)`` as in OneBit.
    """
    w = _check_weight(w, name)
    shifted = w - w.mean() if center else w
    s_w = 1.0 / w.abs().mean().clamp(min=EPS)
    return torch.where(shifted > 0, 1.0, -1.0), s_w


def binary_sign(w: torch.Tensor, *, center: bool = True,
                name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """1-bit BitNet weights: int8 codes in {-1, +1} and ``s_w = 1 / beta``; ``w ~= w_b / s_w``."""
    codes, s_w = binary_codes(w, center=center, name=name)
    return codes.to(torch.int8), s_w


# --- training helpers ---------------------------------------------------------------------------

def soft_ternary(u: torch.Tensor, *, sharpness: float) -> torch.Tensor:
    """Smooth staircase ``(tanh(k(u - 1/2)) + tanh(k(u + 1/2))) / 2`` with ``k = sharpness``.

    It tends to ``clamp(round(u), -1, 1)`` as ``k`` grows (a tanh-based soft quantizer in the
    manner of DSQ, Gong et al. 2019, arXiv 1908.05033). The models use its derivative as the
    straight-through gradient of the ternary rounding: the forward pass stays hard, so the trained
    forward is always the deployed integer one.
    """
    if not sharpness > 0:
        raise ValueError(f"sharpness must be positive, not {sharpness}")
    return 0.5 * (torch.tanh(sharpness * (u - 0.5)) + torch.tanh(sharpness * (u + 0.5)))


def ternary_init(shape: tuple[int, int], *, method: str = "normal", std: float = 0.02,
                 zero_prob: float = 1 / 3,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Initial latent weights (out_features, in_features) for a ternary layer.

    ``normal``: N(0, std^2), the usual float initialization. ``uniform``: -1, 0, +1 with equal
    probability. ``zero_biased``: 0 with probability ``zero_prob``, +-1 otherwise. Both ternary
    draws are scaled by ``std / sqrt(1 - p0)`` so that the variance is ``std^2`` like the float
    one. ``kaiming_rounded``: N(0, 1/fan_in) (Kaiming, linear gain) rounded by absmean, i.e.
    ``w_t / s_w``.
    """
    if method not in TERNARY_INITS:
        raise ValueError(f"unknown ternary initialization {method!r}; "
                         f"choose one of {', '.join(TERNARY_INITS)}")
    if not 0.0 <= zero_prob < 1.0:
        raise ValueError(f"zero_prob must lie in [0, 1), not {zero_prob}")
    n, k = shape
    if method == "normal":
        return torch.randn(n, k, generator=generator) * std
    if method == "kaiming_rounded":
        w = torch.randn(n, k, generator=generator) / math.sqrt(k)
        codes, s_w = absmean_codes(w)
        return codes / s_w
    p0 = 1 / 3 if method == "uniform" else zero_prob
    u = torch.rand(n, k, generator=generator)
    sign = torch.where(torch.rand(n, k, generator=generator) < 0.5, -1.0, 1.0)
    return torch.where(u < p0, 0.0, sign) * (std / math.sqrt(1 - p0))


# --- OneBit -------------------------------------------------------------------------------------

#: Rank-1 decompositions accepted by :func:`svid`.
SVID_METHODS = ("nmf", "svd")


def svid(w: torch.Tensor, *, method: str = "nmf", iters: int = 200,
         name: str = "weight") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sign-Value-Independent Decomposition of OneBit: ``W ~= diag(h) sign(W) diag(g)``.

    ``|W|`` is approximated by the rank-1 product ``h g^T`` with non-negative ``h`` (N,) and
    ``g`` (K,), either by rank-1 non-negative matrix factorization (``"nmf"``: the multiplicative
    updates of Lee and Seung, which for one component are alternating least squares) or by the
    leading singular triple of ``|W|`` (``"svd"``, ``h = sqrt(s) |u|``, ``g = sqrt(s) |v|``). For
    a non-negative matrix the best rank-1 approximation is itself non-negative (Perron-Frobenius),
    so the two methods converge to the same product; NMF needs only matrix-vector products.

    Returns
    -------
    (w_b, h, g)
        int8 signs in {-1, +1} (sign(0) = -1), float32 ``h`` (N,) and ``g`` (K,), scaled so that
        ``|h| == |g|`` (2-norms).
    """
    if method not in SVID_METHODS:
        raise ValueError(f"unknown SVID method {method!r}; choose one of "
                         f"{', '.join(SVID_METHODS)}")
    w = _check_weight(w, name)
    if w.dim() != 2:
        raise ValueError(f"{name} must be a 2-D matrix, not shape {tuple(w.shape)}")
    a = w.abs().double()
    if method == "svd":
        u, s, vh = torch.linalg.svd(a, full_matrices=False)
        h, g = u[:, 0].abs() * s[0].sqrt(), vh[0].abs() * s[0].sqrt()
    else:
        g = a.mean(dim=0)
        h = a @ g / (g @ g).clamp(min=1e-300)
        for _ in range(iters):
            g = g * (a.T @ h) / (g * (h @ h)).clamp(min=1e-300)
            h = h * (a @ g) / (h * (g @ g)).clamp(min=1e-300)
        balance = (g.norm() / h.norm().clamp(min=1e-300)).sqrt()
        h, g = h * balance, g / balance
    w_b = torch.where(w > 0, 1, -1).to(torch.int8)
    return w_b, h.float(), g.float()
