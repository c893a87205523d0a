"""Storage numerics (ttpack.compiler.numerics): bfloat16 against a scalar
reference and ml_dtypes; block-float quantization against a scalar
reference that works on values (exact rationals) rather than on bits."""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import pytest

from ttpack.compiler import numerics


def _u32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def _f32(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def _bits_of(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


# ---- bfloat16 -----------------------------------------------------------------------------------

def ref_bf16(u: int) -> int:
    """Round to nearest, ties to even, on the dropped 16 bits; NaN -> 0x7FC0 (tt-metal bfloat16.cpp)."""
    if (u >> 23) & 0xFF == 0xFF and u & 0x7FFFFF:
        return 0x7FC0
    hi, lo = u >> 16, u & 0xFFFF
    if lo > 0x8000 or (lo == 0x8000 and hi & 1):
        hi += 1  # a carry out of the fraction raises the exponent, up to infinity
    return hi


def _bf16_cases(rng) -> np.ndarray:
    random = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)  # every exponent, NaNs included
    exps = np.arange(256, dtype=np.uint32) << 23
    lows = np.array([0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF], np.uint32)
    parity = np.array([0, 1 << 16, 0x7F << 16], np.uint32)  # last kept bit even, odd, all ones
    grid = (exps[:, None, None] | parity[None, :, None] | lows[None, None, :]).reshape(-1)
    specials = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7F800001, 0x7FC00000, 0xFFC00000,
                         0x7FFFFFFF, 0xFFFFFFFF, 0xFF800001, 0x7FBFFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000,
                         0x7F7F7FFF, 0x7F7EFFFF, 0x7F7E8000, 0x00008000, 0x00018000, 0x80007FFF, 0x007FFFFF],
                        np.uint32)
    return np.concatenate([random, grid, grid | np.uint32(1 << 31), specials])


def test_bf16_matches_scalar_reference(rng):
    u = _bf16_cases(rng)
    got = numerics.bf16_bits(_f32(u))
    assert got.dtype == np.uint16 and got.shape == u.shape
    want = np.array([ref_bf16(int(v)) for v in u], np.uint16)
    np.testing.assert_array_equal(got, want)


def test_bf16_matches_ml_dtypes_except_nan_sign(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    u = _bf16_cases(rng)
    x = _f32(u)
    got = numerics.bf16_bits(x)
    with np.errstate(invalid="ignore"):
        theirs = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], theirs[~nan])
    # ml_dtypes keeps a NaN's sign; tt-metal (and so ttpack) always writes 0x7FC0
    assert np.isnan(theirs[nan].view(ml_dtypes.bfloat16).astype(np.float32)).all()
    assert (got[nan] == 0x7FC0).all()


def test_bf16_decoding_and_rounding():
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    x = numerics.from_bf16_bits(every)
    np.testing.assert_array_equal(x.view(np.uint32), every.astype(np.uint32) << 16)
    finite = every[~np.isnan(x)]
    np.testing.assert_array_equal(numerics.bf16_bits(numerics.from_bf16_bits(finite)), finite)  # exact
    largest = _f32(0x7F7F0000)  # the largest finite bfloat16
    y = np.array([[1.0 + 2**-8, 1.0 + 3 * 2**-8], [_f32(0x7F7F7FFF), -3.4e38]], np.float32)
    np.testing.assert_array_equal(numerics.round_bf16(y), [[1.0, 1.0 + 2**-6], [largest, -np.inf]])
    assert numerics.round_bf16(np.float32(np.nan)).shape == ()
    np.testing.assert_array_equal(numerics.quantize(y, "bfloat16"), numerics.round_bf16(y))


# ---- block floats: a value-level reference ------------------------------------------------------

def ref_quantize_group(group: list[int], width: int) -> list[int]:
    """One group of 16 float32 bit patterns -> the float32 bit patterns it decodes to.

    The magnitude is |x| measured in units of 2^(e - 150) (e the largest
    exponent field), i.e. the 24-bit significand window at the shared
    exponent; tt-metal's right shift truncates it to an integer (later
    bits are lost, not sticky), and the integer is then rounded, half to
    even, to a multiple of 2^(24 - width)."""
    e = max((u >> 23) & 0xFF for u in group)
    out = []
    for u in group:
        exp = (u >> 23) & 0xFF
        if exp == 0:
            out.append(0)  # zeros and subnormals store 0
            continue
        significand = (u & 0x7FFFFF) | 0x800000  # |x| = significand * 2^(exp - 150); inf/NaN: 2^128 * 1.f
        window = significand // 2 ** (e - exp)  # truncating
        q = min(round(Fraction(window, 2 ** (24 - width))), 2**width - 1)  # round() on a Fraction: half to even
        if q == 0:
            out.append(0)  # the sign of a zero magnitude is dropped
            continue
        sign = u >> 31
        value = q * Fraction(2) ** (e - 127 - (width - 1))
        if e == 255 and q >= 2 ** (width - 1):  # inf or NaN: exponent field 255 again
            fraction = (q - 2 ** (width - 1)) << (24 - width)
            out.append((sign << 31) | (0xFF << 23) | fraction)
        else:
            out.append((sign << 31) | _bits_of(float(value)))  # a normal float32: exact
    return out


