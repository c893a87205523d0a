"""The values a tensor holds once stored in a TTNN dtype, bit-exact with
tt-metal's host conversions (the ones ttnn uses to put a host tensor on a
chip), computed with vectorised numpy.

bfloat16 (tt-metal tt_metal/impl/data_format/bfloat16.cpp,
fp32_to_bf16_bits_round_to_nearest_even): the float32 bits plus 0x7FFF plus
bit 16, shifted right by 16: round to nearest, ties to even. Infinities stay
infinite, finite values past the largest bfloat16 round to infinity,
subnormals are rounded like any other value (no flush). Every NaN becomes the
canonical quiet NaN 0x7FC0, whatever its sign or payload.

bfloat8_b / bfloat4_b (tt-metal blockfloat_common.cpp, convert_u32_to_bfp, and
its vectorised twin bfp_simd.hpp, row_scalar), per group of 16 consecutive
values of a face row, i.e. elements [16j, 16j + 16) of a row of the last
dimension, the padding being zeros:

  shared exponent e = the largest 8-bit exponent field in the group (255 when
  the group holds an infinity or a NaN, 0 when it holds only zeros and
  subnormals);
  a value whose exponent field is 0 (+-0 and every subnormal) is stored as 0;
  otherwise its 24-bit significand (hidden bit set, so inf and NaN take part
  like 2^128 * 1.fraction) is shifted right by e - exp (to 0 once the
  difference reaches 24; the bits shifted out are lost, no sticky bit reaches
  the rounding), then rounded to its top mant_bits bits (7 or 3):
  the low 24 - mant_bits bits are dropped, rounding up when they exceed half,
  and on an exact half only when the last kept bit is 1; a carry past the top
  bit saturates at 0x7F / 0x7;
  a magnitude that rounds to 0 is stored without its sign.
(tt-metal releases before the exponent-0 check ran subnormals through the
same arithmetic with the hidden bit added; this follows the current code,
which bfp_simd.hpp states as "flush exponent-zero inputs".)

Decoding (tt-metal bfloat8.cpp unpack_bfp8_tiles_into_float_vec, bfloat4.cpp
unpack_bfp4_tiles_into_float_vec) renormalises the magnitude m: it shifts m
left by s until its top bit (bit mant_bits - 1) is set and builds the float32
with exponent field e - s and the bits below that top bit as its fraction, so
value = (-1)^sign * m * 2^(e - 127 - (mant_bits - 1)) whenever 0 < e - s < 255.
At the edges tt-metal's bit assembly is kept as is: e - s < 0 gives +0; e - s
== 0 gives the float32 subnormal with that fraction (the hidden bit is lost);
e - s == 255 gives inf (fraction 0) or a NaN; m == 0 gives a zero that keeps
the stored sign bit (-0 only for a code no encoder writes).

quantize_block_float(x) is that decode of that encode; the tile layout is in
ttpack.archive.tiles, which uses the group functions below.
"""

from __future__ import annotations

import numpy as np

BLOCK_FLOAT_MANT_BITS = {"bfloat8_b": 7, "bfloat4_b": 3}
STORAGE_DTYPES = ("float32", "bfloat16", "bfloat8_b", "bfloat4_b")

_BF16_NAN = np.uint16(0x7FC0)
# Groups encoded per numpy pass: bounds the temporaries on multi-GB weights.
_CHUNK_GROUPS = 1 << 16


