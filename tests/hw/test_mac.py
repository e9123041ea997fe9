# amaranth: UnusedElaboratable=no
# SPDX-License-Identifier: BSD-2-Clause
"""hw.mac and hw.fp16: the INT8 and FP16 multiply-accumulate baselines, bit-exact against
their references (amaranth.sim): the exact integer product, and torch.float16 with subnormals
flushed."""

import numpy as np
import pytest
import torch
from amaranth.sim import Simulator

from golden.contract.config import AcceleratorConfig
from golden.mac import fp16_add, fp16_mac_columns, fp16_mul, int_mac_columns
from hw.fp16 import FP16_NAN, Fp16Adder, Fp16Multiplier
from hw.mac import FP16, INT8, Int8MacPE
from sim.testbenches.core_amaranth import rtl_core_amaranth

# --- binary16 helpers (bit patterns as uint16) ----------------------------------------------

POS_ZERO, NEG_ZERO = 0x0000, 0x8000
ONE, MINUS_ONE, TWO = 0x3C00, 0xBC00, 0x4000
MAX_NORMAL, MIN_NORMAL = 0x7BFF, 0x0400           # 65504, 2**-14
MIN_SUB, MAX_SUB = 0x0001, 0x03FF                 # 2**-24, 2**-14 - 2**-24
INF, NEG_INF = 0x7C00, 0xFC00
NANS = (0x7E00, 0x7C01, 0xFE00, 0x7FFF)

EDGES = [POS_ZERO, NEG_ZERO, ONE, MINUS_ONE, TWO, MAX_NORMAL, MAX_NORMAL | 0x8000, MIN_NORMAL,
         MIN_NORMAL | 0x8000, MIN_SUB, MAX_SUB, MAX_SUB | 0x8000, MIN_SUB | 0x8000, INF, NEG_INF,
         *NANS, 0x5BFF, 0x5C00, 0x3555, 0x0401, 0x07FF, 0x1400, 0x2000, 0x5800]


def _f16(bits) -> torch.Tensor:
    return torch.from_numpy(np.asarray(bits, dtype=np.uint16).view(np.float16).copy())


def _bits(t: torch.Tensor) -> np.ndarray:
    return t.numpy().view(np.uint16)


def _run_comb(dut, pairs) -> np.ndarray:
    out = []

    async def bench(ctx):
        for a, b in pairs:
            ctx.set(dut.a, int(a))
            ctx.set(dut.b, int(b))
            out.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return np.array(out, dtype=np.uint16)


def _assert_same_fp16(got: np.ndarray, expected: np.ndarray, a, b) -> None:
    """Bit-exact, except that any NaN matches any NaN (IEEE leaves a NaN's sign and payload
    open); the hardware's NaN is always FP16_NAN."""
    g, e = got.view(np.float16), expected.view(np.float16)
    same = (got == expected) | (np.isnan(g) & np.isnan(e))
    bad = np.flatnonzero(~same)
    assert not len(bad), "\n".join(
        f"{a[i]:#06x}, {b[i]:#06x}: got {got[i]:#06x}, expected {expected[i]:#06x}"
        for i in bad[:10])
    assert set(got[np.isnan(g)].tolist()) <= {FP16_NAN}


def _random_pairs(rng, n):
    a = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    b = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    return a, b


def _edge_pairs():
    a, b = np.meshgrid(np.array(EDGES, dtype=np.uint16), np.array(EDGES, dtype=np.uint16))
    return a.ravel(), b.ravel()


def _check_unit(unit, ref, a, b):
    got = _run_comb(unit(), list(zip(a.tolist(), b.tolist(), strict=True)))
    _assert_same_fp16(got, _bits(ref(_f16(a), _f16(b))), a, b)


# --- FP16 multiplier --------------------------------------------------------------------------

def test_fp16_mul_matches_torch_on_random_and_edge_inputs(rng):
    a, b = _random_pairs(rng, 3000)
    ea, eb = _edge_pairs()
    _check_unit(Fp16Multiplier, fp16_mul, np.concatenate([a, ea]), np.concatenate([b, eb]))