def _groups(rng, width: int) -> np.ndarray:
    K = width - 1
    step = 2.0**-K
    rows = [
        rng.standard_normal((200, 16)),
        rng.standard_normal((200, 16)) * np.exp2(rng.integers(-40, 40, (200, 16))),
        rng.standard_normal((50, 16)) * np.exp2(rng.integers(-126, 127, (50, 1))),
        np.repeat(rng.standard_normal((20, 1)), 16, axis=1),  # all equal
    ]
    edge = np.zeros((6, 16))
    edge[0] = [1.0, *[(q + 0.5) * step for q in range(2**K, 2**K + 15)]]  # ties in [1, 2), both parities
    edge[1] = [1.0, 0.5 * step, -0.5 * step, 1.5 * step, -1.5 * step, 2.5 * step, -2.5 * step, -step / 3,
               (2**width - 0.5) * step, -(2**width - 0.25) * step, 1e-40, -1e-45, 0.0, -0.0, 1e-30, 1.99999999]
    edge[2] = [1e30, 1e-30, -1e20, 3.0, 7e-39, *([0.0] * 11)]
    edge[3] = [np.inf, 1.0, -np.inf, 3e38, *([-0.5] * 12)]
    edge[4] = [np.nan, 2.0, *([1.0] * 14)]
    edge[5] = [k * 2.0**-124 for k in range(1, 17)]  # small shared exponent
    rows = [r.astype(np.float32) for r in rows] + [edge.astype(np.float32)]
    nan_bits = np.array([[0x7F800001, 0xFFFFFFFF, 0x7FBFFFFF, 0x3F800000] * 4], np.uint32)
    return np.concatenate(rows + [_f32(nan_bits)])


@pytest.mark.parametrize("width", [7, 3])
def test_block_float_quantize_matches_value_reference(rng, width):
    groups = _groups(rng, width)
    got = numerics.quantize_block_float(groups, width)
    want = np.array([ref_quantize_group([int(v) for v in g], width) for g in _u32(groups)], np.uint32)
    np.testing.assert_array_equal(got.view(np.uint32), want)


@pytest.mark.parametrize("storage,width", [("bfloat8_b", 7), ("bfloat4_b", 3)])
def test_block_float_groups_run_along_the_last_dimension(rng, storage, width):
    x = (rng.standard_normal((3, 5, 37)) * np.exp2(rng.integers(-8, 8, (3, 5, 37)))).astype(np.float32)
    got = numerics.quantize(x, storage)
    padded = np.zeros((15, 48), np.float32)
    padded[:, :37] = x.reshape(15, 37)
    groups = _u32(padded.reshape(-1, 16))
    want = np.array([ref_quantize_group([int(v) for v in g], width) for g in groups], np.uint32)
    np.testing.assert_array_equal(got.view(np.uint32), want.reshape(15, 48)[:, :37].reshape(x.shape))
    # rank 0 and rank 1 are one row
    np.testing.assert_array_equal(numerics.quantize(x[0, 0], storage), got[0, 0])
    assert numerics.quantize(np.float32(3.3), storage).shape == ()
    np.testing.assert_array_equal(numerics.quantize(np.float32(3.3), storage),
                                  numerics.quantize(np.array([3.3], np.float32), storage)[0])


def test_block_float_stated_outcomes():
    x = np.array([1.0, -1.0 / 1024, 1.9999999, -1.5 / 64, 2.5 / 64, 1e-40, -0.0, np.inf], np.float32)
    q8 = numerics.quantize(x, "bfloat8_b")
    np.testing.assert_array_equal(q8[:7], [0.0] * 7)  # inf makes the shared exponent 255: all else is 0
    assert np.isposinf(q8[7])
    q8 = numerics.quantize(x[:7], "bfloat8_b")
    np.testing.assert_array_equal(q8, [1.0, 0.0, 127 / 64, -2 / 64, 2 / 64, 0.0, 0.0])
    assert not np.signbit(q8[1])  # rounded to 0: sign dropped
    q4 = numerics.quantize(x[:7], "bfloat4_b")
    np.testing.assert_array_equal(q4, [1.0, 0.0, 7 / 4, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(numerics.quantize(x, "float32"), x)


def test_quantize_is_vectorised_and_rejects_unknown_dtypes(rng):
    import time

    w = rng.standard_normal((1024, 1024)).astype(np.float32)
    start = time.perf_counter()
    for storage in ("bfloat16", "bfloat8_b", "bfloat4_b"):
        numerics.quantize(w, storage)
    assert time.perf_counter() - start < 5.0  # ~0.1 s; a per-element loop takes minutes
    with pytest.raises(ValueError, match="unknown float storage"):
        numerics.quantize(w, "float16")
    with pytest.raises(ValueError, match="7 .* or 3"):
        numerics.quantize_block_float(w, 5)
