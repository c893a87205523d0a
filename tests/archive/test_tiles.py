"""TILE encodings (ttpack.archive.tiles) against a scalar transcription of
tt-metal's block-float packer and unpacker, element by element in plain
Python ints; tile and face order at known byte offsets; sizes; row-major."""

from __future__ import annotations

import itertools
import math
import struct

import numpy as np
import pytest

from ttpack.archive import tiles
from ttpack.compiler import numerics

BITS = {"bfloat8_b": 7, "bfloat4_b": 3}
FLOAT_STORAGES = ("float32", "bfloat16", "bfloat8_b", "bfloat4_b")


def _u32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).view(np.uint32)


# ---- the reference: tt-metal, scalar ------------------------------------------------------------
# tt_metal/impl/data_format/blockfloat_common.cpp: convert_u32_to_bfp<Bfp8_b / Bfp4_b, false>
# (is_exp_a = false), create_packed_bfp_packed_as_u32, get_max_exp, pack_fp32_vec_as_bfp_tiles
# (row_major_input = true, 32x32 tiles of 16x16 faces); bfloat8.cpp / bfloat4.cpp:
# unpack_bfp8_tiles_into_float_vec / unpack_bfp4_tiles_into_float_vec, one SIMD lane at a time.

def ref_convert_u32_to_bfp(value: int, shared_exp: int, width: int) -> int:
    mantissa = value & 0x007FFFFF
    exp = (value & 0x7F800000) >> 23
    sign = (value & 0x80000000) >> 31
    if exp == 0:  # is_zero_or_denormal
        return 0
    mantissa = (1 << 23) | mantissa
    if shared_exp > exp:
        exp_diff = shared_exp - exp
        while exp_diff > 31:
            mantissa = mantissa >> 31
            exp_diff -= 31
        mantissa = mantissa >> exp_diff
    shift = 24 - width
    round_mask = (1 << shift) - 1
    tie_value = 1 << (shift - 1)
    round_value = mantissa & round_mask
    mantissa = mantissa >> shift
    guard_bit = mantissa & 0x1
    if round_value > tie_value or (round_value == tie_value and guard_bit == 1):
        mantissa += 1
    if mantissa > (1 << width) - 1:
        mantissa = (1 << width) - 1
    if mantissa == 0:
        sign = 0
    return (sign << width) | mantissa


def ref_get_max_exp(row: list[int]) -> int:
    best = 0
    for v in row:
        exp = (v & 0x7F800000) >> 23
        if exp > best:
            best = exp
    return best