def test_fp16_mul_rounds_near_the_bottom_of_the_normal_range(rng):
    """Products around 2**-14: those torch rounds up to 2**-14 from below (the hardware must
    not flush them), and those it rounds to subnormals (flushed)."""
    a = rng.integers(0x1800, 0x2800, 200_000, dtype=np.uint16)        # about 2**-9 .. 2**-5
    b = rng.integers(0x1800, 0x2800, 200_000, dtype=np.uint16)
    exact = a.view(np.float16).astype(np.float64) * b.view(np.float16).astype(np.float64)
    rounded = _bits(_f16(a) * _f16(b))
    up = (exact < 2.0 ** -14) & (rounded == MIN_NORMAL)
    sub = (exact < 2.0 ** -14) & (rounded < MIN_NORMAL)
    assert up.sum() >= 5 and sub.sum() >= 5, "the search found too few cases"
    pick = np.concatenate([np.flatnonzero(up)[:40], np.flatnonzero(sub)[:40]])
    _check_unit(Fp16Multiplier, fp16_mul, a[pick], b[pick])


def test_fp16_mul_overflows_to_infinity():
    # 256 * 256 = 65536 > 65504, and 255.9 * 256 rounds to 65504 or overflows by RNE.
    a = np.array([0x5C00, 0x5BFF, 0x5BFF, 0xDC00, 0x7BFF], dtype=np.uint16)
    b = np.array([0x5C00, 0x5C00, 0x5C01, 0x5C00, 0x3C01], dtype=np.uint16)
    got = _run_comb(Fp16Multiplier(), list(zip(a.tolist(), b.tolist(), strict=True)))
    assert got.tolist() == [INF, MAX_NORMAL, INF, NEG_INF, INF]


def test_fp16_mul_flushes_subnormals_as_stated():
    """Subnormal operands read as signed zeros; subnormal results become signed zeros;
    0 * inf and NaN operands give NaN."""
    pairs = [(MIN_SUB, ONE), (MAX_SUB | 0x8000, ONE), (MAX_SUB, TWO), (MIN_NORMAL, 0x3800),
             (MIN_NORMAL | 0x8000, 0x3800), (POS_ZERO, INF), (MIN_SUB, INF), (NANS[1], ONE),
             (ONE, NANS[2])]
    got = _run_comb(Fp16Multiplier(), pairs).tolist()
    assert got[:5] == [POS_ZERO, NEG_ZERO, POS_ZERO, POS_ZERO, NEG_ZERO]
    assert got[5:] == [FP16_NAN] * 4


# --- FP16 adder -------------------------------------------------------------------------------

def test_fp16_add_matches_torch_on_random_and_edge_inputs(rng):
    a, b = _random_pairs(rng, 3000)
    # Opposite signs and nearby magnitudes: cancellation, the hard part of an adder.
    a2 = rng.integers(0, 1 << 16, 3000, dtype=np.uint16)
    b2 = a2 ^ np.uint16(0x8000) ^ rng.integers(0, 1 << 12, 3000).astype(np.uint16)
    ea, eb = _edge_pairs()
    _check_unit(Fp16Adder, fp16_add, np.concatenate([a, a2, ea]), np.concatenate([b, b2, eb]))


def test_fp16_add_special_cases_as_stated(rng):
    x = rng.integers(0x0400, 0x7C00, 50, dtype=np.uint16)            # positive normals
    pairs = [(INF, NEG_INF), (NEG_INF, INF), (MAX_NORMAL, MAX_NORMAL), (NEG_ZERO, NEG_ZERO),
             (POS_ZERO, NEG_ZERO), (MIN_SUB, MIN_SUB), (MAX_SUB | 0x8000, NEG_ZERO),
             (0x7BFF, 0x4C00), (0x7BFF, 0x4BFF)]     # 65504 + 16 ties to inf; + 15.99 does not
    pairs += [(int(v), int(v) ^ 0x8000) for v in x]                   # x + (-x)
    pairs += [(NEG_ZERO, int(v)) for v in x] + [(NEG_ZERO, int(v) | 0x8000) for v in x]
    got = _run_comb(Fp16Adder(), pairs).tolist()
    assert got[:9] == [FP16_NAN, FP16_NAN, INF, NEG_ZERO, POS_ZERO, POS_ZERO, NEG_ZERO, INF,
                       MAX_NORMAL]
    assert got[9:59] == [POS_ZERO] * 50
    # -0 is an exact identity: the array feeds it to its top row.
    assert got[59:] == [int(v) for v in x] + [int(v) | 0x8000 for v in x]


