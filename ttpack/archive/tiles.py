"""Physical encodings of tensor data: TTNN's TILE layout and plain row-major.

TILE (tt-metal tilize_utils.cpp, TILED_NFACES): a tensor [..., H, W] (rank 1
[W] is read as [1, W], rank 0 as [1, 1]) is padded with zeros to H and W
multiples of 32 and stored as 32x32 tiles, in row-major order over
(leading dims..., H/32, W/32). A tile is four 16x16 faces: face 0 = rows 0-15
x cols 0-15, face 1 = rows 0-15 x cols 16-31, face 2 = rows 16-31 x cols 0-15,
face 3 = rows 16-31 x cols 16-31.

  float32, int32, uint32 (4096 bytes a tile), bfloat16, uint16 (2048), uint8
  (1024): face 0 row-major, then faces 1, 2, 3, little-endian elements.
  bfloat8_b (1088), bfloat4_b (576), as tt-metal's pack_fp32_vec_as_bfp_tiles
  / pack_as_bfp_tiles writes them: the 64 shared exponents of the face rows
  (face 0 rows 0-15, then faces 1, 2, 3), one byte each, then the faces' codes
  (sign << mant_bits | magnitude) in the same face and row order, packed into
  little-endian 32-bit words with element 0 in the lowest bits: one byte per
  code for bfloat8_b, two nibbles per byte (the even element low) for
  bfloat4_b. The exponent section is 64 bytes, already a multiple of the
  16-byte L1 alignment, so tt-metal adds no padding for 32x32 tiles.

Row-major storage is the dense C-order array; block floats exist only in TILE.
The value semantics are in ttpack.compiler.numerics.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiler import numerics
from ..compiler.types import TILE_DTYPES, tile_bytes

TILE = 32
FACE = 16
TILE_BYTES = {dtype: tile_bytes(dtype) for dtype in TILE_DTYPES}
_PLAIN = {"float32": np.dtype("<f4"), "bfloat16": np.dtype("<u2"), "int32": np.dtype("<i4"),
          "uint32": np.dtype("<u4"), "uint16": np.dtype("<u2"), "uint8": np.dtype("u1")}
_INTEGER = ("int32", "uint32", "uint16", "uint8")


_tile_bytes = tile_bytes


def _as_matrix_shape(shape) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimension in shape {list(shape)}")
    return shape if len(shape) >= 2 else (1, *shape) if shape else (1, 1)


def tile_padded_shape(shape) -> tuple[int, ...]:
    """The shape the tiles cover: [..., H, W] with H and W rounded up to
    multiples of 32 (rank 1 and 0 read as [1, W] and [1, 1], so of rank 2)."""
    *lead, h, w = _as_matrix_shape(shape)
    return (*lead, -(-h // TILE) * TILE, -(-w // TILE) * TILE)


def tile_count(shape) -> int:
    return math.prod(tile_padded_shape(shape)) // (TILE * TILE)


def tiled_nbytes(shape, storage_dtype: str) -> int:
    return tile_count(shape) * _tile_bytes(storage_dtype)


def _to_faces(x: np.ndarray) -> np.ndarray:
    """[..., H, W] -> [tiles, 4 faces, 16, 16], zero-padded, in storage order."""
    *lead, h, w = _as_matrix_shape(x.shape)
    ph, pw = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    m = x.reshape(math.prod(lead), h, w)
    if (ph, pw) != (h, w):
        m = np.pad(m, ((0, 0), (0, ph - h), (0, pw - w)))
    # [b, tile row, face row, r, tile col, face col, c] -> tile-major, then face-major
    t = m.reshape(m.shape[0], ph // TILE, 2, FACE, pw // TILE, 2, FACE)
    return t.transpose(0, 1, 4, 2, 5, 3, 6).reshape(-1, 4, FACE, FACE)


def _from_faces(faces: np.ndarray, shape) -> np.ndarray:
    """Inverse of _to_faces, cropped to the logical shape."""
    shape = tuple(int(d) for d in shape)
    *lead, h, w = _as_matrix_shape(shape)
    ph, pw = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    batch = math.prod(lead)
    t = faces.reshape(batch, ph // TILE, pw // TILE, 2, 2, FACE, FACE)
    m = t.transpose(0, 1, 3, 5, 2, 4, 6).reshape(batch, ph, pw)
    return np.ascontiguousarray(m[:, :h, :w]).reshape(shape)


def _check_storage_input(x: np.ndarray, storage_dtype: str) -> None:
    if storage_dtype in _INTEGER and x.dtype.kind not in "biu":
        raise TypeError(f"{storage_dtype} storage takes integer data, not {x.dtype}")


def encode_tiles(x, storage_dtype: str) -> bytes:
    """The TILE bytes of x stored as storage_dtype. Float storages take float
    data (converted to float32 first); integer storages take integer data,
    converted to their own type (wrapping as numpy's astype does)."""
    tile_bytes = _tile_bytes(storage_dtype)
    x = np.asarray(x)
    _check_storage_input(x, storage_dtype)
    if storage_dtype in numerics.BLOCK_FLOAT_MANT_BITS:
        bits = numerics.BLOCK_FLOAT_MANT_BITS[storage_dtype]
        faces = _to_faces(x.astype(np.float32, copy=False))
        exps, codes = numerics.encode_block_float_groups(faces.reshape(-1, FACE), bits)
        exps = exps.reshape(-1, 4 * FACE)
        codes = codes.reshape(exps.shape[0], 4 * FACE * FACE)
        if bits == 3:
            codes = codes[:, 0::2] | (codes[:, 1::2] << np.uint8(4))
        out = np.concatenate([exps, codes], axis=1)
        assert out.shape[1] == tile_bytes
        return out.tobytes()
    if storage_dtype == "bfloat16":
        return _to_faces(numerics.bf16_bits(x.astype(np.float32, copy=False))).astype("<u2").tobytes()
    return _to_faces(x.astype(_PLAIN[storage_dtype], copy=False)).tobytes()


def decode_tiles(data, shape, storage_dtype: str) -> np.ndarray:
    """TILE bytes -> the logical row-major array: float32 for the float
    storages, the storage's own type for the integer ones."""
    tile_bytes = _tile_bytes(storage_dtype)
    n = tiled_nbytes(shape, storage_dtype)
    buf = memoryview(data).cast("B")
    if buf.nbytes != n:
        raise ValueError(f"{storage_dtype} tiles of shape {list(shape)} take {n} bytes, not {buf.nbytes}")
    if storage_dtype in numerics.BLOCK_FLOAT_MANT_BITS:
        bits = numerics.BLOCK_FLOAT_MANT_BITS[storage_dtype]
        raw = np.frombuffer(buf, np.uint8).reshape(-1, tile_bytes)
        exps = raw[:, :4 * FACE].reshape(-1)
        codes = raw[:, 4 * FACE:]
        if bits == 3:
            codes = np.stack([codes & np.uint8(0xF), codes >> np.uint8(4)], axis=-1)
        values = numerics.decode_block_float_groups(exps, codes.reshape(exps.shape[0], FACE), bits)
        return _from_faces(values, shape)
    if storage_dtype == "bfloat16":
        return _from_faces(numerics.from_bf16_bits(np.frombuffer(buf, "<u2")), shape)
    plain = _PLAIN[storage_dtype]
    return _from_faces(np.frombuffer(buf, plain).astype(plain.newbyteorder("="), copy=False), shape)


def _plain_dtype(storage_dtype: str) -> np.dtype:
    if storage_dtype in numerics.BLOCK_FLOAT_MANT_BITS:
        raise ValueError(f"{storage_dtype} is a block-float format and exists only in TILE layout "
                         "(its exponents are shared by 16 values of a face row)")
    try:
        return _PLAIN[storage_dtype]
    except KeyError:
        raise ValueError(f"{storage_dtype!r} has no row-major storage form; row-major storage dtypes are "
                         f"{', '.join(_PLAIN)}") from None


def row_major_nbytes(shape, storage_dtype: str) -> int:
    return math.prod(int(d) for d in shape) * _plain_dtype(storage_dtype).itemsize


def encode_row_major(x, storage_dtype: str) -> bytes:
    """The dense C-order little-endian bytes of x stored as storage_dtype
    (bfloat16 as its rounded bit patterns)."""
    plain = _plain_dtype(storage_dtype)
    x = np.asarray(x)
    _check_storage_input(x, storage_dtype)
    if storage_dtype == "bfloat16":
        return numerics.bf16_bits(x.astype(np.float32, copy=False)).astype("<u2").tobytes()
    return np.ascontiguousarray(x.astype(plain, copy=False)).tobytes()