def ref_pack_tiles(tile_major: list[int], width: int) -> bytes:
    """tile_major: float32 bits, 1024 per tile, each tile row-major."""
    nums_in_dword = 32 // (width + 1)
    mask = (1 << (width + 1)) - 1
    out = bytearray()
    for tile_index in range(len(tile_major) // 1024):
        exponents, packed_data, data = [], [], []
        for tr in range(2):
            for tc in range(2):
                for i in range(16):
                    single_row = [tile_major[(tr * 16 + i) * 32 + (tc * 16 + j) + 1024 * tile_index]
                                  for j in range(16)]
                    exp = ref_get_max_exp(single_row)
                    exponents.append(exp)
                    for datum in single_row:
                        data.append(datum)
                        if len(data) % nums_in_dword == 0:
                            tmp = 0
                            for k in range(nums_in_dword - 1, -1, -1):  # [0] in the low bits
                                tmp = (tmp << (width + 1)) | (ref_convert_u32_to_bfp(data[k], exp, width) & mask)
                            packed_data.append(tmp)
                            data = []
        out += bytes(exponents)  # 64 exponents = 16 words, no alignment padding
        out += struct.pack(f"<{len(packed_data)}I", *packed_data)
    return bytes(out)


def ref_unpack_value(code: int, shared_exp: int, width: int) -> int:
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    sign = code >> width
    man = code & mask
    if man == 0:  # select_mask: exponent 0, mantissa 0, the sign bit still or-ed in
        return sign << 31
    shift_cnt = 0
    for _ in range(width):
        if man >= top:
            break
        man <<= 1
        shift_cnt += 1
    man = (man << 1) & mask
    if shift_cnt > shared_exp:  # mask_denormal: the whole lane becomes 0
        return 0
    return (sign << 31) | ((shared_exp - shift_cnt) << 23) | (man << (23 - width))


def ref_unpack_tiles(data: bytes, width: int) -> list[int]:
    """-> float32 bits, 1024 per tile, each tile row-major."""
    tile_bytes = 64 + 1024 * (width + 1) // 8
    out = []
    for t in range(len(data) // tile_bytes):
        tile = data[t * tile_bytes:(t + 1) * tile_bytes]
        words = struct.unpack_from("<" + "I" * ((tile_bytes - 64) // 4), tile, 64)
        values = [0] * 1024
        per_word = 32 // (width + 1)
        for k in range(1024):  # k: position in face order
            face, rest = divmod(k, 256)
            r, c = divmod(rest, 16)
            word = words[k // per_word]
            code = (word >> ((k % per_word) * (width + 1))) & ((1 << (width + 1)) - 1)
            exp = tile[face * 16 + r]
            values[((face // 2) * 16 + r) * 32 + (face % 2) * 16 + c] = ref_unpack_value(code, exp, width)
        out += values
    return out


def ref_tile_major(x: np.ndarray) -> list[int]:
    """Pads and splits [..., H, W] into row-major 32x32 tiles, one element at a time."""
    shape = x.shape if x.ndim >= 2 else (1, *x.shape) if x.ndim else (1, 1)
    m = x.reshape(-1, shape[-2], shape[-1])
    u = _u32(m)
    h, w = shape[-2], shape[-1]
    th, tw = -(-h // 32), -(-w // 32)
    out = []
    for b in range(m.shape[0]):
        for ti in range(th):
            for tj in range(tw):
                for r in range(32):
                    for c in range(32):
                        y, z = ti * 32 + r, tj * 32 + c
                        out.append(int(u[b, y, z]) if y < h and z < w else 0)
    return out


def ref_crop(tile_major: list[int], shape) -> np.ndarray:
    shape = tuple(shape)
    mshape = shape if len(shape) >= 2 else (1, *shape) if shape else (1, 1)
    h, w = mshape[-2], mshape[-1]
    th, tw = -(-h // 32), -(-w // 32)
    out = np.zeros((math.prod(mshape[:-2]), h, w), np.uint32)
    for b, y, z in itertools.product(range(out.shape[0]), range(h), range(w)):
        t = (b * th + y // 32) * tw + z // 32
        out[b, y, z] = tile_major[t * 1024 + (y % 32) * 32 + z % 32]
    return out.reshape(shape).view(np.float32)


# ---- data ---------------------------------------------------------------------------------------

def _random(rng, shape) -> np.ndarray:
    """Normal values scaled by 2^k, k drawn per element, so groups mix magnitudes."""
    scale = np.exp2(rng.integers(-30, 30, size=shape)).astype(np.float32)
    return (rng.standard_normal(shape).astype(np.float32) * scale).astype(np.float32)


def _bits_to_f32(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def _edge_groups(width: int) -> np.ndarray:
    """Groups of 16 float32 values exercising the encoder's every branch."""
    K = width - 1
    f = np.float32
    step = 2.0 ** -K  # a code's step when the shared exponent is 127 (max in [1, 2))
    groups = []

    def g(*vals, fill=0.0):
        vals = list(vals) + [fill] * (16 - len(vals))
        groups.append(np.array(vals, dtype=np.float32))

    def gb(*bits, fill=0):
        bits = list(bits) + [fill] * (16 - len(bits))
        groups.append(_bits_to_f32(bits))

    g(0.0, -0.0, 0.0, -0.0, fill=-0.0)                                   # all zeros, both signs
    g(1.0, -step / 4, step / 4, -step / 2.5, -1e-30, fill=-step / 8)     # magnitudes rounding to 0: sign lost
    gb(0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000)       # only subnormals: shared exponent 0
    gb(0x3F800000, 0x00000001, 0x807FFFFF, 0x00800000, 0x80800000)       # subnormals beside normals
    gb(0x7F800000, 0x3F800000, 0xFF800000, 0x7F7FFFFF, fill=0x40000000)  # +-inf (shared exponent 255)
    gb(0x7FC00000, 0x3F800000, 0x7F800001, 0xFFFFFFFF, 0xFFC00000, 0x7FBFFFFF)  # NaNs of every kind
    gb(0x3FFFFFFF, 0x3F800000, 0xBFFFFFFF, 0x3FFF0000, 0xBFFE0000, 0x3FFFFFFE)  # carry past the top: saturate
    gb(0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x01000000)                   # shift differences >= 32
    lo, hi = 2 ** (width - 1), 2 ** width  # magnitudes with the top bit set: values in [1, 2)
    qs = list(range(lo, hi)) if width == 3 else list(range(lo, lo + 8)) + list(range(hi - 7, hi))
    g(*[f((q + 0.5) * step) for q in qs], 1.0)                           # ties, both parities; 127.5 saturates
    g(1.0, *[f(-(q + 0.5) * step) for q in range(1, min(15, lo))])       # ties of shifted values
    g(1.0, 0.5 * step, -0.5 * step, 1.5 * step, -1.5 * step, 2.5 * step, -2.5 * step)  # ties at 0, 1, 2
    # ties whose sticky bits fall out of the 24-bit window when shifted (truncated, then ties to even)
    base = [int(_u32(f((2 * q + 0.5) * step))) + 1 for q in range(1, min(8, 2 ** (width - 2)))]
    gb(0x3F800000, *base, *[b | 0x80000000 for b in base])
    g(1e30, 1e-30, -1e-20, 3.0, -2.5e29, 7.0e-39, 1.0)                   # tiny next to huge
    g(fill=0.3)                                                          # all equal
    g(fill=-7.5)
    g(fill=f(2.0 ** -126))                                               # all equal, smallest normal
    gb(fill=0x7F7FFFFF)                                                  # all equal, largest finite
    g(*[f(k * 2.0 ** -124) for k in range(1, 17)])                       # small shared exponents
    g(f(2.0 ** -126), f(1.5 * 2.0 ** -126), f(-(2.0 ** -125)), 1e-39)
    return np.stack(groups)


def _edge_tensor(width: int) -> np.ndarray:
    """The edge groups laid on the face rows of two tiles (and a row of random filler)."""
    groups = _edge_groups(width)
    rng = np.random.default_rng(7)
    n = -(-len(groups) // 64) * 64
    filler = _random(rng, (n - len(groups), 16))
    return np.concatenate([groups, filler]).reshape(-1, 32)  # rows: groups 2r, 2r + 1


SHAPES = [(), (5,), (37,), (32, 32), (33, 47), (3, 20, 50), (2, 2, 16, 40)]


# ---- block floats: bytes and values against the reference ---------------------------------------

@pytest.mark.parametrize("storage", ["bfloat8_b", "bfloat4_b"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_block_float_tiles_match_scalar_reference_on_random_data(storage, shape):
    rng = np.random.default_rng(sum(shape) + BITS[storage])
    x = _random(rng, shape)
    data = tiles.encode_tiles(x, storage)
    want = ref_pack_tiles(ref_tile_major(x), BITS[storage])
    assert data == want
    decoded = tiles.decode_tiles(data, shape, storage)
    ref = ref_crop(ref_unpack_tiles(data, BITS[storage]), shape)
    np.testing.assert_array_equal(decoded.view(np.uint32), ref.view(np.uint32))


@pytest.mark.parametrize("storage", ["bfloat8_b", "bfloat4_b"])
def test_block_float_tiles_match_scalar_reference_on_edge_values(storage):
    width = BITS[storage]
    x = _edge_tensor(width)
    data = tiles.encode_tiles(x, storage)
    want = ref_pack_tiles(ref_tile_major(x), width)
    for t in range(0, len(data), tiles.TILE_BYTES[storage]):  # a readable first difference
        assert data[t:t + 64] == want[t:t + 64], f"exponents of tile {t}"
    assert data == want
    decoded = tiles.decode_tiles(data, x.shape, storage)
    ref = ref_crop(ref_unpack_tiles(data, width), x.shape)
    np.testing.assert_array_equal(decoded.view(np.uint32), ref.view(np.uint32))
    np.testing.assert_array_equal(numerics.quantize(x, storage).view(np.uint32), decoded.view(np.uint32))


@pytest.mark.parametrize("storage", ["bfloat8_b", "bfloat4_b"])
def test_edge_values_land_where_expected(storage):
    """A few outcomes stated by hand, so the reference itself is pinned down."""
    width = BITS[storage]
    top = (1 << width) - 1
    x = np.zeros((32, 32), np.float32)
    x[0, :6] = [1.0, -1.0, 1.9999999, -2.0 ** -(width + 2), 1e-40, -0.0]
    x[1, :2] = [np.inf, 1.0]
    data = tiles.encode_tiles(x, storage)
    codes = numerics.encode_block_float_groups(x.reshape(-1, 16), width)[1]
    assert data[0] == 127 and data[1] == 255 and data[2] == 0  # face 0 rows 0, 1; row 2 all zeros
    hidden = 1 << (width - 1)
    assert list(codes[0, :6]) == [hidden, (1 << width) | hidden, top, 0, 0, 0]
    assert list(codes[2, :2]) == [hidden, 0]  # 1.0 is 2^128 / 2^127: shifted out next to inf
    q = tiles.decode_tiles(data, x.shape, storage)
    assert q[0, 2] == 2.0 - 2.0 ** -(width - 1) and np.isposinf(q[1, 0]) and q[1, 1] == 0.0
    assert np.signbit(q[0, 3]) == False  # noqa: E712 -- rounded to 0, sign dropped


@pytest.mark.parametrize("storage", ["bfloat8_b", "bfloat4_b"])
def test_decoding_arbitrary_bytes_follows_tt_metal(storage):
    """Bytes no encoder writes (tiny shared exponents, -0 codes) decode as tt-metal's unpacker does."""
    rng = np.random.default_rng(3)
    width = BITS[storage]
    raw = bytearray(rng.integers(0, 256, 2 * tiles.TILE_BYTES[storage], dtype=np.uint8).tobytes())
    for t in (0, tiles.TILE_BYTES[storage]):
        raw[t:t + 8] = bytes([0, 1, 2, 3, 4, 5, 6, 255])
    data = bytes(raw)
    decoded = tiles.decode_tiles(data, (32, 64), storage)
    ref = ref_crop(ref_unpack_tiles(data, width), (32, 64))
    np.testing.assert_array_equal(decoded.view(np.uint32), ref.view(np.uint32))
    sign_zero = bytes([1 << width]) if width == 7 else bytes([0x88])
    one = tiles.encode_tiles(np.zeros((1, 1), np.float32), storage)
    one = one[:64] + sign_zero + one[65:]
    assert np.signbit(tiles.decode_tiles(one, (1, 1), storage)[0, 0])  # tt-metal keeps the sign of a 0 code


# ---- quantize == decode(encode) -----------------------------------------------------------------

@pytest.mark.parametrize("storage", FLOAT_STORAGES)
@pytest.mark.parametrize("shape", SHAPES + [(0, 5), (3, 0)], ids=str)
def test_quantize_is_decode_of_encode(storage, shape):
    rng = np.random.default_rng(len(shape))
    x = _random(rng, shape)
    if x.size > 10:
        flat = x.reshape(-1)
        flat[rng.integers(0, x.size, 3)] = [np.nan, np.inf, 1e-41]
    q = numerics.quantize(x, storage)
    assert q.shape == x.shape and q.dtype == np.float32
    roundtrip = tiles.decode_tiles(tiles.encode_tiles(x, storage), shape, storage)
    np.testing.assert_array_equal(q.view(np.uint32), roundtrip.view(np.uint32))


# ---- layout: tile and face order ----------------------------------------------------------------

@pytest.mark.parametrize("storage,fmt", [("float32", "<f"), ("bfloat16", "<H"), ("int32", "<i"),
                                         ("uint32", "<I"), ("uint16", "<H"), ("uint8", "B")])
def test_tile_and_face_order(storage, fmt):
    h, w = 40, 70  # 2 x 3 tiles, padded
    x = np.arange(h * w).reshape(h, w)
    x = x % 256 if storage == "uint8" else x
    data = tiles.encode_tiles(x.astype(np.float32) if storage in FLOAT_STORAGES else x, storage)
    if storage == "bfloat16":
        x = numerics.round_bf16(x.astype(np.float32))  # integers past 256 are not all exact
    size = struct.calcsize(fmt)
    assert len(data) == 6 * 1024 * size

    def at(tile, face, r, c):
        v = struct.unpack_from(fmt, data, (tile * 1024 + face * 256 + r * 16 + c) * size)[0]
        return numerics.from_bf16_bits(np.uint16(v)).item() if storage == "bfloat16" else v

    for tile, face, r, c in [(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (0, 1, 0, 0), (0, 2, 0, 0), (0, 3, 15, 15),
                             (1, 0, 0, 0), (2, 1, 3, 5), (3, 0, 0, 0), (4, 1, 7, 15), (5, 0, 7, 5)]:
        y = tile // 3 * 32 + face // 2 * 16 + r
        z = tile % 3 * 32 + face % 2 * 16 + c
        want = x[y, z] if y < h and z < w else 0
        assert at(tile, face, r, c) == want, (tile, face, r, c)
    assert at(5, 0, 7, 6) == 0 and at(5, 1, 0, 0) == 0 and at(3, 2, 8, 0) == 0  # padding is zeros
    np.testing.assert_array_equal(tiles.decode_tiles(data, (h, w), storage), x)


@pytest.mark.parametrize("storage", ["bfloat8_b", "bfloat4_b"])
def test_block_float_exponent_and_code_order(storage):
    width = BITS[storage]
    h, w = 32, 64  # two tiles; 128 face rows, each with its own exponent
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    exp_field = 1 + r * 4 + c // 16
    steps = c % 16 if width == 7 else c % 4
    x = np.ldexp(1.0 + steps / 2.0 ** (width - 1), exp_field - 127).astype(np.float32)
    data = tiles.encode_tiles(x, storage)
    tb = tiles.TILE_BYTES[storage]
    for tile, face, i in itertools.product(range(2), range(4), range(16)):
        y, col = face // 2 * 16 + i, tile * 32 + face % 2 * 16
        assert data[tile * tb + face * 16 + i] == exp_field[y, col]
        k = face * 16 + i
        for j in range(16):
            want = (1 << (width - 1)) + int(steps[y, col + j])
            if width == 7:
                got = data[tile * tb + 64 + k * 16 + j]
            else:
                got = (data[tile * tb + 64 + k * 8 + j // 2] >> (4 * (j % 2))) & 0xF
            assert got == want, (tile, face, i, j)
    np.testing.assert_array_equal(tiles.decode_tiles(data, x.shape, storage), x)  # all exact


# ---- sizes, row-major, errors -------------------------------------------------------------------

def test_sizes_and_padded_shapes():
    for storage, n in [("float32", 4096), ("bfloat16", 2048), ("bfloat8_b", 1088), ("bfloat4_b", 576),
                       ("int32", 4096), ("uint32", 4096), ("uint16", 2048), ("uint8", 1024)]:
        assert tiles.tiled_nbytes((32, 32), storage) == n
        assert tiles.tiled_nbytes((2, 33, 65), storage) == 2 * 2 * 3 * n
        assert tiles.tiled_nbytes((), storage) == tiles.tiled_nbytes((7,), storage) == n
        assert len(tiles.encode_tiles(np.ones((3, 40, 33), np.float32 if storage in FLOAT_STORAGES
                                              else storage), storage)) == 3 * 2 * 2 * n
    assert tiles.tile_padded_shape(()) == (32, 32)
    assert tiles.tile_padded_shape((5,)) == (32, 32)
    assert tiles.tile_padded_shape((33,)) == (32, 64)
    assert tiles.tile_padded_shape((2, 3, 33, 65)) == (2, 3, 64, 96)
    assert tiles.tile_padded_shape((64, 32)) == (64, 32)
    assert tiles.tile_padded_shape((0, 5)) == (0, 32)
    assert tiles.tiled_nbytes((0, 5), "float32") == 0 and tiles.encode_tiles(np.zeros((0, 5)), "float32") == b""


def test_row_major_encoding():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    assert tiles.encode_row_major(x, "float32") == x.tobytes()
    assert tiles.encode_row_major(x, "bfloat16") == numerics.bf16_bits(x).tobytes()
    assert tiles.row_major_nbytes((3, 5), "bfloat16") == 30 and tiles.row_major_nbytes((), "float32") == 4
    ints = rng.integers(0, 200, (4, 3))
    for storage in ("int32", "uint32", "uint16", "uint8"):
        assert tiles.encode_row_major(ints, storage) == ints.astype(storage).tobytes()
        assert tiles.row_major_nbytes((4, 3), storage) == 12 * np.dtype(storage).itemsize
    for storage in ("bfloat8_b", "bfloat4_b"):
        with pytest.raises(ValueError, match="only in TILE"):
            tiles.encode_row_major(x, storage)
        with pytest.raises(ValueError, match="only in TILE"):
            tiles.row_major_nbytes((3, 5), storage)


def test_errors():
    with pytest.raises(ValueError, match="no TILE form"):
        tiles.tiled_nbytes((4, 4), "float16")
    with pytest.raises(ValueError, match="take 4096 bytes"):
        tiles.decode_tiles(b"\0" * 100, (4, 4), "float32")
    with pytest.raises(TypeError, match="integer data"):
        tiles.encode_tiles(np.ones((2, 2), np.float32), "int32")
    with pytest.raises(ValueError, match="no row-major"):
        tiles.encode_row_major(np.ones(2, bool), "bool")
