# SPDX-License-Identifier: BSD-2-Clause
"""Bad input at the host's API (issue 16, part 3): every case must end in a clear error.

The cases throw what a user may get wrong at the documented entry points (README, *Firmware*):
:class:`firmware.runtime.Runtime` ``matmul`` and ``as_matmul``, the compiler
(:func:`~firmware.compiler.compile_weights`, :func:`~firmware.compiler.compile_matmul`,
:meth:`~firmware.compiler.Program.decode`), the command encoders, the backends
(:func:`sim.backends.make_backend`, ``exchange``) and :class:`AcceleratorConfig`: shapes,
dtypes, NaN and infinities, values out of range, non-ternary weights, programs compiled for
another configuration, a device that is not the configuration, corrupted responses. A case
passes when it raises the documented kind (ValueError, of which the contract's CommandError is
one, or TypeError for an object of the wrong type) with a message that names the bad value or
the argument; no error (a silent result) or another exception (from deep inside numpy, say)
fails it. :func:`host_fuzz` runs them, randomized by a seed, and counts them per category for
the soak's summary.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware import commands
from firmware.compiler import compile_layer, compile_matmul, compile_weights
from firmware.runtime import FunctionalBackend, Runtime
from golden.contract.config import AcceleratorConfig
from golden.contract.isa import ErrorFlag, Opcode, response_header, with_crc

__all__ = ["CATEGORIES", "Case", "cases", "check_case", "host_fuzz"]

CATEGORIES = ("shapes", "dtypes", "nan-inf", "range", "non-ternary", "other-config",
              "responses", "encoders", "backends")

#: The configurations of the cases (those of the soak, small and varied).
_CONFIGS = (
    AcceleratorConfig(rows=2, cols=3, weight_depth=24, act_depth=12, acc_depth=8, max_k=32,
                      acc_bits=14, max_load=3),
    AcceleratorConfig(rows=4, cols=4, weight_format="1.6bit", weight_depth=8, act_depth=16,
                      acc_depth=8, max_k=16, acc_bits=13, max_load=4),
)


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    call: Callable[[], object]
    #: Strings the error message must contain (the bad value, the argument's name).
    needles: tuple[str, ...]


class _OtherDevice(FunctionalBackend):
    """A backend that says it is ``claimed`` but is a device of another configuration."""

    def __init__(self, claimed: AcceleratorConfig, real: AcceleratorConfig):
        super().__init__(real)
        self.config = claimed


def _layer(rng: random.Random, cfg: AcceleratorConfig):
    m, k, n = rng.randint(1, 3), rng.randint(1, cfg.max_k), rng.randint(1, 5)
    x = np.array([[rng.randint(-128, 127) for _ in range(k)] for _ in range(m)], np.int8)
    w = np.array([[rng.choice((-1, 0, 1)) for _ in range(k)] for _ in range(n)], np.int8)
    return x, w


def _at(rng: random.Random, shape) -> tuple[int, ...]:
    return tuple(rng.randrange(d) for d in shape)


def cases(seed: int = 0, per_category: int = 8) -> list[Case]:
    """The cases of a seed: ``per_category`` random ones in each category (and a few fixed)."""
    rng = random.Random(seed)
    out: list[Case] = []

    def add(category, name, call, *needles):
        out.append(Case(category, name, call, tuple(str(n) for n in needles)))

    for i in range(per_category):
        _round(rng, _CONFIGS[i % len(_CONFIGS)], _CONFIGS[(i + 1) % len(_CONFIGS)], add)
    return out


def _round(rng: random.Random, cfg: AcceleratorConfig, other: AcceleratorConfig, add) -> None:
    """One case of each kind, on ``cfg`` (``other``: another configuration)."""
    x, w = _layer(rng, cfg)
    m, k = x.shape
    n = w.shape[0]
    rt = Runtime(FunctionalBackend(cfg))

    # shapes
    bad = rng.choice([x.reshape(-1), x.reshape(1, m, k), x[:0], np.int8(3)])
    add("shapes", f"activations of shape {bad.shape}", lambda b=bad: rt.matmul(b, w),
        "activations", f"shape {bad.shape}")
    bad = rng.choice([w.reshape(-1), w.reshape(1, n, k), w[:, :0]])
    add("shapes", f"weights of shape {bad.shape}", lambda b=bad: rt.matmul(x, b),
        "weights", f"shape {bad.shape}")
    k2 = rng.choice([v for v in range(1, cfg.max_k + 1) if v != k])
    add("shapes", "K of activations and weights differ",
        lambda k2=k2: rt.matmul(x, np.zeros((n, k2), np.int8)), f"K={k}", f"K={k2}")
    big = cfg.max_k + rng.randint(1, 8)
    add("shapes", "K above max_k",
        lambda b=big: rt.matmul(np.zeros((1, b), np.int8), np.zeros((n, b), np.int8)),
        f"K={big}", "max_k")
    add("shapes", "ragged activations",
        lambda: rt.matmul([[1] * k, [1] * (k + 1)], w), "activations")

    # dtypes
    dtype = rng.choice([np.float32, np.float64, np.float16, bool, np.complex64])
    add("dtypes", f"activations of dtype {np.dtype(dtype)}",
        lambda d=dtype: rt.matmul(x.astype(d), w), "activations", np.dtype(dtype))
    dtype = rng.choice([np.float32, np.float64, bool, object])
    add("dtypes", f"weights of dtype {np.dtype(dtype)}",
        lambda d=dtype: rt.matmul(x, w.astype(d)), "weights", np.dtype(dtype))
    add("dtypes", "activations as strings",
        lambda: rt.matmul(x.astype(str), w), "activations")
    add("dtypes", "a Runtime on something that is not a backend",
        lambda: Runtime("functional"), "backend", "str")

    # NaN, infinities, fractions
    where = _at(rng, x.shape)
    value = rng.choice([np.nan, np.inf, -np.inf])
    xf = x.astype(np.float32)
    xf[where] = value
    add("nan-inf", f"activation {value} at {where}", lambda a=xf: rt.matmul(a, w),
        "activations", str(np.float32(value)), f"index {where}")
    where = _at(rng, w.shape)
    wf = w.astype(np.float64)
    wf[where] = rng.choice([np.nan, 0.5, -np.inf])
    add("nan-inf", f"weight {wf[where]} at {where}", lambda a=wf: rt.matmul(x, a),
        "weights", str(wf[where]), f"index {where}")

    # values out of range
    where = _at(rng, x.shape)
    value = rng.choice([cfg.act_max + 1, cfg.act_min - 1, 1 << 20, -(1 << 40)])
    xi = x.astype(np.int64)
    xi[where] = value
    add("range", f"activation {value} at {where}", lambda a=xi: rt.matmul(a, w),
        f"activation {value}", f"index {where}")
    add("range", "weight_base past the weight memory",
        lambda: compile_matmul(compile_weights(cfg, w), x,
                               weight_base=cfg.weight_depth + 1),
        f"at {cfg.weight_depth + 1}")

    # non-ternary weights
    where = _at(rng, w.shape)
    value = rng.choice([2, -2, 3, 127, -128])
    wi = w.astype(np.int16)
    wi[where] = value
    add("non-ternary", f"weight {value} at {where}", lambda a=wi: rt.matmul(x, a),
        f"found {value}", f"index {where}")
    add("non-ternary", "bool weights (0/1, not ternary codes)",
        lambda: rt.matmul(x, w != 0), "weights", "bool")

    # programs for another configuration, a device of another configuration
    program = compile_layer(other, np.zeros((1, 4), np.int8), np.zeros((2, 4), np.int8))
    field = next(f for f, v in other.to_dict().items() if cfg.to_dict()[f] != v)
    add("other-config", "a program compiled for another configuration",
        lambda p=program: FunctionalBackend(cfg).run(p), "another", field)
    add("other-config", "a device that is another configuration",
        lambda: Runtime(_OtherDevice(cfg, other)).matmul(x, w), "not the accelerator",
        f"{field}={other.to_dict()[field]!r}")
    add("other-config", "a weight image of another configuration",
        lambda: FunctionalBackend(cfg).run(compile_matmul(compile_weights(other, w[:, :4]),
                                                          x[:, :4])),
        "another", field)

    # responses: short, corrupted, with error flags, not words
    good = compile_layer(cfg, x, w)
    response = FunctionalBackend(cfg).run(good)
    cut = rng.randrange(len(response))
    add("responses", "a response word short",
        lambda r=response[:cut] + response[cut + 1:]: good.decode(r),
        f"got {len(response) - 1}")
    flipped = list(response)
    flipped[cut] ^= 1 << rng.randrange(32)
    add("responses", f"a bit flipped in response word {cut}",
        lambda r=flipped: good.decode(r), "response")
    flag = rng.choice(list(ErrorFlag))
    refused = with_crc([response_header(Opcode.DRAIN, flag)])
    refused += [0] * (len(response) - len(refused))
    add("responses", f"a DRAIN refused with {flag.name}",
        lambda r=refused: good.decode(r), "CRC" if len(response) > 2 else flag.name)
    add("responses", "a negative response word",
        lambda: good.decode([-1] * len(response)), "-1")

    # encoders and raw words
    value = rng.choice([-1, 1 << 32, 0.5, "7"])
    add("encoders", f"DRAIN address {value!r}", lambda v=value: commands.drain(v, 1),
        "address", repr(value))
    add("encoders", f"MATMUL m={value!r}",
        lambda v=value: commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=v, k_tiles=1,
                                        n_tiles=1), "m", repr(value))
    value = rng.choice([0.5, 1.0, "3", None])
    add("encoders", f"a memory word {value!r}",
        lambda v=value: commands.load_acts(cfg, 0, [v]), "memory word", repr(value))
    value = rng.choice([-1, 1 << 32, 1.5, "ab"])
    add("encoders", f"a command word {value!r} to exchange",
        lambda v=value: FunctionalBackend(cfg).exchange([v]), "command word", repr(value))

    # backends and configurations
    add("backends", "an unknown backend", lambda: _make_backend("gpu", cfg), "'gpu'")
    p = rng.choice([1.0, 1.5, -0.1, float("nan")])
    add("backends", f"p_idle={p}", lambda p=p: _make_backend("amaranth", cfg, p_idle=p),
        "p_idle", repr(p))
    field, value = rng.choice([("rows", 0), ("cols", 2.0), ("weight_format", "3bit"),
                               ("acc_bits", 8), ("max_load", 0), ("act_depth", -1)])
    add("backends", f"AcceleratorConfig({field}={value!r})",
        lambda f=field, v=value: AcceleratorConfig(**{f: v}), field)
    add("backends", "a backend of something that is not a configuration",
        lambda: FunctionalBackend({"rows": 2}), "config", "dict")


def _make_backend(name, config, **options):
    from .backends import make_backend
    return make_backend(name, config, **options)


def check_case(case: Case) -> str | None:
    """None if the case raised a clear error; else what went wrong."""
    try:
        result = case.call()
    except (ValueError, TypeError) as e:
        message = str(e)
        missing = [n for n in case.needles if n.lower() not in message.lower()]
        if missing:
            return (f"{case.category}: {case.name}: {type(e).__name__}({message!r}) does not "
                    f"name {missing}")
        return None
    except Exception as e:                # any other kind is the finding
        return f"{case.category}: {case.name}: {type(e).__name__}: {e}"
    return f"{case.category}: {case.name}: no error (returned {str(result)[:60]})"


def host_fuzz(seed: int = 0, per_category: int = 8) -> dict:
    """Run :func:`cases`; counts per category, and the failures."""
    counts = {c: [0, 0] for c in CATEGORIES}
    failures = []
    for case in cases(seed, per_category):
        problem = check_case(case)
        counts[case.category][0] += 1
        if problem is None:
            counts[case.category][1] += 1
        else:
            failures.append(problem)
    total = sum(n for n, _ in counts.values())
    return {"seed": seed, "cases": total, "passed": total - len(failures),
            "failed": len(failures), "categories": counts, "failures": failures}