def _f32_bits(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def bf16_bits(x) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounded as tt-metal does."""
    shape = np.shape(x)
    u = _f32_bits(x).reshape(-1)  # 1-d: numpy turns 0-d results into scalars
    # uint32 wrap-around only happens for NaN bit patterns, replaced below
    out = ((u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) >> np.uint32(16)).astype(np.uint16)
    out[(u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)] = _BF16_NAN
    return out.reshape(shape)


def from_bf16_bits(b) -> np.ndarray:
    """bfloat16 bit patterns -> float32 (exact)."""
    b = np.asarray(b, dtype=np.uint16)
    return (b.reshape(-1).astype(np.uint32) << np.uint32(16)).view(np.float32).reshape(b.shape)


def round_bf16(x) -> np.ndarray:
    """The float32 values of x stored as bfloat16."""
    return from_bf16_bits(bf16_bits(x))


def _check_mant_bits(mant_bits: int) -> int:
    if mant_bits not in (7, 3):
        raise ValueError(f"block floats keep 7 (bfloat8_b) or 3 (bfloat4_b) magnitude bits, not {mant_bits}")
    return mant_bits


def _encode_chunk(u: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    exp = (u >> np.uint32(23)) & np.uint32(0xFF)
    shared = exp.max(axis=1, keepdims=True)
    # a shift of 24 already clears the 24-bit significand; numpy shifts >= 32 are not defined
    diff = np.minimum(shared - exp, np.uint32(24))
    mant = ((u & np.uint32(0x7FFFFF)) | np.uint32(0x800000)) >> diff
    drop = 24 - bits
    rest = mant & np.uint32((1 << drop) - 1)
    q = mant >> np.uint32(drop)
    half = np.uint32(1 << (drop - 1))
    q += (rest > half) | ((rest == half) & (q & np.uint32(1)).astype(bool))
    np.minimum(q, np.uint32((1 << bits) - 1), out=q)
    q[exp == 0] = 0
    code = np.where(q != 0, q | ((u >> np.uint32(31)) << np.uint32(bits)), np.uint32(0))
    return shared[:, 0].astype(np.uint8), code.astype(np.uint8)


def encode_block_float_groups(groups, mant_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 groups [N, 16] -> (shared exponents uint8 [N], codes uint8 [N, 16]);
    a code is sign << mant_bits | magnitude."""
    bits = _check_mant_bits(mant_bits)
    u = _f32_bits(groups)
    if u.ndim != 2 or u.shape[1] != 16:
        raise ValueError(f"block-float groups must have shape [N, 16], not {list(u.shape)}")
    exps = np.empty(u.shape[0], np.uint8)
    codes = np.empty(u.shape, np.uint8)
    for start in range(0, u.shape[0], _CHUNK_GROUPS):
        stop = start + _CHUNK_GROUPS
        exps[start:stop], codes[start:stop] = _encode_chunk(u[start:stop], bits)
    return exps, codes


def _decode_tables(bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code c: shift[c], the renormalising shift (found by tt-metal's
    shift-until-top-bit loop; 256 for a zero magnitude, so that e - shift < 0);
    fbits[c], the float32 sign and fraction bits in place; under[c], the float32
    bits when e - shift < 0 (+0, or the signed zero of a zero magnitude)."""
    n = 1 << (bits + 1)
    mask = (1 << bits) - 1
    top = 1 << (bits - 1)
    shift = np.zeros(n, np.int32)
    fbits = np.zeros(n, np.uint32)
    under = np.zeros(n, np.uint32)
    for c in range(n):
        sign = (c >> bits) << 31
        m = c & mask
        if m == 0:
            shift[c] = 256
            under[c] = sign
            continue
        s = 0
        while not m & top:
            m <<= 1
            s += 1
        shift[c] = s
        fbits[c] = sign | ((m << 1) & mask) << (23 - bits)
    return shift, fbits, under


_TABLES = {bits: _decode_tables(bits) for bits in (7, 3)}


def _decode_chunk(e: np.ndarray, codes: np.ndarray, bits: int) -> np.ndarray:
    shift_t, fbits_t, under_t = _TABLES[bits]
    field = e - np.take(shift_t, codes)
    out = np.take(fbits_t, codes) | (field.astype(np.uint32) << np.uint32(23))
    return np.where(field >= 0, out, np.take(under_t, codes))


def decode_block_float_groups(exps, codes, mant_bits: int) -> np.ndarray:
    """(shared exponents [N], codes [N, 16]) -> float32 [N, 16], as tt-metal unpacks them."""
    bits = _check_mant_bits(mant_bits)
    codes = np.asarray(codes, dtype=np.uint8)
    e = np.asarray(exps, dtype=np.uint8).astype(np.int32)[:, None]
    out = np.empty(codes.shape, np.uint32)
    for start in range(0, codes.shape[0], _CHUNK_GROUPS):
        stop = start + _CHUNK_GROUPS
        out[start:stop] = _decode_chunk(e[start:stop], codes[start:stop], bits)
    return out.view(np.float32)


def quantize_block_float(x, mant_bits: int) -> np.ndarray:
    """The values of float32 x after storage as a block float: groups of 16
    along the last dimension, zero-padded; same shape as x."""
    _check_mant_bits(mant_bits)
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return x.copy()
    shape = x.shape
    width = shape[-1] if x.ndim else 1
    rows = x.reshape(-1, width)
    padded_width = -(-width // 16) * 16
    if padded_width != width:
        rows = np.pad(rows, ((0, 0), (0, padded_width - width)))
    groups = rows.reshape(-1, 16)
    exps, codes = encode_block_float_groups(groups, mant_bits)
    out = decode_block_float_groups(exps, codes, mant_bits).reshape(rows.shape)
    return np.ascontiguousarray(out[:, :width]).reshape(shape)


def quantize(x, storage_dtype: str) -> np.ndarray:
    """The float32 values x holds once stored as storage_dtype ("float32",
    "bfloat16", "bfloat8_b", "bfloat4_b"), in logical row-major form."""
    if storage_dtype == "float32":
        return np.asarray(x, dtype=np.float32)
    if storage_dtype == "bfloat16":
        return round_bf16(x)
    if storage_dtype in BLOCK_FLOAT_MANT_BITS:
        return quantize_block_float(x, BLOCK_FLOAT_MANT_BITS[storage_dtype])
    raise ValueError(f"unknown float storage dtype {storage_dtype!r}; expected one of {', '.join(STORAGE_DTYPES)}")
