"""Tensor types shared by the compiler, the archive writer and the tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name -> ttpack.fb.DataType code (ttpack/archive/ttpack.fbs), the one table
# of element types. bfloat8_b and bfloat4_b are TTNN's block floats (16 values
# of a tile's face row share one exponent): storage types only, never logical.
DTYPE_CODES = {
    "float32": 1,
    "int32": 7,
    "bool": 13,
    "float16": 2,
    "bfloat16": 3,
    "float64": 4,
    "int8": 5,
    "int16": 6,
    "int64": 8,
    "uint8": 9,
    "uint16": 10,
    "uint32": 11,
    "uint64": 12,
    "bfloat8_b": 14,
    "bfloat4_b": 15,
}
DTYPE_NAMES = {code: name for name, code in DTYPE_CODES.items()}
BLOCK_FLOATS = ("bfloat8_b", "bfloat4_b")
# Element types of a program's tensors as the program means them (frontends
# narrow the frameworks' others onto these, as tt-mlir does) and so of the
# host buffers a program's inputs and outputs are bound to.
LOGICAL_DTYPES = ("float32", "bfloat16", "float16", "int32", "bool")
FLOAT_DTYPES = ("float32", "bfloat16", "float16")  # the logical float types
ELEMENT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8, "int8": 1, "int16": 2, "int32": 4,
                 "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "bool": 1}
# Bytes of one 32x32 tile of a block float: 64 shared exponents, then the
# sign+magnitude of each element (8 or 4 bits).
BLOCK_FLOAT_TILE_BYTES = {"bfloat8_b": 1088, "bfloat4_b": 576}


def dtype_code(name: str) -> int:
    return DTYPE_CODES[name]


def dtype_name(code: int) -> str:
    return DTYPE_NAMES[code]


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: str  # a numpy dtype name: "float32", "int32", "bool", ...

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.dtype not in ELEMENT_BYTES:
            raise ValueError(f"unknown element type {self.dtype!r}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.numel * ELEMENT_BYTES[self.dtype]

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"


# --- storage: how a tensor's elements live on the device ----------------------------
#
# A tensor has a logical type (TensorType: shape, dtype) and a Storage: its
# layout (ROW_MAJOR, or TILE: 32x32 tiles of four 16x16 faces, the last two
# dims padded to whole tiles), its storage element type (bfloat8_b weights of a
# float32 matmul...), and its memory config (DRAM or L1, interleaved or
# sharded over the core grid), as tt-mlir's TensorDesc -> LayoutDesc ->
# MemoryDesc. Its physical size follows from these; the archive stores weights
# in exactly this form, so putting them on a chip is a copy.

LAYOUTS = ("row_major", "tile")
BUFFER_TYPES = ("dram", "l1", "system")        # "system": host memory
MEMORY_LAYOUTS = ("interleaved", "height_sharded", "width_sharded", "block_sharded")
TILE = (32, 32)


@dataclass(frozen=True)
class ShardSpec:
    grid: tuple[int, int]     # cores used, (x, y)
    shape: tuple[int, int]    # elements per shard of the 2-D view (all dims but the last, last)

    def __post_init__(self):
        object.__setattr__(self, "grid", tuple(int(d) for d in self.grid))
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))


@dataclass(frozen=True)
class MemoryConfig:
    buffer_type: str = "system"
    layout: str = "interleaved"
    shard: ShardSpec | None = None

    def __post_init__(self):
        if self.buffer_type not in BUFFER_TYPES or self.layout not in MEMORY_LAYOUTS:
            raise ValueError(f"bad memory config {self.buffer_type}/{self.layout}")
        if (self.shard is not None) != (self.layout != "interleaved"):
            raise ValueError("sharded memory layouts need a shard spec, interleaved ones none")

    def __str__(self) -> str:
        if self.buffer_type == "system":
            return "host"
        if self.shard is None:
            return f"{self.buffer_type}/{self.layout}"
        g, s = self.shard.grid, self.shard.shape
        return f"{self.buffer_type}/{self.layout}[{g[0]}x{g[1]} cores, shard {s[0]}x{s[1]}]"


HOST_MEMORY = MemoryConfig()


# Storage types with a TILE form (bool has none: TTNN keeps predicates as uint8).
TILE_DTYPES = ("float32", "bfloat16", "bfloat8_b", "bfloat4_b", "int32", "uint32", "uint16", "uint8")


def tile_bytes(dtype: str) -> int:
    """Bytes of one 32x32 tile of a storage type."""
    if dtype not in TILE_DTYPES:
        raise ValueError(f"{dtype!r} has no TILE form; TILE storage dtypes are {', '.join(TILE_DTYPES)}")
    return BLOCK_FLOAT_TILE_BYTES.get(dtype) or TILE[0] * TILE[1] * ELEMENT_BYTES[dtype]


def tile_padded_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a TILE tensor occupies: rank >= 2, last two dims rounded up to 32."""
    shape = tuple(shape)
    if len(shape) < 2:
        shape = (1,) * (2 - len(shape)) + shape
    th, tw = TILE
    return shape[:-2] + (-(-shape[-2] // th) * th, -(-shape[-1] // tw) * tw)


@dataclass(frozen=True)
class Storage:
    layout: str = "row_major"
    dtype: str = "float32"
    memory: MemoryConfig = HOST_MEMORY

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}")
        if self.dtype in BLOCK_FLOATS and self.layout != "tile":
            raise ValueError(f"{self.dtype} exists in TILE layout only")
        if self.dtype not in BLOCK_FLOATS and self.dtype not in ELEMENT_BYTES:
            raise ValueError(f"unknown storage element type {self.dtype!r}")

    @property
    def on_host(self) -> bool:
        return self.memory.buffer_type == "system"

    def physical_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tile_padded_shape(shape) if self.layout == "tile" else tuple(shape)

    def nbytes(self, shape: tuple[int, ...]) -> int:
        """Bytes the tensor occupies in this storage (runtime_c/src/program.c computes the same)."""
        numel = int(np.prod(self.physical_shape(shape), dtype=np.int64))
        if self.layout == "tile":
            return numel // (TILE[0] * TILE[1]) * tile_bytes(self.dtype)
        return numel * ELEMENT_BYTES[self.dtype]

    def with_(self, **changes) -> "Storage":
        from dataclasses import replace

        return replace(self, **changes)

    def __str__(self) -> str:
        return f"{self.layout}:{self.dtype}@{self.memory}"


def host_storage(dtype: str) -> Storage:
    """How a host buffer of a logical type is laid out: dense row-major."""
    return Storage("row_major", dtype, HOST_MEMORY)


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting; raises ValueError naming the shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"shapes {' and '.join(map(str, shapes))} do not broadcast") from None