# --- processing elements and arrays -----------------------------------------------------------

def test_int8_psum_widths_follow_bit_growth():
    cfg = AcceleratorConfig(rows=16, cols=4)
    # |product| <= 128 * 128 = 2**14: 16 bits for one row, 20 bits for a sum of sixteen.
    assert [INT8.psum_bits(cfg, r) for r in (1, 2, 3, 4, 16)] == [16, 17, 17, 18, 20]
    with pytest.raises(ValueError, match="psum_out_bits=15 could overflow"):
        Int8MacPE(act_bits=8, psum_in_bits=1, psum_out_bits=15)


def _int8_tiles(rng, cfg, n_tiles):
    lo, hi = cfg.act_min, cfg.act_max
    # The extremes first: every product at +2**14 (-128 * -128) and at -128 * 127.
    full = np.full((cfg.rows, cfg.cols), lo)
    tiles = [(full, np.full((2, cfg.rows), lo)), (full + 255, np.full((1, cfg.rows), lo))]
    for _ in range(n_tiles):
        tiles.append((rng.integers(lo, hi + 1, (cfg.rows, cfg.cols)),
                      rng.integers(lo, hi + 1, (int(rng.integers(1, 5)), cfg.rows))))
    return tiles


def _signed(raw, bits):
    raw = np.asarray(raw, dtype=np.int64)
    return np.where(raw >> (bits - 1), raw - (1 << bits), raw)


@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (3, 5)])
def test_int8_array_is_bit_exact(rows, cols, rng, seed):
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    tiles = _int8_tiles(rng, cfg, 5)
    mask = (1 << cfg.act_bits) - 1
    got, latency = rtl_core_amaranth(
        cfg, INT8, [((w & mask).tolist(), (x & mask).tolist()) for w, x in tiles],
        p_idle=0.3, seed=seed)
    expected = np.concatenate([int_mac_columns(torch.from_numpy(x), torch.from_numpy(w)).numpy()
                               for w, x in tiles])
    np.testing.assert_array_equal(_signed(got, INT8.psum_bits(cfg, rows)), expected)
    assert set(latency) == {cfg.array_latency}


def _fp16_matrix(rng, shape, specials):
    """Normal values of varied magnitude, with a sprinkling of ``specials`` bit patterns."""
    x = (rng.standard_normal(shape) * np.exp2(rng.integers(-6, 7, shape))).astype(np.float16)
    bits = x.view(np.uint16).copy()
    where = rng.random(shape) < 0.08
    bits[where] = rng.choice(np.array(specials, dtype=np.uint16), where.sum())
    return bits


@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (5, 3)])
def test_fp16_array_matches_torch_row_by_row(rows, cols, rng, seed):
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    specials = [POS_ZERO, NEG_ZERO, INF, NEG_INF, NANS[0], MIN_SUB, MAX_SUB | 0x8000,
                MAX_NORMAL, MIN_NORMAL]
    tiles = [(_fp16_matrix(rng, (rows, cols), specials if t % 2 else [POS_ZERO]),
              _fp16_matrix(rng, (int(rng.integers(1, 5)), rows), specials if t % 2 else [ONE]))
             for t in range(6)]
    # A column whose partial sums cancel exactly and one that overflows.
    tiles.append((np.tile(np.array([ONE, MINUS_ONE] * rows, np.uint16)[:rows, None], (1, cols)),
                  np.full((1, rows), TWO, np.uint16)))
    tiles.append((np.full((rows, cols), MAX_NORMAL, np.uint16), np.full((1, rows), ONE, np.uint16)))
    got, latency = rtl_core_amaranth(cfg, FP16, [(w.tolist(), x.tolist()) for w, x in tiles],
                                     p_idle=0.3, seed=seed)
    expected = np.concatenate([_bits(fp16_mac_columns(_f16(x), _f16(w))) for w, x in tiles])
    got = np.array(got, dtype=np.uint16)
    _assert_same_fp16(got.ravel(), expected.ravel(), got.ravel(), expected.ravel())
    assert set(latency) == {cfg.array_latency}
