"""runtime_c/src/tensor_codec.c, compiled on its own and loaded with ctypes,
agrees bit for bit with the Python encoders (ttpack.compiler.numerics,
ttpack.archive.tiles): bfloat16 conversion and rounding, block-float
quantization, and decoding TILE data of every storage dtype."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from ttpack.archive import tiles
from ttpack.compiler import numerics
from ttpack.compiler.types import DTYPE_CODES

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")

FLOAT_STORAGES = ("float32", "bfloat16", "bfloat8_b", "bfloat4_b")
INT_STORAGES = ("int32", "uint32", "uint16", "uint8")
SHAPES = [(), (5,), (33, 40), (2, 3, 17, 50), (64, 32), (0, 7)]

_f32p = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_i32p = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
_i64p = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    lib = tmp_path_factory.mktemp("codec") / "libtensor_codec.so"
    src = ROOT / "runtime_c" / "src"
    build = subprocess.run(["cc", "-std=c11", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Wpedantic",
                            f"-I{ROOT / 'runtime_c' / 'include'}", f"-I{src}", str(src / "tensor_codec.c"),
                            "-o", str(lib), "-lm"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    assert "warning" not in build.stderr, build.stderr
    c = ctypes.CDLL(str(lib))
    c.ttp_f32_to_bf16.argtypes, c.ttp_f32_to_bf16.restype = [ctypes.c_float], ctypes.c_uint16
    c.ttp_bf16_to_f32.argtypes, c.ttp_bf16_to_f32.restype = [ctypes.c_uint16], ctypes.c_float
    c.ttp_round_bf16_inplace.argtypes, c.ttp_round_bf16_inplace.restype = [_f32p, ctypes.c_size_t], None
    c.ttp_quantize_block_float_inplace.argtypes = [_f32p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]
    c.ttp_quantize_block_float_inplace.restype = None
    c.ttp_tiled_size.argtypes = [_i64p, ctypes.c_uint32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    c.ttp_tiled_size.restype = ctypes.c_size_t
    c.ttp_decode_tiles_to_f32.argtypes = [ctypes.c_char_p, ctypes.c_int, _i64p, ctypes.c_uint32, _f32p]
    c.ttp_decode_tiles_to_f32.restype = None
    c.ttp_decode_tiles_to_i32.argtypes = [ctypes.c_char_p, ctypes.c_int, _i64p, ctypes.c_uint32, _i32p]
    c.ttp_decode_tiles_to_i32.restype = None
    return c


def _tiled_size(codec, shape, storage):
    ok = ctypes.c_int(-1)
    code = DTYPE_CODES[storage] if isinstance(storage, str) else storage
    n = codec.ttp_tiled_size(np.array(shape if shape else [0], np.int64), len(shape), code, ctypes.byref(ok))
    return n, ok.value


def _bit_patterns(rng) -> np.ndarray:
    random = rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32)
    exps = np.arange(256, dtype=np.uint32) << 23
    lows = np.array([0, 1, 0x7FFF, 0x8000, 0x18000, 0x8001, 0x7FFFFF], np.uint32)
    grid = (exps[:, None] | lows[None, :]).reshape(-1)
    return np.concatenate([random, grid, grid | np.uint32(1 << 31)])


def _mixed(rng, shape) -> np.ndarray:
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-30, 30, shape))
    x = x.astype(np.float32)
    if x.size > 8:
        flat = x.reshape(-1)
        flat[rng.integers(0, x.size, 6)] = [np.nan, -np.inf, np.inf, 1e-40, -0.0, 3.4e38]
    return x


def test_bf16_conversion(codec, rng):
    u = _bit_patterns(rng)
    x = u.view(np.float32)
    want = numerics.bf16_bits(x)
    got = np.array([codec.ttp_f32_to_bf16(float(v)) for v in x[:3000]] +
                   [codec.ttp_f32_to_bf16(float(v)) for v in x[-3000:]], np.uint16)
    # ctypes passes a float through a Python float (a double): NaN payloads may change, NaN-ness not
    np.testing.assert_array_equal(got, np.concatenate([want[:3000], want[-3000:]]))
    every = np.arange(65536, dtype=np.uint32)
    back = np.array([codec.ttp_bf16_to_f32(int(b)) for b in every], np.float32)
    ref = numerics.from_bf16_bits(every.astype(np.uint16))
    finite = ~np.isnan(ref)
    np.testing.assert_array_equal(back[finite].view(np.uint32), ref[finite].view(np.uint32))
    assert np.isnan(back[~finite]).all()


def test_round_bf16_inplace(codec, rng):
    x = _bit_patterns(rng).view(np.float32).copy()
    want = numerics.round_bf16(x)
    codec.ttp_round_bf16_inplace(x, x.size)
    np.testing.assert_array_equal(x.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("width", [7, 3])
@pytest.mark.parametrize("row_width", [1, 16, 37, 64])
def test_quantize_block_float_inplace(codec, rng, width, row_width):
    rows = 300
    x = _mixed(rng, (rows, row_width))
    edge = _bit_patterns(rng)[: (rows * row_width) // 2]
    x.reshape(-1)[1::2][: edge.size] = edge.view(np.float32)  # every exponent, ties, NaN, inf, subnormals
    want = numerics.quantize_block_float(x, width)
    got = x.copy()
    codec.ttp_quantize_block_float_inplace(got, rows, row_width, width)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    same = x.copy()
    codec.ttp_quantize_block_float_inplace(same, rows, row_width, 5)  # not a block-float width: untouched
    np.testing.assert_array_equal(same.view(np.uint32), x.view(np.uint32))


@pytest.mark.parametrize("storage", FLOAT_STORAGES + INT_STORAGES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_decode_tiles(codec, rng, storage, shape):
    if storage in FLOAT_STORAGES:
        x = _mixed(rng, shape)
    else:
        hi = {"int32": 2**31, "uint32": 2**32, "uint16": 2**16, "uint8": 2**8}[storage]
        x = rng.integers(-hi if storage == "int32" else 0, hi, shape, dtype=np.int64).astype(storage)
    data = tiles.encode_tiles(x, storage)
    n, ok = _tiled_size(codec, shape, storage)
    assert (n, ok) == (len(data), 1) == (tiles.tiled_nbytes(shape, storage), 1)
    want = tiles.decode_tiles(data, shape, storage)
    dims = np.array(shape if shape else [0], np.int64)
    if storage in FLOAT_STORAGES:
        got = np.full(shape, 12345.0, np.float32)
        codec.ttp_decode_tiles_to_f32(data, DTYPE_CODES[storage], dims, len(shape), got.reshape(-1) if shape
                                      else got.reshape(1))
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    else:
        got = np.full(shape, 12345, np.int32)
        codec.ttp_decode_tiles_to_i32(data, DTYPE_CODES[storage], dims, len(shape), got.reshape(-1) if shape
                                      else got.reshape(1))
        np.testing.assert_array_equal(got, want.astype(np.int64).astype(np.uint32).view(np.int32))


@pytest.mark.parametrize("storage", ["bfloat8_b", "bfloat4_b"])
def test_decode_arbitrary_block_float_bytes(codec, rng, storage):
    """Bytes no encoder writes: every shared exponent with every code, -0 codes included."""
    data = rng.integers(0, 256, 4 * tiles.TILE_BYTES[storage], dtype=np.uint8).tobytes()
    shape = (2, 32, 64)
    want = tiles.decode_tiles(data, shape, storage)
    got = np.empty(shape, np.float32)
    codec.ttp_decode_tiles_to_f32(data, DTYPE_CODES[storage], np.array(shape, np.int64), 3, got.reshape(-1))
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_tiled_size_limits(codec):
    assert _tiled_size(codec, (), "float32") == (4096, 1)
    assert _tiled_size(codec, (33,), "bfloat4_b") == (2 * 576, 1)
    assert _tiled_size(codec, (3, 0, 5), "bfloat8_b") == (0, 1)
    assert _tiled_size(codec, (2, 33, 65), "uint8") == (2 * 2 * 3 * 1024, 1)
    assert _tiled_size(codec, (2**40, 2**40, 32), "float32") == (0, 0)  # overflows size_t
    assert _tiled_size(codec, (2**62, 32), "float32") == (0, 0)
    assert _tiled_size(codec, (4, -1), "float32") == (0, 0)
    for storage in ("bool", "float16", "int64", "float64"):
        assert _tiled_size(codec, (32, 32), storage) == (0, 0)
    assert _tiled_size(codec, (32, 32), 99) == (0, 0)
